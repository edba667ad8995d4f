//! jitgen-trainer: LoRA fine-tuning of Llama and Qwen2 models with libtorch (`tch`).
//!
//! [`train`] loads a Hugging Face model directory (`config.json`, `*.safetensors`,
//! `tokenizer.json`), adds LoRA matrices to the target linear layers, trains them on chat
//! pairs (system + tools + utterance → tool-call JSON, loss on the answer only), evaluates the
//! holdout by greedy decoding, applies the quality gate and writes a PEFT adapter
//! (`adapter_config.json`, `adapter_model.safetensors`) with `training_report.json` and
//! `loss_curve.svg`.
//!
//! Speed comes from three choices, each exact (the loss equals plain full-sequence training):
//! - batches are grouped by system prompt and sorted by length (little padding, no packing);
//! - the shared system prompt runs once per batch and its keys/values are broadcast to every
//!   example (a seed-004 prompt lists every tool and dominates the sequence);
//! - vocabulary logits are computed only at positions whose next token is a target token.
//!   Dropout on the shared prefix is drawn once per batch rather than per example.
//!
//! Cancellation: a flag checked between optimizer steps and between generated tokens; a
//! canceled or failed run leaves nothing at the output path (files are written to a staging
//! directory renamed into place at the end).

pub mod adapter;
pub mod config;
pub mod data;
pub mod eval;
pub mod model;
pub mod output;
pub mod serve;
pub mod tiny;
pub mod train;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;
use tch::Device;

pub use data::{load_jsonl, parse_jsonl, Example};
pub use eval::{Gate, Metrics};
pub use model::{LoraSpec, Model};
pub use train::{Progress, TrainConfig};
/// The libtorch binding this crate is built on, for callers that pick devices and threads.
pub use tch;

#[derive(Debug)]
pub enum TrainError {
    Canceled,
    InvalidModel(String),
    InvalidData(String),
    InvalidConfig(String),
    Torch(String),
    Io(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Canceled => write!(f, "training was canceled"),
            TrainError::InvalidModel(m) => write!(f, "invalid model: {m}"),
            TrainError::InvalidData(m) => write!(f, "invalid dataset: {m}"),
            TrainError::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            TrainError::Torch(m) => write!(f, "libtorch: {m}"),
            TrainError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl TrainError {
    /// Whether running the same job again could succeed (libtorch or disk trouble), as opposed
    /// to bad input that fails the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(self, TrainError::Torch(_) | TrainError::Io(_))
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Timings {
    pub load_s: f64,
    pub train_s: f64,
    pub eval_s: f64,
    pub total_s: f64,
    pub tokens_per_s: f64,
    pub peak_rss_mb: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct TrainingReport {
    pub config: TrainConfig,
    pub model: serde_json::Value,
    pub data: serde_json::Value,
    pub loss_curve: Vec<(usize, f64)>,
    pub metrics: Metrics,
    pub gate: Gate,
    pub samples: Vec<eval::Sample>,
    pub timings: Timings,
}

pub struct TrainOutcome {
    pub report: TrainingReport,
    pub gate_passed: bool,
    /// The adapter directory; `None` when the gate failed (nothing is published then).
    pub adapter_dir: Option<PathBuf>,
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn device(cfg: &TrainConfig) -> Device {
    if cfg.use_cuda && tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    }
}

/// Trains an adapter and writes it to `out_dir` (which must not exist) when the gate passes.
pub fn train(
    model_dir: &Path,
    examples: &[Example],
    cfg: &TrainConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<TrainOutcome, TrainError> {
    let t0 = Instant::now();
    if let Some(n) = cfg.threads {
        tch::set_num_threads(n);
    }
    tch::manual_seed(cfg.seed);
    let staging = output::Staging::new(out_dir)?;
    let spec = LoraSpec { r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout, targets: cfg.target_modules.clone() };
    let model = Model::load(model_dir, device(cfg), Some(spec))?;
    let encoder = data::Encoder::load(model_dir, &model.config.eos_token_ids)?;
    let mut train_set = Vec::new();
    let mut holdout = Vec::new();
    for e in examples {
        let enc = encoder.encode(e)?;
        if enc.len() > cfg.max_seq_len {
            return Err(TrainError::InvalidData(format!(
                "an example is {} tokens, more than max_seq_len {} (utterance {:?})",
                enc.len(),
                cfg.max_seq_len,
                e.user
            )));
        }
        if e.is_holdout() {
            holdout.push((e, enc));
        } else {
            train_set.push(enc);
        }
    }
    if train_set.is_empty() && cfg.max_steps != Some(0) {
        return Err(TrainError::InvalidData("no training examples".into()));
    }
    let load_s = t0.elapsed().as_secs_f64();
    let pad = encoder.end_token();
    let stats = if train_set.is_empty() {
        train::TrainStats { loss_curve: vec![], steps: 0, tokens_per_s: 0.0, tokens: 0, seconds: 0.0 }
    } else {
        train::run(&model, &train_set, cfg, pad, progress, cancel)?
    };
    let t_eval = Instant::now();
    let (metrics, samples) = eval::evaluate(&model, &encoder, &holdout, cfg.max_new_tokens, cancel, &mut |done, of| {
        progress(&Progress { phase: "eval", step: done, total_steps: of, loss: None, tokens_per_s: 0.0 })
    })?;
    let gate = eval::gate(&metrics, cfg.gate_threshold);
    let (base_params, trainable) = model.parameter_counts();
    let report = TrainingReport {
        config: cfg.clone(),
        model: serde_json::json!({
            "dir": model_dir.display().to_string(),
            "arch": model.config.arch.as_str(),
            "layers": model.config.num_layers,
            "hidden_size": model.config.hidden_size,
            "parameters": base_params,
            "trainable_parameters": trainable,
            "device": format!("{:?}", model.device),
            "dtype": format!("{:?}", model.kind),
        }),
        data: serde_json::json!({
            "train_examples": train_set.len(),
            "holdout_examples": holdout.len(),
            "steps": stats.steps,
            "tokens_trained": stats.tokens,
        }),
        loss_curve: stats.loss_curve.clone(),
        metrics,
        gate: gate.clone(),
        samples,
        timings: Timings {
            load_s,
            train_s: stats.seconds,
            eval_s: t_eval.elapsed().as_secs_f64(),
            total_s: t0.elapsed().as_secs_f64(),
            tokens_per_s: stats.tokens_per_s,
            peak_rss_mb: peak_rss_mb(),
        },
    };
    if !gate.passed {
        return Ok(TrainOutcome { report, gate_passed: false, adapter_dir: None });
    }
    output::write_adapter(&model, &model_dir.display().to_string(), &staging.dir)?;
    let report_path = staging.dir.join(output::REPORT);
    std::fs::write(&report_path, serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|e| TrainError::Io(format!("writing {}: {e}", report_path.display())))?;
    let svg_path = staging.dir.join(output::LOSS_CURVE);
    std::fs::write(&svg_path, output::loss_svg(&report.loss_curve))
        .map_err(|e| TrainError::Io(format!("writing {}: {e}", svg_path.display())))?;
    let dir = staging.commit()?;
    Ok(TrainOutcome { report, gate_passed: true, adapter_dir: Some(dir) })
}
