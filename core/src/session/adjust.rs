//! `JITAdjustment` (what the LLM returns) and applying it to the formula base.
//!
//! Adjustment rules (reference): main sets = formula sets + `setModifier`, at least 0 (0 means
//! skipped); weight = formula weight × `intensityModifier`, rounded to the increment;
//! `skipMainLift` skips the main lift. Auxiliaries: `normal` = 3 × 10 @ RPE 7.5 at the
//! catalogue load (or the LLM's `anchorOverride.weightKg`), `reduce` = 2 sets at 0.9 × that
//! load (rounded), `skip` = skipped. `restAdjustments.mainLift` is clamped to ±60 s and
//! reported as `llmRestSuggestion`. The hard constraints run afterwards.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::auxiliary::build_auxiliary;
use super::constraints::{enforce, guard_applies, over_reaction_floor_kg, over_reaction_warning};
use super::error::InputError;
use super::formula::Resolved;
use super::input::JitInput;
use super::output::{push_unique, LlmRestSuggestion, PlannedSet, SessionOutput};
use super::rounding::round_to_increment;
use super::strategy::JitStrategy;
use super::types::named_enum;
use crate::validation::builtin::Builtin;
use crate::validation::{Code, Report, DEFAULT_MAX_DETAILS};

named_enum! {
    /// What to do with one auxiliary exercise.
    pub enum AuxAction {
        Skip => "skip",
        Reduce => "reduce",
        Normal => "normal",
    }
}

named_enum! {
    /// The LLM's confidence in its adjustment (recorded, not acted on).
    pub enum Confidence {
        High => "high",
        Medium => "medium",
        Low => "low",
    }
}

/// The LLM's own load for an auxiliary, replacing the catalogue load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorOverride {
    pub weight_kg: f64,
    pub reason: String,
}

/// One auxiliary override, the normalised form of both wire forms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuxOverride {
    pub exercise: String,
    pub action: AuxAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_override: Option<AnchorOverride>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestAdjustments {
    /// Seconds to add to (negative: remove from) the main-lift rest.
    #[serde(default)]
    pub main_lift: Option<f64>,
}

/// The LLM's adjustment of a formula session.
///
/// `auxOverrides` is read in both forms the schema allows, the record
/// `{"Leg Press": "skip"}` (the seed's Zod schema) and the array
/// `[{"exercise", "action", "anchorOverride"}]` (OpenAI strict mode, which cannot express
/// records), and always written as the array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JitAdjustment {
    pub intensity_modifier: f64,
    pub set_modifier: i32,
    pub skip_main_lift: bool,
    #[serde(deserialize_with = "either_form")]
    pub aux_overrides: Vec<AuxOverride>,
    pub rationale: Vec<String>,
    pub confidence: Confidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_adjustments: Option<RestAdjustments>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AuxOverridesWire {
    Record(BTreeMap<String, AuxAction>),
    List(Vec<AuxOverride>),
}

fn either_form<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AuxOverride>, D::Error> {
    Ok(match AuxOverridesWire::deserialize(d)? {
        AuxOverridesWire::Record(map) => map
            .into_iter()
            .map(|(exercise, action)| AuxOverride { exercise, action, anchor_override: None })
            .collect(),
        AuxOverridesWire::List(list) => list,
    })
}

impl JitAdjustment {
    /// An adjustment that changes nothing.
    pub fn neutral() -> Self {
        JitAdjustment {
            intensity_modifier: 1.0,
            set_modifier: 0,
            skip_main_lift: false,
            aux_overrides: Vec::new(),
            rationale: Vec::new(),
            confidence: Confidence::High,
            rest_adjustments: None,
        }
    }

    /// Validates `value` against the built-in `jit_adjustment` schema, then decodes it.
    /// The error is the full validation report.
    pub fn from_value(value: &Value) -> Result<JitAdjustment, Report> {
        let report = Builtin::JitAdjustment.compiled().validate(value, DEFAULT_MAX_DETAILS);
        if !report.is_valid() {
            return Err(report);
        }
        serde_json::from_value(value.clone()).map_err(|e| {
            // Unreachable for schema-valid documents; reported rather than trusted.
            let mut report = Report::new(DEFAULT_MAX_DETAILS);
            report.push("", Code::InvalidValue, e.to_string());
            report
        })
    }

    /// Re-validates an adjustment built in Rust against the schema (bounds, NaN, lengths).
    pub fn check(&self) -> Result<(), Report> {
        let value = serde_json::to_value(self).map_err(|e| {
            let mut report = Report::new(DEFAULT_MAX_DETAILS);
            report.push("", Code::InvalidValue, e.to_string());
            report
        })?;
        Self::from_value(&value).map(drop)
    }
}

/// Applies `adjustment` to the formula base of `input`, then enforces the hard
/// constraints. The session is labelled `llm`.
pub fn apply_adjustment(input: &JitInput, adjustment: &JitAdjustment) -> Result<SessionOutput, InputError> {
    let r = Resolved::new(input)?;
    adjustment.check().map_err(|report| InputError::invalid_adjustment("adjustment", &report))?;
    Ok(apply_resolved(input, &r, adjustment))
}

/// [`apply_adjustment`] for a resolved input and a checked adjustment.
pub(crate) fn apply_resolved(input: &JitInput, r: &Resolved, adj: &JitAdjustment) -> SessionOutput {
    let mut s = SessionOutput::empty(JitStrategy::Llm, r.rest);
    s.rationale = adj.rationale.clone();
    let base_count = r.base_count() as i64;

    let mut set_modifier = i64::from(adj.set_modifier);
    let mut weight = round_to_increment(r.base_weight * adj.intensity_modifier, r.increment);
    // Over-reaction guard on the adjustment itself, so that a cut to zero sets (which
    // would read as a skip) is also held to −1 set. The same guard runs on the session in
    // `enforce` for sessions that arrive already adjusted.
    if !adj.skip_main_lift && guard_applies(input) && set_modifier < 0 && adj.intensity_modifier < 1.0 {
        let floor = over_reaction_floor_kg(r);
        if set_modifier < -1 || weight < floor {
            set_modifier = set_modifier.max(-1);
            weight = weight.max(floor);
            let n = (base_count + set_modifier).max(0);
            push_unique(&mut s.warnings, over_reaction_warning(n as usize, weight));
        }
    }

    if adj.skip_main_lift {
        s.skipped_main_lift = true;
    } else {
        let count = (base_count + set_modifier).max(0) as usize;
        s.main_lift_sets = r
            .base_sets
            .iter()
            .cycle()
            .take(count)
            .enumerate()
            .map(|(i, b)| PlannedSet { set_number: i as u32 + 1, weight_kg: weight, ..b.clone() })
            .collect();
        s.skipped_main_lift = count == 0;
    }

    s.auxiliary_work = build_auxiliary(input, r, &adj.aux_overrides, adj.intensity_modifier, &mut s.warnings);

    if let Some(delta) = adj.rest_adjustments.and_then(|ra| ra.main_lift).filter(|d| d.is_finite()) {
        s.llm_rest_suggestion = Some(LlmRestSuggestion {
            // Whole seconds: rest timers count seconds.
            delta_seconds: delta.clamp(-60.0, 60.0).round() as i64,
            formula_base_seconds: r.rest.main_lift,
        });
    }

    enforce(input, r, s)
}
