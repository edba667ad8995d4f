//! One supervised pair and its JSON forms.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::canonical::{write_canonical, write_string, Sink};

/// Where a pair came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// A node example: utterance → its own command with the expected arguments.
    Positive,
    /// An antipattern: utterance → the command it belongs to instead, or to no tool.
    Negative,
    /// A command's primary example repeated because another command looks like it.
    Confusion,
}

impl PairKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PairKind::Positive => "positive",
            PairKind::Negative => "negative",
            PairKind::Confusion => "confusion",
        }
    }
}

/// The tool call the model must produce; `name: null` means "no tool".
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub name: Option<String>,
    pub arguments: Map<String, Value>,
}

impl ToolCall {
    /// The exact training target text: `{"name":…,"arguments":{…}}` with `name` first (the
    /// order the system prompt shows) and arguments in canonical form. Trainer and evaluator
    /// should both use this so that "exact match" means byte equality.
    pub fn to_target_text(&self) -> String {
        let mut s = String::from("{\"name\":");
        match &self.name {
            Some(n) => write_string(n, &mut s),
            None => s.put("null"),
        }
        s.push_str(",\"arguments\":");
        write_canonical(&Value::Object(self.arguments.clone()), &mut s);
        s.push('}');
        s
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({"name": self.name, "arguments": self.arguments})
    }
}

/// One supervised pair. The system prompt is shared by every pair of a dataset and lives once
/// in [`super::Dataset::system`]: a 200-command node has a prompt of tens of kilobytes, and
/// 2000 copies of it would dominate both the stored jsonb and the hashing time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The user utterance.
    pub user: String,
    pub output: ToolCall,
    /// The command whose example or antipattern produced the pair (for a negative, the
    /// command that *declared* the antipattern, not the one it routes to).
    pub command: String,
    pub kind: PairKind,
    /// The required parameters of the called command, for the quality gate's
    /// required-parameter presence rate. Empty for negatives: they teach routing, and their
    /// arguments are not the node's examples.
    pub required: Vec<String>,
}

impl Pair {
    /// Built by hand rather than through serde so that hashing has no failure path; a test
    /// checks it equals the serde form.
    pub fn to_json(&self) -> Value {
        json!({
            "user": self.user,
            "output": self.output.to_json(),
            "command": self.command,
            "kind": self.kind.as_str(),
            "required": self.required,
        })
    }
}
