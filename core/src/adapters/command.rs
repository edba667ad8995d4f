//! A borrowed, typed view of one command of a *validated* list.
//!
//! Validation has already proven the shape, but this view still reads every field defensively
//! (absent → empty) so that a caller who skips validation gets a poorer dataset, never a panic.

use serde_json::{Map, Value};

use crate::validation::commands::{parse_param_type, ParamType};

pub(crate) struct ParamView<'a> {
    pub name: &'a str,
    /// As the node wrote it (`str`, `array<date>`), shown to the model verbatim.
    pub type_text: &'a str,
    pub ty: Option<ParamType>,
    pub required: bool,
    pub description: Option<&'a str>,
    pub enum_values: &'a [Value],
}

pub(crate) struct ExampleView<'a> {
    pub voice_command: &'a str,
    pub expected: Option<&'a Map<String, Value>>,
    pub is_primary: bool,
}

pub(crate) struct AntipatternView<'a> {
    pub command_name: &'a str,
    pub description: &'a str,
}

pub(crate) struct CommandView<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub params: Vec<ParamView<'a>>,
    pub examples: Vec<ExampleView<'a>>,
    pub keywords: Vec<&'a str>,
    pub rules: Vec<&'a str>,
    pub critical_rules: Vec<&'a str>,
    pub antipatterns: Vec<AntipatternView<'a>>,
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn strings<'a>(v: &'a Value, field: &str) -> Vec<&'a str> {
    list(v, field).iter().filter_map(Value::as_str).collect()
}

impl<'a> CommandView<'a> {
    pub fn new(v: &'a Value) -> CommandView<'a> {
        CommandView {
            name: text(v, "command_name"),
            description: text(v, "description"),
            params: list(v, "parameters")
                .iter()
                .map(|p| ParamView {
                    name: text(p, "name"),
                    type_text: text(p, "type"),
                    ty: p.get("type").and_then(Value::as_str).and_then(parse_param_type),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    description: p.get("description").and_then(Value::as_str),
                    enum_values: list(p, "enum_values"),
                })
                .collect(),
            examples: list(v, "examples")
                .iter()
                .filter_map(|e| {
                    let voice_command = e.get("voice_command").and_then(Value::as_str)?;
                    Some(ExampleView {
                        voice_command,
                        expected: e.get("expected_parameters").and_then(Value::as_object),
                        is_primary: e.get("is_primary").and_then(Value::as_bool) == Some(true),
                    })
                })
                .collect(),
            keywords: strings(v, "keywords"),
            rules: strings(v, "rules"),
            critical_rules: strings(v, "critical_rules"),
            antipatterns: list(v, "antipatterns")
                .iter()
                .map(|a| AntipatternView { command_name: text(a, "command_name"), description: text(a, "description") })
                .collect(),
        }
    }

    pub fn param_type(&self, name: &str) -> Option<ParamType> {
        self.params.iter().find(|p| p.name == name).and_then(|p| p.ty)
    }

    /// The example the node marked primary, else its first one.
    pub fn primary_example(&self) -> Option<&ExampleView<'a>> {
        self.examples.iter().find(|e| e.is_primary).or_else(|| self.examples.first())
    }
}

/// The command array inside any envelope `validate_commands` accepts (a bare array, or an
/// object with `commands` / `command_schema`); empty when there is none.
pub(crate) fn command_list(input: &Value) -> &[Value] {
    let list = match input {
        Value::Object(map) => map.get("commands").or_else(|| map.get("command_schema")),
        other => Some(other),
    };
    list.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Views sorted by command name. Sorting makes the dataset (and its hash) independent of the
/// order a node happens to send its commands in; names are unique after validation, so the
/// order is total. A stable sort keeps unvalidated duplicates in document order.
pub(crate) fn sorted_views(input: &Value) -> Vec<CommandView<'_>> {
    let mut views: Vec<CommandView<'_>> = command_list(input).iter().map(CommandView::new).collect();
    views.sort_by(|a, b| a.name.cmp(b.name));
    views
}

/// Collapses every whitespace run (newlines included) to one space, so that text a node
/// wrote cannot break the line structure of the tool list in the system prompt.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
