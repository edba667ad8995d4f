//! The console's pages: each reads through the console's role and renders one template.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde_json::Value;

use super::{base, signed_in, sql_error, Console, FlashQuery};

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn error_page(console: &Console, csrf: &str, e: tokio_postgres::Error) -> Response {
    let mut r = page(console, "not_found.html", "", "error", csrf, Some(("error", sql_error(&e))), context! { what => "the query failed" });
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Renders `template` with the shared context plus `extra`.
fn page(console: &Console, template: &str, name: &str, title: &str, csrf: &str, flash: Option<(&str, String)>, extra: minijinja::Value) -> Response {
    let shared = base(console, name, title, csrf, flash);
    console.render(template, minijinja::context! { ..shared, ..extra })
}

/// A polyline chart of `points` (x ascending), 300 × 60.
pub(crate) fn sparkline(points: &[(f64, f64)], label: &str) -> String {
    if points.len() < 2 {
        return format!("<span class=\"muted\">not enough points for a {label} chart</span>");
    }
    let (x0, x1) = (points[0].0, points[points.len() - 1].0);
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let span_x = (x1 - x0).max(1e-9);
    let span_y = (hi - lo).max(1e-9);
    let coords: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", (x - x0) / span_x * 296.0 + 2.0, 58.0 - (y - lo) / span_y * 56.0))
        .collect();
    format!(
        "<svg width=\"300\" height=\"60\" role=\"img\" aria-label=\"{label}\"><polyline fill=\"none\" stroke=\"#3a86ff\" stroke-width=\"1.5\" points=\"{}\"/></svg> <span class=\"muted\">{label}: {:.4} … {:.4}</span>",
        coords.join(" "),
        lo,
        hi
    )
}

fn percent(progress: f32) -> i64 {
    (f64::from(progress) * 100.0).round() as i64
}

pub async fn jobs(State(console): State<Arc<Console>>, headers: HeaderMap, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let c = console.client().await;
    let queries = async {
        let summary = c
            .query("SELECT kind, state, jobs, coalesce(extract(epoch FROM oldest_queued_age)::int, 0) FROM jitgen.job_summary ORDER BY kind, state", &[])
            .await?;
        let workers = c
            .query(
                "SELECT id, in_flight, extract(epoch FROM now() - heartbeat_at)::int, stopped_at IS NOT NULL
                 FROM jitgen.workers ORDER BY heartbeat_at DESC LIMIT 20",
                &[],
            )
            .await?;
        let dead = c.query("SELECT d.id, d.kind, d.attempts, coalesce(d.error, 'null') FROM jitgen.dead_jobs d ORDER BY d.id DESC LIMIT 50", &[]).await?;
        let recent = c
            .query(
                "SELECT id, kind, state, attempts, max_attempts, progress, coalesce(progress_message, ''), coalesce(error, 'null')
                 FROM jitgen.jobs ORDER BY id DESC LIMIT 50",
                &[],
            )
            .await?;
        let total: i64 = summary.iter().map(|r| r.get::<_, i64>(2)).sum();
        Ok::<_, tokio_postgres::Error>((summary, workers, dead, recent, total))
    };
    let (summary, workers, dead, recent, total) = match queries.await {
        Ok(v) => v,
        Err(e) => return error_page(&console, &csrf, e),
    };
    let summary: Vec<_> = summary
        .iter()
        .map(|r| context! { kind => r.get::<_, String>(0), state => r.get::<_, String>(1), jobs => r.get::<_, i64>(2), oldest_s => r.get::<_, i32>(3) })
        .collect();
    let workers: Vec<_> = workers
        .iter()
        .map(|r| {
            let (age, stopped): (i32, bool) = (r.get(2), r.get(3));
            let state = if stopped { "stopped" } else if age > 30 { "silent" } else { "live" };
            context! { id => r.get::<_, String>(0), in_flight => r.get::<_, i32>(1), age_s => age, state => state }
        })
        .collect();
    let dead: Vec<_> = dead
        .iter()
        .map(|r| context! { id => r.get::<_, i64>(0), kind => r.get::<_, String>(1), attempts => r.get::<_, i32>(2), error => text(&r.get::<_, Value>(3)) })
        .collect();
    let recent: Vec<_> = recent
        .iter()
        .map(|r| {
            context! {
                id => r.get::<_, i64>(0), kind => r.get::<_, String>(1), state => r.get::<_, String>(2),
                attempts => r.get::<_, i32>(3), max_attempts => r.get::<_, i32>(4), percent => percent(r.get(5)),
                message => r.get::<_, String>(6), error => text(&r.get::<_, Value>(7)),
            }
        })
        .collect();
    drop(c);
    page(&console, "jobs.html", "jobs", "Jobs", &csrf, flash.message(), context! { summary, workers, dead, recent, total })
}

pub async fn job(State(console): State<Arc<Console>>, headers: HeaderMap, Path(id): Path<String>, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let not_found = |what: String| {
        let mut r = page(&console, "not_found.html", "jobs", "Not found", &csrf, None, context! { what });
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    let Ok(id) = id.parse::<i64>() else { return not_found(format!("{id:?} is not a job id")) };
    let c = console.client().await;
    let row = c
        .query_opt(
            "SELECT id, kind, state, attempts, max_attempts, progress, coalesce(progress_message, ''), coalesce(error, 'null'),
                    coalesce(result, 'null'), created_at::text FROM jitgen.jobs WHERE id = $1",
            &[&id],
        )
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(format!("no job {id} (or none this role may see)")),
        Err(e) => return error_page(&console, &csrf, e),
    };
    let attempts = c
        .query(
            "SELECT attempt, worker, started_at::text, coalesce(outcome, ''), coalesce(error, 'null') FROM jitgen.job_attempts WHERE job_id = $1 ORDER BY attempt",
            &[&id],
        )
        .await
        .unwrap_or_default();
    drop(c);
    let pretty = |v: Value| if v.is_null() { String::new() } else { serde_json::to_string_pretty(&v).unwrap_or_default() };
    let job = context! {
        id => row.get::<_, i64>(0), kind => row.get::<_, String>(1), state => row.get::<_, String>(2),
        attempts => row.get::<_, i32>(3), max_attempts => row.get::<_, i32>(4), percent => percent(row.get(5)),
        message => row.get::<_, String>(6), error => pretty(row.get(7)), result => pretty(row.get(8)), created_at => row.get::<_, String>(9),
    };
    let attempts: Vec<_> = attempts
        .iter()
        .map(|r| context! { attempt => r.get::<_, i32>(0), worker => r.get::<_, String>(1), started_at => r.get::<_, String>(2), outcome => r.get::<_, String>(3), error => text(&r.get::<_, Value>(4)) })
        .collect();
    page(&console, "job.html", "jobs", &format!("job {id}"), &csrf, flash.message(), context! { job, attempts })
}

pub async fn adapters(State(console): State<Arc<Console>>, headers: HeaderMap, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let c = console.client().await;
    let rows = async {
        let nodes = c.query("SELECT tenant, node_id, base_model_id, owner_role::text FROM jitgen.nodes ORDER BY tenant, node_id", &[]).await?;
        let jobs = c
            .query(
                "SELECT j.id, a.node_id, j.state, j.progress, coalesce(j.progress_message, ''),
                        coalesce(j.result -> 'report', j.error -> 'report', 'null'), coalesce(j.error ->> 'message', ''),
                        art.object_key, art.downloaded_at IS NOT NULL,
                        (SELECT CASE WHEN n.delivered_at IS NOT NULL THEN 'delivered' ELSE format('pending (%s attempts) %s', n.attempts, coalesce(n.last_error, '')) END
                         FROM jitgen.adapter_notifications n WHERE n.job_id = j.id ORDER BY n.id DESC LIMIT 1)
                 FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
                 LEFT JOIN jitgen.adapter_artifacts art ON art.job_id = j.id
                 ORDER BY j.id DESC LIMIT 30",
                &[],
            )
            .await?;
        Ok::<_, tokio_postgres::Error>((nodes, jobs))
    };
    let (nodes, jobs) = match rows.await {
        Ok(v) => v,
        Err(e) => return error_page(&console, &csrf, e),
    };
    drop(c);
    let nodes: Vec<_> = nodes
        .iter()
        .map(|r| context! { tenant => r.get::<_, String>(0), node_id => r.get::<_, String>(1), base_model_id => r.get::<_, String>(2), owner_role => r.get::<_, String>(3) })
        .collect();
    let jobs: Vec<_> = jobs
        .iter()
        .map(|r| {
            let report: Value = r.get(5);
            let loss: Vec<(f64, f64)> = report["loss_curve"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?))).collect())
                .unwrap_or_default();
            let gate = &report["gate"];
            context! {
                id => r.get::<_, i64>(0), node_id => r.get::<_, String>(1), state => r.get::<_, String>(2),
                percent => percent(r.get(3)), message => r.get::<_, String>(4),
                loss_svg => (!loss.is_empty()).then(|| sparkline(&loss, "training loss")),
                gate => (!gate.is_null()).then(|| gate.to_string()), gate_passed => gate["passed"].as_bool().unwrap_or(false),
                metrics => (!report["metrics"].is_null()).then(|| report["metrics"].to_string()),
                error => r.get::<_, String>(6),
                artifact => r.get::<_, Option<String>>(7).map(|k| format!("{k}{}", if r.get::<_, Option<bool>>(8) == Some(true) { " · downloaded" } else { " · not downloaded yet" })),
                downloaded => r.get::<_, Option<bool>>(8) == Some(true),
                notification => r.get::<_, Option<String>>(9).unwrap_or_else(|| "none".into()),
            }
        })
        .collect();
    page(&console, "adapters.html", "adapters", "Adapters", &csrf, flash.message(), context! { nodes, jobs })
}

pub async fn programs(State(console): State<Arc<Console>>, headers: HeaderMap, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rows = console
        .client()
        .await
        .query(
            "SELECT id, state, created_at::text, coalesce((result ->> 'success')::boolean, false),
                    coalesce(result ->> 'error', error ->> 'message', ''), coalesce(result ->> 'program_id', '')
             FROM jitgen.jobs WHERE kind = 'program.generate' ORDER BY id DESC LIMIT 50",
            &[],
        )
        .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return error_page(&console, &csrf, e),
    };
    let programs: Vec<_> = rows
        .iter()
        .map(|r| {
            let ok: bool = r.get(3);
            let outcome = if ok { format!("program {}", r.get::<_, String>(5)) } else { r.get::<_, String>(4) };
            context! { id => r.get::<_, i64>(0), state => r.get::<_, String>(1), created_at => r.get::<_, String>(2), ok => ok, outcome => outcome }
        })
        .collect();
    page(&console, "programs.html", "programs", "Programs", &csrf, flash.message(), context! { programs })
}

pub async fn content(State(console): State<Arc<Console>>, headers: HeaderMap, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let min_atoms = flash.min_atoms.unwrap_or(3).clamp(1, 1000);
    let c = console.client().await;
    let rows = async {
        let stats = c
            .query_one(
                "SELECT total_atoms, jit_generated, jit_share_percent::float8, failed_question, missing_coverage, user_request, proactive FROM jitgen.generation_stats",
                &[],
            )
            .await?;
        let gaps = c.query("SELECT concept_id::text, concept_name, atom_count, missing FROM jitgen.find_gaps($1) LIMIT 200", &[&min_atoms]).await?;
        Ok::<_, tokio_postgres::Error>((stats, gaps))
    };
    let extra = match rows.await {
        Ok((s, gaps)) => {
            let n = |i: usize| s.get::<_, i64>(i);
            let stats = context! { total => n(0), jit => n(1), share => format!("{:.1}", s.get::<_, f64>(2)), failed_question => n(3), missing_coverage => n(4), user_request => n(5), proactive => n(6) };
            let gaps: Vec<_> = gaps
                .iter()
                .map(|r| context! { id => r.get::<_, String>(0), name => r.get::<_, String>(1), atoms => r.get::<_, i32>(2), missing => r.get::<_, i32>(3) })
                .collect();
            context! { stats, gaps, min_atoms }
        }
        // The content tables are the app's (jitgen migrate): say so rather than fail.
        Err(e) => context! { unavailable => format!("content is not available to this role: {}", sql_error(&e)) },
    };
    drop(c);
    page(&console, "content.html", "content", "Content", &csrf, flash.message(), extra)
}

pub async fn oracle(State(console): State<Arc<Console>>, headers: HeaderMap, flash: FlashQuery) -> Response {
    let csrf = match signed_in(&console, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let c = console.client().await;
    let components = match c
        .query(
            "SELECT app_id, component_id, handler_type, active_version, pending_version, coalesce(jitgen.effective_rule(app_id, component_id), 'null')
             FROM jitgen.components ORDER BY app_id, component_id LIMIT 100",
            &[],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => return error_page(&console, &csrf, e),
    };
    let mut out = Vec::new();
    for r in &components {
        let (app, comp): (String, String) = (r.get(0), r.get(1));
        let rule: Value = r.get(5);
        let window = rule["window_seconds"].as_f64().unwrap_or(3600.0);
        let figures = c
            .query_one(
                "SELECT jsonb_build_object('calls', count(*), 'avg_latency_ms', round(avg(latency_ms)::numeric, 1),
                        'avg_cost', round(avg(cost), 6), 'error_rate', round(count(*) FILTER (WHERE outcome <> 'ok')::numeric / nullif(count(*), 0), 3))
                 FROM jitgen.component_metrics WHERE app_id = $1 AND component_id = $2 AND at > now() - make_interval(secs => $3)",
                &[&app, &comp, &window],
            )
            .await
            .map(|row| row.get::<_, Value>(0))
            .unwrap_or(Value::Null);
        let per_minute: Vec<(f64, f64, f64, f64)> = c
            .query(
                "SELECT extract(epoch FROM date_trunc('minute', at))::float8, avg(latency_ms)::float8, avg(cost)::float8,
                        (count(*) FILTER (WHERE outcome <> 'ok'))::float8 / count(*)
                 FROM jitgen.component_metrics
                 WHERE app_id = $1 AND component_id = $2 AND at > now() - make_interval(secs => $3) GROUP BY 1 ORDER BY 1",
                &[&app, &comp, &window],
            )
            .await
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
            .unwrap_or_default();
        let series = |pick: fn(&(f64, f64, f64, f64)) -> f64| per_minute.iter().map(|p| (p.0, pick(p))).collect::<Vec<_>>();
        let charts = [
            sparkline(&series(|p| p.1), "mean latency ms"),
            sparkline(&series(|p| p.2), "mean cost per call"),
            sparkline(&series(|p| p.3), "error rate"),
        ]
        .join("<br>");
        let decisions: Vec<_> = c
            .query(
                "SELECT at::text, decision, (reasons - 'conditions')::text FROM jitgen.oracle_decisions WHERE app_id = $1 AND component_id = $2 ORDER BY id DESC LIMIT 20",
                &[&app, &comp],
            )
            .await
            .map(|rows| rows.iter().map(|r| context! { at => r.get::<_, String>(0), decision => r.get::<_, String>(1), reasons => r.get::<_, String>(2) }).collect())
            .unwrap_or_default();
        let artifacts: Vec<_> = c
            .query(
                "SELECT version, kind, path, content FROM jitgen.jit_artifacts WHERE app_id = $1 AND component_id = $2 ORDER BY created_at DESC, kind LIMIT 10",
                &[&app, &comp],
            )
            .await
            .map(|rows| rows.iter().map(|r| context! { version => r.get::<_, String>(0), kind => r.get::<_, String>(1), path => r.get::<_, String>(2), content => r.get::<_, String>(3) }).collect())
            .unwrap_or_default();
        let own_rule = rule["scope"] == "component";
        let field = |k: &str| if own_rule { text(&rule[k]) } else { String::new() };
        let rule_error = flash.rule_error.clone().filter(|_| flash.component.as_deref() == Some(comp.as_str()));
        out.push(context! {
            app_id => app, component_id => comp.clone(), handler_type => r.get::<_, String>(2),
            active_version => r.get::<_, Option<String>>(3), pending_version => r.get::<_, Option<String>>(4),
            rule => (!rule.is_null()).then(|| format!("{} rule: {}", text(&rule["scope"]), rule)),
            figures => figures.to_string(), charts => charts,
            form => context! { min_latency_ms => field("min_latency_ms"), min_cost_per_call => field("min_cost_per_call"),
                min_calls_per_minute => field("min_calls_per_minute"), max_error_rate => field("max_error_rate"),
                prefer => own_rule && rule["prefer_llm_for_flexibility"] == true, review => own_rule && rule["require_review"] == true },
            rule_error, decisions, artifacts,
        });
    }
    drop(c);
    page(&console, "oracle.html", "oracle", "Oracle", &csrf, flash.message(), context! { components => out })
}
