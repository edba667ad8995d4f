//! The session document every strategy produces. Its keys are the SQL contract.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::InputError;
use super::input::{decodes, locate, Check};
use super::strategy::{Divergence, FallbackReason, JitStrategy};

/// One working set. Snake-case keys, as the reference spells them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedSet {
    pub set_number: u32,
    pub weight_kg: f64,
    pub reps: u32,
    pub rpe_target: f64,
}

/// One warm-up set (no RPE target: warm-ups are submaximal by construction).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmupSet {
    pub set_number: u32,
    pub weight_kg: f64,
    pub reps: u32,
}

/// An auxiliary exercise of the session. `skipReason` is always present (null unless skipped)
/// so SQL can read it without testing for the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuxiliaryWork {
    pub exercise: String,
    #[serde(default)]
    pub sets: Vec<PlannedSet>,
    #[serde(default)]
    pub skipped: bool,
    #[serde(rename = "skipReason", default)]
    pub skip_reason: Option<String>,
    /// weighted, bodyweight or timed (from the catalogue; absent on sessions built elsewhere).
    #[serde(rename = "exerciseType", default, skip_serializing_if = "Option::is_none")]
    pub exercise_type: Option<String>,
    /// A bodyweight exercise the engine added because equipment is unavailable.
    #[serde(rename = "isCompensation", default, skip_serializing_if = "std::ops::Not::not")]
    pub is_compensation: bool,
}

/// Rest between sets, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestSeconds {
    pub main_lift: u32,
    pub auxiliary: u32,
}

/// The LLM's main-lift rest change, clamped to ±60 s. Advisory: `restSeconds` keeps the
/// formula value so that rest never changes behind the lifter's back; the app offers this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmRestSuggestion {
    pub delta_seconds: i64,
    pub formula_base_seconds: u32,
}

/// A generated session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOutput {
    pub main_lift_sets: Vec<PlannedSet>,
    pub skipped_main_lift: bool,
    #[serde(default)]
    pub auxiliary_work: Vec<AuxiliaryWork>,
    #[serde(default)]
    pub warmup_sets: Vec<WarmupSet>,
    /// Always recomputed from the formula tables by the hard constraints.
    #[serde(default)]
    pub rest_seconds: RestSeconds,
    #[serde(default)]
    pub rationale: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// A session that arrives without a label is treated as an LLM session, the label under
    /// which every hard constraint (including the over-reaction guard) applies.
    #[serde(rename = "jit_strategy", default = "unlabelled")]
    pub jit_strategy: JitStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_rest_suggestion: Option<LlmRestSuggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
    /// Always present; null unless `jit_strategy` is `formula_fallback`.
    #[serde(rename = "fallback_reason", default)]
    pub fallback_reason: Option<FallbackReason>,
}

fn unlabelled() -> JitStrategy {
    JitStrategy::Llm
}

impl SessionOutput {
    pub(crate) fn empty(jit_strategy: JitStrategy, rest_seconds: RestSeconds) -> Self {
        SessionOutput {
            main_lift_sets: Vec::new(),
            skipped_main_lift: false,
            auxiliary_work: Vec::new(),
            warmup_sets: Vec::new(),
            rest_seconds,
            rationale: Vec::new(),
            warnings: Vec::new(),
            jit_strategy,
            llm_rest_suggestion: None,
            divergence: None,
            fallback_reason: None,
        }
    }

    /// Reads a session document (as passed to `enforce_hard_constraints`), reporting the
    /// first bad field by path. Weights must be finite and non-negative.
    pub fn from_value(value: &Value) -> Result<SessionOutput, InputError> {
        let Some(map) = value.as_object() else {
            return Err(InputError::invalid_type(
                "",
                format!(
                    "must be a JSON object (a session), got {}",
                    crate::validation::schema::json_type(value)
                ),
                "Pass the session document returned by jitgen.formula_session or jitgen.apply_adjustment.",
            ));
        };
        if crate::validation::depth(value) > crate::validation::MAX_DEPTH {
            return Err(InputError::out_of_range(
                "",
                format!("nests deeper than {} levels", crate::validation::MAX_DEPTH),
                "Pass a session document, not arbitrary nested JSON.",
            ));
        }
        for key in ["mainLiftSets", "skippedMainLift"] {
            if map.get(key).is_none_or(Value::is_null) {
                return Err(InputError::missing(key, "A session needs mainLiftSets and skippedMainLift."));
            }
        }
        let session: SessionOutput = serde_json::from_value(value.clone()).map_err(|e| {
            locate(map, &SESSION_CHECKS, e, "Compare the session with the output of jitgen.formula_session.")
        })?;
        session.check()?;
        Ok(session)
    }

    /// Weights and RPE targets must be finite and weights non-negative; JSON cannot carry
    /// NaN, but a session built in Rust can.
    pub(crate) fn check(&self) -> Result<(), InputError> {
        const HINT: &str = "Weights are kilograms >= 0; RPE targets are finite numbers.";
        let check_sets = |base: &str, sets: &[PlannedSet]| -> Result<(), InputError> {
            for (i, s) in sets.iter().enumerate() {
                if !(s.weight_kg.is_finite() && s.weight_kg >= 0.0) {
                    let f = format!("{base}[{i}].weight_kg");
                    return Err(InputError::out_of_range(
                        &f,
                        format!("must be >= 0, got {}", s.weight_kg),
                        HINT,
                    ));
                }
                if !s.rpe_target.is_finite() {
                    let f = format!("{base}[{i}].rpe_target");
                    return Err(InputError::out_of_range(&f, "must be a finite number", HINT));
                }
            }
            Ok(())
        };
        check_sets("mainLiftSets", &self.main_lift_sets)?;
        for (i, a) in self.auxiliary_work.iter().enumerate() {
            check_sets(&format!("auxiliaryWork[{i}].sets"), &a.sets)?;
        }
        Ok(())
    }

    /// The working weight (the heaviest main set), 0 when the main lift is skipped.
    pub fn top_weight_kg(&self) -> f64 {
        self.main_lift_sets.iter().map(|s| s.weight_kg).fold(0.0, f64::max)
    }
}

/// Adds `message` unless it is already there, so that re-running the constraints on their
/// own output does not repeat warnings.
pub(crate) fn push_unique(list: &mut Vec<String>, message: String) {
    if !list.contains(&message) {
        list.push(message);
    }
}

/// Field-by-field decoders used to name the field a session fails on.
static SESSION_CHECKS: [(&str, Check); 10] = [
    ("mainLiftSets", Check::ListOf(decodes::<PlannedSet>)),
    ("skippedMainLift", Check::One(decodes::<bool>)),
    ("auxiliaryWork", Check::ListOf(decodes::<AuxiliaryWork>)),
    ("warmupSets", Check::ListOf(decodes::<WarmupSet>)),
    ("restSeconds", Check::One(decodes::<RestSeconds>)),
    ("rationale", Check::One(decodes::<Vec<String>>)),
    ("warnings", Check::One(decodes::<Vec<String>>)),
    ("jit_strategy", Check::One(decodes::<JitStrategy>)),
    ("llmRestSuggestion", Check::One(decodes::<Option<LlmRestSuggestion>>)),
    ("fallback_reason", Check::One(decodes::<Option<FallbackReason>>)),
];
