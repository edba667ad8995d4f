//! The OpenAI chat-completions request as `jitgen serve` reads it, and its error body
//! (`{"error": {"message", "type", "param", "code"}}`, as OpenAI clients expect).

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use jitgen_core::validation::CompiledSchema;
use jitgen_trainer::serve::{ChatMessage, SamplingParams};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ServeError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub param: Option<&'static str>,
    pub message: String,
}

impl ServeError {
    pub fn bad(param: &'static str, message: impl Into<String>) -> ServeError {
        ServeError { status: StatusCode::BAD_REQUEST, kind: "invalid_request_error", code: "invalid_value", param: Some(param), message: message.into() }
    }

    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> ServeError {
        ServeError { status, kind, code, param: None, message: message.into() }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}});
        let mut resp = (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// What a request asks for, checked.
pub struct ChatRequest {
    /// The `model` field as sent: `<base>` or `<base>:<node_id>`.
    pub model: String,
    pub node_id: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// `None`: up to the context length, at most [`DEFAULT_MAX_TOKENS`].
    pub max_tokens: Option<usize>,
    pub sampling: SamplingParams,
    pub json_object: bool,
    /// `response_format: json_schema`: the reply must also satisfy this schema.
    pub schema: Option<Arc<CompiledSchema>>,
}

pub const DEFAULT_MAX_TOKENS: usize = 512;

fn number(body: &Value, field: &'static str, lo: f64, hi: f64) -> Result<Option<f64>, ServeError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(ServeError::bad(field, format!("{field} must be a number from {lo} to {hi}, got {v}"))),
        },
    }
}

pub fn parse(body: &Value, base_model_id: &str) -> Result<ChatRequest, ServeError> {
    if !body.is_object() {
        return Err(ServeError::bad("body", "the body must be a JSON object"));
    }
    let model = body.get("model").and_then(Value::as_str).ok_or_else(|| ServeError::bad("model", "model is required: a string"))?;
    let (base, node_id) = match model.split_once(':') {
        Some((b, n)) => (b, Some(n)),
        None => (model, None),
    };
    if base != base_model_id {
        return Err(ServeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "model_not_found",
            param: Some("model"),
            message: format!("the model {base:?} does not exist here; this server serves {base_model_id:?} (and \"{base_model_id}:<node_id>\" for a node's adapter)"),
        });
    }
    if let Some(n) = node_id {
        if !jitgen_core::adapters::valid_node_id(n) {
            return Err(ServeError::bad("model", format!("{n:?} is not a valid node id")));
        }
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(ServeError::bad("stream", "streaming is not supported; send stream: false"));
    }
    if body.get("n").is_some_and(|n| !n.is_null() && n.as_u64() != Some(1)) {
        return Err(ServeError::bad("n", "only n = 1 is supported"));
    }
    let raw = body.get("messages").and_then(Value::as_array).ok_or_else(|| ServeError::bad("messages", "messages is required: an array"))?;
    if raw.is_empty() {
        return Err(ServeError::bad("messages", "messages must not be empty"));
    }
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "system" | "developer" | "user" | "assistant") {
            return Err(ServeError::bad("messages", format!("messages[{i}].role must be system, user or assistant")));
        }
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            // The array form: text parts only.
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for p in parts {
                    match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
                        (Some("text"), Some(t)) => text.push_str(t),
                        _ => return Err(ServeError::bad("messages", format!("messages[{i}].content: only text parts are supported"))),
                    }
                }
                text
            }
            _ => return Err(ServeError::bad("messages", format!("messages[{i}].content must be a string"))),
        };
        let role = if role == "developer" { "system" } else { role };
        messages.push(ChatMessage { role: role.to_string(), content });
    }
    let max_tokens = match number(body, "max_completion_tokens", 1.0, 1e9)?.or(number(body, "max_tokens", 1.0, 1e9)?) {
        Some(x) if x.fract() == 0.0 => Some(x as usize),
        Some(_) => return Err(ServeError::bad("max_tokens", "max_tokens must be a whole number")),
        None => None,
    };
    let stop = match body.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())) => {
            a.iter().filter_map(|s| s.as_str().map(String::from)).collect()
        }
        Some(_) => return Err(ServeError::bad("stop", "stop must be a string or up to 4 non-empty strings")),
    };
    let (json_object, schema) = match body.get("response_format") {
        None | Some(Value::Null) => (false, None),
        Some(f) => match f.get("type").and_then(Value::as_str) {
            Some("text") => (false, None),
            Some("json_object") => (true, None),
            Some("json_schema") => {
                let schema = f.pointer("/json_schema/schema").ok_or_else(|| ServeError::bad("response_format", "response_format.json_schema.schema is required"))?;
                let compiled = CompiledSchema::compile(schema).map_err(|e| ServeError::bad("response_format", format!("response_format.json_schema.schema does not compile: {e}")))?;
                (true, Some(Arc::new(compiled)))
            }
            _ => return Err(ServeError::bad("response_format", "response_format.type must be text, json_object or json_schema")),
        },
    };
    let seed = match body.get("seed") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| ServeError::bad("seed", "seed must be an integer"))? as u64,
    };
    let sampling = SamplingParams {
        max_tokens: 0,
        // Greedy unless asked: tool calls and JSON want the likeliest answer, repeatably.
        temperature: number(body, "temperature", 0.0, 2.0)?.unwrap_or(0.0),
        top_p: number(body, "top_p", 0.0, 1.0)?.filter(|&p| p > 0.0).unwrap_or(1.0),
        seed,
        stop,
        json_object: false,
        ignore_eos: body.get("ignore_eos").and_then(Value::as_bool).unwrap_or(false),
    };
    Ok(ChatRequest { model: model.to_string(), node_id: node_id.map(String::from), messages, max_tokens, sampling, json_object, schema })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &Value) -> ServeError {
        match parse(body, "smol") {
            Err(e) => e,
            Ok(_) => panic!("accepted {body}"),
        }
    }

    fn req(extra: Value) -> Value {
        let mut v = json!({"model": "smol", "messages": [{"role": "user", "content": "hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn the_model_names_the_base_and_optionally_a_node() {
        let r = parse(&req(json!({})), "smol").unwrap();
        assert_eq!((r.model.as_str(), r.node_id), ("smol", None));
        let r = parse(&req(json!({"model": "smol:kitchen-1"})), "smol").unwrap();
        assert_eq!(r.node_id.as_deref(), Some("kitchen-1"));
        let e = refused(&req(json!({"model": "gpt-4o"})));
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "model_not_found"));
        assert!(e.message.contains("gpt-4o"), "{}", e.message);
        assert_eq!(refused(&req(json!({"model": "smol:../x"}))).status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn bad_fields_get_400_naming_the_field() {
        for (extra, param) in [
            (json!({"messages": []}), "messages"),
            (json!({"messages": [{"role": "tool", "content": "x"}]}), "messages"),
            (json!({"temperature": 3}), "temperature"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"max_tokens": 1.5}), "max_tokens"),
            (json!({"stream": true}), "stream"),
            (json!({"n": 2}), "n"),
            (json!({"stop": [""]}), "stop"),
            (json!({"response_format": {"type": "xml"}}), "response_format"),
        ] {
            let e = refused(&req(extra.clone()));
            assert_eq!((e.status, e.param), (StatusCode::BAD_REQUEST, Some(param)), "{extra}");
        }
    }

    #[test]
    fn defaults_are_greedy_and_json_mode_is_read() {
        let r = parse(&req(json!({"response_format": {"type": "json_object"}, "max_tokens": 20, "stop": "\n"})), "smol").unwrap();
        assert!(r.json_object);
        assert_eq!((r.max_tokens, r.sampling.temperature, r.sampling.stop.clone()), (Some(20), 0.0, vec!["\n".to_string()]));
        let with_schema = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object", "required": ["a"]}}}});
        let r = parse(&req(with_schema), "smol").unwrap();
        assert!(r.json_object);
        assert!(r.schema.as_ref().is_some_and(|s| s.is_valid(&json!({"a": 1})) && !s.is_valid(&json!({"b": 1}))));
        let broken = json!({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 7}}}});
        assert_eq!(refused(&req(broken)).param, Some("response_format"));
        let parts = json!({"messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
        let r = parse(&req(parts), "smol").unwrap();
        assert_eq!((r.messages[0].role.as_str(), r.messages[0].content.as_str()), ("system", "ab"));
    }
}
