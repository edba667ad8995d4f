//! SQL surface of the training-session JIT (seed 000): thin wrappers over
//! `jitgen_core::session`, plus the one synchronous LLM call of `generate_session`.

use jitgen_core::llm::{self, Outcome};
use jitgen_core::session::{self, sql, InputError, JitInput, Strategy};
use pgrx::prelude::*;
use pgrx::{AnyNumeric, JsonB};
use serde_json::Value;

use crate::error::{required, JitgenError, OrRaise};
use crate::jsonb::{JsonbArg, JsonbText};
use crate::llm_call::{self, LlmConfig};

fn json_arg(value: Option<JsonbArg>, function: &'static str, argument: &'static str) -> Value {
    required(value, function, argument, "Pass a jsonb object; see the README for the JITInput fields.")
        .to_value()
        .unwrap_or_else(|e| e.raise(function))
}

fn or_raise<T>(result: Result<T, InputError>, function: &'static str) -> T {
    result.unwrap_or_else(|e| JitgenError::InvalidInput(e).raise(function))
}

/// The formula session for `input` (`jit_strategy` = formula).
#[pg_extern(immutable, parallel_safe)]
fn formula_session(input: Option<JsonbArg>) -> JsonbText {
    const F: &str = "formula_session";
    JsonbText(or_raise(sql::formula_session(&json_arg(input, F, "input")), F))
}

/// Formula base + `adjustment` (a JITAdjustment) + hard constraints.
#[pg_extern(immutable, parallel_safe)]
fn apply_adjustment(input: Option<JsonbArg>, adjustment: Option<JsonbArg>) -> JsonbText {
    const F: &str = "apply_adjustment";
    let input = json_arg(input, F, "input");
    let adjustment = json_arg(adjustment, F, "adjustment");
    JsonbText(or_raise(sql::apply_adjustment(&input, &adjustment), F))
}

/// `session` with every hard constraint applied.
#[pg_extern(immutable, parallel_safe)]
fn enforce_hard_constraints(input: Option<JsonbArg>, session: Option<JsonbArg>) -> JsonbText {
    const F: &str = "enforce_hard_constraints";
    let input = json_arg(input, F, "input");
    let session = json_arg(session, F, "session");
    JsonbText(or_raise(sql::enforce_hard_constraints(&input, &session), F))
}

/// What the LLM is shown: the input without `warmupConfig`, plus the formula base and volume.
#[pg_extern(immutable, parallel_safe)]
fn build_jit_context(input: Option<JsonbArg>) -> JsonbText {
    const F: &str = "build_jit_context";
    JsonbText(or_raise(sql::build_jit_context(&json_arg(input, F, "input")), F))
}

/// formula | llm | hybrid. `auto` is llm when online, formula when offline; a NULL
/// `is_online` means "an endpoint and an API key are configured".
#[pg_extern(stable, parallel_safe)]
fn resolve_strategy(strategy: default!(Option<&str>, "'auto'"), is_online: default!(Option<bool>, "NULL")) -> &'static str {
    const F: &str = "resolve_strategy";
    let strategy = strategy.unwrap_or("auto");
    let online = is_online.unwrap_or_else(|| LlmConfig::current().is_configured());
    or_raise(sql::resolve_strategy(strategy, online), F)
}

/// Weekly-volume status of a muscle: below_mev, in_range, approaching_mrv, at_mrv, exceeded_mrv.
#[pg_extern(immutable, parallel_safe, strict)]
fn volume_status(sets: AnyNumeric, mev: i32, mrv: i32) -> &'static str {
    const F: &str = "volume_status";
    let sets: f64 = sets.try_into().unwrap_or(f64::NAN);
    or_raise(sql::volume_status(sets, mev, mrv), F)
}

/// Set credit of a set logged at `rpe` (NULL, an unknown RPE, counts 1.0).
#[pg_extern(immutable, parallel_safe)]
fn rpe_set_multiplier(rpe: Option<AnyNumeric>) -> AnyNumeric {
    let rpe = rpe.and_then(|r| f64::try_from(r).ok());
    let credit = sql::rpe_set_multiplier(rpe);
    AnyNumeric::try_from(credit).unwrap_or_else(|_| AnyNumeric::from(1))
}

/// Per-muscle MEV/MRV for a sex (male|female) and training age (beginner|intermediate|advanced).
#[pg_extern(immutable, parallel_safe)]
fn mrv_mev_config(sex: default!(Option<&str>, "'male'"), training_age: default!(Option<&str>, "'intermediate'")) -> JsonbText {
    const F: &str = "mrv_mev_config";
    JsonbText(or_raise(sql::mrv_mev_config(sex.unwrap_or("male"), training_age.unwrap_or("intermediate")), F))
}

/// The session for `input` by `strategy`. LLM strategies call the configured endpoint once,
/// synchronously, within `jitgen.llm_timeout_ms`; any failure (timeout, network, HTTP status,
/// unparsable or schema-violating reply) gives the formula session labelled
/// `formula_fallback` with `fallback_reason`. Every LLM call is recorded in jitgen.llm_calls.
#[pg_extern(volatile, parallel_unsafe)]
fn generate_session(
    input: Option<JsonbArg>,
    strategy: default!(Option<&str>, "'auto'"),
    is_online: default!(Option<bool>, "NULL"),
) -> JsonbText {
    const F: &str = "generate_session";
    let value = json_arg(input, F, "input");
    let input = or_raise(JitInput::from_value(&value), F);
    let name = strategy.unwrap_or("auto");
    // Only `auto` depends on being online; the formula path reads no LLM settings at all.
    let online = is_online.unwrap_or_else(|| name.trim().eq_ignore_ascii_case("auto") && LlmConfig::current().is_configured());
    let strategy = or_raise(session::resolve_strategy(name, online), F);
    if strategy == Strategy::Formula {
        return session_text(&or_raise(session::formula_session(&input), F), F);
    }
    let config = LlmConfig::current();
    let context = or_raise(session::build_jit_context(&value), F);
    let call = llm_call::chat(&config, session::prompt::adjustment_request(&config.model, &context));
    let usage = call.reply.as_ref().map(|r| r.usage).unwrap_or_default();
    // Offline by configuration: no call was made, so there is nothing to record.
    let called = !matches!(call.reply, Err(llm::Failure::NotConfigured { .. }));
    let reply = call.reply.map(|r| r.content).map_err(|failure| session::FallbackReason::from(&failure));
    let output = or_raise(session::session_from_llm_reply(&input, strategy, reply), F);
    let (outcome, error) = match &output.fallback_reason {
        None => (Outcome::Ok, None),
        Some(reason) => (reason.code.outcome(), serde_json::to_value(reason).ok()),
    };
    if called {
        record_llm_call(&config.model, call.latency.as_millis() as i32, usage, outcome, error, F);
    }
    session_text(&output, F)
}

fn session_text(session: &session::SessionOutput, function: &'static str) -> JsonbText {
    JsonbText(serde_json::to_string(session).unwrap_or_else(|e| {
        JitgenError::Internal { context: "serialising a session", message: e.to_string() }.raise(function)
    }))
}

fn record_llm_call(model: &str, latency_ms: i32, usage: llm::Usage, outcome: Outcome, error: Option<Value>, function: &'static str) {
    let app_id = crate::guc::app_id();
    let cost = llm::cost_estimate_usd(model, usage);
    // Ordinary roles cannot write metric rows: the owner records the call this backend made.
    crate::privileges::as_owner(function, || Spi::run_with_args(
        "SELECT jitgen._record_llm_call(coalesce($1, pg_catalog.current_database()), $2, $3, $4, $5, $6, $7::numeric, $8, $9)",
        &[
            app_id.into(),
            function.into(),
            model.into(),
            latency_ms.into(),
            (usage.prompt_tokens.min(i32::MAX as u64) as i32).into(),
            (usage.completion_tokens.min(i32::MAX as u64) as i32).into(),
            cost.into(),
            outcome.as_str().into(),
            error.map(JsonB).into(),
        ],
    ))
    .or_raise("recording the LLM call", function);
}

/// Returns its argument through the same jsonb conversions every session function pays; the
/// baseline of bench/session.
#[pg_extern(immutable, parallel_safe, strict)]
fn _jsonb_identity(doc: JsonB) -> JsonB {
    doc
}
