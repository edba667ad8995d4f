//! The formula generator's main lift: the seed app's modifier pipeline, step for step, for
//! the inputs jitgen supports. Each step can only reduce, except RPE history (±2.5 % or ±5 %).
//!
//! 0. **Volume calibration** (not on deload or under Rehab Mode): over every logged session
//!    of the lift with an RPE, the mean gap target − actual. Weeks 2 and 3 of a block with a
//!    gap ≥ 0.5 and soreness below 7 add 1 or 2 sets (progression); a gap ≥ 1.0 with
//!    soreness below 7 adds 1; a gap ≤ −1.0 removes 1. Net −2..+3, at least 1 set, and an
//!    increase never takes the sets past a session muscle's remaining MRV capacity.
//! 1. **RPE history** (skipped under Rehab Mode): the two newest logged sessions of the lift
//!    that recorded an RPE; their mean deviation from target (the log's `targetRpe`, else
//!    today's) ≥ +0.75 → load ×0.975 (≥ +1.25 → ×0.95); ≤ −0.75 → ×1.025 (≤ −1.25 → ×1.05).
//!    On a rep day a deviation ≤ −1.25 also prescribes the top of the rep range.
//! 2. **Soreness** (not on deload), the worst rating on the session muscles (squat: quads,
//!    glutes, lower back; bench: chest, triceps, shoulders; deadlift: hamstrings, glutes,
//!    lower and upper back): 5–6 → −1 set; 7–8 → −2 sets and ×0.95 (female −1 set, ×0.97);
//!    9–10 → recovery session, 3 × 5 @ 40 % (at least the bar), RPE 5. Never below 1 set.
//! 3. **MRV**: a session muscle at or over its MRV skips the main lift; otherwise the sets are
//!    capped at the remaining capacity divided by the lift's load on that muscle.
//! 4. **Disruptions** affecting the lift (not on deload, not in recovery): the most severe
//!    one applies. Major → skipped. Moderate → half the planned sets (rounded up). The load
//!    drops by the type's reduction (injury 20 % minor / 40 % moderate, illness 25 %
//!    moderate, travel 30 %, fatigue 10 % / 20 %), never compounding with other cuts below
//!    the strongest one.
//! 5. The weight is the rounded formula weight × the product of the multipliers, rounded;
//!    Rehab Mode caps it at the cap rounded up.

use super::constraints::rehab_warning;
use super::formula::Resolved;
use super::input::{Disruption, JitInput};
use super::output::PlannedSet;
use super::rounding::{kg, round_to_increment, round_up_to_increment};
use super::types::{IntensityType, Sex};
use super::volume::{capped_muscles, resolved_mrv_mev, session_muscles, sets_that_fit, MrvMevTable};

/// The formula's main lift for one session, and the state the auxiliaries follow.
pub(crate) struct MainPlan {
    pub sets: Vec<PlannedSet>,
    pub skipped: bool,
    pub rationale: Vec<String>,
    pub warnings: Vec<String>,
    /// Product of the load multipliers (1 = the formula weight).
    pub intensity: f64,
    /// Main sets planned after every step: fractional after a calibration clamped at a
    /// fractional MRV headroom, and not the final count in recovery.
    pub planned: f64,
}

const RPE_OVER: f64 = 0.75;
const RPE_LARGE_GAP: f64 = 1.25;

/// actual − target of every logged session of the lift with an RPE, newest first.
fn rpe_deviations(input: &JitInput, today_target: f64) -> Vec<f64> {
    let lift = input.primary_lift.as_str();
    let mut logs: Vec<(usize, &super::input::RecentLog)> = input
        .recent_logs
        .iter()
        .enumerate()
        .filter(|(_, log)| log.lift.trim().eq_ignore_ascii_case(lift))
        .collect();
    // Newest first; a date tie goes to the later entry.
    logs.sort_by(|(ia, a), (ib, b)| b.session_date.cmp(&a.session_date).then(ib.cmp(ia)));
    logs.iter()
        .filter_map(|(_, log)| {
            let rpes: Vec<f64> = log.sets.iter().filter_map(|s| s.rpe).filter(|r| r.is_finite()).collect();
            (!rpes.is_empty()).then(|| {
                rpes.iter().sum::<f64>() / rpes.len() as f64 - log.target_rpe.unwrap_or(today_target)
            })
        })
        .collect()
}

/// Step 0: the set change from the lifter's RPE trend and the week of the block.
fn calibration(input: &JitInput, table: &MrvMevTable, deviations: &[f64], planned: f64, soreness: f64) -> f64 {
    // Positive: sessions felt easier than prescribed.
    let gap = if deviations.len() >= 2 { -deviations.iter().sum::<f64>() / deviations.len() as f64 } else { 0.0 };
    let high_soreness = soreness >= 7.0;
    let week_in_block = match input.week_number {
        Some(w) if w > 0 => (w - 1) % 3 + 1,
        _ => 1,
    };
    let mut modifier: f64 = 0.0;
    if gap >= 1.0 && !high_soreness {
        modifier += 1.0;
    }
    if week_in_block >= 2 && gap >= 0.5 && !high_soreness {
        modifier += if week_in_block >= 3 { 2.0 } else { 1.0 };
    }
    if gap <= -1.0 {
        modifier -= 1.0;
    }
    modifier = modifier.clamp(-2.0, 3.0);
    let wanted = (planned + modifier).max(1.0);
    if modifier > 0.0 {
        for m in session_muscles(input.primary_lift) {
            let Some(lm) = table.get(m) else { continue };
            let left = f64::from(lm.mrv) - input.weekly_sets(*m);
            if wanted > left && left > 0.0 {
                let capped = planned.max(left);
                if capped < wanted {
                    modifier = capped - planned;
                }
            }
        }
    }
    modifier
}

fn severity_rank(d: &Disruption) -> u8 {
    match d.severity.as_deref().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("major" | "severe") => 3,
        Some("moderate") => 2,
        _ => 1,
    }
}

/// The load reduction (percent) the seed app suggests for a disruption below major.
fn load_reduction_pct(d: &Disruption, rank: u8) -> Option<u32> {
    let kind: String =
        d.kind.trim().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect();
    match (kind.as_str(), rank) {
        ("injury", 2) => Some(40),
        ("injury", _) => Some(20),
        ("illness", 2) => Some(25),
        ("travel", _) => Some(30),
        ("fatigue", 2) => Some(20),
        ("fatigue", _) => Some(10),
        _ => None,
    }
}

fn severity_word(rank: u8) -> &'static str {
    match rank {
        3 => "major",
        2 => "moderate",
        _ => "minor",
    }
}

/// Soreness step: (sets removed, load multiplier, recovery, message).
fn soreness_effect(worst: f64, sex: Sex) -> (usize, f64, bool, Option<&'static str>) {
    if worst <= 4.0 {
        (0, 1.0, false, None)
    } else if worst <= 6.0 {
        (1, 1.0, false, Some("Moderate soreness — reduced 1 set"))
    } else if worst <= 8.0 {
        match sex {
            Sex::Female => (1, 0.97, false, Some("High soreness — reduced 1 set and intensity 3%")),
            Sex::Male => (2, 0.95, false, Some("High soreness — reduced volume and intensity 5%")),
        }
    } else {
        (0, 1.0, true, None)
    }
}

pub(crate) fn formula_main(input: &JitInput, r: &Resolved) -> MainPlan {
    let p = &r.prescription;
    let base = r.base_count();
    let deload = input.intensity_type == IntensityType::Deload;
    let mut rationale = vec![r.describe(input)];
    let mut warnings = Vec::new();
    // Fractional when the calibration stops at a fractional MRV headroom, as in the seed app;
    // the final set count is its whole part.
    let mut planned = base as f64;
    let mut intensity = 1.0;
    let mut reps = p.reps;
    let mut skipped = false;
    let mut recovery = false;
    let rehab = input.rehab_cap_kg().is_some();
    let table = resolved_mrv_mev(input);

    let deviations = rpe_deviations(input, p.rpe_target);

    // 0. Volume calibration.
    if !deload && !rehab {
        let change = calibration(input, &table, &deviations, planned, input.session_soreness());
        if change != 0.0 {
            planned = (planned + change).max(1.0);
            let direction = if change > 0.0 { "increase" } else { "decrease" };
            rationale.push(format!("Volume calibration: {direction} by {} set(s)", kg(change.abs())));
        }
    }

    // 1. RPE history.
    if !rehab {
        if let Some(dev) = (deviations.len() >= 2).then(|| (deviations[0] + deviations[1]) / 2.0) {
            let large = dev.abs() >= RPE_LARGE_GAP;
            if dev >= RPE_OVER {
                intensity *= if large { 0.95 } else { 0.975 };
                rationale.push(format!("Recent RPE above target — reduced intensity {}%", if large { "5" } else { "2.5" }));
            } else if dev <= -RPE_OVER {
                intensity *= if large { 1.05 } else { 1.025 };
                rationale
                    .push(format!("Recent RPE below target — increased intensity {}%", if large { "5" } else { "2.5" }));
            }
            if input.intensity_type == IntensityType::Rep && dev <= -RPE_LARGE_GAP {
                if let Some(top) = p.reps_max.filter(|m| *m != reps) {
                    reps = top;
                    rationale.push(format!("Recent RPE well below target — prescribing {top} reps"));
                }
            }
        }
    }

    // 2. Soreness.
    if !deload {
        let worst = input.session_soreness();
        let (cut, factor, severe, message) = soreness_effect(worst, input.biological_sex);
        if severe {
            recovery = true;
            rationale.push("Severe soreness — recovery session".to_string());
        } else {
            planned = (planned - cut as f64).max(1.0);
            intensity *= factor;
            if let Some(m) = message {
                rationale.push(m.to_string());
            }
        }
    }

    // 3. MRV.
    if !recovery {
        for (muscle, load) in capped_muscles(input.primary_lift) {
            let Some(lm) = table.get(&muscle) else { continue };
            if f64::from(lm.mrv) - input.weekly_sets(muscle) <= 0.0 {
                skipped = true;
                planned = 0.0;
                warnings.push(format!("MRV exceeded for {muscle} — main lift skipped"));
                break;
            }
            let fits = sets_that_fit(lm.mrv, input.weekly_sets(muscle), load);
            if planned > fits as f64 {
                warnings.push(format!("Approaching MRV for {muscle} — sets capped at {fits}"));
                planned = fits as f64;
            }
        }
    }

    // 4. Disruptions.
    let relevant: Vec<&Disruption> =
        input.active_disruptions.iter().filter(|d| d.affects(input.primary_lift)).collect();
    if deload {
        if !relevant.is_empty() {
            rationale.push("Active disruption noted — deload session proceeds unchanged".to_string());
        }
    } else if !recovery {
        // The first of the most severe.
        let worst = relevant.iter().copied().fold(None::<&Disruption>, |w, d| match w {
            Some(w) if severity_rank(d) <= severity_rank(w) => Some(w),
            _ => Some(d),
        });
        if let Some(d) = worst {
            let rank = severity_rank(d);
            let label = format!("{} ({})", d.kind.trim(), severity_word(rank));
            if rank == 3 {
                skipped = true;
                planned = 0.0;
                rationale.push(format!("{label} — main lift skipped"));
            } else {
                if rank == 2 {
                    planned = planned.min((planned / 2.0).ceil().max(1.0));
                }
                match load_reduction_pct(d, rank) {
                    Some(pct) => {
                        intensity = intensity.min(1.0 - f64::from(pct) / 100.0);
                        let volume = if rank == 2 { ", volume reduced" } else { "" };
                        rationale.push(format!("{label} — intensity reduced {pct}%{volume}"));
                    }
                    None => rationale.push(format!("{label} — {}", if rank == 2 { "volume reduced" } else { "noted" })),
                }
            }
        }
    }
    if input.has_equipment_disruption() {
        rationale.push(
            "No equipment available — auxiliary volume increased with bodyweight compensation exercises".to_string(),
        );
    }

    // 5. Final sets. No whole set left under MRV is a skip, not an empty "performed" lift.
    let count = planned.trunc() as u32;
    if !recovery && count == 0 {
        skipped = true;
    }
    let rehab_ceiling = input.rehab_cap_kg().map(|cap| round_up_to_increment(cap, r.increment));
    let sets = if recovery {
        let basis = rehab_ceiling.map_or(r.base_weight, |c| r.base_weight.min(c));
        let weight = input.bar_kg().max(round_to_increment(basis * 0.4, r.increment));
        (1..=3).map(|n| PlannedSet { set_number: n, weight_kg: weight, reps: 5, rpe_target: 5.0 }).collect()
    } else if skipped {
        Vec::new()
    } else {
        let mut weight = round_to_increment(r.base_weight * intensity, r.increment);
        if let Some(cap) = rehab_ceiling.filter(|c| weight > *c) {
            weight = cap;
            rationale.push(rehab_warning(cap));
            // The app shows warnings, not rationale: a cap the lifter set is worth seeing.
            warnings.push(rehab_warning(cap));
        }
        (1..=count)
            .map(|n| PlannedSet { set_number: n, weight_kg: weight, reps, rpe_target: p.rpe_target })
            .collect()
    };
    MainPlan { sets, skipped, rationale, warnings, intensity, planned }
}
