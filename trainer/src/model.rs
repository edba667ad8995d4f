//! Llama / Qwen2 decoder with LoRA adapters on chosen linear layers.
//!
//! The frozen base weights are plain tensors without gradients (fp32 on CPU, bf16 on CUDA);
//! only the LoRA matrices live in a `VarStore`, so the optimizer and autograd never track the
//! base. Attention goes through `scaled_dot_product_attention` with grouped-query heads.

use std::collections::HashMap;
use std::path::Path;

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::adapter::Adapter;
use crate::config::ModelConfig;
use crate::TrainError;

/// LoRA settings applied when building a [`Model`].
#[derive(Clone, Debug)]
pub struct LoraSpec {
    pub r: i64,
    pub alpha: f64,
    pub dropout: f64,
    /// Module names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
    pub targets: Vec<String>,
}

pub const ATTENTION_MODULES: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];
pub const MLP_MODULES: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];
/// Every LoRA-able module in the order [`Model::hidden_with`] indexes an [`Adapter`]'s matrices.
pub const MODULES: [(&str, &str); 7] = [
    ("self_attn", "q_proj"),
    ("self_attn", "k_proj"),
    ("self_attn", "v_proj"),
    ("self_attn", "o_proj"),
    ("mlp", "gate_proj"),
    ("mlp", "up_proj"),
    ("mlp", "down_proj"),
];

pub struct Lora {
    pub a: Tensor,
    pub b: Tensor,
    pub scale: f64,
    pub dropout: f64,
}

pub struct Linear {
    pub w: Tensor,
    pub b: Option<Tensor>,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_with(x, train, None)
    }

    /// With `adapter`'s LoRA in place of the layer's own (a served request's adapter on a
    /// shared base).
    pub fn forward_with(&self, x: &Tensor, train: bool, adapter: Option<&Lora>) -> Tensor {
        let y = x.linear(&self.w, self.b.as_ref());
        match adapter.or(self.lora.as_ref()) {
            None => y,
            Some(l) => {
                // LoRA weights stay fp32 (optimizer precision) when the base runs in bf16. Each
                // skipped no-op conversion is one dispatch less per layer and token when serving.
                let xl = if x.kind() == l.a.kind() { x.shallow_clone() } else { x.to_kind(l.a.kind()) };
                let xl = if train && l.dropout > 0.0 { xl.dropout(l.dropout, true) } else { xl };
                let mut delta = xl.linear::<Tensor>(&l.a, None).linear::<Tensor>(&l.b, None);
                if l.scale != 1.0 {
                    delta = delta * l.scale;
                }
                if delta.kind() != y.kind() {
                    delta = delta.to_kind(y.kind());
                }
                y + delta
            }
        }
    }
}

struct RmsNorm {
    w: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        let xf = x.to_kind(Kind::Float);
        let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
        let normed = (xf * (var + self.eps).rsqrt()).to_kind(kind);
        &self.w * normed
    }
}

struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of every layer for the tokens seen so far, `[batch, kv_heads, len, dim]`.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn len(&self) -> i64 {
        match self.layers.first() {
            Some(Some((k, _))) => k.size()[2],
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache that shares this one's tensors (they are never modified in place).
    pub fn share(&self) -> KvCache {
        KvCache {
            layers: self.layers.iter().map(|l| l.as_ref().map(|(k, v)| (k.shallow_clone(), v.shallow_clone()))).collect(),
        }
    }
}

pub struct Model {
    pub config: ModelConfig,
    pub device: Device,
    pub kind: Kind,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Tensor,
    inv_freq: Tensor,
    /// LoRA parameters, the only trainable tensors.
    pub vs: nn::VarStore,
    pub lora: Option<LoraSpec>,
}

/// Every `*.safetensors` of a model directory (single file or shards).
fn read_weights(dir: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::InvalidModel(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("adapter")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(TrainError::InvalidModel(format!("no *.safetensors in {}", dir.display())));
    }
    let mut out = HashMap::new();
    for f in files {
        let tensors = Tensor::read_safetensors(&f)
            .map_err(|e| TrainError::InvalidModel(format!("cannot read {}: {e}", f.display())))?;
        out.extend(tensors);
    }
    Ok(out)
}

impl Model {
    /// Loads `config.json` and the weights of `dir`; adds LoRA matrices when `lora` is given
    /// (A: PEFT's kaiming-uniform, B: zeros, so the adapter starts as a no-op).
    pub fn load(dir: &Path, device: Device, lora: Option<LoraSpec>) -> Result<Model, TrainError> {
        let config = ModelConfig::load(dir)?;
        let kind = if device.is_cuda() { Kind::BFloat16 } else { Kind::Float };
        let mut w = read_weights(dir)?;
        let mut take = |name: &str| -> Result<Tensor, TrainError> {
            w.remove(name)
                .map(|t| t.to_device(device).to_kind(kind).set_requires_grad(false))
                .ok_or_else(|| TrainError::InvalidModel(format!("weight {name} is missing")))
        };
        let vs = nn::VarStore::new(device);
        if let Some(spec) = &lora {
            for t in &spec.targets {
                if !ATTENTION_MODULES.contains(&t.as_str()) && !MLP_MODULES.contains(&t.as_str()) {
                    return Err(TrainError::InvalidConfig(format!(
                        "unknown LoRA target {t:?}; use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
                    )));
                }
            }
            if spec.r <= 0 {
                return Err(TrainError::InvalidConfig(format!("LoRA rank must be positive, got {}", spec.r)));
            }
        }
        let c = &config;
        let mut layers = Vec::new();
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            let mut linear = |module: &str, group: &str, bias: bool| -> Result<Linear, TrainError> {
                let weight = take(&format!("{p}.{group}.{module}.weight"))?;
                let b = if bias { Some(take(&format!("{p}.{group}.{module}.bias"))?) } else { None };
                let lora = match &lora {
                    Some(spec) if spec.targets.iter().any(|t| t == module) => {
                        let (out_f, in_f) = (weight.size()[0], weight.size()[1]);
                        let root = vs.root();
                        let sub = root.sub(format!("layer{i}_{module}"));
                        let bound = 1.0 / (in_f as f64).sqrt();
                        let a = sub.var("lora_A", &[spec.r, in_f], Init::Uniform { lo: -bound, up: bound });
                        let bm = sub.var("lora_B", &[out_f, spec.r], Init::Const(0.0));
                        Some(Lora { a, b: bm, scale: spec.alpha / spec.r as f64, dropout: spec.dropout })
                    }
                    _ => None,
                };
                Ok(Linear { w: weight, b, lora })
            };
            let q = linear("q_proj", "self_attn", c.qkv_bias)?;
            let k = linear("k_proj", "self_attn", c.qkv_bias)?;
            let v = linear("v_proj", "self_attn", c.qkv_bias)?;
            let o = linear("o_proj", "self_attn", c.o_bias)?;
            let gate = linear("gate_proj", "mlp", c.mlp_bias)?;
            let up = linear("up_proj", "mlp", c.mlp_bias)?;
            let down = linear("down_proj", "mlp", c.mlp_bias)?;
            layers.push(Layer {
                input_norm: RmsNorm { w: take(&format!("{p}.input_layernorm.weight"))?, eps: c.rms_norm_eps },
                q,
                k,
                v,
                o,
                post_norm: RmsNorm { w: take(&format!("{p}.post_attention_layernorm.weight"))?, eps: c.rms_norm_eps },
                gate,
                up,
                down,
            });
        }
        let embed = take("model.embed_tokens.weight")?;
        let lm_head = match take("lm_head.weight") {
            Ok(t) => t,
            Err(_) if c.tie_word_embeddings => embed.shallow_clone(),
            Err(e) => return Err(e),
        };
        let norm = RmsNorm { w: take("model.norm.weight")?, eps: c.rms_norm_eps };
        let half = c.head_dim / 2;
        let inv_freq = (Tensor::arange(half, (Kind::Double, Device::Cpu)) * (2.0 / c.head_dim as f64) * c.rope_theta.ln())
            .exp()
            .reciprocal()
            .to_kind(Kind::Float)
            .to_device(device);
        Ok(Model { config, device, kind, embed, layers, norm, lm_head, inv_freq, vs, lora })
    }

    /// `(out_features, in_features)` of module `m` (an index into [`MODULES`]) of `layer`.
    pub fn linear_shape(&self, layer: usize, m: usize) -> Option<(i64, i64)> {
        let l = self.layers.get(layer)?;
        let lin = [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down].get(m).copied()?;
        let size = lin.w.size();
        Some((size[0], size[1]))
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Parameter counts: (base, trainable).
    pub fn parameter_counts(&self) -> (i64, i64) {
        let mut base = self.embed.numel() as i64 + self.norm.w.numel() as i64;
        if !self.config.tie_word_embeddings {
            base += self.lm_head.numel() as i64;
        }
        for l in &self.layers {
            for lin in [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down] {
                base += lin.w.numel() as i64 + lin.b.as_ref().map_or(0, |b| b.numel() as i64);
            }
            base += l.input_norm.w.numel() as i64 + l.post_norm.w.numel() as i64;
        }
        let trainable = self.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        (base, trainable)
    }

    /// (cos, sin) of shape `[len, head_dim]` for positions `start..start+len`.
    fn rope(&self, start: i64, len: i64) -> (Tensor, Tensor) {
        let pos = Tensor::arange_start(start, start + len, (Kind::Float, self.device));
        let freqs = pos.unsqueeze(1) * self.inv_freq.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        (emb.cos().to_kind(self.kind), emb.sin().to_kind(self.kind))
    }

    /// Hidden states after the final norm, `[batch, len, hidden]`, for `ids` `[batch, len]`
    /// following the `cache.len()` tokens already in `cache` (which is extended), or from
    /// position 0 without a cache. Right padding needs no mask: attention is causal.
    pub fn hidden(&self, ids: &Tensor, cache: Option<&mut KvCache>, train: bool) -> Tensor {
        self.hidden_with(ids, cache, train, None)
    }

    /// [`Model::hidden`] with `adapter`'s LoRA matrices applied instead of the model's own.
    pub fn hidden_with(&self, ids: &Tensor, cache: Option<&mut KvCache>, train: bool, adapter: Option<&Adapter>) -> Tensor {
        let (b, t) = (ids.size()[0], ids.size()[1]);
        let c = &self.config;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let (cos, sin) = self.rope(past, t);
        // Queries attend to every cached key and causally among themselves.
        let mask = (past > 0 && t > 1)
            .then(|| Tensor::ones([t, past + t], (Kind::Bool, self.device)).tril(past));
        let is_causal = past == 0 && t > 1;
        let mut x = Tensor::embedding(&self.embed, ids, -1, false, false);
        let mut cache = cache;
        if let Some(cache) = cache.as_deref_mut() {
            cache.layers.resize_with(self.layers.len(), || None);
        }
        for (i, l) in self.layers.iter().enumerate() {
            let lora = |m: usize| adapter.and_then(|a| a.lora(i, m));
            let h = l.input_norm.forward(&x);
            let q = l.q.forward_with(&h, train, lora(0)).view([b, t, c.num_heads, c.head_dim]).transpose(1, 2);
            let k = l.k.forward_with(&h, train, lora(1)).view([b, t, c.num_kv_heads, c.head_dim]).transpose(1, 2);
            let v = l.v.forward_with(&h, train, lora(2)).view([b, t, c.num_kv_heads, c.head_dim]).transpose(1, 2);
            let q = apply_rope(&q, &cos, &sin);
            let mut k = apply_rope(&k, &cos, &sin);
            let mut v = v;
            if let Some(cache) = cache.as_deref_mut() {
                if let Some((pk, pv)) = &cache.layers[i] {
                    let (pk, pv) = if pk.size()[0] != b { (pk.expand([b, -1, -1, -1], false), pv.expand([b, -1, -1, -1], false)) } else { (pk.shallow_clone(), pv.shallow_clone()) };
                    k = Tensor::cat(&[&pk, &k], 2);
                    v = Tensor::cat(&[&pv, &v], 2);
                }
                cache.layers[i] = Some((k.shallow_clone(), v.shallow_clone()));
            }
            let y = Tensor::scaled_dot_product_attention(&q, &k, &v, mask.as_ref(), 0.0, is_causal, None, c.num_kv_heads != c.num_heads);
            let y = y.transpose(1, 2).contiguous().view([b, t, c.num_heads * c.head_dim]);
            x = x + l.o.forward_with(&y, train, lora(3));
            let h = l.post_norm.forward(&x);
            let gated = l.gate.forward_with(&h, train, lora(4)).silu() * l.up.forward_with(&h, train, lora(5));
            let m = l.down.forward_with(&gated, train, lora(6));
            x = x + m;
        }
        self.norm.forward(&x)
    }

    /// Vocabulary logits of hidden states (any leading shape).
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(&self.lm_head, None)
    }

    /// Fills every LoRA matrix (B too, so the adapter changes the output) with normal noise of
    /// standard deviation `std`, from libtorch's global generator: for tests and benchmarks.
    pub fn randomize_lora(&self, std: f64) {
        let _g = tch::no_grad_guard();
        for (_, mut t) in self.lora_tensors() {
            let r = Tensor::randn(t.size(), (t.kind(), t.device())) * std;
            t.copy_(&r);
        }
    }

    /// Every LoRA matrix with its PEFT key
    /// (`base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`).
    pub fn lora_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for (m, lin) in [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down].into_iter().enumerate() {
                if let Some(lora) = &lin.lora {
                    let p = peft_key(i, m);
                    out.push((format!("{p}.lora_A.weight"), lora.a.shallow_clone()));
                    out.push((format!("{p}.lora_B.weight"), lora.b.shallow_clone()));
                }
            }
        }
        out
    }
}

/// PEFT's name of module `m` (an index into [`MODULES`]) of `layer`, without the
/// `.lora_A.weight` / `.lora_B.weight` suffix.
pub fn peft_key(layer: usize, m: usize) -> String {
    let (group, module) = MODULES[m];
    format!("base_model.model.model.layers.{layer}.{group}.{module}")
}

/// HF's rotate-half RoPE: x·cos + rotate_half(x)·sin.
fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], 3);
    x * cos + rotated * sin
}
