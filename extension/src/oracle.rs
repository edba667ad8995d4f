//! Seed 001's components in SQL: `jitgen.invoke` routes a request to the component's LLM prompt
//! or to its active JIT handler (the sidecar's sandbox pool, over the same chat-completions
//! protocol), validates both ends against the component's schemas and records a metric row.
//! Rules, decisions and activation are SQL (`sql/oracle.sql`).

use std::time::Duration;

use jitgen_core::llm::{self, Failure};
use jitgen_core::oracle;
use jitgen_core::validation::{CompiledSchema, Report};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

use crate::error::{raise, required, JitgenError, OrRaise};
use crate::guc;
use crate::jsonb::{JsonbArg, JsonbText};
use crate::llm_call::{self, LlmConfig};
use crate::privileges::as_owner;

/// Raises 22023 unless `schema` compiles (register_component's check).
#[pg_extern(immutable, parallel_safe, strict)]
fn _check_component_schema(schema: JsonB, what: &str) -> bool {
    const F: &str = "register_component";
    if let Err(error) = CompiledSchema::compile(&schema.0) {
        JitgenError::InvalidJsonSchema { name: what.to_string(), error }.raise(F)
    }
    true
}

struct Component {
    handler_type: String,
    prompt: String,
    input_schema: Value,
    output_schema: Value,
    active_version: Option<String>,
}

fn load(app_id: &str, component_id: &str) -> Component {
    const F: &str = "invoke";
    // The table is the owner's: apps reach a component only through invoke.
    as_owner(F, || {
        Spi::connect(|client| {
            let row = client
                .select(
                    "SELECT c.handler_type, c.prompt, c.input_schema, c.output_schema, c.active_version \
                     FROM jitgen._component($1, $2, 'invoke') c",
                    Some(1),
                    &[app_id.into(), component_id.into()],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>(Component {
                handler_type: row.get::<String>(1)?.unwrap_or_default(),
                prompt: row.get::<String>(2)?.unwrap_or_default(),
                input_schema: row.get::<JsonB>(3)?.map(|j| j.0).unwrap_or(Value::Bool(true)),
                output_schema: row.get::<JsonB>(4)?.map(|j| j.0).unwrap_or(Value::Bool(true)),
                active_version: row.get::<String>(5)?,
            })
        })
    })
    .or_raise("reading the component", F)
}

fn check(schema: &Value, doc: &Value, subject: String, hint_call: String) -> Result<(), JitgenError> {
    let compiled = CompiledSchema::compile(schema)
        .map_err(|e| JitgenError::Internal { context: "compiling a component schema", message: e.to_string() })?;
    let report: Report = compiled.validate(doc, guc::max_validation_details());
    if report.is_valid() {
        Ok(())
    } else {
        Err(JitgenError::DocumentInvalid { subject, validate_call: hint_call, report })
    }
}

/// Runs a component for `request`: through its prompt (LLM) or its active generated handler
/// (JIT). Returns the handler's output, or `{"resultType": "error", "error": {code, message}}`
/// when it failed (timeout, unreachable, invalid output); either way a metric row is written in
/// the caller's transaction. A request failing the input schema raises 22023 and records
/// nothing. Synchronous: it never waits for a job (a job queued in this transaction would be
/// invisible to the worker until commit).
#[pg_extern(volatile, parallel_unsafe)]
fn invoke(app_id: Option<&str>, component_id: Option<&str>, request: Option<JsonbArg>) -> JsonbText {
    const F: &str = "invoke";
    const HINT: &str = "SELECT jitgen.invoke('shop', 'sentiment', '{\"text\": \"great\"}');";
    let app_id = required(app_id, F, "app_id", HINT);
    let component_id = required(component_id, F, "component_id", HINT);
    let request = required(request, F, "request", HINT).to_value().unwrap_or_else(|e| e.raise(F));
    let component = load(app_id, component_id);
    check(
        &component.input_schema,
        &request,
        format!("the request for {app_id}/{component_id}"),
        format!("jitgen.validate_json(input_schema, request) on jitgen.components.input_schema of {app_id}/{component_id}"),
    )
    .unwrap_or_else(|e| e.raise(F));

    let jit = component.handler_type == "jit";
    let (config, body) = if jit {
        let version = component.active_version.clone().unwrap_or_default();
        let config = LlmConfig {
            endpoint: Some(guc::jit_endpoint()),
            model: format!("{app_id}/{component_id}@{version}"),
            api_key: Some(guc::jit_token()),
            timeout: Duration::from_millis(guc::jit_timeout_ms()),
        };
        let body = json!({
            "model": config.model,
            "messages": [{"role": "user", "content": serde_json::to_string(&request).unwrap_or_default()}],
            "response_format": {"type": "json_object"},
        });
        (config, body)
    } else {
        let config = LlmConfig::current();
        let body = oracle::invoke_body(&config.model, &component.prompt, &component.output_schema, &request);
        (config, body)
    };
    let call = llm_call::chat(&config, body);
    let usage = call.reply.as_ref().map(|r| r.usage).unwrap_or_default();
    let (outcome, response, error) = match call.reply {
        Ok(reply) if oracle::is_error_result(&reply.content) => {
            let message = reply.content["error"]["message"].as_str().unwrap_or("the handler returned an error").to_string();
            let outcome = if reply.content["error"]["code"] == json!("timeout") { "timeout" } else { "error" };
            (outcome, reply.content, Some(message))
        }
        Ok(reply) => match check(&component.output_schema, &reply.content, "the handler's output".into(), String::new()) {
            Ok(()) => ("ok", reply.content, None),
            Err(JitgenError::DocumentInvalid { report, .. }) => {
                let message = format!("output fails the component's output schema: {}", report.error_body_text());
                ("invalid_output", oracle::error_result("invalid_output", message.clone()), Some(message))
            }
            Err(_) => {
                let message = "the component's output schema does not compile".to_string();
                ("error", oracle::error_result("internal", message.clone()), Some(message))
            }
        },
        Err(failure) => {
            let (outcome, code) = match failure {
                Failure::Timeout { .. } => ("timeout", "timeout"),
                _ => ("error", failure.kind()),
            };
            let message = failure_message(&failure);
            (outcome, oracle::error_result(code, message.clone()), Some(message))
        }
    };
    let cost = if jit { 0.0 } else { llm::cost_estimate_usd(&config.model, usage).unwrap_or(0.0) };
    let sample = (!jit && outcome == "ok").then(|| JsonB(response.clone()));
    as_owner(F, || {
        Spi::run_with_args(
            "SELECT jitgen._record_invocation($1, $2, $3, $4, $5::real, $6, $7, $8::numeric, $9, $10, $11, $12, $13)",
            &[
                app_id.into(),
                component_id.into(),
                (if jit { "jit" } else { "llm" }).into(),
                (if jit { component.active_version.clone() } else { None }).into(),
                (call.latency.as_secs_f64() * 1000.0).into(),
                (usage.prompt_tokens.min(i32::MAX as u64) as i32).into(),
                (usage.completion_tokens.min(i32::MAX as u64) as i32).into(),
                cost.into(),
                outcome.into(),
                error.into(),
                JsonB(request).into(),
                sample.into(),
                guc::sample_limit().into(),
            ],
        )
    })
    .or_raise("recording the invocation", F);
    JsonbText(serde_json::to_string(&response).unwrap_or_else(|e| {
        raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("serialising the result: {e}"), None, None, F)
    }))
}

fn failure_message(failure: &Failure) -> String {
    match failure {
        Failure::NotConfigured { message } | Failure::Network { message } | Failure::InvalidJson { message } => message.clone(),
        Failure::Timeout { timeout_ms } => format!("no answer within {timeout_ms} ms"),
        Failure::HttpStatus { status, body } => format!("HTTP {status}: {body}"),
        Failure::Truncated { completion_tokens } => format!("cut off at {completion_tokens} tokens"),
    }
}
