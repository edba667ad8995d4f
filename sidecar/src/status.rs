//! `jitgen status`: what an operator checks first.

use std::fmt::Write;

use jitgen_sidecar::db;

pub async fn report(database_url: &str) -> anyhow::Result<String> {
    let client = db::connect_spawned(database_url, "status").await?;
    let mut out = String::new();
    writeln!(out, "jobs by kind and state:")?;
    for r in client.query("SELECT kind, state, jobs, coalesce(extract(epoch FROM oldest_queued_age)::int, 0) FROM jitgen.job_summary ORDER BY kind, state", &[]).await? {
        let (kind, state, n, age): (String, String, i64, i32) = (r.get(0), r.get(1), r.get(2), r.get(3));
        let age = if state == "queued" { format!("  oldest {age}s") } else { String::new() };
        writeln!(out, "  {kind:<24} {state:<11} {n:>8}{age}")?;
    }
    let dead: i64 = client.query_one("SELECT count(*) FROM jitgen.dead_jobs", &[]).await?.get(0);
    writeln!(out, "dead jobs: {dead} (SELECT * FROM jitgen.dead_jobs; retry with SELECT jitgen.retry_job(id))")?;
    writeln!(out, "workers:")?;
    for r in client
        .query(
            "SELECT id, in_flight, extract(epoch FROM now() - heartbeat_at)::int, stopped_at IS NOT NULL
             FROM jitgen.workers ORDER BY heartbeat_at DESC LIMIT 20",
            &[],
        )
        .await?
    {
        let (id, in_flight, age, stopped): (String, i32, i32, bool) = (r.get(0), r.get(1), r.get(2), r.get(3));
        let state = if stopped { "stopped" } else if age > 30 { "silent" } else { "live" };
        writeln!(out, "  {id:<32} {state:<8} in flight {in_flight}, last heartbeat {age}s ago")?;
    }
    Ok(out)
}
