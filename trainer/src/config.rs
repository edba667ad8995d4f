//! The parts of a Hugging Face `config.json` the forward pass needs.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::TrainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    model_type: String,
    hidden_size: i64,
    intermediate_size: i64,
    num_hidden_layers: i64,
    num_attention_heads: i64,
    num_key_value_heads: Option<i64>,
    head_dim: Option<i64>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    /// transformers ≥ 5 writes the theta here.
    rope_parameters: Option<Value>,
    rope_scaling: Option<Value>,
    vocab_size: i64,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    eos_token_id: Option<Value>,
    max_position_embeddings: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: Arch,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: i64,
    pub num_heads: i64,
    pub num_kv_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub vocab_size: i64,
    pub tie_word_embeddings: bool,
    /// Biases on q, k and v (Qwen2 always; Llama when `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama `attention_bias`; never in Qwen2).
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub eos_token_ids: Vec<i64>,
    /// The longest sequence (prompt plus completion) the positions were trained for.
    pub max_position_embeddings: i64,
}

fn invalid(msg: impl Into<String>) -> TrainError {
    TrainError::InvalidModel(msg.into())
}

impl ModelConfig {
    pub fn load(model_dir: &Path) -> Result<ModelConfig, TrainError> {
        let path = model_dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        ModelConfig::parse(&text)
    }

    pub fn parse(text: &str) -> Result<ModelConfig, TrainError> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| invalid(format!("config.json: {e}")))?;
        let names = raw.architectures.join(",") + "," + &raw.model_type;
        let arch = if names.contains("Qwen2") || raw.model_type == "qwen2" {
            Arch::Qwen2
        } else if names.contains("Llama") || raw.model_type == "llama" {
            Arch::Llama
        } else {
            return Err(invalid(format!(
                "unsupported architecture {:?} (model_type {:?}); Llama and Qwen2 are supported",
                raw.architectures, raw.model_type
            )));
        };
        if let Some(s) = raw.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(invalid(format!("rope_scaling {s} is not supported")));
        }
        let rope_theta = raw
            .rope_theta
            .or_else(|| raw.rope_parameters.as_ref().and_then(|p| p.get("rope_theta")).and_then(Value::as_f64))
            .unwrap_or(10_000.0);
        if let Some(kind) = raw.rope_parameters.as_ref().and_then(|p| p.get("rope_type")).and_then(Value::as_str) {
            if kind != "default" {
                return Err(invalid(format!("rope_type {kind:?} is not supported (only \"default\")")));
            }
        }
        let num_kv_heads = raw.num_key_value_heads.unwrap_or(raw.num_attention_heads);
        if raw.num_attention_heads <= 0 || num_kv_heads <= 0 || raw.num_attention_heads % num_kv_heads != 0 {
            return Err(invalid("num_attention_heads must be a positive multiple of num_key_value_heads"));
        }
        let head_dim = raw.head_dim.unwrap_or(raw.hidden_size / raw.num_attention_heads);
        if head_dim <= 0 || head_dim % 2 != 0 {
            return Err(invalid(format!("head_dim must be positive and even, got {head_dim}")));
        }
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let eos_token_ids = match raw.eos_token_id {
            Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            _ => Vec::new(),
        };
        Ok(ModelConfig {
            arch,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            vocab_size: raw.vocab_size,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: arch == Arch::Llama && attention_bias,
            mlp_bias: raw.mlp_bias.unwrap_or(false),
            eos_token_ids,
            max_position_embeddings: raw.max_position_embeddings.filter(|&n| n > 0).unwrap_or(2048),
        })
    }
}
