//! `jitgen run`: the queue worker.
//!
//! Each slot owns a connection and loops: read one pgmq message with a visibility timeout,
//! claim its job row, run the handler while a heartbeat extends the timeout and watches for
//! cancellation, then record the outcome, the handler's side effects and the message's archive
//! (or its rescheduling) in one transaction. A worker that dies mid-job stops heartbeating;
//! the message reappears after the timeout and another worker takes the job over. Slots wake
//! on LISTEN/NOTIFY with a timed poll as backup, and reconnect with capped backoff.

pub mod config;
pub mod handlers;
pub mod metrics;
pub mod session_generate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub use config::WorkerConfig;
use handlers::{Done, JobContext, JobError, Registry};
use metrics::Metrics;

const QUEUE: &str = "jitgen_jobs";
const CHANNEL: &str = "jitgen_jobs";

struct Shared {
    config: WorkerConfig,
    registry: Registry,
    metrics: Metrics,
    kind_permits: HashMap<String, Arc<Semaphore>>,
    /// Bumped on every NOTIFY; slots wait for a change instead of sleeping a full poll.
    wake: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
    in_flight: AtomicUsize,
}

/// Runs until SIGTERM or SIGINT, then drains.
pub async fn run(config: WorkerConfig, registry: Registry) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        kind_permits: config.kind_limits.iter().map(|(k, n)| (k.clone(), Arc::new(Semaphore::new(*n)))).collect(),
        metrics: Metrics::default(),
        registry,
        wake: watch::channel(0).0,
        shutdown: stop_rx,
        in_flight: AtomicUsize::new(0),
        config,
    });
    tracing::info!(worker = %shared.config.worker_id, slots = shared.config.slots,
        kinds = ?shared.registry.kinds(), listen = shared.config.listen, "worker starting");
    if let Some(addr) = shared.config.metrics_addr {
        let s = shared.clone();
        tokio::spawn(async move { metrics::serve(addr, s.metrics.clone_handle(), s.shutdown.clone()).await });
    }
    if shared.config.listen {
        tokio::spawn(listen(shared.clone()));
    }
    tokio::spawn(register_worker(shared.clone()));
    let slots: Vec<_> = (0..shared.config.slots).map(|i| tokio::spawn(slot(shared.clone(), i))).collect();

    wait_for_signal().await;
    tracing::info!(drain_secs = shared.config.drain.as_secs(), in_flight = shared.in_flight.load(Ordering::Relaxed),
        "shutdown requested: taking no new jobs, draining");
    let _ = stop_tx.send(true);
    for s in slots {
        let _ = s.await;
    }
    mark_stopped(&shared).await;
    tracing::info!("worker stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Connects, retrying with capped exponential backoff until it succeeds or shutdown begins.
async fn connect(shared: &Shared, purpose: &str) -> Option<Client> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shared.shutdown.borrow() {
            return None;
        }
        match tokio_postgres::connect(&shared.config.database_url, NoTls).await {
            Ok((client, connection)) => {
                let purpose = purpose.to_string();
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(%purpose, error = %describe(&e), "connection lost");
                    }
                });
                shared.metrics.connected();
                return Some(client);
            }
            Err(e) => {
                tracing::warn!(%purpose, error = %describe(&e), retry_in_ms = backoff.as_millis() as u64, "cannot connect");
                let mut stop = shared.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = stop.wait_for(|s| *s) => return None,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// LISTEN on its own connection; every notification wakes the slots.
async fn listen(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shared.shutdown.borrow() {
            return;
        }
        match tokio_postgres::connect(&shared.config.database_url, NoTls).await {
            Ok((client, mut connection)) => {
                backoff = Duration::from_millis(100);
                let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let listen_sql = format!("LISTEN {CHANNEL}");
                let listening = client.batch_execute(&listen_sql);
                tokio::pin!(listening);
                // Drive the connection while the LISTEN completes, then forward notifications.
                let mut listened = false;
                loop {
                    let mut stop = shared.shutdown.clone();
                    tokio::select! {
                        r = &mut listening, if !listened => {
                            if let Err(e) = r { tracing::warn!(error = %e, "LISTEN failed"); break; }
                            listened = true;
                            // Anything enqueued while we were not listening is found by this wake.
                            shared.wake.send_modify(|n| *n += 1);
                        }
                        m = messages.next() => match m {
                            Some(Ok(AsyncMessage::Notification(_))) => shared.wake.send_modify(|n| *n += 1),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => { tracing::warn!(error = %e, "listen connection lost"); break; }
                            None => break,
                        },
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect for LISTEN"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Keeps this worker's row in jitgen.workers fresh.
async fn register_worker(shared: Arc<Shared>) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let kinds = shared.registry.kinds();
    loop {
        if let Some(client) = connect(&shared, "heartbeat").await {
            loop {
                let in_flight = shared.in_flight.load(Ordering::Relaxed) as i32;
                let r = client
                    .execute(
                        "INSERT INTO jitgen.workers (id, hostname, pid, version, kinds, in_flight)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), in_flight = EXCLUDED.in_flight,
                             kinds = EXCLUDED.kinds, stopped_at = NULL",
                        &[&shared.config.worker_id, &hostname, &(std::process::id() as i32), &env!("CARGO_PKG_VERSION"), &kinds, &in_flight],
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "worker heartbeat failed");
                    break;
                }
                let mut stop = shared.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {},
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        } else {
            return;
        }
    }
}

async fn mark_stopped(shared: &Shared) {
    if let Ok((client, conn)) = tokio_postgres::connect(&shared.config.database_url, NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .execute("UPDATE jitgen.workers SET stopped_at = now(), in_flight = 0 WHERE id = $1", &[&shared.config.worker_id])
            .await;
    }
}

/// One worker slot: a connection and a loop over messages.
async fn slot(shared: Arc<Shared>, index: usize) {
    let mut wake = shared.wake.subscribe();
    while let Some(mut client) = connect(&shared, "slot").await {
        loop {
            if *shared.shutdown.borrow() {
                return;
            }
            wake.borrow_and_update();
            match step(&shared, &mut client).await {
                Ok(true) => continue,
                Ok(false) => {
                    // Sleep until a NOTIFY, the earliest delayed message (a scheduled retry),
                    // or the poll interval, whichever comes first.
                    let until_next = next_visible_in(&client).await.unwrap_or(shared.config.poll_interval);
                    let mut stop = shared.shutdown.clone();
                    tokio::select! {
                        _ = wake.changed() => {},
                        _ = tokio::time::sleep(until_next.min(shared.config.poll_interval)) => {},
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(slot = index, error = %describe(&e), "slot lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Time until the next invisible message becomes visible; None when there is none.
async fn next_visible_in(client: &Client) -> Option<Duration> {
    let row = client
        .query_one(
            &format!("SELECT extract(epoch FROM min(vt) - clock_timestamp())::float8 FROM pgmq.q_{QUEUE}"),
            &[],
        )
        .await
        .ok()?;
    let secs: Option<f64> = row.get(0);
    secs.map(|s| Duration::from_secs_f64(s.max(0.0)))
}

struct Message {
    msg_id: i64,
    job_id: Option<i64>,
}

/// Reads and handles at most one message; Ok(false) when the queue had nothing visible.
async fn step(shared: &Shared, client: &mut Client) -> Result<bool, tokio_postgres::Error> {
    let vt = shared.config.visibility_timeout.as_secs() as i32;
    let Some(row) = client.query_opt(&format!("SELECT msg_id, message FROM pgmq.read('{QUEUE}', $1, 1)"), &[&vt]).await? else {
        return Ok(false);
    };
    let message: Value = row.get(1);
    let msg = Message { msg_id: row.get(0), job_id: message.get("job_id").and_then(Value::as_i64) };
    let Some(job_id) = msg.job_id else {
        tracing::warn!(msg_id = msg.msg_id, %message, "message without job_id archived");
        archive(client, msg.msg_id).await?;
        return Ok(true);
    };
    let Some(job) = client
        .query_opt(
            "SELECT kind, state, run_after > clock_timestamp(), cancel_requested FROM jitgen.jobs WHERE id = $1",
            &[&job_id],
        )
        .await?
    else {
        archive(client, msg.msg_id).await?;
        return Ok(true);
    };
    let (kind, state, not_due, cancel_requested): (String, String, bool, bool) = (job.get(0), job.get(1), job.get(2), job.get(3));
    if !matches!(state.as_str(), "queued" | "running") {
        archive(client, msg.msg_id).await?;
        return Ok(true);
    }
    if not_due {
        client
            .execute(&format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, (SELECT run_after FROM jitgen.jobs WHERE id = $2))"), &[&msg.msg_id, &job_id])
            .await?;
        return Ok(true);
    }
    let permit: Option<OwnedSemaphorePermit> = match shared.kind_permits.get(&kind) {
        None => None,
        Some(sem) => match sem.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                // This kind is at its concurrency cap here: let the message come back shortly.
                client.execute(&format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, 1)"), &[&msg.msg_id]).await?;
                return Ok(true);
            }
        },
    };
    if cancel_requested && state == "queued" {
        finish_simple(client, job_id, msg.msg_id, "canceled", None).await?;
        return Ok(true);
    }
    // Claim: a running job here is one whose worker stopped heartbeating (its message came back).
    let tx = client.transaction().await?;
    let Some(claimed) = tx
        .query_opt(
            "UPDATE jitgen.jobs SET state = 'running', attempts = attempts + 1, started_at = now(),
                    heartbeat_at = now(), worker = $2, msg_id = $3
             WHERE id = $1 AND state IN ('queued', 'running')
             RETURNING payload, attempts, max_attempts",
            &[&job_id, &shared.config.worker_id, &msg.msg_id],
        )
        .await?
    else {
        tx.commit().await?;
        return Ok(true);
    };
    let (payload, attempt, max_attempts): (Value, i32, i32) = (claimed.get(0), claimed.get(1), claimed.get(2));
    tx.execute(
        "INSERT INTO jitgen.job_attempts (job_id, attempt, worker) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&job_id, &attempt, &shared.config.worker_id],
    )
    .await?;
    tx.commit().await?;

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ctx = JobContext { id: job_id, payload, attempt, worker: shared.config.worker_id.clone(), cancel: cancel_rx };
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    tracing::info!(job_id, %kind, attempt, "job started");
    let outcome = match shared.registry.get(&kind) {
        None => Outcome::Dead(json!({"kind": "unknown_kind", "message": format!("no handler for job kind {kind:?}"),
                                    "known_kinds": shared.registry.kinds()})),
        Some(handler) => {
            let work = handler.work(&ctx, client);
            let beat = heartbeat(shared, client, job_id, msg.msg_id, cancel_tx);
            let mut stop = shared.shutdown.clone();
            let drain_deadline = async {
                let _ = stop.wait_for(|s| *s).await;
                tokio::time::sleep(shared.config.drain).await;
            };
            tokio::select! {
                r = work => match r {
                    Ok(done) => Outcome::Complete(done),
                    Err(JobError::Canceled) => Outcome::Canceled,
                    Err(JobError::Permanent(e)) => Outcome::Failed(e),
                    Err(JobError::Transient(e)) if attempt >= max_attempts => Outcome::Dead(e),
                    Err(JobError::Transient(e)) => Outcome::Retry(e),
                },
                e = beat => Outcome::Lost(e),
                _ = drain_deadline => Outcome::Released,
            }
        }
    };
    drop(permit);
    let label = outcome.label();
    let result = finish(shared, client, &ctx, msg.msg_id, outcome).await;
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.metrics.finished(&kind, label, started.elapsed());
    tracing::info!(job_id, %kind, attempt, outcome = label, ms = started.elapsed().as_millis() as u64, "job finished");
    result.map(|_| true)
}

/// tokio-postgres prints "db error" alone; operators need the server's message and code.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}){}", db.message(), db.code().code(), db.detail().map(|d| format!(": {d}")).unwrap_or_default()),
        None => e.to_string(),
    }
}

enum Outcome {
    Complete(Done),
    Retry(Value),
    Failed(Value),
    Dead(Value),
    Canceled,
    /// Drain timed out: hand the job back untouched for another worker.
    Released,
    /// The heartbeat lost the database; the message will come back after its timeout.
    Lost(tokio_postgres::Error),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Complete(_) => "complete",
            Outcome::Retry(_) => "retry",
            Outcome::Failed(_) => "failed",
            Outcome::Dead(_) => "dead",
            Outcome::Canceled => "canceled",
            Outcome::Released => "released",
            Outcome::Lost(_) => "lost",
        }
    }
}

/// Extends the message's visibility and watches the cancel flag; returns only on error.
async fn heartbeat(shared: &Shared, client: &Client, job_id: i64, msg_id: i64, cancel: watch::Sender<bool>) -> tokio_postgres::Error {
    let vt = shared.config.visibility_timeout;
    loop {
        tokio::time::sleep(vt / 3).await;
        let r = client
            .query_one(
                "UPDATE jitgen.jobs SET heartbeat_at = now() WHERE id = $1 RETURNING cancel_requested",
                &[&job_id],
            )
            .await;
        match r {
            Ok(row) => {
                if row.get::<_, bool>(0) {
                    let _ = cancel.send(true);
                }
            }
            Err(e) => return e,
        }
        if let Err(e) = client.execute(&format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, $2::int)"), &[&msg_id, &(vt.as_secs() as i32)]).await {
            return e;
        }
    }
}

async fn archive(client: &Client, msg_id: i64) -> Result<(), tokio_postgres::Error> {
    client.execute(&format!("SELECT pgmq.archive('{QUEUE}', $1::bigint)"), &[&msg_id]).await.map(|_| ())
}

async fn finish_simple(client: &mut Client, job_id: i64, msg_id: i64, state: &str, error: Option<Value>) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE jitgen.jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1",
        &[&job_id, &state, &error],
    )
    .await?;
    tx.execute(&format!("SELECT pgmq.archive('{QUEUE}', $1::bigint)"), &[&msg_id]).await?;
    tx.commit().await
}

/// Records the outcome, side effects and message fate in one transaction, provided this
/// worker still owns the job (after a long stall another worker may have taken it over).
async fn finish(shared: &Shared, client: &mut Client, ctx: &JobContext, msg_id: i64, outcome: Outcome) -> Result<(), tokio_postgres::Error> {
    if let Outcome::Lost(e) = outcome {
        return Err(e);
    }
    let tx = client.transaction().await?;
    let owned = tx
        .query_opt(
            "SELECT 1 FROM jitgen.jobs WHERE id = $1 AND state = 'running' AND worker = $2 AND attempts = $3 FOR UPDATE",
            &[&ctx.id, &ctx.worker, &ctx.attempt],
        )
        .await?;
    if owned.is_none() {
        tracing::warn!(job_id = ctx.id, "job was taken over by another worker; dropping this attempt's result");
        return tx.rollback().await;
    }
    let (state, attempt_outcome, error): (&str, &str, Option<Value>) = match &outcome {
        Outcome::Complete(done) => {
            for effect in &done.effects {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    effect.params.iter().map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
                tx.execute(effect.sql, &params).await?;
            }
            tx.execute(
                "UPDATE jitgen.jobs SET state = 'complete', result = $2, error = NULL, progress = 1, finished_at = now()
                 WHERE id = $1",
                &[&ctx.id, &done.result],
            )
            .await?;
            tx.execute(&format!("SELECT pgmq.archive('{QUEUE}', $1::bigint)"), &[&msg_id]).await?;
            ("complete", "complete", None)
        }
        Outcome::Retry(e) => {
            let delay = shared.config.retry_delay(ctx.attempt);
            let delay_s = delay.as_secs_f64();
            tx.execute(
                "UPDATE jitgen.jobs SET state = 'queued', error = $2,
                        run_after = clock_timestamp() + make_interval(secs => $3) WHERE id = $1",
                &[&ctx.id, e, &delay_s],
            )
            .await?;
            tx.execute(
                &format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, (SELECT run_after FROM jitgen.jobs WHERE id = $2))"),
                &[&msg_id, &ctx.id],
            )
            .await?;
            ("queued", "retry", Some(e.clone()))
        }
        Outcome::Released => {
            tx.execute(
                "UPDATE jitgen.jobs SET state = 'queued', attempts = attempts - 1, worker = NULL WHERE id = $1",
                &[&ctx.id],
            )
            .await?;
            tx.execute(&format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, 0)"), &[&msg_id]).await?;
            ("queued", "released", None)
        }
        Outcome::Failed(e) | Outcome::Dead(e) => {
            let state = if matches!(outcome, Outcome::Dead(_)) { "dead" } else { "failed" };
            tx.execute(
                "UPDATE jitgen.jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1",
                &[&ctx.id, &state, e],
            )
            .await?;
            tx.execute(&format!("SELECT pgmq.archive('{QUEUE}', $1::bigint)"), &[&msg_id]).await?;
            (state, state, Some(e.clone()))
        }
        Outcome::Canceled => {
            tx.execute("UPDATE jitgen.jobs SET state = 'canceled', finished_at = now() WHERE id = $1", &[&ctx.id]).await?;
            tx.execute(&format!("SELECT pgmq.archive('{QUEUE}', $1::bigint)"), &[&msg_id]).await?;
            ("canceled", "canceled", None)
        }
        Outcome::Lost(_) => unreachable!("handled above"),
    };
    tx.execute(
        "UPDATE jitgen.job_attempts SET finished_at = clock_timestamp(), outcome = $3, error = $4
         WHERE job_id = $1 AND attempt = $2",
        &[&ctx.id, &ctx.attempt, &attempt_outcome, &error],
    )
    .await?;
    let _ = state;
    tx.commit().await
}
