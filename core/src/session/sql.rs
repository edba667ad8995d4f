//! JSON-in, JSON-out forms of the session API, one per SQL function, so the extension's
//! `#[pg_extern]` wrappers are one line each. Every error is an [`InputError`] (→ 22023).

use serde::Serialize;
use serde_json::Value;

use super::adjust::JitAdjustment;
use super::error::InputError;
use super::input::JitInput;
use super::output::SessionOutput;
use super::strategy::{FallbackReason, Strategy};
use super::types::{Sex, TrainingAge};

/// Results are JSON text: Postgres parses it into jsonb directly, which is cheaper than
/// building a `serde_json::Value` tree first.
fn to_json<T: Serialize>(value: &T) -> Result<String, InputError> {
    serde_json::to_string(value).map_err(|e| {
        InputError::invalid_type("", format!("could not be serialised: {e}"), "Report this as a jitgen bug.")
    })
}

/// `jitgen.formula_session(input jsonb)`.
pub fn formula_session(input: &Value) -> Result<String, InputError> {
    let input = JitInput::from_value(input)?;
    to_json(&super::formula::formula_session(&input)?)
}

/// `jitgen.apply_adjustment(input jsonb, adjustment jsonb)`: formula base + adjustment +
/// hard constraints. An adjustment failing the schema is an error here (the caller chose
/// it); only `generate_session` turns a bad LLM reply into a fallback.
pub fn apply_adjustment(input: &Value, adjustment: &Value) -> Result<String, InputError> {
    let input = JitInput::from_value(input)?;
    let adjustment = JitAdjustment::from_value(adjustment)
        .map_err(|r| InputError::invalid_adjustment("adjustment", &r))?;
    to_json(&super::adjust::apply_adjustment(&input, &adjustment)?)
}

/// `jitgen.enforce_hard_constraints(input jsonb, session jsonb)`.
pub fn enforce_hard_constraints(input: &Value, session: &Value) -> Result<String, InputError> {
    let input = JitInput::from_value(input)?;
    let session = SessionOutput::from_value(session).map_err(|e| e.under("session"))?;
    to_json(&super::constraints::enforce_hard_constraints(&input, session)?)
}

/// `jitgen.build_jit_context(input jsonb)`.
pub fn build_jit_context(input: &Value) -> Result<String, InputError> {
    to_json(&super::context::build_jit_context(input)?)
}

/// `jitgen.resolve_strategy(strategy text, is_online boolean)`.
pub fn resolve_strategy(strategy: &str, is_online: bool) -> Result<&'static str, InputError> {
    super::strategy::resolve_strategy_name(strategy, is_online)
}

/// `jitgen.volume_status(sets numeric, mev int, mrv int)`.
pub fn volume_status(sets: f64, mev: i32, mrv: i32) -> Result<&'static str, InputError> {
    if !sets.is_finite() || sets < 0.0 {
        return Err(InputError::out_of_range(
            "sets",
            format!("must be a finite number >= 0, got {sets}"),
            "Pass the weekly set count of the muscle.",
        ));
    }
    Ok(super::volume::volume_status(sets, i64::from(mev), i64::from(mrv)).as_str())
}

/// `jitgen.rpe_set_multiplier(rpe numeric)`; SQL NULL is an unrecorded RPE.
pub fn rpe_set_multiplier(rpe: Option<f64>) -> f64 {
    super::volume::rpe_set_multiplier(rpe)
}

/// `jitgen.mrv_mev_config(sex text, training_age text)`.
pub fn mrv_mev_config(sex: &str, training_age: &str) -> Result<String, InputError> {
    let s = sex.trim().to_ascii_lowercase();
    let sex = Sex::parse(&s).ok_or_else(|| {
        InputError::unknown("sex", sex, &Sex::expected(), format!("Use one of: {}.", Sex::expected()))
    })?;
    let a = training_age.trim().to_ascii_lowercase();
    let age = TrainingAge::parse(&a).ok_or_else(|| {
        InputError::unknown(
            "training_age",
            training_age,
            &TrainingAge::expected(),
            format!("Use one of: {}.", TrainingAge::expected()),
        )
    })?;
    to_json(&super::volume::mrv_mev_config(sex, age))
}

/// The pure half of `jitgen.generate_session`: `strategy` is a resolved name (formula,
/// llm or hybrid), `reply` the adjustment JSON or why there is none.
pub fn session_from_llm_reply(
    input: &Value,
    strategy: &str,
    reply: Result<Value, FallbackReason>,
) -> Result<String, InputError> {
    let input = JitInput::from_value(input)?;
    let strategy = Strategy::parse(strategy.trim()).ok_or_else(|| {
        InputError::unknown(
            "strategy",
            strategy,
            &Strategy::expected(),
            "Resolve 'auto' with jitgen.resolve_strategy first.",
        )
    })?;
    to_json(&super::strategy::session_from_llm_reply(&input, strategy, reply)?)
}
