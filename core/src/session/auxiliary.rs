//! Auxiliary work: building it from the active auxiliaries (and an adjustment's actions),
//! and the rules that hold for it in every session.
//!
//! Loads come from the catalogue (see [`super::catalogue`]). An exercise found in no
//! catalogue is prescribed at 0 kg with a warning: the engine cannot guess a load, and 0
//! reads in the app as "bodyweight or choose your own", which is never unsafe.

use super::adjust::{AuxAction, AuxOverride};
use super::catalogue::aux_weight_kg;
use super::formula::Resolved;
use super::input::JitInput;
use super::output::{push_unique, AuxiliaryWork, PlannedSet, SessionOutput};
use super::rounding::round_to_increment;
use super::types::IntensityType;

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
pub(crate) fn build_auxiliary(
    input: &JitInput,
    r: &Resolved,
    overrides: &[AuxOverride],
    warnings: &mut Vec<String>,
) -> Vec<AuxiliaryWork> {
    input
        .active_auxiliaries
        .iter()
        .map(|exercise| {
            let o = find_override(overrides, exercise);
            let action = o.map_or(AuxAction::Normal, |o| o.action);
            if action == AuxAction::Skip {
                return AuxiliaryWork {
                    exercise: exercise.clone(),
                    sets: Vec::new(),
                    skipped: true,
                    skip_reason: Some(REASON_LLM_SKIP.to_string()),
                };
            }
            let anchor = o.and_then(|o| o.anchor_override.as_ref()).map(|a| a.weight_kg).filter(|w| w.is_finite());
            let raw = match anchor.or_else(|| aux_weight_kg(input, exercise)) {
                Some(w) => w.max(0.0),
                None => {
                    push_unique(
                        warnings,
                        format!(
                            "Unknown auxiliary exercise \"{exercise}\": no catalogue load, prescribed at 0 kg \
                             (bodyweight or self-selected)"
                        ),
                    );
                    0.0
                }
            };
            let base = round_to_increment(raw, r.increment);
            let (count, weight) = match action {
                AuxAction::Reduce => (AUX_REDUCED_SETS, round_to_increment(base * AUX_REDUCE_FACTOR, r.increment)),
                _ => (AUX_SETS, base),
            };
            AuxiliaryWork {
                exercise: exercise.clone(),
                sets: (1..=count)
                    .map(|n| PlannedSet { set_number: n, weight_kg: weight, reps: AUX_REPS, rpe_target: AUX_RPE })
                    .collect(),
                skipped: false,
                skip_reason: None,
            }
        })
        .collect()
}

/// The most auxiliary sets allowed: max(1, round(3 × main sets / formula sets)), so the
/// auxiliaries shrink with the main lift.
pub fn aux_set_cap(main_sets: usize, base_sets: usize) -> usize {
    if base_sets == 0 {
        return AUX_SETS as usize;
    }
    let ratio = main_sets as f64 / base_sets as f64;
    ((f64::from(AUX_SETS) * ratio).round() as usize).max(1)
}

/// The rules every session's auxiliaries obey, applied after the main lift is final:
/// worst soreness ≥ 9 on any muscle skips them all; a skipped main lift suppresses them
/// unless the day is a deload or equipment is unavailable (then auxiliaries are the
/// session); the set cap; whole-increment weights.
pub(crate) fn apply_aux_rules(input: &JitInput, r: &Resolved, session: &mut SessionOutput) {
    let severe = input.worst_soreness() >= 9.0;
    let suppress = session.skipped_main_lift
        && input.intensity_type != IntensityType::Deload
        && !input.has_equipment_disruption();
    let cap = aux_set_cap(session.main_lift_sets.len(), r.base_count());
    for aux in &mut session.auxiliary_work {
        if severe {
            skip(aux, REASON_SEVERE_SORENESS);
            continue;
        }
        if aux.skipped {
            aux.sets.clear();
            if aux.skip_reason.is_none() {
                aux.skip_reason = Some(REASON_LLM_SKIP.to_string());
            }
            continue;
        }
        if suppress {
            skip(aux, REASON_MAIN_SKIPPED);
            continue;
        }
        aux.sets.truncate(cap);
        for (i, s) in aux.sets.iter_mut().enumerate() {
            s.set_number = i as u32 + 1;
            s.weight_kg = round_to_increment(s.weight_kg, r.increment);
        }
        aux.skip_reason = None;
    }
}

fn skip(aux: &mut AuxiliaryWork, reason: &str) {
    aux.sets.clear();
    aux.skipped = true;
    aux.skip_reason = Some(reason.to_string());
}
