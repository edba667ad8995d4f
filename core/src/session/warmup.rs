//! Warm-up sets, always derived from the final working weight (after constraints), so the
//! LLM never sees or changes them.
//!
//! `warmupConfig` shapes understood (the seed app's): `{"type": "preset", "name": N}` with N
//! one of standard, standard_female, minimal, extended, empty_bar; and
//! `{"type": "custom", "steps": [{"pct": 0.5, "reps": 5}, …]}` with pct a fraction of the
//! working weight. Without a config the sex's standard preset is used. Unless the lifter
//! chose the config (`warmupConfigExplicit`), a recovery day (soreness 9+ on a session
//! muscle) or a working weight under 40 kg gets the minimal preset. A config of any other
//! shape falls back to the default with a warning rather than failing the session: warm-ups
//! are advice.
//!
//! Each step is the working weight × pct rounded to the plates, never below the bar; a step
//! that repeats the previous weight is dropped.

use serde_json::Value;

use super::input::JitInput;
use super::output::WarmupSet;
use super::rounding::round_to_increment;
use super::types::Sex;

type Steps = &'static [(f64, u32)];

const STANDARD: Steps = &[(0.4, 5), (0.6, 3), (0.75, 2), (0.9, 1)];
const STANDARD_FEMALE: Steps = &[(0.4, 5), (0.55, 4), (0.7, 3), (0.85, 2), (0.925, 1)];
const MINIMAL: Steps = &[(0.5, 5), (0.75, 2)];
const EXTENDED: Steps = &[(0.3, 10), (0.5, 5), (0.65, 3), (0.8, 2), (0.9, 1), (0.95, 1)];
const EMPTY_BAR: Steps = &[(0.0, 10), (0.5, 5), (0.7, 3), (0.85, 1)];

/// Below this working weight an unconfigured warm-up is the minimal preset.
const LIGHT_WORKING_WEIGHT_KG: f64 = 40.0;

pub(crate) const UNREADABLE_CONFIG: &str = "warmupConfig not understood — default warm-up used";

fn preset(name: &str) -> Option<Steps> {
    Some(match name {
        "standard" => STANDARD,
        "standard_female" => STANDARD_FEMALE,
        "minimal" => MINIMAL,
        "extended" => EXTENDED,
        "empty_bar" => EMPTY_BAR,
        _ => return None,
    })
}

/// The steps a config asks for; `None` when it has a shape we do not understand.
fn configured_steps(config: &Value) -> Option<Vec<(f64, u32)>> {
    match config.get("type").and_then(Value::as_str) {
        Some("preset") => preset(config.get("name")?.as_str()?).map(<[_]>::to_vec),
        Some("custom") => {
            let steps = config.get("steps")?.as_array()?;
            steps
                .iter()
                .map(|s| {
                    let pct = s.get("pct")?.as_f64().filter(|p| (0.0..=1.0).contains(p))?;
                    let reps = s.get("reps")?.as_u64().filter(|r| (1..=50).contains(r))?;
                    Some((pct, reps as u32))
                })
                .collect()
        }
        _ => None,
    }
}

/// Warm-up sets for `working_kg`, plus a warning when the config could not be read.
/// `increment` is the plate increment (auxiliary rounding), not the main lift's.
pub(crate) fn warmup_sets(
    input: &JitInput,
    working_kg: f64,
    increment: f64,
) -> (Vec<WarmupSet>, Option<&'static str>) {
    let configured = input.warmup_config.as_ref().filter(|c| !c.is_null());
    let parsed = configured.map(configured_steps);
    let warning = matches!(parsed, Some(None)).then_some(UNREADABLE_CONFIG);
    let chosen = parsed.flatten();
    let light = input.session_soreness() >= 9.0 || working_kg < LIGHT_WORKING_WEIGHT_KG;
    let steps: Vec<(f64, u32)> = if light && !input.warmup_config_explicit {
        MINIMAL.to_vec()
    } else {
        chosen.unwrap_or_else(|| default_steps(input).to_vec())
    };
    let bar = input.bar_kg();
    let mut out: Vec<WarmupSet> = Vec::new();
    for (pct, reps) in steps {
        let weight = bar.max(round_to_increment(pct * working_kg, increment));
        if out.last().is_some_and(|w| w.weight_kg == weight) {
            continue;
        }
        out.push(WarmupSet { set_number: out.len() as u32 + 1, weight_kg: weight, reps });
    }
    (out, warning)
}

fn default_steps(input: &JitInput) -> Steps {
    if input.biological_sex == Sex::Female {
        STANDARD_FEMALE
    } else {
        STANDARD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::types::{IntensityType, Lift};
    use serde_json::json;

    #[test]
    fn standard_warmup_for_112_5() {
        let input = JitInput::new(Lift::Squat, IntensityType::Heavy, 1, 140.0);
        let (sets, w) = warmup_sets(&input, 112.5, 2.5);
        assert!(w.is_none());
        let weights: Vec<f64> = sets.iter().map(|s| s.weight_kg).collect();
        assert_eq!(weights, vec![45.0, 67.5, 85.0, 102.5]); // 0.75 × 112.5 = 84.375; 0.9 × = 101.25 (halves up)
    }

    #[test]
    fn custom_and_unreadable_configs() {
        let mut input = JitInput::new(Lift::Squat, IntensityType::Heavy, 1, 140.0);
        input.warmup_config = Some(json!({"type": "custom", "steps": [{"pct": 0.5, "reps": 5}]}));
        let (sets, _) = warmup_sets(&input, 100.0, 2.5);
        assert_eq!(sets, vec![WarmupSet { set_number: 1, weight_kg: 50.0, reps: 5 }]);
        input.warmup_config = Some(json!({"protocol": "whatever"}));
        let (sets, w) = warmup_sets(&input, 100.0, 2.5);
        assert_eq!(w, Some(UNREADABLE_CONFIG));
        assert_eq!(sets.len(), 4);
    }
}
