//! `jitgen-train`: train a LoRA adapter from the command line, or make a tiny model.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jitgen_trainer::config::Arch;
use jitgen_trainer::model::{ATTENTION_MODULES, MLP_MODULES};
use jitgen_trainer::tiny::{make_tiny_model, TinySpec};
use jitgen_trainer::{load_jsonl, train, TrainConfig};

#[derive(Parser)]
#[command(name = "jitgen-train", about = "LoRA adapters for Llama and Qwen2 models, in PEFT format")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an adapter on pairs.jsonl (the format of jitgen's dataset export).
    Train {
        #[arg(long)]
        model_dir: PathBuf,
        #[arg(long)]
        dataset: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 16)]
        rank: i64,
        #[arg(long, default_value_t = 32.0)]
        alpha: f64,
        #[arg(long, default_value_t = 0.05)]
        dropout: f64,
        /// Comma-separated modules, or "all-linear".
        #[arg(long, default_value = "q_proj,k_proj,v_proj,o_proj")]
        targets: String,
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        #[arg(long, default_value_t = 2e-4)]
        lr: f64,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        #[arg(long, default_value_t = 4096)]
        max_seq_len: usize,
        #[arg(long)]
        max_steps: Option<usize>,
        #[arg(long, default_value_t = 42)]
        seed: i64,
        #[arg(long, default_value_t = 0.80)]
        gate_threshold: f64,
        #[arg(long)]
        threads: Option<i32>,
        /// Stay on the CPU even when CUDA is available.
        #[arg(long)]
        cpu: bool,
        /// Run every example's system prompt separately (the plain baseline; same loss).
        #[arg(long)]
        no_share_prefix: bool,
    },
    /// Write a tiny random model (config.json, model.safetensors, tokenizer.json) whose
    /// tokenizer is trained on the text of a dataset.
    MakeTiny {
        #[arg(long)]
        out: PathBuf,
        /// pairs.jsonl whose system prompts, utterances and targets train the tokenizer.
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long, default_value = "qwen2")]
        arch: String,
        #[arg(long, default_value_t = 128)]
        hidden: i64,
        #[arg(long, default_value_t = 2)]
        layers: i64,
        #[arg(long, default_value_t = 1024)]
        vocab: usize,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::MakeTiny { out, corpus, arch, hidden, layers, vocab } => {
            let arch = match arch.as_str() {
                "llama" => Arch::Llama,
                "qwen2" => Arch::Qwen2,
                other => return Err(format!("--arch must be llama or qwen2, got {other:?}").into()),
            };
            let examples = load_jsonl(&corpus)?;
            let mut text: Vec<String> = Vec::new();
            for e in &examples {
                text.extend([e.system.clone(), e.user.clone(), e.target.clone()]);
            }
            text.extend(["system\n", "user\n", "assistant\n"].map(String::from));
            let mut spec = TinySpec::new(arch);
            spec.hidden_size = hidden;
            spec.intermediate_size = hidden * 2;
            spec.layers = layers;
            spec.vocab_size = vocab;
            make_tiny_model(&out, &spec, &text)?;
            println!("tiny {} model written to {}", arch.as_str(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Train {
            model_dir, dataset, out, rank, alpha, dropout, targets, epochs, lr, batch_size, max_seq_len,
            max_steps, seed, gate_threshold, threads, cpu, no_share_prefix,
        } => {
            let examples = load_jsonl(&dataset)?;
            let target_modules: Vec<String> = if targets == "all-linear" {
                ATTENTION_MODULES.iter().chain(&MLP_MODULES).map(|m| m.to_string()).collect()
            } else {
                targets.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
            };
            let cfg = TrainConfig {
                r: rank, alpha, dropout, target_modules, epochs, lr, batch_size, max_seq_len, max_steps, seed,
                gate_threshold, threads, use_cuda: !cpu, share_prefix: !no_share_prefix, ..TrainConfig::default()
            };
            let cancel = Arc::new(AtomicBool::new(false));
            // Ctrl-C or SIGTERM stops between two steps and leaves no partial adapter.
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, cancel.clone())?;
            }
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>5} [{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
            );
            let outcome = train(&model_dir, &examples, &cfg, &out, &mut |p| {
                bar.set_prefix(p.phase);
                bar.set_length(p.total_steps as u64);
                bar.set_position(p.step as u64);
                if let Some(l) = p.loss {
                    bar.set_message(format!("loss {l:.4}  {:.0} tok/s", p.tokens_per_s));
                }
            }, &cancel)?;
            bar.finish_and_clear();
            let m = &outcome.report.metrics;
            println!(
                "holdout {}: tool-name {:.3}, required params {:.3}, JSON {:.3}, arguments {:.3}; {:.0} tokens/s",
                m.examples, m.tool_name_match, m.required_param_presence, m.json_parse_rate, m.argument_exact_match,
                outcome.report.timings.tokens_per_s
            );
            match outcome.adapter_dir {
                Some(dir) => {
                    println!("adapter written to {}", dir.display());
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("quality gate failed: {}; no adapter written", outcome.report.gate.reasons.join("; "));
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

