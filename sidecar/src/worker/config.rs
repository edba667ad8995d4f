//! Worker settings from the environment, with defaults that make the local demo work.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// Concurrent jobs across all kinds (`JITGEN_WORKERS`, default 4).
    pub slots: usize,
    /// Per-kind caps (`JITGEN_KIND_CONCURRENCY="adapter.train=1,echo=8"`).
    pub kind_limits: HashMap<String, usize>,
    /// pgmq visibility timeout; a job's message reappears this long after its worker stops
    /// heartbeating (`JITGEN_VT_SECS`, default 30).
    pub visibility_timeout: Duration,
    /// Timed poll that backs up LISTEN (`JITGEN_POLL_MS`, default 1000).
    pub poll_interval: Duration,
    /// `JITGEN_LISTEN=false` disables LISTEN/NOTIFY (poll only).
    pub listen: bool,
    /// Retry delay = min(max, base × 2^(attempt−1)) × jitter in [0.8, 1.2]
    /// (`JITGEN_RETRY_BASE_MS` 1000, `JITGEN_RETRY_MAX_MS` 300000).
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// /health turns 503 when the database has not answered the worker's heartbeat for this
    /// long (`JITGEN_HEALTH_STALE_SECS`, 20); the heartbeat runs every quarter of it, at most 5 s.
    pub health_stale: Duration,
    /// How long SIGTERM waits for running jobs before releasing them (`JITGEN_DRAIN_SECS`, 30).
    pub drain: Duration,
    /// `/metrics` and `/health` (`JITGEN_METRICS_ADDR`, default 127.0.0.1:9187, `off` disables).
    pub metrics_addr: Option<SocketAddr>,
    /// Where active JIT handlers are served to jitgen.invoke (`JITGEN_JIT_LISTEN`, default
    /// 127.0.0.1:8091, `off` disables), with `JITGEN_JIT_TOKEN` and a per-run budget
    /// (`JITGEN_JIT_TIMEOUT_MS`, 2000).
    pub jit_addr: Option<SocketAddr>,
    pub jit_token: String,
    pub jit_budget: Duration,
    /// How often the oracle is evaluated (`JITGEN_ORACLE_INTERVAL_S`, 60; 0 disables).
    pub oracle_interval: Option<Duration>,
}

pub(crate) fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}"))
        }
        _ => Ok(default),
    }
}

pub fn parse_kind_limits(text: &str) -> anyhow::Result<HashMap<String, usize>> {
    let mut limits = HashMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((kind, n)) = part.split_once('=') else { bail!("expected kind=N, got {part:?}") };
        let n: usize = n.trim().parse().with_context(|| format!("limit of {kind:?}"))?;
        if n == 0 {
            bail!("limit of {kind:?} must be at least 1");
        }
        limits.insert(kind.trim().to_string(), n);
    }
    Ok(limits)
}

impl WorkerConfig {
    pub fn from_env() -> anyhow::Result<WorkerConfig> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
        let worker_id = std::env::var("JITGEN_WORKER_ID").unwrap_or_else(|_| format!("{hostname}-{}", std::process::id()));
        let slots: usize = env_parse("JITGEN_WORKERS", 4)?;
        if slots == 0 {
            bail!("JITGEN_WORKERS must be at least 1");
        }
        let mut kind_limits = parse_kind_limits(&std::env::var("JITGEN_KIND_CONCURRENCY").unwrap_or_default())?;
        // Training saturates the machine: one at a time unless said otherwise.
        kind_limits.entry("adapter.train".into()).or_insert(1);
        let metrics_addr = match std::env::var("JITGEN_METRICS_ADDR").unwrap_or_else(|_| "127.0.0.1:9187".into()) {
            v if v == "off" => None,
            v => Some(v.parse().with_context(|| format!("JITGEN_METRICS_ADDR={v:?}"))?),
        };
        let jit_addr = match std::env::var("JITGEN_JIT_LISTEN").unwrap_or_else(|_| "127.0.0.1:8091".into()) {
            v if v == "off" => None,
            v => Some(v.parse().with_context(|| format!("JITGEN_JIT_LISTEN={v:?}"))?),
        };
        let jit_token = std::env::var("JITGEN_JIT_TOKEN").ok().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "jitgen-local".into());
        let oracle_secs: u64 = env_parse("JITGEN_ORACLE_INTERVAL_S", 60)?;
        let vt: u64 = env_parse("JITGEN_VT_SECS", 30)?;
        if !(1..=86_400).contains(&vt) {
            bail!("JITGEN_VT_SECS must be between 1 and 86400 (a day), got {vt}");
        }
        Ok(WorkerConfig {
            worker_id,
            slots,
            kind_limits,
            visibility_timeout: Duration::from_secs(vt.max(1)),
            poll_interval: Duration::from_millis(env_parse("JITGEN_POLL_MS", 1000)?),
            listen: env_parse("JITGEN_LISTEN", true)?,
            retry_base: Duration::from_millis(env_parse("JITGEN_RETRY_BASE_MS", 1000)?),
            retry_max: Duration::from_millis(env_parse("JITGEN_RETRY_MAX_MS", 300_000)?),
            drain: Duration::from_secs(env_parse("JITGEN_DRAIN_SECS", 30)?),
            health_stale: Duration::from_secs(env_parse::<u64>("JITGEN_HEALTH_STALE_SECS", 20)?.max(1)),
            metrics_addr,
            jit_addr,
            jit_token,
            jit_budget: Duration::from_millis(env_parse::<u64>("JITGEN_JIT_TIMEOUT_MS", 2000)?.max(1)),
            oracle_interval: (oracle_secs > 0).then(|| Duration::from_secs(oracle_secs)),
        })
    }

    /// Delay before attempt `attempt + 1`, after `attempt` failed.
    pub fn retry_delay(&self, attempt: i32) -> Duration {
        let exp = attempt.clamp(1, 30) as u32 - 1;
        let raw = self.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(self.retry_max);
        raw.mul_f64(0.8 + 0.4 * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_limits_parse() {
        let l = parse_kind_limits("echo=8, adapter.train=1").unwrap();
        assert_eq!(l["echo"], 8);
        assert_eq!(l["adapter.train"], 1);
        assert!(parse_kind_limits("echo").is_err());
        assert!(parse_kind_limits("echo=0").is_err());
        assert!(parse_kind_limits("").unwrap().is_empty());
    }

    #[test]
    fn retry_delay_is_capped_exponential_with_jitter() {
        let mut c = WorkerConfig::from_env().unwrap();
        c.retry_base = Duration::from_millis(100);
        c.retry_max = Duration::from_millis(1000);
        for attempt in 1..=8 {
            let expected = (100.0 * 2f64.powi(attempt - 1)).min(1000.0);
            for _ in 0..50 {
                let d = c.retry_delay(attempt).as_secs_f64() * 1000.0;
                assert!(d >= expected * 0.8 - 1e-6 && d <= expected * 1.2 + 1e-6, "attempt {attempt}: {d}");
            }
        }
    }
}
