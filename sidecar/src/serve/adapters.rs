//! Per-node adapters for `jitgen serve`: the newest artifact of the node on the served base
//! (`jitgen.adapter_artifacts`), fetched from storage once, its sha256 checked, kept on disk by
//! hash and in memory in an LRU of `JITGEN_SERVE_ADAPTERS` entries.
//!
//! The node's newest artifact is looked up on every request (one indexed query), so a new
//! adapter replaces the old one at once. The disk copy outlives the sweeper's deletion of the
//! object from storage; an adapter that was never fetched before deletion is gone (404).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jitgen_sidecar::db::Target;
use jitgen_sidecar::storage::{ArtifactStore, ADAPTER_FILES};
use jitgen_trainer::adapter::Adapter;
use jitgen_trainer::serve::Engine;
use sha2::{Digest, Sha256};

use super::metrics::{RejectLabel, ServeMetrics};

#[derive(Debug)]
pub enum AdapterError {
    /// No artifact for the node on this base (or the node is not visible to serve's role).
    NotFound(String),
    /// The artifact's bytes are gone from storage and were never cached here.
    Gone(String),
    /// The bytes do not match the recorded sha256, or the files do not load.
    Rejected(String),
    /// Database or storage unreachable: try again later.
    Unavailable(String),
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterError::NotFound(m) | AdapterError::Gone(m) | AdapterError::Rejected(m) | AdapterError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// One node's published adapter, as the database records it.
#[derive(Clone, Debug)]
pub struct ArtifactRow {
    pub job_id: i64,
    pub sha256: String,
    pub object_key: String,
    pub deleted: bool,
}

pub struct LoadedAdapter {
    pub node_id: String,
    pub job_id: i64,
    pub sha256: String,
    pub adapter: Adapter,
}

struct Entry {
    loaded: Arc<LoadedAdapter>,
    last_used: u64,
}

pub struct AdapterCache {
    target: Option<Target>,
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
    store: Option<Arc<ArtifactStore>>,
    base_model_id: String,
    disk: PathBuf,
    capacity: usize,
    entries: Mutex<(Vec<Entry>, u64)>,
    // One load at a time: loads are rare, and two requests for the same new adapter then load it once.
    loading: tokio::sync::Mutex<()>,
}

const NEWEST_ARTIFACT: &str = "SELECT job_id, sha256, object_key, deleted_at IS NOT NULL \
    FROM jitgen.adapter_artifacts WHERE node_id = $1 AND base_model_id = $2 \
    ORDER BY created_at DESC, job_id DESC LIMIT 1";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Unpacks the adapter tar into `dir`, taking only the known file names (nothing with a path).
fn unpack(bytes: &[u8], dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().map_err(|e| format!("read the adapter tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("read the adapter tar: {e}"))?;
        let name = entry.path().map_err(|e| format!("adapter tar entry: {e}"))?.to_string_lossy().to_string();
        if !ADAPTER_FILES.contains(&name.as_str()) {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| format!("read {name} from the adapter tar: {e}"))?;
        std::fs::write(dir.join(&name), data).map_err(|e| format!("write {name}: {e}"))?;
    }
    Ok(())
}

impl AdapterCache {
    pub fn new(target: Option<Target>, store: Option<Arc<ArtifactStore>>, base_model_id: String, disk: PathBuf, capacity: usize) -> AdapterCache {
        AdapterCache {
            target,
            client: tokio::sync::Mutex::new(None),
            store,
            base_model_id,
            disk,
            capacity: capacity.max(1),
            entries: Mutex::new((Vec::new(), 0)),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Node ids of the adapters now in memory, most recently used first.
    pub fn cached(&self) -> Vec<String> {
        let guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<&Entry> = guard.0.iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.last_used));
        v.into_iter().map(|e| e.loaded.node_id.clone()).collect()
    }

    async fn newest_artifact(&self, node_id: &str) -> Result<Option<ArtifactRow>, AdapterError> {
        let target = self.target.as_ref().ok_or_else(|| {
            AdapterError::NotFound(format!("no adapter for node {node_id:?}: jitgen serve runs without a database (set DATABASE_URL)"))
        })?;
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            *client = Some(target.connect_spawned("serve").await.map_err(|e| AdapterError::Unavailable(format!("database: {e}")))?);
        }
        let Some(c) = client.as_ref() else { return Err(AdapterError::Unavailable("database: not connected".into())) };
        let rows = match c.query(NEWEST_ARTIFACT, &[&node_id, &self.base_model_id]).await {
            Ok(rows) => rows,
            Err(e) => {
                // A broken connection is replaced on the next request.
                if c.is_closed() {
                    *client = None;
                }
                return Err(AdapterError::Unavailable(format!("database: {e}")));
            }
        };
        Ok(rows.first().map(|r| ArtifactRow { job_id: r.get(0), sha256: r.get(1), object_key: r.get(2), deleted: r.get(3) }))
    }

    fn hit(&self, node_id: &str, sha256: &str) -> Option<Arc<LoadedAdapter>> {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        let e = entries.iter_mut().find(|e| e.loaded.node_id == node_id && e.loaded.sha256 == sha256)?;
        e.last_used = now;
        Some(e.loaded.clone())
    }

    /// Inserts, replacing the node's older adapter and evicting the least recently used one
    /// beyond capacity. Returns how many were evicted.
    fn insert(&self, loaded: Arc<LoadedAdapter>) -> usize {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, clock) = &mut *guard;
        *clock += 1;
        entries.retain(|e| e.loaded.node_id != loaded.node_id);
        entries.push(Entry { loaded, last_used: *clock });
        let mut evicted = 0;
        while entries.len() > self.capacity {
            if let Some(i) = entries.iter().enumerate().min_by_key(|(_, e)| e.last_used).map(|(i, _)| i) {
                entries.remove(i);
                evicted += 1;
            }
        }
        evicted
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    /// The node's adapter: from memory, else from the disk copy, else from storage.
    pub async fn get(&self, engine: &Arc<Engine>, node_id: &str, metrics: &ServeMetrics) -> Result<(Arc<LoadedAdapter>, Option<f64>), AdapterError> {
        let label = ServeMetrics::label(node_id);
        let row = self.newest_artifact(node_id).await?.ok_or_else(|| {
            AdapterError::NotFound(format!("node {node_id:?} has no adapter on base model {:?}", self.base_model_id))
        })?;
        if let Some(hit) = self.hit(node_id, &row.sha256) {
            metrics.cache_hits.get_or_create(&label).inc();
            return Ok((hit, None));
        }
        let _one_load = self.loading.lock().await;
        if let Some(hit) = self.hit(node_id, &row.sha256) {
            metrics.cache_hits.get_or_create(&label).inc();
            return Ok((hit, None));
        }
        metrics.cache_misses.get_or_create(&label).inc();
        let t0 = Instant::now();
        let loaded = self.load(engine, node_id, &row).await.inspect_err(|e| {
            if let AdapterError::Rejected(why) = e {
                tracing::warn!(node_id, job_id = row.job_id, reason = %why, "serve: adapter refused; the base model still serves");
                let reason = if why.contains("sha256") { "sha256" } else { "invalid" };
                metrics.rejected.get_or_create(&RejectLabel { adapter: node_id.to_string(), reason: reason.into() }).inc();
            }
        })?;
        let secs = t0.elapsed().as_secs_f64();
        metrics.load_seconds.get_or_create(&label).observe(secs);
        let loaded = Arc::new(loaded);
        let evicted = self.insert(loaded.clone());
        metrics.evictions.inc_by(evicted as u64);
        metrics.cached_adapters.set(self.len() as i64);
        tracing::info!(node_id, job_id = row.job_id, load_ms = secs * 1000.0, evicted, "serve: adapter loaded");
        Ok((loaded, Some(secs)))
    }

    async fn bytes_of(&self, node_id: &str, row: &ArtifactRow) -> Result<Vec<u8>, AdapterError> {
        let disk = self.disk.join(format!("{}.tar", row.sha256));
        if let Ok(bytes) = tokio::fs::read(&disk).await {
            if sha256_hex(&bytes) == row.sha256 {
                return Ok(bytes);
            }
            tracing::warn!(path = %disk.display(), "serve: the cached adapter copy does not match its sha256; fetching again");
        }
        if row.deleted {
            return Err(AdapterError::Gone(format!(
                "the adapter of node {node_id:?} (job {}) was deleted from storage before this server fetched it; train again",
                row.job_id
            )));
        }
        let store = self.store.as_ref().ok_or_else(|| {
            AdapterError::Unavailable(format!("cannot fetch the adapter of node {node_id:?}: no storage configured (S3_ENDPOINT, S3_BUCKET)"))
        })?;
        let bytes = store
            .get_bytes(&row.object_key)
            .await
            .map_err(|e| AdapterError::Unavailable(format!("fetching the adapter of node {node_id:?}: {e}")))?
            .ok_or_else(|| AdapterError::Gone(format!("the adapter of node {node_id:?} (job {}) is no longer in storage; train again", row.job_id)))?;
        let got = sha256_hex(&bytes);
        if got != row.sha256 {
            return Err(AdapterError::Rejected(format!(
                "the adapter of node {node_id:?} (job {}) failed its sha256 check: recorded {}, fetched {got}",
                row.job_id, row.sha256
            )));
        }
        // Best effort: a failed disk write costs a refetch next time, nothing else.
        let part = disk.with_extension("tar.part");
        if tokio::fs::create_dir_all(&self.disk).await.is_ok() && tokio::fs::write(&part, &bytes).await.is_ok() {
            let _ = tokio::fs::rename(&part, &disk).await;
        }
        Ok(bytes)
    }

    async fn load(&self, engine: &Arc<Engine>, node_id: &str, row: &ArtifactRow) -> Result<LoadedAdapter, AdapterError> {
        let bytes = self.bytes_of(node_id, row).await?;
        let dir = self.disk.join(&row.sha256);
        let engine = engine.clone();
        let (node, sha, job_id) = (node_id.to_string(), row.sha256.clone(), row.job_id);
        tokio::task::spawn_blocking(move || {
            unpack(&bytes, &dir).map_err(AdapterError::Rejected)?;
            let adapter = engine
                .load_adapter(&dir)
                .map_err(|e| AdapterError::Rejected(format!("the adapter of node {node:?} (job {job_id}) does not load on this base: {e}")))?;
            Ok(LoadedAdapter { node_id: node, job_id, sha256: sha, adapter })
        })
        .await
        .map_err(|e| AdapterError::Unavailable(format!("adapter loader: {e}")))?
    }
}
