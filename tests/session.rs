//! End to end: generate_session's LLM paths against an OpenAI-compatible server started by
//! the test, the timeout and cancellation guarantees, metric rows, and the sessions table.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::{db_error, poll_until, TestDb};

const INPUT: &str = r#"{"sessionId":"s1","weekNumber":1,"blockNumber":1,"primaryLift":"squat",
    "intensityType":"heavy","oneRmKg":140,"biologicalSex":"male"}"#;

fn adjustment(intensity: f64, sets: i64) -> String {
    json!({"intensityModifier": intensity, "setModifier": sets, "skipMainLift": false,
           "auxOverrides": [], "rationale": ["test"], "confidence": "high"}).to_string()
}

async fn online(db: &TestDb, llm: &FakeLlm, timeout_ms: u64) -> tokio_postgres::Client {
    let c = db.client().await;
    c.batch_execute(&format!(
        "SET jitgen.llm_endpoint = '{}'; SET jitgen.llm_api_key = 'test-key'; SET jitgen.llm_timeout_ms = {timeout_ms};",
        llm.url
    ))
    .await
    .unwrap();
    c
}

async fn generate(c: &tokio_postgres::Client, strategy: &str) -> Value {
    let input: Value = serde_json::from_str(INPUT).unwrap();
    c.query_one("SELECT jitgen.generate_session($1, $2)", &[&input, &strategy]).await.unwrap().get(0)
}

async fn last_call(c: &tokio_postgres::Client) -> (String, i32, i32, i32) {
    let r = c
        .query_one("SELECT outcome, latency_ms, prompt_tokens, completion_tokens FROM jitgen.llm_calls ORDER BY id DESC LIMIT 1", &[])
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

#[tokio::test]
async fn a_valid_reply_is_applied_to_the_formula_base() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(adjustment(0.88, 0))).await;
    let c = online(&db, &llm, 5000).await;
    let s = generate(&c, "llm").await;
    assert_eq!(s["jit_strategy"], json!("llm"));
    // 140 kg × 0.80 = 112.5 kg base; × 0.88 = 99 kg, rounded to the 2.5 kg increment.
    assert_eq!(s["mainLiftSets"].as_array().unwrap().len(), 2);
    assert_eq!(s["mainLiftSets"][0]["weight_kg"], json!(100.0));
    let (auth, body) = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(auth, "Bearer test-key");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let context: Value = serde_json::from_str(body["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert!(context.get("warmupConfig").is_none());
    assert_eq!(last_call(&c).await.0, "ok");
    assert_eq!((last_call(&c).await.2, last_call(&c).await.3), (321, 45));
}

#[tokio::test]
async fn hybrid_reports_divergence_and_auto_follows_configuration() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(adjustment(0.80, -1))).await;
    let c = online(&db, &llm, 5000).await;
    let s = generate(&c, "hybrid").await;
    assert_eq!(s["jit_strategy"], json!("hybrid"));
    assert_eq!(s["divergence"]["setDelta"], json!(-1));
    assert_eq!(s["divergence"]["shouldSurfaceToUser"], json!(true));
    assert_eq!(generate(&c, "auto").await["jit_strategy"], json!("llm"), "auto with a key and endpoint is llm");
    c.batch_execute("RESET jitgen.llm_api_key").await.unwrap();
    let before = llm.requests.lock().unwrap().len();
    assert_eq!(generate(&c, "auto").await["jit_strategy"], json!("formula"), "auto without a key is formula");
    assert_eq!(llm.requests.lock().unwrap().len(), before, "offline must not call out");
}

#[tokio::test]
async fn every_failure_falls_back_to_the_formula_with_its_reason_and_metric() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Status(500, "{\"error\":\"boom\"}".into())).await;
    let c = online(&db, &llm, 2000).await;
    let cases: Vec<(Behaviour, &str, &str)> = vec![
        (Behaviour::Status(500, "{\"error\":\"boom\"}".into()), "http_status", "http_error"),
        (Behaviour::Status(429, "slow down".into()), "http_status", "http_error"),
        (Behaviour::Status(200, "<html>not json</html>".into()), "invalid_json", "parse_error"),
        (Behaviour::Content("Sure! Here is your adjustment.".into()), "invalid_json", "parse_error"),
        (Behaviour::Content(adjustment(0.10, 0)), "schema_violation", "schema_error"),
    ];
    for (behaviour, code, outcome) in cases {
        llm.set(behaviour);
        let s = generate(&c, "llm").await;
        assert_eq!(s["jit_strategy"], json!("formula_fallback"), "{code}: {s}");
        assert_eq!(s["fallback_reason"]["code"], json!(code), "{s}");
        assert_eq!(s["mainLiftSets"][0]["weight_kg"], json!(112.5), "the formula session is returned");
        assert_eq!(last_call(&c).await.0, outcome);
    }
    let s = generate(&c, "llm").await;
    assert_eq!(s["fallback_reason"]["details"][0]["path"], json!("intensityModifier"));
    // A hybrid fallback is never labelled llm or hybrid.
    assert_eq!(generate(&c, "hybrid").await["jit_strategy"], json!("formula_fallback"));
    // Nothing reachable at all.
    c.batch_execute("SET jitgen.llm_endpoint = 'http://127.0.0.1:9/v1/chat/completions'").await.unwrap();
    let s = generate(&c, "llm").await;
    assert_eq!(s["fallback_reason"]["code"], json!("network"), "{s}");
}

#[tokio::test]
async fn a_slow_reply_returns_within_the_timeout_plus_100ms() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Delay(Duration::from_secs(5), Box::new(Behaviour::Content(adjustment(1.0, 0))))).await;
    let c = online(&db, &llm, 300).await;
    let started = Instant::now();
    let s = generate(&c, "llm").await;
    let elapsed = started.elapsed();
    assert_eq!(s["jit_strategy"], json!("formula_fallback"));
    assert_eq!(s["fallback_reason"]["code"], json!("timeout"));
    assert!(elapsed < Duration::from_millis(400), "took {elapsed:?} for a 300 ms budget");
    let (outcome, latency, _, _) = last_call(&c).await;
    assert_eq!(outcome, "timeout");
    assert!((300..400).contains(&latency), "latency {latency}");
}

#[tokio::test]
async fn cancel_and_statement_timeout_interrupt_the_wait() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Delay(Duration::from_secs(30), Box::new(Behaviour::Content(adjustment(1.0, 0))))).await;
    let a = online(&db, &llm, 60_000).await;
    let pid: i32 = a.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let input: Value = serde_json::from_str(INPUT).unwrap();
        let r = a.query_one("SELECT jitgen.generate_session($1, 'llm')", &[&input]).await;
        (r.map(|_| ()), started.elapsed())
    });
    tokio::time::timeout(Duration::from_secs(10), llm.arrived.notified()).await.expect("the request reached the server");
    let b = db.client().await;
    let canceled_at = Instant::now();
    b.query_one("SELECT pg_cancel_backend($1)", &[&pid]).await.unwrap();
    let (result, _) = waiting.await.unwrap();
    let after_cancel = canceled_at.elapsed();
    assert_eq!(db_error(&result.unwrap_err()).0, "57014");
    assert!(after_cancel < Duration::from_millis(500), "cancel took {after_cancel:?}");

    let c = online(&db, &llm, 60_000).await;
    c.batch_execute("SET statement_timeout = 300").await.unwrap();
    let started = Instant::now();
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let err = c.query_one("SELECT jitgen.generate_session($1, 'llm')", &[&input]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "57014");
    assert!(started.elapsed() < Duration::from_millis(800), "statement_timeout took {:?}", started.elapsed());
}

#[tokio::test]
async fn cancelled_calls_never_pile_up_helper_threads() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Delay(Duration::from_secs(30), Box::new(Behaviour::Content(adjustment(1.0, 0))))).await;
    let c = online(&db, &llm, 20_000).await;
    c.batch_execute("SET statement_timeout = 40").await.unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let started = Instant::now();
    for _ in 0..25 {
        let err = c.query_one("SELECT jitgen.generate_session($1, 'llm')", &[&input]).await.unwrap_err();
        assert_eq!(db_error(&err).0, "57014");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "each call still ends at its statement_timeout");
    // A Postgres backend is one thread; each abandoned call used to leave one more, alive until
    // its own 20 s deadline. A cancelled call's exchange is aborted, so its thread ends at once.
    let threads = || std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().count();
    assert!(threads() <= 2, "backend {pid} has {} threads", threads());
    let alone = poll_until(Duration::from_secs(3), || async { (threads() == 1).then_some(()) }).await;
    assert!(alone.is_some(), "the cancelled call's HTTP thread is still running ({} threads)", threads());
    assert!(llm.requests.lock().unwrap().len() >= 2, "the next call did not have to wait out the previous one");
}

#[tokio::test]
async fn the_sessions_table_is_filled_by_its_trigger() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(adjustment(0.88, 0))).await;
    let c = online(&db, &llm, 5000).await;
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let r = c
        .query_one(
            "INSERT INTO sessions (user_id, jit_input, requested_strategy) VALUES (gen_random_uuid(), $1, 'formula')
             RETURNING jit_strategy, jit_generated_at IS NOT NULL, jit_input_snapshot = jit_input, session->'mainLiftSets'->0->>'weight_kg'",
            &[&input],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "formula");
    assert!(r.get::<_, bool>(1) && r.get::<_, bool>(2));
    assert_eq!(r.get::<_, String>(3), "112.5");
    let r = c
        .query_one("UPDATE sessions SET requested_strategy = 'llm' RETURNING jit_strategy, session->'mainLiftSets'->0->>'weight_kg'", &[])
        .await
        .unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), ("llm".to_string(), "100.0".to_string()));
    let err = c
        .execute("UPDATE sessions SET jit_strategy = 'magic'", &[])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "23514");
}

#[tokio::test]
async fn bad_session_input_gets_22023_with_detail_and_hint() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let base: Value = serde_json::from_str(INPUT).unwrap();
    let cases: &[(&str, Value)] = &[
        ("primaryLift", json!("curl")),
        ("intensityType", json!("max")),
        ("blockNumber", json!(4)),
        ("blockNumber", json!(0)),
        ("oneRmKg", json!(-5)),
        ("sorenessRatings", json!({"quads": 11})),
        ("sorenessRatings", json!({"quads": 0})),
    ];
    for (field, value) in cases {
        let mut input = base.clone();
        input[*field] = value.clone();
        for sql in ["SELECT jitgen.formula_session($1)", "SELECT jitgen.generate_session($1, 'formula')"] {
            let err = c.query_one(sql, &[&input]).await.unwrap_err();
            let (code, detail, hint) = db_error(&err);
            assert_eq!(code, "22023", "{field}={value} via {sql}");
            assert!(detail.is_some() && hint.is_some(), "{field}: DETAIL and HINT required");
        }
    }
    let err = c
        .query_one("SELECT jitgen.apply_adjustment($1, '{\"intensityModifier\": 0.1}')", &[&base])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "22023");
    let err = c.query_one("SELECT jitgen.resolve_strategy('fastest', true)", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "22023");
    let err = c.query_one("SELECT jitgen.formula_session(NULL)", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "22004");
}

#[tokio::test]
async fn a_session_job_never_overwrites_a_newer_input() {
    let db = TestDb::migrated().await;
    // The LLM answers after 1.5 s; meanwhile the app rewrites jit_input.
    let llm = FakeLlm::start(Behaviour::Delay(Duration::from_millis(1500), Box::new(Behaviour::Content(adjustment(1.0, 0))))).await;
    let _w = support::Worker::start(
        &db.url,
        &[("LLM_API_ENDPOINT", llm.url.as_str()), ("LLM_API_KEY", "test-key"), ("LLM_TIMEOUT_MS", "10000")],
    );
    let c = db.client().await;
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let id: String = c
        .query_one(
            "INSERT INTO sessions (user_id, jit_input, requested_strategy) VALUES (gen_random_uuid(), $1, 'formula') RETURNING id::text",
            &[&input],
        )
        .await
        .unwrap()
        .get(0);
    let job: i64 = c.query_one("SELECT jitgen.request_session($1::text::uuid, 'llm')", &[&id]).await.unwrap().get(0);
    tokio::time::timeout(Duration::from_secs(10), llm.arrived.notified()).await.expect("the job called the LLM");
    let mut newer = input.clone();
    newer["oneRmKg"] = json!(200);
    c.execute("UPDATE sessions SET jit_input = $2 WHERE id::text = $1", &[&id, &newer]).await.unwrap();
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 20000)", &[&job]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("complete"), "{j}");
    let r = c
        .query_one(
            "SELECT jit_strategy, session->'mainLiftSets'->0->>'weight_kg', jit_input_snapshot FROM sessions WHERE id::text = $1",
            &[&id],
        )
        .await
        .unwrap();
    // 200 kg × 0.80 = 160 kg from the trigger's formula session on the new input, not the
    // job's 112.5 kg from the old one.
    assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), ("formula".to_string(), "160.0".to_string()));
    assert_eq!(r.get::<_, Value>(2), newer);
}

#[tokio::test]
async fn the_session_generate_job_writes_the_sessions_row_and_retries_throttling() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(adjustment(0.88, 0))).await;
    // Throttled once with Retry-After: 1, then a 503, then the answer.
    llm.script(vec![Behaviour::Throttle(429, 1), Behaviour::Status(503, "busy".into())]);
    let _w = support::Worker::start(
        &db.url,
        &[("LLM_API_ENDPOINT", llm.url.as_str()), ("LLM_API_KEY", "test-key"), ("LLM_TIMEOUT_MS", "10000")],
    );
    let c = db.client().await;
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let session_id: String = c
        .query_one(
            "INSERT INTO sessions (user_id, jit_input, requested_strategy) VALUES (gen_random_uuid(), $1, 'formula')
             RETURNING id::text",
            &[&input],
        )
        .await
        .unwrap()
        .get(0);
    let job: i64 = c
        .query_one(
            "SELECT jitgen.enqueue('session.generate', jsonb_build_object('session_id', $1::text, 'strategy', 'llm'), key => $1::text)",
            &[&session_id],
        )
        .await
        .unwrap()
        .get(0);
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 20000)", &[&job]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("complete"), "{j}");
    assert_eq!(j["result"]["jit_strategy"], json!("llm"));
    let r = c
        .query_one("SELECT jit_strategy, session->'mainLiftSets'->0->>'weight_kg' FROM sessions WHERE id::text = $1", &[&session_id])
        .await
        .unwrap();
    assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), ("llm".to_string(), "100.0".to_string()));
    let arrivals = llm.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 3, "429, 503, then success");
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(950), "Retry-After: 1 was not honoured");
    let (outcome, component): (String, String) = {
        let r = c.query_one("SELECT outcome, component_id FROM jitgen.llm_calls ORDER BY id DESC LIMIT 1", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((outcome.as_str(), component.as_str()), ("ok", "session.generate"));

    // A bad payload fails the job at once; an LLM failure is a formula fallback, not a job failure.
    let bad: i64 = c.query_one("SELECT jitgen.enqueue('session.generate', '{}')", &[]).await.unwrap().get(0);
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 10000)", &[&bad]).await.unwrap().get(0);
    assert_eq!((j["state"].clone(), j["error"]["kind"].clone()), (json!("failed"), json!("invalid_payload")));
    llm.set(Behaviour::Content(adjustment(0.10, 0)));
    let job: i64 = c
        .query_one("SELECT jitgen.enqueue('session.generate', jsonb_build_object('session_id', $1::text, 'strategy', 'llm'))", &[&session_id])
        .await
        .unwrap()
        .get(0);
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 20000)", &[&job]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("complete"));
    assert_eq!(j["result"]["jit_strategy"], json!("formula_fallback"));
    assert_eq!(j["result"]["fallback_reason"]["code"], json!("schema_violation"));
}
