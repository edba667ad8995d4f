//! The origin's rule "equipment strictly from the user's list", checked on the reply: every
//! `requiredEquipment` item must be something the user said they have, compared case- and
//! plural-insensitively. A questionnaire answer such as "Full Gym (Barbells, Racks, Machines)"
//! offers what it names in brackets as well as its usual contents.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::validation::{Code, Report};

/// What always needs no equipment.
const ALWAYS_AVAILABLE: &[&str] = &["bodyweight", "body weight", "none", "no equipment", "floor", "mat", "exercise mat"];

/// What an answer implies beyond its own words.
const IMPLIED: &[(&str, &[&str])] = &[
    (
        "full gym",
        &["barbell", "rack", "squat rack", "power rack", "bench", "machine", "cable", "cable machine", "dumbbell",
          "kettlebell", "pull-up bar", "plate", "weight plate", "ez bar", "smith machine", "leg press", "lat pulldown",
          "treadmill", "bike", "rower", "dip station"],
    ),
    ("home gym", &["dumbbell", "bench", "pull-up bar", "resistance band"]),
    ("cardio machine", &["treadmill", "bike", "rower", "elliptical", "stationary bike", "rowing machine"]),
];

/// Lower case, single spaces, no "only", and each word in the singular ("Dumbbells" and
/// "dumbbell" are the same thing).
pub fn normalize(item: &str) -> String {
    item.to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_')
        .filter(|w| !w.is_empty() && *w != "only")
        .map(singular)
        .collect::<Vec<_>>()
        .join(" ")
}

fn singular(word: &str) -> String {
    for suffix in ["ches", "shes", "xes", "sses"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            return format!("{stem}{}", &suffix[..suffix.len() - 2]);
        }
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && stem.len() > 2 => stem.to_string(),
        _ => word.to_string(),
    }
}

/// Everything the user's answers make available, normalised.
pub fn available(equipment: &[String]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = ALWAYS_AVAILABLE.iter().map(|s| normalize(s)).collect();
    for item in equipment {
        let (head, listed) = match item.split_once('(') {
            Some((head, rest)) => (head, rest.trim_end_matches(')')),
            None => (item.as_str(), ""),
        };
        for part in std::iter::once(item.as_str()).chain(std::iter::once(head)).chain(listed.split([',', '/'])) {
            let n = normalize(part.trim().trim_start_matches("and "));
            if n.is_empty() {
                continue;
            }
            if let Some((_, implied)) = IMPLIED.iter().find(|(k, _)| *k == n) {
                out.extend(implied.iter().map(|s| normalize(s)));
            }
            out.insert(n);
        }
    }
    out
}

/// Adds one detail per `requiredEquipment` item the user does not have.
pub fn equipment_fits(program: &Value, equipment: &[String], report: &mut Report) {
    let Some(required) = program.get("requiredEquipment").and_then(Value::as_array) else { return };
    let have = available(equipment);
    for (i, item) in required.iter().enumerate() {
        let Some(name) = item.as_str() else { continue };
        let n = normalize(name);
        if n.is_empty() || have.contains(&n) {
            continue;
        }
        let pushed = report.push(
            format!("requiredEquipment[{i}]"),
            Code::InvalidValue,
            format!("requires {name:?}, which is not in the user's equipment ({})", equipment.join(", ")),
        );
        if !pushed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn misses(required: Value, equipment: &[&str]) -> Vec<String> {
        let mut report = Report::new(50);
        let equipment: Vec<String> = equipment.iter().map(|s| s.to_string()).collect();
        equipment_fits(&json!({"requiredEquipment": required}), &equipment, &mut report);
        report.details().iter().map(|d| d.path.clone()).collect()
    }

    #[test]
    fn plural_and_case_do_not_matter() {
        assert_eq!(normalize("Dumbbells"), "dumbbell");
        assert_eq!(normalize("DUMBBELL"), "dumbbell");
        assert_eq!(normalize("Bodyweight Only"), "bodyweight");
        assert_eq!(normalize("Benches"), "bench");
        assert_eq!(normalize("Resistance Bands"), "resistance band");
        assert_eq!(normalize("glass"), "glass");
        assert!(misses(json!(["dumbbell", "DUMBBELLS", "Bodyweight"]), &["Dumbbells"]).is_empty());
    }

    #[test]
    fn bracketed_answers_offer_what_they_name() {
        let gym = ["Full Gym (Barbells, Racks, Machines)"];
        assert!(misses(json!(["Barbell", "Squat Rack", "Cable Machine", "Dumbbells"]), &gym).is_empty());
        let cardio = ["Cardio Machines (Treadmill, Bike, Rower, Elliptical)"];
        assert!(misses(json!(["Rower", "treadmill"]), &cardio).is_empty());
    }

    #[test]
    fn missing_equipment_is_reported_per_item() {
        assert_eq!(misses(json!(["Dumbbells", "Barbell", "Kettlebell"]), &["Dumbbells"]), vec!["requiredEquipment[1]", "requiredEquipment[2]"]);
        assert_eq!(misses(json!(["Barbell"]), &["Bodyweight Only"]), vec!["requiredEquipment[0]"]);
        assert!(misses(json!([]), &[]).is_empty());
    }
}
