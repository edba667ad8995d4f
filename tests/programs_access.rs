//! End to end: who may see and request programs (row-level security by
//! `jitgen.current_user_id()`), the onboarding trigger, the daily limit under 16 concurrent
//! requesters, and the extracted columns of `training_programs`.

mod support;

use std::collections::BTreeSet;

use jitgen_core::program::{template, Onboarding};
use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::programs::*;
use support::{db_error, TestDb};
use tokio_postgres::Client;

/// A database plus an app role that acts for users by setting jitgen.user_id, as a connection
/// pool of an app server (or PostgREST with JWT claims) does.
struct App {
    db: TestDb,
    role: String,
}

impl App {
    async fn new() -> App {
        let db = TestDb::migrated().await;
        let role = format!("{}_app", db.name);
        let c = db.client().await;
        c.batch_execute(&format!(
            "DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\";
             GRANT SELECT, INSERT, UPDATE, DELETE ON profiles, training_programs TO \"{role}\";"
        ))
        .await
        .unwrap();
        App { db, role }
    }

    async fn as_user(&self, user: &str) -> Client {
        let c = self.db.client().await;
        c.batch_execute(&format!("SET ROLE \"{}\"; SET jitgen.user_id = '{user}';", self.role)).await.unwrap();
        c
    }
}

impl Drop for App {
    fn drop(&mut self) {
        support::drop_database_then_roles(&self.db.name, &[&self.role]);
    }
}

async fn jobs_for(c: &Client, user: &str) -> i64 {
    c.query_one("SELECT count(*) FROM jitgen.jobs WHERE kind = 'program.generate' AND key = $1", &[&user]).await.unwrap().get(0)
}

#[tokio::test]
async fn users_see_and_change_only_their_own_profiles_and_programs() {
    let app = App::new().await;
    let llm = FakeLlm::start(Behaviour::Content(valid_program())).await;
    let _w = start_worker(&app.db, &llm, &[]);
    let (a, b) = (app.as_user(USER_A).await, app.as_user(USER_B).await);
    with_profile(&a, USER_A).await;
    with_profile(&b, USER_B).await;
    // The sidecar writes each user's program although neither user could write the other's.
    let (job_a, job_b) = (request(&a, USER_A).await, request(&b, USER_B).await);
    assert_eq!(settled(&a, job_a).await["success"], json!(true));
    assert_eq!(settled(&b, job_b).await["success"], json!(true));
    for (c, own) in [(&a, USER_A), (&b, USER_B)] {
        let seen: Vec<String> = c
            .query("SELECT user_id::text FROM training_programs UNION ALL SELECT user_id::text FROM profiles", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(seen, vec![own.to_string(), own.to_string()]);
    }
    let changed = a.execute("UPDATE training_programs SET status = 'hacked' WHERE user_id = $1::text::uuid", &[&USER_B]).await.unwrap();
    let deleted = a.execute("DELETE FROM training_programs WHERE user_id = $1::text::uuid", &[&USER_B]).await.unwrap();
    let touched = a.execute("UPDATE profiles SET onboarding_responses = '{}' WHERE user_id = $1::text::uuid", &[&USER_B]).await.unwrap();
    assert_eq!((changed, deleted, touched), (0, 0, 0));
    let e = a.execute("INSERT INTO profiles (user_id) VALUES ('00000000-0000-4000-8000-0000000000cc')", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "42501", "a profile for another user");
    // Requests and results for another user are refused, with what to do instead.
    let e = a.query_one("SELECT jitgen.request_program($1::text::uuid)", &[&USER_B]).await.unwrap_err();
    let (code, detail, _) = db_error(&e);
    assert_eq!(code, "42501");
    assert!(detail.unwrap().contains(USER_A));
    let e = a.query_one("SELECT jitgen.program_result($1)", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "42501");
    let owner = app.db.client().await;
    let programs: i64 = owner.query_one("SELECT count(*) FROM training_programs", &[]).await.unwrap().get(0);
    assert_eq!(programs, 2, "nothing was changed or deleted");
}

#[tokio::test]
async fn completing_onboarding_requests_one_program_and_never_fails_the_profile_write() {
    let app = App::new().await;
    let owner = app.db.client().await;
    let a = app.as_user(USER_A).await;
    a.execute("INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES ($1::text::uuid, $2, true)", &[&USER_A, &onboarding()])
        .await
        .unwrap();
    assert_eq!(jobs_for(&owner, USER_A).await, 1);

    let b = app.as_user(USER_B).await;
    b.execute("INSERT INTO profiles (user_id, onboarding_responses) VALUES ($1::text::uuid, $2)", &[&USER_B, &onboarding()]).await.unwrap();
    assert_eq!(jobs_for(&owner, USER_B).await, 0, "onboarding not complete yet");
    b.batch_execute(&format!(
        "BEGIN;
         UPDATE profiles SET onboarding_completed = true WHERE user_id = '{USER_B}';
         UPDATE profiles SET onboarding_completed = false WHERE user_id = '{USER_B}';
         UPDATE profiles SET onboarding_completed = true WHERE user_id = '{USER_B}';
         COMMIT;"
    ))
    .await
    .unwrap();
    assert_eq!(jobs_for(&owner, USER_B).await, 1, "completed twice in one transaction: one job");

    let c_user = "00000000-0000-4000-8000-0000000000cc";
    let c = app.as_user(c_user).await;
    c.execute("INSERT INTO profiles (user_id, onboarding_responses) VALUES ($1::text::uuid, $2)", &[&c_user, &onboarding()]).await.unwrap();
    c.batch_execute(&format!("BEGIN; UPDATE profiles SET onboarding_completed = true WHERE user_id = '{c_user}'; ROLLBACK;")).await.unwrap();
    assert_eq!(jobs_for(&owner, c_user).await, 0, "a rolled-back profile write leaves no job");

    // Generation cannot even be requested: the profile write still succeeds.
    owner.batch_execute("REVOKE EXECUTE ON FUNCTION jitgen.request_program(uuid, jsonb) FROM PUBLIC").await.unwrap();
    let d_user = "00000000-0000-4000-8000-0000000000dd";
    let d = app.as_user(d_user).await;
    d.execute("INSERT INTO profiles (user_id, onboarding_responses, onboarding_completed) VALUES ($1::text::uuid, $2, true)", &[&d_user, &onboarding()])
        .await
        .unwrap();
    let completed: bool = owner.query_one("SELECT onboarding_completed FROM profiles WHERE user_id = $1::text::uuid", &[&d_user]).await.unwrap().get(0);
    assert!(completed);
    assert_eq!(jobs_for(&owner, d_user).await, 0);
}

#[tokio::test]
async fn the_daily_limit_admits_exactly_the_limit_under_16_concurrent_requesters() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(valid_program())).await;
    let _w = start_worker(&db, &llm, &[("JITGEN_WORKERS", "8")]);
    let setup = db.client().await;
    with_profile(&setup, USER_A).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = db.client().await;
        tasks.push(tokio::spawn(async move {
            let mut programs = BTreeSet::new();
            for _ in 0..20 {
                let r = settled(&c, request(&c, USER_A).await).await;
                if r["code"] == json!("daily_limit") {
                    return (programs, r);
                }
                assert_eq!(r["success"], json!(true), "{r}");
                programs.insert(r["program_id"].as_str().unwrap().to_string());
            }
            panic!("the limit never applied");
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        let (programs, refusal) = t.await.unwrap();
        all.extend(programs);
        assert!(refusal["error"].as_str().unwrap().starts_with("Daily program limit reached (5 per 24 hours)"), "{refusal}");
        assert!(refusal["next_slot_at"].is_string(), "{refusal}");
    }
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(programs_of(&setup, USER_A).await, 5);
    assert_eq!(llm.requests.lock().unwrap().len(), 5, "refused requests never reach the LLM");
}

async fn columns(c: &Client, id: &str) -> (Option<String>, Option<i32>) {
    let r = c.query_one("SELECT program_name, total_duration_weeks FROM training_programs WHERE id::text = $1", &[&id]).await.unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn extracted_columns_follow_every_update_of_the_document() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let first: Value = serde_json::from_str(&valid_program()).unwrap();
    let id: String = c
        .query_one("INSERT INTO training_programs (user_id, program_details) VALUES ($1::text::uuid, $2) RETURNING id::text", &[&USER_A, &first])
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns(&c, &id).await, (Some("Dumbbell Hypertrophy Block".into()), Some(8)));
    let advanced = Onboarding::from_value(&json!({"experienceLevel": "Advanced", "equipment": ["Dumbbells"]})).unwrap();
    let second = template::program(&advanced, "2026-12-03T10:00:00Z");
    c.execute("UPDATE training_programs SET program_details = $2 WHERE id::text = $1", &[&id, &second]).await.unwrap();
    assert_eq!(columns(&c, &id).await, (Some("Advanced Full-Body Program (3 days/week)".into()), Some(10)));
    c.execute(
        "UPDATE training_programs SET program_details = jsonb_set(program_details, '{programName}', '\"Renamed\"') WHERE id::text = $1",
        &[&id],
    )
    .await
    .unwrap();
    assert_eq!(columns(&c, &id).await, (Some("Renamed".into()), Some(10)));
    // An update that would break the document is refused by the CHECK constraint.
    let e = c
        .execute("UPDATE training_programs SET program_details = program_details - 'phases' WHERE id::text = $1", &[&id])
        .await
        .unwrap_err();
    assert_eq!(db_error(&e).0, "23514");
}
