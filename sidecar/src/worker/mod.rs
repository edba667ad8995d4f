//! `jitgen run`: the queue worker.
//!
//! Each slot owns a connection and loops: read one pgmq message with a visibility timeout,
//! claim its job row, run the handler while a heartbeat extends the timeout and watches for
//! cancellation, then record the outcome, the handler's side effects and the message's archive
//! (or its rescheduling) in one transaction. A worker that dies mid-job stops heartbeating;
//! the message reappears after the timeout and another worker takes the job over. Slots wake
//! on LISTEN/NOTIFY with a timed poll as backup, and reconnect with capped backoff
//! (connections.rs).

#[cfg(feature = "train")]
pub mod adapter_train;
pub mod config;
pub(crate) mod content_generate;
mod connections;
pub mod handlers;
pub mod jit_generate;
mod jit_serve;
pub mod metrics;
pub mod program_generate;
mod queries;
pub mod session_generate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use jitgen_sidecar::db;
use serde_json::{json, Value};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

pub use config::WorkerConfig;
use connections::{connect, listen, mark_stopped, register_worker};
use handlers::{Done, JobContext, JobError, Registry};
use metrics::Metrics;
use queries::*;

const QUEUE: &str = "jitgen_jobs";
const CHANNEL: &str = "jitgen_jobs";

struct Shared {
    config: WorkerConfig,
    /// DATABASE_URL parsed once, its CA file read once.
    db: db::Target,
    registry: Registry,
    metrics: Metrics,
    kind_permits: HashMap<String, Arc<Semaphore>>,
    /// Bumped on every NOTIFY; slots wait for a change instead of sleeping a full poll.
    wake: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
    in_flight: AtomicUsize,
}

/// SIGTERM and SIGINT, listened for from the start of `jitgen run` so that one received while
/// the worker is still starting is not lost (nor kills the process with the default action).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}

/// Runs until SIGTERM or SIGINT, then drains. `db` is DATABASE_URL parsed (its CA file read)
/// once, by the caller that reports a bad one.
pub async fn run(config: WorkerConfig, db: db::Target, registry: Registry, signals: Signals) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        db,
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
        tokio::spawn(async move { metrics::serve(addr, s.metrics.clone_handle()).await });
    }
    if shared.config.listen {
        tokio::spawn(listen(shared.clone()));
    }
    if let Some(addr) = shared.config.jit_addr {
        let (db, token, budget) = (shared.db.clone(), shared.config.jit_token.clone(), shared.config.jit_budget);
        tokio::spawn(async move {
            if let Err(e) = jit_serve::serve(addr, db, token, budget).await {
                tracing::warn!(error = %e, "JIT handlers are not served by this worker");
            }
        });
    }
    if let Some(every) = shared.config.oracle_interval {
        tokio::spawn(evaluate_oracle(shared.clone(), every));
    }
    tokio::spawn(register_worker(shared.clone()));
    shared.metrics.configure(shared.config.slots, shared.config.health_stale);
    let slots: Vec<_> = (0..shared.config.slots).map(|i| tokio::spawn(supervise(shared.clone(), i))).collect();

    signals.wait().await;
    tracing::info!(drain_secs = shared.config.drain.as_secs(), in_flight = shared.in_flight.load(Ordering::Relaxed),
        "shutdown requested: taking no new jobs, draining");
    shared.metrics.draining();
    let _ = stop_tx.send(true);
    for s in slots {
        let _ = s.await;
    }
    mark_stopped(&shared).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Evaluates the oracle's rules every `every` (concurrent workers serialise on a lock inside
/// jitgen.evaluate_oracle); a failed round is logged and retried at the next tick.
async fn evaluate_oracle(shared: Arc<Shared>, every: Duration) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let round = async {
            let client = shared.db.connect_spawned("oracle").await.map_err(|e| e.to_string())?;
            client.query("SELECT decision FROM jitgen.evaluate_oracle()", &[]).await.map_err(|e| describe(&e))
        };
        match round.await {
            Ok(rows) => tracing::debug!(components = rows.len(), "oracle evaluated"),
            Err(e) => tracing::warn!(error = %e, "oracle evaluation failed"),
        }
    }
}

/// A slot's connection with its prepared statements: the hot path prepares each SQL text
/// once per connection instead of once per use.
pub struct Conn {
    pub client: Client,
    cache: HashMap<&'static str, Statement>,
    read_and_claim: &'static str,
    complete_owned: &'static str,
}

impl Conn {
    /// Picks the inlined queue statements when they prepare against the installed pgmq.
    async fn new(client: Client) -> Conn {
        let mut conn = Conn { client, cache: HashMap::new(), read_and_claim: READ_AND_CLAIM, complete_owned: COMPLETE_OWNED };
        let inline = conn.stmt(READ_AND_CLAIM_INLINE).await.is_ok() && conn.stmt(COMPLETE_OWNED_INLINE).await.is_ok();
        if inline {
            conn.read_and_claim = READ_AND_CLAIM_INLINE;
            conn.complete_owned = COMPLETE_OWNED_INLINE;
        } else {
            tracing::info!("pgmq's table layout differs from 1.11: using its functions for reads and archives");
        }
        conn
    }

    async fn stmt(&mut self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.cache.insert(sql, s.clone());
        Ok(s)
    }
}

/// Keeps slot `index` running: a slot task that panics outside a handler (handlers' panics are
/// caught per job) is restarted, so the worker never reports itself live with fewer slots.
async fn supervise(shared: Arc<Shared>, index: usize) {
    loop {
        match tokio::spawn(slot(shared.clone(), index)).await {
            Err(e) if e.is_panic() && !*shared.shutdown.borrow() => {
                tracing::error!(slot = index, "slot panicked; restarting it");
                shared.metrics.slot_panicked();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return,
        }
    }
}

/// One worker slot: a connection and a loop over messages.
async fn slot(shared: Arc<Shared>, index: usize) {
    let _alive = shared.metrics.slot_alive();
    let mut wake = shared.wake.subscribe();
    while let Some(client) = connect(&shared, "slot").await {
        let mut client = Conn::new(client).await;
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
                    let until_next = next_visible_in(&client.client).await.unwrap_or(shared.config.poll_interval);
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

/// Reads and handles at most one message; Ok(false) when the queue had nothing visible.
async fn step(shared: &Shared, conn: &mut Conn) -> Result<bool, tokio_postgres::Error> {
    let vt = shared.config.visibility_timeout.as_secs() as i32;
    let read = conn.stmt(conn.read_and_claim).await?;
    let Some(row) = conn.client.query_opt(&read, &[&vt, &shared.config.worker_id]).await? else {
        return Ok(false);
    };
    let msg_id: i64 = row.get(0);
    let message: Value = row.get(1);
    let (kind, state): (Option<String>, Option<String>) = (row.get(2), row.get(3));
    let Some(job_id) = message.get("job_id").and_then(Value::as_i64) else {
        tracing::warn!(msg_id, %message, "malformed message archived");
        let archive = conn.stmt(ARCHIVE).await?;
        conn.client.execute(&archive, &[&msg_id]).await?;
        return Ok(true);
    };
    let (Some(kind), Some(state)) = (kind, state) else {
        // pgmq.read runs with a newer snapshot than the statement around it, so a message can
        // be seen in the instant its job commits while the job row is not yet visible here.
        // Look again with a fresh snapshot before concluding the job is gone.
        let exists = conn.stmt(JOB_EXISTS).await?;
        if conn.client.query_opt(&exists, &[&job_id]).await?.is_some() {
            let again = conn.stmt(SET_VT_SECS).await?;
            conn.client.execute(&again, &[&msg_id, &0i32]).await?;
        } else {
            tracing::warn!(msg_id, job_id, "message for a deleted job archived");
            let archive = conn.stmt(ARCHIVE).await?;
            conn.client.execute(&archive, &[&msg_id]).await?;
        }
        return Ok(true);
    };
    let (not_due, cancel_requested, claimed, buried): (bool, bool, bool, bool) = (row.get(4), row.get(5), row.get(6), row.get(10));
    if buried {
        tracing::warn!(job_id, %kind, "job crashed its worker on its last attempt: dead");
        shared.metrics.finished(&kind, "dead", Duration::ZERO);
        if let Some(handler) = shared.registry.get(&kind) {
            handler.cleanup(job_id, &row.get::<_, Option<Value>>(7).unwrap_or(Value::Null));
        }
        let archive = conn.stmt(ARCHIVE).await?;
        conn.client.execute(&archive, &[&msg_id]).await?;
        return Ok(true);
    }
    if !claimed {
        if !matches!(state.as_str(), "queued" | "running") {
            let archive = conn.stmt(ARCHIVE).await?;
            conn.client.execute(&archive, &[&msg_id]).await?;
        } else if cancel_requested && state == "queued" {
            let end = conn.stmt(END_STATE).await?;
            let archive = conn.stmt(ARCHIVE).await?;
            let no_error: Option<Value> = None;
            conn.client.execute(&end, &[&job_id, &"canceled", &no_error]).await?;
            conn.client.execute(&archive, &[&msg_id]).await?;
        } else if not_due {
            let s = conn.stmt(SET_VT_RUN_AFTER).await?;
            conn.client.execute(&s, &[&msg_id, &job_id]).await?;
        }
        return Ok(true);
    }
    let (payload, attempt, max_attempts): (Value, i32, i32) = (row.get(7), row.get(8), row.get(9));
    if let Some(waited) = row.get::<_, Option<f64>>(11) {
        shared.metrics.waited(&kind, waited);
    }
    if shared.registry.get(&kind).is_none() && handlers::built_without(&kind) {
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(%kind, "this jitgen was built without the handler for these jobs; they wait for a worker built with it");
        }
        let unclaim = conn.stmt(UNCLAIM).await?;
        let later = conn.stmt(SET_VT_SECS).await?;
        conn.client.execute(&unclaim, &[&job_id, &attempt]).await?;
        conn.client.execute(&later, &[&msg_id, &10i32]).await?;
        return Ok(true);
    }
    let permit: Option<OwnedSemaphorePermit> = match shared.kind_permits.get(&kind) {
        None => None,
        Some(sem) => match sem.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                // This kind is at its concurrency cap here: hand the claim back, retry shortly.
                let unclaim = conn.stmt(UNCLAIM).await?;
                let vt1 = conn.stmt(SET_VT_SECS).await?;
                conn.client.execute(&unclaim, &[&job_id, &attempt]).await?;
                conn.client.execute(&vt1, &[&msg_id, &1i32]).await?;
                return Ok(true);
            }
        },
    };

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let ctx = JobContext { id: job_id, payload, attempt, max_attempts, worker: shared.config.worker_id.clone(), cancel: cancel_rx };
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    tracing::debug!(job_id, %kind, attempt, "job started");
    let outcome = match shared.registry.get(&kind) {
        None => Outcome::Dead(json!({"kind": "unknown_kind", "message": format!("no handler for job kind {kind:?}"),
                                    "known_kinds": shared.registry.kinds()})),
        Some(handler) => {
            let client = &conn.client;
            // A panicking handler is a failed attempt, not a dead slot.
            let work = std::panic::AssertUnwindSafe(handler.work(&ctx, client)).catch_unwind();
            let beat = heartbeat(shared, client, &ctx, msg_id, cancel_tx);
            let mut stop = shared.shutdown.clone();
            let drain_deadline = async {
                let _ = stop.wait_for(|s| *s).await;
                tokio::time::sleep(shared.config.drain).await;
            };
            tokio::select! {
                r = work => match r.unwrap_or_else(|panic| Err(panicked(panic))) {
                    Ok(done) => Outcome::Complete(done),
                    Err(JobError::Canceled) => Outcome::Canceled,
                    Err(JobError::Permanent(e)) => Outcome::Failed(e),
                    Err(JobError::Transient(e)) if attempt >= max_attempts => Outcome::Dead(e),
                    Err(JobError::Transient(e)) => Outcome::Retry(e),
                },
                ended = beat => ended,
                _ = drain_deadline => Outcome::Released,
            }
        }
    };
    drop(permit);
    let label = outcome.label();
    let result = finish(shared, conn, &ctx, msg_id, outcome).await;
    // Work left on disk goes once the job's end is committed (or the job was superseded, an end
    // in itself); a retried or released job keeps it for the next attempt.
    if let (Ok(owned), Some(handler)) = (&result, shared.registry.get(&kind)) {
        if (*owned && matches!(label, "complete" | "failed" | "dead" | "canceled")) || label == "canceled" {
            handler.cleanup(job_id, &ctx.payload);
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.metrics.finished(&kind, label, started.elapsed());
    tracing::debug!(job_id, %kind, attempt, outcome = label, ms = started.elapsed().as_millis() as u64, "job finished");
    result.map(|_| true)
}

/// A handler's panic as a transient error: retried like any other failure, then dead.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> JobError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string());
    tracing::error!(%message, "job handler panicked");
    JobError::transient("panic", format!("the handler panicked: {message}"))
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
    /// Another worker owns the job now; this attempt writes nothing.
    TakenOver,
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
            Outcome::TakenOver => "taken_over",
        }
    }
}

/// How often a running job's cancel flag is read. Kept apart from the heartbeat (every
/// visibility timeout / 3) so that a cancel or a superseding change stops work within about
/// this long whatever the timeout.
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// Extends the message's visibility and watches the cancel flag; returns only on error.
async fn heartbeat(shared: &Shared, client: &Client, ctx: &JobContext, msg_id: i64, cancel: watch::Sender<bool>) -> Outcome {
    let vt = shared.config.visibility_timeout;
    let beat_every = vt / 3;
    let mut last_beat = Instant::now();
    let job_id = ctx.id;
    loop {
        tokio::time::sleep(CANCEL_POLL.min(beat_every)).await;
        let beat = last_beat.elapsed() >= beat_every;
        let row = client
            .query_opt(
                "SELECT cancel_requested, state = 'running' AND worker = $2 AND attempts = $3 FROM jitgen.jobs WHERE id = $1",
                &[&job_id, &ctx.worker, &ctx.attempt],
            )
            .await;
        match row {
            Err(e) => return Outcome::Lost(e),
            // A cancel or a supersede: the handler stops and the attempt ends as canceled.
            Ok(Some(r)) if r.get::<_, bool>(0) => {
                let _ = cancel.send(true);
            }
            Ok(Some(r)) if r.get::<_, bool>(1) => {}
            // Another worker took the job over (this one stalled past the visibility timeout):
            // stop working on it at once, so the job never runs twice at the same time.
            Ok(_) => return Outcome::TakenOver,
        }
        if beat {
            if let Err(e) = client.execute("UPDATE jitgen.jobs SET heartbeat_at = now() WHERE id = $1", &[&job_id]).await {
                return Outcome::Lost(e);
            }
            if let Err(e) = client.execute(&format!("SELECT pgmq.set_vt('{QUEUE}', $1::bigint, $2::int)"), &[&msg_id, &(vt.as_secs() as i32)]).await {
                return Outcome::Lost(e);
            }
            last_beat = Instant::now();
        }
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// Records the outcome, side effects and message fate in one transaction, sent as one
/// pipeline (a single round trip). Its first statement asserts that this worker still owns
/// the attempt; if not, every later statement fails and COMMIT rolls back.
async fn finish(shared: &Shared, conn: &mut Conn, ctx: &JobContext, msg_id: i64, outcome: Outcome) -> Result<bool, tokio_postgres::Error> {
    let mut batch: Vec<(Statement, Vec<Param>)> = Vec::new();
    macro_rules! push {
        ($sql:expr, [$($p:expr),* $(,)?]) => {{
            let stmt = conn.stmt($sql).await?;
            batch.push((stmt, vec![$(Box::new($p) as Param),*]));
        }};
    }
    push!(BEGIN, []);
    let outcome = match outcome {
        Outcome::Complete(done) => {
            // The hot path: effects, then one owned-completion statement.
            for effect in done.effects {
                let stmt = conn.stmt(effect.sql).await?;
                batch.push((stmt, effect.params));
            }
            push!(conn.complete_owned, [ctx.id, ctx.worker.clone(), ctx.attempt, done.result, msg_id]);
            push!(COMMIT, []);
            match run_pipeline(conn, &batch, ctx).await {
                // The database refused the job's writes (a constraint, a trigger, a missing
                // table): retrying cannot help, so the job fails with the reason instead of
                // coming back until it is buried.
                Err(e) if effects_refused(&e) => {
                    tracing::warn!(job_id = ctx.id, error = %describe(&e), "the job's writes were refused; job failed");
                    batch.clear();
                    push!(BEGIN, []);
                    Outcome::Failed(json!({"kind": "effects_failed", "message": describe(&e),
                                           "sqlstate": e.code().map(|c| c.code())}))
                }
                other => return other,
            }
        }
        other => other,
    };
    push!(ASSERT_OWNER, [ctx.id, ctx.worker.clone(), ctx.attempt]);
    let (attempt_outcome, error): (&str, Option<Value>) = match outcome {
        Outcome::Lost(e) => return Err(e),
        Outcome::TakenOver => {
            tracing::warn!(job_id = ctx.id, attempt = ctx.attempt, "job was taken over by another worker; this attempt stopped");
            return Ok(false);
        }
        Outcome::Complete(_) => unreachable!("handled above"),
        Outcome::Retry(e) => {
            let delay = shared.config.retry_delay(ctx.attempt).as_secs_f64();
            push!(RESCHEDULE, [ctx.id, e.clone(), delay]);
            push!(SET_VT_RUN_AFTER, [msg_id, ctx.id]);
            ("retry", Some(e))
        }
        Outcome::Released => {
            push!(RELEASE, [ctx.id]);
            push!(SET_VT_SECS, [msg_id, 0i32]);
            ("released", None)
        }
        Outcome::Failed(e) => {
            push!(END_STATE, [ctx.id, "failed", Some(e.clone())]);
            push!(ARCHIVE, [msg_id]);
            ("failed", Some(e))
        }
        Outcome::Dead(e) => {
            push!(END_STATE, [ctx.id, "dead", Some(e.clone())]);
            push!(ARCHIVE, [msg_id]);
            ("dead", Some(e))
        }
        Outcome::Canceled => {
            push!(END_STATE, [ctx.id, "canceled", None::<Value>]);
            push!(ARCHIVE, [msg_id]);
            ("canceled", None)
        }
    };
    // A released attempt is handed back unfinished and will be claimed again under its number.
    if attempt_outcome != "released" {
        push!(ATTEMPT_DONE, [ctx.id, ctx.attempt, attempt_outcome, error, ctx.worker.clone()]);
    }
    push!(COMMIT, []);
    run_pipeline(conn, &batch, ctx).await
}

/// Errors in a handler's statements that are about the statements or the data, not about the
/// connection, a conflict or a cancel: data exceptions, integrity violations, SQL or privilege
/// errors, and what a trigger raises.
fn effects_refused(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code().map(|c| c.code()) else { return false };
    ["22", "23", "42", "P0", "2B", "44"].iter().any(|class| code.starts_with(class))
}

/// Sends a whole transaction at once and waits for every result: one round trip. Ok(false)
/// when another worker had taken the job over (nothing was written).
async fn run_pipeline(conn: &Conn, batch: &[(Statement, Vec<Param>)], ctx: &JobContext) -> Result<bool, tokio_postgres::Error> {
    let client = &conn.client;
    let results = futures_util::future::join_all(batch.iter().map(|(stmt, params)| {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        async move { client.execute(stmt, &refs).await }
    }))
    .await;
    match results.into_iter().find_map(Result::err) {
        None => Ok(true),
        Some(e) if e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE) => {
            tracing::warn!(job_id = ctx.id, attempt = ctx.attempt, "job was taken over by another worker; this attempt's result is dropped");
            Ok(false)
        }
        Some(e) => Err(e),
    }
}
