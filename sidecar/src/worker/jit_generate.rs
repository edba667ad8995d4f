//! `jit.generate` (seed 001): specification → coder LLM → code and tests → two artifact writes
//! → sandboxed pytest → shadow replay on recorded samples → the third write (activation, or
//! `pending_review`). Payload `{"app_id", "component_id"}`.
//!
//! The writes are the completing transaction's effects, so they land together or not at all:
//! a coder failure writes nothing and runs nothing; failing tests or a shadow agreement below
//! the rule's `min_shadow_agreement` keep both artifacts, leave the component unchanged and put
//! the pytest output and the agreement in the job's result. No sandbox → the job fails before
//! the coder is paid for.

use jitgen_core::llm::Outcome;
use jitgen_core::oracle::{self, ArtifactKind, Specification};
use jitgen_sidecar::jit_runtime;
use jitgen_sidecar::sandbox::Sandbox;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tokio_postgres::Client;

use super::handlers::{BoxFuture, Done, Effect, Handler, JobContext, JobError};
use crate::llm::{self, env, LlmClient};

/// Samples shown to the coder (all recorded ones are replayed).
const SPEC_SAMPLES: usize = 8;

pub struct JitGenerate {
    coder: LlmClient,
    sandbox: OnceCell<Result<Sandbox, String>>,
}

impl JitGenerate {
    /// `CODER_LLM_MODEL` (default: the LLM client's model), `CODER_LLM_ENDPOINT` and
    /// `CODER_LLM_API_KEY` (default: the LLM client's).
    pub fn from_env(mut coder: LlmClient) -> JitGenerate {
        if let Some(model) = env("CODER_LLM_MODEL") {
            coder.model = model;
        }
        if let Some(endpoint) = env("CODER_LLM_ENDPOINT") {
            coder.endpoint = endpoint;
        }
        if let Some(key) = env("CODER_LLM_API_KEY") {
            coder.set_api_key(key);
        }
        JitGenerate { coder, sandbox: OnceCell::new() }
    }

    async fn sandbox(&self) -> Result<&Sandbox, JobError> {
        let s = self.sandbox.get_or_init(|| async { Sandbox::from_env().await }).await;
        s.as_ref().map_err(|reason| JobError::permanent("sandbox_unavailable", format!("generated code cannot run: {reason}")))
    }
}

struct Target {
    app_id: String,
    component_id: String,
    prompt: String,
    input_schema: Value,
    output_schema: Value,
    target_language: String,
    version: String,
    min_agreement: f64,
    samples: Vec<(Value, Value)>,
}

async fn load(db: &Client, app_id: &str, component_id: &str) -> Result<Target, JobError> {
    let row = db
        .query_opt(
            "SELECT c.prompt, c.input_schema, c.output_schema, c.target_language,
                    'v' || (coalesce((SELECT max(substr(a.version, 2)::int) FROM jitgen.jit_artifacts a
                                      WHERE a.app_id = c.app_id AND a.component_id = c.component_id), 0) + 1),
                    coalesce((jitgen.effective_rule(c.app_id, c.component_id) ->> 'min_shadow_agreement')::float8, 0.95)
             FROM jitgen.components c WHERE c.app_id = $1 AND c.component_id = $2",
            &[&app_id, &component_id],
        )
        .await
        .map_err(JobError::database)?
        .ok_or_else(|| JobError::permanent("unknown_component", format!("no component {app_id}/{component_id}")))?;
    let samples = db
        .query(
            "SELECT request, response FROM jitgen.component_samples WHERE app_id = $1 AND component_id = $2 ORDER BY id DESC",
            &[&app_id, &component_id],
        )
        .await
        .map_err(JobError::database)?
        .iter()
        .map(|r| (r.get::<_, Value>(0), r.get::<_, Value>(1)))
        .collect();
    Ok(Target {
        app_id: app_id.to_string(),
        component_id: component_id.to_string(),
        prompt: row.get(0),
        input_schema: row.get(1),
        output_schema: row.get(2),
        target_language: row.get(3),
        version: row.get(4),
        min_agreement: row.get(5),
        samples,
    })
}

fn artifact(t: &Target, kind: ArtifactKind, content: &str) -> Effect {
    Effect {
        sql: "INSERT INTO jitgen.jit_artifacts (app_id, component_id, version, kind, path, content) VALUES ($1, $2, $3, $4, $5, $6)",
        params: vec![
            Box::new(t.app_id.clone()),
            Box::new(t.component_id.clone()),
            Box::new(t.version.clone()),
            Box::new(kind.as_str().to_string()),
            Box::new(oracle::artifact_path(&t.component_id, &t.version, kind)),
            Box::new(content.to_string()),
        ],
    }
}

fn decision(t: &Target, decision: &'static str, reasons: Value) -> Effect {
    Effect {
        sql: "INSERT INTO jitgen.oracle_decisions (app_id, component_id, decision, reasons) VALUES ($1, $2, $3, $4)",
        params: vec![Box::new(t.app_id.clone()), Box::new(t.component_id.clone()), Box::new(decision.to_string()), Box::new(reasons)],
    }
}

fn tail(text: &str, n: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(n)..].iter().collect()
}

impl Handler for JitGenerate {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let field = |k: &str| ctx.payload.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(app_id), Some(component_id)) = (field("app_id"), field("component_id")) else {
                return Err(JobError::permanent("invalid_payload", "jit.generate needs app_id and component_id"));
            };
            let sandbox = self.sandbox().await?;
            let t = load(db, &app_id, &component_id).await?;

            let shown: Vec<(Value, Value)> = t.samples.iter().take(SPEC_SAMPLES).cloned().collect();
            let spec = Specification {
                component_id: &t.component_id,
                prompt: &t.prompt,
                input_schema: &t.input_schema,
                output_schema: &t.output_schema,
                target_language: &t.target_language,
                samples: &shown,
            };
            let call = self.coder.chat(&oracle::coder_body(&self.coder.model, &spec)).await;
            let metric_component = format!("jit.generate:{}", t.component_id);
            let parsed = match &call.reply {
                Ok(reply) => oracle::parse_candidate(&reply.content),
                Err(f) => Err(format!("coder LLM failed ({}): {}", f.kind(), f.to_json())),
            };
            let outcome = match (&call.reply, &parsed) {
                (Err(f), _) => f.outcome(),
                (Ok(_), Err(_)) => Outcome::SchemaError,
                (Ok(_), Ok(_)) => Outcome::Ok,
            };
            if call.attempts > 0 {
                let error = parsed.as_ref().err().map(|e| json!({"message": e}));
                llm::record_for(db, &t.app_id, &metric_component, &self.coder.model, &call, outcome, error).await;
            }
            let candidate = match (call.reply, parsed) {
                (Err(f), _) => return Err(JobError::transient("coder_llm", format!("{}: {}", f.kind(), f.to_json()))),
                (Ok(_), Err(e)) => return Err(JobError::permanent("invalid_coder_reply", e)),
                (Ok(_), Ok(c)) => c,
            };

            let tests = jit_runtime::run_tests(sandbox, &candidate.code, &candidate.tests)
                .await
                .map_err(|e| JobError::permanent("sandbox_unavailable", e))?;
            let mut effects = vec![artifact(&t, ArtifactKind::Code, &candidate.code), artifact(&t, ArtifactKind::Test, &candidate.tests)];
            let pytest = format!("{}{}", tail(&tests.stdout, 4000), tail(&tests.stderr, 2000));
            if !tests.succeeded() {
                let reasons = json!({"version": t.version, "tests_passed": false, "exit_code": tests.code, "timed_out": tests.timed_out});
                effects.push(decision(&t, "candidate_failed", reasons.clone()));
                let mut result = reasons;
                result["outcome"] = json!("tests_failed");
                result["pytest"] = json!(pytest);
                return Ok(Done { result, effects });
            }

            let requests: Vec<Value> = t.samples.iter().map(|(r, _)| r.clone()).collect();
            let recorded: Vec<Value> = t.samples.iter().map(|(_, r)| r.clone()).collect();
            let outputs = jit_runtime::replay(sandbox, &candidate.code, &requests).await;
            let agreement = match &outputs {
                Ok(outputs) => oracle::agreement(&recorded, outputs),
                Err(_) => Some(0.0),
            };
            let evidence = json!({
                "version": t.version, "tests_passed": true, "samples": t.samples.len(),
                "shadow_agreement": agreement, "min_shadow_agreement": t.min_agreement,
                "replay_error": outputs.as_ref().err(),
            });
            if agreement.is_none_or(|a| a < t.min_agreement) {
                effects.push(decision(&t, "candidate_failed", evidence.clone()));
                let mut result = evidence;
                result["outcome"] = json!(if agreement.is_none() { "no_samples" } else { "shadow_disagrees" });
                result["pytest"] = json!(pytest);
                return Ok(Done { result, effects });
            }
            effects.push(Effect {
                sql: "SELECT jitgen._finish_candidate($1, $2, $3, $4)",
                params: vec![
                    Box::new(t.app_id.clone()),
                    Box::new(t.component_id.clone()),
                    Box::new(t.version.clone()),
                    Box::new(evidence.clone()),
                ],
            });
            let mut result = evidence;
            result["outcome"] = json!("passed");
            result["script"] = json!(oracle::artifact_path(&t.component_id, &t.version, ArtifactKind::Code));
            result["pytest"] = json!(pytest);
            Ok(Done { result, effects })
        })
    }
}
