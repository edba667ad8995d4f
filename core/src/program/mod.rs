//! Seed 002's training programs without IO: the onboarding answers a program is built from,
//! the prompt, the checks beyond the schema, the deterministic template, and the result union
//! with the origin's exact messages.

pub mod checks;
pub mod prompt;
pub mod template;

use serde_json::{json, Value};

use crate::validation::builtin::Builtin;
use crate::validation::{Report, DEFAULT_MAX_DETAILS};

/// Why a program could not be produced. The messages are the origin's, word for word: apps
/// show them to users and switch on them.
#[derive(Clone, Debug, PartialEq)]
pub enum ProgramError {
    AuthenticationRequired,
    OnboardingIncomplete,
    NotConfigured,
    Communication,
    InvalidJson,
    InvalidStructure { details: Value },
    SaveFailed { details: Value },
    /// Beyond the origin: the model stopped at its token limit (`finish_reason: length`).
    CutOff,
}

impl ProgramError {
    pub fn message(&self) -> &'static str {
        match self {
            ProgramError::AuthenticationRequired => "Authentication required",
            ProgramError::OnboardingIncomplete => "Please complete onboarding first",
            ProgramError::NotConfigured => "LLM API Key not configured. Please contact support.",
            ProgramError::Communication => "Failed to communicate with AI service for program generation",
            ProgramError::InvalidJson => "LLM returned invalid JSON",
            ProgramError::InvalidStructure { .. } => "Generated program structure is invalid",
            ProgramError::SaveFailed { .. } => "Failed to save training program",
            ProgramError::CutOff => "Generated program was cut off (token limit)",
        }
    }

    /// A stable snake_case name for the same outcome, for code that should not match on text.
    pub fn code(&self) -> &'static str {
        match self {
            ProgramError::AuthenticationRequired => "authentication_required",
            ProgramError::OnboardingIncomplete => "onboarding_incomplete",
            ProgramError::NotConfigured => "not_configured",
            ProgramError::Communication => "communication",
            ProgramError::InvalidJson => "invalid_json",
            ProgramError::InvalidStructure { .. } => "invalid_structure",
            ProgramError::SaveFailed { .. } => "save_failed",
            ProgramError::CutOff => "cut_off",
        }
    }

    /// `{"success":false,"error":…,"code":…}` plus `details` where there are some.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"success": false, "error": self.message(), "code": self.code()});
        if let ProgramError::InvalidStructure { details } | ProgramError::SaveFailed { details } = self {
            v["details"] = details.clone();
        }
        v
    }
}

/// Experience level, read leniently from the onboarding answer ("Beginner (<6 months)",
/// "intermediate", "ADVANCED (2+ years)").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Experience {
    Beginner,
    Intermediate,
    Advanced,
}

impl Experience {
    pub fn label(self) -> &'static str {
        match self {
            Experience::Beginner => "Beginner",
            Experience::Intermediate => "Intermediate",
            Experience::Advanced => "Advanced",
        }
    }

    fn parse(text: &str) -> Option<Experience> {
        let t = text.trim().to_ascii_lowercase();
        [("beg", Experience::Beginner), ("nov", Experience::Beginner), ("int", Experience::Intermediate), ("adv", Experience::Advanced), ("exp", Experience::Advanced)]
            .into_iter()
            .find(|(prefix, _)| t.starts_with(prefix))
            .map(|(_, e)| e)
    }
}

/// The onboarding answers the generator relies on (the origin's `OnboardingData` names), with
/// defaults for what a partial questionnaire leaves out. The whole object is kept as given:
/// it goes to the model and into `onboarding_data_snapshot`.
#[derive(Clone, Debug, PartialEq)]
pub struct Onboarding {
    pub experience: Experience,
    pub days_per_week: u8,
    pub equipment: Vec<String>,
    pub goal: Option<String>,
    pub session_minutes: Option<u32>,
    pub raw: Value,
}

/// Onboarding that is not a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAnObject(pub &'static str);

impl Onboarding {
    pub fn from_value(v: &Value) -> Result<Onboarding, NotAnObject> {
        let Some(o) = v.as_object() else {
            return Err(NotAnObject(match v {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }));
        };
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let experience = ["experienceLevel", "experience", "fitnessLevel"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).and_then(Experience::parse))
            .unwrap_or(Experience::Beginner);
        let days = ["trainingFrequencyDays", "daysPerWeek", "trainingDays"].iter().find_map(|k| match o.get(*k) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().split(|c: char| !c.is_ascii_digit()).next().and_then(|d| d.parse().ok()),
            _ => None,
        });
        let equipment: Vec<String> = ["equipment", "availableEquipment"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_array))
            .map(|items| items.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let session_minutes = text("sessionDuration")
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).find(|d| !d.is_empty()).and_then(|d| d.parse().ok()));
        Ok(Onboarding {
            experience,
            days_per_week: days.unwrap_or(3).clamp(1, 7) as u8,
            equipment: if equipment.is_empty() { vec!["Bodyweight Only".to_string()] } else { equipment },
            goal: text("primaryGoal").or_else(|| text("goal")),
            session_minutes,
            raw: v.clone(),
        })
    }
}

/// Validates a reply as a program for this user: the `training_program` schema with its
/// cross-field rules, then the equipment rule. Ok(program) or the report's JSON.
pub fn check_reply(reply: &Value, onboarding: &Onboarding) -> Result<Value, Value> {
    let mut report: Report = Builtin::TrainingProgram.compiled().validate(reply, DEFAULT_MAX_DETAILS);
    if report.is_valid() {
        checks::equipment_fits(reply, &onboarding.equipment, &mut report);
    }
    if report.is_valid() {
        Ok(reply.clone())
    } else {
        Err(report.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onboarding_is_read_leniently() {
        let o = Onboarding::from_value(&json!({
            "experienceLevel": "Intermediate (6mo-2yr)", "trainingFrequencyDays": "4 days",
            "equipment": ["Dumbbells", " ", "Kettlebells"], "sessionDuration": "45-60 minutes",
            "primaryGoal": "Muscle Gain: General"
        }))
        .unwrap();
        assert_eq!(o.experience, Experience::Intermediate);
        assert_eq!(o.days_per_week, 4);
        assert_eq!(o.equipment, vec!["Dumbbells", "Kettlebells"]);
        assert_eq!(o.session_minutes, Some(45));
        assert_eq!(o.goal.as_deref(), Some("Muscle Gain: General"));
        let empty = Onboarding::from_value(&json!({})).unwrap();
        assert_eq!((empty.experience, empty.days_per_week), (Experience::Beginner, 3));
        assert_eq!(empty.equipment, vec!["Bodyweight Only"]);
        assert_eq!(Onboarding::from_value(&json!({"trainingFrequencyDays": 12})).unwrap().days_per_week, 7);
        assert_eq!(Onboarding::from_value(&json!([1])), Err(NotAnObject("an array")));
        assert_eq!(Onboarding::from_value(&json!("x")), Err(NotAnObject("a string")));
    }

    #[test]
    fn errors_carry_the_origin_messages() {
        let e = ProgramError::InvalidStructure { details: json!([{"path": "phases"}]) }.to_json();
        assert_eq!(e["success"], json!(false));
        assert_eq!(e["error"], json!("Generated program structure is invalid"));
        assert_eq!(e["details"][0]["path"], json!("phases"));
        assert!(ProgramError::Communication.to_json().get("details").is_none());
        assert_eq!(ProgramError::NotConfigured.message(), "LLM API Key not configured. Please contact support.");
    }
}
