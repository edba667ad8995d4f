//! Adapter artifacts in S3-compatible storage (AWS S3, MinIO, s3s-fs) through one code path:
//! the endpoint and path-style flag are the only differences, both from the environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::{Bucket, BucketConfiguration, Region};
use sha2::{Digest, Sha256};

/// Default lifetime of a presigned download URL (48 h).
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(48 * 3600);

#[derive(Clone, Debug)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub path_style: bool,
    /// `JITGEN_ADAPTER_URL_TTL_S`, default 48 h.
    pub url_ttl: Duration,
}

fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl S3Config {
    /// `None` when `S3_BUCKET` is unset: storage is then disabled.
    pub fn from_env() -> anyhow::Result<Option<S3Config>> {
        let Some(bucket) = env_opt("S3_BUCKET") else { return Ok(None) };
        let endpoint = env_opt("S3_ENDPOINT");
        let path_style = match env_opt("S3_PATH_STYLE") {
            Some(v) => parse_bool(&v).with_context(|| format!("S3_PATH_STYLE={v:?}"))?,
            // Self-hosted servers rarely have wildcard DNS for virtual-host buckets.
            None => endpoint.is_some(),
        };
        let url_ttl = match env_opt("JITGEN_ADAPTER_URL_TTL_S") {
            Some(v) => Duration::from_secs(v.parse().with_context(|| format!("JITGEN_ADAPTER_URL_TTL_S={v:?}"))?),
            None => DEFAULT_URL_TTL,
        };
        Ok(Some(S3Config {
            endpoint,
            region: env_opt("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
            bucket,
            access_key: env_opt("S3_ACCESS_KEY"),
            secret_key: env_opt("S3_SECRET_KEY"),
            path_style,
            url_ttl,
        }))
    }
}

pub(crate) fn parse_bool(v: &str) -> anyhow::Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("expected true or false"),
    }
}

/// Whether retrying later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connection refused, timeouts, 5xx (503 SlowDown included).
    Transient,
    /// Credentials, malformed requests, a missing bucket we may not create.
    Permanent,
}

#[derive(Debug)]
pub struct StorageError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{:?} storage error (HTTP {s}): {}", self.class, self.message),
            None => write!(f, "{:?} storage error: {}", self.class, self.message),
        }
    }
}

impl std::error::Error for StorageError {}

impl StorageError {
    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }

    fn classify(what: &str, e: S3Error) -> StorageError {
        let (class, status) = match &e {
            S3Error::HttpFailWithBody(code, _) => (class_of_status(*code), Some(*code)),
            S3Error::Reqwest(r) => {
                let status = r.status().map(|s| s.as_u16());
                match status {
                    Some(code) => (class_of_status(code), Some(code)),
                    // No response at all: refused, reset, timed out, DNS — the server may come back.
                    None => (ErrorClass::Transient, None),
                }
            }
            S3Error::Io(_) => (ErrorClass::Transient, None),
            _ => (ErrorClass::Permanent, None),
        };
        StorageError { class, status, message: format!("{what}: {e}") }
    }

    fn permanent(message: String) -> StorageError {
        StorageError { class: ErrorClass::Permanent, status: None, message }
    }
}

fn class_of_status(code: u16) -> ErrorClass {
    // 408 and 429 are the server asking us to come back later.
    if code >= 500 || code == 408 || code == 429 {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// User metadata stored as `x-amz-meta-*` headers with each adapter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactMeta {
    pub node_id: String,
    pub base_model_id: String,
    pub dataset_hash: String,
    pub created_at: String,
}

impl ArtifactMeta {
    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("node_id", &self.node_id),
            ("base_model_id", &self.base_model_id),
            ("dataset_hash", &self.dataset_hash),
            ("created_at", &self.created_at),
        ]
    }
}

#[derive(Clone, Debug)]
pub struct HeadInfo {
    pub size: u64,
    pub metadata: HashMap<String, String>,
}

pub struct ArtifactStore {
    bucket: Box<Bucket>,
    region: Region,
    credentials: Credentials,
    path_style: bool,
    pub url_ttl: Duration,
}

impl ArtifactStore {
    pub fn new(cfg: &S3Config) -> anyhow::Result<ArtifactStore> {
        // Retries are ours (UploadPolicy, the sweeper's rounds); the crate's own would hide outages.
        s3::set_retries(0);
        let region = match &cfg.endpoint {
            Some(endpoint) => Region::Custom { region: cfg.region.clone(), endpoint: endpoint.clone() },
            None => cfg.region.parse().with_context(|| format!("S3_REGION={:?}", cfg.region))?,
        };
        let credentials = Credentials::new(cfg.access_key.as_deref(), cfg.secret_key.as_deref(), None, None, None)
            .context("S3 credentials (S3_ACCESS_KEY / S3_SECRET_KEY or the AWS default chain)")?;
        let mut bucket = Bucket::new(&cfg.bucket, region.clone(), credentials.clone())
            .with_context(|| format!("S3 bucket {:?}", cfg.bucket))?;
        if cfg.path_style {
            bucket = bucket.with_path_style();
        }
        Ok(ArtifactStore { bucket, region, credentials, path_style: cfg.path_style, url_ttl: cfg.url_ttl })
    }

    pub fn bucket_name(&self) -> &str {
        &self.bucket.name
    }

    /// Creates the bucket when it is missing (dev and local servers; production buckets are
    /// provisioned, and `allow_create = false` turns a missing bucket into a permanent error).
    pub async fn ensure_bucket(&self, allow_create: bool) -> Result<(), StorageError> {
        // Bucket::exists lists all buckets, which needs more permissions than we hold on AWS and
        // does not parse s3s-fs's answer; listing one key of our own bucket needs only ListBucket.
        let exists = match self.bucket.list_page("nodes/".into(), None, None, None, Some(1)).await {
            Ok(_) => true,
            Err(S3Error::HttpFailWithBody(404, _)) => false,
            Err(e) => return Err(StorageError::classify("check bucket", e)),
        };
        if exists {
            return Ok(());
        }
        if !allow_create {
            return Err(StorageError::permanent(format!("NoSuchBucket: {}", self.bucket.name)));
        }
        let config = BucketConfiguration::default();
        let r = if self.path_style {
            Bucket::create_with_path_style(&self.bucket.name, self.region.clone(), self.credentials.clone(), config).await
        } else {
            Bucket::create(&self.bucket.name, self.region.clone(), self.credentials.clone(), config).await
        };
        match r {
            Ok(resp) if resp.success() => Ok(()),
            // Someone else created it between our check and our create.
            Ok(resp) if resp.response_code == 409 => Ok(()),
            Ok(resp) => Err(StorageError {
                class: class_of_status(resp.response_code),
                status: Some(resp.response_code),
                message: format!("create bucket {}: {}", self.bucket.name, resp.response_text),
            }),
            Err(e) => Err(StorageError::classify("create bucket", e)),
        }
    }

    pub async fn put_bytes(&self, key: &str, bytes: &[u8], meta: &ArtifactMeta) -> Result<(), StorageError> {
        let mut req = self.bucket.put_object_builder(key, bytes).with_content_type("application/x-tar");
        for (k, v) in meta.pairs() {
            req = req
                .with_metadata(k, v)
                .map_err(|e| StorageError::permanent(format!("metadata {k}={v:?} is not a valid header: {e}")))?;
        }
        req.execute().await.map_err(|e| StorageError::classify(&format!("put {key}"), e))?;
        Ok(())
    }

    pub async fn put_file(&self, key: &str, path: &Path, meta: &ArtifactMeta) -> Result<(), StorageError> {
        // A missing cache file cannot heal by waiting.
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| StorageError::permanent(format!("read {}: {e}", path.display())))?;
        self.put_bytes(key, &bytes, meta).await
    }

    /// `Ok(None)` when the object does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<HeadInfo>, StorageError> {
        match self.bucket.head_object(key).await {
            Ok((h, _)) => Ok(Some(HeadInfo {
                size: h.content_length.unwrap_or(0).max(0) as u64,
                metadata: h.metadata.unwrap_or_default(),
            })),
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(None),
            Err(e) => Err(StorageError::classify(&format!("head {key}"), e)),
        }
    }

    /// The object's bytes; `Ok(None)` when it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self.bucket.get_object(key).await {
            Ok(r) => Ok(Some(r.to_vec())),
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(None),
            Err(e) => Err(StorageError::classify(&format!("get {key}"), e)),
        }
    }

    /// A GET URL that works without credentials until it expires (`ttl` at most 7 days, an S3 limit).
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        let secs = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX).max(1);
        self.bucket.presign_get(key, secs, None).await.map_err(|e| StorageError::classify(&format!("presign {key}"), e))
    }

    /// Deleting a missing object succeeds (S3 answers 204 either way; 404 is accepted too).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.bucket.delete_object(key).await {
            Ok(_) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(()),
            Err(e) => Err(StorageError::classify(&format!("delete {key}"), e)),
        }
    }
}

/// `nodes/{node_id}/adapters/{job_id}-{dataset_hash}.tar`; the node prefix is what scopes a
/// presigned URL, so anything that could escape it is refused.
pub fn object_key(node_id: &str, job_id: i64, dataset_hash: &str) -> anyhow::Result<String> {
    if !jitgen_core::adapters::valid_node_id(node_id) {
        bail!("node_id {node_id:?} is not allowed in an object key");
    }
    if dataset_hash.is_empty() || !dataset_hash.bytes().all(|c| c.is_ascii_alphanumeric()) {
        bail!("dataset_hash {dataset_hash:?} is not allowed in an object key");
    }
    Ok(format!("nodes/{node_id}/adapters/{job_id}-{dataset_hash}.tar"))
}

/// `JITGEN_ADAPTER_CACHE`, else `$XDG_CACHE_HOME/jitgen/adapters`, else `~/.cache/jitgen/adapters`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = env_opt("JITGEN_ADAPTER_CACHE") {
        return PathBuf::from(d);
    }
    let base = env_opt("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env_opt("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("jitgen").join("adapters")
}

pub struct PackedAdapter {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// The files an adapter directory must contain; nothing else goes into the tar.
pub const ADAPTER_FILES: [&str; 4] =
    ["adapter_config.json", "adapter_model.safetensors", "training_report.json", "loss_curve.svg"];

/// Packs `dir` into one uncompressed tar at `out` (written beside it, then renamed, so a crash
/// never leaves a half tar that looks complete) and returns its sha256 and size.
pub fn pack_adapter_dir_to(dir: &Path, out: &Path) -> anyhow::Result<PackedAdapter> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create cache dir {}", parent.display()))?;
    }
    let tmp = out.with_extension("tar.part");
    {
        let file = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let mut builder = tar::Builder::new(file);
        builder.mode(tar::HeaderMode::Deterministic);
        for name in ADAPTER_FILES {
            let src = dir.join(name);
            builder.append_path_with_name(&src, name).with_context(|| format!("add {} to the adapter tar", src.display()))?;
        }
        builder.into_inner().context("finish the adapter tar")?.sync_all().context("sync the adapter tar")?;
    }
    std::fs::rename(&tmp, out).with_context(|| format!("rename {} to {}", tmp.display(), out.display()))?;
    let (sha256, size) = sha256_file(out)?;
    Ok(PackedAdapter { path: out.to_path_buf(), sha256, size })
}

/// Packs into the adapter cache as `<cache>/<dir name>.tar`.
pub fn pack_adapter_dir(dir: &Path) -> anyhow::Result<PackedAdapter> {
    let name = dir.file_name().ok_or_else(|| anyhow!("adapter dir {} has no name", dir.display()))?;
    let out = cache_dir().join(format!("{}.tar", name.to_string_lossy()));
    pack_adapter_dir_to(dir, &out)
}

pub fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).with_context(|| format!("read {}", path.display()))?;
    let hex = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_node_prefix() {
        assert_eq!(object_key("node-1", 7, "abc123").unwrap(), "nodes/node-1/adapters/7-abc123.tar");
        for bad in ["", "..", "a..b", "a/b", ".x", "-x", "a b", &"x".repeat(129)] {
            assert!(object_key(bad, 1, "abc").is_err(), "{bad:?}");
        }
        assert!(object_key("n", 1, "../x").is_err());
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(class_of_status(503), ErrorClass::Transient);
        assert_eq!(class_of_status(500), ErrorClass::Transient);
        assert_eq!(class_of_status(403), ErrorClass::Permanent);
        assert_eq!(class_of_status(400), ErrorClass::Permanent);
    }
}
