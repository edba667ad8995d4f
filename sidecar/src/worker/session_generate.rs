//! `session.generate`: the asynchronous form of `jitgen.generate_session`. Payload
//! `{"session_id": uuid, "strategy"?: text}`; reads the app's `sessions` row, calls the LLM
//! (with retries inside the budget), and writes `session`, `jit_strategy`, `jit_generated_at`
//! and `jit_input_snapshot` in the transaction that completes the job. LLM failures are not
//! job failures: the session falls back to the formula, labelled `formula_fallback`.

use jitgen_core::llm::Outcome;
use jitgen_core::session::{self, FallbackReason, JitInput, Strategy};
use serde_json::{json, Value};
use tokio_postgres::Client;

use super::handlers::{BoxFuture, Done, Effect, Handler, JobContext, JobError};
use crate::llm::{self, LlmClient};

pub struct SessionGenerate {
    pub llm: LlmClient,
}

fn db_error(e: tokio_postgres::Error) -> JobError {
    JobError::transient("database", super::describe(&e))
}

impl Handler for SessionGenerate {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let Some(session_id) = ctx.payload.get("session_id").and_then(Value::as_str) else {
                return Err(JobError::permanent("invalid_payload", "payload needs \"session_id\" (a uuid as text)"));
            };
            let Some(row) = db
                .query_opt(
                    "SELECT jit_input, requested_strategy FROM sessions WHERE id::text = $1",
                    &[&session_id],
                )
                .await
                .map_err(db_error)?
            else {
                return Err(JobError::permanent("not_found", format!("no sessions row with id {session_id}")));
            };
            let (input_value, requested): (Value, String) = (row.get(0), row.get(1));
            let input = JitInput::from_value(&input_value)
                .map_err(|e| JobError::permanent("invalid_input", format!("{}: {}", e.field, e.message)))?;
            let name = ctx.payload.get("strategy").and_then(Value::as_str).unwrap_or(&requested);
            let strategy = session::resolve_strategy(name, self.llm.is_online())
                .map_err(|e| JobError::permanent("invalid_strategy", e.message))?;
            let output = if strategy == Strategy::Formula {
                session::formula_session(&input).map_err(|e| JobError::permanent("invalid_input", e.message))?
            } else {
                let context = session::build_jit_context(&input_value)
                    .map_err(|e| JobError::permanent("invalid_input", e.message))?;
                let body = session::prompt::adjustment_request(&self.llm.model, &context);
                let call = self.llm.chat(&body).await;
                let reply = match &call.reply {
                    Ok(r) => Ok(r.content.clone()),
                    Err(f) => Err(FallbackReason::from(f)),
                };
                let mut output = session::session_from_llm_reply(&input, strategy, reply)
                    .map_err(|e| JobError::permanent("invalid_input", e.message))?;
                if let (true, Some(reason)) = (self.llm.reask, output.fallback_reason.clone()) {
                    if reason.code == session::FallbackCode::SchemaViolation {
                        output = self.reask(&input, strategy, &body, &call, &reason, db).await.unwrap_or(output);
                    }
                }
                let outcome = output.fallback_reason.as_ref().map_or(Outcome::Ok, |r| r.code.outcome());
                let error = output.fallback_reason.as_ref().and_then(|r| serde_json::to_value(r).ok());
                if call.attempts > 0 {
                    llm::record(db, "session.generate", &self.llm.model, &call, outcome, error).await;
                }
                output
            };
            let session_json = serde_json::to_value(&output).map_err(|e| JobError::permanent("serialise", e.to_string()))?;
            let strategy_label = session_json["jit_strategy"].as_str().unwrap_or("formula").to_string();
            Ok(Done {
                result: json!({"session_id": session_id, "jit_strategy": strategy_label,
                               "fallback_reason": session_json.get("fallback_reason")}),
                effects: vec![Effect {
                    sql: "UPDATE sessions SET session = $2, jit_strategy = $3, jit_generated_at = clock_timestamp(),
                                 jit_input_snapshot = jit_input
                          WHERE id::text = $1",
                    params: vec![Box::new(session_id.to_string()), Box::new(session_json), Box::new(strategy_label)],
                }],
            })
        })
    }
}

impl SessionGenerate {
    /// One more attempt that shows the model its validation errors.
    async fn reask(
        &self,
        input: &JitInput,
        strategy: Strategy,
        body: &Value,
        first: &llm::Call,
        reason: &FallbackReason,
        db: &Client,
    ) -> Option<session::SessionOutput> {
        let previous = first.reply.as_ref().ok()?.content.to_string();
        let mut body = body.clone();
        let messages = body["messages"].as_array_mut()?;
        messages.push(json!({"role": "assistant", "content": previous}));
        messages.push(json!({"role": "user", "content": format!(
            "Your reply failed validation: {}. Reply again with one corrected JSON object.",
            serde_json::to_string(&reason.details).unwrap_or_default())}));
        let call = self.llm.chat(&body).await;
        let reply = match &call.reply {
            Ok(r) => Ok(r.content.clone()),
            Err(f) => Err(FallbackReason::from(f)),
        };
        let output = session::session_from_llm_reply(input, strategy, reply).ok()?;
        let outcome = output.fallback_reason.as_ref().map_or(Outcome::Ok, |r| r.code.outcome());
        llm::record(db, "session.generate.reask", &self.llm.model, &call, outcome, None).await;
        Some(output)
    }
}
