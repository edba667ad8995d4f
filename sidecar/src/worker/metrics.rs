//! Counters for `/metrics` (Prometheus text format), liveness for `/health` and readiness for
//! `/ready`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct Inner {
    /// (kind, outcome) → count
    finished: BTreeMap<(String, String), u64>,
    /// kind → (sum of seconds, count)
    durations: BTreeMap<String, (f64, u64)>,
    /// The last time a statement of this worker reached the database (its heartbeat row is
    /// written every quarter of `db_stale`, idle or busy).
    last_db_ok: Option<Instant>,
    connects: u64,
    slots_expected: usize,
    db_stale: Duration,
    slots_alive: usize,
    slot_panics: u64,
    draining: bool,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

impl Metrics {
    pub fn clone_handle(&self) -> Metrics {
        self.clone()
    }

    pub fn connected(&self) {
        self.0.lock().unwrap().connects += 1;
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
        self.0.lock().unwrap().slot_panics += 1;
    }

    pub fn draining(&self) {
        self.0.lock().unwrap().draining = true;
    }

    pub fn finished(&self, kind: &str, outcome: &str, took: Duration) {
        let mut m = self.0.lock().unwrap();
        *m.finished.entry((kind.to_string(), outcome.to_string())).or_default() += 1;
        let d = m.durations.entry(kind.to_string()).or_default();
        d.0 += took.as_secs_f64();
        d.1 += 1;
    }

    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap();
        let mut out = String::new();
        out.push_str("# HELP jitgen_jobs_finished_total Jobs finished by this worker, by kind and outcome.\n");
        out.push_str("# TYPE jitgen_jobs_finished_total counter\n");
        for ((kind, outcome), n) in &m.finished {
            out.push_str(&format!("jitgen_jobs_finished_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}\n"));
        }
        out.push_str("# HELP jitgen_job_duration_seconds Time spent per job attempt.\n");
        out.push_str("# TYPE jitgen_job_duration_seconds summary\n");
        for (kind, (sum, count)) in &m.durations {
            out.push_str(&format!("jitgen_job_duration_seconds_sum{{kind=\"{kind}\"}} {sum}\n"));
            out.push_str(&format!("jitgen_job_duration_seconds_count{{kind=\"{kind}\"}} {count}\n"));
        }
        out.push_str("# HELP jitgen_db_connects_total Database connections opened.\n");
        out.push_str("# TYPE jitgen_db_connects_total counter\n");
        out.push_str(&format!("jitgen_db_connects_total {}\n", m.connects));
        out.push_str("# HELP jitgen_worker_slots Worker slots running, and configured.\n");
        out.push_str("# TYPE jitgen_worker_slots gauge\n");
        out.push_str(&format!("jitgen_worker_slots{{state=\"alive\"}} {}\n", m.slots_alive));
        out.push_str(&format!("jitgen_worker_slots{{state=\"configured\"}} {}\n", m.slots_expected));
        out.push_str("# HELP jitgen_slot_panics_total Slot tasks that panicked outside a handler and were restarted.\n");
        out.push_str("# TYPE jitgen_slot_panics_total counter\n");
        out.push_str(&format!("jitgen_slot_panics_total {}\n", m.slot_panics));
        out.push_str(&jitgen_sidecar::render_metrics());
        out
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

/// A deliberately small HTTP/1.1 server: GET /metrics, /health (liveness) and /ready. It
/// serves until the process exits: a draining worker still answers (/ready with 503).
pub async fn serve(addr: SocketAddr, metrics: Metrics) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "metrics endpoint disabled: cannot bind");
            return;
        }
    };
    tracing::info!(%addr, "serving /metrics, /health and /ready");
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/health" => match metrics.unhealthy() {
                    None => ("200 OK", "ok\n".to_string()),
                    Some(why) => ("503 Service Unavailable", why),
                },
                "/ready" => match metrics.not_ready() {
                    None => ("200 OK", "ready\n".to_string()),
                    Some(why) => ("503 Service Unavailable", why),
                },
                _ => ("404 Not Found", "try /metrics, /health or /ready\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}
