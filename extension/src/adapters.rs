//! Adapter datasets in the database: the Rust half of `sql/adapters.sql`.
//!
//! `_assemble_adapter_dataset` is the only entry point; the scheduling, coalescing, rate limit
//! and row-level security live in SQL where an operator can read them.

use jitgen_core::adapters::{assemble, node_params, AssembleError, CivilDate, DatasetParams, DateContext, InstantStyle};
use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;
use serde_json::json;

use crate::error::{required, JitgenError};
use crate::jsonb::{JsonbArg, JsonbText};

/// Validates a node's command list and assembles its dataset. Returns
/// `{"dataset_hash", "counts", "dataset"}` where `dataset` is the stored form (system prompt
/// once, pairs split into train and holdout). Raises 22023 with the seed-004 error body as
/// DETAIL for invalid commands and 54000 with the pair count above the limit.
///
/// Immutable: `today` and `now_unix` (the context's instant, seconds; NULL for contexts stored
/// before it existed) are arguments, so the same inputs always give the same dataset.
#[pg_extern(immutable, parallel_safe)]
fn _assemble_adapter_dataset(
    node_id: Option<&str>,
    base_model_id: Option<&str>,
    commands: Option<JsonbArg>,
    params: Option<JsonbArg>,
    today: Option<&str>,
    timezone: Option<&str>,
    now_unix: default!(Option<i64>, "NULL"),
) -> JsonbText {
    const F: &str = "_assemble_adapter_dataset";
    let node_id = required(node_id, F, "node_id", "Pass the node's id.");
    let base_model_id = required(base_model_id, F, "base_model_id", "Pass the base model id.");
    let commands = required(commands, F, "commands", "Pass the node's command list as a jsonb array.");
    let commands = commands.to_value().unwrap_or_else(|e| e.raise(F));
    let (params, style) = match params {
        None => (DatasetParams::default(), InstantStyle::default()),
        Some(p) => {
            let value = p.to_value().unwrap_or_else(|e| e.raise(F));
            node_params(&value).unwrap_or_else(|e| JitgenError::Assemble(e).raise(F))
        }
    };
    let timezone = timezone.unwrap_or("UTC");
    let today = required(today, F, "today", "Pass the date context's day as 'YYYY-MM-DD'.");
    let Some(today) = CivilDate::parse(today) else {
        JitgenError::Assemble(AssembleError::InvalidArgument {
            field: "date_context.today".into(),
            message: format!("{today:?} is not a date in YYYY-MM-DD form"),
        })
        .raise(F)
    };
    let ctx = match now_unix {
        Some(now) => DateContext::at(now, timezone, style).unwrap_or_else(|e| unknown_zone(&e.0, F)),
        None => DateContext { date_style: style, ..DateContext::new(today, timezone) },
    };
    let dataset =
        assemble(node_id, base_model_id, &commands, &params, &ctx).unwrap_or_else(|e| JitgenError::Assemble(e).raise(F));
    let body = json!({
        "dataset_hash": dataset.dataset_hash,
        "counts": dataset.counts,
        "dataset": dataset,
    });
    JsonbText(body.to_string())
}

/// Checks a node's LoRA parameters (`jitgen.nodes.params`) the way dataset assembly reads
/// them; raises 22023 naming the field. Returns the normalized parameters with defaults.
#[pg_extern(immutable, parallel_safe, strict)]
fn _check_adapter_params(params: JsonbArg) -> JsonbText {
    const F: &str = "_check_adapter_params";
    let value = params.to_value().unwrap_or_else(|e| e.raise(F));
    let (params, _) = node_params(&value).unwrap_or_else(|e| JitgenError::Assemble(e).raise(F));
    JsonbText(serde_json::to_string(&params.normalized()).unwrap_or_else(|e| {
        JitgenError::Internal { context: "serialising adapter parameters", message: e.to_string() }.raise(F)
    }))
}

fn unknown_zone(zone: &str, function: &'static str) -> ! {
    crate::error::raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("unknown time zone \"{zone}\""),
        Some("Relative dates in the node's examples (\"tomorrow at 9am\") become instants in its time zone, from the IANA tz database jitgen bundles.".into()),
        Some("Use an IANA name such as 'Europe/Paris' or 'America/New_York'.".into()),
        function,
    )
}

/// True when the IANA tz database jitgen renders with knows `name` (the rule of
/// `register_node`).
#[pg_extern(immutable, parallel_safe, strict)]
fn _known_timezone(name: &str) -> bool {
    jitgen_core::adapters::known_zone(name)
}

/// A node's date context at `unix_seconds`: `{"today", "timezone", "now"}`, today being that
/// instant's date in the zone. 22023 for a zone the tz database does not know.
#[pg_extern(immutable, parallel_safe, strict)]
fn _date_context(timezone: &str, unix_seconds: i64) -> JsonbText {
    const F: &str = "_date_context";
    let ctx = DateContext::at(unix_seconds, timezone, InstantStyle::Utc).unwrap_or_else(|e| unknown_zone(&e.0, F));
    JsonbText(serde_json::to_string(&ctx).unwrap_or_else(|e| {
        JitgenError::Internal { context: "serialising a date context", message: e.to_string() }.raise(F)
    }))
}

/// A stored dataset (`jitgen.adapter_jobs.dataset`) as the trainer's `pairs.jsonl`: one line
/// per pair, training pairs then held-out ones, for `jitgen-train train --dataset` or any
/// offline trainer. `\copy (SELECT jitgen.adapter_dataset_jsonl(dataset) FROM jitgen.adapter_jobs
/// WHERE job_id = 7) TO 'pairs.jsonl'` writes the file.
#[pg_extern(immutable, parallel_safe, strict)]
fn adapter_dataset_jsonl(dataset: JsonbArg) -> String {
    const F: &str = "adapter_dataset_jsonl";
    let value = dataset.to_value().unwrap_or_else(|e| e.raise(F));
    let dataset: jitgen_core::adapters::Dataset = serde_json::from_value(value).unwrap_or_else(|e| {
        JitgenError::Assemble(AssembleError::InvalidArgument {
            field: "dataset".into(),
            message: format!("not a stored adapter dataset: {e}"),
        })
        .raise(F)
    });
    dataset.to_jsonl()
}

/// The node id rule of `jitgen.nodes` (its CHECK constraint and `register_node`): the same
/// function the sidecar applies to storage keys and topics.
#[pg_extern(immutable, parallel_safe, strict)]
fn _valid_node_id(node_id: &str) -> bool {
    jitgen_core::adapters::valid_node_id(node_id)
}
