//! Auxiliary work: the formula's (the seed app's rules), an adjustment's (from its actions),
//! and the rules that hold for it in every session.
//!
//! Formula auxiliaries, per active exercise: suppressed when the main lift is skipped;
//! skipped at severe soreness (9+ on a session muscle, not on deload); skipped when a session
//! muscle has less than one set left under MRV after the main sets; timed exercises are one
//! block. Otherwise 3 sets × the catalogue's rep target @ RPE 7.5, scaled by the main lift's
//! set ratio (deload 0.67) and load multiplier (deload 0.5), with a post-main fatigue
//! discount (heavy 0.85, rep 0.90, explosive 0.95) when the exercise loads a muscle the main
//! lift trained. Equipment unavailable: +1 set each, full load, and two bodyweight
//! compensation exercises while fewer than 5 auxiliaries are active.
//!
//! Loads come from the catalogue (see [`super::catalogue`]). An exercise found in no
//! catalogue is prescribed at 0 kg with a warning: the engine cannot guess a load, and 0
//! reads in the app as "bodyweight or choose your own", which is never unsafe.

use super::adjust::{AuxAction, AuxOverride};
use super::autoreg::MainPlan;
use super::catalogue::{aux_weight_kg, bodyweight_pool, builtin_exercise, exercise_type, rep_target, ExerciseType};
use super::formula::Resolved;
use super::input::JitInput;
use super::output::{push_unique, AuxiliaryWork, PlannedSet, SessionOutput};
use super::rounding::round_to_increment;
use super::types::{IntensityType, Sex};
use super::volume::{lift_contributions, resolved_mrv_mev, session_muscles};

/// Aux sets and load on a deload day, as fractions of a normal day's.
const DELOAD_VOLUME_RATIO: f64 = 0.67;
const DELOAD_INTENSITY_RATIO: f64 = 0.5;
/// At most this many active auxiliaries once compensation exercises are added.
const MAX_ACTIVE_AUX: usize = 5;

/// Load kept on an auxiliary that trains a muscle the main lift just fatigued.
fn post_main_fatigue(intensity: IntensityType) -> f64 {
    match intensity {
        IntensityType::Heavy => 0.85,
        IntensityType::Rep => 0.9,
        IntensityType::Explosive => 0.95,
        IntensityType::Deload => 1.0,
    }
}

fn skipped(exercise: &str, kind: ExerciseType, reason: String) -> AuxiliaryWork {
    AuxiliaryWork {
        exercise: exercise.to_string(),
        sets: Vec::new(),
        skipped: true,
        skip_reason: Some(reason),
        exercise_type: Some(kind.as_str().to_string()),
        is_compensation: false,
    }
}

fn unknown_load_warning(exercise: &str) -> String {
    format!(
        "Unknown auxiliary exercise \"{exercise}\": no catalogue load, prescribed at 0 kg \
         (bodyweight or self-selected)"
    )
}

fn uniform_sets(count: u32, weight_kg: f64, reps: u32, rpe_target: f64) -> Vec<PlannedSet> {
    (1..=count).map(|n| PlannedSet { set_number: n, weight_kg, reps, rpe_target }).collect()
}

/// The formula's auxiliaries for a session whose main lift is `plan`.
pub(crate) fn build_formula_auxiliary(
    input: &JitInput,
    r: &Resolved,
    plan: &MainPlan,
    warnings: &mut Vec<String>,
) -> Vec<AuxiliaryWork> {
    let deload = input.intensity_type == IntensityType::Deload;
    let equipment = input.has_equipment_disruption();
    let soreness = if deload { 1.0 } else { input.session_soreness() };
    let base = r.base_count();
    let (volume_ratio, intensity_ratio) = if deload {
        (DELOAD_VOLUME_RATIO, DELOAD_INTENSITY_RATIO)
    } else if equipment {
        (1.0, 1.0)
    } else {
        (if base > 0 { plan.planned / base as f64 } else { 1.0 }, plan.intensity)
    };
    let main_count = plan.sets.len() as f64;
    let table = resolved_mrv_mev(input);
    let increment = input.plate_increment_kg();
    let lift_muscles = lift_contributions(input.primary_lift);

    let mut out: Vec<AuxiliaryWork> = input
        .active_auxiliaries
        .iter()
        .map(|exercise| {
            let kind = exercise_type(input, exercise);
            if plan.skipped {
                return skipped(exercise, kind, REASON_MAIN_SKIPPED.to_string());
            }
            if soreness >= 9.0 {
                return skipped(exercise, kind, REASON_SEVERE_SORENESS.to_string());
            }
            if kind != ExerciseType::Timed {
                let full = session_muscles(input.primary_lift).iter().find(|m| {
                    table.get(m).is_some_and(|lm| f64::from(lm.mrv) - input.weekly_sets(**m) - main_count < 1.0)
                });
                if let Some(m) = full {
                    warnings.push(format!("Approaching MRV for {m} — {exercise} skipped"));
                    return skipped(exercise, kind, format!("MRV approaching for {m}"));
                }
            }
            let mut work = AuxiliaryWork {
                exercise: exercise.clone(),
                sets: Vec::new(),
                skipped: false,
                skip_reason: None,
                exercise_type: Some(kind.as_str().to_string()),
                is_compensation: false,
            };
            if kind == ExerciseType::Timed {
                work.sets = uniform_sets(1, 0.0, 0, 7.0);
                return work;
            }
            let mut factor = 1.0;
            let overlaps = builtin_exercise(exercise)
                .is_some_and(|e| e.muscles().any(|(m, c)| c >= 0.5 && lift_muscles.iter().any(|(lm, _)| *lm == m)));
            if main_count > 0.0 && overlaps {
                factor *= post_main_fatigue(input.intensity_type);
            }
            let mut count = ((f64::from(AUX_SETS) * volume_ratio.clamp(0.0, 1.0)).round() as u32).max(1);
            factor *= intensity_ratio.clamp(0.0, 1.0);
            if equipment {
                count += 1;
            }
            let weight = if kind == ExerciseType::Bodyweight {
                0.0
            } else {
                match aux_weight_kg(input, exercise) {
                    Some(raw) => round_to_increment(round_to_increment(raw.max(0.0), increment) * factor, increment),
                    None => {
                        push_unique(warnings, unknown_load_warning(exercise));
                        0.0
                    }
                }
            };
            work.sets = uniform_sets(count, weight, rep_target(input, exercise), AUX_RPE);
            work
        })
        .collect();

    if equipment {
        let active = out.iter().filter(|a| !a.skipped).count();
        let reps = if input.biological_sex == Sex::Female { 15 } else { 10 };
        for name in bodyweight_pool(input.primary_lift, input.biological_sex)
            .into_iter()
            .take(MAX_ACTIVE_AUX.saturating_sub(active))
        {
            out.push(AuxiliaryWork {
                exercise: name.to_string(),
                sets: uniform_sets(3, 0.0, reps, 7.0),
                skipped: false,
                skip_reason: None,
                exercise_type: Some(ExerciseType::Bodyweight.as_str().to_string()),
                is_compensation: true,
            });
        }
    }
    out
}

pub const AUX_SETS: u32 = 3;
pub const AUX_REDUCED_SETS: u32 = 2;
pub const AUX_REPS: u32 = 10;
pub const AUX_RPE: f64 = 7.5;
pub const AUX_REDUCE_FACTOR: f64 = 0.9;

pub const REASON_LLM_SKIP: &str = "LLM: skip override";
pub const REASON_SEVERE_SORENESS: &str = "Severe soreness — auxiliary exercise skipped";
pub const REASON_MAIN_SKIPPED: &str = "Main lift skipped — auxiliary suppressed";

/// The override for `exercise`: an exact name match first, then a case-insensitive one.
fn find_override<'a>(overrides: &'a [AuxOverride], exercise: &str) -> Option<&'a AuxOverride> {
    overrides
        .iter()
        .rev() // the last entry for a name wins, as in a record built from pairs
        .find(|o| o.exercise == exercise)
        .or_else(|| overrides.iter().rev().find(|o| o.exercise.trim().eq_ignore_ascii_case(exercise.trim())))
}

/// One entry per active auxiliary, in the input's order, with the actions of `overrides`
/// (normal when an exercise has none). Warnings for uncatalogued exercises go to `warnings`.
///
/// As in the seed app, an adjustment's load cut carries over: no auxiliary is heavier than
/// its base × `intensity_modifier` (× 0.5 on deload; full load when equipment is missing), and
/// a deload day has at most 2 auxiliary sets. Timed exercises are one block.
pub(crate) fn build_auxiliary(
    input: &JitInput,
    r: &Resolved,
    overrides: &[AuxOverride],
    intensity_modifier: f64,
    warnings: &mut Vec<String>,
) -> Vec<AuxiliaryWork> {
    let deload = input.intensity_type == IntensityType::Deload;
    let intensity_ratio = if deload {
        DELOAD_INTENSITY_RATIO
    } else if input.has_equipment_disruption() {
        1.0
    } else {
        intensity_modifier.clamp(0.0, 1.0)
    };
    let most_sets = if deload { (f64::from(AUX_SETS) * DELOAD_VOLUME_RATIO).round().max(1.0) as u32 } else { AUX_SETS };
    input
        .active_auxiliaries
        .iter()
        .map(|exercise| {
            let o = find_override(overrides, exercise);
            let action = o.map_or(AuxAction::Normal, |o| o.action);
            if action == AuxAction::Skip {
                return skipped(exercise, exercise_type(input, exercise), REASON_LLM_SKIP.to_string());
            }
            if exercise_type(input, exercise) == ExerciseType::Timed {
                return AuxiliaryWork {
                    exercise: exercise.clone(),
                    sets: uniform_sets(1, 0.0, 0, 7.0),
                    skipped: false,
                    skip_reason: None,
                    exercise_type: Some(ExerciseType::Timed.as_str().to_string()),
                    is_compensation: false,
                };
            }
            let anchor = o.and_then(|o| o.anchor_override.as_ref()).map(|a| a.weight_kg).filter(|w| w.is_finite());
            let raw = match anchor.or_else(|| aux_weight_kg(input, exercise)) {
                Some(w) => w.max(0.0),
                None => {
                    push_unique(warnings, unknown_load_warning(exercise));
                    0.0
                }
            };
            let base = round_to_increment(raw, r.increment);
            let (count, weight) = match action {
                AuxAction::Reduce => (AUX_REDUCED_SETS, round_to_increment(base * AUX_REDUCE_FACTOR, r.increment)),
                _ => (AUX_SETS, base),
            };
            let count = count.min(most_sets);
            let weight = weight.min(round_to_increment(base * intensity_ratio, r.increment));
            AuxiliaryWork {
                exercise: exercise.clone(),
                sets: (1..=count)
                    .map(|n| PlannedSet { set_number: n, weight_kg: weight, reps: AUX_REPS, rpe_target: AUX_RPE })
                    .collect(),
                skipped: false,
                skip_reason: None,
                exercise_type: Some(exercise_type(input, exercise).as_str().to_string()),
                is_compensation: false,
            }
        })
        .collect()
}

/// The most auxiliary sets allowed: max(1, round(3 × main sets / formula sets)), never more
/// than 3, so the auxiliaries shrink with the main lift but never grow with it.
pub fn aux_set_cap(main_sets: usize, base_sets: usize) -> usize {
    if base_sets == 0 {
        return AUX_SETS as usize;
    }
    let ratio = (main_sets as f64 / base_sets as f64).min(1.0);
    ((f64::from(AUX_SETS) * ratio).round() as usize).max(1)
}

/// The rules every session's auxiliaries obey, applied after the main lift is final:
/// severe soreness (9+ on a session muscle, not on deload) skips them; a skipped main lift
/// suppresses them unless the day is a deload or equipment is unavailable (then auxiliaries
/// are the session); the set cap (4 when equipment is unavailable, the compensation the
/// formula prescribes); weights in whole plate increments. Bodyweight compensation
/// exercises are exempt from soreness and suppression: they are the safe fallback.
pub(crate) fn apply_aux_rules(input: &JitInput, r: &Resolved, session: &mut SessionOutput) {
    let severe = input.intensity_type != IntensityType::Deload && input.session_soreness() >= 9.0;
    let equipment = input.has_equipment_disruption();
    let suppress = session.skipped_main_lift && input.intensity_type != IntensityType::Deload && !equipment;
    // Without equipment the auxiliaries are the session: full volume plus one set.
    let cap = if equipment {
        AUX_SETS as usize + 1
    } else {
        aux_set_cap(session.main_lift_sets.len(), r.base_count())
    };
    let increment = input.plate_increment_kg();
    for aux in &mut session.auxiliary_work {
        if aux.skipped {
            aux.sets.clear();
            if aux.skip_reason.is_none() {
                aux.skip_reason = Some(REASON_LLM_SKIP.to_string());
            }
            continue;
        }
        if severe && !aux.is_compensation {
            skip(aux, REASON_SEVERE_SORENESS);
            continue;
        }
        if suppress && !aux.is_compensation {
            skip(aux, REASON_MAIN_SKIPPED);
            continue;
        }
        if !aux.is_compensation {
            aux.sets.truncate(cap);
        }
        for (i, s) in aux.sets.iter_mut().enumerate() {
            s.set_number = i as u32 + 1;
            s.weight_kg = round_to_increment(s.weight_kg, increment);
        }
        aux.skip_reason = None;
    }
}

fn skip(aux: &mut AuxiliaryWork, reason: &str) {
    aux.sets.clear();
    aux.skipped = true;
    aux.skip_reason = Some(reason.to_string());
}
