//! `jitgen serve`: an OpenAI-compatible endpoint over the base model (libtorch, KV cache) with
//! per-request adapter selection, as seed 004's runtime section asks.
//!
//! - `model: "<base>"` answers with the base; `model: "<base>:<node_id>"` with the node's
//!   newest adapter from `jitgen.adapter_artifacts` (fetched, sha256-checked, LRU-cached).
//! - At most `JITGEN_SERVE_CONCURRENCY` generations run at once; up to `JITGEN_SERVE_QUEUE`
//!   more wait; beyond that a request gets 503 with Retry-After.
//! - `response_format` `json_object` (and `json_schema`) begins the reply with `{`, stops where
//!   the object closes and retries while it does not parse (or does not satisfy the schema,
//!   checked by jitgen's validator) (`Engine::complete_json`); a reply that still fails after
//!   the retries is a 422, never a silent non-JSON 200.

mod adapters;
mod metrics;
mod request;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use jitgen_sidecar::db::Target;
use jitgen_sidecar::storage::{self, ArtifactStore, S3Config};
use jitgen_trainer::serve::{Completion, Engine};
use jitgen_trainer::TrainError;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::worker::config::env_parse;
use adapters::{AdapterCache, AdapterError};
use metrics::{ServeMetrics, StatusLabel};
use request::{ServeError, DEFAULT_MAX_TOKENS};

pub struct ServeConfig {
    pub model_dir: PathBuf,
    pub model_id: String,
    pub adapters: usize,
    pub concurrency: usize,
    pub queue: usize,
    pub json_retries: usize,
    pub threads: Option<i32>,
    pub api_key: Option<String>,
}

impl ServeConfig {
    /// JITGEN_SERVE_ADAPTERS (LRU size, default 8), JITGEN_SERVE_CONCURRENCY (default 1),
    /// JITGEN_SERVE_QUEUE (waiting requests, default 32), JITGEN_SERVE_JSON_RETRIES (default 2),
    /// JITGEN_SERVE_THREADS (libtorch threads, default: all cores), JITGEN_SERVE_API_KEY
    /// (when set, requests need `Authorization: Bearer <key>`).
    pub fn from_env(model_dir: PathBuf, model_id: Option<String>) -> anyhow::Result<ServeConfig> {
        let at_least = |name: &str, default: usize, min: usize| -> anyhow::Result<usize> {
            let n: usize = env_parse(name, default)?;
            anyhow::ensure!(n >= min, "{name}={n} is below the minimum {min}");
            Ok(n)
        };
        let model_id = match model_id {
            Some(id) => id,
            None => model_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
        };
        anyhow::ensure!(!model_id.is_empty() && !model_id.contains(':'), "the model id {model_id:?} must be non-empty and without ':'");
        let threads = std::env::var("JITGEN_SERVE_THREADS").ok().filter(|t| !t.trim().is_empty());
        let threads = match threads {
            Some(t) => Some(t.trim().parse::<i32>().ok().filter(|&n| n >= 1).ok_or_else(|| anyhow::anyhow!("JITGEN_SERVE_THREADS={t:?} must be a positive integer"))?),
            None => None,
        };
        Ok(ServeConfig {
            model_dir,
            model_id,
            adapters: at_least("JITGEN_SERVE_ADAPTERS", 8, 1)?,
            concurrency: at_least("JITGEN_SERVE_CONCURRENCY", 1, 1)?,
            queue: at_least("JITGEN_SERVE_QUEUE", 32, 0)?,
            json_retries: at_least("JITGEN_SERVE_JSON_RETRIES", 2, 0)?,
            threads,
            api_key: std::env::var("JITGEN_SERVE_API_KEY").ok().filter(|k| !k.is_empty()),
        })
    }
}

struct Served {
    engine: Arc<Engine>,
    model_id: String,
    adapters: AdapterCache,
    slots: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
    json_retries: usize,
    api_key: Option<String>,
    metrics: ServeMetrics,
    created: u64,
    next_id: AtomicU64,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Loads the model, then serves until `shutdown` resolves. Prints the base URL on its own line.
pub async fn serve(listen: &str, database: Option<Target>, config: ServeConfig, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    if let Some(n) = config.threads {
        jitgen_trainer::tch::set_num_threads(n);
    }
    let dir = config.model_dir.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::load(&dir, jitgen_trainer::tch::Device::cuda_if_available()))
        .await?
        .map_err(|e| anyhow::anyhow!("cannot load the base model from {}: {e}", config.model_dir.display()))?;
    let store = match S3Config::from_env()? {
        Some(cfg) => Some(Arc::new(ArtifactStore::new(&cfg)?)),
        None => None,
    };
    let disk = storage::cache_dir().join("serve");
    let served = Arc::new(Served {
        engine: Arc::new(engine),
        adapters: AdapterCache::new(database, store, config.model_id.clone(), disk, config.adapters),
        model_id: config.model_id,
        slots: Semaphore::new(config.concurrency),
        waiting: AtomicUsize::new(0),
        queue: config.queue,
        json_retries: config.json_retries,
        api_key: config.api_key,
        metrics: ServeMetrics::new(),
        created: unix_now(),
        next_id: AtomicU64::new(1),
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics_text))
        .route("/health", get(|| async { "ok\n" }))
        .fallback(|| async { ServeError::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", "no such route: POST /v1/chat/completions, GET /v1/models, GET /metrics") })
        .layer(DefaultBodyLimit::max(4 << 20))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    println!("http://{addr}/v1");
    tracing::info!(%addr, model = %served.model_id, concurrency = config.concurrency, adapters = config.adapters, "serving");
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

fn authorized(s: &Served, headers: &HeaderMap) -> Result<(), ServeError> {
    let Some(key) = &s.api_key else { return Ok(()) };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Both are hashed first so the comparison takes the same time wherever they differ.
    use sha2::{Digest, Sha256};
    if given.is_some_and(|g| Sha256::digest(g.as_bytes()) == Sha256::digest(key.as_bytes())) {
        Ok(())
    } else {
        Err(ServeError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "invalid_api_key", "missing or wrong bearer token (JITGEN_SERVE_API_KEY)"))
    }
}

async fn models(State(s): State<Arc<Served>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&s, &headers) {
        return e.into_response();
    }
    let mut data = vec![json!({"id": s.model_id, "object": "model", "created": s.created, "owned_by": "jitgen"})];
    for node in s.adapters.cached() {
        data.push(json!({"id": format!("{}:{node}", s.model_id), "object": "model", "created": s.created, "owned_by": "jitgen", "parent": s.model_id}));
    }
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn metrics_text(State(s): State<Arc<Served>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode()).into_response()
}

/// Sets the flag when the request's future is dropped (the client went away), so the
/// generation stops instead of running to max_tokens for nobody.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Counts a generation as running until dropped.
struct Running<'a>(&'a ServeMetrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.dec();
    }
}

async fn chat(State(s): State<Arc<Served>>, headers: HeaderMap, body: Bytes) -> Response {
    let r = chat_inner(&s, &headers, &body).await;
    let status = match &r {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    };
    s.metrics.requests.get_or_create(&StatusLabel { status }).inc();
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn adapter_error(e: AdapterError) -> ServeError {
    match e {
        AdapterError::NotFound(m) => ServeError { param: Some("model"), ..ServeError::new(StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found", m) },
        AdapterError::Gone(m) => ServeError { param: Some("model"), ..ServeError::new(StatusCode::NOT_FOUND, "invalid_request_error", "adapter_gone", m) },
        AdapterError::Rejected(m) => ServeError::new(StatusCode::BAD_GATEWAY, "server_error", "adapter_rejected", m),
        AdapterError::Unavailable(m) => ServeError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "unavailable", m),
    }
}

async fn chat_inner(s: &Arc<Served>, headers: &HeaderMap, body: &Bytes) -> Result<Value, ServeError> {
    authorized(s, headers)?;
    let body: Value = serde_json::from_slice(body).map_err(|e| ServeError::bad("body", format!("the body is not JSON: {e}")))?;
    let req = request::parse(&body, &s.model_id)?;
    let prompt = s.engine.encode_chat(&req.messages).map_err(|e| ServeError::bad("messages", e.to_string()))?;
    let context = s.engine.context_length();
    let room = context.saturating_sub(prompt.len());
    let max_tokens = match req.max_tokens {
        Some(n) if n > room => {
            return Err(ServeError {
                param: Some("messages"),
                ..ServeError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "context_length_exceeded",
                    format!("this model's maximum context length is {context} tokens; the messages are {} tokens and max_tokens asks for {n} more", prompt.len()),
                )
            })
        }
        Some(n) => n,
        None if room == 0 => {
            return Err(ServeError {
                param: Some("messages"),
                ..ServeError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "context_length_exceeded", format!("this model's maximum context length is {context} tokens; the messages are {} tokens", prompt.len()))
            })
        }
        None => room.min(DEFAULT_MAX_TOKENS),
    };
    let (adapter, load_s) = match &req.node_id {
        Some(node) => {
            let (a, load) = s.adapters.get(&s.engine, node, &s.metrics).await.map_err(adapter_error)?;
            (Some(a), load)
        }
        None => (None, None),
    };

    // Wait for a slot, bounded.
    if s.waiting.fetch_add(1, Ordering::SeqCst) >= s.queue + s.slots.available_permits() {
        s.waiting.fetch_sub(1, Ordering::SeqCst);
        s.metrics.busy_rejections.inc();
        return Err(ServeError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "overloaded", format!("{} requests are already waiting; try again shortly", s.queue)));
    }
    s.metrics.waiting.set(s.waiting.load(Ordering::SeqCst) as i64);
    let permit = s.slots.acquire().await;
    s.waiting.fetch_sub(1, Ordering::SeqCst);
    s.metrics.waiting.set(s.waiting.load(Ordering::SeqCst) as i64);
    let _permit = permit.map_err(|_| ServeError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "shutting_down", "the server is shutting down"))?;

    let now_running = s.metrics.running.inc() + 1;
    let _running = Running(&s.metrics);
    s.metrics.running_peak.inner().fetch_max(now_running, Ordering::SeqCst);
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_guard = CancelOnDrop(cancel.clone());
    let (engine, ad, flag, retries, json_mode, schema) = (s.engine.clone(), adapter.clone(), cancel.clone(), s.json_retries, req.json_object, req.schema.clone());
    let mut params = req.sampling.clone();
    params.max_tokens = max_tokens;
    let prompt_len = prompt.len();
    let done: Result<Completion, TrainError> = tokio::task::spawn_blocking(move || {
        let a = ad.as_deref().map(|l| &l.adapter);
        if json_mode {
            let accept = |v: &Value| schema.as_ref().is_none_or(|s| s.is_valid(v));
            engine.complete_json(&prompt, a, &params, retries, &accept, &flag)
        } else {
            engine.complete(&prompt, a, &params, &flag)
        }
    })
    .await
    .map_err(|e| ServeError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal", format!("generation task: {e}")))?;
    let c = done.map_err(|e| ServeError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "generation_failed", e.to_string()))?;

    let label = ServeMetrics::label(req.node_id.as_deref().unwrap_or("base"));
    s.metrics.generated_tokens.get_or_create(&label).inc_by(c.completion_tokens as u64);
    s.metrics.decode_seconds.get_or_create(&label).inc_by(c.decode_s);
    let tps = if c.decode_s > 0.0 { c.completion_tokens as f64 / c.decode_s } else { 0.0 };
    s.metrics.tokens_per_second.get_or_create(&label).set(tps);
    if json_mode && !c.json_ok {
        return Err(ServeError {
            param: Some("response_format"),
            ..ServeError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_response_error",
                "json_object_unsatisfied",
                format!(
                    "the model gave no JSON object{} in {} attempt(s); the last reply was {:?}",
                    if req.schema.is_some() { " matching the schema" } else { "" },
                    c.attempts,
                    c.text.chars().take(200).collect::<String>()
                ),
            )
        });
    }
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(json!({
        "id": format!("chatcmpl-{}-{id}", s.created),
        "object": "chat.completion",
        "created": unix_now(),
        "model": req.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish.as_str()}],
        "usage": {"prompt_tokens": prompt_len, "completion_tokens": c.completion_tokens, "total_tokens": prompt_len + c.completion_tokens},
        "jitgen": {
            "adapter": adapter.as_ref().map(|a| json!({"node_id": a.node_id, "job_id": a.job_id, "sha256": a.sha256})),
            "adapter_load_ms": load_s.map(|x| x * 1000.0),
            "attempts": c.attempts,
            "prefill_ms": c.prefill_s * 1000.0,
            "decode_ms": c.decode_s * 1000.0,
            "tokens_per_s": tps,
        },
    }))
}
