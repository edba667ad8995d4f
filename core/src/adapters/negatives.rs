//! Negative pairs (from antipatterns) and the similarity that selects confusion pairs.
//!
//! # Antipatterns
//!
//! An antipattern `{command_name, description}` declared on command C says: "an utterance like
//! `description` is not for C; it belongs to `command_name`". The description is used verbatim
//! (trimmed) as the user utterance, so nodes should write it as something a user would say.
//! The target output is:
//! - `{"name": command_name, "arguments": {}}` when `command_name` is *another* command of
//!   the payload (exact, case-sensitive match). Arguments stay empty because an antipattern
//!   carries none; an evaluator should score negatives on the tool name only;
//! - `{"name": null, "arguments": {}}` ("no tool") when it names no command of the payload,
//!   or names C itself (which can only mean "not C, and nothing else either").
//!
//! Per command, antipatterns are taken in the node's order, exact duplicates (same utterance,
//! same target) are dropped, and at most [`MAX_NEGATIVES_PER_COMMAND`] are kept (seed 004
//! suggests 2–5 per command), so one command cannot flood the dataset with negatives.
//!
//! # Confusion pairs
//!
//! Two commands are *similar* when they share a token or one names the other in an antipattern.
//! Tokens are the lower-cased alphanumeric words of the command name (split at `_`, `-`, spaces
//! and camelCase humps) and of its keywords, of at least 3 characters and not in
//! [`GENERIC_TOKENS`] (verbs like `get`/`set` that every other command shares).
//! Every command that is similar to at least one other command gets one extra pair: its primary
//! example (else its first), with the correct output, labelled `confusion`. Repeating the
//! example that best shows the command's own intent weights the boundary between look-alikes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;

use super::command::CommandView;
use super::pairs::ToolCall;

pub const MAX_NEGATIVES_PER_COMMAND: usize = 5;

/// Words too common in command names and keywords to signal that two commands are confusable.
pub const GENERIC_TOKENS: [&str; 22] = [
    "add", "and", "check", "cmd", "command", "create", "delete", "for", "get", "list", "make", "new", "open", "remove",
    "run", "set", "show", "start", "stop", "the", "update", "with",
];

/// A negative before the system prompt is attached: (utterance, output).
pub(crate) fn antipattern_negatives(command: &CommandView<'_>, names: &BTreeSet<&str>) -> Vec<(String, ToolCall)> {
    let mut seen: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let mut out = Vec::new();
    for ap in &command.antipatterns {
        if out.len() >= MAX_NEGATIVES_PER_COMMAND {
            break;
        }
        let user = ap.description.trim();
        if user.is_empty() {
            continue;
        }
        let target =
            (ap.command_name != command.name && names.contains(ap.command_name)).then(|| ap.command_name.to_string());
        if seen.insert((user.to_string(), target.clone())) {
            out.push((user.to_string(), ToolCall { name: target, arguments: Map::new() }));
        }
    }
    out
}

/// Lower-cased words of `s`, split at non-alphanumerics and at lower→upper case changes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_numeric();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn tokens(command: &CommandView<'_>) -> BTreeSet<String> {
    std::iter::once(command.name)
        .chain(command.keywords.iter().copied())
        .flat_map(words)
        .filter(|w| w.chars().count() >= 3 && !GENERIC_TOKENS.contains(&w.as_str()))
        .collect()
}

/// For each command (same order as `commands`), whether it is similar to another one.
/// Linear in the number of tokens: an inverted index instead of comparing every pair.
pub(crate) fn confusable(commands: &[CommandView<'_>]) -> Vec<bool> {
    let mut marked = vec![false; commands.len()];
    let mut by_token: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in commands.iter().enumerate() {
        for t in tokens(c) {
            by_token.entry(t).or_default().push(i);
        }
    }
    for holders in by_token.values() {
        if holders.len() > 1 {
            for &i in holders {
                marked[i] = true;
            }
        }
    }
    let index: BTreeMap<&str, usize> = commands.iter().enumerate().map(|(i, c)| (c.name, i)).collect();
    for (i, c) in commands.iter().enumerate() {
        for ap in &c.antipatterns {
            if let Some(&j) = index.get(ap.command_name) {
                if j != i {
                    marked[i] = true;
                    marked[j] = true;
                }
            }
        }
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_names_and_camel_case() {
        assert_eq!(words("set_timer"), vec!["set", "timer"]);
        assert_eq!(words("getWeatherForecast"), vec!["get", "weather", "forecast"]);
        assert_eq!(words("HTTPServer v2-beta"), vec!["httpserver", "v2", "beta"]);
    }
}
