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
