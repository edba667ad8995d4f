//! Harness for end-to-end tests: one throwaway database per test in the cluster named by
//! JITGEN_TEST_DATABASE_URL (scripts/test.sh starts one), migrated by the real binary.
#![allow(dead_code)]

#[cfg(feature = "train")]
pub mod adapters;
pub mod api;
pub mod browser;
pub mod certs;
pub mod fake_llm;
pub mod programs;
pub mod services;

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

/// Drops a test's database, then the cluster-wide roles its objects referenced (a role cannot
/// go while a database still holds its grants or rows).
pub fn drop_database_then_roles(db: &str, roles: &[&str]) {
    let admin = admin_url();
    let sqls = std::iter::once(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .chain(roles.iter().map(|r| format!("DROP ROLE IF EXISTS \"{r}\"")));
    for sql in sqls {
        let _ = Command::new("psql").args(["-X", "-q", &admin, "-c", &sql]).output();
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

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// One HTTP/1.1 GET on 127.0.0.1 (a worker's /metrics, /health or /ready): the whole response.
pub async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).await.ok()?;
    Some(body)
}

/// The SQLSTATE, DETAIL and HINT of a failed statement.
pub fn db_error(e: &tokio_postgres::Error) -> (String, Option<String>, Option<String>) {
    let db = e.as_db_error().unwrap_or_else(|| panic!("not a database error: {e}"));
    (db.code().code().to_string(), db.detail().map(str::to_string), db.hint().map(str::to_string))
}

/// The real `jitgen run` as a child process.
pub struct Worker {
    child: std::process::Child,
}

impl Worker {
    /// Starts a worker on `url` with test-friendly timings; `env` overrides them.
    pub fn start(url: &str, env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .env("DATABASE_URL", url)
            .env("JITGEN_LOG", "warn")
            .env("JITGEN_METRICS_ADDR", "off")
            .env("JITGEN_JIT_LISTEN", "off")
            .env("JITGEN_ORACLE_INTERVAL_S", "0")
            .env("JITGEN_VT_SECS", "2")
            .env("JITGEN_POLL_MS", "200")
            .env("JITGEN_RETRY_BASE_MS", "100")
            .env("JITGEN_DRAIN_SECS", "10")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Worker { child: cmd.spawn().expect("start jitgen run") }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGSTOP / SIGCONT: a stalled worker that stops heartbeating without dying.
    pub fn pause(&self) {
        unsafe { libc_kill(self.pid(), 19) };
    }

    pub fn resume(&self) {
        unsafe { libc_kill(self.pid(), 18) };
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited (and is reaped).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGTERM without waiting.
    pub fn signal_term(&self) {
        unsafe { libc_kill(self.pid(), 15) };
    }

    /// SIGTERM, then waits for the drain to finish; returns whether it exited cleanly.
    pub fn terminate(&mut self, within: Duration) -> bool {
        unsafe { libc_kill(self.pid(), 15) };
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A private Postgres cluster, for tests that restart the server.
pub struct Cluster {
    dir: std::path::PathBuf,
    pub port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(args: &[&str]) -> std::process::Output {
    let root = unsafe { geteuid() } == 0;
    let mut cmd = if root { Command::new("runuser") } else { Command::new(args[0]) };
    if root {
        cmd.args(["-u", "postgres", "--"]).args(args);
    } else {
        cmd.args(&args[1..]);
    }
    cmd.output().expect("run a Postgres binary")
}

extern "C" {
    fn geteuid() -> u32;
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with_conf("")
    }

    /// Like `start`, with `conf` appended to postgresql.conf before the first start.
    pub fn start_with_conf(conf: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("jitgen-e2e-{}-{}", std::process::id(), fastrand_u32()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["postgres", dir.to_str().unwrap()]).output();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.join("data");
        let out = as_postgres(&[&format!("{PG_BIN}/initdb"), "-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        if !conf.is_empty() {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).unwrap();
            writeln!(f, "\n{conf}").unwrap();
        }
        let c = Cluster { dir, port };
        c.pg_ctl("start");
        c
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let out = as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "-o",
            &opts,
            action,
        ]);
        assert!(out.status.success(), "pg_ctl {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&[&format!("{PG_BIN}/pg_ctl"), "-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u32
}

/// Runs `jitgen migrate` against any URL.
pub fn migrate(url: &str) {
    let out = Command::new(BIN).arg("migrate").env("DATABASE_URL", url).env("JITGEN_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "migrate failed: {}", String::from_utf8_lossy(&out.stderr));
}
