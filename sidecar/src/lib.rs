//! Library half of the sidecar: database connections, adapter storage, upload policy, node
//! notification and the artifact sweeper, shared by the `jitgen` binary and the end-to-end tests.

pub mod db;
pub mod jit_runtime;
pub mod notify;
pub mod sandbox;
pub mod storage;
pub mod sweeper;
pub mod tls;
pub mod upload;

use std::sync::atomic::Ordering;

/// What adapter.train jobs did in this process: trained, uploaded a tar cached by an earlier
/// attempt, or re-presigned an object an earlier job had stored. Tests read them to prove that
/// a recovery did not retrain.
pub static ADAPTER_TRAINED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static ADAPTER_FROM_CACHE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static ADAPTER_REPUBLISHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
    out.push_str("# HELP jitgen_adapter_work_total adapter.train attempts by what they did.\n");
    out.push_str("# TYPE jitgen_adapter_work_total counter\n");
    out.push_str(&format!("jitgen_adapter_work_total{{what=\"trained\"}} {}\n", n(&ADAPTER_TRAINED)));
    out.push_str(&format!("jitgen_adapter_work_total{{what=\"from_cache\"}} {}\n", n(&ADAPTER_FROM_CACHE)));
    out.push_str(&format!("jitgen_adapter_work_total{{what=\"republished\"}} {}\n", n(&ADAPTER_REPUBLISHED)));
    out
}
