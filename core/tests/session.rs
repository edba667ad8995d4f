//! Training-session JIT (seed 000): the seed's four tests, every fact of the session
//! reference as a (mostly table-driven) test, input validation, the SQL-facing JSON
//! functions, and property tests of the hard constraints.

use std::collections::BTreeMap;

use jitgen_core::session::auxiliary::{REASON_LLM_SKIP, REASON_MAIN_SKIPPED, REASON_SEVERE_SORENESS};
use jitgen_core::session::constraints::{mrv_exceeded_warning, rehab_warning, MIN_SET_WARNING};
use jitgen_core::session::formula::increment_kg;
use jitgen_core::session::input::{Disruption, RehabCap};
use jitgen_core::session::rounding::{floor_to_increment, round_to_increment, round_up_to_increment};
use jitgen_core::session::volume::{
    capped_muscles, default_mrv_mev, lift_muscles, resolved_mrv_mev, weekly_volume_from_logs, MrvMev,
};
use jitgen_core::session::Strategy as Gen;
use jitgen_core::session::*;
use proptest::prelude::*;
use proptest::strategy::Strategy;
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn input_json() -> Value {
    json!({
        "sessionId": "s-1",
        "weekNumber": 1,
        "blockNumber": 1,
        "primaryLift": "squat",
        "intensityType": "heavy",
        "oneRmKg": 140,
        "sorenessRatings": {},
        "weeklyVolumeToDate": {},
        "activeAuxiliaries": [],
        "recentLogs": [],
        "activeDisruptions": [],
        "warmupConfig": {"type": "preset", "name": "standard"}
    })
}

/// The base input with `patch`'s keys replaced.
fn input_with(patch: Value) -> JitInput {
    let mut v = input_json();
    for (k, val) in patch.as_object().expect("patch is an object") {
        v[k] = val.clone();
    }
    JitInput::from_value(&v).unwrap_or_else(|e| panic!("{e}"))
}

fn base_input() -> JitInput {
    input_with(json!({}))
}

fn adjustment_json(patch: Value) -> Value {
    let mut a = json!({
        "intensityModifier": 1.0,
        "setModifier": 0,
        "skipMainLift": false,
        "auxOverrides": {},
        "rationale": ["test"],
        "confidence": "high"
    });
    for (k, val) in patch.as_object().expect("patch is an object") {
        a[k] = val.clone();
    }
    a
}

fn adjustment(patch: Value) -> JitAdjustment {
    JitAdjustment::from_value(&adjustment_json(patch)).unwrap_or_else(|r| panic!("{:?}", r.details()))
}

fn apply(input: &JitInput, patch: Value) -> SessionOutput {
    apply_adjustment(input, &adjustment(patch)).unwrap()
}

fn weights(s: &SessionOutput) -> Vec<f64> {
    s.main_lift_sets.iter().map(|x| x.weight_kg).collect()
}

fn aux<'a>(s: &'a SessionOutput, name: &str) -> &'a AuxiliaryWork {
    s.auxiliary_work.iter().find(|a| a.exercise == name).unwrap_or_else(|| panic!("no aux {name}"))
}

// ---------------------------------------------------------------- seed 000: the four unit tests

#[test]
fn seed_valid_llm_response_applies_the_modifier_to_the_base_weight() {
    let input = base_input();
    let reply = adjustment_json(json!({"intensityModifier": 0.88, "setModifier": 0}));
    let s = session_from_llm_reply(&input, Gen::Llm, Ok(reply)).unwrap();
    assert_eq!(s.jit_strategy, JitStrategy::Llm);
    assert_eq!(s.fallback_reason, None);
    // base 112.5 × 0.88 = 99 → 100 on 2.5 kg plates
    assert_eq!(weights(&s), vec![100.0, 100.0]);
    assert_eq!(s.main_lift_sets[0].weight_kg, round_to_increment(112.5 * 0.88, 2.5));
    assert_eq!(s.rationale, vec!["test".to_string()]);
}

#[test]
fn seed_timeout_falls_back_to_formula() {
    let input = base_input();
    let s = session_from_llm_reply(&input, Gen::Llm, Err(FallbackReason::timeout(5000))).unwrap();
    assert_eq!(s.jit_strategy, JitStrategy::FormulaFallback);
    let reason = s.fallback_reason.clone().unwrap();
    assert_eq!(reason.code, FallbackCode::Timeout);
    let formula = formula_session(&input).unwrap();
    assert_eq!(s.main_lift_sets, formula.main_lift_sets);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["jit_strategy"], json!("formula_fallback"));
    assert_eq!(v["fallback_reason"]["code"], json!("timeout"));
}

#[test]
fn seed_schema_failure_intensity_0_10_falls_back() {
    let input = base_input();
    let reply = adjustment_json(json!({"intensityModifier": 0.10}));
    let s = session_from_llm_reply(&input, Gen::Llm, Ok(reply)).unwrap();
    assert_eq!(s.jit_strategy, JitStrategy::FormulaFallback);
    let reason = s.fallback_reason.clone().unwrap();
    assert_eq!(reason.code, FallbackCode::SchemaViolation);
    assert_eq!(reason.details[0].path, "intensityModifier");
    assert_eq!(reason.details[0].code, "out_of_range");
    assert_eq!(weights(&s), vec![112.5, 112.5]);
}

#[test]
fn seed_mrv_at_cap_forces_skip_despite_skip_main_lift_false() {
    let input =
        input_with(json!({"weeklyVolumeToDate": {"quads": 20}, "mrvMevConfig": {"quads": {"mrv": 20}}}));
    let reply = adjustment_json(json!({"skipMainLift": false}));
    let s = session_from_llm_reply(&input, Gen::Llm, Ok(reply)).unwrap();
    assert!(s.skipped_main_lift);
    assert!(s.main_lift_sets.is_empty());
    assert!(s.warnings.contains(&"[constraint] MRV exceeded for quads — main lift forced skip".to_string()));
    assert_eq!(s.jit_strategy, JitStrategy::Llm);
}

// ---------------------------------------------------------------- fallbacks of every kind

#[test]
fn every_failure_reason_falls_back_and_is_never_labelled_llm() {
    let input = base_input();
    let reasons = vec![
        FallbackReason::timeout(5000),
        FallbackReason::network("connection refused"),
        FallbackReason::http_status(503, "service unavailable"),
        parse_llm_content("I think you should rest").unwrap_err(),
        FallbackReason::invalid_response("no choices"),
        FallbackReason::not_configured("jitgen.llm_endpoint is empty"),
    ];
    for strategy in [Gen::Llm, Gen::Hybrid] {
        for reason in &reasons {
            let s = session_from_llm_reply(&input, strategy, Err(reason.clone())).unwrap();
            assert_eq!(s.jit_strategy, JitStrategy::FormulaFallback, "{reason:?}");
            assert_eq!(s.fallback_reason.as_ref(), Some(reason));
            assert_eq!(s.divergence, None);
        }
        // Unparseable shapes: not an object, wrong types.
        for bad in [json!("text"), json!([1]), adjustment_json(json!({"setModifier": 1.5}))] {
            let s = session_from_llm_reply(&input, strategy, Ok(bad)).unwrap();
            assert_eq!(s.jit_strategy, JitStrategy::FormulaFallback);
            assert_eq!(s.fallback_reason.unwrap().code, FallbackCode::SchemaViolation);
        }
    }
    let v = serde_json::to_value(FallbackReason::http_status(503, "x")).unwrap();
    assert_eq!(v, json!({"code": "http_status", "message": "x", "httpStatus": 503}));
}

#[test]
fn formula_strategy_ignores_the_reply() {
    let input = base_input();
    let s = session_from_llm_reply(&input, Gen::Formula, Err(FallbackReason::timeout(1))).unwrap();
    assert_eq!(s.jit_strategy, JitStrategy::Formula);
    assert_eq!(s.fallback_reason, None);
}

// ---------------------------------------------------------------- formula: loading table

/// (sex, block, intensity, pct, sets, reps, rpe) — the reference table, with ranged set
/// counts resolved to the midpoint rounded up and ranged reps to their bottom.
const LOADING: &[(&str, u8, &str, f64, u32, u32, f64)] = &[
    ("male", 1, "heavy", 0.80, 2, 5, 8.5),
    ("male", 1, "explosive", 0.65, 3, 8, 7.0),
    ("male", 1, "rep", 0.70, 3, 8, 8.0),
    ("male", 2, "heavy", 0.85, 2, 3, 9.0),
    ("male", 2, "explosive", 0.70, 2, 6, 7.5),
    ("male", 2, "rep", 0.80, 3, 4, 8.0),
    ("male", 3, "heavy", 0.90, 4, 1, 9.5),
    ("male", 3, "explosive", 0.75, 2, 2, 8.0),
    ("male", 3, "rep", 0.85, 3, 3, 8.5),
    ("female", 1, "heavy", 0.80, 3, 5, 8.0),
    ("female", 1, "explosive", 0.65, 3, 8, 6.5),
    ("female", 1, "rep", 0.70, 4, 8, 7.5),
    ("female", 2, "heavy", 0.85, 3, 3, 8.5),
    ("female", 2, "explosive", 0.70, 2, 6, 7.0),
    ("female", 2, "rep", 0.80, 4, 4, 7.5),
    ("female", 3, "heavy", 0.90, 4, 1, 9.0),
    ("female", 3, "explosive", 0.75, 2, 2, 7.5),
    ("female", 3, "rep", 0.85, 3, 3, 8.0),
];

#[test]
fn loading_table_for_both_sexes() {
    for &(sex, block, intensity, pct, sets, reps, rpe) in LOADING {
        for one_rm in [100.0, 140.0, 187.5] {
            let input = input_with(json!({
                "biologicalSex": sex, "blockNumber": block, "intensityType": intensity, "oneRmKg": one_rm
            }));
            let s = formula_session(&input).unwrap();
            let case = format!("{sex} block {block} {intensity} 1RM {one_rm}");
            assert_eq!(s.main_lift_sets.len(), sets as usize, "{case}");
            let w = round_to_increment(pct * one_rm, 2.5);
            for (i, set) in s.main_lift_sets.iter().enumerate() {
                assert_eq!(set.set_number, i as u32 + 1, "{case}");
                assert_eq!(set.weight_kg, w, "{case}");
                assert_eq!(set.reps, reps, "{case}");
                assert_eq!(set.rpe_target, rpe, "{case}");
            }
            assert_eq!(s.jit_strategy, JitStrategy::Formula);
            assert!(!s.skipped_main_lift);
        }
    }
}

#[test]
fn ranged_prescriptions_state_their_range() {
    let s = formula_session(&input_with(json!({"intensityType": "rep"}))).unwrap();
    assert!(s.rationale[0].contains("8–12"), "{:?}", s.rationale);
    let s = formula_session(&input_with(json!({"intensityType": "heavy", "blockNumber": 3}))).unwrap();
    assert!(s.rationale[0].contains("1–2"), "{:?}", s.rationale);
}

#[test]
fn deload_for_both_sexes_and_every_block() {
    for sex in ["male", "female"] {
        for block in 1..=3 {
            let input =
                input_with(json!({"biologicalSex": sex, "blockNumber": block, "intensityType": "deload"}));
            let s = formula_session(&input).unwrap();
            assert_eq!(s.main_lift_sets.len(), 3);
            for set in &s.main_lift_sets {
                assert_eq!(set.weight_kg, 55.0); // 0.40 × 140 = 56 → 55
                assert_eq!(set.reps, 5);
                assert_eq!(set.rpe_target, 5.0);
            }
            assert_eq!(s.rest_seconds.main_lift, 90);
        }
    }
}

#[test]
fn reference_example_squat_140_block_1_heavy_male() {
    let s = formula_session(&base_input()).unwrap();
    assert_eq!(s.main_lift_sets.len(), 2);
    assert!(s.main_lift_sets.iter().all(|x| x.weight_kg == 112.5 && x.reps == 5));
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["jit_strategy"], json!("formula"));
    assert_eq!(v["fallback_reason"], Value::Null);
    assert_eq!(
        v["mainLiftSets"][0],
        json!({"set_number": 1, "weight_kg": 112.5, "reps": 5, "rpe_target": 8.5})
    );
}

#[test]
fn biological_sex_defaults_to_male() {
    let mut v = input_json();
    v.as_object_mut().unwrap().remove("biologicalSex");
    let input = JitInput::from_value(&v).unwrap();
    assert_eq!(input.biological_sex, Sex::Male);
    v["biologicalSex"] = Value::Null;
    assert_eq!(JitInput::from_value(&v).unwrap().biological_sex, Sex::Male);
}

#[test]
fn rounding_is_to_the_nearest_increment() {
    // (1RM, increment, 0.80 × 1RM rounded)
    let cases = [
        (140.0, None, 112.5),
        (140.0, Some(5.0), 110.0),
        (126.5, None, 100.0), // 101.2 / 2.5 = 40.48 → 40
        (100.0, Some(1.0), 80.0),
        (101.0, Some(5.0), 80.0),   // 80.8 / 5 = 16.16 → 16
        (101.0, Some(1.25), 80.0),  // the config's 2.5 kg is coarser than 1.25 kg plates: 80.8 → 80
    ];
    for (one_rm, inc, rounded) in cases {
        let mut patch = json!({"oneRmKg": one_rm});
        if let Some(i) = inc {
            patch["weightIncrementKg"] = json!(i);
        }
        let s = formula_session(&input_with(patch)).unwrap();
        assert_eq!(s.main_lift_sets[0].weight_kg, rounded, "{one_rm} {inc:?}");
        assert_eq!(rounded, round_to_increment(0.8 * one_rm, inc.unwrap_or(2.5_f64).max(2.5)));
    }
    // The binary quotient rounds, as in the seed app: 0.70 × 162.5 = 113.74999… → 112.5.
    assert_eq!(round_to_increment(0.70 * 162.5, 2.5), 112.5);
    assert_eq!(round_to_increment(101.2, 2.5), 100.0);
    assert_eq!(round_to_increment(101.25, 2.5), 102.5); // halves up
    assert_eq!(round_to_increment(80.8, 1.25), 81.25);
}

#[test]
fn increment_defaults_to_the_configs_rounding_increment() {
    assert_eq!(increment_kg(&base_input()).unwrap(), 2.5);
    let input = input_with(json!({"formulaConfig": {"rounding_increment_kg": 5}}));
    assert_eq!(increment_kg(&input).unwrap(), 5.0);
    assert_eq!(weights(&formula_session(&input).unwrap()), vec![110.0, 110.0]);
    // The coarser of the program's rounding and the lifter's plates wins.
    let input = input_with(json!({"formulaConfig": {"rounding_increment_kg": 5}, "weightIncrementKg": 1}));
    assert_eq!(increment_kg(&input).unwrap(), 5.0);
    let input = input_with(json!({"formulaConfig": {"rounding_increment_kg": 1}, "weightIncrementKg": 2}));
    assert_eq!(increment_kg(&input).unwrap(), 2.0);
    assert_eq!(weights(&formula_session(&input).unwrap()), vec![112.0, 112.0]);
}

#[test]
fn formula_config_override_from_input() {
    let input = input_with(json!({"formulaConfig": {"block1": {"heavy": {"sets": 4, "pct": 0.75}}}}));
    let s = formula_session(&input).unwrap();
    assert_eq!(s.main_lift_sets.len(), 4);
    assert_eq!(s.main_lift_sets[0].weight_kg, 105.0);
    assert_eq!(s.main_lift_sets[0].reps, 5);
    // camelCase keys, rest override
    let input = input_with(json!({"formulaConfig": {"restSeconds": {"block1": {"heavy": 240}}}}));
    assert_eq!(formula_session(&input).unwrap().rest_seconds.main_lift, 240);
    // rep-day ranges
    let input = input_with(json!({"intensityType": "rep",
        "formulaConfig": {"block1": {"rep": {"sets_min": 4, "sets_max": 5, "reps_min": 10}}}}));
    let s = formula_session(&input).unwrap();
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].reps), (5, 10));
}

// ---------------------------------------------------------------- formula: rest tables

#[test]
fn rest_seconds_tables() {
    // (sex, block, heavy, explosive, rep)
    let table = [
        ("male", 1, 180, 120, 120),
        ("male", 2, 210, 150, 120),
        ("male", 3, 300, 180, 150),
        ("female", 1, 150, 90, 90),
        ("female", 2, 180, 120, 90),
        ("female", 3, 270, 150, 120),
    ];
    for (sex, block, heavy, explosive, rep) in table {
        for (intensity, expected) in
            [("heavy", heavy), ("explosive", explosive), ("rep", rep), ("deload", 90)]
        {
            let input =
                input_with(json!({"biologicalSex": sex, "blockNumber": block, "intensityType": intensity}));
            let s = formula_session(&input).unwrap();
            assert_eq!(
                s.rest_seconds,
                RestSeconds { main_lift: expected, auxiliary: 90 },
                "{sex} {block} {intensity}"
            );
        }
    }
}

// ---------------------------------------------------------------- MRV / MEV

const MRV_MEV: &[(&str, (u32, u32), (u32, u32))] = &[
    ("quads", (8, 20), (10, 26)),
    ("hamstrings", (6, 20), (8, 25)),
    ("glutes", (0, 22), (0, 28)),
    ("lower_back", (6, 18), (7, 20)),
    ("upper_back", (10, 22), (12, 28)),
    ("chest", (8, 22), (10, 26)),
    ("triceps", (6, 20), (8, 24)),
    ("shoulders", (8, 20), (10, 24)),
    ("biceps", (8, 20), (10, 24)),
    ("core", (4, 20), (6, 24)),
];

#[test]
fn mrv_mev_default_tables() {
    let male = default_mrv_mev(Sex::Male);
    let female = default_mrv_mev(Sex::Female);
    assert_eq!(male.len(), 10);
    for &(muscle, (mev_m, mrv_m), (mev_f, mrv_f)) in MRV_MEV {
        let m = Muscle::parse(muscle).unwrap();
        assert_eq!(male[&m], MrvMev { mev: mev_m, mrv: mrv_m }, "{muscle}");
        assert_eq!(female[&m], MrvMev { mev: mev_f, mrv: mrv_f }, "{muscle}");
        assert_eq!(mrv_mev_config(Sex::Male, TrainingAge::Intermediate)[&m], male[&m]);
    }
}

#[test]
fn training_age_multipliers_rounded() {
    let round = |n: u32, x: f64| (n as f64 * x).round() as u32;
    for (age, mev_x, mrv_x) in [
        (TrainingAge::Beginner, 0.8, 0.8),
        (TrainingAge::Intermediate, 1.0, 1.0),
        (TrainingAge::Advanced, 1.1, 1.2),
    ] {
        for sex in [Sex::Male, Sex::Female] {
            let table = mrv_mev_config(sex, age);
            for &(muscle, male, female) in MRV_MEV {
                let (mev, mrv) = if sex == Sex::Male { male } else { female };
                let got = table[&Muscle::parse(muscle).unwrap()];
                assert_eq!(
                    got,
                    MrvMev { mev: round(mev, mev_x), mrv: round(mrv, mrv_x) },
                    "{sex} {age} {muscle}"
                );
            }
        }
    }
    // spot checks written out
    let adv = mrv_mev_config(Sex::Male, TrainingAge::Advanced);
    assert_eq!(adv[&Muscle::Quads], MrvMev { mev: 9, mrv: 24 });
    assert_eq!(adv[&Muscle::LowerBack], MrvMev { mev: 7, mrv: 22 });
    let beg = mrv_mev_config(Sex::Female, TrainingAge::Beginner);
    assert_eq!(beg[&Muscle::Hamstrings], MrvMev { mev: 6, mrv: 20 });
    assert_eq!(beg[&Muscle::Glutes], MrvMev { mev: 0, mrv: 22 });
}

#[test]
fn mrv_mev_overrides_and_training_age_from_input() {
    let input = input_with(json!({"biologicalSex": "female", "trainingAge": "advanced",
        "mrvMevConfig": {"quads": {"mrv": 21}, "chest": {"mev": 3}}}));
    let t = resolved_mrv_mev(&input);
    assert_eq!(t[&Muscle::Quads], MrvMev { mev: 11, mrv: 21 });
    assert_eq!(t[&Muscle::Chest], MrvMev { mev: 3, mrv: 31 });
    assert_eq!(t[&Muscle::Core], MrvMev { mev: 7, mrv: 29 });
}

#[test]
fn volume_status_checks_in_order() {
    let cases: &[(f64, i64, i64, VolumeStatus)] = &[
        (21.0, 8, 20, VolumeStatus::ExceededMrv),
        (20.5, 8, 20, VolumeStatus::ExceededMrv),
        (20.0, 8, 20, VolumeStatus::AtMrv),
        (19.0, 8, 20, VolumeStatus::ApproachingMrv),
        (18.0, 8, 20, VolumeStatus::ApproachingMrv),
        (17.9, 8, 20, VolumeStatus::InRange),
        (8.0, 8, 20, VolumeStatus::InRange),
        (7.9, 8, 20, VolumeStatus::BelowMev),
        (0.0, 8, 20, VolumeStatus::BelowMev),
        // order matters: approaching is checked before the MEV checks
        (19.0, 22, 20, VolumeStatus::ApproachingMrv),
        (0.0, 0, 2, VolumeStatus::ApproachingMrv),
        (0.0, 0, 22, VolumeStatus::InRange),
        // at MRV is checked before approaching, exceeded before at
        (2.0, 0, 2, VolumeStatus::AtMrv),
        (3.0, 0, 2, VolumeStatus::ExceededMrv),
    ];
    for &(sets, mev, mrv, expected) in cases {
        assert_eq!(volume_status(sets, mev, mrv), expected, "{sets} {mev} {mrv}");
    }
    let names: Vec<&str> = VolumeStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["below_mev", "in_range", "approaching_mrv", "at_mrv", "exceeded_mrv"]);
}

#[test]
fn rpe_set_credit_table() {
    let cases: &[(Option<f64>, f64)] = &[
        (Some(0.0), 0.0),
        (Some(4.0), 0.0),
        (Some(5.0), 0.0),
        (Some(6.0), 0.15),
        (Some(6.5), 0.30),
        (Some(7.0), 0.65),
        (Some(7.5), 0.75),
        (Some(8.0), 0.85),
        (Some(8.5), 0.925),
        (Some(9.0), 1.0),
        (Some(9.5), 1.0),
        (Some(10.0), 1.0),
        (None, 1.0),
    ];
    for &(rpe, credit) in cases {
        assert_eq!(rpe_set_multiplier(rpe), credit, "{rpe:?}");
    }
    // Between listed points: linear, and monotone over the whole scale.
    assert!((rpe_set_multiplier(Some(7.25)) - 0.70).abs() < 1e-12);
    let mut last = 0.0;
    for i in 0..=100 {
        let c = rpe_set_multiplier(Some(i as f64 / 10.0));
        assert!(c >= last, "not monotone at {}", i as f64 / 10.0);
        last = c;
    }
}

#[test]
fn primary_and_secondary_muscles() {
    use Muscle::*;
    let table: [(Lift, &[Muscle], &[Muscle]); 3] = [
        (Lift::Squat, &[Quads], &[Glutes, LowerBack]),
        (Lift::Bench, &[Chest], &[Triceps, Shoulders]),
        (Lift::Deadlift, &[Hamstrings, LowerBack], &[Glutes]),
    ];
    for (lift, primary, secondary) in table {
        let m = lift_muscles(lift);
        assert_eq!(m.primary, primary, "{lift}");
        assert_eq!(m.secondary, secondary, "{lift}");
    }
}

#[test]
fn weekly_volume_from_logs_uses_the_set_credit() {
    let input = input_with(json!({"recentLogs": [
        {"sessionDate": "2024-05-01", "lift": "squat", "sets": [{"weightKg": 100, "reps": 5, "rpe": 8},
                                                                {"weightKg": 100, "reps": 5, "rpe": 7},
                                                                {"weightKg": 100, "reps": 5}]},
        {"sessionDate": "2024-05-02", "lift": "Deadlift", "sets": [{"rpe": 5}, {"rpe": 9.5}]},
        {"sessionDate": "2024-05-03", "lift": "curls", "sets": [{"rpe": 9}]}
    ]}));
    let v = weekly_volume_from_logs(&input.recent_logs);
    assert_eq!(v[&Muscle::Quads], 2.5); // 0.85 + 0.65 + 1.0
    assert_eq!(v[&Muscle::Hamstrings], 1.0); // 0 + 1
    assert_eq!(v[&Muscle::LowerBack], 2.25); // squat secondary 1.25 + deadlift primary 1.0
    assert_eq!(v[&Muscle::Glutes], 1.75); // 1.25 + 0.5
    assert!(!v.contains_key(&Muscle::Biceps));
}

// ---------------------------------------------------------------- formula autoregulation

#[test]
fn formula_soreness_tiers() {
    // block 3 heavy: 4 × 125 (0.90 × 140 = 126 → 125)
    let cases: &[(&str, f64, usize, f64)] = &[
        ("male", 3.0, 4, 125.0),
        ("male", 5.0, 3, 125.0),
        ("male", 7.0, 2, 120.0),   // −2 sets, 125 × 0.95 = 118.75 → 120
        ("female", 7.0, 3, 122.5), // −1 set, 125 × 0.97 = 121.25 → 122.5
        ("male", 9.0, 3, 50.0),    // recovery: 3 × 5 @ 40%
    ];
    for &(sex, soreness, sets, weight) in cases {
        let input = input_with(json!({"biologicalSex": sex, "blockNumber": 3,
            "sorenessRatings": {"quads": soreness}}));
        let s = formula_session(&input).unwrap();
        assert_eq!(s.main_lift_sets.len(), sets, "{sex} {soreness}");
        assert_eq!(s.main_lift_sets[0].weight_kg, weight, "{sex} {soreness}");
    }
    // Soreness of a muscle the lift does not train leaves the main lift alone.
    let s =
        formula_session(&input_with(json!({"blockNumber": 3, "sorenessRatings": {"biceps": 8}}))).unwrap();
    assert_eq!(s.main_lift_sets.len(), 4);
}

#[test]
fn formula_rpe_autoregulation_uses_the_two_latest_sessions() {
    // The oldest squat session (RPE 4) and the newer bench one never count.
    let logs = |rpe: f64| {
        json!([
            {"sessionDate": "2024-03-25", "lift": "squat", "sets": [{"rpe": 4}]},
            {"sessionDate": "2024-04-01", "lift": "squat", "sets": [{"rpe": rpe}, {"rpe": null}]},
            {"sessionDate": "2024-04-08", "lift": "squat", "sets": [{"rpe": rpe}, {"rpe": rpe}]},
            {"sessionDate": "2024-04-09", "lift": "bench", "sets": [{"rpe": 10}]}
        ])
    };
    // Target 8.5. Over the two newest: +1.5 → load ×0.95 (106.875 → 107.5); the calibration
    // over all three (mean gap (4.5 − 1.5 − 1.5) / 3 = 0.5) leaves the sets alone.
    let s = formula_session(&input_with(json!({"recentLogs": logs(10.0)}))).unwrap();
    assert_eq!(weights(&s), vec![107.5, 107.5]);
    // +1.0 → ×0.975 (109.6875 → 110)
    let s = formula_session(&input_with(json!({"recentLogs": logs(9.5)}))).unwrap();
    assert_eq!(weights(&s), vec![110.0, 110.0]);
    // −1.0 → ×1.025 (115.3125 → 115); calibration gap (4.5 + 1 + 1) / 3 ≥ 1 adds a set
    let s = formula_session(&input_with(json!({"recentLogs": logs(7.5)}))).unwrap();
    assert_eq!(weights(&s), vec![115.0, 115.0, 115.0]);
    // within ±0.75: load unchanged; the calibration's mean gap (4.5 − 0.5 − 0.5) / 3 ≥ 1 adds a set
    let s = formula_session(&input_with(json!({"recentLogs": logs(9.0)}))).unwrap();
    assert_eq!(weights(&s), vec![112.5, 112.5, 112.5]);
    // targetRpe of the logged session replaces today's target
    let s = formula_session(&input_with(json!({"recentLogs": [
        {"sessionDate": "2024-04-01", "lift": "squat", "targetRpe": 10, "sets": [{"rpe": 10}]},
        {"sessionDate": "2024-04-08", "lift": "squat", "targetRpe": 10, "sets": [{"rpe": 10}]}]})))
    .unwrap();
    assert_eq!(weights(&s), vec![112.5, 112.5]);
    // Week 2 of a block, sessions easier than prescribed: +1 for the gap, +1 progression.
    let s = formula_session(&input_with(json!({"weekNumber": 5, "recentLogs": logs(8.0)}))).unwrap();
    assert_eq!(s.main_lift_sets.len(), 4);
}

#[test]
fn formula_disruptions() {
    let d = |kind: &str, severity: &str| json!({"activeDisruptions": [{"type": kind, "severity": severity}]});
    let s = formula_session(&input_with(d("illness", "major"))).unwrap();
    assert!(s.skipped_main_lift);
    // moderate: half the sets (rounded up); injury −40% load
    let s = formula_session(&input_with(d("injury", "moderate"))).unwrap();
    assert_eq!(weights(&s), vec![67.5]);
    // minor fatigue −10%: 101.25 (40.5 steps, halves up)
    let s2 = formula_session(&input_with(d("fatigue", "minor"))).unwrap();
    assert_eq!(weights(&s2), vec![102.5, 102.5]);
    // types without a load change: noted (minor) or halved (moderate)
    assert_eq!(weights(&formula_session(&input_with(d("other", "minor"))).unwrap()), vec![112.5, 112.5]);
    assert_eq!(weights(&formula_session(&input_with(d("other", "moderate"))).unwrap()), vec![112.5]);
    // the most severe applies; on a deload day none does
    let both = json!({"activeDisruptions": [{"type": "travel", "severity": "minor"},
        {"type": "illness", "severity": "moderate"}]});
    assert_eq!(weights(&formula_session(&input_with(both.clone())).unwrap()), vec![85.0]);
    let mut deload = both;
    deload["intensityType"] = json!("deload");
    assert_eq!(weights(&formula_session(&input_with(deload)).unwrap()), vec![55.0, 55.0, 55.0]);
    // Disruptions for another lift leave this one alone.
    let s = formula_session(&input_with(json!({"activeDisruptions": [
        {"type": "injury", "severity": "major", "affectedLifts": ["bench"]}]})))
    .unwrap();
    assert!(!s.skipped_main_lift);
}

// ---------------------------------------------------------------- adjustment rules

#[test]
fn main_sets_are_base_plus_set_modifier_and_weight_is_base_times_intensity() {
    let input = input_with(json!({"blockNumber": 3})); // 4 × 125
                                                       // intensity 1.0 so that the over-reaction guard (which needs a weight cut) stays out
    for (modifier, sets) in [(2, 6), (1, 5), (0, 4), (-1, 3), (-2, 2), (-3, 1)] {
        let s = apply(&input, json!({"setModifier": modifier}));
        assert_eq!(s.main_lift_sets.len(), sets, "{modifier}");
        assert!(!s.skipped_main_lift);
    }
    for (m, w) in [(0.4, 50.0), (0.88, 110.0), (0.9, 112.5), (1.1, 137.5), (1.2, 150.0)] {
        let s = apply(&input, json!({"intensityModifier": m}));
        assert_eq!(s.main_lift_sets[0].weight_kg, round_to_increment(125.0 * m, 2.5), "{m}");
        assert_eq!(s.main_lift_sets[0].weight_kg, w, "{m}");
    }
}

#[test]
fn set_modifier_to_zero_means_skipped() {
    let input = base_input(); // 2 sets
    let s = apply(&input, json!({"setModifier": -2}));
    assert!(s.skipped_main_lift);
    assert!(s.main_lift_sets.is_empty());
    let s = apply(&input, json!({"setModifier": -3}));
    assert!(s.skipped_main_lift);
}

#[test]
fn skip_main_lift_skips_it_and_suppresses_auxiliaries() {
    let input = input_with(json!({"activeAuxiliaries": ["Pause Squat", "Leg Press"]}));
    let s = apply(&input, json!({"skipMainLift": true}));
    assert!(s.skipped_main_lift && s.main_lift_sets.is_empty() && s.warmup_sets.is_empty());
    for a in &s.auxiliary_work {
        assert!(a.skipped && a.sets.is_empty());
        assert_eq!(a.skip_reason.as_deref(), Some(REASON_MAIN_SKIPPED));
    }
}

#[test]
fn skipped_main_lift_keeps_auxiliaries_on_deload_or_equipment_disruption() {
    let deload = input_with(json!({"intensityType": "deload", "activeAuxiliaries": ["Leg Press"]}));
    let s = apply(&deload, json!({"skipMainLift": true}));
    assert!(!aux(&s, "Leg Press").skipped);
    let equipment = input_with(json!({"activeAuxiliaries": ["Leg Press"],
        "activeDisruptions": [{"type": "equipment_unavailable", "severity": "moderate"}]}));
    let s = apply(&equipment, json!({"skipMainLift": true}));
    assert!(!aux(&s, "Leg Press").skipped);
    // The formula halves the barbell lift (moderate), gives each auxiliary an extra set and
    // adds two bodyweight exercises in compensation.
    let f = formula_session(&equipment).unwrap();
    assert!(!f.skipped_main_lift);
    assert_eq!(f.main_lift_sets.len(), 1);
    assert_eq!(aux(&f, "Leg Press").sets.len(), 4);
    let compensation: Vec<&str> =
        f.auxiliary_work.iter().filter(|a| a.is_compensation).map(|a| a.exercise.as_str()).collect();
    assert_eq!(compensation.len(), 2, "{:?}", f.auxiliary_work);
    // A major equipment disruption skips the lift; the compensation work stays.
    let major = input_with(json!({"activeAuxiliaries": ["Leg Press"],
        "activeDisruptions": [{"type": "equipment_unavailable", "severity": "major"}]}));
    let f = formula_session(&major).unwrap();
    assert!(f.skipped_main_lift);
    assert_eq!(aux(&f, "Leg Press").skip_reason.as_deref(), Some(REASON_MAIN_SKIPPED));
    assert!(f.auxiliary_work.iter().filter(|a| a.is_compensation).all(|a| !a.skipped && a.sets.len() == 3));
    // any other disruption: suppressed
    let illness = input_with(json!({"activeAuxiliaries": ["Leg Press"],
        "activeDisruptions": [{"type": "illness", "severity": "major"}]}));
    let f = formula_session(&illness).unwrap();
    assert_eq!(aux(&f, "Leg Press").skip_reason.as_deref(), Some(REASON_MAIN_SKIPPED));
}

#[test]
fn auxiliary_actions() {
    let input = input_with(json!({"primaryLift": "deadlift", "oneRmKg": 200,
        "activeAuxiliaries": ["Romanian Deadlift", "Barbell Row", "Good Mornings", "Mystery Machine"]}));
    let s = apply(
        &input,
        json!({"auxOverrides": {"Romanian Deadlift": "normal", "Barbell Row": "reduce", "Good Mornings": "skip"}}),
    );
    let rdl = aux(&s, "Romanian Deadlift");
    assert_eq!(rdl.sets.len(), 3);
    assert!(rdl.sets.iter().all(|x| x.weight_kg == 100.0 && x.reps == 10 && x.rpe_target == 7.5));
    let row = aux(&s, "Barbell Row"); // 0.4 × 200 = 80 → × 0.9 = 72 → 72.5
    assert_eq!(row.sets.len(), 2);
    assert!(row.sets.iter().all(|x| x.weight_kg == 72.5 && x.reps == 10 && x.rpe_target == 7.5));
    let gm = aux(&s, "Good Mornings");
    assert!(gm.skipped && gm.sets.is_empty());
    assert_eq!(gm.skip_reason.as_deref(), Some(REASON_LLM_SKIP));
    // uncatalogued: 0 kg with a warning; no override means normal
    let mystery = aux(&s, "Mystery Machine");
    assert_eq!(mystery.sets.len(), 3);
    assert!(mystery.sets.iter().all(|x| x.weight_kg == 0.0));
    assert!(s.warnings.iter().any(|w| w.contains("Mystery Machine")));
}

#[test]
fn adjustment_load_cuts_carry_over_to_auxiliaries() {
    let input = input_with(json!({"activeAuxiliaries": ["Pause Squat", "Ski Erg"]}));
    // Pause Squat: 0.75 × 140 = 105; × 0.9 intensity → 94.5 → 95 (the reduce action's own 0.9 too)
    let s = apply(&input, json!({"intensityModifier": 0.9}));
    assert!(aux(&s, "Pause Squat").sets.iter().all(|x| x.weight_kg == 95.0));
    let s = apply(&input, json!({"intensityModifier": 1.1}));
    assert!(aux(&s, "Pause Squat").sets.iter().all(|x| x.weight_kg == 105.0), "never heavier than base");
    // deload: half the load and two sets
    let deload = input_with(json!({"intensityType": "deload", "activeAuxiliaries": ["Pause Squat"]}));
    let s = apply(&deload, json!({}));
    let pause = aux(&s, "Pause Squat");
    assert_eq!((pause.sets.len(), pause.sets[0].weight_kg), (2, 52.5));
    // a timed exercise is one untimed block
    let plank = aux(&apply(&input, json!({})), "Ski Erg").clone();
    assert_eq!(plank.exercise_type.as_deref(), Some("timed"));
    assert_eq!((plank.sets.len(), plank.sets[0].reps, plank.sets[0].weight_kg), (1, 0, 0.0));
}

#[test]
fn aux_overrides_record_and_array_forms_are_equivalent() {
    let input = input_with(json!({"activeAuxiliaries": ["Pause Squat", "Leg Press"]}));
    let record = apply(&input, json!({"auxOverrides": {"Pause Squat": "reduce", "Leg Press": "skip"}}));
    let array = apply(
        &input,
        json!({"auxOverrides": [{"exercise": "Pause Squat", "action": "reduce", "anchorOverride": null},
                                  {"exercise": "Leg Press", "action": "skip"}]}),
    );
    assert_eq!(record, array);
    let a = adjustment(json!({"auxOverrides": {"Leg Press": "skip"}}));
    assert_eq!(
        serde_json::to_value(&a).unwrap()["auxOverrides"],
        json!([{"exercise": "Leg Press", "action": "skip"}])
    );
    // anchorOverride replaces the catalogue load
    let anchored = apply(
        &input,
        json!({"auxOverrides": [{"exercise": "Pause Squat", "action": "reduce",
                                 "anchorOverride": {"weightKg": 80, "reason": "bar speed"}}]}),
    );
    assert!(aux(&anchored, "Pause Squat").sets.iter().all(|x| x.weight_kg == 72.5));
    // 80 × 0.9 = 72
}

#[test]
fn auxiliary_catalogue_from_input_overrides_the_builtin_one() {
    let input = input_with(json!({"activeAuxiliaries": ["Leg Press", "Sled Push"],
        "auxiliaryCatalogue": {"leg press": {"lift": "squat", "ratio": 1.0}, "Sled Push": {"lift": "squat", "ratio": 0.3}}}));
    let s = formula_session(&input).unwrap();
    // 140 kg, less the post-heavy-main fatigue discount on quads: × 0.85 = 119 → 120
    assert_eq!(aux(&s, "Leg Press").sets[0].weight_kg, 120.0);
    assert_eq!(aux(&s, "Sled Push").sets[0].weight_kg, 42.5);
    // other lifts scale from allOneRmKg when given
    let input =
        input_with(json!({"activeAuxiliaries": ["Romanian Deadlift"], "allOneRmKg": {"deadlift": 200}}));
    assert_eq!(aux(&formula_session(&input).unwrap(), "Romanian Deadlift").sets[0].weight_kg, 100.0);
    let input = input_with(json!({"activeAuxiliaries": ["Romanian Deadlift"]}));
    assert_eq!(aux(&formula_session(&input).unwrap(), "Romanian Deadlift").sets[0].weight_kg, 70.0);
}

#[test]
fn aux_sets_never_exceed_the_proportional_cap() {
    // (block, setModifier, main sets, cap) with cap = max(1, round(3 × main / base))
    let cases = [(3, -1, 3, 2), (3, -2, 2, 2), (3, -3, 1, 1), (1, -1, 1, 2), (1, 0, 2, 3), (1, 2, 4, 3)];
    for (block, modifier, main, cap) in cases {
        let input = input_with(json!({"blockNumber": block, "activeAuxiliaries": ["Pause Squat"]}));
        let s = apply(&input, json!({"setModifier": modifier}));
        assert_eq!(s.main_lift_sets.len(), main, "{block} {modifier}");
        assert_eq!(aux(&s, "Pause Squat").sets.len(), cap, "{block} {modifier}");
    }
    assert_eq!(auxiliary::aux_set_cap(0, 2), 1);
}

#[test]
fn severe_soreness_skips_every_auxiliary_and_7_does_not() {
    let auxes = json!(["Pause Squat", "Leg Press", "Barbell Curl"]);
    // 9+ on a muscle the session loads (squat: quads, glutes, lower back) skips them all…
    for muscle in ["quads", "glutes", "lower_back"] {
        let input = input_with(json!({"activeAuxiliaries": auxes, "sorenessRatings": {muscle: 9}}));
        for s in
            [formula_session(&input).unwrap(), apply(&input, json!({"auxOverrides": {"Leg Press": "skip"}}))]
        {
            for a in &s.auxiliary_work {
                assert!(a.skipped, "{muscle} {}", a.exercise);
                let expected = if s.jit_strategy != JitStrategy::Formula && a.exercise == "Leg Press" {
                    REASON_LLM_SKIP
                } else {
                    REASON_SEVERE_SORENESS
                };
                assert_eq!(a.skip_reason.as_deref(), Some(expected), "{muscle} {}", a.exercise);
            }
        }
    }
    // …on a muscle it does not load, or on a deload day, it does not.
    for patch in [
        json!({"activeAuxiliaries": auxes, "sorenessRatings": {"biceps": 10, "calves": 9}}),
        json!({"activeAuxiliaries": auxes, "sorenessRatings": {"quads": 9}, "intensityType": "deload"}),
    ] {
        let input = input_with(patch);
        for s in [formula_session(&input).unwrap(), apply(&input, json!({}))] {
            assert!(s.auxiliary_work.iter().all(|a| !a.skipped), "{:?}", s.auxiliary_work);
        }
    }
    let input = input_with(json!({"activeAuxiliaries": auxes, "sorenessRatings": {"quads": 7, "biceps": 8}}));
    for s in [formula_session(&input).unwrap(), apply(&input, json!({}))] {
        assert!(s.auxiliary_work.iter().all(|a| !a.skipped && !a.sets.is_empty() && a.skip_reason.is_none()));
    }
}

#[test]
fn rest_adjustment_is_clamped_and_reported_as_a_suggestion() {
    let input = base_input(); // formula rest 180 s
    for (delta, expected) in [(30.0, 30), (60.0, 60), (90.0, 60), (-100.0, -60), (-45.0, -45), (0.0, 0)] {
        let s = apply(&input, json!({"restAdjustments": {"mainLift": delta}}));
        assert_eq!(
            s.llm_rest_suggestion,
            Some(LlmRestSuggestion { delta_seconds: expected, formula_base_seconds: 180 }),
            "{delta}"
        );
        assert_eq!(s.rest_seconds.main_lift, 180);
    }
    for rest in [json!(null), json!({"mainLift": null}), json!({})] {
        let s = apply(&input, json!({"restAdjustments": rest}));
        assert_eq!(s.llm_rest_suggestion, None);
        assert!(serde_json::to_value(&s).unwrap().get("llmRestSuggestion").is_none());
    }
    let s = apply(&input, json!({"restAdjustments": {"mainLift": 20}}));
    assert_eq!(
        serde_json::to_value(&s).unwrap()["llmRestSuggestion"],
        json!({"deltaSeconds": 20, "formulaBaseSeconds": 180})
    );
}

// ---------------------------------------------------------------- hard constraints

#[test]
fn mrv_exceeded_forces_a_skip_with_the_exact_warning() {
    let cases = [
        ("squat", json!({"quads": 20}), "quads"),
        ("squat", json!({"quads": 25}), "quads"),
        ("bench", json!({"chest": 22}), "chest"),
        ("deadlift", json!({"hamstrings": 12, "lower_back": 18}), "lower_back"),
        ("deadlift", json!({"hamstrings": 20}), "hamstrings"),
    ];
    for (lift, volume, muscle) in cases {
        let input = input_with(json!({"primaryLift": lift, "weeklyVolumeToDate": volume,
            "activeAuxiliaries": ["Leg Press"]}));
        let forced = format!("[constraint] MRV exceeded for {muscle} — main lift forced skip");
        assert_eq!(mrv_exceeded_warning(Muscle::parse(muscle).unwrap()), forced);
        // The formula skips it itself (the seed app's wording); an adjustment is forced to.
        let formula = format!("MRV exceeded for {muscle} — main lift skipped");
        for (s, expected) in [
            (formula_session(&input).unwrap(), formula),
            (apply(&input, json!({"intensityModifier": 1.2, "setModifier": 2})), forced),
        ] {
            assert!(s.skipped_main_lift, "{lift} {muscle}");
            assert!(s.main_lift_sets.is_empty());
            assert!(s.warnings.contains(&expected), "{:?}", s.warnings);
            assert_eq!(aux(&s, "Leg Press").skip_reason.as_deref(), Some(REASON_MAIN_SKIPPED));
        }
    }
    // Glutes and lower back are squat-session muscles too; hamstrings and upper back are not.
    let input = input_with(json!({"weeklyVolumeToDate": {"glutes": 22}}));
    assert!(formula_session(&input).unwrap().skipped_main_lift);
    let input = input_with(json!({"weeklyVolumeToDate": {"hamstrings": 30, "upper_back": 30}}));
    assert!(!formula_session(&input).unwrap().skipped_main_lift);
    // Capacity divides by the lift's load on the muscle: glutes 21 of 22 at 0.55 per squat set
    // leaves room for 1 set (1 / 0.55 = 1.8).
    let input = input_with(json!({"blockNumber": 3, "weeklyVolumeToDate": {"glutes": 21}}));
    assert_eq!(formula_session(&input).unwrap().main_lift_sets.len(), 1);
}

#[test]
fn below_mrv_sets_are_capped_at_the_remaining_capacity() {
    let input = input_with(json!({"blockNumber": 3, "weeklyVolumeToDate": {"quads": 18}})); // 4 sets planned
    for (s, prefix) in [
        (formula_session(&input).unwrap(), "Approaching MRV for quads — sets capped at 2"),
        (apply(&input, json!({"setModifier": 2})), "[constraint]"),
    ] {
        assert_eq!(s.main_lift_sets.len(), 2);
        let w = s.warnings.iter().find(|w| w.contains("MRV") && w.contains("quads")).expect("MRV warning");
        assert!(w.starts_with(prefix), "{w}");
    }
    // one set left; and a fraction of a set left is no set at all
    let input = input_with(json!({"blockNumber": 3, "weeklyVolumeToDate": {"quads": 19}}));
    assert_eq!(formula_session(&input).unwrap().main_lift_sets.len(), 1);
    let input = input_with(json!({"blockNumber": 3, "weeklyVolumeToDate": {"quads": 19.5}}));
    let s = formula_session(&input).unwrap();
    assert!(s.skipped_main_lift && s.main_lift_sets.is_empty());
    assert!(s.warnings.iter().any(|w| w.contains("MRV") && w.contains("quads")));
    // Female defaults (MRV 26) and advanced lifters (MRV 24) have more room.
    let female = input_with(json!({"biologicalSex": "female", "weeklyVolumeToDate": {"quads": 20}}));
    assert_eq!(formula_session(&female).unwrap().main_lift_sets.len(), 3);
    let advanced = input_with(json!({"trainingAge": "advanced", "weeklyVolumeToDate": {"quads": 20}}));
    assert_eq!(formula_session(&advanced).unwrap().main_lift_sets.len(), 2);
    let beginner = input_with(json!({"trainingAge": "beginner", "weeklyVolumeToDate": {"quads": 16}}));
    assert!(formula_session(&beginner).unwrap().skipped_main_lift); // MRV 16
}

#[test]
fn minimum_one_working_set_is_enforced() {
    let input = base_input();
    let mut session = formula_session(&input).unwrap();
    session.main_lift_sets.clear();
    session.skipped_main_lift = false;
    let s = enforce_hard_constraints(&input, session).unwrap();
    assert_eq!(s.main_lift_sets.len(), 1);
    assert_eq!(s.main_lift_sets[0].weight_kg, 112.5);
    assert!(s.warnings.contains(&"[constraint] Minimum 1 working set enforced".to_string()));
    assert_eq!(MIN_SET_WARNING, "[constraint] Minimum 1 working set enforced");
    // a skipped session stays skipped
    let mut skipped = formula_session(&input).unwrap();
    skipped.main_lift_sets.clear();
    skipped.skipped_main_lift = true;
    let s = enforce_hard_constraints(&input, skipped).unwrap();
    assert!(s.skipped_main_lift && s.main_lift_sets.is_empty());
    assert!(!s.warnings.contains(&MIN_SET_WARNING.to_string()));
}

#[test]
fn over_reaction_guard_clamps_combined_cuts() {
    let input = input_with(json!({"blockNumber": 3})); // 4 × 125; floor ⌈0.95 × 125⌉ = 120
                                                       // cuts both → held to 3 sets and ≥ 120
    for (modifier, intensity) in [(-3, 0.6), (-2, 0.8), (-1, 0.9), (-1, 0.4)] {
        let s = apply(&input, json!({"setModifier": modifier, "intensityModifier": intensity}));
        assert_eq!(s.main_lift_sets.len(), 3, "{modifier} {intensity}");
        assert!(s.main_lift_sets.iter().all(|x| x.weight_kg >= 0.95 * 125.0), "{:?}", weights(&s));
        assert_eq!(s.main_lift_sets[0].weight_kg, 120.0);
        assert!(s.warnings.iter().any(|w| w.contains("Over-reaction guard")));
    }
    // a cut to zero sets is also held (to 1 set of 2) rather than read as a skip
    let s = apply(&base_input(), json!({"setModifier": -2, "intensityModifier": 0.8}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (1, 107.5));
    // inside the envelope: untouched
    let s = apply(&input, json!({"setModifier": -1, "intensityModifier": 0.96}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (3, 120.0));
    assert!(!s.warnings.iter().any(|w| w.contains("Over-reaction")));
    // single-axis cuts are not over-reactions
    let s = apply(&input, json!({"setModifier": -3}));
    assert_eq!(s.main_lift_sets.len(), 1);
    let s = apply(&input, json!({"intensityModifier": 0.5}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (4, 62.5));
    // strong signals bypass the guard: soreness ≥ 7 on any muscle, or any active disruption
    let sore = input_with(json!({"blockNumber": 3, "sorenessRatings": {"quads": 7}}));
    let s = apply(&sore, json!({"setModifier": -3, "intensityModifier": 0.6}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (1, 75.0));
    let disrupted = input_with(json!({"blockNumber": 3, "activeDisruptions": [{"type": "travel"}]}));
    let s = apply(&disrupted, json!({"setModifier": -3, "intensityModifier": 0.6}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (1, 75.0));
    // soreness 6 does not bypass it
    let mild = input_with(json!({"blockNumber": 3, "sorenessRatings": {"quads": 6}}));
    let s = apply(&mild, json!({"setModifier": -3, "intensityModifier": 0.6}));
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (3, 120.0));
}

#[test]
fn over_reaction_guard_applies_to_adjusted_sessions_passed_in() {
    let input = input_with(json!({"blockNumber": 3}));
    let mut session = formula_session(&input).unwrap();
    session.main_lift_sets.truncate(1);
    session.main_lift_sets[0].weight_kg = 75.0;
    session.jit_strategy = JitStrategy::Llm;
    let s = enforce_hard_constraints(&input, session.clone()).unwrap();
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (3, 120.0));
    // the formula's own sessions are not "adjustments"
    session.jit_strategy = JitStrategy::Formula;
    let s = enforce_hard_constraints(&input, session).unwrap();
    assert_eq!((s.main_lift_sets.len(), s.main_lift_sets[0].weight_kg), (1, 75.0));
}

#[test]
fn rehab_cap_is_rounded_up_to_the_increment() {
    let input = input_with(json!({"weightIncrementKg": 5, "rehabCaps": [{"lift": "squat", "capKg": 82.5}]}));
    for s in [formula_session(&input).unwrap(), apply(&input, json!({"intensityModifier": 1.1}))] {
        assert_eq!(weights(&s), vec![85.0, 85.0]);
        assert!(s.warnings.contains(&"Capped at 85kg by Rehab Mode".to_string()), "{:?}", s.warnings);
        assert!(s.warmup_sets.iter().all(|w| w.weight_kg < 85.0));
    }
    assert_eq!(rehab_warning(85.0), "Capped at 85kg by Rehab Mode");
    // 2.5 kg plates: the cap itself
    let input = input_with(json!({"rehabCaps": [{"lift": "squat", "capKg": 82.5}]}));
    assert_eq!(weights(&formula_session(&input).unwrap()), vec![82.5, 82.5]);
    assert!(formula_session(&input)
        .unwrap()
        .warnings
        .contains(&"Capped at 82.5kg by Rehab Mode".to_string()));
    // another lift's cap, or a cap above the weight, changes nothing
    for caps in [json!([{"lift": "bench", "capKg": 50}]), json!([{"lift": "squat", "capKg": 150}])] {
        let s = formula_session(&input_with(json!({"rehabCaps": caps}))).unwrap();
        assert_eq!(weights(&s), vec![112.5, 112.5]);
        assert!(!s.warnings.iter().any(|w| w.contains("Rehab")));
    }
    // the tightest of several caps
    let s = formula_session(&input_with(
        json!({"rehabCaps": [{"lift": "squat", "capKg": 100}, {"lift": "squat", "capKg": 90}]}),
    ))
    .unwrap();
    assert_eq!(weights(&s), vec![90.0, 90.0]);
    assert_eq!(round_up_to_increment(82.5, 5.0), 85.0);
}

#[test]
fn intensity_never_above_1_20_and_sets_never_above_base_plus_2() {
    let input = base_input(); // 2 × 112.5; ceiling 1.20 × 112.5 = 135
    let mut session = formula_session(&input).unwrap();
    session.main_lift_sets =
        (1..=7).map(|n| PlannedSet { set_number: n, weight_kg: 200.0, reps: 5, rpe_target: 8.5 }).collect();
    let s = enforce_hard_constraints(&input, session).unwrap();
    assert_eq!(s.main_lift_sets.len(), 4);
    assert!(s.main_lift_sets.iter().all(|x| x.weight_kg == 135.0));
    assert!(s.warnings.iter().any(|w| w.contains("1.20")));
    assert!(s.warnings.iter().any(|w| w.contains("+ 2")));
    // where 1.20 × base is not a whole increment the ceiling rounds down: 57.5 × 1.2 = 69 → 67.5
    let light = input_with(json!({"oneRmKg": 72})); // 0.8 × 72 = 57.6 → 57.5
    let s = apply(&light, json!({"intensityModifier": 1.2, "setModifier": 2}));
    assert_eq!(s.main_lift_sets.len(), 4);
    assert!(s.main_lift_sets.iter().all(|x| x.weight_kg == 67.5 && x.weight_kg <= 1.2 * 57.5));
    assert_eq!(floor_to_increment(69.0, 2.5), 67.5);
}

#[test]
fn constraints_run_after_the_formula_and_are_idempotent() {
    let input = input_with(json!({"blockNumber": 3, "weeklyVolumeToDate": {"quads": 18},
        "rehabCaps": [{"lift": "squat", "capKg": 100}], "activeAuxiliaries": ["Pause Squat"]}));
    let once = formula_session(&input).unwrap();
    assert_eq!(weights(&once), vec![100.0, 100.0]);
    let twice = enforce_hard_constraints(&input, once.clone()).unwrap();
    assert_eq!(once, twice);
}

#[test]
fn enforce_rejects_malformed_sessions() {
    let input = json!({"blockNumber": 1, "primaryLift": "squat", "intensityType": "heavy", "oneRmKg": 140});
    let e = json_result(sql::enforce_hard_constraints(&input, &json!({"mainLiftSets": [], "skippedMainLift": "no"})))
        .unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::InvalidType, "session.skippedMainLift"));
    let e = json_result(sql::enforce_hard_constraints(
        &input,
        &json!({"mainLiftSets": [{"set_number": 1, "weight_kg": -5, "reps": 5, "rpe_target": 8}], "skippedMainLift": false}),
    ))
    .unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::OutOfRange, "session.mainLiftSets[0].weight_kg"));
    let e = json_result(sql::enforce_hard_constraints(&input, &json!({"skippedMainLift": false}))).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::MissingField, "session.mainLiftSets"));
    let e = json_result(sql::enforce_hard_constraints(
        &input,
        &json!({"mainLiftSets": [{"set_number": 1, "weight_kg": 100}], "skippedMainLift": false}),
    ))
    .unwrap_err();
    assert_eq!(e.field, "session.mainLiftSets[0]");
    assert!(e.message.contains("reps"), "{}", e.message);
    // a minimal session from outside is accepted and labelled llm
    let v = json_result(sql::enforce_hard_constraints(
        &input,
        &json!({"mainLiftSets": [{"set_number": 1, "weight_kg": 111, "reps": 5, "rpe_target": 8}], "skippedMainLift": false}),
    ))
    .unwrap();
    assert_eq!(v["jit_strategy"], json!("llm"));
    assert_eq!(v["mainLiftSets"][0]["weight_kg"], json!(110.0));
    assert_eq!(v["restSeconds"], json!({"mainLift": 180, "auxiliary": 90}));
}

// ---------------------------------------------------------------- hybrid

#[test]
fn hybrid_divergence() {
    let input = base_input(); // formula 2 × 112.5
    let cases = [
        (json!({"intensityModifier": 0.88}), 12.5 / 112.5, 0, false),
        (json!({"intensityModifier": 1.0}), 0.0, 0, false),
        (json!({"intensityModifier": 0.8}), 22.5 / 112.5, 0, true),
        (json!({"intensityModifier": 1.2}), 22.5 / 112.5, 0, true),
        (json!({"setModifier": 1}), 0.0, 1, true),
        (json!({"setModifier": -1, "intensityModifier": 1.0}), 0.0, -1, true),
    ];
    for (patch, pct, delta, surface) in cases {
        let s = session_from_llm_reply(&input, Gen::Hybrid, Ok(adjustment_json(patch.clone()))).unwrap();
        assert_eq!(s.jit_strategy, JitStrategy::Hybrid);
        let d = s.divergence.unwrap();
        assert!((d.weight_pct - pct).abs() < 1e-12, "{patch} {d:?}");
        assert_eq!(d.set_delta, delta, "{patch}");
        assert_eq!(d.should_surface_to_user, surface, "{patch}");
    }
    let v = serde_json::to_value(
        session_from_llm_reply(&input, Gen::Hybrid, Ok(adjustment_json(json!({})))).unwrap(),
    )
    .unwrap();
    assert_eq!(v["divergence"], json!({"weightPct": 0.0, "setDelta": 0, "shouldSurfaceToUser": false}));
    assert_eq!(v["jit_strategy"], json!("hybrid"));
    // exactly 15% does not surface
    let mut f = formula_session(&input).unwrap();
    f.main_lift_sets.iter_mut().for_each(|x| x.weight_kg = 100.0);
    let mut l = f.clone();
    l.main_lift_sets.iter_mut().for_each(|x| x.weight_kg = 115.0);
    assert!(!divergence(&f, &l).should_surface_to_user);
    l.main_lift_sets.iter_mut().for_each(|x| x.weight_kg = 115.5);
    assert!(divergence(&f, &l).should_surface_to_user);
}

// ---------------------------------------------------------------- strategy registry

#[test]
fn strategy_registry() {
    let cases = [
        ("formula", true, Gen::Formula),
        ("formula", false, Gen::Formula),
        ("llm", true, Gen::Llm),
        ("llm", false, Gen::Llm),
        ("hybrid", true, Gen::Hybrid),
        ("hybrid", false, Gen::Hybrid),
        ("auto", true, Gen::Llm),
        ("auto", false, Gen::Formula),
        (" AUTO ", true, Gen::Llm),
    ];
    for (name, online, expected) in cases {
        assert_eq!(resolve_strategy(name, online).unwrap(), expected, "{name} {online}");
    }
    for bad in ["", "gpt", "formula_fallback"] {
        let e = resolve_strategy(bad, true).unwrap_err();
        assert_eq!(e.kind, InputErrorKind::UnknownValue);
        assert_eq!(e.field, "strategy");
        assert!(e.message.contains("formula, llm, hybrid or auto"), "{}", e.message);
    }
    let labels: Vec<String> = JitStrategy::ALL
        .iter()
        .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels, ["formula", "llm", "hybrid", "formula_fallback"]);
}

// ---------------------------------------------------------------- LLM context

#[test]
fn jit_context_omits_warmup_config_and_adds_formula_and_volume() {
    let mut raw = input_json();
    raw["userAge"] = json!(34);
    raw["weeklyVolumeToDate"] = json!({"quads": 18});
    raw["activeAuxiliaries"] = json!(["Pause Squat", "Mystery"]);
    let ctx = build_jit_context(&raw).unwrap();
    assert!(ctx.get("warmupConfig").is_none());
    assert_eq!(ctx["userAge"], json!(34));
    assert_eq!(ctx["primaryLift"], json!("squat"));
    assert_eq!(ctx["formulaBase"]["weightKg"], json!(112.5));
    assert_eq!(ctx["formulaBase"]["sets"], json!(2));
    assert_eq!(ctx["formulaRestSeconds"], json!(180));
    assert_eq!(ctx["volumeStatus"]["quads"]["status"], json!("approaching_mrv"));
    assert_eq!(ctx["volumeStatus"]["quads"]["remainingSets"], json!(2));
    assert_eq!(ctx["volumeStatus"]["chest"]["status"], json!("below_mev"));
    assert!(ctx["formulaSession"].get("warmupSets").is_none());
    assert_eq!(ctx["auxiliaryBaseWeights"], json!({"Pause Squat": 105.0}));
    // bad input is an error, not a context
    assert!(build_jit_context(&json!({"primaryLift": "press"})).is_err());
}

// ---------------------------------------------------------------- output contract

#[test]
fn output_keys_are_the_contract() {
    let input = input_with(json!({"activeAuxiliaries": ["Leg Press"]}));
    let v = serde_json::to_value(formula_session(&input).unwrap()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "auxiliaryWork",
        "fallback_reason",
        "jit_strategy",
        "mainLiftSets",
        "rationale",
        "restSeconds",
        "skippedMainLift",
        "warmupSets",
        "warnings",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    let sorted_keys = |o: &Value| {
        let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(sorted_keys(&v["mainLiftSets"][0]), ["reps", "rpe_target", "set_number", "weight_kg"]);
    assert_eq!(sorted_keys(&v["auxiliaryWork"][0]), ["exercise", "exerciseType", "sets", "skipReason", "skipped"]);
    assert_eq!(sorted_keys(&v["restSeconds"]), ["auxiliary", "mainLift"]);
    assert_eq!(v["warmupSets"][0], json!({"set_number": 1, "weight_kg": 45.0, "reps": 5}));
    // round trip
    let back = SessionOutput::from_value(&v).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), v);
}

// ---------------------------------------------------------------- input validation

#[test]
fn input_validation_errors() {
    // (patch, field, kind, message fragment)
    let cases: Vec<(Value, &str, InputErrorKind, &str)> = vec![
        (
            json!({"primaryLift": "press"}),
            "primaryLift",
            InputErrorKind::UnknownValue,
            "squat, bench or deadlift",
        ),
        (json!({"primaryLift": 3}), "primaryLift", InputErrorKind::InvalidType, "must be a string"),
        (json!({"primaryLift": null}), "primaryLift", InputErrorKind::MissingField, "required"),
        (
            json!({"intensityType": "medium"}),
            "intensityType",
            InputErrorKind::UnknownValue,
            "heavy, explosive, rep or deload",
        ),
        (json!({"blockNumber": 0}), "blockNumber", InputErrorKind::OutOfRange, "1, 2 or 3"),
        (json!({"blockNumber": 4}), "blockNumber", InputErrorKind::OutOfRange, "1, 2 or 3"),
        (json!({"blockNumber": -1}), "blockNumber", InputErrorKind::OutOfRange, "1, 2 or 3"),
        (json!({"blockNumber": 2.5}), "blockNumber", InputErrorKind::OutOfRange, "integer"),
        (json!({"blockNumber": "2"}), "blockNumber", InputErrorKind::InvalidType, "integer"),
        (json!({"oneRmKg": -1}), "oneRmKg", InputErrorKind::OutOfRange, ">= 0"),
        (json!({"oneRmKg": 1e9}), "oneRmKg", InputErrorKind::OutOfRange, "<= 2000"),
        (json!({"oneRmKg": "140"}), "oneRmKg", InputErrorKind::InvalidType, "number"),
        (
            json!({"sorenessRatings": {"quads": 0}}),
            "sorenessRatings.quads",
            InputErrorKind::OutOfRange,
            "between 1 and 10",
        ),
        (
            json!({"sorenessRatings": {"quads": 11}}),
            "sorenessRatings.quads",
            InputErrorKind::OutOfRange,
            "between 1 and 10",
        ),
        (
            json!({"sorenessRatings": {"lower back": 10.5}}),
            "sorenessRatings[\"lower back\"]",
            InputErrorKind::OutOfRange,
            "between 1 and 10",
        ),
        (json!({"biologicalSex": "other"}), "biologicalSex", InputErrorKind::UnknownValue, "male or female"),
        (json!({"trainingAge": "elite"}), "trainingAge", InputErrorKind::UnknownValue, "beginner"),
        (json!({"weightIncrementKg": 0}), "weightIncrementKg", InputErrorKind::OutOfRange, "between"),
        (
            json!({"weeklyVolumeToDate": {"quads": -2}}),
            "weeklyVolumeToDate.quads",
            InputErrorKind::OutOfRange,
            "between 0 and 1000",
        ),
        (
            json!({"mrvMevConfig": {"calves": {"mrv": 10}}}),
            "mrvMevConfig.calves",
            InputErrorKind::UnknownValue,
            "quads",
        ),
        (
            json!({"rehabCaps": [{"lift": "squat", "capKg": 0}]}),
            "rehabCaps[0].capKg",
            InputErrorKind::OutOfRange,
            "> 0",
        ),
        (
            json!({"rehabCaps": [{"lift": "press", "capKg": 50}]}),
            "rehabCaps[0]",
            InputErrorKind::UnknownValue,
            "unknown variant",
        ),
        (
            json!({"recentLogs": [{"lift": "squat", "sets": []}, {"lift": "squat", "sets": [{"rpe": "hard"}]}]}),
            "recentLogs[1]",
            InputErrorKind::InvalidType,
            "invalid type",
        ),
        (
            json!({"recentLogs": [{"lift": "squat", "sets": [{"rpe": 12}]}]}),
            "recentLogs[0].sets[0].rpe",
            InputErrorKind::OutOfRange,
            "0 and 10",
        ),
        (
            json!({"activeAuxiliaries": "Leg Press"}),
            "activeAuxiliaries",
            InputErrorKind::InvalidType,
            "array",
        ),
        (
            json!({"formulaConfig": {"block2": {"rep": {"sets_min": 5, "sets_max": 3}}}}),
            "formulaConfig.block2.rep.sets",
            InputErrorKind::OutOfRange,
            "min <= max",
        ),
        (
            json!({"auxiliaryCatalogue": {"Sled": {"lift": "squat", "ratio": 9}}}),
            "auxiliaryCatalogue.Sled.ratio",
            InputErrorKind::OutOfRange,
            "between 0 and 3",
        ),
    ];
    for (patch, field, kind, fragment) in cases {
        let mut v = input_json();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        let e = JitInput::from_value(&v).unwrap_err();
        assert_eq!(e.field, field, "{patch}: {e:?}");
        assert_eq!(e.kind, kind, "{patch}: {e:?}");
        assert!(e.message.contains(fragment), "{patch}: {}", e.message);
        assert!(!e.hint.is_empty(), "{patch}");
        // every session entry point reports the same error
        assert_eq!(json_result(sql::formula_session(&v)).unwrap_err(), e);
        assert_eq!(json_result(sql::build_jit_context(&v)).unwrap_err(), e);
    }
    let e = JitInput::from_value(&json!([1])).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::InvalidType, ""));
    let e = JitInput::from_value(&json!({"primaryLift": "squat", "intensityType": "heavy", "oneRmKg": 1}))
        .unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::MissingField, "blockNumber"));
}

#[test]
fn non_finite_values_built_in_rust_are_rejected() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5] {
        let input = JitInput::new(Lift::Squat, IntensityType::Heavy, 1, bad);
        let e = formula_session(&input).unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::OutOfRange, "oneRmKg"), "{bad}");
    }
    let mut input = JitInput::new(Lift::Squat, IntensityType::Heavy, 7, 100.0);
    assert_eq!(input.validate().unwrap_err().field, "blockNumber");
    input.block_number = 1;
    input.soreness_ratings.insert("quads".into(), f64::NAN);
    assert_eq!(input.validate().unwrap_err().field, "sorenessRatings.quads");
    input.soreness_ratings.clear();
    let mut adj = JitAdjustment::neutral();
    adj.intensity_modifier = f64::NAN;
    let e = apply_adjustment(&input, &adj).unwrap_err();
    assert_eq!(e.kind, InputErrorKind::InvalidAdjustment);
    adj.intensity_modifier = 0.1;
    let e = apply_adjustment(&input, &adj).unwrap_err();
    assert!(e.detail.unwrap().contains("intensityModifier"));
    let mut session = formula_session(&input).unwrap();
    session.main_lift_sets[0].weight_kg = f64::NAN;
    let e = enforce_hard_constraints(&input, session).unwrap_err();
    assert_eq!(e.field, "session.mainLiftSets[0].weight_kg");
}

// ---------------------------------------------------------------- SQL-facing JSON functions

#[test]
fn sql_functions() {
    let input = input_json();
    let s = json_result(sql::formula_session(&input)).unwrap();
    assert_eq!(s["mainLiftSets"][1]["weight_kg"], json!(112.5));
    let s = json_result(sql::apply_adjustment(&input, &adjustment_json(json!({"intensityModifier": 0.88})))).unwrap();
    assert_eq!(s["mainLiftSets"][0]["weight_kg"], json!(100.0));
    assert_eq!(s["jit_strategy"], json!("llm"));
    let e = json_result(sql::apply_adjustment(&input, &adjustment_json(json!({"intensityModifier": 0.1})))).unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (InputErrorKind::InvalidAdjustment, "adjustment"));
    assert!(e.message.contains("intensityModifier"), "{}", e.message);
    let detail: Value = serde_json::from_str(e.detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["error"], json!("invalid_schema"));
    assert_eq!(detail["details"][0]["path"], json!("intensityModifier"));
    let enforced = json_result(sql::enforce_hard_constraints(&input, &s)).unwrap();
    assert_eq!(enforced, s);
    assert_eq!(sql::resolve_strategy("auto", false).unwrap(), "formula");
    assert_eq!(sql::resolve_strategy("auto", true).unwrap(), "llm");
    assert_eq!(sql::volume_status(18.0, 8, 20).unwrap(), "approaching_mrv");
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert_eq!(sql::volume_status(bad, 8, 20).unwrap_err().field, "sets");
    }
    assert_eq!(sql::rpe_set_multiplier(Some(8.5)), 0.925);
    assert_eq!(sql::rpe_set_multiplier(None), 1.0);
    let t = json_result(sql::mrv_mev_config("female", "advanced")).unwrap();
    assert_eq!(t["quads"], json!({"mev": 11, "mrv": 31}));
    assert_eq!(t.as_object().unwrap().len(), 10);
    assert_eq!(
        json_result(sql::mrv_mev_config("Male", " Intermediate ")).unwrap()["lower_back"],
        json!({"mev": 6, "mrv": 18})
    );
    assert_eq!(json_result(sql::mrv_mev_config("x", "beginner")).unwrap_err().field, "sex");
    assert_eq!(json_result(sql::mrv_mev_config("male", "x")).unwrap_err().field, "training_age");
    let fallback = json_result(sql::session_from_llm_reply(&input, "llm", Err(FallbackReason::timeout(5000)))).unwrap();
    assert_eq!(fallback["jit_strategy"], json!("formula_fallback"));
    assert_eq!(fallback["fallback_reason"]["code"], json!("timeout"));
    assert!(json_result(sql::session_from_llm_reply(&input, "auto", Ok(json!({})))).is_err());
}

// ---------------------------------------------------------------- property tests

fn arb_input() -> impl Strategy<Value = JitInput> {
    let lifts = prop::sample::select(vec![Lift::Squat, Lift::Bench, Lift::Deadlift]);
    let intensities = prop::sample::select(IntensityType::ALL.to_vec());
    let sexes = prop::sample::select(vec![Sex::Male, Sex::Female]);
    let ages = prop::sample::select(TrainingAge::ALL.to_vec());
    let increments = prop::sample::select(vec![None, Some(1.0), Some(1.25), Some(2.5), Some(5.0)]);
    let muscles = prop::sample::select(
        Muscle::ALL.iter().map(|m| m.as_str().to_string()).chain(["calves".to_string()]).collect::<Vec<_>>(),
    );
    let soreness = prop::collection::btree_map(muscles.clone(), 1u8..=10, 0..4);
    let volume = prop::collection::btree_map(muscles, 0.0f64..30.0, 0..6);
    let rehab = prop::option::of(5.0f64..300.0);
    let disruption = prop::option::of(prop::sample::select(vec![
        ("equipment_unavailable", "minor"),
        ("illness", "major"),
        ("injury", "moderate"),
        ("travel", "minor"),
    ]));
    let auxes = prop::sample::subsequence(
        vec!["Pause Squat", "Leg Press", "Romanian Deadlift", "Barbell Row", "Dips", "Mystery Machine"],
        0..4,
    );
    (
        (lifts, intensities, 1u8..=3, sexes, ages, 0.0f64..400.0, increments),
        (soreness, volume, rehab, disruption, auxes),
    )
        .prop_map(
            |(
                (lift, intensity, block, sex, age, one_rm, inc),
                (soreness, volume, rehab, disruption, auxes),
            )| {
                let mut input = JitInput::new(lift, intensity, block, (one_rm * 4.0).round() / 4.0);
                input.biological_sex = sex;
                input.training_age = age;
                input.weight_increment_kg = inc;
                input.soreness_ratings = soreness.into_iter().map(|(k, v)| (k, f64::from(v))).collect();
                input.weekly_volume_to_date = volume;
                input.rehab_caps = rehab.map(|cap| RehabCap { lift, cap_kg: cap }).into_iter().collect();
                input.active_disruptions = disruption
                    .map(|(kind, severity)| Disruption {
                        kind: kind.to_string(),
                        severity: Some(severity.to_string()),
                        affected_lifts: None,
                    })
                    .into_iter()
                    .collect();
                input.active_auxiliaries = auxes.into_iter().map(str::to_string).collect();
                input
            },
        )
}

fn arb_adjustment() -> impl Strategy<Value = JitAdjustment> {
    let actions = prop::sample::select(AuxAction::ALL.to_vec());
    let overrides = prop::collection::vec(
        (
            prop::sample::select(vec![
                "Pause Squat",
                "Leg Press",
                "Romanian Deadlift",
                "Barbell Row",
                "Dips",
            ]),
            actions,
            prop::option::of(0.0f64..500.0),
        ),
        0..4,
    );
    (0.40f64..=1.20, -3i32..=2, any::<bool>(), overrides, prop::option::of(-300.0f64..300.0)).prop_map(
        |(im, sm, skip, overrides, rest)| JitAdjustment {
            intensity_modifier: im,
            set_modifier: sm,
            skip_main_lift: skip,
            aux_overrides: overrides
                .into_iter()
                .map(|(e, action, anchor)| AuxOverride {
                    exercise: e.to_string(),
                    action,
                    anchor_override: anchor
                        .map(|w| adjust::AnchorOverride { weight_kg: w, reason: "p".into() }),
                })
                .collect(),
            rationale: vec!["property".to_string()],
            confidence: Confidence::Medium,
            rest_adjustments: rest.map(|d| adjust::RestAdjustments { main_lift: Some(d) }),
        },
    )
}

fn is_multiple(w: f64, inc: f64) -> bool {
    let q = w / inc;
    (q - q.round()).abs() < 1e-6
}

/// Every hard constraint, checked on a finished session.
fn assert_hard_constraints(input: &JitInput, s: &SessionOutput) -> Result<(), TestCaseError> {
    let base = base_main_sets(input).unwrap();
    let n = base.len();
    let w = base[0].weight_kg;
    let inc = increment_kg(input).unwrap();
    prop_assert!(s.main_lift_sets.len() <= n + 2, "sets {} > base {} + 2", s.main_lift_sets.len(), n);
    prop_assert_eq!(s.skipped_main_lift, s.main_lift_sets.is_empty());
    for set in &s.main_lift_sets {
        prop_assert!(set.weight_kg.is_finite() && set.weight_kg >= 0.0);
        prop_assert!(set.weight_kg <= 1.2 * w + 1e-9, "{} > 1.2 × {}", set.weight_kg, w);
        prop_assert!(is_multiple(set.weight_kg, inc), "{} not a multiple of {}", set.weight_kg, inc);
        if let Some(cap) = input.rehab_cap_kg() {
            prop_assert!(set.weight_kg <= round_up_to_increment(cap, inc) + 1e-9);
        }
        prop_assert!(set.rpe_target.is_finite());
    }
    let table = resolved_mrv_mev(input);
    for (m, load) in capped_muscles(input.primary_lift) {
        let weekly = input.weekly_sets(m);
        let mrv = f64::from(table[&m].mrv);
        if weekly >= mrv {
            prop_assert!(s.skipped_main_lift, "{} at {} of {}", m, weekly, mrv);
        } else {
            prop_assert!(s.main_lift_sets.len() as f64 * load <= mrv - weekly + 1e-9);
        }
    }
    let cap = if input.has_equipment_disruption() {
        4
    } else {
        auxiliary::aux_set_cap(s.main_lift_sets.len(), n)
    };
    let plates = input.plate_increment_kg();
    for a in &s.auxiliary_work {
        if a.skipped {
            prop_assert!(a.sets.is_empty() && a.skip_reason.is_some());
        } else if !a.is_compensation {
            prop_assert!(a.sets.len() <= cap);
        }
        for set in &a.sets {
            prop_assert!(
                set.weight_kg.is_finite() && set.weight_kg >= 0.0 && is_multiple(set.weight_kg, plates)
            );
        }
    }
    if input.session_soreness() >= 9.0 && input.intensity_type != IntensityType::Deload {
        prop_assert!(s.auxiliary_work.iter().all(|a| a.skipped || a.is_compensation));
    }
    let top = s.top_weight_kg();
    // Warm-ups climb toward the work, never below the bar (which may outweigh a light deload).
    let ceiling = top.max(input.bar_kg()) + input.plate_increment_kg();
    prop_assert!(s.warmup_sets.iter().all(|x| x.weight_kg <= ceiling && x.weight_kg >= input.bar_kg()));
    if let Some(r) = s.llm_rest_suggestion {
        prop_assert!((-60..=60).contains(&r.delta_seconds));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// Any in-bounds adjustment, on any input, yields a session within every hard constraint.
    #[test]
    fn adjustments_never_break_hard_constraints(input in arb_input(), adj in arb_adjustment()) {
        let s = apply_adjustment(&input, &adj).unwrap();
        assert_hard_constraints(&input, &s)?;
        // the same through the LLM path, and through hybrid
        let v = serde_json::to_value(&adj).unwrap();
        for strategy in [Gen::Llm, Gen::Hybrid] {
            let s = session_from_llm_reply(&input, strategy, Ok(v.clone())).unwrap();
            prop_assert_ne!(s.jit_strategy, JitStrategy::FormulaFallback);
            assert_hard_constraints(&input, &s)?;
        }
        // constraints are idempotent
        let again = enforce_hard_constraints(&input, s.clone()).unwrap();
        prop_assert_eq!(&again, &s);
    }

    /// The formula session obeys the same constraints.
    #[test]
    fn formula_sessions_never_break_hard_constraints(input in arb_input()) {
        let s = formula_session(&input).unwrap();
        assert_hard_constraints(&input, &s)?;
        prop_assert_eq!(s.jit_strategy, JitStrategy::Formula);
        let again = enforce_hard_constraints(&input, s.clone()).unwrap();
        prop_assert_eq!(again, s);
    }

    /// The over-reaction guard: with no disruption and soreness below 7, a cut in both sets
    /// and intensity ends at ≥ base − 1 sets and ≥ 0.95 × base weight, unless MRV or a
    /// rehab cap (ceilings) says less.
    #[test]
    fn over_reaction_guard_holds(input in arb_input(), sm in -3i32..=-1, im in 0.40f64..0.999) {
        let mut input = input;
        input.active_disruptions.clear();
        input.soreness_ratings.retain(|_, v| *v < 7.0);
        input.rehab_caps.clear();
        input.weekly_volume_to_date.clear();
        let adj = JitAdjustment { intensity_modifier: im, set_modifier: sm, ..JitAdjustment::neutral() };
        let s = apply_adjustment(&input, &adj).unwrap();
        let base = base_main_sets(&input).unwrap();
        prop_assert!(s.main_lift_sets.len() + 1 >= base.len());
        prop_assert!(!s.skipped_main_lift);
        prop_assert!(s.top_weight_kg() >= 0.95 * base[0].weight_kg - 1e-9);
    }

    /// Sessions survive their own JSON: what the SQL layer returns, it accepts back.
    #[test]
    fn sessions_round_trip_through_json(input in arb_input(), adj in arb_adjustment()) {
        let s = apply_adjustment(&input, &adj).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        prop_assert_eq!(SessionOutput::from_value(&v).unwrap(), s);
        let input_value = serde_json::to_value(&input).unwrap();
        prop_assert_eq!(JitInput::from_value(&input_value).unwrap(), input);
    }

    /// Arbitrary JSON never panics an entry point.
    #[test]
    fn entry_points_are_total(doc in arb_json(), other in arb_json()) {
        let _ = json_result(sql::formula_session(&doc));
        let _ = json_result(sql::apply_adjustment(&doc, &other));
        let _ = json_result(sql::enforce_hard_constraints(&doc, &other));
        let _ = json_result(sql::build_jit_context(&doc));
        let _ = json_result(sql::enforce_hard_constraints(&input_json(), &doc));
        let _ = json_result(sql::apply_adjustment(&input_json(), &doc));
        let _ = json_result(sql::session_from_llm_reply(&input_json(), "hybrid", Ok(doc.clone())));
    }

    /// Arbitrary single-field changes of a valid input never panic, and valid results obey
    /// the constraints.
    #[test]
    fn mutated_inputs_are_total(field in prop::sample::select(vec![
            "blockNumber", "primaryLift", "intensityType", "oneRmKg", "biologicalSex", "sorenessRatings",
            "weeklyVolumeToDate", "mrvMevConfig", "activeAuxiliaries", "recentLogs", "activeDisruptions",
            "rehabCaps", "weightIncrementKg", "formulaConfig", "warmupConfig", "auxiliaryCatalogue"]),
            value in arb_json()) {
        let mut v = input_json();
        v[field] = value;
        if let Ok(input) = JitInput::from_value(&v) {
            let s = formula_session(&input).unwrap();
            assert_hard_constraints(&input, &s)?;
        }
    }

    #[test]
    fn rpe_credit_is_within_0_and_1(rpe in prop::option::of(-5.0f64..15.0)) {
        let c = rpe_set_multiplier(rpe);
        prop_assert!((0.0..=1.0).contains(&c));
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop::sample::select(vec!["squat", "heavy", "male", "quads", "skip", "", "x"]).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "mainLiftSets",
                    "skippedMainLift",
                    "intensityModifier",
                    "setModifier",
                    "auxOverrides",
                    "quads",
                    "lift",
                    "capKg",
                    "sets",
                    "rpe",
                    "type",
                    "weight_kg",
                    "reps",
                    "a"
                ])
                .prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The SQL-facing functions return JSON text; tests read it back as a value.
fn json_result(r: Result<String, jitgen_core::session::InputError>) -> Result<Value, jitgen_core::session::InputError> {
    r.map(|text| serde_json::from_str(&text).expect("sql functions return JSON"))
}
