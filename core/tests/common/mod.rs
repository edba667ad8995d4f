//! Fixtures shared by the core integration tests.

use serde_json::{json, Value};

/// A valid seed-004 command: three parameters (one with enum_values) and two examples.
pub fn command(name: &str) -> Value {
    json!({
        "command_name": name,
        "description": format!("{name} command"),
        "parameters": [
            {"name": "city", "type": "str", "required": true},
            {"name": "days", "type": "int", "required": false},
            {"name": "unit", "type": "str", "required": false, "enum_values": ["celsius", "fahrenheit"]}
        ],
        "examples": [
            {"voice_command": format!("{name} in Paris"), "expected_parameters": {"city": "Paris"}, "is_primary": true},
            {"voice_command": format!("{name} in Oslo for 3 days in celsius"),
             "expected_parameters": {"city": "Oslo", "days": 3, "unit": "celsius"}}
        ]
    })
}

/// The seed's invalid payload: six commands, with command 3's first example missing its
/// utterance, command 1's third parameter of an unknown type (and its example no longer using
/// it), and command 5 without examples.
pub fn seed_004_invalid_payload() -> Value {
    let mut list: Vec<Value> = (0..6).map(|i| command(&format!("cmd{i}"))).collect();
    if let Some(Value::Object(e)) = list[3]["examples"].get_mut(0) {
        e.remove("voice_command");
    }
    list[1]["parameters"][2]["type"] = json!("array<decimal>");
    if let Some(Value::Object(p)) = list[1]["examples"][1].get_mut("expected_parameters") {
        p.remove("unit");
    }
    list[5]["examples"] = json!([]);
    Value::Array(list)
}

/// The seed's 400 body for [`seed_004_invalid_payload`], byte for byte.
pub const SEED_004_INVALID_BODY: &str = concat!(
    r#"{"error":"invalid_schema","details":["#,
    r#"{"path":"commands[3].examples[0]","code":"missing_field","message":"voice_command required"},"#,
    r#"{"path":"commands[1].parameters[2].type","code":"invalid_type","message":"unknown param type: array<decimal>"},"#,
    r#"{"path":"commands[5].examples","code":"too_few_examples","message":"minimum 1 example required"}]}"#
);
