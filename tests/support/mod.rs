//! Harness for end-to-end tests: one throwaway database per test in the cluster named by
//! JITGEN_TEST_DATABASE_URL (scripts/test.sh starts one), migrated by the real binary.
#![allow(dead_code)]

pub mod fake_llm;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

pub const BIN: &str = env!("CARGO_BIN_EXE_jitgen");

pub fn admin_url() -> String {
    std::env::var("JITGEN_TEST_DATABASE_URL").expect(
        "JITGEN_TEST_DATABASE_URL is not set: run the end-to-end tests through scripts/test.sh, \
         which starts a throwaway Postgres with the extension installed",
    )
}

/// `postgres://…/<db>` with the database replaced.
pub fn url_for(db: &str) -> String {
    let admin = admin_url();
    let (base, rest) = admin.rsplit_once('/').expect("URL has a database part");
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{base}/{db}{query}")
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database and runs `jitgen migrate` on it.
    pub async fn migrated() -> TestDb {
        let db = TestDb::empty().await;
        let out = db.jitgen(&["migrate"]);
        assert!(out.status.success(), "migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        db
    }

    pub async fn empty() -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("jg_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let admin = connect(&admin_url()).await;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        TestDb { url: url_for(&name), name }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Runs the sidecar binary against this database.
    pub fn jitgen(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN).args(args).env("DATABASE_URL", &self.url).env("JITGEN_LOG", "warn").output().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop synchronously with psql semantics through a fresh runtime-free process.
        let _ = Command::new("psql")
            .args(["-X", "-q", &admin_url(), "-c", &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)])
            .output();
    }
}

/// Polls `f` until it returns Some or the deadline passes.
pub async fn poll_until<T, F, Fut>(deadline: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut wait = Duration::from_millis(5);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(200));
    }
}

/// The SQLSTATE, DETAIL and HINT of a failed statement.
pub fn db_error(e: &tokio_postgres::Error) -> (String, Option<String>, Option<String>) {
    let db = e.as_db_error().unwrap_or_else(|| panic!("not a database error: {e}"));
    (db.code().code().to_string(), db.detail().map(str::to_string), db.hint().map(str::to_string))
}
