//! End to end, worker faults: a handler that kills its process every time, a handler that
//! panics, an LLM that answers `Retry-After: NaN`, and what /health and /ready say meanwhile.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::services::free_port;
use support::{http_get, poll_until, TestDb, Worker};
use tokio_postgres::Client;

async fn job(c: &Client, id: i64) -> Value {
    c.query_one("SELECT jitgen.job($1)", &[&id]).await.unwrap().get(0)
}

async fn wait_state(c: &Client, id: i64, wanted: &str, deadline: Duration) -> Value {
    let got = poll_until(deadline, || async {
        let j = job(c, id).await;
        (j["state"] == json!(wanted)).then_some(j)
    })
    .await;
    match got {
        Some(j) => j,
        None => panic!("job {id} did not reach {wanted} in {deadline:?}: {}", job(c, id).await),
    }
}

fn faulty(url: &str, extra: &[(&str, &str)]) -> Worker {
    let mut env = vec![("JITGEN_ECHO_FAULTS", "on"), ("JITGEN_WORKERS", "1")];
    env.extend_from_slice(extra);
    Worker::start(url, &env)
}

/// Polls the process until it exits or `deadline` passes.
async fn exits_within(w: &mut Worker, deadline: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < deadline {
        if w.exited() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_job_that_kills_its_worker_every_time_ends_dead() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let id: i64 = c.query_one("SELECT jitgen.enqueue('echo', '{\"abort\": true}', max_attempts => 3)", &[]).await.unwrap().get(0);
    let after: i64 =
        c.query_one("SELECT jitgen.enqueue('echo', '{\"after\": true}', delay => '1 second')", &[]).await.unwrap().get(0);
    // Each worker dies on the job; a new one replaces it, as a supervisor would.
    let mut crashes = 0;
    let started = std::time::Instant::now();
    let mut dead = None;
    while started.elapsed() < Duration::from_secs(60) {
        let mut w = faulty(&db.url, &[]);
        if exits_within(&mut w, Duration::from_secs(8)).await {
            crashes += 1;
        }
        if job(&c, id).await["state"] == json!("dead") {
            dead = Some(());
            break;
        }
    }
    assert!(dead.is_some(), "the crash-looping job never ended: {}", job(&c, id).await);
    assert_eq!(crashes, 3, "one crash per attempt, then no more");
    let j = job(&c, id).await;
    assert_eq!((j["attempts"].clone(), j["error"]["kind"].clone()), (json!(3), json!("crashed")), "{j}");
    let lost: i64 = c
        .query_one(
            "SELECT count(*) FROM jitgen.job_attempts WHERE job_id = $1 AND outcome = 'lost' AND error->>'kind' = 'crashed'",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(lost, 3, "every crash is recorded as a lost attempt");
    let queue: i64 = c
        .query_one("SELECT count(*) FROM pgmq.q_jitgen_jobs WHERE message->>'job_id' = $1::text", &[&id.to_string()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queue, 0, "the dead job's message was archived");
    // The next job runs on a worker that no longer meets the crashing one.
    let _w = faulty(&db.url, &[]);
    wait_state(&c, after, "complete", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_panicking_handler_fails_its_attempt_and_the_slot_keeps_serving() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let addr = format!("127.0.0.1:{}", free_port());
    let _w = faulty(&db.url, &[("JITGEN_METRICS_ADDR", &addr)]);
    let bad: i64 =
        c.query_one("SELECT jitgen.enqueue('echo', '{\"panic\": true}', max_attempts => 2)", &[]).await.unwrap().get(0);
    let j = wait_state(&c, bad, "dead", Duration::from_secs(20)).await;
    assert_eq!(j["error"]["kind"], json!("panic"), "{j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("echo panics as asked"), "{j}");
    // One slot only: it survived both panics and serves the next jobs.
    for i in 0..3 {
        let id: i64 = c.query_one("SELECT jitgen.enqueue('echo', jsonb_build_object('i', $1::int))", &[&i]).await.unwrap().get(0);
        wait_state(&c, id, "complete", Duration::from_secs(10)).await;
    }
    let health = poll_until(Duration::from_secs(5), || http_get(&addr, "/health")).await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let metrics = http_get(&addr, "/metrics").await.unwrap();
    assert!(metrics.contains("jitgen_worker_slots{state=\"alive\"} 1"), "{metrics}");
}

#[tokio::test]
async fn retry_after_nan_or_infinite_is_clamped_and_later_jobs_complete() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(
        json!({"intensityModifier": 1.0, "setModifier": 0, "skipMainLift": false, "auxOverrides": [],
               "rationale": ["t"], "confidence": "high"})
        .to_string(),
    ))
    .await;
    llm.script(vec![
        Behaviour::ThrottleText(429, "NaN"),
        Behaviour::ThrottleText(503, "inf"),
        Behaviour::ThrottleText(429, "1e400"),
    ]);
    let _w = faulty(&db.url, &[("LLM_API_ENDPOINT", llm.url.as_str()), ("LLM_API_KEY", "k"), ("LLM_TIMEOUT_MS", "20000")]);
    let c = db.client().await;
    let input: Value = serde_json::from_str(
        r#"{"sessionId":"s1","weekNumber":1,"blockNumber":1,"primaryLift":"squat","intensityType":"heavy","oneRmKg":140,"biologicalSex":"male"}"#,
    )
    .unwrap();
    let sid: String = c
        .query_one("INSERT INTO sessions (user_id, jit_input, requested_strategy) VALUES (gen_random_uuid(), $1, 'formula') RETURNING id::text", &[&input])
        .await
        .unwrap()
        .get(0);
    let id: i64 = c.query_one("SELECT jitgen.request_session($1::text::uuid, 'llm')", &[&sid]).await.unwrap().get(0);
    let j = wait_state(&c, id, "complete", Duration::from_secs(30)).await;
    assert_eq!(j["result"]["jit_strategy"], json!("llm"), "{j}");
    assert_eq!(llm.requests.lock().unwrap().len(), 4, "three throttled answers, then the reply");
    let echo: i64 = c.query_one("SELECT jitgen.enqueue('echo', '{}')", &[]).await.unwrap().get(0);
    wait_state(&c, echo, "complete", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn health_stays_up_while_idle_and_ready_turns_off_when_draining() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut w = faulty(&db.url, &[("JITGEN_METRICS_ADDR", &addr), ("JITGEN_DRAIN_SECS", "5"), ("JITGEN_HEALTH_STALE_SECS", "2")]);
    let ready = poll_until(Duration::from_secs(10), || async {
        http_get(&addr, "/ready").await.filter(|r| r.starts_with("HTTP/1.1 200"))
    })
    .await;
    assert!(ready.is_some(), "the worker never became ready");
    // A job that runs longer than the staleness limit: health reflects the database and the
    // slots, not how long ago a job finished.
    let long: i64 = c.query_one("SELECT jitgen.enqueue('echo', '{\"sleep_ms\": 5000}')", &[]).await.unwrap().get(0);
    wait_state(&c, long, "running", Duration::from_secs(10)).await;
    let mut probes = 0;
    while job(&c, long).await["state"] == json!("running") {
        let h = http_get(&addr, "/health").await.unwrap();
        assert!(h.starts_with("HTTP/1.1 200"), "probe {probes}: {h}");
        probes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await; // probe pacing, not synchronisation
    }
    assert!(probes >= 20, "probed across the whole job ({probes} probes)");
    let long: i64 = c.query_one("SELECT jitgen.enqueue('echo', '{\"sleep_ms\": 4000}')", &[]).await.unwrap().get(0);
    wait_state(&c, long, "running", Duration::from_secs(10)).await;
    w.signal_term();
    let draining = poll_until(Duration::from_secs(5), || async {
        http_get(&addr, "/ready").await.filter(|r| r.starts_with("HTTP/1.1 503"))
    })
    .await
    .expect("/ready turns 503 while draining");
    assert!(draining.contains("draining"), "{draining}");
    let h = http_get(&addr, "/health").await.unwrap();
    assert!(h.starts_with("HTTP/1.1 200"), "draining is not a failure: {h}");
    wait_state(&c, long, "complete", Duration::from_secs(10)).await;
    assert!(exits_within(&mut w, Duration::from_secs(10)).await, "the drained worker exits");
}
