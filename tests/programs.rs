//! End to end: seed 002's program generation through `jitgen.request_program`, the
//! onboarding trigger, `jitgen run` and an OpenAI-compatible server started by the test; the
//! result union message by message, the re-ask, the daily limit under concurrency, and
//! row-level security between users.

mod support;

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::programs::*;
use support::{db_error, TestDb, Worker};

#[tokio::test]
async fn a_valid_reply_is_stored_with_its_model_and_onboarding_snapshot() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(valid_program())).await;
    let _w = start_worker(&db, &llm, &[]);
    let c = db.client().await;
    with_profile(&c, USER_A).await;
    let job = request(&c, USER_A).await;
    let r = settled(&c, job).await;
    assert_eq!(r["success"], json!(true), "{r}");
    assert_eq!(r["program"]["programName"], json!("Dumbbell Hypertrophy Block"));
    let row = c
        .query_one(
            "SELECT id::text, program_name, total_duration_weeks, ai_model_version, onboarding_data_snapshot
             FROM training_programs WHERE user_id = $1::text::uuid",
            &[&USER_A],
        )
        .await
        .unwrap();
    assert_eq!(r["program_id"], json!(row.get::<_, String>(0)));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Dumbbell Hypertrophy Block"));
    assert_eq!(row.get::<_, Option<i32>>(2), Some(8));
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("gpt-4o-mini"));
    assert_eq!(row.get::<_, Value>(4), onboarding());
    let (auth, body) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth, "Bearer test-key");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!((body["temperature"].clone(), body["max_tokens"].clone()), (json!(0.7), json!(16000)));
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are an expert strength and conditioning coach"), "{system}");
    let user = body["messages"][1]["content"].as_str().unwrap();
    for part in ["interface TrainingProgram", "\"Muscle Gain: General\"", "Dumbbells, Resistance Bands", "Progressive overload"] {
        assert!(user.contains(part), "prompt lacks {part:?}");
    }
}

#[tokio::test]
async fn requests_decided_at_once_carry_the_origin_messages_and_store_nothing() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    // No identity at all.
    let job: i64 = c.query_one("SELECT jitgen.request_program()", &[]).await.unwrap().get(0);
    let r = settled(&c, job).await;
    assert_eq!((r["success"].clone(), r["error"].clone()), (json!(false), json!("Authentication required")));
    // A user without a profile, and one whose onboarding is not complete.
    let r = settled(&c, request(&c, USER_A).await).await;
    assert_eq!(r["error"], json!("Please complete onboarding first"));
    c.execute("INSERT INTO profiles (user_id, onboarding_responses) VALUES ($1::text::uuid, '{}')", &[&USER_B]).await.unwrap();
    let r = settled(&c, request(&c, USER_B).await).await;
    assert_eq!(r["error"], json!("Please complete onboarding first"));
    let stored: i64 = c.query_one("SELECT count(*) FROM training_programs", &[]).await.unwrap().get(0);
    assert_eq!(stored, 0);
}

/// Runs one request against a worker whose LLM behaves as given; returns the result.
async fn outcome_with(script: Vec<Behaviour>, fallback: Behaviour, env: &[(&str, &str)]) -> (Value, i64, Value) {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(fallback).await;
    llm.script(script);
    let _w = start_worker(&db, &llm, env);
    let c = db.client().await;
    with_profile(&c, USER_A).await;
    let profile_before: Value = c.query_one("SELECT to_jsonb(p) FROM profiles p", &[]).await.unwrap().get(0);
    let r = settled(&c, request(&c, USER_A).await).await;
    let profile_after: Value = c.query_one("SELECT to_jsonb(p) FROM profiles p", &[]).await.unwrap().get(0);
    assert_eq!(profile_before, profile_after, "the onboarding row is never touched");
    (r, programs_of(&c, USER_A).await, c.query_one("SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY id), '[]') FROM jitgen.llm_calls l", &[]).await.unwrap().get(0))
}

#[tokio::test]
async fn a_reply_that_is_not_json_is_reported_with_the_reply_kept() {
    let (r, stored, calls) = outcome_with(vec![], Behaviour::Content("Sure! Here is your program: {".into()), &[]).await;
    assert_eq!(r["error"], json!("LLM returned invalid JSON"), "{r}");
    assert_eq!(r["last_invalid"], json!("Sure! Here is your program: {"));
    assert_eq!(stored, 0);
    // The first answer and the re-ask, both paid for and recorded.
    assert_eq!(calls.as_array().unwrap().len(), 2, "{calls}");
    assert!(calls.as_array().unwrap().iter().all(|c| c["outcome"] == json!("parse_error") && c["completion_tokens"] == json!(45)));
}

#[tokio::test]
async fn a_program_that_fails_the_schema_or_the_equipment_rule_is_reported_with_details() {
    let mut missing = serde_json::from_str::<Value>(&valid_program()).unwrap();
    missing.as_object_mut().unwrap().remove("durationWeeksTotal");
    let (r, stored, _) = outcome_with(vec![], Behaviour::Content(missing.to_string()), &[]).await;
    assert_eq!(r["error"], json!("Generated program structure is invalid"), "{r}");
    let first = &r["details"]["details"][0];
    assert_eq!((first["code"].clone(), first["message"].clone()), (json!("missing_field"), json!("durationWeeksTotal required")));
    assert_eq!(stored, 0);

    let mut barbell = serde_json::from_str::<Value>(&valid_program()).unwrap();
    barbell["requiredEquipment"] = json!(["Dumbbells", "Barbell"]);
    let (r, stored, _) = outcome_with(vec![], Behaviour::Content(barbell.to_string()), &[("JITGEN_PROGRAM_REASK", "0")]).await;
    assert_eq!(r["error"], json!("Generated program structure is invalid"), "{r}");
    assert_eq!(r["details"]["details"][0]["path"], json!("requiredEquipment[1]"), "{r}");
    assert!(r["details"]["details"][0]["message"].as_str().unwrap().contains("Barbell"));
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_reask_turns_an_invalid_first_reply_into_a_stored_program() {
    let mut invalid = serde_json::from_str::<Value>(&valid_program()).unwrap();
    invalid["durationWeeksTotal"] = json!(99);
    let (r, stored, calls) = outcome_with(vec![Behaviour::Content(invalid.to_string())], Behaviour::Content(valid_program()), &[]).await;
    assert_eq!(r["success"], json!(true), "{r}");
    assert_eq!(stored, 1);
    let calls = calls.as_array().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0]["component_id"].clone(), calls[0]["outcome"].clone()), (json!("program.generate"), json!("schema_error")));
    assert_eq!((calls[1]["component_id"].clone(), calls[1]["outcome"].clone()), (json!("program.generate.reask"), json!("ok")));
    assert!(calls.iter().all(|c| c["prompt_tokens"] == json!(321) && c["completion_tokens"] == json!(45)));
}

#[tokio::test]
async fn a_reply_cut_off_at_the_token_limit_is_its_own_error() {
    let (r, stored, calls) = outcome_with(vec![], Behaviour::CutOff("{\"programName\": \"Dumb".into()), &[]).await;
    assert_eq!(r["error"], json!("Generated program was cut off (token limit)"), "{r}");
    assert_eq!(r["last_invalid"], json!("{\"programName\": \"Dumb"));
    assert_eq!(stored, 0);
    assert_eq!(calls.as_array().unwrap().len(), 1, "a cut-off reply is not re-asked: it would be cut off again");
}

#[tokio::test]
async fn an_llm_outage_gives_the_communication_message_or_the_template() {
    let down = Behaviour::Status(503, "{\"error\":\"overloaded\"}".into());
    let (r, stored, calls) = outcome_with(vec![], down.clone(), &[]).await;
    assert_eq!(r["error"], json!("Failed to communicate with AI service for program generation"), "{r}");
    assert_eq!(stored, 0);
    assert_eq!(calls.as_array().unwrap().len(), 3, "one call per job attempt: {calls}");

    let (r, stored, _) = outcome_with(vec![], down, &[("JITGEN_PROGRAM_FALLBACK", "template")]).await;
    assert_eq!(r["success"], json!(true), "{r}");
    assert_eq!(r["ai_model_version"], json!("template-v1"));
    assert_eq!(r["program"]["requiredEquipment"], json!(["Dumbbells"]));
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn without_a_key_the_user_is_told_to_contact_support() {
    let db = TestDb::migrated().await;
    let _w = Worker::start(&db.url, &[("LLM_API_KEY", "")]);
    let c = db.client().await;
    with_profile(&c, USER_A).await;
    let r = settled(&c, request(&c, USER_A).await).await;
    assert_eq!(r["error"], json!("LLM API Key not configured. Please contact support."), "{r}");
    assert_eq!(programs_of(&c, USER_A).await, 0);
}

#[tokio::test]
async fn a_refused_insert_is_a_save_failure() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(valid_program())).await;
    let _w = start_worker(&db, &llm, &[]);
    let c = db.client().await;
    c.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'programs are read-only today' USING ERRCODE = 'P0001'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON training_programs FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await
    .unwrap();
    with_profile(&c, USER_A).await;
    let job = request(&c, USER_A).await;
    let r = settled(&c, job).await;
    assert_eq!(r["error"], json!("Failed to save training program"), "{r}");
    assert!(r["details"]["message"].as_str().unwrap().contains("programs are read-only today"), "{r}");
    let state: String = c.query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&job]).await.unwrap().get(0);
    assert_eq!(state, "failed", "failed once, not retried until buried");
}

#[tokio::test]
async fn bad_requests_get_specific_sqlstates() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let e = c.query_one("SELECT jitgen.request_program($1::text::uuid, '[1, 2]')", &[&USER_A]).await.unwrap_err();
    let (code, _, hint) = db_error(&e);
    assert_eq!(code, "22023");
    assert!(e.as_db_error().unwrap().message().contains("got an array"), "{e:?}");
    assert!(hint.unwrap().contains("jitgen.request_program(user_id, '{"));
    let e = c.query_one("SELECT jitgen.program_result(424242)", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "42704");
    let none: i64 = c.query_one("SELECT count(*) FROM jitgen.jobs", &[]).await.unwrap().get(0);
    assert_eq!(none, 0, "refused requests queue nothing");
}
