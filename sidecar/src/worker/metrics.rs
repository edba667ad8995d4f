//! `/metrics` (Prometheus, from prometheus-client: jobs finished per kind and outcome, and
//! histograms of job duration, queue wait and LLM latency per kind), liveness for `/health`
//! and readiness for `/ready`, served by axum like every other endpoint of the sidecar.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindOutcome {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotState {
    state: String,
}

fn histogram_family() -> Family<KindLabel, Histogram> {
    // 5 ms … ~20 min: a queue hop to an adapter's training.
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.5, 15)))
}

/// LLM call latency per kind (the job kind or SQL function that made the call), observed by
/// the sidecar's LLM client wherever it is called from.
pub fn llm_latency() -> &'static Family<KindLabel, Histogram> {
    static LLM: OnceLock<Family<KindLabel, Histogram>> = OnceLock::new();
    LLM.get_or_init(histogram_family)
}

struct Families {
    registry: Registry,
    finished: Family<KindOutcome, Counter>,
    durations: Family<KindLabel, Histogram>,
    queue_wait: Family<KindLabel, Histogram>,
    connects: Counter,
    slots: Family<SlotState, Gauge>,
    slot_panics: Counter,
}

impl Default for Families {
    fn default() -> Self {
        let mut registry = Registry::default();
        let finished = Family::<KindOutcome, Counter>::default();
        let durations = histogram_family();
        let queue_wait = histogram_family();
        let connects = Counter::default();
        let slots = Family::<SlotState, Gauge>::default();
        let slot_panics = Counter::default();
        registry.register("jitgen_jobs_finished", "Jobs finished by this worker, by kind and outcome", finished.clone());
        registry.register("jitgen_job_duration_seconds", "Time spent per job attempt", durations.clone());
        registry.register("jitgen_queue_wait_seconds", "From a job being due to a worker starting it", queue_wait.clone());
        registry.register("jitgen_llm_latency_seconds", "LLM calls made by this worker, by kind", llm_latency().clone());
        registry.register("jitgen_db_connects", "Database connections opened", connects.clone());
        registry.register("jitgen_worker_slots", "Worker slots running, and configured", slots.clone());
        registry.register("jitgen_slot_panics", "Slot tasks that panicked outside a handler and were restarted", slot_panics.clone());
        Families { registry, finished, durations, queue_wait, connects, slots, slot_panics }
    }
}

#[derive(Default)]
struct Inner {
    families: Families,
    /// The last time a statement of this worker reached the database (its heartbeat row is
    /// written every quarter of `db_stale`, idle or busy).
    last_db_ok: Option<Instant>,
    slots_expected: usize,
    db_stale: Duration,
    slots_alive: usize,
    draining: bool,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

impl Metrics {
    pub fn clone_handle(&self) -> Metrics {
        self.clone()
    }

    pub fn connected(&self) {
        self.0.lock().unwrap().families.connects.inc();
    }

    pub fn db_ok(&self) {
        self.0.lock().unwrap().last_db_ok = Some(Instant::now());
    }

    pub fn configure(&self, slots: usize, db_stale: Duration) {
        let mut m = self.0.lock().unwrap();
        m.slots_expected = slots;
        m.db_stale = db_stale;
    }

    /// Counts a running slot until the returned guard drops (its task ended or panicked).
    pub fn slot_alive(&self) -> SlotAlive {
        self.0.lock().unwrap().slots_alive += 1;
        SlotAlive(self.clone())
    }

    pub fn slot_panicked(&self) {
        self.0.lock().unwrap().families.slot_panics.inc();
    }

    pub fn draining(&self) {
        self.0.lock().unwrap().draining = true;
    }

    pub fn finished(&self, kind: &str, outcome: &str, took: Duration) {
        let m = self.0.lock().unwrap();
        m.families.finished.get_or_create(&KindOutcome { kind: kind.to_string(), outcome: outcome.to_string() }).inc();
        m.families.durations.get_or_create(&KindLabel { kind: kind.to_string() }).observe(took.as_secs_f64());
    }

    /// How long a job waited between being due and a worker starting it.
    pub fn waited(&self, kind: &str, seconds: f64) {
        let m = self.0.lock().unwrap();
        m.families.queue_wait.get_or_create(&KindLabel { kind: kind.to_string() }).observe(seconds.max(0.0));
    }

    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap();
        let slots = |state: &str, n: usize| m.families.slots.get_or_create(&SlotState { state: state.to_string() }).set(n as i64);
        slots("alive", m.slots_alive);
        slots("configured", m.slots_expected);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &m.families.registry).is_err() {
            out.clear();
        }
        // The delivery counters of the library, before the OpenMetrics end marker.
        let body = out.strip_suffix("# EOF\n").unwrap_or(&out).to_string();
        format!("{body}{}# EOF\n", jitgen_sidecar::render_metrics())
    }

    /// Why the worker is not healthy, if it is not: the database has not answered its
    /// heartbeat for `JITGEN_HEALTH_STALE_SECS`, or a slot is gone. Idle time and a long
    /// training job do not count.
    pub fn unhealthy(&self) -> Option<String> {
        let m = self.0.lock().unwrap();
        // A draining worker stops its heartbeat but is alive until it exits.
        if m.draining {
            return None;
        }
        if m.last_db_ok.is_none_or(|t| t.elapsed() >= m.db_stale) {
            return Some(format!("database unreachable for more than {} s\n", m.db_stale.as_secs()));
        }
        if m.slots_alive < m.slots_expected {
            return Some(format!("{} of {} slots running\n", m.slots_alive, m.slots_expected));
        }
        None
    }

    /// Why the worker does not take jobs now, if it does not: unhealthy, or draining.
    pub fn not_ready(&self) -> Option<String> {
        if let Some(why) = self.unhealthy() {
            return Some(why);
        }
        self.0.lock().unwrap().draining.then(|| "draining: taking no new jobs\n".to_string())
    }
}

pub struct SlotAlive(Metrics);

impl Drop for SlotAlive {
    fn drop(&mut self) {
        self.0 .0.lock().unwrap().slots_alive -= 1;
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// GET /metrics, /health (liveness) and /ready. It serves until the process exits: a draining
/// worker still answers (/ready with 503).
pub async fn serve(addr: SocketAddr, metrics: Metrics) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "metrics endpoint disabled: cannot bind");
            return;
        }
    };
    tracing::info!(%addr, "serving /metrics, /health and /ready");
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Metrics>| async move {
                ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.render()).into_response()
            }),
        )
        .route(
            "/health",
            get(|State(m): State<Metrics>| async move {
                match m.unhealthy() {
                    None => text(StatusCode::OK, "ok\n".into()),
                    Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
                }
            }),
        )
        .route(
            "/ready",
            get(|State(m): State<Metrics>| async move {
                match m.not_ready() {
                    None => text(StatusCode::OK, "ready\n".into()),
                    Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
                }
            }),
        )
        .fallback(|| async { text(StatusCode::NOT_FOUND, "try /metrics, /health or /ready\n".into()) })
        .with_state(metrics);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "metrics endpoint stopped");
    }
}
