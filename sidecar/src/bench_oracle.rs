//! `jitgen bench-oracle` (bench/oracle.sh): seed 001's figures, each against a baseline
//! measured in the same run:
//! 1. `jitgen.invoke` through SQL for a component served by generated code (warm sandbox pool)
//!    against the same component through an LLM test server answering after `llm_ms`;
//! 2. sandbox cold start (bubblewrap + Python, p50) against the same Python started directly;
//! 3. `evaluate_oracle` over `components` components and `metrics` metric rows against the
//!    plain aggregate of those rows.

use std::fmt::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jitgen_sidecar::db;
use jitgen_sidecar::sandbox::Sandbox;
use serde_json::json;
use tokio_postgres::Client;

use crate::bench::percentile;

const CODE: &str = "def handle_request(request, context):\n    return {'length': len(request['text'])}\n";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99))
}

async fn timed_invokes(c: &Client, component: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let request = json!({"text": format!("request {i}")});
        let started = Instant::now();
        let r: serde_json::Value =
            c.query_one("SELECT jitgen.invoke('bench', $1, $2)", &[&component, &request]).await?.get(0);
        out.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(r.get("resultType").is_none(), "{component} failed: {r}");
    }
    Ok(out)
}

pub async fn oracle(url: &str, invokes: usize, llm_ms: u64, components: i32, metrics: i32) -> anyhow::Result<String> {
    let mut out = String::new();
    let c = db::connect_spawned(url, "bench").await?;
    let exe = std::env::current_exe()?;

    // An LLM test server answering after llm_ms, and a worker serving JIT handlers.
    let llm_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _llm = Child(
        Command::new(&exe)
            .args(["dev-llm", "--listen", &format!("127.0.0.1:{llm_port}"), "--latency-ms", &llm_ms.to_string()])
            .stdout(Stdio::null())
            .spawn()?,
    );
    let jit_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _worker = Child(
        Command::new(&exe)
            .arg("run")
            .env("DATABASE_URL", url)
            .env("JITGEN_LOG", "warn")
            .env("JITGEN_METRICS_ADDR", "off")
            .env("JITGEN_ORACLE_INTERVAL_S", "0")
            .env("JITGEN_JIT_LISTEN", format!("127.0.0.1:{jit_port}"))
            .stdout(Stdio::null())
            .spawn()?,
    );
    c.batch_execute(&format!(
        "SET jitgen.llm_endpoint = 'http://127.0.0.1:{llm_port}/v1/chat/completions'; SET jitgen.llm_api_key = 'bench';
         SET jitgen.jit_endpoint = 'http://127.0.0.1:{jit_port}/v1/chat/completions';
         SELECT jitgen.register_component('bench', 'by-llm', 'Answer.', '{{\"type\": \"object\"}}', '{{\"type\": \"object\"}}');
         SELECT jitgen.register_component('bench', 'by-code', 'Count the characters.', '{{\"type\": \"object\"}}', '{{\"type\": \"object\"}}');"
    ))
    .await?;
    // The generated handler, activated directly: this measures serving, not generation.
    c.execute(
        "INSERT INTO jitgen.jit_artifacts (app_id, component_id, version, kind, path, content)
         VALUES ('bench', 'by-code', 'v1', 'code', '_jit_code/by-code/v1/handler.py', $1)",
        &[&CODE],
    )
    .await?;
    c.execute("SELECT jitgen._activate('bench', 'by-code', 'v1')", &[]).await?;
    // Wait for both servers (the first JIT call also starts the warm worker).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = timed_invokes(&c, "by-code", 1).await.is_ok() && timed_invokes(&c, "by-llm", 1).await.is_ok();
        if ok {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the JIT endpoint or the LLM server did not come up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jit = stats(timed_invokes(&c, "by-code", invokes).await?);
    let llm = stats(timed_invokes(&c, "by-llm", (invokes / 10).max(10)).await?);
    writeln!(out, "invoke through SQL, {invokes} calls (generated code, warm sandbox pool) vs {} calls (LLM test server, {llm_ms} ms):", (invokes / 10).max(10))?;
    writeln!(out, "  jit p50 {:.2} ms, p99 {:.2} ms (target p50 <= 5 ms)", jit.0, jit.1)?;
    writeln!(out, "  llm p50 {:.2} ms, p99 {:.2} ms", llm.0, llm.1)?;
    writeln!(out, "  speed-up llm p50 / jit p50: {:.1}x", llm.0 / jit.0)?;

    // Sandbox cold start against the same interpreter started directly.
    let sandbox = Sandbox::from_env().await.map_err(|e| anyhow::anyhow!(e))?;
    let mut cold = Vec::new();
    let mut direct = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let run = sandbox.run(&[], &["python", "-c", "pass"], None).await.map_err(|e| anyhow::anyhow!(e))?;
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(run.succeeded(), "sandboxed python failed: {run:?}");
        let started = Instant::now();
        let status = tokio::process::Command::new(sandbox.python()).args(["-c", "pass"]).status().await?;
        direct.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.success());
    }
    let (cold, direct) = (stats(cold), stats(direct));
    writeln!(out, "sandbox cold start (bwrap + python -c pass), 21 runs:")?;
    writeln!(out, "  sandboxed p50 {:.1} ms (target <= 150 ms), unsandboxed python p50 {:.1} ms, ratio {:.2}", cold.0, direct.0, cold.0 / direct.0)?;

    // evaluate_oracle over many components and metric rows.
    c.batch_execute(&format!(
        "INSERT INTO jitgen.components (app_id, component_id, prompt, input_schema, output_schema)
         SELECT 'scale', 'c' || i, 'p', '{{}}', '{{}}' FROM generate_series(1, {components}) i;
         INSERT INTO jitgen.component_metrics (app_id, component_id, at, handler_type, latency_ms, cost, outcome)
         SELECT 'scale', 'c' || (1 + i % {components}), clock_timestamp() - (i % 3000) * interval '1 s', 'llm',
                100 + i % 700, 0.001, CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END
         FROM generate_series(1, {metrics}) i;
         SELECT jitgen.set_rule('{{\"scope\": \"global\", \"min_latency_ms\": 10000, \"min_calls_per_minute\": 1}}');"
    ))
    .await?;
    // As in production, the rows were written long before they are read: vacuumed, analysed,
    // and the components' first decisions already on record (later rounds store only changes).
    c.batch_execute("VACUUM ANALYZE jitgen.component_metrics").await?;
    c.query("SELECT decision FROM jitgen.evaluate_oracle()", &[]).await?;
    let mut eval = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let n = c.query("SELECT decision FROM jitgen.evaluate_oracle()", &[]).await?.len();
        eval.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(n as i32 >= components, "evaluated {n} components");
        let started = Instant::now();
        c.query(
            "SELECT app_id, component_id, count(*), avg(latency_ms), avg(cost::float8), count(*) FILTER (WHERE outcome <> 'ok')
             FROM jitgen.component_metrics WHERE handler_type = 'llm' AND at > now() - interval '1 hour'
             GROUP BY app_id, component_id",
            &[],
        )
        .await?;
        plain.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (eval, plain) = (stats(eval), stats(plain));
    writeln!(out, "evaluate_oracle over {components} components and {metrics} metric rows, 5 runs:")?;
    writeln!(out, "  p50 {:.0} ms (target <= 500 ms); the plain GROUP BY of the same rows p50 {:.0} ms, ratio {:.2}", eval.0, plain.0, eval.0 / plain.0)?;
    Ok(out)
}
