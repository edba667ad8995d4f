//! The system prompt of every pair: instructions, the date context and the node's tool list.
//!
//! Serving must send the same text the adapter was trained on, so the prompt is a pure function
//! of the (sorted) commands and the date context, and [`system_prompt`] is public for the
//! serving side. Node-written text is collapsed to one line per item so that a description
//! cannot forge extra tools or rules.

use std::fmt::Write;

use serde_json::Value;

use super::canonical::canonical_json;
use super::command::{one_line, sorted_views, CommandView};
use super::dates::{weekday_name, DateContext, InstantStyle};
use super::error::AssembleError;
use crate::validation::commands::validate_commands;
use crate::validation::DEFAULT_MAX_DETAILS;

const INSTRUCTIONS: &str = "You route a user's spoken request to one of the tools below and extract its arguments.\n\
Reply with a single JSON object and nothing else: {\"name\":\"<tool name>\",\"arguments\":{...}}.\n\
Include only the arguments the user gave. If no tool fits the request, reply {\"name\":null,\"arguments\":{}}.\n";

/// The system prompt for a command list (validated first, sorted by name like the dataset).
pub fn system_prompt(commands: &Value, ctx: &DateContext) -> Result<String, AssembleError> {
    let report = validate_commands(commands, DEFAULT_MAX_DETAILS);
    if !report.is_valid() {
        return Err(AssembleError::Invalid(report));
    }
    Ok(render(&sorted_views(commands), ctx))
}

pub(crate) fn render(commands: &[CommandView<'_>], ctx: &DateContext) -> String {
    let mut s = String::from(INSTRUCTIONS);
    let today = ctx.today;
    let _ = write!(s, "Today is {today} ({})", weekday_name(today.weekday()));
    let tz = one_line(&ctx.timezone);
    if !tz.is_empty() {
        let _ = write!(s, ", timezone {tz}");
        if let Some(offset) = ctx.offset_today() {
            let _ = write!(s, " (UTC{offset})");
        }
    }
    if let Some(now) = &ctx.now {
        let _ = write!(s, "; the current time is {}", one_line(now));
    }
    let instants = match ctx.date_style {
        InstantStyle::Utc => "RFC 3339 instants in UTC (YYYY-MM-DDTHH:MM:SSZ)",
        InstantStyle::Offset => "RFC 3339 instants with the timezone's offset (YYYY-MM-DDTHH:MM:SS+HH:MM)",
    };
    let _ = write!(
        s,
        ". Write dates as YYYY-MM-DD and date-times as {instants}, resolving relative dates and \
         times such as \"tomorrow at 9am\" or \"next Friday\" in that timezone.\n\nTools:"
    );
    if commands.is_empty() {
        s.push_str(" none\n");
        return s;
    }
    s.push('\n');
    for c in commands {
        tool(&mut s, c);
    }
    s
}

fn tool(s: &mut String, c: &CommandView<'_>) {
    let _ = write!(s, "- {}", identifier(c.name));
    let description = one_line(c.description);
    if !description.is_empty() {
        let _ = write!(s, ": {description}");
    }
    s.push('\n');
    if !c.params.is_empty() {
        s.push_str("  Parameters:\n");
        for p in &c.params {
            let need = if p.required { "required" } else { "optional" };
            let _ = write!(s, "  - {} ({}, {need})", identifier(p.name), one_line(p.type_text));
            let d = p.description.map(one_line).unwrap_or_default();
            if !d.is_empty() {
                let _ = write!(s, ": {d}");
            }
            if !p.enum_values.is_empty() {
                let _ = write!(s, " One of: {}", canonical_json(&Value::Array(p.enum_values.to_vec())));
            }
            s.push('\n');
        }
    }
    bullets(s, "Rules", &c.rules);
    bullets(s, "Critical rules", &c.critical_rules);
}

/// A command or parameter name exactly as the model must write it back: verbatim when that
/// is safe on one line, else as a JSON string (collapsing whitespace would teach a name that
/// differs from the one in the training targets).
fn identifier(name: &str) -> String {
    if !name.is_empty() && one_line(name) == name && !name.chars().any(char::is_control) {
        name.to_string()
    } else {
        canonical_json(&Value::String(name.to_string()))
    }
}

fn bullets(s: &mut String, title: &str, items: &[&str]) {
    let lines: Vec<String> = items.iter().map(|r| one_line(r)).filter(|r| !r.is_empty()).collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "  {title}:");
    for line in lines {
        let _ = writeln!(s, "  - {line}");
    }
}
