//! `adapter.train`: train a node's LoRA adapter on the dataset stored with the job, gate it,
//! publish it to S3 and queue its MQTT notification, all recorded in the job's completing
//! transaction.
//!
//! Never retrains what is already trained: the packed adapter is cached on local disk under
//! the job's id and dataset hash before the upload starts, and a later attempt of the same job
//! (a retry, or another worker after a crash) finds it and only uploads; the cache is removed
//! only once the job's end is committed (`cleanup`). A job whose dataset was already published
//! by an earlier job and whose object is still in storage only re-presigns it. The upload
//! waits out storage outages (see `upload`); the notification is an outbox row the notifier
//! delivers until the broker acknowledges it.
//!
//! Training runs on a blocking thread that the job's future cannot kill; the future hands it
//! a cancel flag that is raised on every way the future ends early (cancel, supersede, SIGTERM
//! drain, lost heartbeat: the future is dropped), and the trainer stops before its next step.
//! A job never trains twice at once in a process: an attempt waits for the previous one's
//! thread to finish stopping, and each attempt stages in its own directory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jitgen_core::adapters::Dataset;
use jitgen_trainer::{Example, TrainConfig, TrainError};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::config::env_parse;
use super::handlers::{BoxFuture, Done, Effect, Handler, JobContext, JobError};
use jitgen_sidecar::storage::{self, ArtifactMeta, ArtifactStore, StorageError};
use jitgen_sidecar::upload::{upload_with_retry, UploadError, UploadPolicy};

/// Everything the handler reads from the environment, once at start-up.
pub struct AdapterTrain {
    pub store: Option<Arc<ArtifactStore>>,
    pub url_ttl: Duration,
    pub upload: UploadPolicy,
    pub models: ModelMap,
    pub train: TrainDefaults,
    pub cache: PathBuf,
    /// Largest adapter tar that may be published (`JITGEN_MAX_ARTIFACT_BYTES`, default 2 GiB).
    pub max_artifact_bytes: u64,
}

/// `base_model_id` → local Hugging Face model directory: `JITGEN_BASE_MODELS="id=/dir,…"`,
/// then `JITGEN_MODELS_DIR/<id>`.
pub struct ModelMap {
    explicit: HashMap<String, PathBuf>,
    root: Option<PathBuf>,
}

impl ModelMap {
    pub fn from_env() -> anyhow::Result<ModelMap> {
        let mut explicit = HashMap::new();
        for part in std::env::var("JITGEN_BASE_MODELS").unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((id, dir)) = part.split_once('=') else {
                anyhow::bail!("JITGEN_BASE_MODELS: expected id=/model/dir, got {part:?}");
            };
            explicit.insert(id.trim().to_string(), PathBuf::from(dir.trim()));
        }
        Ok(ModelMap { explicit, root: std::env::var("JITGEN_MODELS_DIR").ok().filter(|s| !s.is_empty()).map(PathBuf::from) })
    }

    pub fn resolve(&self, id: &str) -> Option<PathBuf> {
        if let Some(dir) = self.explicit.get(id) {
            return Some(dir.clone());
        }
        // An id is opaque and may contain '/' (org/model); it must not climb out of the root.
        if id.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return None;
        }
        let dir = self.root.as_ref()?.join(id);
        dir.join("config.json").is_file().then_some(dir)
    }
}

/// Training knobs that are deployment settings rather than part of a dataset's identity.
pub struct TrainDefaults {
    pub lr: f64,
    pub batch_size: usize,
    pub gate_threshold: f64,
    pub threads: Option<i32>,
    pub max_new_tokens: usize,
}

impl AdapterTrain {
    pub async fn from_env() -> anyhow::Result<AdapterTrain> {
        let s3 = storage::S3Config::from_env()?;
        let url_ttl = s3.as_ref().map_or(storage::DEFAULT_URL_TTL, |c| c.url_ttl);
        let store = match s3 {
            Some(cfg) => {
                let store = ArtifactStore::new(&cfg)?;
                // Dev and local servers start without a bucket; creating one is harmless on AWS.
                if let Err(e) = store.ensure_bucket(true).await {
                    tracing::warn!(error = %e, "cannot check the adapter bucket yet; uploads will retry");
                }
                Some(Arc::new(store))
            }
            None => None,
        };
        let threads: i32 = env_parse("JITGEN_TRAIN_THREADS", 0)?;
        Ok(AdapterTrain {
            store,
            url_ttl,
            upload: UploadPolicy::from_env()?,
            models: ModelMap::from_env()?,
            train: TrainDefaults {
                lr: env_parse("JITGEN_TRAIN_LR", 2e-4)?,
                batch_size: env_parse("JITGEN_TRAIN_BATCH", 8)?,
                gate_threshold: env_parse("JITGEN_GATE_THRESHOLD", 0.80)?,
                threads: (threads > 0).then_some(threads),
                max_new_tokens: env_parse("JITGEN_TRAIN_MAX_NEW_TOKENS", 96)?,
            },
            cache: storage::cache_dir(),
            max_artifact_bytes: env_parse("JITGEN_MAX_ARTIFACT_BYTES", 2u64 << 30)?,
        })
    }
}

/// The stored dataset as the trainer's examples, through the core's one definition of the
/// example format (the lines of `Dataset::to_jsonl`).
pub fn examples(d: &Dataset) -> Result<Vec<Example>, serde_json::Error> {
    d.pairs().map(|(side, p)| serde_json::from_value(d.example_json(side, p))).collect()
}

struct JobRow {
    node_id: String,
    base_model_id: String,
    dataset_hash: String,
    dataset: Dataset,
}

async fn load(db: &Client, job_id: i64) -> Result<JobRow, JobError> {
    let row = db
        .query_opt("SELECT node_id, base_model_id, dataset_hash, dataset FROM jitgen.adapter_jobs WHERE job_id = $1", &[&job_id])
        .await
        .map_err(|e| JobError::transient("database", super::describe(&e)))?
        .ok_or_else(|| JobError::permanent("no_dataset", format!("jitgen.adapter_jobs has no row for job {job_id}")))?;
    let dataset: Value = row.get(3);
    let dataset: Dataset = serde_json::from_value(dataset)
        .map_err(|e| JobError::permanent("invalid_dataset", format!("the stored dataset cannot be read: {e}")))?;
    Ok(JobRow { node_id: row.get(0), base_model_id: row.get(1), dataset_hash: row.get(2), dataset })
}

/// Records how far the job is; `progress` None keeps the fraction and changes the message.
async fn set_progress(db: &Client, job_id: i64, progress: Option<f32>, message: &str) {
    let _ = db
        .execute(
            "UPDATE jitgen.jobs SET progress = coalesce($2, progress), progress_message = $3 WHERE id = $1 AND state = 'running'",
            &[&job_id, &progress, &message],
        )
        .await;
}

/// Writes the trainer's progress at most twice a second (it calls back from its own thread),
/// and the last report when the trainer is done.
async fn report_progress(db: &Client, job_id: i64, mut rx: mpsc::UnboundedReceiver<(f32, String)>) {
    const EVERY: Duration = Duration::from_millis(500);
    let mut written: Option<Instant> = None;
    let mut pending: Option<(f32, String)> = None;
    loop {
        let done = match tokio::time::timeout(EVERY, rx.recv()).await {
            Ok(Some(p)) => {
                pending = Some(p);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        };
        if done || written.is_none_or(|w| w.elapsed() >= EVERY) {
            if let Some((progress, message)) = pending.take() {
                set_progress(db, job_id, Some(progress), &message).await;
                written = Some(Instant::now());
            }
        }
        if done {
            return;
        }
    }
}

/// Jobs whose training thread is running in this process.
static TRAINING: Mutex<Option<HashSet<i64>>> = Mutex::new(None);

/// Raises the trainer's cancel flag when the job's future ends, however it ends.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Marks a job as training until the training thread returns.
struct Training(i64);

impl Training {
    fn start(job_id: i64) -> Option<Training> {
        let inserted = TRAINING.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(HashSet::new).insert(job_id);
        // Not `then_some`: it would build (and drop, locking the set again) a guard on refusal.
        if inserted {
            Some(Training(job_id))
        } else {
            None
        }
    }
}

impl Drop for Training {
    fn drop(&mut self) {
        if let Some(set) = TRAINING.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            set.remove(&self.0);
        }
    }
}

fn train_error(e: TrainError) -> JobError {
    match e {
        TrainError::Canceled => JobError::Canceled,
        e if e.is_transient() => JobError::transient("trainer", e.to_string()),
        TrainError::InvalidModel(m) => JobError::permanent("invalid_base_model", m),
        e => JobError::permanent("invalid_training_input", e.to_string()),
    }
}

impl AdapterTrain {
    /// Trains (unless this job's adapter is already cached) and returns the packed tar.
    async fn trained_tar(&self, ctx: &JobContext, db: &Client, job: &JobRow, work: &Path) -> Result<(storage::PackedAdapter, Value), JobError> {
        let tar = work.join("adapter.tar");
        let report_path = work.join("training_report.json");
        if tar.is_file() && report_path.is_file() {
            let (sha256, size) = storage::sha256_file(&tar).map_err(|e| JobError::transient("cache", e.to_string()))?;
            let report: Value = std::fs::read_to_string(&report_path).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
            tracing::info!(job_id = ctx.id, "adapter already trained for this job; uploading the cached copy");
            jitgen_sidecar::ADAPTER_FROM_CACHE.fetch_add(1, Ordering::Relaxed);
            return Ok((storage::PackedAdapter { path: tar, sha256, size }, report));
        }
        let model_dir = self.models.resolve(&job.base_model_id).ok_or_else(|| {
            JobError::Permanent(json!({
                "kind": "unknown_base_model",
                "message": format!("no local model directory for base_model_id {:?}", job.base_model_id),
                "hint": "map it with JITGEN_BASE_MODELS=\"<id>=/path/to/hf-model-dir\" or put it under JITGEN_MODELS_DIR/<id>",
            }))
        })?;
        let p = &job.dataset.params;
        let cfg = TrainConfig {
            r: i64::from(p.r),
            alpha: f64::from(p.alpha),
            dropout: p.dropout,
            target_modules: p.target_modules.clone(),
            epochs: p.epochs as usize,
            max_seq_len: p.max_seq_len as usize,
            lr: self.train.lr,
            batch_size: self.train.batch_size,
            gate_threshold: self.train.gate_threshold,
            threads: self.train.threads,
            max_new_tokens: self.train.max_new_tokens,
            ..TrainConfig::default()
        };
        let examples = examples(&job.dataset)
            .map_err(|e| JobError::permanent("invalid_dataset", format!("the stored dataset does not make trainer examples: {e}")))?;
        // The previous attempt's thread (its future was dropped) may still be finishing a step.
        let running = loop {
            if let Some(t) = Training::start(ctx.id) {
                break t;
            }
            ctx.sleep(Duration::from_millis(50)).await?;
        };
        let adapter_dir = work.join(format!("adapter-attempt-{}", ctx.attempt));
        let _ = std::fs::remove_dir_all(&adapter_dir);
        let cancel = Arc::new(AtomicBool::new(false));
        let _stop_when_dropped = CancelOnDrop(cancel.clone());
        jitgen_sidecar::ADAPTER_TRAINED.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel::<(f32, String)>();
        let handle = {
            let (cancel, adapter_dir) = (cancel.clone(), adapter_dir.clone());
            tokio::task::spawn_blocking(move || {
                let _running = running;
                jitgen_trainer::train(&model_dir, &examples, &cfg, &adapter_dir, &mut |pr| {
                    let frac = if pr.total_steps == 0 { 0.0 } else { pr.step as f32 / pr.total_steps as f32 };
                    let (progress, msg) = match pr.phase {
                        "train" => (
                            0.9 * frac,
                            format!("training step {}/{}, loss {:.4}, {:.0} tokens/s", pr.step, pr.total_steps, pr.loss.unwrap_or(f64::NAN), pr.tokens_per_s),
                        ),
                        _ => (0.9 + 0.07 * frac, format!("evaluating holdout {}/{}", pr.step, pr.total_steps)),
                    };
                    let _ = tx.send((progress, msg));
                }, &cancel)
            })
        };
        // Progress rows are written while training runs; the writer ends when the trainer's
        // callback (and with it the sender) is dropped.
        let trained = async { tokio::join!(handle, report_progress(db, ctx.id, rx)).0 };
        let mut canceled = ctx.cancel.clone();
        let outcome = tokio::select! {
            r = trained => r,
            _ = canceled.wait_for(|c| *c) => {
                // The trainer sees the flag before its next step and removes its staging dir.
                cancel.store(true, Ordering::Relaxed);
                return Err(JobError::Canceled);
            }
        };
        let outcome = outcome.map_err(|e| JobError::transient("trainer_panic", e.to_string()))?.map_err(train_error)?;
        let report = serde_json::to_value(&outcome.report).unwrap_or(Value::Null);
        let summary = json!({
            "metrics": report.get("metrics"),
            "gate": report.get("gate"),
            "timings": report.get("timings"),
            "data": report.get("data"),
            "loss_curve": report.get("loss_curve"),
        });
        if !outcome.gate_passed {
            return Err(JobError::Permanent(json!({
                "kind": "quality_gate",
                "message": format!("the adapter failed the quality gate: {}", outcome.report.gate.reasons.join("; ")),
                "report": summary,
            })));
        }
        let dir = outcome.adapter_dir.ok_or_else(|| JobError::permanent("trainer", "the trainer passed the gate but wrote no adapter"))?;
        let packed = storage::pack_adapter_dir_to(&dir, &tar).map_err(|e| JobError::transient("cache", format!("{e:#}")))?;
        std::fs::write(&report_path, summary.to_string()).map_err(|e| JobError::transient("cache", e.to_string()))?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok((packed, summary))
    }
}

impl Handler for AdapterTrain {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let Some(store) = self.store.clone() else {
                return Err(JobError::permanent(
                    "storage_not_configured",
                    "this sidecar has no S3 settings (S3_BUCKET, S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY)",
                ));
            };
            let job = load(db, ctx.id).await?;
            if !jitgen_core::adapters::valid_node_id(&job.node_id) {
                return Err(JobError::permanent("invalid_node_id", format!("node id {:?} cannot name a storage key", job.node_id)));
            }
            if let Some(done) = self.republish(ctx, db, &store, &job).await? {
                return Ok(done);
            }
            let work = self.work_dir(ctx.id, &job.node_id, &job.dataset_hash);
            std::fs::create_dir_all(&work).map_err(|e| JobError::transient("cache", format!("{}: {e}", work.display())))?;
            let (packed, summary) = self.trained_tar(ctx, db, &job, &work).await?;
            if packed.size > self.max_artifact_bytes {
                return Err(JobError::Permanent(json!({
                    "kind": "artifact_too_large",
                    "message": format!("the adapter is {} bytes, more than JITGEN_MAX_ARTIFACT_BYTES={}", packed.size, self.max_artifact_bytes),
                    "hint": "lower the LoRA rank or the target modules in jitgen.nodes.params, or raise the limit",
                })));
            }

            let key = storage::object_key(&job.node_id, ctx.id, &job.dataset_hash).map_err(|e| JobError::permanent("object_key", e.to_string()))?;
            let created_at: String = db
                .query_one("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", &[])
                .await
                .map_err(|e| JobError::transient("database", super::describe(&e)))?
                .get(0);
            let meta = ArtifactMeta {
                node_id: job.node_id.clone(),
                base_model_id: job.base_model_id.clone(),
                dataset_hash: job.dataset_hash.clone(),
                created_at: created_at.clone(),
            };
            let (wait_tx, mut wait_rx) = mpsc::unbounded_channel::<String>();
            let waits = async {
                while let Some(m) = wait_rx.recv().await {
                    set_progress(db, ctx.id, None, &m).await;
                }
            };
            let upload = upload_with_retry(&store, &packed.path, &key, &meta, &self.upload, ctx.cancel.clone(), |attempt, e: &StorageError| {
                let _ = wait_tx.send(format!("waiting for storage (attempt {attempt}): {e}; the trained adapter is kept on disk"));
            });
            let uploaded = tokio::select! {
                r = upload => r,
                _ = waits => unreachable!("the sender lives in the upload future"),
            };
            match uploaded {
                Ok(_) => {}
                Err(UploadError::Cancelled { .. }) => return Err(JobError::Canceled),
                Err(UploadError::Permanent(e)) => return Err(JobError::permanent("storage", e.to_string())),
                Err(e @ UploadError::GaveUp { .. }) => return Err(JobError::permanent("storage_unavailable", e.to_string())),
            }
            let url = store
                .presign_get(&key, self.url_ttl)
                .await
                .map_err(|e| JobError::transient("presign", e.to_string()))?;
            let result = json!({"object_key": key, "size_bytes": packed.size, "sha256": packed.sha256, "report": summary});
            let published = Published { key, size: packed.size as i64, sha256: packed.sha256, url, created_at };
            Ok(self.published(ctx.id, &job, &meta, published, result))
        })
    }

    fn cleanup(&self, job_id: i64, payload: &Value) {
        // The cache outlives the upload until the job's end is committed: a lost connection at
        // commit retries from the cached tar instead of retraining. In dev mode (no upload
        // retry limit) it is kept for inspection.
        if self.upload.dev {
            return;
        }
        let node_id = payload.get("node_id").and_then(Value::as_str);
        let hash = payload.get("dataset_hash").and_then(Value::as_str);
        let (Some(node_id), Some(hash)) = (node_id, hash) else { return };
        if !jitgen_core::adapters::valid_node_id(node_id) {
            return;
        }
        let work = self.work_dir(job_id, node_id, hash);
        if let Err(e) = std::fs::remove_dir_all(&work) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(job_id, dir = %work.display(), error = %e, "cannot remove the job's work directory");
            }
        }
    }
}

/// What a completed job publishes: the object and its presigned URL.
struct Published {
    key: String,
    size: i64,
    sha256: String,
    url: String,
    created_at: String,
}

impl AdapterTrain {
    fn work_dir(&self, job_id: i64, node_id: &str, dataset_hash: &str) -> PathBuf {
        let hash: String = dataset_hash.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
        self.cache.join(node_id).join(format!("{job_id}-{hash}"))
    }

    /// The same dataset was published before and its object is still in storage (its URL may
    /// have expired): presign it again and notify, without training or uploading.
    async fn republish(&self, ctx: &JobContext, db: &Client, store: &ArtifactStore, job: &JobRow) -> Result<Option<Done>, JobError> {
        let row = db
            .query_opt(
                "SELECT object_key, size_bytes, sha256, metadata->>'created_at' FROM jitgen.adapter_artifacts
                 WHERE node_id = $1 AND base_model_id = $2 AND dataset_hash = $3 AND deleted_at IS NULL
                 ORDER BY created_at DESC LIMIT 1",
                &[&job.node_id, &job.base_model_id, &job.dataset_hash],
            )
            .await
            .map_err(|e| JobError::transient("database", super::describe(&e)))?;
        let Some(row) = row else { return Ok(None) };
        let key: String = row.get(0);
        match store.head(&key).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(e) if e.is_transient() => return Err(JobError::transient("storage", e.to_string())),
            Err(e) => return Err(JobError::permanent("storage", e.to_string())),
        }
        let url = store.presign_get(&key, self.url_ttl).await.map_err(|e| JobError::transient("presign", e.to_string()))?;
        let created_at: String = row.get::<_, Option<String>>(3).unwrap_or_default();
        let meta = ArtifactMeta {
            node_id: job.node_id.clone(),
            base_model_id: job.base_model_id.clone(),
            dataset_hash: job.dataset_hash.clone(),
            created_at: created_at.clone(),
        };
        let (size, sha256): (i64, String) = (row.get(1), row.get(2));
        tracing::info!(job_id = ctx.id, %key, "dataset already published and still stored: presigning it again");
        jitgen_sidecar::ADAPTER_REPUBLISHED.fetch_add(1, Ordering::Relaxed);
        let result = json!({"object_key": key, "size_bytes": size, "sha256": sha256, "republished": true});
        Ok(Some(self.published(ctx.id, job, &meta, Published { key, size, sha256, url, created_at }, result)))
    }

    /// The artifact row and the MQTT outbox row, written with the job's completion.
    fn published(&self, job_id: i64, job: &JobRow, meta: &ArtifactMeta, p: Published, result: Value) -> Done {
        let metadata = serde_json::to_value(meta).unwrap_or(Value::Null);
        let payload = json!({
            "node_id": job.node_id,
            "base_model_id": job.base_model_id,
            "adapter_url": p.url,
            "dataset_hash": job.dataset_hash,
            "created_at": p.created_at,
        });
        let topic = format!("jitgen/nodes/{}/adapter_ready", job.node_id);
        let ttl_secs = self.url_ttl.as_secs_f64();
        Done {
            result,
            effects: vec![
                Effect {
                    sql: "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key,
                              size_bytes, sha256, metadata, url, url_expires_at)
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
                          ON CONFLICT (job_id) DO UPDATE SET url = EXCLUDED.url, url_expires_at = EXCLUDED.url_expires_at",
                    params: vec![
                        Box::new(job_id),
                        Box::new(job.node_id.clone()),
                        Box::new(job.base_model_id.clone()),
                        Box::new(job.dataset_hash.clone()),
                        Box::new(p.key),
                        Box::new(p.size),
                        Box::new(p.sha256),
                        Box::new(metadata),
                        Box::new(p.url),
                        Box::new(ttl_secs),
                    ],
                },
                Effect {
                    sql: "INSERT INTO jitgen.adapter_notifications (job_id, node_id, topic, payload) VALUES ($1, $2, $3, $4)",
                    params: vec![Box::new(job_id), Box::new(job.node_id.clone()), Box::new(topic), Box::new(payload)],
                },
                Effect { sql: "SELECT pg_notify('jitgen_adapter_notifications', $1::bigint::text)", params: vec![Box::new(job_id)] },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_trains_at_most_once_at_a_time_and_stops_when_its_future_is_dropped() {
        let first = Training::start(-7).expect("first attempt starts");
        assert!(Training::start(-7).is_none(), "a second attempt of the same job must wait");
        assert!(Training::start(-8).is_some(), "other jobs are not held up");
        drop(first);
        assert!(Training::start(-7).is_some(), "the next attempt starts once the thread ended");

        let flag = Arc::new(AtomicBool::new(false));
        drop(CancelOnDrop(flag.clone()));
        assert!(flag.load(Ordering::Relaxed), "dropping the job's future cancels the trainer");
    }

    #[test]
    fn model_ids_cannot_climb_out_of_the_models_dir() {
        let tmp = std::env::temp_dir().join(format!("jg-models-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("org/tiny")).unwrap();
        std::fs::write(tmp.join("org/tiny/config.json"), "{}").unwrap();
        let m = ModelMap { explicit: HashMap::from([("alias".to_string(), PathBuf::from("/x"))]), root: Some(tmp.clone()) };
        assert_eq!(m.resolve("alias"), Some(PathBuf::from("/x")));
        assert_eq!(m.resolve("org/tiny"), Some(tmp.join("org/tiny")));
        assert_eq!(m.resolve("../etc"), None);
        assert_eq!(m.resolve("org/../org/tiny"), None);
        assert_eq!(m.resolve("missing"), None);
        let _ = std::fs::remove_dir_all(tmp);
    }

    #[test]
    fn stored_datasets_become_trainer_examples() {
        let commands = json!([{
            "command_name": "set_timer", "description": "Start a timer",
            "parameters": [{"name": "minutes", "type": "int", "required": true}],
            "examples": (0..10).map(|i| json!({"voice_command": format!("timer {i} minutes please"), "expected_parameters": {"minutes": i}})).collect::<Vec<_>>(),
            "antipatterns": [{"command_name": "weather", "description": "is it sunny"}]
        }]);
        let ctx = jitgen_core::adapters::DateContext::new(jitgen_core::adapters::CivilDate::new(2026, 1, 1).unwrap(), "UTC");
        let d = jitgen_core::adapters::assemble("n", "m", &commands, &Default::default(), &ctx).unwrap();
        let stored: Dataset = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        let ex = examples(&stored).unwrap();
        assert_eq!(ex.len(), d.train.len() + d.holdout.len());
        assert_eq!(ex.iter().filter(|e| e.is_holdout()).count(), d.holdout.len());
        let neg = ex.iter().find(|e| e.kind == "negative").unwrap();
        assert_eq!(neg.tool, None);
        assert!(neg.required.is_empty());
        let pos = ex.iter().find(|e| e.kind == "positive").unwrap();
        assert_eq!(pos.required, vec!["minutes".to_string()]);
        assert!(pos.target.starts_with("{\"name\":\"set_timer\""));
        // Same line format as the core's jsonl export.
        let from_core: Vec<Example> = jitgen_trainer::parse_jsonl(&d.to_jsonl()).unwrap();
        assert_eq!(from_core, ex);
    }
}
