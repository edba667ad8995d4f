//! The formula generator's own autoregulation of the main lift: disruptions, recent RPE and
//! soreness. Deliberately small and rule-based; anything subtler is the LLM's job.
//!
//! Rules, applied to the loading-table prescription (sets N, weight W):
//! - **Disruptions** affecting the lift (no `affectedLifts` = all lifts); only the
//!   strongest applies: `equipment_unavailable` or severity major/severe → main lift
//!   skipped; moderate → −1 set and ×0.90; minor (or no severity) → ×0.95.
//! - On a deload day nothing else applies (the day is already light).
//! - **RPE**: the most recent logged session of the lift with recorded RPEs; its mean RPE
//!   against today's RPE target: ≥ +1 → ×0.95, ≤ −1 → ×1.025, otherwise unchanged.
//! - **Soreness**, worst rating among the lift's primary and secondary muscles: 1–4
//!   nothing; 5–6 → −1 set; 7–8 → −2 sets and ×0.95 (female: −1 set and ×0.97, the seed
//!   app's female table); 9–10 → recovery work: 3 × 5 @ 40% of W, RPE 5.
//! - A main lift that is not skipped keeps at least one set.
//!
//! With no disruption and soreness below 7 the combined cut stays within −1 set and
//! ×0.95, the over-reaction envelope the hard constraints hold LLM adjustments to.

use super::formula::Resolved;
use super::input::{Disruption, JitInput};
use super::output::PlannedSet;
use super::rounding::{kg, round_to_increment};
use super::types::{IntensityType, Sex};
use super::volume::lift_muscles;

/// The formula's main lift for one session.
pub(crate) struct MainPlan {
    pub sets: Vec<PlannedSet>,
    pub skipped: bool,
    pub rationale: Vec<String>,
}

enum DisruptionEffect {
    Skip(String),
    Reduce { sets: u32, factor: f64, why: String },
}

impl DisruptionEffect {
    fn strength(&self) -> u8 {
        match self {
            DisruptionEffect::Skip(_) => 3,
            DisruptionEffect::Reduce { sets: 1.., .. } => 2,
            DisruptionEffect::Reduce { .. } => 1,
        }
    }
}

fn effect_of(d: &Disruption) -> DisruptionEffect {
    let kind = d.kind.trim();
    if d.is_equipment_unavailable() {
        return DisruptionEffect::Skip("Equipment unavailable — main lift skipped".to_string());
    }
    let severity = d.severity.as_deref().map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    match severity.as_str() {
        "major" | "severe" => DisruptionEffect::Skip(format!("Major {kind} — main lift skipped")),
        "moderate" => DisruptionEffect::Reduce {
            sets: 1,
            factor: 0.90,
            why: format!("Moderate {kind} — 1 set fewer, load −10%"),
        },
        _ => DisruptionEffect::Reduce { sets: 0, factor: 0.95, why: format!("Minor {kind} — load −5%") },
    }
}

/// Mean RPE of the most recent session of the lift that recorded any RPE.
fn last_session_rpe(input: &JitInput) -> Option<(f64, Option<&str>)> {
    let lift = input.primary_lift.as_str();
    input
        .recent_logs
        .iter()
        .filter(|log| log.lift.trim().eq_ignore_ascii_case(lift))
        .filter_map(|log| {
            let rpes: Vec<f64> = log.sets.iter().filter_map(|s| s.rpe).filter(|r| r.is_finite()).collect();
            (!rpes.is_empty())
                .then(|| (rpes.iter().sum::<f64>() / rpes.len() as f64, log.session_date.as_deref()))
        })
        // max_by keeps the last of equal maxima: the later entry wins a date tie.
        .max_by(|a, b| a.1.cmp(&b.1))
}

pub(crate) fn formula_main(input: &JitInput, r: &Resolved) -> MainPlan {
    let p = &r.prescription;
    let mut rationale = vec![r.describe(input)];
    let mut count = i64::from(p.sets);
    let mut factor = 1.0;
    let mut reps = p.reps;
    let mut rpe_target = p.rpe_target;
    let mut recovery = false;

    let strongest = input
        .active_disruptions
        .iter()
        .filter(|d| d.affects(input.primary_lift))
        .map(effect_of)
        .max_by_key(DisruptionEffect::strength);
    match strongest {
        Some(DisruptionEffect::Skip(why)) => {
            rationale.push(why);
            return MainPlan { sets: Vec::new(), skipped: true, rationale };
        }
        Some(DisruptionEffect::Reduce { sets, factor: f, why }) => {
            count -= i64::from(sets);
            factor *= f;
            rationale.push(why);
        }
        None => {}
    }

    if input.intensity_type != IntensityType::Deload {
        if let Some((mean, _)) = last_session_rpe(input) {
            let deviation = mean - p.rpe_target;
            if deviation >= 1.0 {
                factor *= 0.95;
                rationale.push(format!(
                    "Last {} session averaged RPE {} against a target of {} — load −5%",
                    input.primary_lift,
                    kg(mean),
                    p.rpe_target
                ));
            } else if deviation <= -1.0 {
                factor *= 1.025;
                rationale.push(format!(
                    "Last {} session averaged RPE {} against a target of {} — load +2.5%",
                    input.primary_lift,
                    kg(mean),
                    p.rpe_target
                ));
            }
        }

        let muscles: Vec<_> = lift_muscles(input.primary_lift).all().collect();
        let worst = input.worst_soreness_of(&muscles);
        if worst >= 9.0 {
            recovery = true;
            rationale
                .push(format!("Severe soreness ({}/10) — recovery work only: 3 × 5 @ 40%, RPE 5", kg(worst)));
        } else if worst >= 7.0 {
            let (sets, f) = if input.biological_sex == Sex::Female { (1, 0.97) } else { (2, 0.95) };
            count -= sets;
            factor *= f;
            rationale.push(format!(
                "High soreness ({}/10) — {sets} set{} fewer, load −{}%",
                kg(worst),
                if sets == 1 { "" } else { "s" },
                kg((1.0 - f) * 100.0)
            ));
        } else if worst >= 5.0 {
            count -= 1;
            rationale.push(format!("Moderate soreness ({}/10) — 1 set fewer", kg(worst)));
        }
    }

    let mut weight = round_to_increment(r.base_weight * factor, r.increment);
    if recovery {
        // Never more sets than the formula's +2 ceiling allows.
        count = 3.min(i64::from(p.sets) + 2);
        weight = round_to_increment(r.base_weight * 0.4, r.increment);
        reps = 5;
        rpe_target = 5.0;
    }
    let count = count.max(1) as u32;
    let sets =
        (1..=count).map(|n| PlannedSet { set_number: n, weight_kg: weight, reps, rpe_target }).collect();
    MainPlan { sets, skipped: false, rationale }
}
