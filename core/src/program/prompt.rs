//! The request that asks a model for a program: the origin's approach (an expert-coach role,
//! the TrainingProgram interfaces as TypeScript text, the onboarding answers, the generation
//! rules) over chat completions with `response_format: json_object`.

use serde_json::{json, Value};

use super::{Experience, Onboarding};
use crate::llm::{self, ChatRequest, ResponseFormat};

pub const TEMPERATURE: f64 = 0.7;
pub const MAX_TOKENS: u64 = 16_000;

/// The shape the reply must have, as the model reads it best: TypeScript interfaces. They say
/// what the `training_program` schema checks.
pub const INTERFACES: &str = r#"type DayOfWeek = 1 | 2 | 3 | 4 | 5 | 6 | 7; // 1 = Monday
type WorkoutFocus = "Upper Body" | "Lower Body" | "Push" | "Pull" | "Legs" | "Full Body" | "Cardio"
  | "Core" | "Arms" | "Back" | "Chest" | "Shoulders" | "Glutes" | "Recovery/Mobility" | "Sport-Specific" | "Rest Day";

interface ExerciseDetail {
  name: string;
  sets: number;              // integer >= 1
  reps: string | number;     // "8-12", 10, "AMRAP"
  rest: string;              // "90 seconds"
  tempo?: string;
  rpe?: number;              // 1-10
  notes?: string;
  weight?: string;
  category?: "Compound" | "Isolation" | "Cardio" | "Mobility" | "Core" | "Warm-up" | "Cool-down";
}

interface WorkoutDay {
  dayOfWeek: DayOfWeek;
  focus?: WorkoutFocus;
  exercises: ExerciseDetail[];
  warmUp?: ExerciseDetail[];
  coolDown?: ExerciseDetail[];
  notes?: string;
  estimatedDurationMinutes?: number;
  isRestDay?: boolean;
}

interface TrainingWeek {
  weekNumber: number;        // 1-based, counted across the whole program
  weekInPhase?: number;
  days: WorkoutDay[];
  notes?: string;
  weeklyGoals?: string[];
}

interface TrainingPhase {
  phaseName: string;
  phaseNumber?: number;
  durationWeeks: number;     // integer >= 1
  weeks: TrainingWeek[];
  notes?: string;
  objectives?: string[];
}

interface TrainingProgram {
  programName: string;
  description: string;
  durationWeeksTotal: number; // must equal the sum of the phases' durationWeeks
  phases: TrainingPhase[];
  generatedAt: string;        // ISO 8601 date-time
  difficultyLevel?: "Beginner" | "Intermediate" | "Advanced";
  trainingFrequency?: string | number;
  requiredEquipment?: string[]; // only items from the user's equipment
  generalAdvice?: string;
  aiModelUsed?: string;
  tags?: string[];
  version?: string | number;
}"#;

pub const SYSTEM: &str = "You are an expert strength and conditioning coach who designs safe, effective, \
periodised training programs. You answer with one JSON object and nothing else.";

fn experience_rule(e: Experience) -> &'static str {
    match e {
        Experience::Beginner => "Beginner: mostly compound movements with simple technique, 2-3 sets per exercise, \
4-5 exercises per session, moderate effort (RPE 6-7), no advanced techniques.",
        Experience::Intermediate => "Intermediate: compound lifts plus targeted accessories, 3-4 sets per exercise, \
5-6 exercises per session, RPE 7-8, simple periodisation between phases.",
        Experience::Advanced => "Advanced: higher volume and intensity, 3-5 sets, 5-7 exercises per session, RPE 7-9, \
clear periodisation (accumulation, intensification, deload).",
    }
}

/// The user message: interfaces, onboarding answers and the rules.
pub fn user_message(onboarding: &Onboarding) -> String {
    let answers = serde_json::to_string_pretty(&onboarding.raw).unwrap_or_else(|_| "{}".into());
    format!(
        "Create a personalised training program as one JSON object of type TrainingProgram.\n\n\
TypeScript interfaces:\n```typescript\n{INTERFACES}\n```\n\n\
The user's onboarding answers:\n```json\n{answers}\n```\n\n\
Rules:\n\
1. Equipment: use only exercises that need nothing beyond this list: {equipment}. Bodyweight exercises are \
always allowed. List what the program needs in requiredEquipment, using the user's words.\n\
2. Experience level and volume: {experience}\n\
3. Train {days} days per week; keep each session within about {minutes} minutes.\n\
4. Progressive overload: increase load, reps or sets from week to week within each phase, and say how in the notes.\n\
5. durationWeeksTotal equals the sum of the phases' durationWeeks, and every phase lists each of its weeks.\n\
6. Reply with the JSON object only: no Markdown, no comments.",
        equipment = onboarding.equipment.join(", "),
        experience = experience_rule(onboarding.experience),
        days = onboarding.days_per_week,
        minutes = onboarding.session_minutes.unwrap_or(60),
    )
}

/// The chat-completions body for `model`.
pub fn request_body(model: &str, onboarding: &Onboarding) -> Value {
    let user = user_message(onboarding);
    let mut body = llm::request_body(&ChatRequest {
        model,
        system: SYSTEM,
        user: &user,
        format: ResponseFormat::JsonObject,
        temperature: Some(TEMPERATURE),
    });
    body["max_tokens"] = json!(MAX_TOKENS);
    body
}

/// The first request followed by the model's invalid reply and what was wrong with it.
pub fn reask_body(first: &Value, reply_text: &str, problems: &Value) -> Value {
    let mut body = first.clone();
    if let Some(messages) = body["messages"].as_array_mut() {
        messages.push(json!({"role": "assistant", "content": reply_text}));
        messages.push(json!({"role": "user", "content": format!(
            "That program failed validation with these problems: {}. Reply again with one corrected TrainingProgram JSON object.",
            serde_json::to_string(problems).unwrap_or_default())}));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_origin_settings() {
        let o = Onboarding::from_value(&json!({"experienceLevel": "Advanced", "equipment": ["Dumbbells"], "trainingFrequencyDays": 5})).unwrap();
        let body = request_body("gpt-4o-mini", &o);
        assert_eq!(body["model"], json!("gpt-4o-mini"));
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["temperature"], json!(0.7));
        assert_eq!(body["max_tokens"], json!(16000));
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.starts_with("You are an expert strength and conditioning coach"));
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert!(user.contains("interface TrainingProgram"));
        assert!(user.contains("nothing beyond this list: Dumbbells"));
        assert!(user.contains("Advanced: higher volume"));
        assert!(user.contains("Train 5 days per week"));
        assert!(user.contains("Progressive overload"));
        let again = reask_body(&body, "{}", &json!([{"path": "phases"}]));
        assert_eq!(again["messages"].as_array().unwrap().len(), 4);
        assert!(again["messages"][3]["content"].as_str().unwrap().contains("\"path\":\"phases\""));
    }
}
