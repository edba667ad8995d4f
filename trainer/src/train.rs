//! The training loop: bucketed batches, a shared system-prompt prefix, loss on target tokens
//! only, AdamW with warmup + cosine, gradient clipping, cancellation between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::data::Encoded;
use crate::model::{KvCache, Model};
use crate::TrainError;

/// Everything a run is configured by. Defaults follow seed 004 (r 16, alpha 32, dropout 0.05,
/// q/k/v/o, gate 0.80).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default)]
pub struct TrainConfig {
    pub r: i64,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: Vec<String>,
    pub epochs: usize,
    /// Examples longer than this (in tokens) are refused rather than silently cut.
    pub max_seq_len: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub seed: i64,
    /// Both gate metrics must reach it.
    pub gate_threshold: f64,
    /// Stop after this many optimizer steps (0 trains nothing: the gate must then fail).
    pub max_steps: Option<usize>,
    pub max_new_tokens: usize,
    /// Intra-op threads (`torch.set_num_threads`); None keeps libtorch's default.
    pub threads: Option<i32>,
    /// Accepted for compatibility; recomputation is not implemented, so it has no effect.
    pub gradient_checkpointing: bool,
    /// Train on CUDA in bf16 when available.
    pub use_cuda: bool,
    /// Run the shared system prompt once per batch (exact; false is the plain baseline).
    pub share_prefix: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            r: 16,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"].iter().map(|s| s.to_string()).collect(),
            epochs: 3,
            max_seq_len: 4096,
            lr: 2e-4,
            batch_size: 8,
            warmup_ratio: 0.1,
            weight_decay: 0.0,
            grad_clip: 1.0,
            seed: 42,
            gate_threshold: 0.80,
            max_steps: None,
            max_new_tokens: 96,
            threads: None,
            gradient_checkpointing: false,
            use_cuda: true,
            share_prefix: true,
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Progress {
    pub phase: &'static str,
    pub step: usize,
    pub total_steps: usize,
    pub loss: Option<f64>,
    pub tokens_per_s: f64,
}

pub struct TrainStats {
    pub loss_curve: Vec<(usize, f64)>,
    pub steps: usize,
    /// Dataset tokens (system + prompt + target of every example, every epoch) per second of
    /// training: what a trainer without prefix sharing would have to process.
    pub tokens_per_s: f64,
    pub tokens: usize,
    pub seconds: f64,
}

/// SplitMix64: a tiny seeded generator, so batch order depends on the seed alone.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: i64) -> Rng {
        Rng(seed as u64 ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Batches of indices into `examples`: grouped by system prefix, sorted by length within a
/// group (little padding), cut into `batch_size` pieces.
pub fn batches(examples: &[Encoded], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by(|&a, &b| {
        examples[a].system.cmp(&examples[b].system).then((examples[a].prompt.len() + examples[a].target.len()).cmp(&(examples[b].prompt.len() + examples[b].target.len())))
    });
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(last) if last.len() < batch_size.max(1) && examples[last[0]].system == examples[i].system => last.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

pub fn lr_at(cfg: &TrainConfig, step: usize, total: usize) -> f64 {
    let warmup = ((cfg.warmup_ratio * total as f64).ceil() as usize).min(total);
    if step < warmup {
        return cfg.lr * (step + 1) as f64 / warmup as f64;
    }
    let span = (total - warmup).max(1) as f64;
    let progress = (step - warmup) as f64 / span;
    cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Loss of one batch: the shared system prefix runs once (batch 1) and its keys and values are
/// broadcast to every example; the logits are computed only where a target token is predicted.
pub fn batch_loss(
    model: &Model,
    examples: &[Encoded],
    batch: &[usize],
    pad: i64,
    train: bool,
    share_prefix: bool,
) -> Result<(Tensor, usize), TrainError> {
    let device = model.device;
    let empty = Vec::new();
    let system = if share_prefix { &examples[batch[0]].system } else { &empty };
    let rows: Vec<(Vec<i64>, usize)> = batch
        .iter()
        .map(|&i| {
            let e = &examples[i];
            let sys = if share_prefix { &[][..] } else { &e.system[..] };
            let row: Vec<i64> = sys.iter().chain(&e.prompt).chain(&e.target).copied().collect();
            let first_target = row.len() - e.target.len();
            (row, first_target)
        })
        .collect();
    let width = rows.iter().map(|(row, _)| row.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(batch.len() * width);
    let mut labels = Vec::with_capacity(batch.len() * width);
    for (row, first_target) in rows {
        // Position p predicts row[p+1]; only predictions of target tokens count.
        let len = row.len();
        labels.extend((0..width).map(|p| if p + 1 < len && p + 1 >= first_target { row[p + 1] } else { -100 }));
        ids.extend(row.into_iter().chain(std::iter::repeat(pad)).take(width));
    }
    let ids = Tensor::from_slice(&ids).view([batch.len() as i64, width as i64]).to_device(device);
    let labels = Tensor::from_slice(&labels).to_device(device);
    let mut cache = KvCache::default();
    if !system.is_empty() {
        let sys = Tensor::from_slice(system).view([1, system.len() as i64]).to_device(device);
        let _ = model.hidden(&sys, Some(&mut cache), train);
    }
    let hidden = model.hidden(&ids, if system.is_empty() { None } else { Some(&mut cache) }, train);
    let h = hidden.view([-1, model.config.hidden_size]);
    let keep = labels.ne(-100).nonzero().squeeze_dim(1);
    let n = keep.size()[0] as usize;
    if n == 0 {
        return Err(TrainError::InvalidData("a batch has no target tokens".into()));
    }
    let logits = model.logits(&h.index_select(0, &keep)).to_kind(Kind::Float);
    let loss = logits.cross_entropy_for_logits(&labels.index_select(0, &keep));
    Ok((loss, n))
}

pub fn run(
    model: &Model,
    examples: &[Encoded],
    cfg: &TrainConfig,
    pad: i64,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<TrainStats, TrainError> {
    let groups = batches(examples, cfg.batch_size);
    let per_epoch = groups.len();
    let mut total = per_epoch * cfg.epochs;
    if let Some(m) = cfg.max_steps {
        total = total.min(m);
    }
    let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.999, wd: cfg.weight_decay, eps: 1e-8, amsgrad: false }
        .build(&model.vs, cfg.lr)
        .map_err(|e| TrainError::Torch(e.to_string()))?;
    let mut rng = Rng::new(cfg.seed);
    let mut curve = Vec::new();
    let started = Instant::now();
    let mut tokens = 0usize;
    let mut step = 0usize;
    'epochs: for _ in 0..cfg.epochs {
        let mut order = groups.clone();
        rng.shuffle(&mut order);
        for batch in &order {
            if step >= total {
                break 'epochs;
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Canceled);
            }
            opt.set_lr(lr_at(cfg, step, total));
            let (loss, _) = batch_loss(model, examples, batch, pad, true, cfg.share_prefix)?;
            opt.backward_step_clip_norm(&loss, cfg.grad_clip);
            let l = loss.double_value(&[]);
            if !l.is_finite() {
                return Err(TrainError::Torch(format!("loss became {l} at step {step}; lower the learning rate")));
            }
            tokens += batch.iter().map(|&i| examples[i].len()).sum::<usize>();
            step += 1;
            curve.push((step, l));
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            progress(&Progress { phase: "train", step, total_steps: total, loss: Some(l), tokens_per_s: tokens as f64 / secs });
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(TrainStats { loss_curve: curve, steps: step, tokens_per_s: tokens as f64 / seconds.max(1e-9), tokens, seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_to_zero() {
        let cfg = TrainConfig { lr: 1.0, warmup_ratio: 0.1, ..TrainConfig::default() };
        let lrs: Vec<f64> = (0..100).map(|s| lr_at(&cfg, s, 100)).collect();
        assert!((lrs[0] - 0.1).abs() < 1e-12 && (lrs[9] - 1.0).abs() < 1e-12, "linear warmup over 10 steps");
        assert!(lrs[10..].windows(2).all(|w| w[1] <= w[0]), "then never rises");
        assert!(lrs[99] < 0.001);
    }

    #[test]
    fn the_seed_alone_decides_the_order() {
        let shuffled = |seed| {
            let mut v: Vec<u32> = (0..50).collect();
            Rng::new(seed).shuffle(&mut v);
            v
        };
        assert_eq!(shuffled(7), shuffled(7));
        assert_ne!(shuffled(7), shuffled(8));
        let mut sorted = shuffled(7);
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn batches_share_a_system_prompt_and_sort_by_length() {
        let e = |sys: i64, len: usize| Encoded { system: vec![sys], prompt: vec![1; len], target: vec![2] };
        let examples = vec![e(1, 5), e(2, 3), e(1, 1), e(1, 9), e(2, 2)];
        let b = batches(&examples, 2);
        for batch in &b {
            assert!(batch.len() <= 2);
            assert!(batch.iter().all(|&i| examples[i].system == examples[batch[0]].system));
        }
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), examples.len());
        assert_eq!(b[0], vec![2, 0], "shortest first within a prompt");
    }
}
