//! From a node's command list to a hashed, split dataset.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::{canonical_json, to_hex, write_canonical, write_string, Sink};
use super::command::{sorted_views, CommandView};
use super::dates::{render_param_value, DateContext};
use super::error::AssembleError;
use super::negatives::{antipattern_negatives, confusable};
use super::pairs::{Pair, PairKind, ToolCall};
use super::params::DatasetParams;
use super::prompt;
use super::split::{assign, Split};
use crate::validation::commands::validate_commands;
use crate::validation::DEFAULT_MAX_DETAILS;

/// Seed 004: at most 2000 pairs per job; more is refused, never truncated, because silently
/// dropping a command's examples would train an adapter that cannot route it.
pub const MAX_PAIRS: usize = 2000;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub positives: usize,
    pub negatives: usize,
    pub confusion: usize,
    pub train: usize,
    pub holdout: usize,
}

/// An assembled dataset, as stored (jsonb) and handed to the trainer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Dataset {
    pub node_id: String,
    pub base_model_id: String,
    /// Normalized ([`DatasetParams::normalized`]).
    pub params: DatasetParams,
    pub date_context: DateContext,
    /// The system prompt every pair shares: instructions, the date context and the tool list.
    pub system: String,
    pub train: Vec<Pair>,
    /// Never trained on; for the quality gate.
    pub holdout: Vec<Pair>,
    /// See [`dataset_hash`].
    pub dataset_hash: String,
    pub counts: Counts,
}

/// A pair before the shared system prompt is attached.
struct Planned {
    user: String,
    output: ToolCall,
    command: String,
    kind: PairKind,
    required: Vec<String>,
}

/// Assembles the dataset of one node.
///
/// Steps: validate `commands` with [`validate_commands`] (any problem → [`AssembleError::Invalid`]
/// with the seed-004 report); sort commands by name; per command, in this order: one
/// `positive` pair per example (examples in the node's order), its `negative` pairs (see
/// [`super::negatives`]), and its `confusion` pair when it has one; refuse more than
/// [`MAX_PAIRS`] pairs; split train/holdout (see [`super::split`]); hash.
///
/// Positive arguments are the example's `expected_parameters` with `null` values left out
/// (the SDK uses null for "not given", and one spelling of "absent" teaches the model one
/// behaviour) and relative dates of `date`/`datetime` parameters rendered against `ctx`
/// (see [`super::dates`]). Utterances are never rewritten.
///
/// Deterministic: the same arguments give a byte-identical dataset. The command order of the
/// payload does not matter (commands are sorted by name first), so a node re-sending the same
/// commands in another order reuses its last adapter. `node_id` is stored but not hashed.
pub fn assemble(
    node_id: &str,
    base_model_id: &str,
    commands: &Value,
    params: &DatasetParams,
    ctx: &DateContext,
) -> Result<Dataset, AssembleError> {
    for (field, value) in [("node_id", node_id), ("base_model_id", base_model_id)] {
        if value.trim().is_empty() {
            return Err(AssembleError::InvalidArgument {
                field: field.into(),
                message: format!("{field} must not be empty"),
            });
        }
    }
    params.check()?;
    let params = params.normalized();
    let report = validate_commands(commands, DEFAULT_MAX_DETAILS);
    if !report.is_valid() {
        return Err(AssembleError::Invalid(report));
    }
    let views = sorted_views(commands);

    // Everything is counted before any system prompt is copied, so an oversized payload is
    // refused without first building thousands of copies of a large prompt.
    let planned = plan(&views, ctx);
    if planned.len() > MAX_PAIRS {
        return Err(AssembleError::TooManyPairs { count: planned.len(), limit: MAX_PAIRS });
    }

    let system = prompt::render(&views, ctx);
    let users: Vec<&str> = planned.iter().map(|p| p.user.as_str()).collect();
    let sides = assign(&users);
    let mut counts = Counts::default();
    let (mut train, mut holdout) = (Vec::new(), Vec::new());
    for (p, side) in planned.into_iter().zip(sides) {
        match p.kind {
            PairKind::Positive => counts.positives += 1,
            PairKind::Negative => counts.negatives += 1,
            PairKind::Confusion => counts.confusion += 1,
        }
        let pair = Pair { user: p.user, output: p.output, command: p.command, kind: p.kind, required: p.required };
        match side {
            Split::Train => train.push(pair),
            Split::Holdout => holdout.push(pair),
        }
    }
    counts.train = train.len();
    counts.holdout = holdout.len();
    let dataset_hash = dataset_hash(base_model_id, &system, train.iter().chain(&holdout), &params, ctx);
    Ok(Dataset {
        node_id: node_id.to_string(),
        base_model_id: base_model_id.to_string(),
        params,
        date_context: ctx.clone(),
        system,
        train,
        holdout,
        dataset_hash,
        counts,
    })
}

fn plan(views: &[CommandView<'_>], ctx: &DateContext) -> Vec<Planned> {
    let names: BTreeSet<&str> = views.iter().map(|c| c.name).collect();
    let similar = confusable(views);
    let mut planned = Vec::new();
    for (c, similar) in views.iter().zip(similar) {
        let required: Vec<String> = c.params.iter().filter(|p| p.required).map(|p| p.name.to_string()).collect();
        let call = |expected: Option<&Map<String, Value>>| ToolCall {
            name: Some(c.name.to_string()),
            arguments: arguments(c, expected, ctx),
        };
        for e in &c.examples {
            planned.push(Planned {
                user: e.voice_command.to_string(),
                output: call(e.expected),
                command: c.name.to_string(),
                kind: PairKind::Positive,
                required: required.clone(),
            });
        }
        for (user, output) in antipattern_negatives(c, &names) {
            planned.push(Planned {
                user,
                output,
                command: c.name.to_string(),
                kind: PairKind::Negative,
                required: Vec::new(),
            });
        }
        if similar {
            if let Some(e) = c.primary_example() {
                planned.push(Planned {
                    user: e.voice_command.to_string(),
                    output: call(e.expected),
                    command: c.name.to_string(),
                    kind: PairKind::Confusion,
                    required: required.clone(),
                });
            }
        }
    }
    planned
}

fn arguments(c: &CommandView<'_>, expected: Option<&Map<String, Value>>, ctx: &DateContext) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in expected.into_iter().flatten() {
        if value.is_null() {
            continue;
        }
        out.insert(key.clone(), render_param_value(value, c.param_type(key), ctx));
    }
    out
}

/// `dataset_hash`: lower-case hex sha256 of the canonical JSON ([`super::canonical`]) of
/// `{"base_model_id", "dataset": {"pairs": [train pairs…, holdout pairs…], "system"},
/// "date_context", "params"}`.
///
/// `params` are hashed as given: pass the normalized form ([`DatasetParams::normalized`]), as
/// [`assemble`] stores it, to reproduce a stored hash.
///
/// Streamed into the hasher instead of building the document; a test checks it equals
/// hashing the built document.
pub fn dataset_hash<'a>(
    base_model_id: &str,
    system: &str,
    pairs: impl IntoIterator<Item = &'a Pair>,
    params: &DatasetParams,
    ctx: &DateContext,
) -> String {
    let mut h = Sha256::new();
    // Keys in canonical (sorted) order.
    h.put("{\"base_model_id\":");
    write_string(base_model_id, &mut h);
    h.put(",\"dataset\":{\"pairs\":[");
    for (i, pair) in pairs.into_iter().enumerate() {
        if i > 0 {
            h.put(",");
        }
        write_canonical(&pair.to_json(), &mut h);
    }
    h.put("],\"system\":");
    write_string(system, &mut h);
    h.put("},\"date_context\":");
    write_canonical(&ctx.to_json(), &mut h);
    h.put(",\"params\":");
    write_canonical(&params.to_json(), &mut h);
    h.put("}");
    to_hex(&h.finalize())
}

impl Dataset {
    /// Every pair with its side: training pairs first, then held-out ones (the hashed order).
    pub fn pairs(&self) -> impl Iterator<Item = (Split, &Pair)> {
        self.train.iter().map(|p| (Split::Train, p)).chain(self.holdout.iter().map(|p| (Split::Holdout, p)))
    }

    /// `pairs.jsonl` for the trainer (`jitgen-trainer`'s `Example`): one canonical JSON object
    /// per line, training pairs then held-out ones, each line ending in `\n`:
    /// `{"arguments","command","kind","required","split","system","target","tool","user"}`,
    /// where `target` is [`ToolCall::to_target_text`] (the exact text to learn) and
    /// `tool`/`arguments` the call it encodes. Canonical text makes the file byte-identical for
    /// the same dataset.
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        for (side, pair) in self.pairs() {
            s.push_str(&canonical_json(&self.example_json(side, pair)));
            s.push('\n');
        }
        s
    }

    /// One side only, in the same line format.
    pub fn split_jsonl(&self, side: Split) -> String {
        let pairs = match side {
            Split::Train => &self.train,
            Split::Holdout => &self.holdout,
        };
        let mut s = String::new();
        for pair in pairs {
            s.push_str(&canonical_json(&self.example_json(side, pair)));
            s.push('\n');
        }
        s
    }

    /// One line of [`Dataset::to_jsonl`] as a JSON value: the trainer's example format.
    pub fn example_json(&self, side: Split, pair: &Pair) -> Value {
        serde_json::json!({
            "split": side.as_str(),
            "system": self.system,
            "user": pair.user,
            "target": pair.output.to_target_text(),
            "tool": pair.output.name,
            "arguments": pair.output.arguments,
            "required": pair.required,
            "kind": pair.kind.as_str(),
            "command": pair.command,
        })
    }

    /// Recomputes the hash from the stored fields (for a trainer or an audit to verify a
    /// dataset read back from storage).
    pub fn recompute_hash(&self) -> String {
        dataset_hash(
            &self.base_model_id,
            &self.system,
            self.train.iter().chain(&self.holdout),
            &self.params,
            &self.date_context,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::canonical::canonical_sha256;
    use crate::adapters::dates::CivilDate;
    use serde_json::json;

    fn ctx() -> DateContext {
        DateContext::new(CivilDate::new(2026, 1, 18).unwrap(), "Europe/Paris")
    }

    fn commands() -> Value {
        json!([{
            "command_name": "set_timer",
            "description": "Start a timer",
            "parameters": [{"name": "when", "type": "datetime", "required": true}],
            "examples": [
                {"voice_command": "timer tomorrow at 9am", "expected_parameters": {"when": "tomorrow at 9am"}, "is_primary": true},
                {"voice_command": "timer \"quoted\"\nline", "expected_parameters": {"when": null}}
            ],
            "antipatterns": [{"command_name": "weather", "description": "is it sunny"}]
        }])
    }

    #[test]
    fn streamed_hash_equals_hash_of_built_document() {
        let d = assemble("n1", "m1", &commands(), &DatasetParams::default(), &ctx()).unwrap();
        let pairs: Vec<Value> = d.pairs().map(|(_, p)| p.to_json()).collect();
        let doc = json!({
            "base_model_id": "m1",
            "dataset": {"pairs": pairs, "system": d.system},
            "params": d.params.to_json(),
            "date_context": d.date_context.to_json(),
        });
        assert_eq!(d.dataset_hash, canonical_sha256(&doc));
        assert_eq!(d.dataset_hash, d.recompute_hash());
    }

    #[test]
    fn hand_built_json_equals_serde() {
        let d = assemble("n1", "m1", &commands(), &DatasetParams::default(), &ctx()).unwrap();
        for (_, p) in d.pairs() {
            assert_eq!(p.to_json(), serde_json::to_value(p).unwrap());
        }
        assert_eq!(d.params.to_json(), serde_json::to_value(&d.params).unwrap());
        assert_eq!(d.date_context.to_json(), serde_json::to_value(&d.date_context).unwrap());
    }
}
