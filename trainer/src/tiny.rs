//! Tiny random Llama / Qwen2 model directories, for tests, benchmarks and the demo (no model
//! can be downloaded here). The tokenizer is a byte-level BPE trained on a given corpus, so a
//! few-million-parameter model sees short sequences and can learn a tool-calling set quickly.

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;
use tch::{Device, Kind, Tensor};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerImpl,
};

use crate::config::Arch;
use crate::TrainError;

#[derive(Clone, Debug)]
pub struct TinySpec {
    pub arch: Arch,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub layers: i64,
    pub heads: i64,
    pub kv_heads: i64,
    pub vocab_size: usize,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
    pub seed: i64,
}

impl TinySpec {
    pub fn new(arch: Arch) -> TinySpec {
        TinySpec {
            arch,
            hidden_size: 64,
            intermediate_size: 128,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            vocab_size: 512,
            rope_theta: 10_000.0,
            tie_word_embeddings: false,
            seed: 0,
        }
    }
}

pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

type Bpe = TokenizerImpl<BPE, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

fn err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("making the tiny model: {e}"))
}

/// Trains the tokenizer on `corpus` and writes `tokenizer.json`; returns the vocabulary size.
pub fn write_tokenizer(dir: &Path, corpus: &[String], vocab_size: usize) -> Result<usize, TrainError> {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|s| AddedToken::from(*s, true)).collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect::<HashSet<char>>())
        .build();
    let mut tk: Bpe = TokenizerImpl::new(BPE::default());
    tk.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))));
    tk.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::new(false, true, true))));
    tk.train(&mut trainer, corpus.iter()).map_err(err)?;
    tk.add_special_tokens(&specials);
    tk.save(dir.join("tokenizer.json"), false).map_err(err)?;
    Ok(tk.get_vocab_size(true))
}

/// Writes `config.json`, `model.safetensors` (random: linear layers std 1/sqrt(fan_in), embeddings and head 0.1, norms ~1; biases random too so tests
/// exercise them) and `tokenizer.json` into `dir`.
pub fn make_tiny_model(dir: &Path, spec: &TinySpec, corpus: &[String]) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let vocab = write_tokenizer(dir, corpus, spec.vocab_size)? as i64;
    let im_end = vocab_id(dir, "<|im_end|>")?;
    let eot = vocab_id(dir, "<|endoftext|>")?;
    let head_dim = spec.hidden_size / spec.heads;
    let (arch_name, model_type) = match spec.arch {
        Arch::Llama => ("LlamaForCausalLM", "llama"),
        Arch::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
    };
    let config = json!({
        "architectures": [arch_name],
        "model_type": model_type,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": 1e-6,
        "rope_theta": spec.rope_theta,
        "vocab_size": vocab,
        "tie_word_embeddings": spec.tie_word_embeddings,
        "attention_bias": false,
        "max_position_embeddings": 8192,
        "hidden_act": "silu",
        "bos_token_id": eot,
        "eos_token_id": im_end,
        "pad_token_id": eot,
        "torch_dtype": "float32",
        "use_sliding_window": false,
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).map_err(err)?).map_err(err)?;

    tch::manual_seed(spec.seed);
    let opts = (Kind::Float, Device::Cpu);
    let randn = |shape: &[i64]| Tensor::randn(shape, opts) * 0.02;
    // Linear layers at 1/sqrt(fan_in): activations of order one, so that a random base passes
    // enough of the input forward for an adapter to learn from (0.02 everywhere drowns it).
    let linear = |out_f: i64, in_f: i64| Tensor::randn([out_f, in_f], opts) / (in_f as f64).sqrt();
    let (h, i, kvd) = (spec.hidden_size, spec.intermediate_size, spec.kv_heads * head_dim);
    let qd = spec.heads * head_dim;
    let mut t: Vec<(String, Tensor)> = vec![
        // Embeddings and head ~5× wider than the rest: with the head at 0.02 the largest logit a
        // normalized hidden state can reach is ~2.5, which caps how well any adapter can fit.
        ("model.embed_tokens.weight".into(), randn(&[vocab, h]) * 5.0),
        ("model.norm.weight".into(), Tensor::ones([h], opts) + randn(&[h])),
    ];
    if !spec.tie_word_embeddings {
        t.push(("lm_head.weight".into(), randn(&[vocab, h]) * 5.0));
    }
    for l in 0..spec.layers {
        let p = format!("model.layers.{l}");
        t.push((format!("{p}.self_attn.q_proj.weight"), linear(qd, h)));
        t.push((format!("{p}.self_attn.k_proj.weight"), linear(kvd, h)));
        t.push((format!("{p}.self_attn.v_proj.weight"), linear(kvd, h)));
        t.push((format!("{p}.self_attn.o_proj.weight"), linear(h, qd)));
        if spec.arch == Arch::Qwen2 {
            t.push((format!("{p}.self_attn.q_proj.bias"), randn(&[qd])));
            t.push((format!("{p}.self_attn.k_proj.bias"), randn(&[kvd])));
            t.push((format!("{p}.self_attn.v_proj.bias"), randn(&[kvd])));
        }
        t.push((format!("{p}.mlp.gate_proj.weight"), linear(i, h)));
        t.push((format!("{p}.mlp.up_proj.weight"), linear(i, h)));
        t.push((format!("{p}.mlp.down_proj.weight"), linear(h, i)));
        t.push((format!("{p}.input_layernorm.weight"), Tensor::ones([h], opts) + randn(&[h])));
        t.push((format!("{p}.post_attention_layernorm.weight"), Tensor::ones([h], opts) + randn(&[h])));
    }
    Tensor::write_safetensors(&t, dir.join("model.safetensors")).map_err(err)?;
    Ok(())
}

fn vocab_id(dir: &Path, token: &str) -> Result<i64, TrainError> {
    let tk = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(err)?;
    tk.token_to_id(token).map(i64::from).ok_or_else(|| err(format!("{token} is not in the vocabulary")))
}

/// A PEFT adapter directory with random LoRA matrices (seeded) on the model at `base`, plus the
/// report and curve files the worker's artifact tar holds: what tests and benchmarks serve
/// when what an adapter learned does not matter, only its shape.
pub fn write_random_adapter(base: &Path, spec: crate::LoraSpec, seed: i64, std: f64, out: &Path) -> Result<(), TrainError> {
    std::fs::create_dir_all(out).map_err(|e| TrainError::Io(format!("create {}: {e}", out.display())))?;
    let model = crate::Model::load(base, tch::Device::Cpu, Some(spec))?;
    tch::manual_seed(seed);
    model.randomize_lora(std);
    crate::output::write_adapter(&model, &base.display().to_string(), out)?;
    for (name, text) in [(crate::output::REPORT, "{}"), (crate::output::LOSS_CURVE, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")] {
        std::fs::write(out.join(name), text).map_err(|e| TrainError::Io(format!("write {name}: {e}")))?;
    }
    Ok(())
}
