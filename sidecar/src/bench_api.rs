//! `jitgen bench-api`: the HTTP layer's cost, against the same work through SQL measured in
//! the same run (bench/api.sh).
//! 1. POST /api/v0/adapters/train with 200 commands × 10 examples against
//!    `SELECT jitgen.train_adapter(…)` as the node's role on a kept connection; each call
//!    switches between two command sets, so both paths assemble a dataset and queue a job.
//! 2. GET /api/v0/adapters/jobs/{id} at 16 concurrent clients against `jitgen.adapter_job` on
//!    16 connections.

use std::fmt::Write;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use jitgen_sidecar::db;
use serde_json::{json, Value};

use crate::bench::percentile;

/// 200 commands × 10 examples (2,000 pairs, the seed's maximum); `tag` makes the dataset differ.
fn command_set(tag: &str) -> Value {
    Value::Array(
        (0..200)
            .map(|c| {
                json!({
                    "command_name": format!("command_{c}"),
                    "description": format!("Command number {c} of the benchmark ({tag})."),
                    "parameters": [{"name": "room", "type": "str", "required": true},
                                   {"name": "minutes", "type": "int", "required": false}],
                    "examples": (0..10).map(|e| json!({
                        "voice_command": format!("do command {c} in room {e} for {} minutes", e + 1),
                        "expected_parameters": {"room": format!("room {e}"), "minutes": e + 1},
                        "is_primary": e == 0,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

struct ApiChild(std::process::Child);

impl Drop for ApiChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub async fn api(url: &str, posts: usize, gets_per_client: usize) -> anyhow::Result<String> {
    let admin = db::connect_spawned(url, "bench").await?;
    admin
        .batch_execute(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jitgen_bench_http') THEN CREATE ROLE jitgen_bench_http; END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jitgen_bench_sql') THEN CREATE ROLE jitgen_bench_sql; END IF;
             END $$;
             SELECT jitgen.register_node('bench-http', 'bench', 'bench-model', 'jitgen_bench_http', 1000);
             SELECT jitgen.register_node('bench-sql', 'bench', 'bench-model', 'jitgen_bench_sql', 1000);",
        )
        .await?;
    let token: String = admin.query_one("SELECT jitgen.issue_node_token('bench-http', interval '1 hour', 'bench-api')", &[]).await?.get(0);

    let mut child = Command::new(std::env::current_exe()?)
        .args(["api", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", url)
        .env("JITGEN_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let _api = ApiChild(child);
    let base = line.trim().to_string();
    anyhow::ensure!(base.starts_with("http://"), "jitgen api printed {line:?}");

    let sets = [command_set("a"), command_set("b")];
    let bodies: Vec<Vec<u8>> = sets
        .iter()
        .map(|s| serde_json::to_vec(&json!({"node_id": "bench-http", "base_model_id": "bench-model", "command_schema": s})))
        .collect::<Result<_, _>>()?;
    let http = reqwest::Client::new();
    let node_sql = db::connect_spawned(url, "bench").await?;
    node_sql.batch_execute("SET ROLE jitgen_bench_sql").await?;
    let train = node_sql.prepare("SELECT jitgen.train_adapter('bench-sql', 'bench-model', $1)").await?;

    let (mut over_http, mut over_sql) = (Vec::new(), Vec::new());
    // Two warm-up rounds, then alternate the paths so drift hits both alike.
    for i in 0..posts + 2 {
        let t = Instant::now();
        let r = http
            .post(format!("{base}/adapters/train"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(bodies[i % 2].clone())
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        let took_http = ms_since(t);
        anyhow::ensure!(status.is_success(), "POST /adapters/train: {status}: {text}");
        let t = Instant::now();
        node_sql.query_one(&train, &[&sets[i % 2]]).await?;
        let took_sql = ms_since(t);
        if i >= 2 {
            over_http.push(took_http);
            over_sql.push(took_sql);
        }
    }
    let (over_http, over_sql) = (sorted(over_http), sorted(over_sql));

    let job_id: i64 = admin.query_one("SELECT max(job_id) FROM jitgen.adapter_jobs WHERE node_id = 'bench-http'", &[]).await?.get(0);
    let sql_job_id: i64 = admin.query_one("SELECT max(job_id) FROM jitgen.adapter_jobs WHERE node_id = 'bench-sql'", &[]).await?.get(0);
    let http = Arc::new(http);
    let mut gets = Vec::new();
    for clients in [1usize, 16] {
        let over_http = get_over_http(&http, &format!("{base}/adapters/jobs/{job_id}"), &token, clients, gets_per_client).await?;
        let over_sql = get_over_sql(url, sql_job_id, clients, gets_per_client).await?;
        gets.push((clients, over_http, over_sql));
    }
    admin.batch_execute("SELECT jitgen.revoke_node_tokens('bench-http')").await?;

    let mut out = String::new();
    let (h50, s50) = (percentile(&over_http, 0.5), percentile(&over_sql, 0.5));
    writeln!(out, "POST /api/v0/adapters/train, 200 commands x 10 examples, {posts} calls each (ms):")?;
    writeln!(out, "  over HTTP                      p50 {h50:8.2}   p99 {:8.2}", percentile(&over_http, 0.99))?;
    writeln!(out, "  baseline: train_adapter in SQL p50 {s50:8.2}   p99 {:8.2}", percentile(&over_sql, 0.99))?;
    writeln!(out, "  ratio HTTP / SQL (p50) {:.3}; target <= 1.10: {}", h50 / s50, h50 / s50 <= 1.10)?;
    for (clients, get_http, get_sql) in &gets {
        let (g50, q50) = (percentile(get_http, 0.5), percentile(get_sql, 0.5));
        writeln!(out, "GET /api/v0/adapters/jobs/{{id}}, {clients} concurrent client(s) x {gets_per_client} (ms):")?;
        writeln!(out, "  over HTTP                      p50 {g50:8.3}   p99 {:8.3}", percentile(get_http, 0.99))?;
        writeln!(out, "  baseline: adapter_job in SQL   p50 {q50:8.3}   p99 {:8.3}", percentile(get_sql, 0.99))?;
        writeln!(out, "  ratio HTTP / SQL (p50) {:.2}; p50 <= 2 ms: {}", g50 / q50, g50 <= 2.0)?;
    }
    Ok(out)
}

async fn get_over_http(http: &Arc<reqwest::Client>, url: &str, token: &str, clients: usize, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ms = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let r = http.get(&url).bearer_auth(&token).send().await?;
                anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
                r.bytes().await?;
                ms.push(ms_since(t));
            }
            Ok(ms)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(sorted(all))
}

async fn get_over_sql(url: &str, job_id: i64, clients: usize, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let c = db::connect_spawned(url, "bench").await?;
        c.batch_execute("SET ROLE jitgen_bench_sql").await?;
        tasks.push(tokio::spawn(async move {
            let stmt = c.prepare("SELECT jitgen.adapter_job($1)").await?;
            let mut ms = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                c.query_one(&stmt, &[&job_id]).await?;
                ms.push(ms_since(t));
            }
            anyhow::Ok(ms)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(sorted(all))
}
