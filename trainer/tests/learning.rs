//! Training works: a tiny model learns a 20-command tool-calling set, the gate fails an
//! untrained run, cancellation stops quickly and leaves no adapter.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgen_trainer::config::Arch;
use jitgen_trainer::tiny::{make_tiny_model, TinySpec};
use jitgen_trainer::{train, TrainConfig, TrainError};

fn setup(dir: &std::path::Path, arch: Arch) -> Vec<jitgen_trainer::Example> {
    let examples = common::synthetic(20, 10);
    let mut spec = TinySpec::new(arch);
    spec.hidden_size = 128;
    spec.intermediate_size = 256;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.vocab_size = 400;
    make_tiny_model(dir, &spec, &common::corpus(&examples)).unwrap();
    examples
}

fn config() -> TrainConfig {
    TrainConfig {
        r: 16,
        alpha: 32.0,
        dropout: 0.0,
        // A random base knows nothing: all linear layers and a high rate let a tiny model learn
        // the routing in a few epochs.
        target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].map(String::from).to_vec(),
        epochs: 30,
        lr: 3e-3,
        batch_size: 8,
        warmup_ratio: 0.05,
        seed: 7,
        threads: Some(2),
        ..TrainConfig::default()
    }
}

#[test]
fn a_tiny_model_learns_the_tool_set_and_the_gate_judges_it() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    let examples = setup(&model, Arch::Qwen2);
    assert!(examples.iter().filter(|e| e.is_holdout()).count() >= 20);

    // Untrained: the gate fails and nothing is written.
    let untrained = tmp.path().join("untrained");
    let cfg0 = TrainConfig { max_steps: Some(0), ..config() };
    let out = train(&model, &examples, &cfg0, &untrained, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    assert!(!out.gate_passed, "an untrained adapter must fail the gate: {:?}", out.report.metrics);
    assert!(out.adapter_dir.is_none() && !untrained.exists());
    assert!(out.report.metrics.tool_name_match < 0.5);

    let adapter = tmp.path().join("adapter");
    let mut losses = Vec::new();
    let out = train(&model, &examples, &config(), &adapter, &mut |p| {
        if let Some(l) = p.loss {
            losses.push(l);
        }
    }, &AtomicBool::new(false))
    .unwrap();
    let m = &out.report.metrics;
    eprintln!("metrics {m:?}, {:.0} tokens/s, {:.1} s", out.report.timings.tokens_per_s, out.report.timings.train_s);

    assert!(m.tool_name_match >= 0.95, "holdout tool-name match {m:?}");
    assert!(out.gate_passed);
    assert!(losses.last().unwrap() < &(losses[0] * 0.2), "loss fell: {} → {}", losses[0], losses.last().unwrap());
    for f in ["adapter_config.json", "adapter_model.safetensors", "training_report.json", "loss_curve.svg"] {
        assert!(adapter.join(f).is_file(), "{f} written");
    }
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(adapter.join("training_report.json")).unwrap()).unwrap();
    assert_eq!(report["gate"]["passed"], serde_json::json!(true));
    assert!(std::fs::read_to_string(adapter.join("loss_curve.svg")).unwrap().contains("<polyline"));
    // The output path is never overwritten.
    let again = train(&model, &examples, &config(), &adapter, &mut |_| {}, &AtomicBool::new(false));
    assert!(matches!(again, Err(TrainError::InvalidConfig(_))));
}

#[test]
fn sharing_the_system_prefix_gives_the_same_loss() {
    use jitgen_trainer::data::Encoder;
    use jitgen_trainer::model::{LoraSpec, Model};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    let examples = setup(&dir, Arch::Qwen2);
    let spec = LoraSpec { r: 4, alpha: 8.0, dropout: 0.0, targets: vec!["q_proj".into(), "v_proj".into()] };
    let model = Model::load(&dir, tch::Device::Cpu, Some(spec)).unwrap();
    model.randomize_lora(0.1);
    let enc = Encoder::load(&dir, &model.config.eos_token_ids).unwrap();
    let encoded: Vec<_> = examples.iter().map(|e| enc.encode(e).unwrap()).collect();
    for batch in jitgen_trainer::train::batches(&encoded, 8).iter().take(4) {
        let (a, n) = jitgen_trainer::train::batch_loss(&model, &encoded, batch, enc.end_token(), false, true).unwrap();
        let (b, m) = jitgen_trainer::train::batch_loss(&model, &encoded, batch, enc.end_token(), false, false).unwrap();
        assert_eq!(n, m);
        let (a, b) = (a.double_value(&[]), b.double_value(&[]));
        assert!((a - b).abs() < 1e-5, "shared prefix {a} vs full sequences {b}");
    }
}

#[test]
fn cancel_mid_training_stops_within_two_seconds_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    let examples = setup(&model, Arch::Llama);
    let out_dir = tmp.path().join("adapter");
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let worker = {
        let (model, examples, out_dir, cancel) = (model.clone(), examples.clone(), out_dir.clone(), cancel.clone());
        std::thread::spawn(move || {
            let cfg = TrainConfig { epochs: 1000, ..config() };
            let mut told = false;
            let r = train(&model, &examples, &cfg, &out_dir, &mut |p| {
                if p.step >= 2 && !told {
                    told = true;
                    let _ = tx.send(Instant::now());
                }
            }, &cancel);
            (r, Instant::now())
        })
    };
    // Wait (with a deadline) until training is under way, then cancel.
    rx.recv_timeout(Duration::from_secs(120)).expect("training reached step 2");
    let asked = Instant::now();
    cancel.store(true, Ordering::Relaxed);
    let (result, ended) = worker.join().unwrap();
    assert!(matches!(result, Err(TrainError::Canceled)), "{:?}", result.err());
    let took = ended.duration_since(asked);
    assert!(took < Duration::from_secs(2), "stopped {took:?} after the cancel");
    assert!(!out_dir.exists(), "no adapter after a cancel");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.iter().all(|n| !n.to_string_lossy().contains("partial")), "no staging left: {leftovers:?}");
}
