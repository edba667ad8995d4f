//! What a run leaves behind: the PEFT adapter, the training report and the loss curve.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tch::Tensor;

use crate::model::{LoraSpec, Model};
use crate::TrainError;

pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
pub const REPORT: &str = "training_report.json";
pub const LOSS_CURVE: &str = "loss_curve.svg";

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("{what} {}: {e}", path.display()))
}

/// PEFT's `adapter_config.json` for `spec` on the base model at `base`.
pub fn adapter_config(spec: &LoraSpec, base: &str) -> Value {
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": spec.r,
        "lora_alpha": spec.alpha,
        "lora_dropout": spec.dropout,
        "target_modules": spec.targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    })
}

/// Writes the adapter files into `dir` (which must exist).
pub fn write_adapter(model: &Model, base: &str, dir: &Path) -> Result<(), TrainError> {
    let spec = model.lora.as_ref().ok_or_else(|| TrainError::InvalidConfig("the model has no LoRA adapter".into()))?;
    let tensors: Vec<(String, Tensor)> =
        model.lora_tensors().into_iter().map(|(k, t)| (k, t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    let path = dir.join(ADAPTER_WEIGHTS);
    Tensor::write_safetensors(&tensors, &path).map_err(|e| io("writing", &path, e))?;
    let cfg = dir.join(ADAPTER_CONFIG);
    fs::write(&cfg, serde_json::to_string_pretty(&adapter_config(spec, base)).unwrap_or_default())
        .map_err(|e| io("writing", &cfg, e))?;
    Ok(())
}

/// Loads adapter weights saved by [`write_adapter`] (or by PEFT) into `model`'s LoRA matrices.
pub fn load_adapter(model: &Model, dir: &Path) -> Result<(), TrainError> {
    let path = dir.join(ADAPTER_WEIGHTS);
    let saved = Tensor::read_safetensors(&path).map_err(|e| io("reading", &path, e))?;
    let saved: std::collections::HashMap<String, Tensor> = saved.into_iter().collect();
    let _guard = tch::no_grad_guard();
    for (key, mut t) in model.lora_tensors() {
        // PEFT also writes keys with the adapter name (`.lora_A.default.weight`) in memory;
        // on disk it strips it, as we do.
        let src = saved.get(&key).ok_or_else(|| TrainError::InvalidModel(format!("adapter has no {key}")))?;
        if src.size() != t.size() {
            return Err(TrainError::InvalidModel(format!("{key}: shape {:?}, expected {:?}", src.size(), t.size())));
        }
        t.copy_(&src.to_kind(t.kind()).to_device(t.device()));
    }
    Ok(())
}

/// A loss-curve polyline as a small standalone SVG.
pub fn loss_svg(curve: &[(usize, f64)]) -> String {
    let (w, h, pad) = (640.0, 320.0, 40.0);
    let max_step = curve.last().map_or(1, |c| c.0).max(1) as f64;
    let max_loss = curve.iter().map(|c| c.1).fold(f64::MIN, f64::max).max(1e-9);
    let min_loss = curve.iter().map(|c| c.1).fold(f64::MAX, f64::min).min(max_loss);
    let span = (max_loss - min_loss).max(1e-9);
    let points: Vec<String> = curve
        .iter()
        .map(|(s, l)| {
            let x = pad + (*s as f64 / max_step) * (w - 2.0 * pad);
            let y = h - pad - ((l - min_loss) / span) * (h - 2.0 * pad);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <line x1=\"{pad}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{y0}\" stroke=\"black\"/>\n\
         <text x=\"{pad}\" y=\"20\" font-family=\"sans-serif\" font-size=\"13\">training loss ({n} steps, {max_loss:.3} → {last:.3})</text>\n\
         <text x=\"4\" y=\"{pad}\" font-family=\"sans-serif\" font-size=\"10\">{max_loss:.2}</text>\n\
         <text x=\"4\" y=\"{y0}\" font-family=\"sans-serif\" font-size=\"10\">{min_loss:.2}</text>\n\
         <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{pts}\"/>\n</svg>\n",
        y0 = h - pad,
        x1 = w - pad,
        n = curve.len(),
        last = curve.last().map_or(0.0, |c| c.1),
        pts = points.join(" "),
    )
}

/// A fresh directory next to `out` for writing, renamed over `out` only when complete, so an
/// interrupted run never leaves a partial adapter at `out`.
pub struct Staging {
    pub dir: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Staging {
    pub fn new(out: &Path) -> Result<Staging, TrainError> {
        if out.exists() {
            return Err(TrainError::InvalidConfig(format!("{} already exists; choose a new output directory", out.display())));
        }
        let name = out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "adapter".into());
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        let dir = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        Ok(Staging { dir, target: out.to_path_buf(), done: false })
    }

    /// Flushes every file and moves the directory into place.
    pub fn commit(mut self) -> Result<PathBuf, TrainError> {
        for entry in fs::read_dir(&self.dir).map_err(|e| io("reading", &self.dir, e))?.flatten() {
            if let Ok(f) = fs::File::open(entry.path()) {
                let _ = f.sync_all();
            }
        }
        fs::rename(&self.dir, &self.target).map_err(|e| io("renaming into", &self.target, e))?;
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
