//! The opt-in fallback (`JITGEN_PROGRAM_FALLBACK=template`): a valid program built from the
//! onboarding answers alone, so that a user is never left without one when the model is
//! unreachable. Deterministic: the same answers give the same program.

use serde_json::{json, Value};

use super::checks::{available, normalize};
use super::{Experience, Onboarding};

/// `ai_model_version` of template programs.
pub const MODEL_VERSION: &str = "template-v1";

struct Movement {
    /// Alternatives in order of preference: (name, equipment it needs, all of it).
    options: &'static [(&'static str, &'static [&'static str])],
    /// Main lifts gain a set as a phase goes on; accessories keep theirs.
    main_lift: bool,
    category: &'static str,
}

const SQUAT: Movement = Movement {
    options: &[("Barbell Back Squat", &["Barbell", "Rack"]), ("Goblet Squat", &["Dumbbells"]), ("Kettlebell Goblet Squat", &["Kettlebell"]), ("Bodyweight Squat", &[])],
    main_lift: true,
    category: "Compound",
};
const HINGE: Movement = Movement {
    options: &[("Barbell Romanian Deadlift", &["Barbell"]), ("Dumbbell Romanian Deadlift", &["Dumbbells"]), ("Kettlebell Swing", &["Kettlebell"]), ("Glute Bridge", &[])],
    main_lift: true,
    category: "Compound",
};
const PUSH: Movement = Movement {
    options: &[("Barbell Bench Press", &["Barbell", "Bench"]), ("Dumbbell Floor Press", &["Dumbbells"]), ("Push-up", &[])],
    main_lift: true,
    category: "Compound",
};
const OVERHEAD: Movement = Movement {
    options: &[("Dumbbell Overhead Press", &["Dumbbells"]), ("Kettlebell Overhead Press", &["Kettlebell"]), ("Band Overhead Press", &["Resistance Band"]), ("Pike Push-up", &[])],
    main_lift: true,
    category: "Compound",
};
const PULL: Movement = Movement {
    options: &[("Barbell Row", &["Barbell"]), ("One-Arm Dumbbell Row", &["Dumbbells"]), ("Band Row", &["Resistance Band"]), ("Prone Y-T-W Raise", &[])],
    main_lift: true,
    category: "Compound",
};
const LUNGE: Movement = Movement {
    options: &[("Dumbbell Reverse Lunge", &["Dumbbells"]), ("Bodyweight Reverse Lunge", &[])],
    main_lift: false,
    category: "Compound",
};
const CORE: Movement = Movement { options: &[("Plank", &[])], main_lift: false, category: "Core" };

const DAY_A: [&Movement; 4] = [&SQUAT, &PUSH, &PULL, &CORE];
const DAY_B: [&Movement; 5] = [&HINGE, &OVERHEAD, &PULL, &LUNGE, &CORE];

/// Training days of the week (1 = Monday) for each frequency, spread for recovery.
fn training_days(per_week: u8) -> &'static [u8] {
    match per_week {
        0 | 1 => &[1],
        2 => &[1, 4],
        3 => &[1, 3, 5],
        4 => &[1, 2, 4, 5],
        5 => &[1, 2, 3, 5, 6],
        6 => &[1, 2, 3, 4, 5, 6],
        _ => &[1, 2, 3, 4, 5, 6, 7],
    }
}

/// (phase name, weeks, reps, base sets, base RPE) per experience level.
fn phases(e: Experience) -> &'static [(&'static str, u32, &'static str, u32, f64)] {
    match e {
        Experience::Beginner => &[("Foundation", 4, "10-12", 2, 6.0), ("Progression", 4, "8-10", 3, 6.5)],
        Experience::Intermediate => &[("Accumulation", 4, "10-12", 3, 7.0), ("Intensification", 3, "6-8", 4, 7.5), ("Deload", 1, "8-10", 2, 6.0)],
        Experience::Advanced => &[
            ("Accumulation", 4, "8-12", 4, 7.0),
            ("Intensification", 3, "5-8", 4, 8.0),
            ("Realisation", 2, "3-5", 3, 8.5),
            ("Deload", 1, "8-10", 2, 6.0),
        ],
    }
}

fn pick(m: &Movement, have: &std::collections::BTreeSet<String>) -> (&'static str, &'static [&'static str]) {
    *m.options
        .iter()
        .find(|(_, needs)| needs.iter().all(|n| have.contains(&normalize(n))))
        .unwrap_or_else(|| m.options.last().expect("every movement has a bodyweight option"))
}

/// The program for these answers, stamped `generated_at` (RFC 3339).
pub fn program(onboarding: &Onboarding, generated_at: &str) -> Value {
    let have = available(&onboarding.equipment);
    let days = training_days(onboarding.days_per_week);
    let mut required: Vec<&str> = Vec::new();
    let mut week_number = 0u32;
    let mut phase_values = Vec::new();
    for (index, (name, weeks, reps, base_sets, base_rpe)) in phases(onboarding.experience).iter().enumerate() {
        let mut week_values = Vec::new();
        for week in 1..=*weeks {
            week_number += 1;
            let rpe = (base_rpe + 0.5 * f64::from(week - 1)).min(9.0);
            let day_values: Vec<Value> = days
                .iter()
                .enumerate()
                .map(|(i, dow)| {
                    let (focus, movements): (&str, &[&Movement]) = if i % 2 == 0 { ("Full Body", &DAY_A) } else { ("Full Body", &DAY_B) };
                    let exercises: Vec<Value> = movements
                        .iter()
                        .map(|m| {
                            let (exercise, needs) = pick(m, &have);
                            for n in needs {
                                if !required.contains(n) {
                                    required.push(n);
                                }
                            }
                            let sets = if m.main_lift { *base_sets + u32::from(week > 2 && *name != "Deload") } else { *base_sets };
                            json!({
                                "name": exercise, "sets": sets, "reps": if m.options.len() == 1 { "30-45 seconds" } else { reps },
                                "rest": if m.main_lift { "90 seconds" } else { "60 seconds" }, "rpe": rpe,
                                "category": m.category,
                            })
                        })
                        .collect();
                    json!({"dayOfWeek": dow, "focus": focus, "exercises": exercises,
                           "estimatedDurationMinutes": onboarding.session_minutes.unwrap_or(60).min(90)})
                })
                .collect();
            week_values.push(json!({
                "weekNumber": week_number, "weekInPhase": week, "days": day_values,
                "notes": if *name == "Deload" { "Recover: lighter sets, same movements.".to_string() }
                         else { format!("Progressive overload: aim for RPE {rpe:.1}; add a rep or 2.5 kg where last week felt easy.") }
            }));
        }
        phase_values.push(json!({
            "phaseName": name, "phaseNumber": index + 1, "durationWeeks": weeks, "weeks": week_values,
            "objectives": [format!("{name}: {reps} reps at controlled effort")]
        }));
    }
    let total: u32 = phases(onboarding.experience).iter().map(|p| p.1).sum();
    json!({
        "programName": format!("{} Full-Body Program ({} days/week)", onboarding.experience.label(), days.len()),
        "description": "A program built from your onboarding answers while the AI coach was unavailable. \
It follows the same rules: only your equipment, volume for your experience, progressive overload.",
        "durationWeeksTotal": total,
        "phases": phase_values,
        "generatedAt": generated_at,
        "difficultyLevel": onboarding.experience.label(),
        "trainingFrequency": days.len(),
        "requiredEquipment": required,
        "aiModelUsed": MODEL_VERSION,
        "tags": ["template"],
        "version": 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::check_reply;

    fn onboarding(v: Value) -> Onboarding {
        Onboarding::from_value(&v).unwrap()
    }

    #[test]
    fn every_template_is_a_valid_program_for_its_user() {
        let equipment = [
            json!(["Full Gym (Barbells, Racks, Machines)"]),
            json!(["Dumbbells"]),
            json!(["Kettlebells", "Resistance Bands"]),
            json!(["Bodyweight Only"]),
            json!([]),
        ];
        for level in ["Beginner (<6 months)", "Intermediate (6mo-2yr)", "Advanced (2+ years)"] {
            for days in 1..=7 {
                for eq in &equipment {
                    let o = onboarding(json!({"experienceLevel": level, "trainingFrequencyDays": days, "equipment": eq}));
                    let p = program(&o, "2026-12-02T10:00:00Z");
                    if let Err(report) = check_reply(&p, &o) {
                        panic!("{level} {days} {eq}: {report}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_template_follows_the_answers() {
        let o = onboarding(json!({"experienceLevel": "beginner", "trainingFrequencyDays": 3, "equipment": ["Dumbbells"]}));
        let p = program(&o, "2026-12-02T10:00:00Z");
        assert_eq!(p, program(&o, "2026-12-02T10:00:00Z"), "deterministic");
        assert_eq!(p["requiredEquipment"], json!(["Dumbbells"]));
        assert_eq!(p["phases"][0]["weeks"][0]["days"].as_array().unwrap().len(), 3);
        assert_eq!(p["phases"][0]["weeks"][0]["days"][0]["exercises"][0]["name"], json!("Goblet Squat"));
        let bodyweight = program(&onboarding(json!({"equipment": ["Bodyweight Only"]})), "2026-12-02T10:00:00Z");
        assert_eq!(bodyweight["requiredEquipment"], json!([]));
        let gym = program(&onboarding(json!({"experienceLevel": "Advanced", "equipment": ["Full Gym (Barbells, Racks, Machines)"]})), "2026-12-02T10:00:00Z");
        assert_eq!(gym["phases"][0]["weeks"][0]["days"][0]["exercises"][0]["name"], json!("Barbell Back Squat"));
        assert_eq!(gym["durationWeeksTotal"], json!(10));
        // Overload: effort rises within a phase.
        let rpe = |w: usize| p["phases"][0]["weeks"][w]["days"][0]["exercises"][0]["rpe"].as_f64().unwrap();
        assert!(rpe(3) > rpe(0));
    }
}
