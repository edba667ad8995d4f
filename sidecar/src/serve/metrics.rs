//! `jitgen serve`'s Prometheus metrics (prometheus-client): per adapter (the node id, or
//! `base`) cache hits and misses, load latency, generated tokens and decode time.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdapterLabel {
    pub adapter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    pub adapter: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

pub struct ServeMetrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    pub cache_hits: Family<AdapterLabel, Counter>,
    pub cache_misses: Family<AdapterLabel, Counter>,
    pub evictions: Counter,
    pub rejected: Family<RejectLabel, Counter>,
    pub load_seconds: Family<AdapterLabel, Histogram>,
    pub generated_tokens: Family<AdapterLabel, Counter>,
    pub decode_seconds: Family<AdapterLabel, Counter<f64, AtomicU64>>,
    pub tokens_per_second: Family<AdapterLabel, Gauge<f64, AtomicU64>>,
    pub waiting: Gauge,
    pub busy_rejections: Counter,
    pub cached_adapters: Gauge,
    pub running: Gauge,
    pub running_peak: Gauge,
}

fn load_histogram() -> Histogram {
    // 5 ms to ~20 s: a cached-on-disk load is tens of ms, a fetch from S3 up to seconds.
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

impl ServeMetrics {
    pub fn new() -> ServeMetrics {
        let mut registry = Registry::with_prefix("jitgen_serve");
        let m = ServeMetrics {
            requests: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            evictions: Counter::default(),
            rejected: Family::default(),
            load_seconds: Family::new_with_constructor(load_histogram),
            generated_tokens: Family::default(),
            decode_seconds: Family::default(),
            tokens_per_second: Family::default(),
            waiting: Gauge::default(),
            busy_rejections: Counter::default(),
            cached_adapters: Gauge::default(),
            running: Gauge::default(),
            running_peak: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("requests", "Chat completion requests by HTTP status", m.requests.clone());
        registry.register("adapter_cache_hits", "Requests whose adapter was already loaded", m.cache_hits.clone());
        registry.register("adapter_cache_misses", "Requests that had to load their adapter", m.cache_misses.clone());
        registry.register("adapter_evictions", "Adapters dropped from the LRU cache", m.evictions.clone());
        registry.register("adapter_rejected", "Adapters refused (sha256 mismatch, unreadable files)", m.rejected.clone());
        registry.register("adapter_load_seconds", "Fetch, verify and load time of an adapter", m.load_seconds.clone());
        registry.register("generated_tokens", "Completion tokens generated", m.generated_tokens.clone());
        registry.register("decode_seconds", "Time spent decoding completion tokens", m.decode_seconds.clone());
        registry.register("tokens_per_second", "Decode speed of the latest request", m.tokens_per_second.clone());
        registry.register("queue_waiting", "Requests waiting for a generation slot", m.waiting.clone());
        registry.register("busy_rejections", "Requests refused with 503 because the queue was full", m.busy_rejections.clone());
        registry.register("cached_adapters", "Adapters loaded in memory", m.cached_adapters.clone());
        registry.register("running", "Generations running now", m.running.clone());
        registry.register("running_peak", "Most generations ever running at once", m.running_peak.clone());
        ServeMetrics { registry, ..m }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn label(adapter: &str) -> AdapterLabel {
        AdapterLabel { adapter: adapter.to_string() }
    }
}
