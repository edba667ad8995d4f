//! The formula generator's tables: loading by block and intensity, deload, rest, rounding.
//!
//! [`FormulaConfig`] uses the seed app's shape and snake_case keys (`block1.heavy.rpe_target`,
//! `rest_seconds.block2.rep`, `rounding_increment_kg`) so an app can pass its stored
//! `formulaConfig` unchanged; camelCase keys are accepted as well.
//!
//! Ranged prescriptions resolve deterministically, as the seed app's set calculator does:
//! a set range resolves to its midpoint rounded up (2–3 → 3, 3–4 → 4) and a rep range to its
//! bottom (8–12 → 8, 1–2 → 1); the full rep range is stated in the rationale so the lifter
//! knows the top of the range is allowed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::autoreg::formula_main;
use super::auxiliary::build_formula_auxiliary;
use super::constraints::enforce;
use super::error::InputError;
use super::input::{check_increment, JitInput};
use super::output::{PlannedSet, RestSeconds, SessionOutput};
use super::rounding::{kg, round_to_increment};
use super::strategy::JitStrategy;
use super::types::{IntensityType, Sex};

/// A prescription with a fixed set count (heavy, explosive, deload).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedLoading {
    pub pct: f64,
    pub sets: u32,
    pub reps: u32,
    /// Top of the rep range when the reps are a range (block 3 heavy: 1–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reps_max: Option<u32>,
    pub rpe_target: f64,
}

/// A rep-day prescription: set and rep ranges.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RangeLoading {
    pub pct: f64,
    pub sets_min: u32,
    pub sets_max: u32,
    pub reps_min: u32,
    pub reps_max: u32,
    pub rpe_target: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockLoading {
    pub heavy: FixedLoading,
    pub explosive: FixedLoading,
    pub rep: RangeLoading,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRest {
    pub heavy: u32,
    pub explosive: u32,
    pub rep: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestConfig {
    pub block1: BlockRest,
    pub block2: BlockRest,
    pub block3: BlockRest,
    pub deload: u32,
    pub auxiliary: u32,
}

/// Everything the formula generator needs besides the lifter's state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormulaConfig {
    pub block1: BlockLoading,
    pub block2: BlockLoading,
    pub block3: BlockLoading,
    pub deload: FixedLoading,
    pub rounding_increment_kg: f64,
    pub rest_seconds: RestConfig,
}

/// The resolved prescription of one session's main lift, before any adjustment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prescription {
    pub pct: f64,
    pub sets: u32,
    pub reps: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reps_max: Option<u32>,
    pub rpe_target: f64,
}

const fn fixed(pct: f64, sets: u32, reps: u32, rpe_target: f64) -> FixedLoading {
    FixedLoading { pct, sets, reps, reps_max: None, rpe_target }
}

const fn ranged(pct: f64, sets: (u32, u32), reps: (u32, u32), rpe_target: f64) -> RangeLoading {
    RangeLoading { pct, sets_min: sets.0, sets_max: sets.1, reps_min: reps.0, reps_max: reps.1, rpe_target }
}

const fn rest(heavy: u32, explosive: u32, rep: u32) -> BlockRest {
    BlockRest { heavy, explosive, rep }
}

/// Default rounding increment, kg.
pub const DEFAULT_INCREMENT_KG: f64 = 2.5;

/// The reference's male defaults.
pub const DEFAULT_MALE: FormulaConfig = FormulaConfig {
    block1: BlockLoading {
        heavy: fixed(0.80, 2, 5, 8.5),
        explosive: fixed(0.65, 3, 8, 7.0),
        rep: ranged(0.70, (2, 3), (8, 12), 8.0),
    },
    block2: BlockLoading {
        heavy: fixed(0.85, 2, 3, 9.0),
        explosive: fixed(0.70, 2, 6, 7.5),
        rep: ranged(0.80, (2, 3), (4, 8), 8.0),
    },
    block3: BlockLoading {
        heavy: FixedLoading { pct: 0.90, sets: 4, reps: 1, reps_max: Some(2), rpe_target: 9.5 },
        explosive: fixed(0.75, 2, 2, 8.0),
        rep: ranged(0.85, (2, 3), (3, 5), 8.5),
    },
    deload: fixed(0.40, 3, 5, 5.0),
    rounding_increment_kg: DEFAULT_INCREMENT_KG,
    rest_seconds: RestConfig {
        block1: rest(180, 120, 120),
        block2: rest(210, 150, 120),
        block3: rest(300, 180, 150),
        deload: 90,
        auxiliary: 90,
    },
};

/// The reference's female defaults.
pub const DEFAULT_FEMALE: FormulaConfig = FormulaConfig {
    block1: BlockLoading {
        heavy: fixed(0.80, 3, 5, 8.0),
        explosive: fixed(0.65, 3, 8, 6.5),
        rep: ranged(0.70, (3, 4), (8, 12), 7.5),
    },
    block2: BlockLoading {
        heavy: fixed(0.85, 3, 3, 8.5),
        explosive: fixed(0.70, 2, 6, 7.0),
        rep: ranged(0.80, (3, 4), (4, 8), 7.5),
    },
    block3: BlockLoading {
        heavy: FixedLoading { pct: 0.90, sets: 4, reps: 1, reps_max: Some(2), rpe_target: 9.0 },
        explosive: fixed(0.75, 2, 2, 7.5),
        rep: ranged(0.85, (2, 3), (3, 5), 8.0),
    },
    deload: fixed(0.40, 3, 5, 5.0),
    rounding_increment_kg: DEFAULT_INCREMENT_KG,
    rest_seconds: RestConfig {
        block1: rest(150, 90, 90),
        block2: rest(180, 120, 90),
        block3: rest(270, 150, 120),
        deload: 90,
        auxiliary: 90,
    },
};

const HINT_CONFIG: &str = "formulaConfig is a partial override of the default formula config, e.g. \
     {\"block1\": {\"heavy\": {\"sets\": 3}}, \"rounding_increment_kg\": 5}.";

impl FormulaConfig {
    /// The default config for `sex`.
    pub fn default_for(sex: Sex) -> FormulaConfig {
        match sex {
            Sex::Male => DEFAULT_MALE,
            Sex::Female => DEFAULT_FEMALE,
        }
    }

    /// The sex's defaults deep-merged with `overrides` (objects merge key by key, any
    /// other value replaces, null leaves the default), then range-checked.
    pub fn resolve(sex: Sex, overrides: Option<&Value>) -> Result<FormulaConfig, InputError> {
        let defaults = FormulaConfig::default_for(sex);
        let Some(overrides) = overrides.filter(|v| !v.is_null()) else {
            return Ok(defaults);
        };
        if !overrides.is_object() {
            return Err(InputError::invalid_type(
                "formulaConfig",
                format!("must be an object, got {}", crate::validation::schema::json_type(overrides)),
                HINT_CONFIG,
            ));
        }
        let mut merged = serde_json::to_value(defaults).map_err(|e| {
            InputError::invalid_type("formulaConfig", format!("could not be prepared: {e}"), HINT_CONFIG)
        })?;
        merge(&mut merged, &snake_keys(overrides));
        let config: FormulaConfig = serde_json::from_value(merged).map_err(|e| {
            InputError::invalid_type("formulaConfig", format!("is invalid: {e}"), HINT_CONFIG)
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), InputError> {
        let bad =
            |field: String, problem: String| Err(InputError::out_of_range(&field, problem, HINT_CONFIG));
        let fixed_ok = |field: &str, l: &FixedLoading| -> Result<(), InputError> {
            check_loading(field, l.pct, l.sets, l.sets, l.reps, l.reps_max.unwrap_or(l.reps), l.rpe_target)
        };
        for (name, block) in [("block1", &self.block1), ("block2", &self.block2), ("block3", &self.block3)] {
            fixed_ok(&format!("formulaConfig.{name}.heavy"), &block.heavy)?;
            fixed_ok(&format!("formulaConfig.{name}.explosive"), &block.explosive)?;
            let r = &block.rep;
            check_loading(
                &format!("formulaConfig.{name}.rep"),
                r.pct,
                r.sets_min,
                r.sets_max,
                r.reps_min,
                r.reps_max,
                r.rpe_target,
            )?;
        }
        fixed_ok("formulaConfig.deload", &self.deload)?;
        check_increment("formulaConfig.rounding_increment_kg", self.rounding_increment_kg)?;
        let r = &self.rest_seconds;
        let rests = [
            r.block1.heavy,
            r.block1.explosive,
            r.block1.rep,
            r.block2.heavy,
            r.block2.explosive,
            r.block2.rep,
            r.block3.heavy,
            r.block3.explosive,
            r.block3.rep,
            r.deload,
            r.auxiliary,
        ];
        if let Some(s) = rests.iter().find(|s| **s > 3600) {
            return bad("formulaConfig.rest_seconds".into(), format!("must be at most 3600 s, got {s}"));
        }
        Ok(())
    }

    /// The main-lift prescription of a block (1..3) and intensity.
    pub fn prescription(&self, block_number: u8, intensity: IntensityType) -> Prescription {
        let block = self.block(block_number);
        let from_fixed = |l: &FixedLoading| Prescription {
            pct: l.pct,
            sets: l.sets,
            reps: l.reps,
            reps_max: l.reps_max.filter(|m| *m > l.reps),
            rpe_target: l.rpe_target,
        };
        match intensity {
            IntensityType::Heavy => from_fixed(&block.heavy),
            IntensityType::Explosive => from_fixed(&block.explosive),
            IntensityType::Deload => from_fixed(&self.deload),
            IntensityType::Rep => {
                let r = &block.rep;
                Prescription {
                    pct: r.pct,
                    // Midpoint rounded up; `check` guarantees min <= max and both >= 1.
                    sets: (r.sets_min + r.sets_max).div_ceil(2),
                    reps: r.reps_min,
                    reps_max: Some(r.reps_max).filter(|m| *m > r.reps_min),
                    rpe_target: r.rpe_target,
                }
            }
        }
    }

    /// Rest between main-lift sets.
    pub fn main_rest_seconds(&self, block_number: u8, intensity: IntensityType) -> u32 {
        let block = match block_number {
            2 => &self.rest_seconds.block2,
            3 => &self.rest_seconds.block3,
            _ => &self.rest_seconds.block1,
        };
        match intensity {
            IntensityType::Heavy => block.heavy,
            IntensityType::Explosive => block.explosive,
            IntensityType::Rep => block.rep,
            IntensityType::Deload => self.rest_seconds.deload,
        }
    }

    fn block(&self, block_number: u8) -> &BlockLoading {
        match block_number {
            2 => &self.block2,
            3 => &self.block3,
            // Inputs are validated to 1..3 before any table is read.
            _ => &self.block1,
        }
    }
}

fn check_loading(
    field: &str,
    pct: f64,
    sets_min: u32,
    sets_max: u32,
    reps_min: u32,
    reps_max: u32,
    rpe: f64,
) -> Result<(), InputError> {
    let bad = |what: &str, problem: String| {
        Err(InputError::out_of_range(&format!("{field}.{what}"), problem, HINT_CONFIG))
    };
    if !(pct.is_finite() && pct > 0.0 && pct <= 1.5) {
        return bad("pct", format!("must be a fraction of 1RM in (0, 1.5], got {pct}"));
    }
    if !(1..=20).contains(&sets_min) || !(1..=20).contains(&sets_max) || sets_min > sets_max {
        return bad("sets", format!("must be 1..20 (min <= max), got {sets_min}..{sets_max}"));
    }
    if !(1..=100).contains(&reps_min) || !(1..=100).contains(&reps_max) || reps_min > reps_max {
        return bad("reps", format!("must be 1..100 (min <= max), got {reps_min}..{reps_max}"));
    }
    if !(rpe.is_finite() && (1.0..=10.0).contains(&rpe)) {
        return bad("rpe_target", format!("must be between 1 and 10, got {rpe}"));
    }
    Ok(())
}

/// Deep merge: objects merge key by key; null leaves the target alone; anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (_, Value::Null) => {}
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None if !v.is_null() => {
                        t.insert(k.clone(), v.clone());
                    }
                    None => {}
                }
            }
        }
        (slot, p) => *slot = p.clone(),
    }
}

/// `roundingIncrementKg` → `rounding_increment_kg`, recursively (values untouched).
fn snake_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(snake(k), snake_keys(v));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Everything derived once from a validated input: tables, increment, base prescription.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Resolved {
    pub config: FormulaConfig,
    pub increment: f64,
    pub prescription: Prescription,
    /// The formula working weight, rounded: what `intensityModifier` multiplies.
    pub base_weight: f64,
    pub base_sets: Vec<PlannedSet>,
    pub rest: RestSeconds,
}

impl Resolved {
    pub fn new(input: &JitInput) -> Result<Resolved, InputError> {
        input.validate()?;
        let config = FormulaConfig::resolve(input.biological_sex, input.formula_config.as_ref())?;
        // The coarser step wins: the program's rounding policy and the lifter's plates both hold.
        let increment =
            input.weight_increment_kg.map_or(config.rounding_increment_kg, |w| w.max(config.rounding_increment_kg));
        let prescription = config.prescription(input.block_number, input.intensity_type);
        let base_weight = round_to_increment(prescription.pct * input.one_rm_kg, increment);
        let base_sets = (1..=prescription.sets)
            .map(|n| PlannedSet {
                set_number: n,
                weight_kg: base_weight,
                reps: prescription.reps,
                rpe_target: prescription.rpe_target,
            })
            .collect();
        let rest = RestSeconds {
            main_lift: config.main_rest_seconds(input.block_number, input.intensity_type),
            auxiliary: config.rest_seconds.auxiliary,
        };
        Ok(Resolved { config, increment, prescription, base_weight, base_sets, rest })
    }

    pub fn base_count(&self) -> usize {
        self.base_sets.len()
    }

    /// "Block 1 heavy: 2 × 5 @ 80% 1RM = 112.5 kg, RPE 8.5".
    pub fn describe(&self, input: &JitInput) -> String {
        let p = &self.prescription;
        let reps = match p.reps_max {
            Some(max) => format!("{}–{max}", p.reps),
            None => p.reps.to_string(),
        };
        let day = match input.intensity_type {
            IntensityType::Deload => "Deload".to_string(),
            other => format!("Block {} {other}", input.block_number),
        };
        format!(
            "{day}: {} × {reps} @ {}% 1RM = {} kg, RPE {}",
            p.sets,
            kg(p.pct * 100.0),
            kg(self.base_weight),
            p.rpe_target
        )
    }
}

/// The formula base of the main lift: the loading table applied to the 1RM, rounded to the
/// increment, before autoregulation, adjustment or constraints.
pub fn base_main_sets(input: &JitInput) -> Result<Vec<PlannedSet>, InputError> {
    Ok(Resolved::new(input)?.base_sets)
}

/// The formula session for `input`, labelled `formula`: the loading table, the formula's
/// autoregulation (see [`super::autoreg`]), auxiliaries at their catalogue loads, then the
/// hard constraints.
pub fn formula_session(input: &JitInput) -> Result<SessionOutput, InputError> {
    let r = Resolved::new(input)?;
    Ok(formula_session_resolved(input, &r))
}

pub(crate) fn formula_session_resolved(input: &JitInput, r: &Resolved) -> SessionOutput {
    let plan = formula_main(input, r);
    let mut s = SessionOutput::empty(JitStrategy::Formula, r.rest);
    s.auxiliary_work = build_formula_auxiliary(input, r, &plan, &mut s.warnings);
    s.main_lift_sets = plan.sets;
    s.skipped_main_lift = plan.skipped;
    s.rationale = plan.rationale;
    let mut warnings = plan.warnings;
    warnings.append(&mut s.warnings);
    s.warnings = warnings;
    enforce(input, r, s)
}

/// The resolved config (defaults for the sex merged with `formulaConfig`).
pub fn resolved_config(input: &JitInput) -> Result<FormulaConfig, InputError> {
    input.validate()?;
    FormulaConfig::resolve(input.biological_sex, input.formula_config.as_ref())
}

/// The effective rounding increment of the main lift: the coarser of `weightIncrementKg` and
/// the config's `rounding_increment_kg`.
pub fn increment_kg(input: &JitInput) -> Result<f64, InputError> {
    Ok(Resolved::new(input)?.increment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camel_case_overrides_merge() {
        let c = FormulaConfig::resolve(
            Sex::Male,
            Some(&json!({"roundingIncrementKg": 5, "block1": {"heavy": {"sets": 3, "rpeTarget": 8}}})),
        )
        .unwrap();
        assert_eq!(c.rounding_increment_kg, 5.0);
        assert_eq!(c.block1.heavy.sets, 3);
        assert_eq!(c.block1.heavy.rpe_target, 8.0);
        assert_eq!(c.block1.heavy.reps, 5);
    }

    #[test]
    fn bad_overrides_are_errors() {
        let e =
            FormulaConfig::resolve(Sex::Male, Some(&json!({"block1": {"heavy": {"sets": 0}}}))).unwrap_err();
        assert_eq!(e.field, "formulaConfig.block1.heavy.sets");
        let e = FormulaConfig::resolve(Sex::Male, Some(&json!({"deload": {"pct": "x"}}))).unwrap_err();
        assert_eq!(e.field, "formulaConfig");
        let e = FormulaConfig::resolve(Sex::Male, Some(&json!([1]))).unwrap_err();
        assert_eq!(e.field, "formulaConfig");
    }
}
