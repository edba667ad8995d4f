//! Library half of the sidecar: database connections, adapter storage, upload policy, node
//! notification and the artifact sweeper, shared by the `jitgen` binary and the end-to-end tests.

pub mod db;
pub mod notify;
pub mod storage;
pub mod sweeper;
pub mod tls;
pub mod upload;

use std::sync::atomic::Ordering;

/// Prometheus text for the delivery counters, appended to the worker's `/metrics`.
pub fn render_metrics() -> String {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    out.push_str("# HELP jitgen_adapter_notifications_total adapter_ready publishes by outcome (delivered = PUBACKed).\n");
    out.push_str("# TYPE jitgen_adapter_notifications_total counter\n");
    out.push_str(&format!("jitgen_adapter_notifications_total{{outcome=\"delivered\"}} {}\n", n(&notify::TOTALS.delivered)));
    out.push_str(&format!("jitgen_adapter_notifications_total{{outcome=\"failed\"}} {}\n", n(&notify::TOTALS.failed)));
    out.push_str("# HELP jitgen_adapter_sweeps_total Adapter objects handled by the sweeper by outcome.\n");
    out.push_str("# TYPE jitgen_adapter_sweeps_total counter\n");
    out.push_str(&format!("jitgen_adapter_sweeps_total{{outcome=\"deleted\"}} {}\n", n(&sweeper::DELETED_TOTAL)));
    out.push_str(&format!("jitgen_adapter_sweeps_total{{outcome=\"failed\"}} {}\n", n(&sweeper::FAILED_TOTAL)));
    out
}
