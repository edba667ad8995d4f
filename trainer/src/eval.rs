//! Greedy decoding on the holdout and the quality gate.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::Value;
use tch::Tensor;

use crate::data::{Encoded, Encoder, Example};
use crate::model::{KvCache, Model};
use crate::TrainError;

#[derive(Serialize, Clone, Debug, Default)]
pub struct Metrics {
    pub examples: usize,
    /// Generated `name` equals the expected tool (null for "no tool").
    pub tool_name_match: f64,
    /// Of examples with required parameters: all of them present in the generated arguments.
    pub required_param_presence: f64,
    pub required_param_examples: usize,
    pub json_parse_rate: f64,
    /// Right tool and exactly the expected arguments.
    pub argument_exact_match: f64,
}

#[derive(Serialize, Clone, Debug)]
pub struct Gate {
    pub threshold: f64,
    pub passed: bool,
    pub reasons: Vec<String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct Sample {
    pub user: String,
    pub expected: String,
    pub generated: String,
}

/// Greedy decoding of one answer after `prefix` (the shared system turn, already in `cache`).
pub fn generate(model: &Model, cache: &KvCache, prompt: &[i64], end: i64, max_new: usize, cancel: &AtomicBool) -> Result<Vec<i64>, TrainError> {
    let mut cache = cache.share();
    let device = model.device;
    let ids = Tensor::from_slice(prompt).view([1, prompt.len() as i64]).to_device(device);
    let mut hidden = model.hidden(&ids, Some(&mut cache), false);
    let mut out = Vec::new();
    for _ in 0..max_new {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Canceled);
        }
        let last = hidden.narrow(1, hidden.size()[1] - 1, 1);
        let next = model.logits(&last).argmax(-1, false).int64_value(&[0, 0]);
        if next == end {
            break;
        }
        out.push(next);
        let ids = Tensor::from_slice(&[next]).view([1, 1]).to_device(device);
        hidden = model.hidden(&ids, Some(&mut cache), false);
    }
    Ok(out)
}

/// Scores one generated text against its example: (name ok, parsed, args ok, required ok).
pub fn score(e: &Example, text: &str) -> (bool, bool, bool, Option<bool>) {
    let parsed: Option<Value> = serde_json::from_str::<Value>(text.trim()).ok().filter(Value::is_object);
    let required = (!e.required.is_empty()).then(|| {
        parsed
            .as_ref()
            .and_then(|v| v.get("arguments"))
            .and_then(Value::as_object)
            .is_some_and(|args| e.required.iter().all(|r| args.contains_key(r)))
    });
    let Some(v) = parsed else { return (false, false, false, required) };
    let name_ok = match (&e.tool, v.get("name")) {
        (Some(t), Some(Value::String(n))) => n == t,
        (None, Some(Value::Null)) => true,
        _ => false,
    };
    // Arguments only count for the right tool: the whole call must be exact.
    let args_ok = name_ok && v.get("arguments").and_then(Value::as_object).is_some_and(|a| a == &e.arguments);
    (name_ok, true, args_ok, required)
}

pub fn evaluate(
    model: &Model,
    encoder: &Encoder,
    holdout: &[(&Example, Encoded)],
    max_new: usize,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Metrics, Vec<Sample>), TrainError> {
    let _guard = tch::no_grad_guard();
    let (mut name, mut parsed, mut args, mut req_hits, mut req_n) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut samples = Vec::new();
    let mut prefix: Option<(Vec<i64>, KvCache)> = None;
    for (i, (e, enc)) in holdout.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Canceled);
        }
        // The system turn's keys and values are computed once per distinct prompt.
        let cache = match &prefix {
            Some((ids, cache)) if ids == &enc.system => cache,
            _ => {
                let mut cache = KvCache::default();
                if !enc.system.is_empty() {
                    let ids = Tensor::from_slice(&enc.system).view([1, enc.system.len() as i64]).to_device(model.device);
                    let _ = model.hidden(&ids, Some(&mut cache), false);
                }
                &prefix.insert((enc.system.clone(), cache)).1
            }
        };
        let out = generate(model, cache, &enc.prompt, encoder.end_token(), max_new, cancel)?;
        let text = encoder.decode(&out);
        let (n_ok, p_ok, a_ok, r_ok) = score(e, &text);
        name += n_ok as usize;
        parsed += p_ok as usize;
        args += a_ok as usize;
        if let Some(r) = r_ok {
            req_n += 1;
            req_hits += r as usize;
        }
        if samples.len() < 20 {
            samples.push(Sample { user: e.user.clone(), expected: e.target.clone(), generated: text });
        }
        progress(i + 1, holdout.len());
    }
    let n = holdout.len();
    let rate = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
    Ok((
        Metrics {
            examples: n,
            tool_name_match: rate(name, n),
            // No example with required parameters: nothing can be missing.
            required_param_presence: if req_n == 0 { 1.0 } else { rate(req_hits, req_n) },
            required_param_examples: req_n,
            json_parse_rate: rate(parsed, n),
            argument_exact_match: rate(args, n),
        },
        samples,
    ))
}

pub fn gate(m: &Metrics, threshold: f64) -> Gate {
    let mut reasons = Vec::new();
    if m.examples == 0 {
        reasons.push("the holdout is empty: nothing to judge the adapter on".to_string());
    }
    if m.tool_name_match < threshold {
        reasons.push(format!("tool-name match {:.3} < {threshold}", m.tool_name_match));
    }
    if m.required_param_presence < threshold {
        reasons.push(format!("required-parameter presence {:.3} < {threshold}", m.required_param_presence));
    }
    Gate { threshold, passed: reasons.is_empty(), reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(tool: Option<&str>, args: serde_json::Value, required: &[&str]) -> Example {
        Example {
            split: "holdout".into(),
            system: String::new(),
            user: String::new(),
            target: String::new(),
            tool: tool.map(String::from),
            arguments: args.as_object().cloned().unwrap_or_default(),
            required: required.iter().map(|s| s.to_string()).collect(),
            kind: "positive".into(),
            command: String::new(),
        }
    }

    #[test]
    fn scoring_each_metric() {
        let e = example(Some("set_timer"), json!({"minutes": 5}), &["minutes"]);
        assert_eq!(score(&e, r#"{"name":"set_timer","arguments":{"minutes":5}}"#), (true, true, true, Some(true)));
        assert_eq!(score(&e, r#"{"name":"set_timer","arguments":{"minutes":6}}"#), (true, true, false, Some(true)));
        assert_eq!(score(&e, r#"{"name":"set_timer","arguments":{}}"#), (true, true, false, Some(false)));
        assert_eq!(score(&e, r#"{"name":"get_weather","arguments":{"minutes":5}}"#), (false, true, false, Some(true)));
        assert_eq!(score(&e, r#"{"name":"set_timer","#), (false, false, false, Some(false)));
        let none = example(None, json!({}), &[]);
        assert_eq!(score(&none, r#"{"name":null,"arguments":{}}"#), (true, true, true, None));
        assert_eq!(score(&none, r#"{"name":"x","arguments":{}}"#).0, false);
    }

    #[test]
    fn the_gate_needs_both_rates_and_a_holdout() {
        let m = |n, name, req| Metrics { examples: n, tool_name_match: name, required_param_presence: req, ..Metrics::default() };
        assert!(gate(&m(10, 0.9, 0.8), 0.8).passed);
        assert!(!gate(&m(10, 0.79, 1.0), 0.8).passed);
        assert!(!gate(&m(10, 1.0, 0.5), 0.8).passed);
        let empty = gate(&m(0, 1.0, 1.0), 0.8);
        assert!(!empty.passed && empty.reasons[0].contains("holdout is empty"));
    }
}
