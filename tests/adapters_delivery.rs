//! End to end: adapter artifacts in a real S3 server (s3s-fs), the upload retry policy across
//! a server outage, the MQTT outbox notifier across a broker outage (mosquitto), and the sweeper.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jitgen_sidecar::notify::{self, AdapterReady, MqttConfig, NotifyStats};
use jitgen_sidecar::storage::{self, ArtifactMeta, ArtifactStore, S3Config};
use jitgen_sidecar::sweeper;
use jitgen_sidecar::upload::{upload_with_retry, UploadError, UploadPolicy};
use rumqttc::QoS;
use support::services::{temp_dir, MqttBroker, S3Server, Subscriber};
use support::{poll_until, TestDb};
use tokio::sync::watch;
use tokio_postgres::Client;

/// Owned by the extension once it lands; kept verbatim so the merge is a deletion.
const ADAPTER_TABLES_DDL: &str = "
CREATE TABLE IF NOT EXISTS jitgen.adapter_artifacts (
  job_id bigint PRIMARY KEY,
  node_id text NOT NULL, base_model_id text NOT NULL, dataset_hash text NOT NULL,
  object_key text NOT NULL, size_bytes bigint NOT NULL, sha256 text NOT NULL,
  metadata jsonb NOT NULL, url text NOT NULL, url_expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  downloaded_at timestamptz, deleted_at timestamptz);
CREATE TABLE IF NOT EXISTS jitgen.adapter_notifications (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id bigint NOT NULL, node_id text NOT NULL, topic text NOT NULL, payload jsonb NOT NULL,
  attempts int NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text, created_at timestamptz NOT NULL DEFAULT now(), delivered_at timestamptz);
";

async fn adapter_db() -> (TestDb, Client) {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    c.batch_execute(ADAPTER_TABLES_DDL).await.expect("create adapter tables");
    (db, c)
}

fn meta(node: &str) -> ArtifactMeta {
    ArtifactMeta {
        node_id: node.into(),
        base_model_id: "tiny-base".into(),
        dataset_hash: "d00d".into(),
        created_at: "2026-11-23T20:00:00Z".into(),
    }
}

fn adapter_dir(bytes: &[u8]) -> std::path::PathBuf {
    let dir = temp_dir("adapter");
    for name in storage::ADAPTER_FILES {
        std::fs::write(dir.join(name), [name.as_bytes(), bytes].concat()).unwrap();
    }
    dir
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.expect("GET presigned URL");
    (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn put_head_presign_and_node_scope() {
    let s3 = S3Server::start();
    let store = s3.store("adapters");
    store.ensure_bucket(true).await.expect("create bucket");
    store.ensure_bucket(true).await.expect("bucket exists: no-op");

    let dir = adapter_dir(b"weights-a");
    let packed = storage::pack_adapter_dir_to(&dir, &dir.join("out/a.tar")).expect("pack");
    let bytes = std::fs::read(&packed.path).unwrap();
    assert_eq!(packed.size, bytes.len() as u64);
    assert_eq!(packed.sha256.len(), 64);
    let names: Vec<String> = tar::Archive::new(bytes.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, storage::ADAPTER_FILES);

    let key_a = storage::object_key("node-a", 1, "d00d").unwrap();
    let key_b = storage::object_key("node-b", 2, "d00d").unwrap();
    store.put_file(&key_a, &packed.path, &meta("node-a")).await.expect("put a");
    store.put_bytes(&key_b, b"node b secret", &meta("node-b")).await.expect("put b");

    let head = store.head(&key_a).await.expect("head").expect("object exists");
    assert_eq!(head.size, bytes.len() as u64);
    assert_eq!(head.metadata.get("node_id").map(String::as_str), Some("node-a"));
    assert_eq!(head.metadata.get("base_model_id").map(String::as_str), Some("tiny-base"));
    assert_eq!(head.metadata.get("dataset_hash").map(String::as_str), Some("d00d"));
    assert_eq!(head.metadata.get("created_at").map(String::as_str), Some("2026-11-23T20:00:00Z"));
    assert!(store.head("nodes/node-a/adapters/none.tar").await.expect("head missing").is_none());

    let url = store.presign_get(&key_a, Duration::from_secs(3600)).await.expect("presign");
    assert_eq!(get(&url).await, (200, bytes.clone()));
    assert_eq!(get(&url).await.0, 200, "a presigned URL is reusable until it expires");

    // The signature covers the path: node A's URL cannot be bent to node B's object.
    let forged = url.replace(&key_a, &key_b);
    assert_ne!(forged, url);
    let (status, body) = get(&forged).await;
    assert_eq!(status, 403, "rewritten presigned URL must be refused, got body {:?}", String::from_utf8_lossy(&body));

    store.delete(&key_a).await.expect("delete");
    assert!(store.head(&key_a).await.unwrap().is_none());
    store.delete(&key_a).await.expect("deleting a missing object is fine");

    let mut cfg = S3Config {
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        bucket: "adapters".into(),
        access_key: Some(s3.access_key.clone()),
        secret_key: Some("wrong".into()),
        path_style: true,
        url_ttl: storage::DEFAULT_URL_TTL,
    };
    let wrong = ArtifactStore::new(&cfg).unwrap();
    let e = wrong.put_bytes(&key_b, b"x", &meta("node-b")).await.expect_err("bad credentials");
    assert!(!e.is_transient(), "bad credentials are permanent: {e}");
    cfg.secret_key = Some(s3.secret_key.clone());
    cfg.bucket = "never-created".into();
    let e = ArtifactStore::new(&cfg).unwrap().ensure_bucket(false).await.expect_err("missing bucket");
    assert!(!e.is_transient(), "a missing bucket we may not create is permanent: {e}");
    let _ = std::fs::remove_dir_all(dir);
}

fn policy(retry_ms: u64, give_up_ms: u64, dev: bool) -> UploadPolicy {
    UploadPolicy { retry_every: Duration::from_millis(retry_ms), give_up_after: Duration::from_millis(give_up_ms), dev }
}

#[tokio::test]
async fn upload_survives_an_s3_outage() {
    let mut s3 = S3Server::start();
    let store = Arc::new(s3.store("outage"));
    store.ensure_bucket(true).await.unwrap();
    let dir = adapter_dir(b"outage");
    let packed = storage::pack_adapter_dir_to(&dir, &dir.join("cache/job.tar")).unwrap();
    let key = storage::object_key("node-a", 9, "d00d").unwrap();

    s3.stop();
    let waits = Arc::new(AtomicU32::new(0));
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let upload = {
        let (store, path, key, waits) = (store.clone(), packed.path.clone(), key.clone(), waits.clone());
        tokio::spawn(async move {
            upload_with_retry(&store, &path, &key, &meta("node-a"), &policy(200, 60_000, false), cancel_rx, |_, e| {
                assert!(e.is_transient(), "{e}");
                waits.fetch_add(1, Ordering::SeqCst);
            })
            .await
        })
    };
    let waited = poll_until(Duration::from_secs(20), || {
        let w = waits.load(Ordering::SeqCst);
        async move { (w >= 2).then_some(w) }
    })
    .await;
    assert!(waited.is_some(), "upload did not retry while the server was down");
    s3.restart();
    let outcome = tokio::time::timeout(Duration::from_secs(30), upload).await.expect("upload finished").unwrap().expect("uploaded");
    assert!(outcome.attempts >= 3, "{outcome:?}");
    let url = store.presign_get(&key, Duration::from_secs(60)).await.unwrap();
    assert_eq!(get(&url).await, (200, std::fs::read(&packed.path).unwrap()));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn upload_gives_up_and_drops_the_cache_except_in_dev() {
    let mut s3 = S3Server::start();
    let store = s3.store("giveup");
    store.ensure_bucket(true).await.unwrap();
    s3.stop();
    let dir = adapter_dir(b"giveup");
    let key = storage::object_key("node-a", 3, "d00d").unwrap();

    let packed = storage::pack_adapter_dir_to(&dir, &dir.join("cache/prod.tar")).unwrap();
    let (_tx, rx) = watch::channel(false);
    let r = upload_with_retry(&store, &packed.path, &key, &meta("node-a"), &policy(100, 400, false), rx, |_, _| {}).await;
    assert!(matches!(r, Err(UploadError::GaveUp { .. })), "{r:?}");
    assert!(!packed.path.exists(), "non-dev give-up deletes the cached adapter");

    let packed = storage::pack_adapter_dir_to(&dir, &dir.join("cache/dev.tar")).unwrap();
    let (tx, rx) = watch::channel(false);
    // Dev never gives up: only cancellation ends it, well past give_up_after.
    let r = upload_with_retry(&store, &packed.path, &key, &meta("node-a"), &policy(100, 200, true), rx, |attempt, _| {
        if attempt >= 5 {
            let _ = tx.send(true);
        }
    })
    .await;
    assert!(matches!(r, Err(UploadError::Cancelled { attempts: 5 })), "{r:?}");
    assert!(packed.path.exists(), "dev keeps the cached adapter");
    let _ = std::fs::remove_dir_all(dir);
}

fn test_mqtt(port: u16) -> MqttConfig {
    MqttConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("jitgen-test-notifier-{}-{port}", std::process::id()),
        username: None,
        password: None,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn notifier_delivers_after_a_broker_outage() {
    let (db, c) = adapter_db().await;
    let mut broker = MqttBroker::start();
    broker.stop();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(NotifyStats::default());
    let notifier = tokio::spawn(notify::run_notifier(db.url.clone(), test_mqtt(broker.port), stats.clone(), stop_rx));

    let msg = AdapterReady {
        node_id: "node-7".into(),
        base_model_id: "tiny-base".into(),
        adapter_url: "http://127.0.0.1:1/nodes/node-7/adapters/5-d00d.tar?X-Amz-Signature=x".into(),
        dataset_hash: "d00d".into(),
        created_at: "2026-11-23T20:00:00Z".into(),
    };
    let id = notify::enqueue(&c, 5, &msg).await.expect("enqueue");

    let attempts = poll_until(Duration::from_secs(20), || async {
        let r = c.query_one("SELECT attempts, delivered_at IS NULL, last_error FROM jitgen.adapter_notifications WHERE id = $1", &[&id]).await.unwrap();
        let (a, undelivered, err): (i32, bool, Option<String>) = (r.get(0), r.get(1), r.get(2));
        assert!(undelivered, "delivered while the broker is down");
        (a >= 3 && err.is_some()).then_some(a)
    })
    .await;
    assert!(attempts.is_some(), "attempts did not grow while the broker was down");

    // Park the row so the subscriber is in place before the next attempt.
    c.execute("UPDATE jitgen.adapter_notifications SET next_attempt_at = now() + interval '1 hour' WHERE id = $1", &[&id]).await.unwrap();
    broker.restart();
    let topic = notify::topic("node-7");
    let sub = Subscriber::start(broker.port, &topic).await;
    c.execute("UPDATE jitgen.adapter_notifications SET next_attempt_at = now() WHERE id = $1", &[&id]).await.unwrap();
    c.batch_execute(&format!("NOTIFY {}", notify::CHANNEL)).await.unwrap();

    let delivered = poll_until(Duration::from_secs(20), || async {
        let r = c.query_one("SELECT delivered_at IS NOT NULL FROM jitgen.adapter_notifications WHERE id = $1", &[&id]).await.unwrap();
        r.get::<_, bool>(0).then_some(())
    })
    .await;
    assert!(delivered.is_some(), "row not marked delivered after the broker came back");
    let got = poll_until(Duration::from_secs(10), || async { (!sub.received().is_empty()).then(|| sub.received()) }).await.expect("subscriber got the message");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].topic, "jitgen/nodes/node-7/adapter_ready");
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    let v: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("JSON payload");
    let obj = v.as_object().expect("object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["adapter_url", "base_model_id", "created_at", "dataset_hash", "node_id"]);
    assert_eq!(v, serde_json::to_value(&msg).unwrap());
    assert!(stats.delivered.load(Ordering::Relaxed) >= 1);

    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(10), notifier).await.expect("notifier stops on shutdown").unwrap();
}

async fn insert_artifact(c: &Client, store: &ArtifactStore, job_id: i64, node: &str, downloaded: bool, expired: bool, upload: bool) -> String {
    let key = storage::object_key(node, job_id, "d00d").unwrap();
    if upload {
        store.put_bytes(&key, format!("adapter {job_id}").as_bytes(), &meta(node)).await.unwrap();
    }
    let expires = if expired { "now() - interval '1 minute'" } else { "now() + interval '48 hours'" };
    let downloaded_at = if downloaded { "now()" } else { "NULL" };
    c.execute(
        &format!(
            "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes, sha256, metadata, url, url_expires_at, downloaded_at)
             VALUES ($1, $2, 'tiny-base', 'd00d', $3, 10, 'x', '{{}}', 'http://u', {expires}, {downloaded_at})"
        ),
        &[&job_id, &node, &key],
    )
    .await
    .unwrap();
    key
}

#[tokio::test]
async fn sweeper_deletes_downloaded_and_expired_only() {
    let (_db, c) = adapter_db().await;
    let s3 = S3Server::start();
    let store = s3.store("sweep");
    store.ensure_bucket(true).await.unwrap();
    let downloaded = insert_artifact(&c, &store, 1, "node-a", true, false, true).await;
    let expired = insert_artifact(&c, &store, 2, "node-a", false, true, true).await;
    let fresh = insert_artifact(&c, &store, 3, "node-b", false, false, true).await;
    let _vanished = insert_artifact(&c, &store, 4, "node-b", false, true, false).await;

    let stats = sweeper::sweep_once(&c, &store).await.expect("sweep");
    assert_eq!((stats.deleted, stats.failed), (3, 0));
    assert!(store.head(&downloaded).await.unwrap().is_none());
    assert!(store.head(&expired).await.unwrap().is_none());
    assert!(store.head(&fresh).await.unwrap().is_some());
    let rows = c.query("SELECT job_id, deleted_at IS NOT NULL FROM jitgen.adapter_artifacts ORDER BY job_id", &[]).await.unwrap();
    let marks: Vec<(i64, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(marks, [(1, true), (2, true), (3, false), (4, true)]);
    assert_eq!(sweeper::sweep_once(&c, &store).await.unwrap(), sweeper::SweepStats::default());
}

#[test]
fn object_keys_refuse_escapes() {
    assert!(storage::object_key("../etc", 1, "d00d").is_err());
    assert!(storage::object_key("node/x", 1, "d00d").is_err());
}

#[tokio::test]
async fn jitgen_run_starts_notifier_and_sweeper() {
    let (db, c) = adapter_db().await;
    let broker = MqttBroker::start();
    let s3 = S3Server::start();
    let store = s3.store("run");
    store.ensure_bucket(true).await.unwrap();
    let expired = insert_artifact(&c, &store, 11, "node-r", false, true, true).await;
    let sub = Subscriber::start(broker.port, &notify::topic("node-r")).await;
    let metrics_port = support::services::free_port().to_string();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let (mqtt_port, endpoint) = (broker.port.to_string(), s3.endpoint());
    let mut worker = support::Worker::start(
        &db.url,
        &[
            ("MQTT_HOST", "127.0.0.1"),
            ("MQTT_PORT", &mqtt_port),
            ("S3_ENDPOINT", &endpoint),
            ("S3_BUCKET", "run"),
            ("S3_ACCESS_KEY", &s3.access_key),
            ("S3_SECRET_KEY", &s3.secret_key),
            ("JITGEN_SWEEP_INTERVAL_S", "1"),
            ("JITGEN_METRICS_ADDR", &metrics_addr),
        ],
    );
    let msg = AdapterReady {
        node_id: "node-r".into(),
        base_model_id: "tiny-base".into(),
        adapter_url: "http://example/x".into(),
        dataset_hash: "d00d".into(),
        created_at: "2026-11-23T20:00:00Z".into(),
    };
    notify::enqueue(&c, 11, &msg).await.unwrap();
    let got = poll_until(Duration::from_secs(20), || async { (!sub.received().is_empty()).then(|| sub.received()) }).await;
    assert!(got.is_some(), "jitgen run did not deliver the outbox row");
    let swept = poll_until(Duration::from_secs(20), || async {
        let r = c.query_one("SELECT deleted_at IS NOT NULL FROM jitgen.adapter_artifacts WHERE job_id = 11", &[]).await.unwrap();
        r.get::<_, bool>(0).then_some(())
    })
    .await;
    assert!(swept.is_some(), "jitgen run did not sweep the expired artifact");
    assert!(store.head(&expired).await.unwrap().is_none());
    let body = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(body.contains("jitgen_adapter_notifications_total{outcome=\"delivered\"} 1"), "{body}");
    assert!(worker.terminate(Duration::from_secs(20)), "jitgen run did not stop on SIGTERM");
}
