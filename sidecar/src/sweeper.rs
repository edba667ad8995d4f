//! Deletes adapter objects once they are no longer needed: the node confirmed the download, or
//! the presigned URL expired (nobody can fetch the object any more).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::db;
use crate::storage::ArtifactStore;

/// Process-wide totals for `/metrics`: objects deleted, deletions left for a later round.
pub static DELETED_TOTAL: AtomicU64 = AtomicU64::new(0);
pub static FAILED_TOTAL: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    pub deleted: u64,
    /// Left for the next round (transient or permanent storage errors).
    pub failed: u64,
}

/// `JITGEN_SWEEP_INTERVAL_S`, default 300.
pub fn interval_from_env() -> anyhow::Result<Duration> {
    match std::env::var("JITGEN_SWEEP_INTERVAL_S") {
        Ok(v) if !v.trim().is_empty() => {
            Ok(Duration::from_secs(v.trim().parse::<u64>().with_context(|| format!("JITGEN_SWEEP_INTERVAL_S={v:?}"))?.max(1)))
        }
        _ => Ok(Duration::from_secs(300)),
    }
}

/// One pass over the artifacts due for deletion.
pub async fn sweep_once(db: &Client, store: &ArtifactStore) -> anyhow::Result<SweepStats> {
    let rows = db
        .query(
            "SELECT job_id, object_key FROM jitgen.adapter_artifacts
             WHERE deleted_at IS NULL AND (downloaded_at IS NOT NULL OR url_expires_at < now())
             ORDER BY job_id",
            &[],
        )
        .await
        .context("select artifacts due for deletion")?;
    let mut stats = SweepStats::default();
    for row in rows {
        let job_id: i64 = row.get(0);
        let key: String = row.get(1);
        // delete() treats a missing object as deleted, so a row whose object vanished is closed too.
        match store.delete(&key).await {
            Ok(()) => {
                db.execute("UPDATE jitgen.adapter_artifacts SET deleted_at = now() WHERE job_id = $1", &[&job_id])
                    .await
                    .with_context(|| format!("mark artifact of job {job_id} deleted"))?;
                stats.deleted += 1;
            }
            Err(e) => {
                tracing::warn!(job_id, key, error = %e, "cannot delete adapter object; next round retries");
                stats.failed += 1;
            }
        }
    }
    Ok(stats)
}

/// Sweeps every `interval` until `shutdown` turns true.
pub async fn run_sweeper(db_url: String, store: Arc<ArtifactStore>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        match db::connect_spawned(&db_url, "sweeper").await {
            Ok(client) => {
                let r = sweep_once(&client, &store).await;
                if let Ok(s) = &r {
                    DELETED_TOTAL.fetch_add(s.deleted, Ordering::Relaxed);
                    FAILED_TOTAL.fetch_add(s.failed, Ordering::Relaxed);
                }
                match r {
                    Ok(s) if s.deleted + s.failed > 0 => tracing::info!(deleted = s.deleted, failed = s.failed, "artifact sweep"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "artifact sweep failed"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeper cannot connect to the database"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
