//! `jitgen bench-queue`: the queue's figures against a raw pgmq loop, measured in one run.
//! 1. enqueue → start latency (p50, p99) with LISTEN and with the timed poll only;
//! 2. echo throughput of `jitgen run` against a raw pgmq read/archive loop using the same
//!    number of connections.

use std::fmt::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jitgen_sidecar::db;
use tokio_postgres::Client;

async fn connect(url: &str) -> anyhow::Result<Client> {
    Ok(db::connect_spawned(url, "bench").await?)
}

/// A worker child that is stopped however the benchmark ends, errors included.
struct WorkerGuard(Option<Child>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            stop(child);
        }
    }
}

fn start_worker(url: &str, listen: bool, slots: usize) -> anyhow::Result<WorkerGuard> {
    Ok(WorkerGuard(Some(Command::new(std::env::current_exe()?)
        .arg("run")
        .env("DATABASE_URL", url)
        .env("JITGEN_LOG", "warn")
        .env("JITGEN_METRICS_ADDR", "off")
        .env("JITGEN_LISTEN", if listen { "true" } else { "false" })
        .env("JITGEN_POLL_MS", "1000")
        .env("JITGEN_WORKERS", slots.to_string())
        .env("JITGEN_WORKER_ID", format!("bench-{}", fastrand::u32(..)))
        .stdout(Stdio::null())
        .spawn()?)))
}

fn stop(mut child: Child) {
    unsafe { libc_kill(child.id() as i32, 15) };
    let _ = child.wait();
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

async fn wait_all_done(c: &Client, min_id: i64, n: i64, deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let done: i64 = c
            .query_one("SELECT count(*) FROM jitgen.jobs WHERE id > $1 AND state = 'complete'", &[&min_id])
            .await?
            .get(0);
        if done >= n {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < deadline, "only {done} of {n} jobs completed in {deadline:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn max_id(c: &Client) -> anyhow::Result<i64> {
    Ok(c.query_one("SELECT coalesce(max(id), 0) FROM jitgen.jobs", &[]).await?.get(0))
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn latency(url: &str, listen: bool, samples: usize) -> anyhow::Result<(f64, f64)> {
    let c = connect(url).await?;
    let worker = start_worker(url, listen, 2)?;
    // Let it connect and LISTEN before measuring.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = max_id(&c).await?;
    for _ in 0..samples {
        c.execute("SELECT jitgen.enqueue('echo', '{}')", &[]).await?;
        tokio::time::sleep(Duration::from_millis(25) + Duration::from_micros(fastrand::u64(..20_000))).await;
    }
    wait_all_done(&c, first, samples as i64, Duration::from_secs(120)).await?;
    drop(worker);
    let mut ms: Vec<f64> = c
        .query(
            "SELECT extract(epoch FROM a.started_at - j.created_at)::float8 * 1000
             FROM jitgen.jobs j JOIN jitgen.job_attempts a ON a.job_id = j.id AND a.attempt = 1 WHERE j.id > $1",
            &[&first],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ms.sort_by(f64::total_cmp);
    Ok((percentile(&ms, 0.5), percentile(&ms, 0.99)))
}

async fn echo_throughput(url: &str, jobs: i64, slots: usize) -> anyhow::Result<f64> {
    let c = connect(url).await?;
    let first = max_id(&c).await?;
    c.execute("SELECT jitgen.enqueue('echo', jsonb_build_object('i', i)) FROM generate_series(1, $1::int) i", &[&(jobs as i32)]).await?;
    let worker = start_worker(url, true, slots)?;
    wait_all_done(&c, first, jobs, Duration::from_secs(600)).await?;
    drop(worker);
    // From the first start to the last finish: the worker's own start-up is not counted.
    let secs: f64 = c
        .query_one(
            "SELECT extract(epoch FROM max(a.finished_at) - min(a.started_at))::float8
             FROM jitgen.job_attempts a WHERE a.job_id > $1",
            &[&first],
        )
        .await?
        .get(0);
    Ok(jobs as f64 / secs)
}

async fn raw_pgmq_throughput(url: &str, messages: i64, consumers: usize) -> anyhow::Result<f64> {
    let c = connect(url).await?;
    c.batch_execute("SELECT pgmq.create('bench_raw')").await?;
    c.execute("SELECT pgmq.send('bench_raw', jsonb_build_object('i', i)) FROM generate_series(1, $1::int) i", &[&(messages as i32)]).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..consumers {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let c = connect(&url).await?;
            let read = c.prepare("SELECT msg_id FROM pgmq.read('bench_raw', 30, 1)").await?;
            let archive = c.prepare("SELECT pgmq.archive('bench_raw', $1::bigint)").await?;
            let mut n = 0u64;
            while let Some(row) = c.query_opt(&read, &[]).await? {
                let id: i64 = row.get(0);
                c.execute(&archive, &[&id]).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    c.batch_execute("SELECT pgmq.drop_queue('bench_raw')").await?;
    anyhow::ensure!(total as i64 == messages, "raw loop consumed {total} of {messages}");
    Ok(messages as f64 / secs)
}

pub async fn queue(url: &str, samples: usize, jobs: i64, slots: usize) -> anyhow::Result<String> {
    let mut out = String::new();
    let (listen_p50, listen_p99) = latency(url, true, samples).await?;
    let (poll_p50, poll_p99) = latency(url, false, samples).await?;
    writeln!(out, "enqueue → start latency over {samples} jobs (ms):")?;
    writeln!(out, "  LISTEN + poll   p50 {listen_p50:8.2}   p99 {listen_p99:8.2}")?;
    writeln!(out, "  poll only (1 s) p50 {poll_p50:8.2}   p99 {poll_p99:8.2}")?;
    writeln!(out, "  targets with LISTEN: p50 <= 10 ms: {}, p99 <= 50 ms: {}", listen_p50 <= 10.0, listen_p99 <= 50.0)?;
    let raw = raw_pgmq_throughput(url, jobs, slots).await?;
    let echo = echo_throughput(url, jobs, slots).await?;
    writeln!(out, "throughput with {slots} connections, {jobs} jobs:")?;
    writeln!(out, "  raw pgmq read/archive loop   {raw:9.0} msg/s (baseline)")?;
    writeln!(out, "  jitgen echo jobs             {echo:9.0} jobs/s")?;
    writeln!(out, "  ratio {:.2} (target >= 0.50: {})", echo / raw, echo / raw >= 0.5)?;
    Ok(out)
}
