//! End to end: transport security. A throwaway Postgres with ssl=on and a throwaway CA: the
//! sidecar's connections honour sslmode with a real verifier (a wrong CA and a wrong host name
//! are refused with a message saying so), carry a lock timeout, and `jitgen migrate` runs over
//! verify-full. The MQTT notifier over TLS delivers with the right CA and records a
//! certificate error with a wrong one, and presents a client certificate when given one.
//!
//! Needs the openssl CLI, Postgres 15 and mosquitto (Debian packages), and for the notifier test
//! the extension installed into that Postgres (scripts/test.sh does it); no shared cluster.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgen_sidecar::db;
use jitgen_sidecar::notify::{self, AdapterReady, MqttConfig, MqttTls, NotifyStats};
use jitgen_sidecar::tls::ClientCert;
use support::certs::Pki;
use support::services::{MqttBroker, Subscriber};
use support::{poll_until, Cluster};
use tokio::sync::watch;
use tokio_postgres::error::SqlState;

// The server certificate names `localhost` only, so connecting by 127.0.0.1 is a host mismatch
// while the chain is still good.
const SAN: &str = "DNS:localhost";

fn tls_cluster(pki: &Pki) -> Cluster {
    let key = pki.server_key_owned_by("postgres");
    Cluster::start_with_conf(&format!(
        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        pki.server_cert.display(),
        key.display()
    ))
}

fn url(host: &str, port: u16, query: &str) -> String {
    let q = if query.is_empty() { String::new() } else { format!("?{query}") };
    format!("postgres://postgres@{host}:{port}/postgres{q}")
}

/// Whether the session runs over TLS, as the server sees it.
async fn ssl_in_use(url: &str) -> Result<bool, db::ConnectError> {
    let client = db::connect_spawned(url, "test").await?;
    Ok(client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0))
}

async fn refused(url: &str) -> String {
    match ssl_in_use(url).await {
        Ok(ssl) => panic!("{url} connected (ssl = {ssl}) but should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn postgres_sslmodes_are_enforced() {
    let pki = Pki::generate(SAN);
    let pg = tls_cluster(&pki);
    let (ca, other, p) = (pki.ca.display().to_string(), pki.other_ca.display().to_string(), pg.port);

    // verify-full with the CA that signed the server and the name in its certificate.
    assert!(ssl_in_use(&url("localhost", p, &format!("sslmode=verify-full&sslrootcert={ca}"))).await.expect("verify-full"));
    let kv = format!("host=localhost port={p} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca}'");
    assert!(ssl_in_use(&kv).await.expect("verify-full, key=value form"));

    // A CA that did not sign the server certificate.
    let e = refused(&url("localhost", p, &format!("sslmode=verify-full&sslrootcert={other}"))).await;
    assert!(e.contains("certificate verification failed") && e.contains("not signed by a trusted CA") && e.contains(&other), "{e}");

    // The right CA, but the certificate does not name the host connected to.
    let e = refused(&url("127.0.0.1", p, &format!("sslmode=verify-full&sslrootcert={ca}"))).await;
    assert!(e.contains("certificate verification failed") && e.contains("does not name \"127.0.0.1\""), "{e}");

    // verify-ca checks the chain only.
    assert!(ssl_in_use(&url("127.0.0.1", p, &format!("sslmode=verify-ca&sslrootcert={ca}"))).await.expect("verify-ca by IP"));
    let e = refused(&url("127.0.0.1", p, &format!("sslmode=verify-ca&sslrootcert={other}"))).await;
    assert!(e.contains("certificate verification failed"), "{e}");

    // require encrypts without checking; given a root certificate it checks the chain (libpq).
    assert!(ssl_in_use(&url("127.0.0.1", p, "sslmode=require")).await.expect("require"));
    let e = refused(&url("127.0.0.1", p, &format!("sslmode=require&sslrootcert={other}"))).await;
    assert!(e.contains("certificate verification failed"), "{e}");

    // The default (prefer) uses TLS when offered; disable never does, and this cluster allows it.
    assert!(ssl_in_use(&url("127.0.0.1", p, "")).await.expect("prefer"));
    assert!(!ssl_in_use(&url("127.0.0.1", p, "sslmode=disable")).await.expect("disable"));

    // A CA file that does not exist is a configuration error, named before any connection.
    let e = refused(&url("localhost", p, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")).await;
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
}

async fn show(c: &tokio_postgres::Client, setting: &str) -> String {
    c.query_one(&format!("SHOW {setting}"), &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn connections_carry_a_lock_timeout() {
    let pg = Cluster::start();
    let expected = match db::lock_timeout_from_env().unwrap() {
        Some(ms) if ms % 1000 == 0 => format!("{}s", ms / 1000),
        Some(ms) => format!("{ms}ms"),
        None => "0".into(),
    };
    let worker = db::connect_spawned(&pg.url(), "test").await.unwrap();
    assert_eq!(show(&worker, "lock_timeout").await, expected);
    let migrate = db::Target::parse(&pg.url()).unwrap().without_lock_timeout().connect_spawned("test").await.unwrap();
    assert_eq!(show(&migrate, "lock_timeout").await, "0");

    // A row lock held by another session ends in 55P03 instead of a wait without end. The
    // string's own options win over the default, which keeps this test short.
    let holder = db::connect_spawned(&pg.url(), "test").await.unwrap();
    holder.batch_execute("CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)").await.unwrap();
    holder.batch_execute("BEGIN; SELECT * FROM held FOR UPDATE").await.unwrap();
    let short = db::connect_spawned(&format!("{}?options=-c%20lock_timeout%3D300", pg.url()), "test").await.unwrap();
    assert_eq!(show(&short, "lock_timeout").await, "300ms");
    let started = Instant::now();
    let e = short.execute("UPDATE held SET id = 1 WHERE id = 1", &[]).await.expect_err("the row is locked");
    assert_eq!(e.code(), Some(&SqlState::LOCK_NOT_AVAILABLE), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}", started.elapsed());
    holder.batch_execute("COMMIT").await.unwrap();
}

fn mqtt(port: u16, name: &str) -> MqttConfig {
    MqttConfig {
        // The broker certificate names localhost, as the Postgres one does.
        host: "localhost".into(),
        port,
        client_id: format!("jitgen-test-tls-{name}-{}-{port}", std::process::id()),
        username: None,
        password: None,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(300),
    }
}

fn ready(node: &str) -> AdapterReady {
    AdapterReady {
        node_id: node.into(),
        base_model_id: "tiny-base".into(),
        adapter_url: format!("https://s3.example/nodes/{node}/adapters/1-abcd.tar"),
        dataset_hash: "abcd".into(),
        created_at: "2026-11-23T20:00:00Z".into(),
    }
}

/// A TLS cluster migrated by `jitgen migrate` over verify-full: pgmq's install (sqlx) and the
/// extension and migrations (tokio-postgres) all check the server.
async fn migrated_over_tls(pki: &Pki) -> (Cluster, String, tokio_postgres::Client) {
    let pg = tls_cluster(pki);
    let db_url = url("localhost", pg.port, &format!("sslmode=verify-full&sslrootcert={}", pki.ca.display()));
    support::migrate(&db_url);
    let c = db::connect_spawned(&db_url, "test").await.unwrap();
    (pg, db_url, c)
}

#[tokio::test]
async fn notifier_over_tls_checks_the_broker_certificate() {
    let pki = Pki::generate(SAN);
    let (_pg, db_url, c) = migrated_over_tls(&pki).await;
    let broker = MqttBroker::start_tls(&pki.ca, &pki.server_cert, &pki.server_key_readable(), false);
    let tls_port = broker.tls_port.unwrap();

    // The right CA: delivered, byte for byte.
    let sub = Subscriber::start(broker.port, &notify::topic("node-good")).await;
    let right = MqttTls::new(Some(pki.ca.clone()), None).unwrap();
    notify_once(&db_url, &c, tls_port, right, "node-good", 1).await.expect("delivered over TLS");
    let got = poll_until(Duration::from_secs(10), || async { sub.received().into_iter().next() }).await.expect("the subscriber got it");
    assert_eq!(serde_json::from_slice::<AdapterReady>(&got.payload).unwrap(), ready("node-good"));

    // A CA that did not sign the broker: nothing is published, and the row says why.
    let sub = Subscriber::start(broker.port, &notify::topic("node-bad")).await;
    let wrong = MqttTls::new(Some(pki.other_ca.clone()), None).unwrap();
    let error = notify_once(&db_url, &c, tls_port, wrong, "node-bad", 2).await.expect_err("a broker whose CA is not trusted");
    assert!(error.contains("certificate verification failed") && error.contains("not signed by a trusted CA"), "{error}");
    assert!(sub.received().is_empty());
}

/// Runs a TLS notifier until the outbox row for `node` is delivered or has a recorded error.
async fn notify_once(db_url: &str, c: &tokio_postgres::Client, port: u16, tls: MqttTls, node: &str, job_id: i64) -> Result<(), String> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stats = Arc::new(NotifyStats::default());
    let notifier = tokio::spawn(notify::run_notifier_with_tls(db_url.to_string(), mqtt(port, node), Some(tls), stats, stop_rx));
    let id = notify::enqueue(c, job_id, &ready(node)).await.unwrap();
    let outcome = poll_until(Duration::from_secs(20), || async {
        let r = c.query_one("SELECT delivered_at IS NOT NULL, last_error FROM jitgen.adapter_notifications WHERE id = $1", &[&id]).await.unwrap();
        match (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)) {
            (true, _) => Some(Ok(())),
            (false, Some(e)) => Some(Err(e)),
            (false, None) => None,
        }
    })
    .await
    .expect("delivered or failed within 20 s");
    stop_tx.send(true).unwrap();
    notifier.await.unwrap();
    outcome
}

#[tokio::test]
async fn notifier_presents_a_client_certificate() {
    let pki = Pki::generate(SAN);
    let (_pg, db_url, c) = migrated_over_tls(&pki).await;
    let broker = MqttBroker::start_tls(&pki.ca, &pki.server_cert, &pki.server_key_readable(), true);
    let tls_port = broker.tls_port.unwrap();

    let without = MqttTls::new(Some(pki.ca.clone()), None).unwrap();
    let e = notify_once(&db_url, &c, tls_port, without, "node-anon", 1).await.expect_err("the broker requires a client certificate");
    assert!(e.contains("alert CertificateRequired") && e.contains("client certificate"), "{e}");

    let (cert, key) = pki.client_cert("node-client");
    let with = MqttTls::new(Some(pki.ca.clone()), Some(ClientCert { cert, key })).unwrap();
    let sub = Subscriber::start(broker.port, &notify::topic("node-client")).await;
    notify_once(&db_url, &c, tls_port, with, "node-client", 2).await.expect("delivered with a client certificate");
    assert_eq!(sub.received().len(), 1);
}
