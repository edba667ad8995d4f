//! Seed-004 ingest validation of a node's command list (`IJarvisCommand.get_command_schema()`).
//!
//! Errors come in a fixed order: first the JSON Schema errors of every command in document
//! order, then each list rule in turn (parameter types, example counts, primary examples,
//! duplicate names, expected parameters). A node developer fixing the payload top to bottom
//! therefore sees structural problems before semantic ones.

use std::collections::HashMap;

use serde_json::Value;

use super::builtin::Builtin;
use super::path;
use super::report::{Code, Report};
use super::schema::{json_type, reject_too_deep, schema_errors, short};

pub const MIN_EXAMPLES: usize = 1;
pub const MAX_EXAMPLES: usize = 20;
const ROOT: &str = "commands";

/// The value kinds a parameter `type` can name (the node SDK's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Str,
    Int,
    Float,
    Bool,
    List,
    Dict,
    DateTime,
    Date,
    Time,
    TimeDelta,
}

/// A parsed parameter type: a scalar kind or a homogeneous array of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    One(ValueKind),
    ArrayOf(ValueKind),
}

fn scalar_kind(name: &str) -> Option<ValueKind> {
    Some(match name {
        "str" | "string" => ValueKind::Str,
        "int" | "integer" => ValueKind::Int,
        "float" => ValueKind::Float,
        "bool" | "boolean" => ValueKind::Bool,
        "list" | "array" => ValueKind::List,
        "dict" => ValueKind::Dict,
        "datetime" => ValueKind::DateTime,
        "date" => ValueKind::Date,
        "time" => ValueKind::Time,
        "timedelta" => ValueKind::TimeDelta,
        _ => return None,
    })
}

fn element_kind(name: &str) -> Option<ValueKind> {
    // The SDK allows typed arrays only of these element names.
    match name {
        "datetime" | "date" | "time" | "timedelta" | "string" | "int" | "float" | "bool" => scalar_kind(name),
        _ => None,
    }
}

/// Parses `str`, `array<float>`, `array[date]`, `int[]`, …; None for anything else.
pub fn parse_param_type(text: &str) -> Option<ParamType> {
    if let Some(kind) = scalar_kind(text) {
        return Some(ParamType::One(kind));
    }
    let inner = text
        .strip_prefix("array<")
        .and_then(|r| r.strip_suffix('>'))
        .or_else(|| text.strip_prefix("array[").and_then(|r| r.strip_suffix(']')))
        .or_else(|| text.strip_suffix("[]"))?;
    element_kind(inner).map(ParamType::ArrayOf)
}

fn kind_matches(kind: ValueKind, v: &Value) -> bool {
    match kind {
        ValueKind::Str | ValueKind::DateTime | ValueKind::Date | ValueKind::Time => v.is_string(),
        ValueKind::Int => v.is_i64() || v.is_u64(),
        ValueKind::Float => v.is_number(),
        ValueKind::Bool => v.is_boolean(),
        ValueKind::List => v.is_array(),
        ValueKind::Dict => v.is_object(),
        // Durations arrive as seconds or as text ("90 minutes"); both are kept as given.
        ValueKind::TimeDelta => v.is_string() || v.is_number(),
    }
}

impl ParamType {
    /// Whether an expected value fits. Null stands for "not given" and always fits.
    pub fn accepts(self, v: &Value) -> bool {
        match (self, v) {
            (_, Value::Null) => true,
            (ParamType::One(kind), v) => kind_matches(kind, v),
            (ParamType::ArrayOf(kind), Value::Array(items)) => items.iter().all(|i| kind_matches(kind, i)),
            (ParamType::ArrayOf(_), _) => false,
        }
    }
}

/// Validates a command list: a JSON array, or an object with a `commands` (or
/// `command_schema`) array. Paths are rooted at `commands`.
pub fn validate_commands(input: &Value, max_details: usize) -> Report {
    let mut report = Report::new(max_details);
    let list = match input {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("commands").or_else(|| map.get("command_schema")) {
            Some(Value::Array(items)) => items,
            Some(other) => {
                report.push(ROOT, Code::InvalidType, format!("expected an array of commands, got {}", json_type(other)));
                return report;
            }
            None => {
                report.push(ROOT, Code::MissingField, "commands required");
                return report;
            }
        },
        other => {
            report.push(ROOT, Code::InvalidType, format!("expected an array of commands, got {}", json_type(other)));
            return report;
        }
    };
    if reject_too_deep(input, ROOT, &mut report) {
        return report;
    }
    let commands: Vec<(String, &Value)> =
        list.iter().enumerate().map(|(i, c)| (path::index(ROOT, i), c)).collect();
    let validator = Builtin::CommandSchema.compiled().validator();
    for (at, command) in &commands {
        if report.is_full() {
            report.mark_truncated();
            return report;
        }
        schema_errors(validator, command, at, &mut report);
    }
    run_rules(&commands, true, &mut report);
    report
}

/// The list rules for one command validated on its own (`validate('command_schema', doc)`).
pub(crate) fn check_single(command: &Value, base: &str, report: &mut Report) {
    run_rules(&[(base.to_string(), command)], false, report);
}

type Rule = fn(&str, &Value, &mut Report);

fn run_rules(commands: &[(String, &Value)], across_commands: bool, report: &mut Report) {
    let per_command: [Rule; 3] = [rule_param_types, rule_example_counts, rule_primary_examples];
    for rule in per_command {
        for (at, command) in commands {
            rule(at, command, report);
        }
    }
    if across_commands {
        rule_unique_command_names(commands, report);
    }
    let per_command: [Rule; 2] = [rule_unique_param_names, rule_expected_parameters];
    for rule in per_command {
        for (at, command) in commands {
            rule(at, command, report);
        }
    }
}

fn items<'a>(command: &'a Value, field: &str) -> &'a [Value] {
    command.get(field).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn rule_param_types(at: &str, command: &Value, report: &mut Report) {
    for (j, param) in items(command, "parameters").iter().enumerate() {
        if let Some(t) = param.get("type").and_then(Value::as_str) {
            if parse_param_type(t).is_none() {
                let p = path::key(&path::index(&path::key(at, "parameters"), j), "type");
                report.push(p, Code::InvalidType, format!("unknown param type: {t}"));
            }
        }
    }
}

fn rule_example_counts(at: &str, command: &Value, report: &mut Report) {
    let Some(examples) = command.get("examples").and_then(Value::as_array) else { return };
    let p = path::key(at, "examples");
    if examples.len() < MIN_EXAMPLES {
        report.push(p, Code::TooFewExamples, format!("minimum {MIN_EXAMPLES} example required"));
    } else if examples.len() > MAX_EXAMPLES {
        report.push(
            p,
            Code::TooManyExamples,
            format!("maximum {MAX_EXAMPLES} examples allowed, got {}", examples.len()),
        );
    }
}

fn rule_primary_examples(at: &str, command: &Value, report: &mut Report) {
    let primaries = items(command, "examples")
        .iter()
        .filter(|e| e.get("is_primary").and_then(Value::as_bool) == Some(true))
        .count();
    if primaries > 1 {
        report.push(
            path::key(at, "examples"),
            Code::TooManyPrimaryExamples,
            format!("at most 1 primary example allowed, got {primaries}"),
        );
    }
}

fn rule_unique_command_names(commands: &[(String, &Value)], report: &mut Report) {
    let mut first: HashMap<&str, &str> = HashMap::new();
    for (at, command) in commands {
        let Some(name) = command.get("command_name").and_then(Value::as_str) else { continue };
        if let Some(previous) = first.get(name) {
            report.push(
                path::key(at, "command_name"),
                Code::DuplicateName,
                format!("duplicate command_name '{name}' (first at {previous})"),
            );
        } else {
            first.insert(name, at);
        }
    }
}

fn rule_unique_param_names(at: &str, command: &Value, report: &mut Report) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (j, param) in items(command, "parameters").iter().enumerate() {
        let Some(name) = param.get("name").and_then(Value::as_str) else { continue };
        if let Some(previous) = first.get(name) {
            let p = path::key(&path::index(&path::key(at, "parameters"), j), "name");
            report.push(
                p,
                Code::DuplicateName,
                format!("duplicate parameter name '{name}' (first at parameters[{previous}])"),
            );
        } else {
            first.insert(name, j);
        }
    }
}

struct ParamSpec<'a> {
    ty: Option<ParamType>,
    enum_values: &'a [Value],
}

fn rule_expected_parameters(at: &str, command: &Value, report: &mut Report) {
    let Some(params) = command.get("parameters").and_then(Value::as_array) else { return };
    let mut specs: HashMap<&str, ParamSpec<'_>> = HashMap::new();
    for param in params {
        if let Some(name) = param.get("name").and_then(Value::as_str) {
            specs.entry(name).or_insert(ParamSpec {
                ty: param.get("type").and_then(Value::as_str).and_then(parse_param_type),
                enum_values: items(param, "enum_values"),
            });
        }
    }
    let command_name = command.get("command_name").and_then(Value::as_str).unwrap_or("?");
    for (e, example) in items(command, "examples").iter().enumerate() {
        let Some(expected) = example.get("expected_parameters").and_then(Value::as_object) else { continue };
        let base = path::key(&path::index(&path::key(at, "examples"), e), "expected_parameters");
        for (key, value) in expected {
            let p = path::key(&base, key);
            let Some(spec) = specs.get(key.as_str()) else {
                report.push(p, Code::UnknownParameter, format!("unknown parameter '{key}' for command '{command_name}'"));
                continue;
            };
            if let Some(ty) = spec.ty {
                if !ty.accepts(value) {
                    report.push(
                        p,
                        Code::InvalidValue,
                        format!("parameter '{key}' expects {}, got {}", type_name(ty), json_type(value)),
                    );
                    continue;
                }
            }
            if !spec.enum_values.is_empty() && !in_enum(value, spec.enum_values) {
                report.push(
                    p,
                    Code::InvalidValue,
                    format!(
                        "{} is not one of the enum_values of '{key}': {}",
                        short(value),
                        short(&Value::Array(spec.enum_values.to_vec()))
                    ),
                );
            }
        }
    }
}

fn in_enum(value: &Value, allowed: &[Value]) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(|i| allowed.contains(i)),
        v => allowed.contains(v),
    }
}

fn type_name(ty: ParamType) -> String {
    fn kind(k: ValueKind) -> &'static str {
        match k {
            ValueKind::Str => "a string",
            ValueKind::Int => "an integer",
            ValueKind::Float => "a number",
            ValueKind::Bool => "a boolean",
            ValueKind::List => "an array",
            ValueKind::Dict => "an object",
            ValueKind::DateTime => "a datetime string",
            ValueKind::Date => "a date string",
            ValueKind::Time => "a time string",
            ValueKind::TimeDelta => "a duration (seconds or text)",
        }
    }
    match ty {
        ParamType::One(k) => kind(k).to_string(),
        ParamType::ArrayOf(k) => format!("an array of {}", kind(k).trim_start_matches("a ").trim_start_matches("an ")),
    }
}
