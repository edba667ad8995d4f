//! Upload of a cached adapter tar with the retry policy of the design: keep the file on local
//! disk, retry transient failures on a fixed period, give up after a bound (never in dev).
//! Retraining on give-up is the caller's decision, never made here.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use crate::storage::{ArtifactMeta, ArtifactStore, StorageError};

#[derive(Clone, Debug)]
pub struct UploadPolicy {
    /// `JITGEN_UPLOAD_RETRY_S`, default 300.
    pub retry_every: Duration,
    /// `JITGEN_UPLOAD_GIVE_UP_S`, default 3600.
    pub give_up_after: Duration,
    /// `JITGEN_ENV=dev`: keep the cached file forever and never give up.
    pub dev: bool,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        UploadPolicy { retry_every: Duration::from_secs(300), give_up_after: Duration::from_secs(3600), dev: false }
    }
}

impl UploadPolicy {
    pub fn from_env() -> anyhow::Result<UploadPolicy> {
        let secs = |name: &str, default: u64| -> anyhow::Result<Duration> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    Ok(Duration::from_secs(v.trim().parse().with_context(|| format!("{name}={v:?}"))?))
                }
                _ => Ok(Duration::from_secs(default)),
            }
        };
        Ok(UploadPolicy {
            retry_every: secs("JITGEN_UPLOAD_RETRY_S", 300)?,
            give_up_after: secs("JITGEN_UPLOAD_GIVE_UP_S", 3600)?,
            dev: std::env::var("JITGEN_ENV").is_ok_and(|v| v.trim() == "dev"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOutcome {
    pub attempts: u32,
}

#[derive(Debug)]
pub enum UploadError {
    /// Transient failures lasted past `give_up_after`; the cached file was deleted unless dev.
    GaveUp { attempts: u32, last: StorageError },
    /// A failure waiting cannot fix (credentials, bad request); the cached file is kept.
    Permanent(StorageError),
    /// Shutdown began; the cached file is kept for the next run.
    Cancelled { attempts: u32 },
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::GaveUp { attempts, last } => write!(f, "upload gave up after {attempts} attempts: {last}"),
            UploadError::Permanent(e) => write!(f, "upload failed: {e}"),
            UploadError::Cancelled { attempts } => write!(f, "upload cancelled after {attempts} attempts"),
        }
    }
}

impl std::error::Error for UploadError {}

pub async fn upload_with_retry(
    store: &ArtifactStore,
    cached_tar: &Path,
    key: &str,
    meta: &ArtifactMeta,
    policy: &UploadPolicy,
    mut cancel: watch::Receiver<bool>,
    mut on_wait: impl FnMut(u32, &StorageError),
) -> Result<UploadOutcome, UploadError> {
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        let cancelled = *cancel.borrow();
        if cancelled {
            return Err(UploadError::Cancelled { attempts });
        }
        attempts += 1;
        let err = match store.put_file(key, cached_tar, meta).await {
            Ok(()) => return Ok(UploadOutcome { attempts }),
            Err(e) if !e.is_transient() => return Err(UploadError::Permanent(e)),
            Err(e) => e,
        };
        if !policy.dev && started.elapsed() + policy.retry_every > policy.give_up_after {
            // The bound on local disk use: outside dev the cache may not grow with outages.
            if let Err(rm) = std::fs::remove_file(cached_tar) {
                tracing::warn!(path = %cached_tar.display(), error = %rm, "cannot delete the cached adapter");
            }
            return Err(UploadError::GaveUp { attempts, last: err });
        }
        tracing::warn!(key, attempts, error = %err, retry_in_ms = policy.retry_every.as_millis() as u64, "adapter upload failed; will retry");
        on_wait(attempts, &err);
        tokio::select! {
            _ = tokio::time::sleep(policy.retry_every) => {}
            cancelled = async { cancel.wait_for(|c| *c).await.is_ok() } => {
                // A dropped sender means nobody can cancel any more: finish the wait instead.
                if cancelled { return Err(UploadError::Cancelled { attempts }); }
                tokio::time::sleep(policy.retry_every).await;
            }
        }
    }
}
