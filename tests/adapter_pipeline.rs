//! End to end, seed 004: train_adapter in SQL → the real `jitgen run` trains with libtorch →
//! the adapter lands in a real S3-compatible server (s3s-fs) with its metadata → the presigned
//! URL returns the same bytes → a real MQTT broker (mosquitto) delivers `adapter_ready`. Plus
//! the S3 outage, the quality gate and cancellation.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::adapters::{commands, tiny_model};
use support::services::{temp_dir, MqttBroker, S3Server, Subscriber};
use support::{poll_until, TestDb, Worker};
use tokio_postgres::Client;

const BUCKET: &str = "jitgen-adapters";

struct Setup {
    db: TestDb,
    c: Client,
    job_id: i64,
    model_dir: PathBuf,
    cache: PathBuf,
}

async fn setup() -> Setup {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    c.execute(
        "SELECT jitgen.register_node('door-1', 'acme', 'tiny-qwen2', current_user, 6, 'UTC', '{\"epochs\": 2, \"r\": 4, \"alpha\": 8}')",
        &[],
    )
    .await
    .unwrap();
    let r: Value = c.query_one("SELECT jitgen.train_adapter('door-1', 'tiny-qwen2', $1)", &[&commands()]).await.unwrap().get(0);
    let job_id = r["job_id"].as_i64().unwrap();
    let model_dir = temp_dir("model").join("tiny-qwen2");
    tiny_model(&c, job_id, &model_dir).await;
    Setup { db, c, job_id, model_dir, cache: temp_dir("cache") }
}

fn worker_env<'a>(s: &'a Setup, s3: &S3Server, mqtt: Option<&MqttBroker>, gate: &'a str) -> Vec<(String, String)> {
    let mut env = vec![
        ("S3_ENDPOINT".to_string(), s3.endpoint()),
        ("S3_BUCKET".into(), BUCKET.into()),
        ("S3_ACCESS_KEY".into(), s3.access_key.clone()),
        ("S3_SECRET_KEY".into(), s3.secret_key.clone()),
        ("S3_PATH_STYLE".into(), "true".into()),
        ("JITGEN_BASE_MODELS".into(), format!("tiny-qwen2={}", s.model_dir.display())),
        ("JITGEN_ADAPTER_CACHE".into(), s.cache.display().to_string()),
        ("JITGEN_UPLOAD_RETRY_S".into(), "1".into()),
        ("JITGEN_GATE_THRESHOLD".into(), gate.into()),
        ("JITGEN_TRAIN_THREADS".into(), "2".into()),
        ("JITGEN_VT_SECS".into(), "10".into()),
    ];
    if let Some(b) = mqtt {
        env.push(("MQTT_HOST".into(), "127.0.0.1".into()));
        env.push(("MQTT_PORT".into(), b.port.to_string()));
        env.push(("JITGEN_NOTIFY_BACKOFF_BASE_MS".into(), "100".into()));
        env.push(("JITGEN_NOTIFY_BACKOFF_CAP_MS".into(), "500".into()));
    }
    env
}

fn start_worker(url: &str, env: &[(String, String)]) -> Worker {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Worker::start(url, &pairs)
}

async fn job(c: &Client, id: i64) -> Value {
    c.query_one("SELECT jitgen.adapter_job($1)", &[&id]).await.unwrap().get(0)
}

async fn wait_status(c: &Client, id: i64, wanted: &[&str], deadline: Duration) -> Value {
    let got = poll_until(deadline, || async {
        let j = job(c, id).await;
        wanted.contains(&j["status"].as_str().unwrap_or("")).then_some(j)
    })
    .await;
    match got {
        Some(j) => j,
        None => panic!("job {id} did not reach {wanted:?} in {deadline:?}: {}", job(c, id).await),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn trained_adapter_is_stored_signed_and_announced() {
    let s = setup().await;
    let s3 = S3Server::start();
    let mqtt = MqttBroker::start();
    let sub = Subscriber::start(mqtt.port, "jitgen/nodes/+/adapter_ready").await;
    let _w = start_worker(&s.db.url, &worker_env(&s, &s3, Some(&mqtt), "0"));

    let done = wait_status(&s.c, s.job_id, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    assert_eq!(done["progress"].as_f64(), Some(1.0));
    let url = done["artifact_url"].as_str().expect("artifact_url").to_string();
    let row = s
        .c
        .query_one("SELECT object_key, sha256, size_bytes, dataset_hash FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&s.job_id])
        .await
        .unwrap();
    let (key, sha, size, hash): (String, String, i64, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(key.starts_with("nodes/door-1/adapters/"), "{key}");

    // The object is in the bucket with its metadata.
    let head = s3.store(BUCKET).head(&key).await.unwrap().expect("object exists");
    assert_eq!(head.size as i64, size);
    assert_eq!(head.metadata.get("node_id").map(String::as_str), Some("door-1"));
    assert_eq!(head.metadata.get("base_model_id").map(String::as_str), Some("tiny-qwen2"));
    assert_eq!(head.metadata.get("dataset_hash"), Some(&hash));
    assert!(head.metadata.contains_key("created_at"));

    // The presigned URL returns exactly the stored bytes: a tar with the PEFT adapter.
    let body = reqwest::get(&url).await.unwrap();
    assert_eq!(body.status().as_u16(), 200);
    let bytes = body.bytes().await.unwrap();
    assert_eq!(sha256_hex(&bytes), sha);
    let mut names: Vec<String> = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["adapter_config.json", "adapter_model.safetensors", "loss_curve.svg", "training_report.json"]);

    // The node hears about it: the seed's payload shape, QoS 1, on its own topic.
    let got = poll_until(Duration::from_secs(30), || async { sub.received().into_iter().next() }).await.expect("adapter_ready");
    assert_eq!(got.topic, "jitgen/nodes/door-1/adapter_ready");
    assert_eq!(got.qos, rumqttc::QoS::AtLeastOnce);
    let payload: Value = serde_json::from_slice(&got.payload).unwrap();
    let mut keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["adapter_url", "base_model_id", "created_at", "dataset_hash", "node_id"]);
    assert_eq!(payload["adapter_url"], json!(url));
    assert_eq!(payload["dataset_hash"], json!(hash));
    let delivered = poll_until(Duration::from_secs(10), || async {
        let n: i64 = s.c.query_one("SELECT count(*) FROM jitgen.adapter_notifications WHERE delivered_at IS NOT NULL", &[]).await.unwrap().get(0);
        (n == 1).then_some(())
    })
    .await;
    assert!(delivered.is_some(), "the outbox row is marked delivered");
    // The training report travels with the job.
    assert!(done["report"]["metrics"]["examples"].as_u64().unwrap() > 0, "{}", done["report"]);
}

#[tokio::test]
async fn an_s3_outage_during_upload_waits_and_publishes_without_retraining() {
    let s = setup().await;
    let mut s3 = S3Server::start();
    s3.stop();
    let mut w = start_worker(&s.db.url, &worker_env(&s, &s3, None, "0"));

    // Trained, then stuck on the upload: running, with the reason in progress_message.
    let waiting = poll_until(Duration::from_secs(300), || async {
        let j = job(&s.c, s.job_id).await;
        j["progress_message"].as_str().is_some_and(|m| m.contains("waiting for storage")).then_some(j)
    })
    .await
    .expect("the job never reported waiting for storage");
    assert_eq!(waiting["status"], json!("running"));
    let cached: Vec<_> = support::files_under(&s.cache).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tar")).collect();
    assert_eq!(cached.len(), 1, "the trained adapter is kept on disk while storage is down");

    // The worker dies while waiting; its replacement must not train again.
    w.kill();
    s3.restart();
    let metrics_addr = format!("127.0.0.1:{}", support::services::free_port());
    let mut env = worker_env(&s, &s3, None, "0");
    env.push(("JITGEN_METRICS_ADDR".into(), metrics_addr.clone()));
    let _w2 = start_worker(&s.db.url, &env);
    let done = wait_status(&s.c, s.job_id, &["complete", "failed", "dead"], Duration::from_secs(120)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    let attempts: i32 = s.c.query_one("SELECT attempts FROM jitgen.jobs WHERE id = $1", &[&s.job_id]).await.unwrap().get(0);
    assert_eq!(attempts, 2, "one attempt lost with the worker, the second only uploaded");
    let key: String = s.c.query_one("SELECT object_key FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&s.job_id]).await.unwrap().get(0);
    assert!(s3.store(BUCKET).head(&key).await.unwrap().is_some());
    // The uploaded bytes are the tar trained before the outage (same file, not rewritten).
    let sha: String = s.c.query_one("SELECT sha256 FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&s.job_id]).await.unwrap().get(0);
    let body = reqwest::get(done["artifact_url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256_hex(&body), sha);
    // The replacement's own counters: it uploaded the cached tar and never started the trainer.
    let work = adapter_work(&metrics_addr).await;
    assert_eq!((work["trained"], work["from_cache"]), (0, 1), "{work:?}");
    // The cache went once the completion was committed.
    assert!(support::files_under(&s.cache).is_empty(), "left on disk: {:?}", support::files_under(&s.cache));
}

/// `jitgen_adapter_work_total` of the worker serving /metrics on `addr`, by `what`.
async fn adapter_work(addr: &str) -> std::collections::HashMap<String, u64> {
    let text = poll_until(Duration::from_secs(10), || support::http_get(addr, "/metrics")).await.expect("/metrics answers");
    text.lines()
        .filter_map(|l| l.strip_prefix("jitgen_adapter_work_total{what=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(what, n)| (what.to_string(), n.trim().parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_failed_quality_gate_publishes_nothing() {
    let s = setup().await;
    let s3 = S3Server::start();
    let _w = start_worker(&s.db.url, &worker_env(&s, &s3, None, "1.01"));
    let done = wait_status(&s.c, s.job_id, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(done["status"], json!("failed"), "{done}");
    assert_eq!(done["error"]["kind"], json!("quality_gate"));
    assert!(done["error"]["report"]["metrics"].is_object(), "the report says why: {done}");
    for table in ["jitgen.adapter_artifacts", "jitgen.adapter_notifications"] {
        let n: i64 = s.c.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{table}");
    }
    assert!(done["artifact_url"].is_null());
}

#[tokio::test]
async fn canceling_a_running_training_stops_it() {
    let s = setup().await;
    // Many epochs so that training is still under way when the cancel arrives.
    s.c.execute("UPDATE jitgen.nodes SET params = '{\"epochs\": 100}' WHERE node_id = 'door-1'", &[]).await.unwrap();
    let r: Value = s
        .c
        .query_one("SELECT jitgen.train_adapter('door-1', 'tiny-qwen2', $1)", &[&commands()])
        .await
        .unwrap()
        .get(0);
    let id = r["job_id"].as_i64().unwrap();
    assert_ne!(id, s.job_id, "new parameters make a new dataset hash");
    let s3 = S3Server::start();
    let _w = start_worker(&s.db.url, &worker_env(&s, &s3, None, "0"));
    poll_until(Duration::from_secs(120), || async {
        job(&s.c, id).await["progress_message"].as_str().is_some_and(|m| m.starts_with("training step")).then_some(())
    })
    .await
    .expect("training started");
    let r: Value = s.c.query_one("SELECT jitgen.cancel_adapter_job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!(r["cancel_requested"], json!(true));
    let done = wait_status(&s.c, id, &["canceled", "complete", "failed"], Duration::from_secs(10)).await;
    assert_eq!(done["status"], json!("canceled"));
    let n: i64 = s.c.query_one("SELECT count(*) FROM jitgen.adapter_artifacts", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn an_expired_or_swept_adapter_is_made_fetchable_again_on_repost() {
    let s = setup().await;
    let s3 = S3Server::start();
    let metrics_addr = format!("127.0.0.1:{}", support::services::free_port());
    let mut env = worker_env(&s, &s3, None, "0");
    env.push(("JITGEN_METRICS_ADDR".into(), metrics_addr.clone()));
    let _w = start_worker(&s.db.url, &env);
    let first = wait_status(&s.c, s.job_id, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(first["status"], json!("complete"), "{first}");
    let repost = || async {
        let r: Value = s.c.query_one("SELECT jitgen.train_adapter('door-1', 'tiny-qwen2', $1)", &[&commands()]).await.unwrap().get(0);
        r
    };
    assert_eq!(repost().await["job_id"].as_i64(), Some(s.job_id), "a fetchable adapter is reused as is");

    // The URL expired: a new job presigns the stored object again, without training.
    s.c.execute("UPDATE jitgen.adapter_artifacts SET url_expires_at = now() - interval '1 minute'", &[]).await.unwrap();
    let again = repost().await["job_id"].as_i64().unwrap();
    assert_ne!(again, s.job_id);
    let done = wait_status(&s.c, again, &["complete", "failed", "dead"], Duration::from_secs(60)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    let fresh = done["artifact_url"].as_str().expect("a fresh URL").to_string();
    let body = reqwest::get(&fresh).await.unwrap().bytes().await.unwrap();
    let sha: String = s.c.query_one("SELECT sha256 FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&s.job_id]).await.unwrap().get(0);
    assert_eq!(sha256_hex(&body), sha, "the same adapter, presigned again");
    let notes: i64 = s.c.query_one("SELECT count(*) FROM jitgen.adapter_notifications", &[]).await.unwrap().get(0);
    assert_eq!(notes, 2, "the node is told about the fresh URL");
    let work = adapter_work(&metrics_addr).await;
    assert_eq!((work["trained"], work["republished"]), (1, 1), "{work:?}");

    // The sweeper deleted the object: the next re-post trains again.
    let key: String = s.c.query_one("SELECT object_key FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&again]).await.unwrap().get(0);
    s3.store(BUCKET).delete(&key).await.unwrap();
    s.c.execute("UPDATE jitgen.adapter_artifacts SET deleted_at = now()", &[]).await.unwrap();
    let third = repost().await["job_id"].as_i64().unwrap();
    let done = wait_status(&s.c, third, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    assert!(reqwest::get(done["artifact_url"].as_str().unwrap()).await.unwrap().status().is_success());
    let work = adapter_work(&metrics_addr).await;
    assert_eq!((work["trained"], work["republished"]), (2, 1), "{work:?}");
}

#[tokio::test]
async fn sigterm_during_training_stops_it_and_another_worker_completes_the_job_once() {
    let s = setup().await;
    s.c.execute("UPDATE jitgen.nodes SET params = '{\"epochs\": 100}' WHERE node_id = 'door-1'", &[]).await.unwrap();
    let r: Value = s.c.query_one("SELECT jitgen.train_adapter('door-1', 'tiny-qwen2', $1)", &[&commands()]).await.unwrap().get(0);
    let id = r["job_id"].as_i64().unwrap();
    let s3 = S3Server::start();
    let mut env = worker_env(&s, &s3, None, "0");
    env.push(("JITGEN_DRAIN_SECS".into(), "1".into()));
    let mut w = start_worker(&s.db.url, &env);
    poll_until(Duration::from_secs(120), || async {
        job(&s.c, id).await["progress_message"].as_str().is_some_and(|m| m.starts_with("training step")).then_some(())
    })
    .await
    .expect("training started");
    // Drain (1 s) plus one training step, not the 100 epochs.
    let started = std::time::Instant::now();
    assert!(w.terminate(Duration::from_secs(20)), "jitgen run did not exit cleanly after SIGTERM");
    assert!(started.elapsed() < Duration::from_secs(15), "exit took {:?}", started.elapsed());
    let released = job(&s.c, id).await;
    assert_eq!(released["status"], json!("queued"), "handed back for another worker: {released}");

    // Another worker takes it (a short training, so the test stays short) and completes it once.
    s.c.execute("UPDATE jitgen.adapter_jobs SET dataset = jsonb_set(dataset, '{params,epochs}', '2') WHERE job_id = $1", &[&id])
        .await
        .unwrap();
    let metrics_addr = format!("127.0.0.1:{}", support::services::free_port());
    env.push(("JITGEN_METRICS_ADDR".into(), metrics_addr.clone()));
    let _w2 = start_worker(&s.db.url, &env);
    let done = wait_status(&s.c, id, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    let artifacts: i64 = s.c.query_one("SELECT count(*) FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!(artifacts, 1);
    assert_eq!(adapter_work(&metrics_addr).await["trained"], 1);
    let leftovers: Vec<_> = support::files_under(&s.cache).into_iter().filter(|p| p.to_string_lossy().contains(&format!("/{id}-"))).collect();
    assert!(leftovers.is_empty(), "work directory left behind: {leftovers:?}");
}

#[tokio::test]
async fn a_tenant_holding_every_lock_it_can_take_does_not_stall_another_nodes_training() {
    let s = setup().await;
    let tenant = format!("{}_idle", s.db.name);
    s.c.batch_execute(&format!("DROP ROLE IF EXISTS \"{tenant}\"; CREATE ROLE \"{tenant}\";")).await.unwrap();
    s.c.execute("SELECT jitgen.register_node('idle-1', 'other', 'tiny-qwen2', $1)", &[&tenant]).await.unwrap();
    // The other tenant posts, gets its own job, and then sits in an open transaction holding
    // whatever it could lock: ACCESS SHARE on every table it reads. Row locks and stronger table
    // locks are refused outright (no UPDATE/DELETE/TRUNCATE grant).
    let idle = s.db.client().await;
    idle.batch_execute(&format!("SET ROLE \"{tenant}\"")).await.unwrap();
    let other: Value = idle.query_one("SELECT jitgen.train_adapter('idle-1', 'tiny-qwen2', $1)", &[&commands()]).await.unwrap().get(0);
    let other_job = other["job_id"].as_i64().unwrap();
    s.c.execute("SELECT jitgen.cancel_job($1)", &[&other_job]).await.unwrap();
    idle.batch_execute("BEGIN").await.unwrap();
    for table in ["jobs", "nodes", "node_commands", "adapter_jobs", "adapter_artifacts", "job_summary"] {
        idle.query(&format!("SELECT * FROM jitgen.{table}"), &[]).await.unwrap();
        idle.batch_execute("SAVEPOINT s").await.unwrap();
        let locked = idle.batch_execute(&format!("SELECT 1 FROM jitgen.{table} FOR SHARE")).await;
        assert!(locked.is_err(), "{table}: a row lock was granted");
        idle.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    }

    let s3 = S3Server::start();
    let metrics_addr = format!("127.0.0.1:{}", support::services::free_port());
    let mut env = worker_env(&s, &s3, None, "0");
    env.push(("JITGEN_METRICS_ADDR".into(), metrics_addr.clone()));
    let _w = start_worker(&s.db.url, &env);
    let done = wait_status(&s.c, s.job_id, &["complete", "failed", "dead"], Duration::from_secs(300)).await;
    assert_eq!(done["status"], json!("complete"), "{done}");
    let health = poll_until(Duration::from_secs(10), || support::http_get(&metrics_addr, "/health")).await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The tenant's transaction was open the whole time.
    let open: i64 = s.c.query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'", &[]).await.unwrap().get(0);
    assert!(open >= 1, "the tenant's transaction ended early");
    idle.batch_execute("COMMIT").await.unwrap();
    drop(idle);
    let _ = s.c.batch_execute(&format!("DROP OWNED BY \"{tenant}\"; DROP ROLE IF EXISTS \"{tenant}\"")).await;
}
