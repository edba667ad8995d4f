//! Schema validation of LLM output and ingest payloads.
//!
//! Every validator reports *all* problems (up to a cap) as [`Detail`]s with a dotted path,
//! a stable snake_case [`Code`] and a human message, so an app can show them and an LLM
//! re-ask can quote them.

pub mod builtin;
pub mod commands;
pub mod jsonb_depth;
pub mod path;
pub mod program;
pub mod report;
pub mod schema;

pub use report::{Code, Detail, Report, DEFAULT_MAX_DETAILS};
pub use schema::{CompileError, CompiledSchema};

/// Documents nested deeper than this are refused before validation; it keeps recursive
/// walks (ours and the JSON Schema engine's) far from the stack limit of a Postgres backend.
pub const MAX_DEPTH: usize = 128;

/// Nesting depth of a JSON value (a scalar is depth 0, `[]` and `{}` are depth 1).
/// Iterative so that hostile depth cannot overflow the stack while being measured.
pub fn depth(value: &serde_json::Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            serde_json::Value::Array(items) => {
                max = max.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            serde_json::Value::Object(map) => {
                max = max.max(d + 1);
                stack.extend(map.values().map(|i| (i, d + 1)));
            }
            _ => {}
        }
    }
    max
}
