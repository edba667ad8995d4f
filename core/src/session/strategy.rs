//! Strategies: which generator runs (`resolve_strategy`), how a session is labelled
//! (`JitStrategy`), and the pure half of the LLM path: turning the LLM's reply (or the
//! reason there is none) into a session, with the formula as the fallback.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::adjust::{apply_resolved, JitAdjustment};
use super::error::InputError;
use super::formula::{formula_session_resolved, Resolved};
use super::input::JitInput;
use super::output::SessionOutput;
use super::types::named_enum;
use crate::validation::Report;

named_enum! {
    /// The generator a session request resolves to.
    pub enum Strategy {
        Formula => "formula",
        Llm => "llm",
        Hybrid => "hybrid",
    }
}

named_enum! {
    /// Which path produced a session (the `jit_strategy` column's four values). A formula
    /// session produced because the LLM failed is `formula_fallback`, never `llm`.
    pub enum JitStrategy {
        Formula => "formula",
        Llm => "llm",
        Hybrid => "hybrid",
        FormulaFallback => "formula_fallback",
    }
}

/// The strategy names a caller may ask for.
pub const STRATEGY_NAMES: [&str; 4] = ["formula", "llm", "hybrid", "auto"];

/// The registry: formula → formula, llm → llm, hybrid → hybrid, auto → llm when online
/// and formula when offline. Names are matched ignoring case and surrounding spaces
/// (`'Auto'` from a settings screen means auto).
pub fn resolve_strategy(name: &str, is_online: bool) -> Result<Strategy, InputError> {
    let key = name.trim().to_ascii_lowercase();
    match key.as_str() {
        "auto" => Ok(if is_online { Strategy::Llm } else { Strategy::Formula }),
        other => Strategy::parse(other).ok_or_else(|| {
            InputError::unknown(
                "strategy",
                name,
                &super::types::join_alternatives(STRATEGY_NAMES.into_iter()),
                "Use 'auto' (the default) unless you need a specific generator.",
            )
        }),
    }
}

/// How far an LLM session strays from the formula one (hybrid strategy).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    /// |llm − formula| / formula working weight; 0 when the formula weight is 0.
    pub weight_pct: f64,
    /// llm sets − formula sets.
    pub set_delta: i64,
    /// weightPct > 0.15 or setDelta ≠ 0.
    pub should_surface_to_user: bool,
}

/// Surfacing threshold of [`Divergence::weight_pct`].
pub const SURFACE_WEIGHT_PCT: f64 = 0.15;

/// Compares the working weights and main set counts of two sessions.
pub fn divergence(formula: &SessionOutput, llm: &SessionOutput) -> Divergence {
    let (f, l) = (formula.top_weight_kg(), llm.top_weight_kg());
    let weight_pct = if f > 0.0 { (l - f).abs() / f } else { 0.0 };
    let set_delta = llm.main_lift_sets.len() as i64 - formula.main_lift_sets.len() as i64;
    Divergence {
        weight_pct,
        set_delta,
        should_surface_to_user: weight_pct > SURFACE_WEIGHT_PCT || set_delta != 0,
    }
}

named_enum! {
    /// Why the LLM path fell back to the formula.
    pub enum FallbackCode {
        /// No reply within `jitgen.llm_timeout_ms`.
        Timeout => "timeout",
        /// Connection refused, DNS, TLS, reset, …
        Network => "network",
        /// The endpoint answered with a non-2xx status.
        HttpStatus => "http_status",
        /// The reply (or the adjustment in it) is not JSON.
        InvalidJson => "invalid_json",
        /// The adjustment is JSON but fails the `jit_adjustment` schema.
        SchemaViolation => "schema_violation",
        /// The response is JSON but not a chat completion (no message content, …).
        InvalidResponse => "invalid_response",
        /// No endpoint or key is configured, or the caller said the LLM is offline.
        NotConfigured => "not_configured",
    }
}

/// One schema problem of a rejected adjustment (mirrors the validation report's details).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationDetail {
    pub path: String,
    pub code: String,
    pub message: String,
}

/// The `fallback_reason` of a `formula_fallback` session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FallbackReason {
    pub code: FallbackCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ViolationDetail>,
}

impl FallbackReason {
    pub fn new(code: FallbackCode, message: impl Into<String>) -> Self {
        FallbackReason { code, message: message.into(), http_status: None, details: Vec::new() }
    }

    pub fn timeout(timeout_ms: u64) -> Self {
        FallbackReason::new(FallbackCode::Timeout, format!("no reply from the LLM within {timeout_ms} ms"))
    }

    pub fn network(message: impl Into<String>) -> Self {
        FallbackReason::new(FallbackCode::Network, message)
    }

    pub fn http_status(status: u16, message: impl Into<String>) -> Self {
        FallbackReason { http_status: Some(status), ..FallbackReason::new(FallbackCode::HttpStatus, message) }
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        FallbackReason::new(FallbackCode::InvalidJson, message)
    }

    pub fn invalid_response(message: impl Into<String>) -> Self {
        FallbackReason::new(FallbackCode::InvalidResponse, message)
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        FallbackReason::new(FallbackCode::NotConfigured, message)
    }

    /// A schema violation, carrying every detail of the report.
    pub fn schema_violation(report: &Report) -> Self {
        let details: Vec<ViolationDetail> = report
            .details()
            .iter()
            .map(|d| ViolationDetail {
                path: d.path.clone(),
                code: d.code.as_str().to_string(),
                message: d.message.clone(),
            })
            .collect();
        let message = match details.first() {
            Some(d) if d.path.is_empty() => {
                format!("adjustment violates the jit_adjustment schema: {}", d.message)
            }
            Some(d) => format!("adjustment violates the jit_adjustment schema: {}: {}", d.path, d.message),
            None => "adjustment violates the jit_adjustment schema".to_string(),
        };
        FallbackReason { details, ..FallbackReason::new(FallbackCode::SchemaViolation, message) }
    }
}

/// Parses the text an LLM returned as its adjustment (see [`crate::llm::parse_content`]).
pub fn parse_llm_content(text: &str) -> Result<Value, FallbackReason> {
    crate::llm::parse_content(text).map_err(|f| FallbackReason::from(&f))
}

impl From<&crate::llm::Failure> for FallbackReason {
    fn from(failure: &crate::llm::Failure) -> Self {
        use crate::llm::Failure;
        match failure {
            Failure::NotConfigured { message } => FallbackReason::not_configured(message.clone()),
            Failure::Timeout { timeout_ms } => FallbackReason::timeout(*timeout_ms),
            Failure::Network { message } => FallbackReason::network(message.clone()),
            Failure::HttpStatus { status, body } => FallbackReason::http_status(*status, format!("HTTP {status}: {body}")),
            Failure::InvalidJson { message } => FallbackReason::invalid_json(message.clone()),
            Failure::Truncated { completion_tokens } => {
                FallbackReason::invalid_json(format!("the reply was cut off at the token limit after {completion_tokens} tokens"))
            }
        }
    }
}

impl FallbackCode {
    /// The metric outcome a fallback of this kind is recorded with.
    pub fn outcome(self) -> crate::llm::Outcome {
        use crate::llm::Outcome;
        match self {
            FallbackCode::Timeout => Outcome::Timeout,
            FallbackCode::Network | FallbackCode::HttpStatus | FallbackCode::NotConfigured => Outcome::HttpError,
            FallbackCode::InvalidJson | FallbackCode::InvalidResponse => Outcome::ParseError,
            FallbackCode::SchemaViolation => Outcome::SchemaError,
        }
    }
}

/// The session for `strategy` given the LLM's reply: the adjustment JSON, or the reason
/// there is none. The reply is validated against `jit_adjustment`, applied to the formula
/// base and constrained. Any failure yields the formula session labelled
/// `formula_fallback` with the reason in `fallback_reason`. Hybrid sessions carry their
/// `divergence` from the formula session. `Strategy::Formula` ignores the reply.
///
/// Errors only for a bad input (never for a bad reply).
pub fn session_from_llm_reply(
    input: &JitInput,
    strategy: Strategy,
    reply: Result<Value, FallbackReason>,
) -> Result<SessionOutput, InputError> {
    let r = Resolved::new(input)?;
    let formula = formula_session_resolved(input, &r);
    if strategy == Strategy::Formula {
        return Ok(formula);
    }
    let adjustment = reply.and_then(|v| {
        JitAdjustment::from_value(&v).map_err(|report| FallbackReason::schema_violation(&report))
    });
    let adjustment = match adjustment {
        Ok(a) => a,
        Err(reason) => {
            let mut s = formula;
            s.jit_strategy = JitStrategy::FormulaFallback;
            s.fallback_reason = Some(reason);
            return Ok(s);
        }
    };
    let mut s = apply_resolved(input, &r, &adjustment);
    if strategy == Strategy::Hybrid {
        s.divergence = Some(divergence(&formula, &s));
        s.jit_strategy = JitStrategy::Hybrid;
    } else {
        s.jit_strategy = JitStrategy::Llm;
    }
    Ok(s)
}

/// [`resolve_strategy`] as the wire name.
pub fn resolve_strategy_name(name: &str, is_online: bool) -> Result<&'static str, InputError> {
    resolve_strategy(name, is_online).map(Strategy::as_str)
}

impl From<Strategy> for JitStrategy {
    fn from(s: Strategy) -> JitStrategy {
        match s {
            Strategy::Formula => JitStrategy::Formula,
            Strategy::Llm => JitStrategy::Llm,
            Strategy::Hybrid => JitStrategy::Hybrid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_content_parses() {
        assert_eq!(parse_llm_content("```json\n{\"a\":1}\n```").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_llm_content(" {\"a\":1} ").unwrap(), serde_json::json!({"a": 1}));
        let e = parse_llm_content("Sure! Here you go").unwrap_err();
        assert_eq!(e.code, FallbackCode::InvalidJson);
    }
}
