//! Hard constraints: the rules no strategy may break. They run on every session, after the
//! formula and after any adjustment, in this order:
//!
//! The muscles checked are the session muscles of the lift (squat: quads, glutes, lower
//! back; bench: chest, triceps, shoulders; deadlift: hamstrings, glutes, lower and upper
//! back), each with the lift's per-set load on it.
//!
//! 1. A session muscle at or above its MRV forces the main lift to be skipped.
//! 2. Over-reaction guard (adjusted sessions only, i.e. labelled llm or hybrid): with no
//!    active disruption and worst session-muscle soreness below 7, a session that cuts both
//!    sets and weight below the formula is held to at most −1 set and at least 0.95 × the
//!    formula weight (rounded up to the increment, so the floor is never below 0.95 ×).
//!    The formula's own autoregulation stays inside this envelope by construction.
//! 3. At least one working set unless skipped.
//! 4. Never more than formula sets + 2.
//! 5. Below MRV, the main sets fit the remaining capacity divided by the lift's load on the
//!    muscle (quads 18 of 20 → 2 squat sets; glutes 21 of 22 → 1 squat set at 0.55); when no
//!    whole set fits the main lift is skipped rather than break MRV.
//! 6. Never above 1.20 × the formula weight (rounded down to the increment, so never above).
//! 7. Rehab Mode: never above the cap rounded up to the increment.
//! 8. Auxiliary rules (see [`super::auxiliary::apply_aux_rules`]), rest from the formula
//!    tables, warm-ups from the final working weight.
//!
//! Ceilings come after floors, so when they disagree the ceiling (MRV, rehab) wins. Every
//! weight is a whole number of increments. Running the constraints on their own output
//! changes nothing.

use super::auxiliary::apply_aux_rules;
use super::error::InputError;
use super::formula::Resolved;
use super::input::JitInput;
use super::output::{push_unique, SessionOutput};
use super::rounding::{floor_to_increment, kg, round_to_increment, round_up_to_increment};
use super::strategy::JitStrategy;
use super::types::Muscle;
use super::volume::{capped_muscles, resolved_mrv_mev, sets_that_fit};
use super::warmup::warmup_sets;

/// Sets above the formula's never allowed.
pub const MAX_EXTRA_SETS: usize = 2;
/// Weight never above this × the formula weight.
pub const MAX_INTENSITY_RATIO: f64 = 1.20;
/// The over-reaction guard's weight floor, × the formula weight.
pub const OVER_REACTION_MIN_RATIO: f64 = 0.95;
/// Soreness at or above this disables the over-reaction guard.
pub const GUARD_SORENESS: f64 = 7.0;

pub const MIN_SET_WARNING: &str = "[constraint] Minimum 1 working set enforced";

/// `[constraint] MRV exceeded for <muscle> — main lift forced skip`.
pub fn mrv_exceeded_warning(muscle: Muscle) -> String {
    format!("[constraint] MRV exceeded for {muscle} — main lift forced skip")
}

/// `Capped at <cap>kg by Rehab Mode`, with the cap as rounded up.
pub fn rehab_warning(ceiling_kg: f64) -> String {
    format!("Capped at {}kg by Rehab Mode", kg(ceiling_kg))
}

pub(crate) fn over_reaction_warning(sets: usize, weight_kg: f64) -> String {
    format!(
        "[constraint] Over-reaction guard: no active disruption and soreness below 7 — cut held to −1 set and \
         ≥95% of the formula weight ({sets} × {} kg)",
        kg(weight_kg)
    )
}

/// The guard applies when nothing objective justifies a deep cut.
pub(crate) fn guard_applies(input: &JitInput) -> bool {
    input.active_disruptions.is_empty() && input.session_soreness() < GUARD_SORENESS
}

pub(crate) fn over_reaction_floor_kg(r: &Resolved) -> f64 {
    round_up_to_increment(OVER_REACTION_MIN_RATIO * r.base_weight, r.increment)
}

/// The heaviest weight allowed: 1.20 × the formula weight, rounded down.
pub(crate) fn intensity_ceiling_kg(r: &Resolved) -> f64 {
    floor_to_increment(MAX_INTENSITY_RATIO * r.base_weight, r.increment)
}

/// The Rehab Mode ceiling for the session's lift: the tightest cap, rounded up.
pub(crate) fn rehab_ceiling_kg(input: &JitInput, r: &Resolved) -> Option<f64> {
    input.rehab_cap_kg().map(|cap| round_up_to_increment(cap, r.increment))
}

/// Enforces the hard constraints on `session` for `input`.
pub fn enforce_hard_constraints(
    input: &JitInput,
    session: SessionOutput,
) -> Result<SessionOutput, InputError> {
    let r = Resolved::new(input)?;
    session.check().map_err(|e| e.under("session"))?;
    Ok(enforce(input, &r, session))
}

pub(crate) fn enforce(input: &JitInput, r: &Resolved, mut s: SessionOutput) -> SessionOutput {
    let inc = r.increment;
    let base_count = r.base_count();
    let table = resolved_mrv_mev(input);
    let muscles: Vec<(Muscle, f64)> = capped_muscles(input.primary_lift).collect();

    if s.skipped_main_lift {
        s.main_lift_sets.clear();
    }
    for set in &mut s.main_lift_sets {
        set.weight_kg = round_to_increment(set.weight_kg, inc);
    }

    // 1. MRV reached or exceeded on a primary muscle.
    if !s.skipped_main_lift {
        let over = muscles
            .iter()
            .find(|(m, _)| table.get(m).is_some_and(|lm| input.weekly_sets(*m) >= f64::from(lm.mrv)));
        if let Some((m, _)) = over {
            s.skipped_main_lift = true;
            s.main_lift_sets.clear();
            push_unique(&mut s.warnings, mrv_exceeded_warning(*m));
        }
    }

    // Whole sets left under MRV on the tightest primary muscle, and the rehab ceiling: the
    // guard measures cuts against what the ceilings allow, so that a cut the ceilings made
    // (on an earlier pass) is never mistaken for the LLM's over-reaction.
    let tightest = muscles
        .iter()
        .filter_map(|(m, load)| table.get(m).map(|lm| (*m, lm.mrv, input.weekly_sets(*m), *load)))
        .map(|(m, mrv, weekly, load)| (sets_that_fit(mrv, weekly, load), m, mrv, weekly))
        .min_by_key(|t| t.0);
    let rehab = rehab_ceiling_kg(input, r);

    // 2. Over-reaction guard.
    let adjusted = matches!(s.jit_strategy, JitStrategy::Llm | JitStrategy::Hybrid);
    if adjusted && !s.skipped_main_lift && guard_applies(input) && !s.main_lift_sets.is_empty() {
        let allowed_sets = tightest.map_or(base_count, |t| base_count.min(t.0));
        let allowed_kg = rehab.map_or(r.base_weight, |cap| r.base_weight.min(cap));
        if s.main_lift_sets.len() < allowed_sets && s.top_weight_kg() < allowed_kg {
            let floor = over_reaction_floor_kg(r).min(rehab.unwrap_or(f64::INFINITY));
            let target = s.main_lift_sets.len().max(base_count.saturating_sub(1).min(allowed_sets));
            if s.main_lift_sets.len() < target || s.main_lift_sets.iter().any(|x| x.weight_kg < floor) {
                while s.main_lift_sets.len() < target {
                    let Some(last) = s.main_lift_sets.last().cloned() else { break };
                    s.main_lift_sets.push(last);
                }
                for set in &mut s.main_lift_sets {
                    set.weight_kg = set.weight_kg.max(floor);
                }
                let message = over_reaction_warning(target, s.top_weight_kg());
                push_unique(&mut s.warnings, message);
            }
        }
    }

    // 3. At least one working set.
    if !s.skipped_main_lift && s.main_lift_sets.is_empty() {
        if let Some(first) = r.base_sets.first() {
            s.main_lift_sets.push(first.clone());
            push_unique(&mut s.warnings, MIN_SET_WARNING.to_string());
        }
    }

    // 4. Formula sets + 2.
    let max_sets = base_count + MAX_EXTRA_SETS;
    if s.main_lift_sets.len() > max_sets {
        s.main_lift_sets.truncate(max_sets);
        push_unique(&mut s.warnings, format!("[constraint] Sets capped at formula sets + 2: {max_sets}"));
    }

    // 5. Remaining MRV capacity of the tightest primary muscle.
    if !s.skipped_main_lift {
        if let Some((left, m, mrv, weekly)) = tightest {
            if left == 0 {
                s.skipped_main_lift = true;
                s.main_lift_sets.clear();
                push_unique(
                    &mut s.warnings,
                    format!(
                        "[constraint] MRV reached for {m}: {} of {mrv} weekly sets done, no whole set fits — \
                         main lift forced skip",
                        kg(weekly)
                    ),
                );
            } else if s.main_lift_sets.len() > left {
                s.main_lift_sets.truncate(left);
                push_unique(
                    &mut s.warnings,
                    format!(
                        "[constraint] MRV cap for {m}: {} of {mrv} weekly sets done — main lift capped at {left} \
                         set{}",
                        kg(weekly),
                        if left == 1 { "" } else { "s" }
                    ),
                );
            }
        }
    }

    // 6. 1.20 × the formula weight.
    let ceiling = intensity_ceiling_kg(r);
    if s.main_lift_sets.iter().any(|x| x.weight_kg > ceiling) {
        for set in &mut s.main_lift_sets {
            set.weight_kg = set.weight_kg.min(ceiling);
        }
        push_unique(
            &mut s.warnings,
            format!("[constraint] Intensity capped at 1.20 × formula weight: {} kg", kg(ceiling)),
        );
    }

    // 7. Rehab Mode.
    if let Some(cap) = rehab {
        if s.main_lift_sets.iter().any(|x| x.weight_kg > cap) {
            for set in &mut s.main_lift_sets {
                set.weight_kg = set.weight_kg.min(cap);
            }
            push_unique(&mut s.warnings, rehab_warning(cap));
        }
    }

    for (i, set) in s.main_lift_sets.iter_mut().enumerate() {
        set.set_number = i as u32 + 1;
    }
    s.rest_seconds = r.rest;

    // 8. Auxiliaries and warm-ups follow the final main lift.
    apply_aux_rules(input, r, &mut s);
    s.warmup_sets.clear();
    if !s.skipped_main_lift && !s.main_lift_sets.is_empty() {
        let (sets, warning) = warmup_sets(input, s.top_weight_kg(), input.plate_increment_kg());
        s.warmup_sets = sets;
        if let Some(w) = warning {
            push_unique(&mut s.warnings, w.to_string());
        }
    }
    s
}
