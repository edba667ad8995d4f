//! A seed-004 command list and a tiny random model that can train on it, for the tests that
//! run the real adapter.train pipeline.

use std::path::Path;

use jitgen_trainer::config::Arch;
use jitgen_trainer::tiny::{make_tiny_model, TinySpec};
use serde_json::{json, Value};
use tokio_postgres::Client;

pub fn commands() -> Value {
    let cmd = |name: &str, noun: &str| {
        json!({
            "command_name": name,
            "description": format!("Control the {noun}."),
            "parameters": [{"name": "room", "type": "str", "required": true}],
            "examples": (0..10).map(|i| {
                let room = ["kitchen", "hall", "office", "garage", "garden"][i % 5];
                json!({"voice_command": format!("{name} {noun} in the {room} number {i}"), "expected_parameters": {"room": room}})
            }).collect::<Vec<_>>(),
        })
    };
    json!([cmd("open_door", "door"), cmd("start_fan", "fan")])
}

/// A tiny random Qwen2 whose tokenizer knows the dataset's text (from the stored dataset).
pub async fn tiny_model(c: &Client, job_id: i64, dir: &Path) {
    let jsonl: String = c
        .query_one("SELECT jitgen.adapter_dataset_jsonl(dataset) FROM jitgen.adapter_jobs WHERE job_id = $1", &[&job_id])
        .await
        .unwrap()
        .get(0);
    let examples = jitgen_trainer::parse_jsonl(&jsonl).unwrap();
    let mut corpus: Vec<String> = examples.iter().flat_map(|e| [e.system.clone(), e.user.clone(), e.target.clone()]).collect();
    corpus.extend(["system\n", "user\n", "assistant\n"].map(String::from));
    let mut spec = TinySpec::new(Arch::Qwen2);
    spec.vocab_size = 600;
    make_tiny_model(dir, &spec, &corpus).unwrap();
}
