//! Weekly volume landmarks: MEV (minimum effective volume) and MRV (maximum recoverable
//! volume) per muscle, the status of a week's volume, and RPE-credited set counting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::input::{JitInput, RecentLog};
use super::types::{named_enum, Lift, Muscle, Sex, TrainingAge};

/// A muscle's weekly set landmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrvMev {
    pub mev: u32,
    pub mrv: u32,
}

/// Landmarks for every tracked muscle; serialises as `{"quads": {"mev": 8, "mrv": 20}, …}`.
pub type MrvMevTable = BTreeMap<Muscle, MrvMev>;

const fn mm(mev: u32, mrv: u32) -> MrvMev {
    MrvMev { mev, mrv }
}

/// (muscle, male, female), the reference's tables.
const DEFAULTS: [(Muscle, MrvMev, MrvMev); 10] = [
    (Muscle::Quads, mm(8, 20), mm(10, 26)),
    (Muscle::Hamstrings, mm(6, 20), mm(8, 25)),
    (Muscle::Glutes, mm(0, 22), mm(0, 28)),
    (Muscle::LowerBack, mm(6, 18), mm(7, 20)),
    (Muscle::UpperBack, mm(10, 22), mm(12, 28)),
    (Muscle::Chest, mm(8, 22), mm(10, 26)),
    (Muscle::Triceps, mm(6, 20), mm(8, 24)),
    (Muscle::Shoulders, mm(8, 20), mm(10, 24)),
    (Muscle::Biceps, mm(8, 20), mm(10, 24)),
    (Muscle::Core, mm(4, 20), mm(6, 24)),
];

/// The default landmarks for `sex` (intermediate training age).
pub fn default_mrv_mev(sex: Sex) -> MrvMevTable {
    DEFAULTS.iter().map(|(m, male, female)| (*m, if sex == Sex::Female { *female } else { *male })).collect()
}

/// (mev multiplier, mrv multiplier).
pub fn training_age_multipliers(age: TrainingAge) -> (f64, f64) {
    match age {
        TrainingAge::Beginner => (0.8, 0.8),
        TrainingAge::Intermediate => (1.0, 1.0),
        TrainingAge::Advanced => (1.1, 1.2),
    }
}

/// The landmarks for a sex and training age: defaults × multipliers, rounded to whole
/// sets (halves up; no default lands on a half).
pub fn mrv_mev_config(sex: Sex, age: TrainingAge) -> MrvMevTable {
    let (mev_x, mrv_x) = training_age_multipliers(age);
    let scale = |n: u32, x: f64| (f64::from(n) * x).round() as u32;
    default_mrv_mev(sex).into_iter().map(|(m, v)| (m, mm(scale(v.mev, mev_x), scale(v.mrv, mrv_x)))).collect()
}

/// The landmarks an input trains against: [`mrv_mev_config`] for its sex and training age,
/// with `mrvMevConfig` numbers replacing individual values.
pub fn resolved_mrv_mev(input: &JitInput) -> MrvMevTable {
    let mut table = mrv_mev_config(input.biological_sex, input.training_age);
    if let Some(overrides) = &input.mrv_mev_config {
        for (name, o) in overrides {
            // Unknown names are rejected by validation; skipping keeps this total.
            let Some(muscle) = Muscle::parse(name) else { continue };
            if let Some(v) = table.get_mut(&muscle) {
                if let Some(mev) = o.mev {
                    v.mev = mev;
                }
                if let Some(mrv) = o.mrv {
                    v.mrv = mrv;
                }
            }
        }
    }
    table
}

named_enum! {
    /// Where a week's volume stands against the landmarks.
    pub enum VolumeStatus {
        BelowMev => "below_mev",
        InRange => "in_range",
        ApproachingMrv => "approaching_mrv",
        AtMrv => "at_mrv",
        ExceededMrv => "exceeded_mrv",
    }
}

/// Classifies `sets` with the checks in the reference's order: above MRV, at MRV, within 2
/// of MRV, at least MEV, else below MEV. NaN fails every comparison and so reads as
/// `below_mev`; the SQL wrapper rejects NaN before calling this.
pub fn volume_status(sets: f64, mev: i64, mrv: i64) -> VolumeStatus {
    let (mev, mrv) = (mev as f64, mrv as f64);
    if sets > mrv {
        VolumeStatus::ExceededMrv
    } else if sets == mrv {
        VolumeStatus::AtMrv
    } else if mrv - sets <= 2.0 {
        VolumeStatus::ApproachingMrv
    } else if sets >= mev {
        VolumeStatus::InRange
    } else {
        VolumeStatus::BelowMev
    }
}

/// The listed points of the RPE → set-credit curve.
pub const RPE_CREDIT_POINTS: [(f64, f64); 7] =
    [(6.0, 0.15), (6.5, 0.30), (7.0, 0.65), (7.5, 0.75), (8.0, 0.85), (8.5, 0.925), (9.0, 1.0)];

/// How much one logged set counts toward weekly volume, by its RPE.
///
/// The listed points are exact. Between two listed points the credit is interpolated
/// linearly: the listed half-points (7.5 → 0.75, 8.5 → 0.925) are exactly the midpoints of
/// their neighbours, so the table is one piecewise-linear curve and interpolation is the
/// reading that agrees with every listed value. Below 6 a set earns nothing (the reference's
/// "≤ 5 → 0" extended up to 6, where the first credited point is: a set that far from
/// failure is not a hard set). At or above 9 a set counts fully. An unrecorded (or NaN) RPE
/// counts fully, erring toward protecting the lifter from exceeding MRV.
pub fn rpe_set_multiplier(rpe: Option<f64>) -> f64 {
    let Some(r) = rpe.filter(|r| !r.is_nan()) else {
        return 1.0;
    };
    if r < RPE_CREDIT_POINTS[0].0 {
        return 0.0;
    }
    for pair in RPE_CREDIT_POINTS.windows(2) {
        let ((lo_r, lo_c), (hi_r, hi_c)) = (pair[0], pair[1]);
        if r == lo_r {
            return lo_c;
        }
        if r < hi_r {
            return lo_c + (r - lo_r) / (hi_r - lo_r) * (hi_c - lo_c);
        }
    }
    1.0
}

/// The muscles a lift trains: primary ones count toward MRV caps and take full credit;
/// secondary ones take half credit in [`weekly_volume_from_logs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiftMuscles {
    pub primary: &'static [Muscle],
    pub secondary: &'static [Muscle],
}

impl LiftMuscles {
    pub fn all(&self) -> impl Iterator<Item = Muscle> + '_ {
        self.primary.iter().chain(self.secondary).copied()
    }
}

/// The reference's mapping of lifts to muscles.
pub fn lift_muscles(lift: Lift) -> LiftMuscles {
    match lift {
        Lift::Squat => {
            LiftMuscles { primary: &[Muscle::Quads], secondary: &[Muscle::Glutes, Muscle::LowerBack] }
        }
        Lift::Bench => {
            LiftMuscles { primary: &[Muscle::Chest], secondary: &[Muscle::Triceps, Muscle::Shoulders] }
        }
        Lift::Deadlift => {
            LiftMuscles { primary: &[Muscle::Hamstrings, Muscle::LowerBack], secondary: &[Muscle::Glutes] }
        }
    }
}

/// Per-set load of a main lift on each muscle it trains (the seed app's muscle map): the
/// MRV cap divides a muscle's remaining capacity by this (glutes take 0.55 of a squat set).
pub fn lift_contributions(lift: Lift) -> &'static [(Muscle, f64)] {
    match lift {
        Lift::Squat => {
            &[(Muscle::Quads, 1.0), (Muscle::Glutes, 0.55), (Muscle::Hamstrings, 0.5), (Muscle::LowerBack, 0.5)]
        }
        Lift::Bench => &[(Muscle::Chest, 1.0), (Muscle::Triceps, 0.4), (Muscle::Shoulders, 0.4)],
        Lift::Deadlift => {
            &[(Muscle::Hamstrings, 1.0), (Muscle::Glutes, 0.75), (Muscle::LowerBack, 1.0), (Muscle::UpperBack, 0.7)]
        }
    }
}

/// The muscles a session of `lift` must protect: soreness on them adjusts the session, and
/// their MRV caps the main lift (the seed app's session muscles; deadlift includes the upper
/// back that holds the bar).
pub fn session_muscles(lift: Lift) -> &'static [Muscle] {
    match lift {
        Lift::Squat => &[Muscle::Quads, Muscle::Glutes, Muscle::LowerBack],
        Lift::Bench => &[Muscle::Chest, Muscle::Triceps, Muscle::Shoulders],
        Lift::Deadlift => &[Muscle::Hamstrings, Muscle::Glutes, Muscle::LowerBack, Muscle::UpperBack],
    }
}

/// Main-lift sets that fit under `mrv` after `weekly` sets, at `load` per set on the muscle
/// (0 at or over MRV).
pub fn sets_that_fit(mrv: u32, weekly: f64, load: f64) -> usize {
    let left = f64::from(mrv) - weekly;
    if left.is_nan() || left <= 0.0 || load <= 0.0 {
        return 0;
    }
    (left / load).floor().min(1e6) as usize
}

/// The session muscles of `lift` with their per-set load, in the muscle map's order.
pub fn capped_muscles(lift: Lift) -> impl Iterator<Item = (Muscle, f64)> {
    let session = session_muscles(lift);
    lift_contributions(lift).iter().copied().filter(move |(m, _)| session.contains(m))
}

/// Credit a secondary muscle gets per set (a design choice; the reference names secondary
/// muscles but gives no factor).
pub const SECONDARY_CREDIT: f64 = 0.5;

/// Weekly sets per muscle from logged sessions: each set counts
/// [`rpe_set_multiplier`]`(rpe)` for the lift's primary muscles and half that for its
/// secondary ones. Logs of anything but squat, bench and deadlift are ignored. The caller
/// chooses which logs make up the week; the engine itself trusts `weeklyVolumeToDate`
/// and never adds logs to it (that would count the week twice).
pub fn weekly_volume_from_logs(logs: &[RecentLog]) -> BTreeMap<Muscle, f64> {
    let mut out: BTreeMap<Muscle, f64> = BTreeMap::new();
    for log in logs {
        let Some(lift) = Lift::parse(&log.lift.trim().to_ascii_lowercase()) else { continue };
        let credit: f64 = log.sets.iter().map(|s| rpe_set_multiplier(s.rpe)).sum();
        let muscles = lift_muscles(lift);
        for m in muscles.primary {
            *out.entry(*m).or_default() += credit;
        }
        for m in muscles.secondary {
            *out.entry(*m).or_default() += credit * SECONDARY_CREDIT;
        }
    }
    for v in out.values_mut() {
        *v = (*v * 1e6).round() / 1e6;
    }
    out
}

/// One muscle's week, as shown to the LLM.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MuscleVolume {
    pub weekly_sets: f64,
    pub mev: u32,
    pub mrv: u32,
    pub status: VolumeStatus,
    /// Whole sets left before MRV (0 at or above MRV).
    pub remaining_sets: u32,
}

/// Every tracked muscle's week against the input's landmarks.
pub fn volume_overview(input: &JitInput) -> BTreeMap<Muscle, MuscleVolume> {
    resolved_mrv_mev(input)
        .into_iter()
        .map(|(m, lm)| {
            let weekly = input.weekly_sets(m);
            let status = volume_status(weekly, i64::from(lm.mev), i64::from(lm.mrv));
            (
                m,
                MuscleVolume {
                    weekly_sets: weekly,
                    mev: lm.mev,
                    mrv: lm.mrv,
                    status,
                    remaining_sets: remaining(lm.mrv, weekly),
                },
            )
        })
        .collect()
}

/// Whole sets that fit below `mrv` after `weekly` sets (0 when none).
pub(crate) fn remaining(mrv: u32, weekly: f64) -> u32 {
    let left = f64::from(mrv) - weekly;
    if left.is_nan() || left <= 0.0 {
        0
    } else {
        // A hair of tolerance so that 20 - 17.9999999 still leaves 2 sets.
        (left + 1e-9).floor().min(f64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_between_points() {
        assert!((rpe_set_multiplier(Some(6.25)) - 0.225).abs() < 1e-12);
        assert!((rpe_set_multiplier(Some(8.25)) - 0.8875).abs() < 1e-12);
        assert_eq!(rpe_set_multiplier(Some(5.5)), 0.0);
        assert_eq!(rpe_set_multiplier(Some(f64::NAN)), 1.0);
        assert_eq!(rpe_set_multiplier(Some(10.0)), 1.0);
    }

    #[test]
    fn remaining_whole_sets() {
        assert_eq!(remaining(20, 18.0), 2);
        assert_eq!(remaining(20, 19.5), 0);
        assert_eq!(remaining(20, 20.0), 0);
        assert_eq!(remaining(20, 25.0), 0);
    }
}
