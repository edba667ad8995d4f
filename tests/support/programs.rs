//! Shared by the program tests: a user's onboarding, a valid program for it, a worker wired to
//! a test LLM, and reading a job's outcome.

use std::time::Duration;

use jitgen_core::program::{template, Onboarding};
use serde_json::{json, Value};
use tokio_postgres::Client;

use super::fake_llm::FakeLlm;
use super::{poll_until, TestDb, Worker};

pub const USER_A: &str = "00000000-0000-4000-8000-00000000000a";
pub const USER_B: &str = "00000000-0000-4000-8000-00000000000b";

pub fn onboarding() -> Value {
    json!({"primaryGoal": "Muscle Gain: General", "experienceLevel": "Intermediate (6mo-2yr)",
           "trainingFrequencyDays": 4, "sessionDuration": "45-60 minutes", "equipment": ["Dumbbells", "Resistance Bands"]})
}

/// A valid program for `onboarding()`, as a model would send it.
pub fn valid_program() -> String {
    let o = Onboarding::from_value(&onboarding()).unwrap();
    let mut p = template::program(&o, "2026-12-02T10:00:00Z");
    p["programName"] = json!("Dumbbell Hypertrophy Block");
    p["aiModelUsed"] = json!("gpt-4o-mini");
    p.to_string()
}

pub fn start_worker(db: &TestDb, llm: &FakeLlm, extra: &[(&str, &str)]) -> Worker {
    let mut env = vec![("LLM_API_ENDPOINT", llm.url.as_str()), ("LLM_API_KEY", "test-key"), ("LLM_MAX_RETRIES", "0")];
    env.extend_from_slice(extra);
    Worker::start(&db.url, &env)
}

pub async fn with_profile(c: &Client, user: &str) {
    c.execute(
        "INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES ($1::text::uuid, $2, true)",
        &[&user, &onboarding()],
    )
    .await
    .unwrap();
}

/// program_result once it is no longer pending.
pub async fn settled(c: &Client, job: i64) -> Value {
    poll_until(Duration::from_secs(30), || async {
        let r: Value = c.query_one("SELECT jitgen.program_result($1)", &[&job]).await.unwrap().get(0);
        (r.get("pending") != Some(&json!(true))).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("program job {job} never settled"))
}

pub async fn programs_of(c: &Client, user: &str) -> i64 {
    c.query_one("SELECT count(*) FROM training_programs WHERE user_id = $1::text::uuid", &[&user]).await.unwrap().get(0)
}

pub async fn request(c: &Client, user: &str) -> i64 {
    c.query_one("SELECT jitgen.request_program($1::text::uuid)", &[&user]).await.unwrap().get(0)
}

