//! The optimisation oracle's pure parts (seed 001): what the component's LLM and the coder LLM
//! are asked, how the coder's reply is read, where artifacts live, and how a candidate's shadow
//! replay is scored. No IO: the extension and the sidecar do the calls.

use serde_json::{json, Value};

use crate::llm::{request_body, ChatRequest, ResponseFormat};
use crate::validation::schema::json_type;

/// The function every generated handler defines.
pub const HANDLER_FUNCTION: &str = "handle_request";

/// `_jit_code/<component>/<version>/handler.py` or `…/test_handler.py`.
pub fn artifact_path(component_id: &str, version: &str, kind: ArtifactKind) -> String {
    let file = match kind {
        ArtifactKind::Code => "handler.py",
        ArtifactKind::Test => "test_handler.py",
    };
    format!("_jit_code/{component_id}/{version}/{file}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Code,
    Test,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Code => "code",
            ArtifactKind::Test => "test",
        }
    }
}

/// The chat request of one `jitgen.invoke` through the component's prompt: the prompt and the
/// output contract as the system message, the request as the user message.
pub fn invoke_body(model: &str, prompt: &str, output_schema: &Value, request: &Value) -> Value {
    let system = format!(
        "{prompt}\n\nAnswer with one JSON object only, valid against this JSON Schema:\n{}",
        serde_json::to_string(output_schema).unwrap_or_default()
    );
    let user = serde_json::to_string(request).unwrap_or_default();
    request_body(&ChatRequest { model, system: &system, user: &user, format: ResponseFormat::JsonObject, temperature: Some(0.0) })
}

/// What the coder LLM is told about a component.
pub struct Specification<'a> {
    pub component_id: &'a str,
    pub prompt: &'a str,
    pub input_schema: &'a Value,
    pub output_schema: &'a Value,
    pub target_language: &'a str,
    /// Recorded (request, response) pairs of the LLM handler.
    pub samples: &'a [(Value, Value)],
}

const CODER_SYSTEM: &str = "You replace an LLM prompt by equivalent, deterministic code. Reply with one JSON object \
{\"code\": <Python module text>, \"tests\": <pytest module text>} and nothing else.\n\
The code defines `def handle_request(request, context):` taking the request (a dict valid against the input \
schema) and returning a dict valid against the output schema. It uses only the Python standard library, no \
network, no files, no environment variables. On a request it cannot handle it returns \
{\"resultType\": \"error\", \"error\": {\"code\": <short code>, \"message\": <text>}}.\n\
The tests import it with `from handler import handle_request`, cover the recorded examples and the edge cases \
the business logic implies, and run with plain pytest.";

/// The coder LLM's request: the specification the reference lists (prompt, exact input and
/// output structure, target language, business logic from the prompt, recorded samples).
pub fn coder_body(model: &str, spec: &Specification<'_>) -> Value {
    let examples: Vec<Value> =
        spec.samples.iter().map(|(request, response)| json!({"request": request, "response": response})).collect();
    let user = json!({
        "component": spec.component_id,
        "target_language": spec.target_language,
        "business_logic": spec.prompt,
        "input_schema": spec.input_schema,
        "output_schema": spec.output_schema,
        "function": HANDLER_FUNCTION,
        "examples": examples,
    });
    request_body(&ChatRequest {
        model,
        system: CODER_SYSTEM,
        user: &serde_json::to_string_pretty(&user).unwrap_or_default(),
        format: ResponseFormat::JsonObject,
        temperature: Some(0.0),
    })
}

/// The coder's two artifacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub code: String,
    pub tests: String,
}

/// Reads `{code, tests}`; anything else is refused with the reason.
pub fn parse_candidate(content: &Value) -> Result<Candidate, String> {
    let Some(obj) = content.as_object() else {
        return Err(format!("the coder replied with JSON of type {} instead of {{code, tests}}", json_type(content)));
    };
    let text = |key: &str| -> Result<String, String> {
        match obj.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("`{key}` is empty")),
            Some(other) => Err(format!("`{key}` is of type {} instead of string", json_type(other))),
            None => Err(format!("`{key}` is missing")),
        }
    };
    let code = text("code")?;
    let tests = text("tests")?;
    if !code.contains(&format!("def {HANDLER_FUNCTION}")) {
        return Err(format!("the code does not define {HANDLER_FUNCTION}"));
    }
    Ok(Candidate { code, tests })
}

/// Shadow replay's score: the share of samples whose candidate output equals the recorded one
/// (JSON equality: key order never matters). `None` without samples.
pub fn agreement(recorded: &[Value], candidate: &[Option<Value>]) -> Option<f64> {
    if recorded.is_empty() {
        return None;
    }
    let equal = recorded.iter().zip(candidate).filter(|(r, c)| c.as_ref() == Some(*r)).count();
    Some(equal as f64 / recorded.len() as f64)
}

/// The standard error result of a handler (or of jitgen on its behalf) that could not answer.
pub fn error_result(code: &str, message: String) -> Value {
    json!({"resultType": "error", "error": {"code": code, "message": message}})
}

/// Whether a handler's result is the standard error shape.
pub fn is_error_result(v: &Value) -> bool {
    v.get("resultType").and_then(Value::as_str) == Some("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_shapes() {
        let ok = json!({"code": "def handle_request(request, context):\n    return {}", "tests": "def test_x(): pass"});
        assert!(parse_candidate(&ok).is_ok());
        assert!(parse_candidate(&json!([1])).unwrap_err().contains("type array"));
        assert!(parse_candidate(&json!({"code": "x"})).unwrap_err().contains("`tests` is missing"));
        assert!(parse_candidate(&json!({"code": 1, "tests": "t"})).unwrap_err().contains("type integer"));
        assert!(parse_candidate(&json!({"code": "def other(): pass", "tests": "t"})).unwrap_err().contains("handle_request"));
    }

    #[test]
    fn agreement_ignores_key_order_and_counts_failures() {
        let recorded = vec![json!({"a": 1, "b": 2}), json!({"a": 2})];
        let a: Value = serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap();
        assert_eq!(agreement(&recorded, &[Some(a.clone()), Some(json!({"a": 2}))]), Some(1.0));
        assert_eq!(agreement(&recorded, &[Some(a), None]), Some(0.5));
        assert_eq!(agreement(&[], &[]), None);
    }

    #[test]
    fn paths_and_bodies() {
        assert_eq!(artifact_path("sentiment", "v3", ArtifactKind::Test), "_jit_code/sentiment/v3/test_handler.py");
        let body = invoke_body("m", "Classify.", &json!({"type": "object"}), &json!({"text": "hi"}));
        assert_eq!(body["messages"][1]["content"], json!("{\"text\":\"hi\"}"));
        assert_eq!(body["response_format"]["type"], json!("json_object"));
        let samples = vec![(json!({"x": 1}), json!({"y": 2}))];
        let spec = Specification {
            component_id: "c",
            prompt: "p",
            input_schema: &json!({}),
            output_schema: &json!({}),
            target_language: "python",
            samples: &samples,
        };
        let body = coder_body("coder", &spec);
        assert!(body["messages"][1]["content"].as_str().unwrap().contains("\"examples\""));
    }
}
