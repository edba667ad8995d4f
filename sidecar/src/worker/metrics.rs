//! Counters for `/metrics` (Prometheus text format) and liveness for `/health`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Default)]
struct Inner {
    /// (kind, outcome) → count
    finished: BTreeMap<(String, String), u64>,
    /// kind → (sum of seconds, count)
    durations: BTreeMap<String, (f64, u64)>,
    last_connected: Option<Instant>,
    connects: u64,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

impl Metrics {
    pub fn clone_handle(&self) -> Metrics {
        self.clone()
    }

    pub fn connected(&self) {
        let mut m = self.0.lock().unwrap();
        m.last_connected = Some(Instant::now());
        m.connects += 1;
    }

    pub fn finished(&self, kind: &str, outcome: &str, took: Duration) {
        let mut m = self.0.lock().unwrap();
        *m.finished.entry((kind.to_string(), outcome.to_string())).or_default() += 1;
        let d = m.durations.entry(kind.to_string()).or_default();
        d.0 += took.as_secs_f64();
        d.1 += 1;
        m.last_connected = Some(Instant::now());
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
        out.push_str(&jitgen_sidecar::render_metrics());
        out
    }

    /// Healthy when the database was reachable in the last minute.
    pub fn healthy(&self) -> bool {
        self.0.lock().unwrap().last_connected.is_some_and(|t| t.elapsed() < Duration::from_secs(60))
    }
}

/// A deliberately small HTTP/1.1 server: GET /metrics and GET /health only.
pub async fn serve(addr: SocketAddr, metrics: Metrics, mut shutdown: watch::Receiver<bool>) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "metrics endpoint disabled: cannot bind");
            return;
        }
    };
    tracing::info!(%addr, "serving /metrics and /health");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut socket, _)) = accepted else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]);
                    let path = request.split_whitespace().nth(1).unwrap_or("/");
                    let (status, body) = match path {
                        "/metrics" => ("200 OK", metrics.render()),
                        "/health" if metrics.healthy() => ("200 OK", "ok\n".to_string()),
                        "/health" => ("503 Service Unavailable", "database unreachable\n".to_string()),
                        _ => ("404 Not Found", "try /metrics or /health\n".to_string()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
