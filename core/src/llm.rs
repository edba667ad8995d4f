//! The OpenAI-compatible chat-completions protocol, without IO: request bodies, reply parsing,
//! typed failure reasons and the outcome recorded per call. The extension (synchronous,
//! time-boxed) and the sidecar (async, retried) both speak it through these functions.

use serde::Serialize;
use serde_json::{json, Value};

/// How a call ended, as recorded in the metric row (`outcome`).
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Timeout,
    HttpError,
    ParseError,
    SchemaError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::HttpError => "http_error",
            Outcome::ParseError => "parse_error",
            Outcome::SchemaError => "schema_error",
        }
    }
}

/// Why an LLM answer could not be used. Each reason maps to one metric outcome and becomes the
/// `fallback_reason` of a formula fallback.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// No endpoint or no API key: the LLM is offline by configuration.
    NotConfigured { message: String },
    Timeout { timeout_ms: u64 },
    /// Connection refused, DNS, TLS, reset: nothing came back.
    Network { message: String },
    HttpStatus { status: u16, body: String },
    /// The HTTP body or the message content is not the JSON we asked for.
    InvalidJson { message: String },
    /// The model stopped at its token limit (`finish_reason: "length"`): the content is cut off.
    Truncated { completion_tokens: u64 },
}

impl Failure {
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::Timeout { .. } => Outcome::Timeout,
            Failure::NotConfigured { .. } | Failure::Network { .. } | Failure::HttpStatus { .. } => Outcome::HttpError,
            Failure::InvalidJson { .. } | Failure::Truncated { .. } => Outcome::ParseError,
        }
    }

    /// Short snake_case label (`timeout`, `http_status`, …) for logs and fallback reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::NotConfigured { .. } => "not_configured",
            Failure::Timeout { .. } => "timeout",
            Failure::Network { .. } => "network",
            Failure::HttpStatus { .. } => "http_status",
            Failure::InvalidJson { .. } => "invalid_json",
            Failure::Truncated { .. } => "truncated",
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("failure serialises")
    }
}

/// How the reply is constrained.
#[derive(Clone, Debug)]
pub enum ResponseFormat {
    JsonObject,
    /// OpenAI structured outputs with a named JSON Schema (strict mode).
    JsonSchema { name: String, schema: Value },
}

pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub user: &'a str,
    pub format: ResponseFormat,
    pub temperature: Option<f64>,
}

/// The request body for `POST {endpoint}`.
pub fn request_body(req: &ChatRequest<'_>) -> Value {
    let response_format = match &req.format {
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { name, schema } => {
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": true}})
        }
    };
    let mut body = json!({
        "model": req.model,
        "messages": [
            {"role": "system", "content": req.system},
            {"role": "user", "content": req.user}
        ],
        "response_format": response_format
    });
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// Token counts as the server reported them (0 when it did not).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A usable reply: the JSON the model produced, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub content: Value,
    pub usage: Usage,
    pub model: Option<String>,
}

/// Parses a chat-completions response body (HTTP 2xx) into the JSON content of the first choice.
/// Models sometimes wrap JSON in a Markdown fence despite `json_object`; that is tolerated.
pub fn parse_response(body: &[u8]) -> Result<Reply, Failure> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::InvalidJson { message: format!("response body is not JSON: {e}") })?;
    parse_envelope(&envelope)
}

/// [`parse_response`] for a body already parsed as JSON.
pub fn parse_envelope(envelope: &Value) -> Result<Reply, Failure> {
    let usage = envelope_usage(envelope);
    if envelope.pointer("/choices/0/finish_reason").and_then(Value::as_str) == Some("length") {
        return Err(Failure::Truncated { completion_tokens: usage.completion_tokens });
    }
    let content = envelope
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::InvalidJson { message: "response has no choices[0].message.content".into() })?;
    let content = parse_content(content)?;
    let model = envelope.get("model").and_then(Value::as_str).map(str::to_string);
    Ok(Reply { content, usage, model })
}

/// The tokens a response reports, also when its content turns out unusable (those tokens
/// were paid for too).
pub fn envelope_usage(envelope: &Value) -> Usage {
    Usage {
        prompt_tokens: envelope.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: envelope.pointer("/usage/completion_tokens").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// The JSON inside a message's content text: plain, or inside a Markdown code fence (models
/// add one despite `json_object`).
pub fn parse_content(text: &str) -> Result<Value, Failure> {
    let trimmed = text.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```JSON"))
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    serde_json::from_str(body).map_err(|e| {
        let preview: String = body.chars().take(80).collect();
        Failure::InvalidJson { message: format!("LLM reply is not JSON ({e}): {preview:?}") }
    })
}

/// A short, sanitised excerpt of an error body, the only part of a reply that reaches callers
/// and metric rows: the key we sent (`secret`) and anything shaped like an API key or bearer
/// token are redacted, control characters (terminal escapes) become spaces, whitespace runs
/// collapse, and at most [`EXCERPT_CHARS`] characters remain.
pub fn error_excerpt(body: &[u8], secret: Option<&str>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(secret) = secret.filter(|s| s.len() >= 8) {
        text = text.replace(secret, "[redacted]");
    }
    let mut out = String::new();
    let mut redact_next = false;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        let keyish = bare.starts_with("sk-") || bare.starts_with("sk_") || (bare.len() >= 32 && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let piece = if redact_next || keyish { "[redacted]" } else { word };
        redact_next = bare.eq_ignore_ascii_case("bearer");
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
        if out.chars().count() > EXCERPT_CHARS {
            break;
        }
    }
    if out.chars().count() > EXCERPT_CHARS {
        out = out.chars().take(EXCERPT_CHARS).collect::<String>() + "…";
    }
    out
}

/// How much of an error body [`error_excerpt`] keeps.
pub const EXCERPT_CHARS: usize = 200;

/// USD estimate from per-million-token prices; unknown models cost 0 (recorded as unknown).
pub fn cost_estimate_usd(model: &str, usage: Usage) -> Option<f64> {
    // (input, output) USD per million tokens, list prices of the models the seeds name.
    let (input, output) = match model {
        m if m.starts_with("gpt-4o-mini") => (0.15, 0.60),
        m if m.starts_with("gpt-4o") => (2.50, 10.00),
        m if m.starts_with("gpt-4.1-mini") => (0.40, 1.60),
        m if m.starts_with("gpt-4.1-nano") => (0.10, 0.40),
        _ => return None,
    };
    Some((usage.prompt_tokens as f64 * input + usage.completion_tokens as f64 * output) / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_body(content: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "x", "model": "gpt-4o-mini-2024",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}
        }))
        .unwrap()
    }

    #[test]
    fn parses_content_and_usage() {
        let r = parse_response(&ok_body(r#"{"a":1}"#)).unwrap();
        assert_eq!(r.content, json!({"a": 1}));
        assert_eq!(r.usage, Usage { prompt_tokens: 120, completion_tokens: 30 });
        assert_eq!(r.model.as_deref(), Some("gpt-4o-mini-2024"));
        let fenced = parse_response(&ok_body("```json\n{\"a\":2}\n```")).unwrap();
        assert_eq!(fenced.content, json!({"a": 2}));
    }

    #[test]
    fn failures_are_typed() {
        assert!(matches!(parse_response(b"<html>"), Err(Failure::InvalidJson { .. })));
        assert!(matches!(parse_response(br#"{"choices":[]}"#), Err(Failure::InvalidJson { .. })));
        assert!(matches!(parse_response(&ok_body("Sure! {")), Err(Failure::InvalidJson { .. })));
        let cut = serde_json::to_vec(&json!({
            "choices": [{"finish_reason": "length", "message": {"content": "{\"programName\": \"A"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 16000}
        }))
        .unwrap();
        assert_eq!(parse_response(&cut), Err(Failure::Truncated { completion_tokens: 16000 }));
        let envelope: Value = serde_json::from_slice(&cut).unwrap();
        assert_eq!(envelope_usage(&envelope), Usage { prompt_tokens: 10, completion_tokens: 16000 });
        assert_eq!(parse_envelope(&envelope), Err(Failure::Truncated { completion_tokens: 16000 }));
        assert_eq!(envelope_usage(&json!({"choices": []})), Usage::default());
        assert_eq!(Failure::Timeout { timeout_ms: 5 }.outcome(), Outcome::Timeout);
        assert_eq!(Failure::HttpStatus { status: 500, body: String::new() }.outcome(), Outcome::HttpError);
        assert_eq!(Failure::InvalidJson { message: String::new() }.outcome(), Outcome::ParseError);
        assert_eq!(Failure::Timeout { timeout_ms: 5 }.to_json(), json!({"kind": "timeout", "timeout_ms": 5}));
    }

    #[test]
    fn error_excerpts_are_short_and_carry_no_key() {
        let body = b"Incorrect API key provided: sk-live-SECRET-1234. \x1b[31mRED\x1b[0m Authorization: Bearer abc.def";
        let e = error_excerpt(body, None);
        assert_eq!(e, "Incorrect API key provided: [redacted] [31mRED [0m Authorization: Bearer [redacted]");
        let e = error_excerpt(b"your key my-private-key-123 is wrong", Some("my-private-key-123"));
        assert_eq!(e, "your key [redacted] is wrong");
        let long = "word ".repeat(200);
        assert_eq!(error_excerpt(long.as_bytes(), None).chars().count(), EXCERPT_CHARS + 1);
        let token = "a".repeat(40);
        assert_eq!(error_excerpt(format!("token {token} leaked").as_bytes(), None), "token [redacted] leaked");
    }

    #[test]
    fn request_bodies() {
        let b = request_body(&ChatRequest {
            model: "m",
            system: "s",
            user: "u",
            format: ResponseFormat::JsonObject,
            temperature: Some(0.2),
        });
        assert_eq!(b["response_format"], json!({"type": "json_object"}));
        assert_eq!(b["messages"][1], json!({"role": "user", "content": "u"}));
        let b = request_body(&ChatRequest {
            model: "m",
            system: "s",
            user: "u",
            format: ResponseFormat::JsonSchema { name: "adj".into(), schema: json!({"type": "object"}) },
            temperature: None,
        });
        assert_eq!(b["response_format"]["json_schema"]["strict"], json!(true));
        assert!(b.get("temperature").is_none());
    }

    #[test]
    fn costs() {
        let u = Usage { prompt_tokens: 1_000_000, completion_tokens: 1_000_000 };
        assert_eq!(cost_estimate_usd("gpt-4o-mini", u), Some(0.75));
        assert_eq!(cost_estimate_usd("local-llama", u), None);
    }
}
