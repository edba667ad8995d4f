//! Shared by the trainer's tests: the Python venv with transformers/peft, tiny models, a
//! synthetic tool-calling dataset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use jitgen_trainer::Example;
use serde_json::json;

/// The venv that scripts/lib.sh `ensure_torch_venv` creates.
pub fn python() -> PathBuf {
    let venv = std::env::var("JITGEN_TORCH_VENV").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/jitgen/torch-2.13.0")
    });
    let py = venv.join("bin/python");
    assert!(py.exists(), "{} is missing: run scripts/setup.sh (ensure_torch_venv) or set JITGEN_TORCH_VENV", py.display());
    py
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py").join(name)
}

/// Our logits `[len, vocab]` for `ids`, one full pass without a cache.
pub fn ours(model: &jitgen_trainer::model::Model, ids: &[i64]) -> tch::Tensor {
    let _g = tch::no_grad_guard();
    let t = tch::Tensor::from_slice(ids).view([1, ids.len() as i64]);
    model.logits(&model.hidden(&t, None, false)).squeeze_dim(0)
}

pub fn max_diff(a: &tch::Tensor, b: &tch::Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

/// Runs hf_check.py and returns its logits `[len, vocab]`.
pub fn hf_logits(model: &Path, adapter: Option<&Path>, ids: &[i64], out: &Path) -> tch::Tensor {
    let ids_arg = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let mut cmd = Command::new(python());
    cmd.arg(script("hf_check.py")).arg("--model").arg(model).arg("--ids").arg(ids_arg).arg("--out").arg(out);
    if let Some(a) = adapter {
        cmd.arg("--adapter").arg(a);
    }
    let o = cmd.output().expect("run python");
    assert!(o.status.success(), "hf_check.py failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let t = tch::Tensor::read_safetensors(out).expect("read logits");
    t.into_iter().find(|(k, _)| k == "logits").expect("logits key").1
}

const VERBS: [&str; 8] = ["set", "get", "play", "turn", "open", "close", "call", "send"];
const NOUNS: [&str; 12] = ["timer", "weather", "music", "light", "door", "window", "mom", "message", "alarm", "radio", "fan", "heater"];
const ROOMS: [&str; 6] = ["kitchen", "bedroom", "office", "hall", "garage", "garden"];

/// A synthetic tool-calling set: `commands` tools × `per` examples, one system prompt listing
/// every tool, about 10% held out (every tenth example of each tool).
pub fn synthetic(commands: usize, per: usize) -> Vec<Example> {
    synthetic_with(commands, per, false)
}

/// With `long_system`, the system prompt lists every tool, as seed-004 prompts do.
pub fn synthetic_with(commands: usize, per: usize, long_system: bool) -> Vec<Example> {
    let names: Vec<String> = (0..commands).map(|c| format!("{}_{}", VERBS[c % VERBS.len()], NOUNS[c % NOUNS.len()])).collect();
    // Short on purpose: a random base attends almost uniformly, and a long prompt would bury
    // the few words that decide the tool. Benchmarks use the long, seed-like prompt.
    let system = if long_system {
        let mut s = String::from("You route voice commands to tools. Answer with one JSON tool call.\nTools:\n");
        for n in &names {
            s.push_str(&format!("- {n}: room (str, required)\n"));
        }
        s
    } else {
        String::from("You route voice commands to tools. Answer with one JSON tool call.")
    };
    let mut out = Vec::new();
    for (c, name) in names.iter().enumerate() {
        for e in 0..per {
            let room = ROOMS[(c + e) % ROOMS.len()];
            let words: Vec<&str> = name.split('_').collect();
            let user = match e % 3 {
                0 => format!("please {} the {} in the {room}", words[0], words[1]),
                1 => format!("{} {} {room}", words[0], words[1]),
                _ => format!("could you {} my {} for the {room}", words[0], words[1]),
            };
            let args = json!({"room": room});
            out.push(Example {
                split: if e % 10 == 9 { "holdout".into() } else { "train".into() },
                system: system.clone(),
                user,
                target: format!("{{\"name\":\"{name}\",\"arguments\":{}}}", args),
                tool: Some(name.clone()),
                arguments: args.as_object().cloned().unwrap_or_default(),
                required: vec!["room".into()],
                kind: "positive".into(),
                command: name.clone(),
            });
        }
    }
    out
}

/// The corpus a tiny model's tokenizer is trained on.
pub fn corpus(examples: &[Example]) -> Vec<String> {
    let mut v: Vec<String> = examples.iter().flat_map(|e| [e.system.clone(), e.user.clone(), e.target.clone()]).collect();
    v.extend(["system\n", "user\n", "assistant\n"].map(String::from));
    v
}
