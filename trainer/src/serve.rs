//! The inference engine behind `jitgen serve`: chat prompts, cached decoding with an optional
//! per-request adapter, sampling, stop strings and a JSON-object mode. No HTTP here.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::Value;
use tch::{Device, Kind, Tensor};

use crate::adapter::Adapter;
use crate::data::Encoder;
use crate::model::{KvCache, Model};
use crate::TrainError;

#[derive(Clone, Debug)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug)]
pub struct SamplingParams {
    pub max_tokens: usize,
    /// 0 is greedy decoding.
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
    pub stop: Vec<String>,
    /// Starts the reply with `{` and stops where that object closes (JSON-object mode).
    pub json_object: bool,
    /// Decodes exactly `max_tokens`, past the end-of-turn token (benchmarks; vLLM's name).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { max_tokens: 256, temperature: 0.0, top_p: 1.0, seed: 0, stop: Vec::new(), json_object: false, ignore_eos: false }
    }
}

/// Byte length of the first complete JSON object at the start of `text` (which starts with
/// `{`), tracking strings and escapes; `None` while it is still open.
pub fn closed_object_len(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The end-of-turn token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Completion {
    pub text: String,
    pub completion_tokens: usize,
    pub finish: FinishReason,
    pub prefill_s: f64,
    pub decode_s: f64,
    /// Generations it took (more than 1 only in JSON-object mode).
    pub attempts: usize,
    /// JSON-object mode: whether `text` is one JSON object. Always true otherwise.
    pub json_ok: bool,
}

/// The base model and its tokenizer, shared by every request.
pub struct Engine {
    pub model: Model,
    pub encoder: Encoder,
}

// After loading, requests only read the weights (forward passes under no_grad); see Adapter.
unsafe impl Sync for Engine {}

/// A small, seedable generator (splitmix64) so a request's `seed` reproduces its sample.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Samples a token from `logits` `[vocab]`: temperature, then nucleus (top-p) filtering.
fn sample(logits: &Tensor, temperature: f64, top_p: f64, rng: &mut Rng) -> i64 {
    if temperature <= 0.0 {
        return logits.argmax(-1, false).int64_value(&[]);
    }
    let probs = (logits.to_kind(Kind::Float) / temperature).softmax(-1, Kind::Float).to_device(Device::Cpu);
    let probs: Vec<f32> = Vec::try_from(&probs).unwrap_or_default();
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_unstable_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut kept = 0.0f64;
    let mut cut = order.len();
    for (i, &t) in order.iter().enumerate() {
        kept += probs[t] as f64;
        if kept >= top_p {
            cut = i + 1;
            break;
        }
    }
    let mut u = rng.next_f64() * kept;
    for &t in &order[..cut] {
        u -= probs[t] as f64;
        if u <= 0.0 {
            return t as i64;
        }
    }
    order[0] as i64
}

/// The JSON object in a reply, as written: the whole trimmed text, or the body of one ```json
/// fence.
pub fn json_object_in(text: &str) -> Option<&str> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|r| r.trim_end().strip_suffix("```"))
        .unwrap_or(t)
        .trim();
    serde_json::from_str::<Value>(t).ok().filter(Value::is_object).map(|_| t)
}

impl Engine {
    pub fn load(dir: &Path, device: Device) -> Result<Engine, TrainError> {
        let model = Model::load(dir, device, None)?;
        let encoder = Encoder::load(dir, &model.config.eos_token_ids)?;
        Ok(Engine { model, encoder })
    }

    /// Prompt plus completion tokens the model's positions allow.
    pub fn context_length(&self) -> usize {
        self.model.config.max_position_embeddings as usize
    }

    pub fn load_adapter(&self, dir: &Path) -> Result<Adapter, TrainError> {
        Adapter::load(&self.model, dir)
    }

    /// The chat's token ids, ending with the assistant header. Roles: system, user, assistant.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<i64>, TrainError> {
        let mut ids = Vec::new();
        for m in messages {
            ids.extend(self.encoder.turn(&m.role, &m.content)?);
        }
        ids.extend(self.encoder.assistant_header()?);
        Ok(ids)
    }

    /// Decodes after `prompt` through the KV cache until the end-of-turn token, a stop string
    /// or `max_tokens`.
    pub fn complete(&self, prompt: &[i64], adapter: Option<&Adapter>, p: &SamplingParams, cancel: &AtomicBool) -> Result<Completion, TrainError> {
        let _guard = tch::no_grad_guard();
        let model = &self.model;
        let end = self.encoder.end_token();
        let stops: Vec<i64> = std::iter::once(end).chain(model.config.eos_token_ids.iter().copied()).collect();
        let mut rng = Rng(p.seed);
        let mut cache = KvCache::default();
        let t0 = Instant::now();
        // JSON-object mode: the reply is begun with `{`, so the model can only continue an object.
        let opening: Vec<i64> = if p.json_object { self.encoder.tokens("{")? } else { Vec::new() };
        let prompt: Vec<i64> = prompt.iter().chain(&opening).copied().collect();
        let ids = Tensor::from_slice(&prompt).view([1, prompt.len() as i64]).to_device(model.device);
        let mut hidden = model.hidden_with(&ids, Some(&mut cache), false, adapter);
        let prefill_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut out: Vec<i64> = Vec::new();
        let mut finish = FinishReason::Length;
        let mut text = String::new();
        while out.len() < p.max_tokens {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Canceled);
            }
            let last = hidden.narrow(1, hidden.size()[1] - 1, 1);
            let logits = model.logits(&last).view([-1]);
            let next = sample(&logits, p.temperature, p.top_p, &mut rng);
            if stops.contains(&next) && !p.ignore_eos {
                finish = FinishReason::Stop;
                break;
            }
            out.push(next);
            if !p.stop.is_empty() || p.json_object {
                let so_far = self.encoder.decode(&[&opening[..], &out[..]].concat());
                let object_end = if p.json_object { closed_object_len(&so_far) } else { None };
                let stop_at = p.stop.iter().filter_map(|s| so_far.find(s.as_str())).chain(object_end).min();
                if let Some(at) = stop_at {
                    text = so_far[..at].to_string();
                    finish = FinishReason::Stop;
                    break;
                }
            }
            let ids = Tensor::from_slice(&[next]).view([1, 1]).to_device(model.device);
            hidden = model.hidden_with(&ids, Some(&mut cache), false, adapter);
        }
        if finish == FinishReason::Length || text.is_empty() {
            text = self.encoder.decode(&[&opening[..], &out[..]].concat());
        }
        Ok(Completion {
            text,
            completion_tokens: out.len(),
            finish,
            prefill_s,
            decode_s: t1.elapsed().as_secs_f64(),
            attempts: 1,
            json_ok: true,
        })
    }

    /// JSON-object mode: each attempt begins the reply with `{` and stops where the object
    /// closes; the first attempt samples as `p` says; while the reply does not parse as one JSON
    /// object, up to `retries` more attempts sample at temperature ≥ 0.7 with new seeds. The last reply is returned with
    /// `json_ok` telling whether it holds.
    ///
    /// `accept` judges a parsed object (a JSON Schema, say); a reply it refuses is retried too.
    /// A reply cut by `max_tokens` is not retried: another sample would run as long.
    pub fn complete_json(
        &self,
        prompt: &[i64],
        adapter: Option<&Adapter>,
        p: &SamplingParams,
        retries: usize,
        accept: &dyn Fn(&Value) -> bool,
        cancel: &AtomicBool,
    ) -> Result<Completion, TrainError> {
        let mut params = SamplingParams { json_object: true, ..p.clone() };
        let mut total = Completion { text: String::new(), completion_tokens: 0, finish: FinishReason::Stop, prefill_s: 0.0, decode_s: 0.0, attempts: 0, json_ok: false };
        for attempt in 0..=retries {
            if attempt > 0 {
                params.temperature = p.temperature.max(0.7);
                params.seed = p.seed.wrapping_add(attempt as u64);
            }
            let c = self.complete(prompt, adapter, &params, cancel)?;
            let parsed = json_object_in(&c.text).filter(|t| serde_json::from_str::<Value>(t).is_ok_and(|v| accept(&v)));
            total = Completion {
                text: parsed.map_or_else(|| c.text.clone(), String::from),
                completion_tokens: total.completion_tokens + c.completion_tokens,
                finish: c.finish,
                prefill_s: total.prefill_s + c.prefill_s,
                decode_s: total.decode_s + c.decode_s,
                attempts: attempt + 1,
                json_ok: parsed.is_some(),
            };
            if total.json_ok || c.finish == FinishReason::Length {
                break;
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_are_found_bare_or_fenced_and_nothing_else_passes() {
        assert!(json_object_in(r#" {"a": 1} "#).is_some());
        assert!(json_object_in("```json\n{\"a\": 1}\n```").is_some());
        assert!(json_object_in("```\n{\"a\": 1}\n```").is_some());
        assert!(json_object_in("[1, 2]").is_none());
        assert!(json_object_in("Sure! {\"a\": 1}").is_none());
        assert!(json_object_in("{\"a\": ").is_none());
    }

    #[test]
    fn an_object_closes_where_its_braces_balance_outside_strings() {
        assert_eq!(closed_object_len(r#"{"a": 1} trailing"#), Some(8));
        assert_eq!(closed_object_len(r#"{"a": "}{", "b": [1, {"c": 2}]}x"#), Some(31));
        assert_eq!(closed_object_len(r#"{"a": "\"}"}"#), Some(12));
        assert_eq!(closed_object_len(r#"{"a": [1, 2"#), None);
        assert_eq!(closed_object_len("{}"), Some(2));
    }

    #[test]
    fn greedy_sampling_takes_the_argmax_and_top_p_keeps_the_nucleus() {
        let logits = Tensor::from_slice(&[0.0f32, 5.0, 1.0, 4.9]);
        let mut rng = Rng(7);
        assert_eq!(sample(&logits, 0.0, 1.0, &mut rng), 1);
        // top_p 0.5: token 1 alone holds more than half the mass, so it is always chosen.
        for _ in 0..50 {
            assert_eq!(sample(&logits, 1.0, 0.5, &mut rng), 1);
        }
        // With the whole distribution, tokens 1 and 3 both appear (their mass is ~0.5 each).
        let seen: std::collections::HashSet<i64> = (0..200).map(|_| sample(&logits, 1.0, 1.0, &mut rng)).collect();
        assert!(seen.contains(&1) && seen.contains(&3), "{seen:?}");
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        let xs: Vec<f64> = (0..5).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..5).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(xs[0], Rng(43).next_f64());
    }
}
