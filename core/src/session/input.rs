//! `JITInput`: the lifter's state for one session, as the app sends it (camelCase keys).
//!
//! [`JitInput::from_value`] is the checked entry point: it names the first bad field by
//! path (`sorenessRatings.quads`, `recentLogs[2].sets[0].rpe`) with a hint, so the extension
//! can raise SQLSTATE 22023 with a useful message. [`JitInput::validate`] re-checks the
//! ranges of a value built in Rust (where NaN and out-of-range enums-as-numbers can exist).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::catalogue::CatalogueEntry;
use super::error::{InputError, InputErrorKind};
use super::formula::FormulaConfig;
use super::types::{IntensityType, Lift, Muscle, Sex, TrainingAge};
use crate::validation::path;

/// Heavier than any human lift; bounds the arithmetic far from overflow.
pub const MAX_ONE_RM_KG: f64 = 2000.0;
/// Plate increments accepted by `weightIncrementKg` and `rounding_increment_kg`.
pub const MIN_INCREMENT_KG: f64 = 0.01;
pub const MAX_INCREMENT_KG: f64 = 100.0;

const HINT_INPUT: &str = "See the JITInput section of the session reference for the expected fields.";

/// The input of every session function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JitInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_number: Option<i64>,
    /// 1..3.
    pub block_number: u8,
    pub primary_lift: Lift,
    pub intensity_type: IntensityType,
    /// The 1RM of `primaryLift`, kg, 0..=2000.
    pub one_rm_kg: f64,
    #[serde(default, deserialize_with = "nullable")]
    pub biological_sex: Sex,
    /// Not in the seed's JITInput; selects the MRV/MEV multipliers when `mrvMevConfig`
    /// does not override a muscle. Defaults to intermediate (×1.0).
    #[serde(default, deserialize_with = "nullable")]
    pub training_age: TrainingAge,
    /// Partial override of the sex's default [`FormulaConfig`], deep-merged (snake_case
    /// keys as in the seed app; camelCase keys are accepted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula_config: Option<Value>,
    /// Muscle → soreness 1..10. Any muscle name is accepted (apps track more than the ten
    /// MRV muscles); the worst rating on any muscle drives the severe-soreness rules.
    #[serde(default, deserialize_with = "nullable")]
    pub soreness_ratings: BTreeMap<String, f64>,
    /// Muscle → sets already done this week (may be fractional: RPE-credited sets).
    #[serde(default, deserialize_with = "nullable")]
    pub weekly_volume_to_date: BTreeMap<String, f64>,
    /// Muscle → {mev?, mrv?}; a given number replaces the default (after training-age
    /// scaling: the lifter's own numbers are used as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrv_mev_config: Option<BTreeMap<String, MrvMevOverride>>,
    #[serde(default, deserialize_with = "nullable")]
    pub active_auxiliaries: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub recent_logs: Vec<RecentLog>,
    #[serde(default, deserialize_with = "nullable")]
    pub active_disruptions: Vec<Disruption>,
    /// Opaque to the LLM (removed from its context); see [`super::warmup`] for the shapes
    /// understood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_config: Option<Value>,
    /// True when the lifter chose `warmupConfig` themselves: it is then used as it is, even
    /// on a recovery day or a light working weight (which otherwise get the minimal preset).
    #[serde(default, deserialize_with = "nullable")]
    pub warmup_config_explicit: bool,
    /// The bar, kg (default 20): the lightest warm-up and recovery set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar_weight_kg: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    pub rehab_caps: Vec<RehabCap>,
    /// Smallest weight step the lifter can load (from their plates). The main lift rounds
    /// to the coarser of this and the formula config's `rounding_increment_kg` (2.5 kg);
    /// auxiliaries and warm-ups round to this (2.5 kg when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_increment_kg: Option<f64>,
    /// Exercise → {lift, ratio}: the app's additions to (or corrections of) the built-in
    /// auxiliary catalogue. Looked up before the built-in entries, case-insensitively.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub auxiliary_catalogue: BTreeMap<String, CatalogueEntry>,
    /// Lift → 1RM for auxiliaries scaled from a lift other than `primaryLift`; without an
    /// entry the session's `oneRmKg` is used, as the seed app does.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub all_one_rm_kg: BTreeMap<String, f64>,
}

/// A partial per-muscle MRV/MEV override.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrvMevOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mev: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrv: Option<u32>,
}

/// A past session, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentLog {
    /// ISO date; the latest date is the most recent session (ties: the later entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_date: Option<String>,
    /// Free text so that logs of other exercises do not fail the input; only squat, bench
    /// and deadlift logs are used.
    pub lift: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sets: Vec<LoggedSet>,
    /// The RPE that session was prescribed; today's target when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rpe: Option<f64>,
}

/// One logged set; every field may be absent (an unrecorded RPE counts as a full set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpe: Option<f64>,
}

/// Something in the lifter's life that changes training (injury, illness, travel, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// `equipment_unavailable` (also spelled with `-` or spaces) has a special meaning;
    /// any other type is handled by its severity.
    #[serde(rename = "type", alias = "disruptionType", alias = "disruption_type")]
    pub kind: String,
    /// minor | moderate | major (severe is read as major); absent reads as minor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Absent or empty means every lift.
    #[serde(default, alias = "affected_lifts", skip_serializing_if = "Option::is_none")]
    pub affected_lifts: Option<Vec<String>>,
}

impl Disruption {
    pub fn is_equipment_unavailable(&self) -> bool {
        let k: String = self
            .kind
            .trim()
            .chars()
            .map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() })
            .collect();
        k == "equipment_unavailable" || k == "equipment"
    }

    pub fn affects(&self, lift: Lift) -> bool {
        match &self.affected_lifts {
            None => true,
            Some(lifts) if lifts.is_empty() => true,
            Some(lifts) => lifts.iter().any(|l| l.trim().eq_ignore_ascii_case(lift.as_str())),
        }
    }
}

/// Rehab Mode: a ceiling on one lift's working weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RehabCap {
    pub lift: Lift,
    pub cap_kg: f64,
}

/// Treats an explicit null like an absent field; apps serialise empty optionals as null.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl JitInput {
    /// An input with every optional field at its default.
    pub fn new(primary_lift: Lift, intensity_type: IntensityType, block_number: u8, one_rm_kg: f64) -> Self {
        JitInput {
            session_id: None,
            week_number: None,
            block_number,
            primary_lift,
            intensity_type,
            one_rm_kg,
            biological_sex: Sex::Male,
            training_age: TrainingAge::Intermediate,
            formula_config: None,
            soreness_ratings: BTreeMap::new(),
            weekly_volume_to_date: BTreeMap::new(),
            mrv_mev_config: None,
            active_auxiliaries: Vec::new(),
            recent_logs: Vec::new(),
            active_disruptions: Vec::new(),
            warmup_config: None,
            warmup_config_explicit: false,
            bar_weight_kg: None,
            rehab_caps: Vec::new(),
            weight_increment_kg: None,
            auxiliary_catalogue: BTreeMap::new(),
            all_one_rm_kg: BTreeMap::new(),
        }
    }

    /// Parses and validates an input document. Unknown keys are ignored (apps send more
    /// than the engine reads); they still reach the LLM through `build_jit_context`.
    pub fn from_value(value: &Value) -> Result<JitInput, InputError> {
        let Some(map) = value.as_object() else {
            return Err(InputError::invalid_type(
                "",
                format!(
                    "must be a JSON object (a JITInput), got {}",
                    crate::validation::schema::json_type(value)
                ),
                HINT_INPUT,
            ));
        };
        if crate::validation::depth(value) > crate::validation::MAX_DEPTH {
            return Err(InputError::out_of_range(
                "",
                format!("nests deeper than {} levels", crate::validation::MAX_DEPTH),
                HINT_INPUT,
            ));
        }
        precheck(map)?;
        let input: JitInput =
            serde_json::from_value(value.clone()).map_err(|e| locate(map, &INPUT_CHECKS, e, HINT_INPUT))?;
        input.validate()?;
        Ok(input)
    }

    /// Checks every range the types cannot express.
    pub fn validate(&self) -> Result<(), InputError> {
        if !(1..=3).contains(&self.block_number) {
            return Err(InputError::out_of_range(
                "blockNumber",
                format!("must be 1, 2 or 3, got {}", self.block_number),
                "A training cycle has three blocks; pass 1, 2 or 3.",
            ));
        }
        check_kg("oneRmKg", self.one_rm_kg, false, "Pass the lifter's 1RM for primaryLift in kilograms.")?;
        for (muscle, rating) in &self.soreness_ratings {
            if !(rating.is_finite() && (1.0..=10.0).contains(rating)) {
                return Err(InputError::out_of_range(
                    &path::key("sorenessRatings", muscle),
                    format!("must be between 1 and 10, got {rating}"),
                    "Soreness is rated 1 (fresh) to 10 (severe); omit muscles that were not rated.",
                ));
            }
        }
        for (muscle, sets) in &self.weekly_volume_to_date {
            if !(sets.is_finite() && *sets >= 0.0 && *sets <= 1000.0) {
                return Err(InputError::out_of_range(
                    &path::key("weeklyVolumeToDate", muscle),
                    format!("must be a number of sets between 0 and 1000, got {sets}"),
                    "Weekly volume counts sets done this week per muscle.",
                ));
            }
        }
        if let Some(inc) = self.weight_increment_kg {
            check_increment("weightIncrementKg", inc)?;
        }
        if let Some(bar) = self.bar_weight_kg {
            if !(bar.is_finite() && (0.0..=50.0).contains(&bar)) {
                return Err(InputError::out_of_range(
                    "barWeightKg",
                    format!("must be between 0 and 50 kg, got {bar}"),
                    "barWeightKg is the empty bar's weight (20 kg for a men's Olympic bar, 15 kg for a women's).",
                ));
            }
        }
        if let Some(config) = &self.mrv_mev_config {
            for muscle in config.keys() {
                if Muscle::parse(muscle).is_none() {
                    return Err(InputError::unknown(
                        &path::key("mrvMevConfig", muscle),
                        muscle,
                        &Muscle::expected(),
                        "mrvMevConfig keys are the ten tracked muscles.",
                    ));
                }
            }
        }
        for (i, cap) in self.rehab_caps.iter().enumerate() {
            let f = format!("rehabCaps[{i}].capKg");
            check_kg(&f, cap.cap_kg, true, "A Rehab Mode cap is a weight in kilograms above 0.")?;
        }
        for (name, entry) in &self.auxiliary_catalogue {
            if !(entry.ratio.is_finite() && (0.0..=3.0).contains(&entry.ratio)) {
                return Err(InputError::out_of_range(
                    &path::key(&path::key("auxiliaryCatalogue", name), "ratio"),
                    format!("must be between 0 and 3, got {}", entry.ratio),
                    "ratio is the fraction of the lift's 1RM the exercise is loaded with (0 = bodyweight).",
                ));
            }
        }
        for (lift, kg) in &self.all_one_rm_kg {
            let f = path::key("allOneRmKg", lift);
            if Lift::parse(lift).is_none() {
                return Err(InputError::unknown(&f, lift, &Lift::expected(), "allOneRmKg is keyed by lift."));
            }
            check_kg(&f, *kg, false, "A 1RM in kilograms.")?;
        }
        for (i, log) in self.recent_logs.iter().enumerate() {
            if let Some(t) = log.target_rpe {
                if !(t.is_finite() && (1.0..=10.0).contains(&t)) {
                    return Err(InputError::out_of_range(
                        &format!("recentLogs[{i}].targetRpe"),
                        format!("must be between 1 and 10, got {t}"),
                        "targetRpe is the RPE that session prescribed; omit it to compare with today's target.",
                    ));
                }
            }
            for (j, set) in log.sets.iter().enumerate() {
                let at = |k: &str| format!("recentLogs[{i}].sets[{j}].{k}");
                if let Some(rpe) = set.rpe {
                    if !(rpe.is_finite() && (0.0..=10.0).contains(&rpe)) {
                        return Err(InputError::out_of_range(
                            &at("rpe"),
                            format!("must be between 0 and 10, got {rpe}"),
                            "RPE is logged on the 1..10 scale; leave it out (or null) when not recorded.",
                        ));
                    }
                }
                if let Some(w) = set.weight_kg {
                    check_kg(&at("weightKg"), w, false, "Logged weights are kilograms >= 0.")?;
                }
                if let Some(r) = set.reps {
                    if !(r.is_finite() && r >= 0.0) {
                        return Err(InputError::out_of_range(
                            &at("reps"),
                            format!("must be >= 0, got {r}"),
                            "Logged reps are counts >= 0.",
                        ));
                    }
                }
            }
        }
        FormulaConfig::resolve(self.biological_sex, self.formula_config.as_ref())?;
        Ok(())
    }

    /// The worst soreness rating on any muscle (0 when nothing is rated).
    pub fn worst_soreness(&self) -> f64 {
        self.soreness_ratings.values().copied().filter(|r| r.is_finite()).fold(0.0, f64::max)
    }

    /// The worst soreness on the muscles a session of the primary lift protects (1 = fresh
    /// when none of them is rated).
    pub fn session_soreness(&self) -> f64 {
        self.worst_soreness_of(super::volume::session_muscles(self.primary_lift)).max(1.0)
    }

    /// The bar, kg.
    pub fn bar_kg(&self) -> f64 {
        self.bar_weight_kg.unwrap_or(20.0)
    }

    /// The rounding step of auxiliaries and warm-ups: the lifter's plates, else 2.5 kg.
    pub fn plate_increment_kg(&self) -> f64 {
        self.weight_increment_kg.unwrap_or(super::formula::DEFAULT_INCREMENT_KG)
    }

    /// The worst soreness among `muscles` (0 when none of them is rated).
    pub fn worst_soreness_of(&self, muscles: &[Muscle]) -> f64 {
        muscles
            .iter()
            .filter_map(|m| self.soreness_ratings.get(m.as_str()).copied())
            .filter(|r| r.is_finite())
            .fold(0.0, f64::max)
    }

    /// Sets done this week for `muscle` (0 when not reported).
    pub fn weekly_sets(&self, muscle: Muscle) -> f64 {
        self.weekly_volume_to_date.get(muscle.as_str()).copied().unwrap_or(0.0)
    }

    /// The 1RM auxiliaries of `lift` scale from.
    pub fn one_rm_for(&self, lift: Lift) -> f64 {
        if lift == self.primary_lift {
            return self.one_rm_kg;
        }
        self.all_one_rm_kg.get(lift.as_str()).copied().unwrap_or(self.one_rm_kg)
    }

    /// The tightest Rehab Mode cap on the session's lift, as given (not yet rounded).
    pub fn rehab_cap_kg(&self) -> Option<f64> {
        self.rehab_caps.iter().filter(|c| c.lift == self.primary_lift).map(|c| c.cap_kg).reduce(f64::min)
    }

    pub fn has_equipment_disruption(&self) -> bool {
        self.active_disruptions.iter().any(Disruption::is_equipment_unavailable)
    }
}

fn check_kg(field: &str, kg: f64, strictly_positive: bool, hint: &str) -> Result<(), InputError> {
    if !kg.is_finite() {
        return Err(InputError::out_of_range(
            field,
            format!("must be a finite number of kilograms, got {kg}"),
            hint,
        ));
    }
    if kg < 0.0 || (strictly_positive && kg == 0.0) {
        let bound = if strictly_positive { "> 0" } else { ">= 0" };
        return Err(InputError::out_of_range(field, format!("must be {bound}, got {kg}"), hint));
    }
    if kg > MAX_ONE_RM_KG {
        return Err(InputError::out_of_range(field, format!("must be <= {MAX_ONE_RM_KG}, got {kg}"), hint));
    }
    Ok(())
}

pub(crate) fn check_increment(field: &str, inc: f64) -> Result<(), InputError> {
    if !(inc.is_finite() && (MIN_INCREMENT_KG..=MAX_INCREMENT_KG).contains(&inc)) {
        return Err(InputError::out_of_range(
            field,
            format!("must be between {MIN_INCREMENT_KG} and {MAX_INCREMENT_KG} kg, got {inc}"),
            "The increment is the smallest weight step the lifter can load, e.g. 2.5 (1.25 kg per side).",
        ));
    }
    Ok(())
}

/// Checks the fields whose serde errors would be vague (enums, the block number) before
/// deserialising, so that "primaryLift must be one of …" comes out instead of a bare
/// "unknown variant".
fn precheck(map: &Map<String, Value>) -> Result<(), InputError> {
    enum_field(map, "primaryLift", true, |s| Lift::parse(s).is_some(), &Lift::expected())?;
    enum_field(
        map,
        "intensityType",
        true,
        |s| IntensityType::parse(s).is_some(),
        &IntensityType::expected(),
    )?;
    enum_field(map, "biologicalSex", false, |s| Sex::parse(s).is_some(), &Sex::expected())?;
    enum_field(map, "trainingAge", false, |s| TrainingAge::parse(s).is_some(), &TrainingAge::expected())?;
    match map.get("blockNumber") {
        None | Some(Value::Null) => {
            return Err(InputError::missing("blockNumber", "Pass the block number 1, 2 or 3."))
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(b) if (1..=3).contains(&b) => {}
            Some(b) => {
                return Err(InputError::out_of_range(
                    "blockNumber",
                    format!("must be 1, 2 or 3, got {b}"),
                    "A training cycle has three blocks; pass 1, 2 or 3.",
                ))
            }
            None => {
                return Err(InputError::out_of_range(
                    "blockNumber",
                    format!("must be the integer 1, 2 or 3, got {n}"),
                    "A training cycle has three blocks; pass 1, 2 or 3.",
                ))
            }
        },
        Some(other) => {
            return Err(InputError::invalid_type(
                "blockNumber",
                format!("must be an integer, got {}", crate::validation::schema::json_type(other)),
                "Pass the block number as a JSON number: 1, 2 or 3.",
            ))
        }
    }
    match map.get("oneRmKg") {
        None | Some(Value::Null) => {
            return Err(InputError::missing("oneRmKg", "Pass the lifter's 1RM for primaryLift in kilograms."))
        }
        Some(Value::Number(_)) => {}
        Some(other) => {
            return Err(InputError::invalid_type(
                "oneRmKg",
                format!("must be a number of kilograms, got {}", crate::validation::schema::json_type(other)),
                "Pass the lifter's 1RM for primaryLift in kilograms.",
            ))
        }
    }
    Ok(())
}

fn enum_field(
    map: &Map<String, Value>,
    field: &str,
    required: bool,
    known: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<(), InputError> {
    let hint = format!("Use one of: {expected}.");
    match map.get(field) {
        None | Some(Value::Null) if required => Err(InputError::missing(field, hint)),
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if known(s) => Ok(()),
        Some(Value::String(s)) => Err(InputError::unknown(field, s, expected, hint)),
        Some(other) => Err(InputError::invalid_type(
            field,
            format!("must be a string ({expected}), got {}", crate::validation::schema::json_type(other)),
            hint,
        )),
    }
}

/// How one top-level field is decoded on its own, to find the field a document fails on.
#[derive(Clone, Copy)]
pub(crate) enum Check {
    One(fn(&Value) -> Result<(), serde_json::Error>),
    /// An array whose items are checked one by one (null is an error).
    ListOf(fn(&Value) -> Result<(), serde_json::Error>),
    /// Like `ListOf`, but null reads as empty.
    NullableListOf(fn(&Value) -> Result<(), serde_json::Error>),
}

pub(crate) fn decodes<T: DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
    serde_json::from_value::<T>(v.clone()).map(drop)
}

fn decodes_or_null<T: DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
    if v.is_null() {
        return Ok(());
    }
    decodes::<T>(v)
}

static INPUT_CHECKS: [(&str, Check); 21] = [
    ("sessionId", Check::One(decodes::<Option<String>>)),
    ("weekNumber", Check::One(decodes::<Option<i64>>)),
    ("blockNumber", Check::One(decodes::<u8>)),
    ("primaryLift", Check::One(decodes::<Lift>)),
    ("intensityType", Check::One(decodes::<IntensityType>)),
    ("oneRmKg", Check::One(decodes::<f64>)),
    ("biologicalSex", Check::One(decodes::<Option<Sex>>)),
    ("trainingAge", Check::One(decodes::<Option<TrainingAge>>)),
    ("sorenessRatings", Check::One(decodes_or_null::<BTreeMap<String, f64>>)),
    ("weeklyVolumeToDate", Check::One(decodes_or_null::<BTreeMap<String, f64>>)),
    ("mrvMevConfig", Check::One(decodes::<Option<BTreeMap<String, MrvMevOverride>>>)),
    ("activeAuxiliaries", Check::NullableListOf(decodes::<String>)),
    ("recentLogs", Check::NullableListOf(decodes::<RecentLog>)),
    ("activeDisruptions", Check::NullableListOf(decodes::<Disruption>)),
    ("rehabCaps", Check::NullableListOf(decodes::<RehabCap>)),
    ("weightIncrementKg", Check::One(decodes::<Option<f64>>)),
    ("barWeightKg", Check::One(decodes::<Option<f64>>)),
    ("warmupConfigExplicit", Check::One(decodes_or_null::<bool>)),
    ("auxiliaryCatalogue", Check::One(decodes_or_null::<BTreeMap<String, CatalogueEntry>>)),
    ("allOneRmKg", Check::One(decodes_or_null::<BTreeMap<String, f64>>)),
    ("formulaConfig", Check::One(decodes::<Option<Map<String, Value>>>)),
];

/// Turns a whole-document serde error into one that names the field, by decoding the
/// known fields one at a time (array items one by one).
pub(crate) fn locate(
    map: &Map<String, Value>,
    checks: &[(&str, Check)],
    whole: serde_json::Error,
    hint: &str,
) -> InputError {
    for (key, check) in checks {
        let Some(value) = map.get(*key) else { continue };
        let failure = match check {
            Check::One(f) => f(value).err().map(|e| (key.to_string(), e.to_string())),
            Check::ListOf(f) | Check::NullableListOf(f) => match value {
                Value::Null if matches!(check, Check::NullableListOf(_)) => None,
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| f(item).err().map(|e| (path::index(key, i), e.to_string()))),
                other => Some((
                    key.to_string(),
                    format!("must be an array, got {}", crate::validation::schema::json_type(other)),
                )),
            },
        };
        if let Some((field, message)) = failure {
            return serde_error(&field, &message, hint);
        }
    }
    serde_error("", &whole.to_string(), hint)
}

fn serde_error(field: &str, message: &str, hint: &str) -> InputError {
    let kind = if message.starts_with("unknown variant") {
        InputErrorKind::UnknownValue
    } else if message.starts_with("missing field") {
        InputErrorKind::MissingField
    } else {
        InputErrorKind::InvalidType
    };
    let text = if field.is_empty() { message.to_string() } else { format!("{field}: {message}") };
    InputError::new(kind, field, text, hint)
}
