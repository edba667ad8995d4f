//! `jitgen generate gaps|concept|stats`: seed 003's operator commands over the SQL functions
//! (`find_gaps`, `request_content`, `generation_stats`). Filling asks first unless `--yes`, and
//! shows a progress bar on a terminal while the jobs run.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use jitgen_sidecar::db;
use tokio_postgres::Client;

/// Exit code of a command whose argument names something that does not exist.
pub const EXIT_NOT_FOUND: i32 = 2;

pub enum Outcome {
    Done,
    NotFound(String),
}

pub async fn gaps(url: &str, min_atoms: i32, cluster: Option<&str>, dry_run: bool, yes: bool) -> anyhow::Result<Outcome> {
    let c = db::connect_spawned(url, "generate").await?;
    let rows = c
        .query("SELECT concept_id::text, concept_name, atom_count, missing FROM jitgen.find_gaps($1, $2::text::uuid)", &[&min_atoms, &cluster])
        .await
        .map_err(described)?;
    println!("{:<36}  {:<32}  {:>5}  {:>7}", "concept_id", "name", "atoms", "missing");
    let mut total = 0i64;
    for r in &rows {
        let (id, name, atoms, missing): (String, String, i32, i32) = (r.get(0), r.get(1), r.get(2), r.get(3));
        total += i64::from(missing);
        println!("{id:<36}  {:<32}  {atoms:>5}  {missing:>7}", truncate(&name, 32));
    }
    println!("{} concepts below {min_atoms} atoms; {total} atoms missing", rows.len());
    if dry_run || rows.is_empty() {
        return Ok(Outcome::Done);
    }
    if !yes && !confirm(&format!("Generate {total} atoms for {} concepts?", rows.len()))? {
        println!("nothing generated");
        return Ok(Outcome::Done);
    }
    let mut jobs = Vec::new();
    for r in &rows {
        let (id, missing): (String, i32) = (r.get(0), r.get(3));
        let job: Option<i64> = c
            .query_one("SELECT jitgen.request_content($1::text::uuid, 'missing_coverage', atom_count => least($2, 20))", &[&id, &missing])
            .await
            .map_err(described)?
            .get(0);
        jobs.extend(job);
    }
    wait(&c, &jobs).await?;
    Ok(Outcome::Done)
}

pub async fn concept(url: &str, id: &str, count: i32, content_type: Option<&str>, dry_run: bool) -> anyhow::Result<Outcome> {
    let c = db::connect_spawned(url, "generate").await?;
    let row = c
        .query_opt("SELECT name, (SELECT count(*) FROM learning_atoms a WHERE a.concept_id = c.id) FROM concepts c WHERE c.id::text = $1", &[&id])
        .await
        .map_err(described)?;
    let Some(row) = row else {
        return Ok(Outcome::NotFound(format!("concept {id} does not exist (jitgen generate gaps lists concepts that need content)")));
    };
    let (name, atoms): (String, i64) = (row.get(0), row.get(1));
    let types: Option<Vec<String>> = content_type.map(|t| vec![t.to_string()]);
    let atom_types: Vec<String> = c
        .query_one("SELECT jitgen.atom_types_for(NULL, $1)", &[&types])
        .await
        .map_err(described)?
        .get(0);
    println!("{name}: {atoms} atoms; would generate {count} ({})", atom_types.join(", "));
    if dry_run {
        return Ok(Outcome::Done);
    }
    let job: Option<i64> = c
        .query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', $2, $3)", &[&id, &types, &count])
        .await
        .map_err(described)?
        .get(0);
    wait(&c, &job.into_iter().collect::<Vec<_>>()).await?;
    Ok(Outcome::Done)
}

pub async fn stats(url: &str) -> anyhow::Result<Outcome> {
    let c = db::connect_spawned(url, "generate").await?;
    let r = c
        .query_one(
            "SELECT total_atoms, jit_generated, jit_share_percent::float8, failed_question, missing_coverage, user_request, proactive
             FROM jitgen.generation_stats",
            &[],
        )
        .await
        .map_err(described)?;
    let n = |i: usize| r.get::<_, i64>(i);
    println!("{:<20} {:>8}", "total atoms", n(0));
    println!("{:<20} {:>8}  ({:.1}%)", "jit generated", n(1), r.get::<_, f64>(2));
    for (label, i) in [("  failed_question", 3), ("  missing_coverage", 4), ("  user_request", 5), ("  proactive", 6)] {
        println!("{label:<20} {:>8}", n(i));
    }
    Ok(Outcome::Done)
}

/// The server's message and SQLSTATE, which tokio-postgres' own Display leaves out.
fn described(e: tokio_postgres::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", crate::worker::describe(&e))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Polls the jobs until none is queued or running, with a progress bar on a terminal, then
/// prints what each saved.
async fn wait(c: &Client, jobs: &[i64]) -> anyhow::Result<()> {
    if jobs.is_empty() {
        println!("nothing to generate");
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(jobs.len() as u64);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} jobs {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let started = Instant::now();
    loop {
        let left: i64 = c
            .query_one("SELECT count(*) FROM jitgen.jobs WHERE id = ANY($1) AND state IN ('queued', 'running')", &[&jobs])
            .await
            .map_err(described)?
            .get(0);
        bar.set_position(jobs.len() as u64 - left as u64);
        if left == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("{left} jobs still running after an hour; jitgen status shows them");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bar.finish_and_clear();
    for r in c
        .query(
            "SELECT id, state, coalesce((result->>'saved')::int, 0), coalesce(jsonb_array_length(result->'errors'), 0), error->>'kind'
             FROM jitgen.jobs WHERE id = ANY($1) ORDER BY id",
            &[&jobs],
        )
        .await
        .map_err(described)?
    {
        let (id, state, saved, errors, kind): (i64, String, i32, i32, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        println!("job {id}: {state}, {saved} atoms saved, {errors} rejected{}", kind.map(|k| format!(" ({k})")).unwrap_or_default());
    }
    Ok(())
}
