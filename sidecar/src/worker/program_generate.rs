//! `program.generate`: seed 002's program generation. Payload `{"user_id": uuid,
//! "onboarding"?: object}` (without onboarding, the user's `profiles` row). The job's result
//! is the origin's union: a program is inserted into `training_programs` in the transaction
//! that completes the job, and every way of not producing one is a result with the origin's
//! message, not a job failure. Only an unreachable LLM is retried, while attempts remain.

use std::time::Duration;

use jitgen_core::llm::{Failure, Outcome};
use jitgen_core::program::{self, prompt, template, Onboarding, ProgramError};
use serde_json::{json, Value};
use tokio_postgres::Client;

use super::handlers::{BoxFuture, Done, Effect, Handler, JobContext, JobError};
use crate::llm::{self, env, LlmClient};

const COMPONENT: &str = "program.generate";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    None,
    Template,
}

pub struct ProgramGenerate {
    llm: LlmClient,
    reask: bool,
    fallback: Fallback,
    max_tokens: Option<u64>,
}

impl ProgramGenerate {
    /// `PROGRAM_LLM_MODEL` (default gpt-4o-mini), `PROGRAM_LLM_TIMEOUT_MS` (default 120000: a
    /// whole program is a long answer), `JITGEN_PROGRAM_REASK` (default 1),
    /// `JITGEN_PROGRAM_FALLBACK` (`none`, the default, or `template`), `PROGRAM_LLM_MAX_TOKENS`
    /// (default 16000, the origin's; a small local model needs a smaller one to fit its context).
    pub fn from_env(mut llm: LlmClient) -> anyhow::Result<ProgramGenerate> {
        llm.model = env("PROGRAM_LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into());
        if let Some(ms) = env("PROGRAM_LLM_TIMEOUT_MS") {
            llm.budget = Duration::from_millis(ms.parse().map_err(|e| anyhow::anyhow!("PROGRAM_LLM_TIMEOUT_MS={ms:?}: {e}"))?);
        } else {
            llm.budget = llm.budget.max(Duration::from_secs(120));
        }
        let reask = match env("JITGEN_PROGRAM_REASK").as_deref() {
            None | Some("1") | Some("true") | Some("on") => true,
            Some("0") | Some("false") | Some("off") => false,
            Some(other) => anyhow::bail!("JITGEN_PROGRAM_REASK={other:?}: use 1 or 0"),
        };
        let fallback = match env("JITGEN_PROGRAM_FALLBACK").as_deref() {
            None | Some("none") => Fallback::None,
            Some("template") => Fallback::Template,
            Some(other) => anyhow::bail!("JITGEN_PROGRAM_FALLBACK={other:?}: use none or template"),
        };
        let max_tokens = match env("PROGRAM_LLM_MAX_TOKENS") {
            Some(n) => Some(n.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| anyhow::anyhow!("PROGRAM_LLM_MAX_TOKENS={n:?}: use a positive integer"))?),
            None => None,
        };
        Ok(ProgramGenerate { llm, reask, fallback, max_tokens })
    }
}

/// A union error as the job's result, with the last invalid reply when there was one.
fn answer(error: ProgramError, last_invalid: Option<String>) -> Done {
    let mut result = error.to_json();
    if let Some(text) = last_invalid {
        result["last_invalid"] = json!(text);
    }
    Done { result, effects: Vec::new() }
}

/// A program to store: the insert runs in the completing transaction.
fn save(user_id: &str, program: Value, model: &str, onboarding: &Onboarding, last_invalid: Option<String>) -> Done {
    let id = new_uuid();
    let mut result = json!({"success": true, "program_id": id, "ai_model_version": model});
    if let Some(text) = last_invalid {
        result["last_invalid"] = json!(text);
    }
    Done {
        result,
        effects: vec![Effect {
            sql: "INSERT INTO training_programs (id, user_id, program_details, ai_model_version, onboarding_data_snapshot)
                  VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5)",
            params: vec![
                Box::new(id),
                Box::new(user_id.to_string()),
                Box::new(program),
                Box::new(model.to_string()),
                Box::new(onboarding.raw.clone()),
            ],
        }],
    }
}

/// A random (version 4) uuid.
fn new_uuid() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// What one reply gave: a program, or why not (and the reply text when it was invalid).
enum Attempt {
    Program(Value, String),
    Invalid(ProgramError, Option<String>, Value),
    Unreachable,
}

impl ProgramGenerate {
    async fn ask(&self, body: &Value, onboarding: &Onboarding, component: &str, db: &Client) -> Attempt {
        let call = self.llm.chat(body).await;
        let (attempt, outcome, error) = match &call.reply {
            Ok(reply) => match program::check_reply(&reply.content, onboarding) {
                Ok(p) => (Attempt::Program(p, reply.model.clone().unwrap_or_else(|| self.llm.model.clone())), Outcome::Ok, None),
                Err(report) => (
                    Attempt::Invalid(ProgramError::InvalidStructure { details: report.clone() }, call.content.clone(), report.clone()),
                    Outcome::SchemaError,
                    Some(report),
                ),
            },
            Err(f @ Failure::Truncated { .. }) => (Attempt::Invalid(ProgramError::CutOff, call.content.clone(), f.to_json()), f.outcome(), Some(f.to_json())),
            Err(f @ Failure::InvalidJson { message }) => (
                Attempt::Invalid(ProgramError::InvalidJson, call.content.clone(), json!([{"path": "", "code": "invalid_json", "message": message}])),
                f.outcome(),
                Some(f.to_json()),
            ),
            Err(f) => (Attempt::Unreachable, f.outcome(), Some(f.to_json())),
        };
        if call.attempts > 0 {
            llm::record(db, component, &self.llm.model, &call, outcome, error).await;
        }
        attempt
    }

    /// The template, or the union error when the template is not enabled.
    async fn fall_back(&self, user_id: &str, onboarding: &Onboarding, error: ProgramError, db: &Client) -> Result<Done, JobError> {
        if self.fallback == Fallback::None {
            return Ok(answer(error, None));
        }
        let row = db
            .query_one("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", &[])
            .await
            .map_err(JobError::database)?;
        let program = template::program(onboarding, &row.get::<_, String>(0));
        let mut done = save(user_id, program, template::MODEL_VERSION, onboarding, None);
        done.result["fallback_reason"] = json!(error.message());
        Ok(done)
    }
}

impl Handler for ProgramGenerate {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let Some(user_id) = ctx.payload.get("user_id").and_then(Value::as_str) else {
                return Ok(answer(ProgramError::AuthenticationRequired, None));
            };
            let onboarding_value = match ctx.payload.get("onboarding") {
                Some(v) => Some(v.clone()),
                None => db
                    .query_opt(
                        "SELECT onboarding_responses FROM profiles WHERE user_id = $1::text::uuid AND onboarding_completed",
                        &[&user_id],
                    )
                    .await
                    .map_err(JobError::database)?
                    .and_then(|row| row.get::<_, Option<Value>>(0)),
            };
            let Some(onboarding) = onboarding_value.as_ref().and_then(|v| Onboarding::from_value(v).ok()) else {
                return Ok(answer(ProgramError::OnboardingIncomplete, None));
            };
            if !self.llm.is_online() {
                return self.fall_back(user_id, &onboarding, ProgramError::NotConfigured, db).await;
            }
            let mut body = prompt::request_body(&self.llm.model, &onboarding);
            if let Some(n) = self.max_tokens {
                body["max_tokens"] = json!(n);
            }
            let (error, last_invalid) = match self.ask(&body, &onboarding, COMPONENT, db).await {
                Attempt::Program(p, model) => return Ok(save(user_id, p, &model, &onboarding, None)),
                Attempt::Invalid(e @ ProgramError::CutOff, text, _) => (e, text),
                Attempt::Invalid(e, text, problems) if self.reask => {
                    let again = prompt::reask_body(&body, text.as_deref().unwrap_or_default(), &problems);
                    match self.ask(&again, &onboarding, "program.generate.reask", db).await {
                        Attempt::Program(p, model) => return Ok(save(user_id, p, &model, &onboarding, text)),
                        Attempt::Invalid(e, again_text, _) => (e, again_text.or(text)),
                        Attempt::Unreachable => (e, text),
                    }
                }
                Attempt::Invalid(e, text, _) => (e, text),
                Attempt::Unreachable if ctx.attempt < ctx.max_attempts => {
                    return Err(JobError::transient("llm_unreachable", ProgramError::Communication.message()));
                }
                Attempt::Unreachable => return self.fall_back(user_id, &onboarding, ProgramError::Communication, db).await,
            };
            Ok(answer(error, last_invalid))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4() {
        for _ in 0..100 {
            let u = super::new_uuid();
            assert_eq!(u.len(), 36);
            assert_eq!(&u[14..15], "4");
            assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
            assert_eq!(u.matches('-').count(), 4);
        }
    }
}
