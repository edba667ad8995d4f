//! Our forward pass against Hugging Face transformers and PEFT on the same tiny random weights.

mod common;

use jitgen_trainer::adapter::Adapter;
use jitgen_trainer::config::Arch;
use jitgen_trainer::model::{KvCache, LoraSpec, Model};
use jitgen_trainer::output::{load_adapter, write_adapter};
use jitgen_trainer::tiny::{make_tiny_model, TinySpec};
use common::{max_diff, ours};
use tch::{Device, Tensor};

const TOL: f64 = 1e-4;

fn ids(vocab: i64) -> Vec<i64> {
    (0..14).map(|i| (i * 37 + 5) % vocab).collect()
}

fn tiny(arch: Arch, dir: &std::path::Path) {
    let mut spec = TinySpec::new(arch);
    spec.vocab_size = 300;
    match arch {
        // A non-default theta and no tying: a wrong rope base or a tied head would show.
        Arch::Llama => spec.rope_theta = 500_000.0,
        Arch::Qwen2 => spec.tie_word_embeddings = true,
    }
    let corpus = common::corpus(&common::synthetic(20, 3));
    make_tiny_model(dir, &spec, &corpus).unwrap();
}

fn check_arch(arch: Arch) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    tiny(arch, &dir);
    let base = Model::load(&dir, Device::Cpu, None).unwrap();
    let ids = ids(base.config.vocab_size);
    let hf = common::hf_logits(&dir, None, &ids, &tmp.path().join("hf.safetensors"));
    let d = max_diff(&ours(&base, &ids), &hf);
    assert!(d <= TOL, "{arch:?}: max |ours - transformers| = {d}");

    // Incremental decoding with the KV cache gives the same logits as one full pass.
    {
        let _g = tch::no_grad_guard();
        let mut cache = KvCache::default();
        let first = Tensor::from_slice(&ids[..5]).view([1, 5]);
        let mut rows = vec![base.logits(&base.hidden(&first, Some(&mut cache), false)).squeeze_dim(0)];
        let rest = Tensor::from_slice(&ids[5..9]).view([1, 4]);
        rows.push(base.logits(&base.hidden(&rest, Some(&mut cache), false)).squeeze_dim(0));
        for &id in &ids[9..] {
            let one = Tensor::from_slice(&[id]).view([1, 1]);
            rows.push(base.logits(&base.hidden(&one, Some(&mut cache), false)).squeeze_dim(0));
        }
        let inc = Tensor::cat(&rows, 0);
        let d = max_diff(&inc, &hf);
        assert!(d <= TOL, "{arch:?}: cached decoding differs by {d}");
    }

    // A LoRA adapter with non-zero B on every linear layer, saved in PEFT format and loaded
    // by PeftModel.from_pretrained.
    let spec = LoraSpec {
        r: 4,
        alpha: 8.0,
        dropout: 0.05,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"].map(String::from).to_vec(),
    };
    let tuned = Model::load(&dir, Device::Cpu, Some(spec.clone())).unwrap();
    tuned.randomize_lora(0.2);
    let adapter = tmp.path().join("adapter");
    std::fs::create_dir_all(&adapter).unwrap();
    write_adapter(&tuned, &dir.display().to_string(), &adapter).unwrap();
    let mine = ours(&tuned, &ids);
    assert!(max_diff(&mine, &hf) > 1e-3, "the adapter must change the logits for this test to mean anything");
    let peft = common::hf_logits(&dir, Some(&adapter), &ids, &tmp.path().join("peft.safetensors"));
    let d = max_diff(&mine, &peft);
    assert!(d <= TOL, "{arch:?}: max |ours - PEFT| = {d}");

    // Our loader reads the same files back.
    let reloaded = Model::load(&dir, Device::Cpu, Some(spec)).unwrap();
    load_adapter(&reloaded, &adapter).unwrap();
    assert!(max_diff(&ours(&reloaded, &ids), &mine) <= 1e-6);

    // `jitgen serve`'s path: the same files as a per-request adapter beside the plain base.
    let served = Adapter::load(&base, &adapter).unwrap();
    let logits = {
        let _g = tch::no_grad_guard();
        let input = Tensor::from_slice(&ids).view([1, ids.len() as i64]);
        base.logits(&base.hidden_with(&input, None, false, Some(&served))).squeeze_dim(0)
    };
    let d = max_diff(&logits, &peft);
    assert!(d <= TOL, "{arch:?}: max |served adapter - PEFT| = {d}");
    assert!(max_diff(&ours(&base, &ids), &hf) <= TOL, "the shared base is left unchanged");
}

/// Rewrites `dir`'s single model.safetensors as two shards with an index, as large
/// checkpoints ship.
fn shard(dir: &std::path::Path) {
    let tensors = Tensor::read_safetensors(dir.join("model.safetensors")).unwrap();
    let half = tensors.len() / 2;
    let names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    let mut map = serde_json::Map::new();
    for (i, part) in [&tensors[..half], &tensors[half..]].into_iter().enumerate() {
        Tensor::write_safetensors(part, dir.join(names[i])).unwrap();
        for (k, _) in part {
            map.insert(k.clone(), serde_json::json!(names[i]));
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
}

#[test]
fn sharded_checkpoints_load_like_single_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    tiny(Arch::Llama, &dir);
    let single = Model::load(&dir, Device::Cpu, None).unwrap();
    let ids = ids(single.config.vocab_size);
    let before = ours(&single, &ids);
    shard(&dir);
    let sharded = Model::load(&dir, Device::Cpu, None).unwrap();
    assert!(max_diff(&ours(&sharded, &ids), &before) == 0.0);
    let hf = common::hf_logits(&dir, None, &ids, &tmp.path().join("hf.safetensors"));
    assert!(max_diff(&before, &hf) <= TOL, "transformers reads the same shards");
}

#[test]
fn the_comparison_catches_a_wrong_rope_theta() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    tiny(Arch::Llama, &dir);
    let ids = ids(Model::load(&dir, Device::Cpu, None).unwrap().config.vocab_size);
    let hf = common::hf_logits(&dir, None, &ids, &tmp.path().join("hf.safetensors"));
    // Our loader reading theta 10000 instead of the config's 500000 must not pass.
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap().replace("500000.0", "10000.0");
    std::fs::write(dir.join("config.json"), cfg).unwrap();
    let wrong = Model::load(&dir, Device::Cpu, None).unwrap();
    assert_eq!(wrong.config.rope_theta, 10000.0);
    assert!(max_diff(&ours(&wrong, &ids), &hf) > 1e-3, "a wrong theta must show in the logits");
}

#[test]
fn llama_matches_transformers_and_peft() {
    check_arch(Arch::Llama);
}

#[test]
fn qwen2_matches_transformers_and_peft() {
    check_arch(Arch::Qwen2);
}

#[test]
fn unsupported_configs_are_refused_with_a_reason() {
    let err = jitgen_trainer::config::ModelConfig::parse(
        r#"{"architectures":["GPT2LMHeadModel"],"model_type":"gpt2","hidden_size":8,"intermediate_size":8,
            "num_hidden_layers":1,"num_attention_heads":2,"vocab_size":10}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unsupported architecture"), "{err}");
    let err = jitgen_trainer::config::ModelConfig::parse(
        r#"{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
            "num_attention_heads":3,"num_key_value_heads":2,"vocab_size":10}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("multiple"), "{err}");
}
