//! A small built-in auxiliary-exercise catalogue: exercise → (lift, fraction of that lift's
//! 1RM). Ratios follow the seed app's catalogue; a ratio of 0 is a bodyweight exercise.
//!
//! An app extends or corrects it with the input's `auxiliaryCatalogue`, which is looked up
//! first. Names match case-insensitively, ignoring surrounding spaces.

use serde::{Deserialize, Serialize};

use super::input::JitInput;
use super::types::Lift;

/// How an auxiliary exercise is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub lift: Lift,
    /// Fraction of `lift`'s 1RM (0 = bodyweight).
    pub ratio: f64,
}

/// The built-in entries.
pub const BUILTIN: &[(&str, Lift, f64)] = &[
    // Squat pool
    ("Pause Squat", Lift::Squat, 0.75),
    ("High-Bar Squat", Lift::Squat, 0.9),
    ("Barbell Box Squat", Lift::Squat, 0.7),
    ("Barbell Front Squat", Lift::Squat, 0.65),
    ("Front Squat", Lift::Squat, 0.65),
    ("Leg Press", Lift::Squat, 0.5),
    ("Hack Squat", Lift::Squat, 0.4),
    ("Bulgarian Split Squat", Lift::Squat, 0.4),
    ("Dumbbell Lunge", Lift::Squat, 0.15),
    ("Dumbbell Step Up", Lift::Squat, 0.15),
    // Bench pool
    ("Close-Grip Barbell Bench Press", Lift::Bench, 0.75),
    ("Close-Grip Bench Press", Lift::Bench, 0.75),
    ("Barbell Incline Bench Press", Lift::Bench, 0.65),
    ("Dumbbell Incline Bench Press", Lift::Bench, 0.28),
    ("Floor Press", Lift::Bench, 0.8),
    ("Spoto Press", Lift::Bench, 0.8),
    ("Barbell Push Press", Lift::Bench, 0.7),
    ("JM Press", Lift::Bench, 0.5),
    ("Dumbbell Fly", Lift::Bench, 0.12),
    ("Barbell Curl", Lift::Bench, 0.2),
    ("Dips", Lift::Bench, 0.0),
    ("Push-ups", Lift::Bench, 0.0),
    // Deadlift pool
    ("Romanian Deadlift", Lift::Deadlift, 0.5),
    ("Stiff-Leg Deadlift", Lift::Deadlift, 0.6),
    ("Deficit Deadlift", Lift::Deadlift, 0.7),
    ("Sumo Deadlift", Lift::Deadlift, 0.75),
    ("Block Pulls", Lift::Deadlift, 0.95),
    ("Good Mornings", Lift::Deadlift, 0.35),
    ("Barbell Row", Lift::Deadlift, 0.4),
    ("Pendlay Row", Lift::Deadlift, 0.35),
    ("Lat Pulldown", Lift::Deadlift, 0.28),
    ("Pull-ups", Lift::Deadlift, 0.0),
    ("Back Extension", Lift::Deadlift, 0.0),
    ("Hanging Leg Raise", Lift::Deadlift, 0.0),
];

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The built-in entry for `exercise`.
pub fn builtin_entry(exercise: &str) -> Option<CatalogueEntry> {
    BUILTIN
        .iter()
        .find(|(name, _, _)| same_name(name, exercise))
        .map(|(_, lift, ratio)| CatalogueEntry { lift: *lift, ratio: *ratio })
}

/// The entry for `exercise`: the input's catalogue first, then the built-in one.
pub fn lookup(input: &JitInput, exercise: &str) -> Option<CatalogueEntry> {
    input
        .auxiliary_catalogue
        .iter()
        .find(|(name, _)| same_name(name, exercise))
        .map(|(_, e)| *e)
        .or_else(|| builtin_entry(exercise))
}

/// The unrounded working weight of `exercise`: ratio × the 1RM of its lift. `None` when the
/// exercise is in no catalogue.
pub fn aux_weight_kg(input: &JitInput, exercise: &str) -> Option<f64> {
    lookup(input, exercise).map(|e| e.ratio * input.one_rm_for(e.lift))
}
