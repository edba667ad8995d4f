//! End to end: the jobs ledger and the real `jitgen run` worker against Postgres + pgmq, with
//! crashes (SIGKILL), drains (SIGTERM), server restarts and concurrent enqueuers.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{connect, poll_until, Cluster, TestDb, Worker};
use tokio_postgres::Client;

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

async fn enqueue(c: &Client, kind: &str, payload: Value) -> i64 {
    c.query_one("SELECT jitgen.enqueue($1, $2)", &[&kind, &payload]).await.unwrap().get(0)
}

async fn state(c: &Client, id: i64) -> String {
    c.query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap().get(0)
}

/// Waits until job `id` is in `wanted`, or panics after `deadline`.
async fn wait_state(c: &Client, id: i64, wanted: &str, deadline: Duration) {
    let reached = poll_until(deadline, || async {
        (state(c, id).await == wanted).then_some(())
    })
    .await;
    assert!(reached.is_some(), "job {id} did not reach {wanted} in {deadline:?}; it is {}", state(c, id).await);
}

#[tokio::test]
async fn rollback_leaves_no_job_and_commit_exactly_one() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    c.batch_execute("BEGIN; SELECT jitgen.enqueue('echo', '{\"x\":1}'); ROLLBACK;").await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jobs").await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 0);
    c.batch_execute("BEGIN; SELECT jitgen.enqueue('echo', '{\"x\":2}'); COMMIT;").await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jobs").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 1);
    let id: i64 = c.query_one("SELECT id FROM jitgen.jobs", &[]).await.unwrap().get(0);
    let msg: Value = c.query_one("SELECT message FROM pgmq.q_jitgen_jobs", &[]).await.unwrap().get(0);
    assert_eq!(msg, json!({"job_id": id}));
}

#[tokio::test]
async fn sixteen_concurrent_enqueuers_of_one_key_make_one_active_job() {
    let db = TestDb::migrated().await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (url, barrier) = (db.url.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let c = connect(&url).await;
            barrier.wait().await;
            c.query_one("SELECT jitgen.enqueue('echo', $1, 'node-7')", &[&json!({"writer": i})]).await.unwrap().get::<_, i64>(0)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller gets the one active job: {ids:?}");
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jobs WHERE state IN ('queued', 'running')").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 1);
}

#[tokio::test]
async fn retries_follow_the_backoff_and_end_dead() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let _w = Worker::start(&db.url, &[("JITGEN_RETRY_BASE_MS", "150"), ("JITGEN_RETRY_MAX_MS", "500")]);
    let id: i64 = c
        .query_one("SELECT jitgen.enqueue('echo', '{\"fail_times\": 99}', max_attempts => 5)", &[])
        .await
        .unwrap()
        .get(0);
    wait_state(&c, id, "dead", Duration::from_secs(20)).await;
    let rows = c
        .query(
            "SELECT attempt, outcome, extract(epoch FROM started_at - lag(finished_at) OVER (ORDER BY attempt))::float8
             FROM jitgen.job_attempts WHERE job_id = $1 ORDER BY attempt",
            &[&id],
        )
        .await
        .unwrap();
    let outcomes: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "retry", "dead"]);
    // Delays 150, 300, then capped at 500 (twice), each with ±20% jitter.
    for (row, nominal) in rows.iter().skip(1).zip([0.150, 0.300, 0.500, 0.500]) {
        let gap: f64 = row.get(2);
        assert!(gap >= nominal * 0.8 - 0.01, "attempt {} came too early: {gap:.3}s < {nominal}", row.get::<_, i32>(0));
        assert!(gap <= nominal * 1.2 + 0.25, "attempt {} came too late: {gap:.3}s for {nominal}", row.get::<_, i32>(0));
    }
    let dead: i64 = c.query_one("SELECT count(*) FROM jitgen.dead_jobs WHERE id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!(dead, 1);
    // An operator puts it back; with fail_times beyond its budget it dies again, visibly.
    let j: Value = c.query_one("SELECT jitgen.retry_job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("queued"));
}

#[tokio::test]
async fn unknown_kinds_die_and_malformed_payloads_fail_without_retrying() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let _w = Worker::start(&db.url, &[]);
    let unknown = enqueue(&c, "no.such.kind", json!({})).await;
    let malformed = enqueue(&c, "echo", json!([1, 2, 3])).await;
    wait_state(&c, unknown, "dead", Duration::from_secs(10)).await;
    wait_state(&c, malformed, "failed", Duration::from_secs(10)).await;
    let j: Value = c.query_one("SELECT jitgen.job($1)", &[&unknown]).await.unwrap().get(0);
    assert_eq!(j["error"]["kind"], json!("unknown_kind"));
    assert_eq!(j["attempts"], json!(1), "an unknown kind is not retried");
    let j: Value = c.query_one("SELECT jitgen.job($1)", &[&malformed]).await.unwrap().get(0);
    assert_eq!(j["error"]["kind"], json!("invalid_payload"));
    assert_eq!(j["attempts"], json!(1));
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen_echo_log").await, 0);
}

#[tokio::test]
async fn await_and_cancel() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let _w = Worker::start(&db.url, &[]);
    let quick = enqueue(&c, "echo", json!({"hello": "world"})).await;
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 10000)", &[&quick]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("complete"));
    assert_eq!(j["result"]["echo"], json!({"hello": "world"}));

    let slow = enqueue(&c, "echo", json!({"sleep_ms": 60000})).await;
    wait_state(&c, slow, "running", Duration::from_secs(10)).await;
    let asked = Instant::now();
    c.query_one("SELECT jitgen.cancel_job($1)", &[&slow]).await.unwrap();
    wait_state(&c, slow, "canceled", Duration::from_secs(5)).await;
    assert!(asked.elapsed() < Duration::from_secs(3), "cancel took {:?}", asked.elapsed());

    // A queued job is canceled at once and never runs.
    let later: i64 = c
        .query_one("SELECT jitgen.enqueue('echo', '{}', delay => '1 hour')", &[])
        .await
        .unwrap()
        .get(0);
    let j: Value = c.query_one("SELECT jitgen.cancel_job($1)", &[&later]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("canceled"));
    // await_job returns at its timeout for a job that does not finish.
    let delayed = c.query_one("SELECT jitgen.enqueue('echo', '{}', delay => '1 hour')", &[]).await.unwrap().get::<_, i64>(0);
    let started = Instant::now();
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 300)", &[&delayed]).await.unwrap().get(0);
    assert_eq!(j["state"], json!("queued"));
    assert!(started.elapsed() >= Duration::from_millis(300) && started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_is_redelivered_and_completes_once() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let mut a = Worker::start(&db.url, &[]);
    let id = enqueue(&c, "echo", json!({"sleep_ms": 1500})).await;
    wait_state(&c, id, "running", Duration::from_secs(10)).await;
    a.kill();
    let _b = Worker::start(&db.url, &[]);
    wait_state(&c, id, "complete", Duration::from_secs(15)).await;
    let j: Value = c.query_one("SELECT jitgen.job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!(j["attempts"], json!(2));
    assert_eq!(count(&c, &format!("SELECT count(*) FROM jitgen_echo_log WHERE job_id = {id}")).await, 1);
}

#[tokio::test]
async fn a_thousand_jobs_survive_ten_sigkills_with_every_side_effect_exactly_once() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    c.batch_execute(
        "SELECT jitgen.enqueue('echo', jsonb_build_object('i', i, 'sleep_ms', (i * 7919) % 25), max_attempts => 20)
         FROM generate_series(1, 1000) AS i",
    )
    .await
    .unwrap();
    let mut rng_state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % bound
    };
    for _ in 0..10 {
        let mut w = Worker::start(&db.url, &[("JITGEN_WORKERS", "4")]);
        // A random moment to crash at (fault injection, not synchronisation).
        tokio::time::sleep(Duration::from_millis(150 + next(450))).await;
        w.kill();
    }
    let _w = Worker::start(&db.url, &[("JITGEN_WORKERS", "4")]);
    let done = poll_until(Duration::from_secs(120), || async {
        (count(&c, "SELECT count(*) FROM jitgen.jobs WHERE state = 'complete'").await == 1000).then_some(())
    })
    .await;
    assert!(done.is_some(), "not all jobs completed: {:?}",
        c.query("SELECT state, count(*) FROM jitgen.jobs GROUP BY state", &[]).await.unwrap()
            .iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect::<Vec<_>>());
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen_echo_log").await, 1000, "one side effect per job");
    assert_eq!(count(&c, "SELECT count(DISTINCT (payload->>'i')) FROM jitgen_echo_log").await, 1000);
    let redelivered = count(&c, "SELECT count(*) FROM jitgen.jobs WHERE attempts > 1").await;
    assert!(redelivered > 0, "the kills should have interrupted some jobs");
}

#[tokio::test]
async fn sigterm_drains_the_running_job_before_exiting() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let mut w = Worker::start(&db.url, &[("JITGEN_WORKER_ID", "drain-test")]);
    let id = enqueue(&c, "echo", json!({"sleep_ms": 1000})).await;
    wait_state(&c, id, "running", Duration::from_secs(10)).await;
    assert!(w.terminate(Duration::from_secs(8)), "worker did not exit cleanly after SIGTERM");
    assert_eq!(state(&c, id).await, "complete", "the running job finishes during the drain");
    let stopped: bool = c
        .query_one("SELECT stopped_at IS NOT NULL FROM jitgen.workers WHERE id = 'drain-test'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(stopped);
}

#[tokio::test]
async fn the_worker_reconnects_after_a_postgres_restart() {
    let cluster = Cluster::start();
    support::migrate(&cluster.url());
    let c = connect(&cluster.url()).await;
    let _w = Worker::start(&cluster.url(), &[]);
    let first = enqueue(&c, "echo", json!({"before": true})).await;
    wait_state(&c, first, "complete", Duration::from_secs(10)).await;
    drop(c);
    cluster.stop();
    // The outage itself (fault injection, not synchronisation): the worker's reconnect
    // attempts fail for half a second.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start_again();
    let c = connect(&cluster.url()).await;
    let second = enqueue(&c, "echo", json!({"after": true})).await;
    wait_state(&c, second, "complete", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn per_kind_concurrency_is_respected() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let _w = Worker::start(&db.url, &[("JITGEN_WORKERS", "4"), ("JITGEN_KIND_CONCURRENCY", "echo=1")]);
    let ids: Vec<i64> = c
        .query("SELECT jitgen.enqueue('echo', '{\"sleep_ms\": 200}') FROM generate_series(1, 4)", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &ids {
        wait_state(&c, *id, "complete", Duration::from_secs(20)).await;
    }
    let overlaps = count(
        &c,
        "SELECT count(*) FROM jitgen.job_attempts a JOIN jitgen.job_attempts b
           ON a.job_id < b.job_id AND a.started_at < b.finished_at AND b.started_at < a.finished_at",
    )
    .await;
    assert_eq!(overlaps, 0, "two echo jobs ran at once despite echo=1");
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let addr = format!("127.0.0.1:{}", support::services::free_port());
    let _w = Worker::start(&db.url, &[("JITGEN_METRICS_ADDR", &addr)]);
    let id = enqueue(&c, "echo", json!({})).await;
    wait_state(&c, id, "complete", Duration::from_secs(10)).await;
    let metrics = poll_until(Duration::from_secs(5), || support::http_get(&addr, "/metrics")).await.unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("jitgen_jobs_finished_total{kind=\"echo\",outcome=\"complete\"} 1"), "{metrics}");
    let health = support::http_get(&addr, "/health").await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[tokio::test]
async fn a_stalled_worker_loses_its_job_and_its_late_result_is_dropped() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let metrics_addr = format!("127.0.0.1:{}", support::services::free_port());
    let a = Worker::start(&db.url, &[("JITGEN_WORKER_ID", "stalled"), ("JITGEN_METRICS_ADDR", &metrics_addr)]);
    let id = enqueue(&c, "echo", json!({"sleep_ms": 6000})).await;
    wait_state(&c, id, "running", Duration::from_secs(10)).await;
    a.pause();
    let _b = Worker::start(&db.url, &[("JITGEN_WORKER_ID", "rescuer")]);
    let taken = poll_until(Duration::from_secs(20), || async {
        let w: Option<String> = c.query_one("SELECT worker FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap().get(0);
        (w.as_deref() == Some("rescuer")).then_some(())
    })
    .await;
    assert!(taken.is_some(), "the rescuer never took the job over");
    a.resume();
    // The stalled worker notices at its next poll that the job is no longer its own and stops
    // (it does not sleep out its 6 s nor work on alongside the rescuer).
    let resumed = std::time::Instant::now();
    let stopped = poll_until(Duration::from_secs(15), || async {
        let m = support::http_get(&metrics_addr, "/metrics").await?;
        m.contains("jitgen_jobs_finished_total{kind=\"echo\",outcome=\"taken_over\"} 1").then_some(())
    })
    .await;
    assert!(stopped.is_some(), "the stalled worker never gave the job up");
    assert!(resumed.elapsed() < Duration::from_secs(3), "it worked on for {:?} after losing the job", resumed.elapsed());
    wait_state(&c, id, "complete", Duration::from_secs(20)).await;
    let j: Value = c.query_one("SELECT jitgen.job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!(j["worker"], json!("rescuer"));
    assert_eq!(j["result"]["worker"], json!("rescuer"), "the late result must not overwrite the rescuer's");
    assert_eq!(count(&c, &format!("SELECT count(*) FROM jitgen_echo_log WHERE job_id = {id}")).await, 1);
    assert_eq!(j["state"], json!("complete"));
}

#[tokio::test]
async fn jobs_enqueued_one_by_one_while_workers_listen_are_never_lost() {
    // A woken worker can read a message in the instant its job commits; the job must still run.
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let _w = Worker::start(&db.url, &[("JITGEN_WORKERS", "4"), ("JITGEN_WORKER_ID", "racer")]);
    // Enqueue only once the worker is up, so wake-ups race with the enqueuing commits.
    let up = poll_until(Duration::from_secs(10), || async {
        (count(&c, "SELECT count(*) FROM jitgen.workers WHERE id = 'racer'").await == 1).then_some(())
    })
    .await;
    assert!(up.is_some(), "worker did not register");
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(enqueue(&c, "echo", json!({"i": i})).await);
    }
    let done = poll_until(Duration::from_secs(60), || async {
        (count(&c, "SELECT count(*) FROM jitgen.jobs WHERE state = 'complete'").await == 300).then_some(())
    })
    .await;
    let stuck = count(&c, "SELECT count(*) FROM jitgen.jobs WHERE state <> 'complete'").await;
    assert!(done.is_some(), "{stuck} of 300 jobs never completed");
}

/// A `jitgen` built without the `train` feature (no libtorch) leaves adapter.train jobs queued
/// for a worker built with it instead of burying them as an unknown kind. Runs in the
/// torch-free layer of scripts/test.sh (`--no-default-features`).
#[cfg(not(feature = "train"))]
#[tokio::test]
async fn a_build_without_training_leaves_adapter_jobs_for_one_with_it() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    c.execute("SELECT jitgen.register_node('n1', 'acme', 'tiny', current_user)", &[]).await.unwrap();
    let cmds = json!([{"command_name": "open_door", "description": "Open the door.", "parameters": [],
        "examples": [{"voice_command": "open the door", "expected_parameters": {}}]}]);
    let r: Value = c.query_one("SELECT jitgen.train_adapter('n1', 'tiny', $1)", &[&cmds]).await.unwrap().get(0);
    let id = r["job_id"].as_i64().unwrap();
    let _w = Worker::start(&db.url, &[]);
    let read = poll_until(Duration::from_secs(20), || async {
        let n: Option<i32> = c
            // Read, then handed back for 10 s (a read alone makes it invisible for JITGEN_VT_SECS = 2).
            .query_one(
                "SELECT (SELECT read_ct FROM pgmq.q_jitgen_jobs q WHERE q.msg_id = j.msg_id AND q.vt > now() + interval '5 s')
                 FROM jitgen.jobs j WHERE j.id = $1",
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        n.filter(|n| *n >= 1)
    })
    .await;
    assert!(read.is_some(), "the worker did not hand the adapter.train message back");
    let row = c.query_one("SELECT state, attempts, error FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap();
    let (state, attempts, error): (String, i32, Option<Value>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((state.as_str(), attempts, error), ("queued", 0, None));
}
