//! A PEFT LoRA adapter loaded beside a shared base model, for serving: many adapters, one
//! base, the adapter chosen per request ([`crate::Model::hidden_with`]).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use tch::{Kind, Tensor};

use crate::model::{peft_key, Lora, Model, MODULES};
use crate::output::{ADAPTER_CONFIG, ADAPTER_WEIGHTS};
use crate::TrainError;

pub struct Adapter {
    /// Per layer, per module of [`MODULES`].
    layers: Vec<[Option<Lora>; 7]>,
    pub r: i64,
    pub alpha: f64,
    pub targets: Vec<String>,
    /// Bytes of the LoRA matrices in memory.
    pub bytes: usize,
}

// Loaded once, then only read by forward passes (no in-place operation touches an adapter's
// tensors), so sharing one between request threads is sound; libtorch reads of a tensor from
// several threads are safe.
unsafe impl Sync for Adapter {}

fn invalid(msg: impl Into<String>) -> TrainError {
    TrainError::InvalidModel(msg.into())
}

fn targets_of(cfg: &Value) -> Result<Vec<String>, TrainError> {
    match cfg.get("target_modules") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or_else(|| invalid("adapter_config.json: target_modules holds a non-string")))
            .collect(),
        Some(Value::String(s)) if s == "all-linear" => Ok(MODULES.iter().map(|(_, m)| m.to_string()).collect()),
        other => Err(invalid(format!("adapter_config.json: target_modules must be a list of module names, got {other:?}"))),
    }
}

impl Adapter {
    /// Reads `adapter_config.json` and `adapter_model.safetensors` from `dir` and checks every
    /// matrix against `base`'s layer shapes.
    pub fn load(base: &Model, dir: &Path) -> Result<Adapter, TrainError> {
        let cfg_path = dir.join(ADAPTER_CONFIG);
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| invalid(format!("cannot read {}: {e}", cfg_path.display())))?;
        let cfg: Value = serde_json::from_str(&text).map_err(|e| invalid(format!("{}: {e}", cfg_path.display())))?;
        if cfg.get("peft_type").and_then(Value::as_str).is_some_and(|t| t != "LORA") {
            return Err(invalid(format!("adapter_config.json: peft_type {} is not LORA", cfg["peft_type"])));
        }
        if cfg.get("use_dora").and_then(Value::as_bool) == Some(true) {
            return Err(invalid("adapter_config.json: DoRA adapters are not supported"));
        }
        let r = cfg.get("r").and_then(Value::as_i64).filter(|&r| r > 0).ok_or_else(|| invalid("adapter_config.json: r must be a positive integer"))?;
        let alpha = cfg.get("lora_alpha").and_then(Value::as_f64).ok_or_else(|| invalid("adapter_config.json: lora_alpha is missing"))?;
        let rs = cfg.get("use_rslora").and_then(Value::as_bool) == Some(true);
        let scale = if rs { alpha / (r as f64).sqrt() } else { alpha / r as f64 };
        let targets = targets_of(&cfg)?;
        let wanted: Vec<usize> = MODULES
            .iter()
            .enumerate()
            .filter(|(_, (_, m))| targets.iter().any(|t| t == m))
            .map(|(i, _)| i)
            .collect();
        if wanted.len() != targets.len() {
            return Err(invalid(format!("adapter_config.json: unknown module among target_modules {targets:?}")));
        }

        let w_path = dir.join(ADAPTER_WEIGHTS);
        let saved: HashMap<String, Tensor> = Tensor::read_safetensors(&w_path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", w_path.display())))?
            .into_iter()
            .map(|(k, t)| (k.replace(".default.weight", ".weight"), t))
            .collect();
        let device = base.device;
        let mut bytes = 0usize;
        let mut layers = Vec::with_capacity(base.num_layers());
        for layer in 0..base.num_layers() {
            let mut mods: [Option<Lora>; 7] = Default::default();
            for &m in &wanted {
                let key = peft_key(layer, m);
                let (out_f, in_f) = base.linear_shape(layer, m).ok_or_else(|| invalid(format!("the base has no {key}")))?;
                let get = |suffix: &str, shape: [i64; 2]| -> Result<Tensor, TrainError> {
                    let name = format!("{key}.{suffix}.weight");
                    let t = saved.get(&name).ok_or_else(|| invalid(format!("the adapter has no {name}")))?;
                    if t.size() != shape {
                        return Err(invalid(format!("{name}: shape {:?}, the base needs {shape:?}", t.size())));
                    }
                    Ok(t.to_kind(Kind::Float).to_device(device).set_requires_grad(false))
                };
                let a = get("lora_A", [r, in_f])?;
                // The scale is folded into B once, saving a multiplication per token.
                let b = get("lora_B", [out_f, r])? * scale;
                bytes += (a.numel() + b.numel()) * 4;
                mods[m] = Some(Lora { a, b, scale: 1.0, dropout: 0.0 });
            }
            layers.push(mods);
        }
        Ok(Adapter { layers, r, alpha, targets, bytes })
    }

    /// The LoRA of module `m` (an index into [`MODULES`]) of `layer`, if the adapter has one.
    pub fn lora(&self, layer: usize, m: usize) -> Option<&Lora> {
        self.layers.get(layer).and_then(|l| l[m].as_ref())
    }
}
