//! `jitgen api`: seed 004's HTTP routes for nodes (devices that speak HTTP, not SQL).
//!
//! Each request authenticates its bearer token (`jitgen.issue_node_token`), then runs in one
//! transaction as the node's owner_role (`set_config('role', …, true)`, i.e. SET LOCAL ROLE),
//! calling the same SQL functions a node would call over SQL: grants and row-level security
//! decide, the HTTP layer only maps bodies and status codes. A token also binds the node id:
//! another node's id or job is a 404, as is one that does not exist, so nothing leaks.

mod pool;
mod reply;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use jitgen_sidecar::db::Target;
use serde_json::Value;

use crate::worker::config::env_parse;
use pool::{Pool, Pooled};
use reply::{ok, ApiError};

/// The OpenAPI 3.0 document of these routes, served at /api/v0/openapi.json.
pub const OPENAPI: &str = include_str!("openapi.json");

pub struct ApiConfig {
    pub pool_size: usize,
    pub max_body_bytes: usize,
    pub acquire_timeout: Duration,
}

impl ApiConfig {
    /// JITGEN_API_POOL (connections, default 16), JITGEN_API_MAX_BODY_BYTES (default 8 MiB:
    /// the seed's 2,000 examples fit with room), JITGEN_API_ACQUIRE_MS (default 5000).
    pub fn from_env() -> anyhow::Result<ApiConfig> {
        let num = |name: &str, default: u64, min: u64| -> anyhow::Result<u64> {
            let n = env_parse(name, default)?;
            anyhow::ensure!(n >= min, "{name}={n} is below the minimum {min}");
            Ok(n)
        };
        Ok(ApiConfig {
            pool_size: num("JITGEN_API_POOL", 16, 1)? as usize,
            max_body_bytes: num("JITGEN_API_MAX_BODY_BYTES", 8 << 20, 1024)? as usize,
            acquire_timeout: Duration::from_millis(num("JITGEN_API_ACQUIRE_MS", 5000, 1)?),
        })
    }
}

struct Api {
    pool: Arc<Pool>,
}

pub fn router(target: Target, config: &ApiConfig) -> Router {
    let api = Arc::new(Api { pool: Pool::new(target, config.pool_size, config.acquire_timeout) });
    Router::new()
        .route("/api/v0/adapters/train", post(train))
        .route("/api/v0/adapters/jobs/{job_id}", get(job))
        .route("/api/v0/adapters/jobs/{job_id}/cancel", post(cancel))
        .route("/api/v0/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NotFound("no such route: see /api/v0/openapi.json".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(api)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight. Prints the base URL
/// on its own line first.
pub async fn serve(
    listen: &str,
    target: Target,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr: SocketAddr = listener.local_addr()?;
    println!("http://{addr}/api/v0");
    tracing::info!(%addr, "serving the node API");
    axum::serve(listener, router(target, &config)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// One request's transaction, as the node its token names.
struct NodeTx {
    conn: Option<Pooled>,
    node_id: String,
}

const AUTHENTICATE: &str = "SELECT a.node_id, set_config('role', a.role::text, true) FROM jitgen._authenticate_node_token($1) a";

impl NodeTx {
    async fn begin(api: &Api, headers: &HeaderMap) -> Result<NodeTx, ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        let mut conn = api.pool.get().await?;
        let auth = conn.prepared(AUTHENTICATE).await.map_err(|e| ApiError::from_db(&e))?;
        // BEGIN and the lookup go out together; the role is set only inside the transaction,
        // and nothing runs after a failed BEGIN.
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&token];
        let (begun, rows) = tokio::join!(conn.client().batch_execute("BEGIN"), conn.client().query(&auth, &params));
        let mut tx = NodeTx { conn: Some(conn), node_id: String::new() };
        begun.map_err(|e| ApiError::from_db(&e))?;
        let rows = rows.map_err(|e| {
            if e.as_db_error().is_some_and(|d| d.code().code() == "42501") {
                tracing::error!(error = %e, "api: the sidecar's role cannot act as the node's role; GRANT the node role to it");
                return ApiError::Internal;
            }
            ApiError::from_db(&e)
        })?;
        tx.node_id = rows.first().map(|r| r.get::<_, String>(0)).ok_or(ApiError::Unauthorized)?;
        Ok(tx)
    }

    /// One row of a statement prepared once per connection.
    async fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, ApiError> {
        let conn = self.conn.as_mut().expect("open until commit");
        let statement = conn.prepared(sql).await.map_err(|e| ApiError::from_db(&e))?;
        conn.client().query_opt(&statement, params).await.map_err(|e| ApiError::from_db(&e))
    }

    async fn query_one(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<tokio_postgres::Row, ApiError> {
        self.query_opt(sql, params).await?.ok_or(ApiError::Internal)
    }

    async fn commit(mut self) -> Result<(), ApiError> {
        let conn = self.conn.take().expect("open until commit");
        match conn.client().batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                conn.rollback_and_release();
                Err(ApiError::from_db(&e))
            }
        }
    }

    /// For reads: the answer does not wait for COMMIT (it only records last_used_at); the
    /// connection returns to the pool once it is done.
    fn commit_in_background(mut self) {
        let conn = self.conn.take().expect("open until commit");
        tokio::spawn(async move {
            if conn.client().batch_execute("COMMIT").await.is_err() {
                conn.rollback_and_release();
            }
        });
    }

    fn not_found_job(&self, job_id: i64) -> ApiError {
        ApiError::NotFound(format!("adapter job {job_id} does not exist for node \"{}\"", self.node_id))
    }
}

impl Drop for NodeTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.rollback_and_release();
        }
    }
}

/// The token of `Authorization: Bearer <token>`; tokens are 68 characters, so anything far
/// longer is not one and is not hashed.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256).then(|| token.to_string())
}

fn job_id(raw: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    raw.ok()
        .and_then(|Path(raw)| raw.parse::<i64>().ok())
        .ok_or_else(|| ApiError::invalid("job_id", "invalid_type", "job_id must be a 64-bit integer"))
}

/// POST /api/v0/adapters/train {node_id, base_model_id, command_schema[], dataset_hash?}
async fn train(State(api): State<Arc<Api>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(async {
        let body = body.map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge { error: "payload_too_large", message: "the request body is over JITGEN_API_MAX_BODY_BYTES".into() }
            }
            _ => ApiError::invalid("", "invalid_body", &r.body_text()),
        })?;
        let mut tx = NodeTx::begin(&api, &headers).await?;
        let request = TrainRequest::parse(&body)?;
        if request.node_id != tx.node_id {
            return Err(ApiError::NotFound(format!("node \"{}\" is not registered", request.node_id)));
        }
        let row = tx
            .query_one(
                "SELECT r, ceil(extract(epoch FROM (r->>'deferred_until')::timestamptz - clock_timestamp()))::bigint
                 FROM jitgen.train_adapter($1, $2, $3, $4) r",
                &[&request.node_id, &request.base_model_id, &request.command_schema, &request.dataset_hash],
            )
            .await?;
        tx.commit().await?;
        let (result, wait_s): (Value, Option<i64>) = (row.get(0), row.get(1));
        Ok(match wait_s {
            // Over the node's rate limit: the commands were kept and train when the slot opens.
            Some(s) => ok(StatusCode::ACCEPTED, result, Some(s.max(1) as u64)),
            None => ok(StatusCode::OK, result, None),
        })
    })
    .await
}

/// GET /api/v0/adapters/jobs/{job_id}
async fn job(State(api): State<Arc<Api>>, headers: HeaderMap, raw: Result<Path<String>, PathRejection>) -> Response {
    run(async {
        let mut tx = NodeTx::begin(&api, &headers).await?;
        let id = job_id(raw)?;
        let result: Value = match tx.query_one("SELECT jitgen.adapter_job($1)", &[&id]).await {
            Ok(row) => row.get(0),
            Err(ApiError::NotFound(_)) => return Err(tx.not_found_job(id)),
            Err(e) => return Err(e),
        };
        if result["node_id"].as_str() != Some(tx.node_id.as_str()) {
            return Err(tx.not_found_job(id));
        }
        tx.commit_in_background();
        Ok(ok(StatusCode::OK, result, None))
    })
    .await
}

/// POST /api/v0/adapters/jobs/{job_id}/cancel: 200 once canceled (or already finished), 202
/// while a running job is asked to stop between two training steps.
async fn cancel(State(api): State<Arc<Api>>, headers: HeaderMap, raw: Result<Path<String>, PathRejection>) -> Response {
    run(async {
        let mut tx = NodeTx::begin(&api, &headers).await?;
        let id = job_id(raw)?;
        let owner = tx.query_opt("SELECT node_id FROM jitgen.adapter_jobs WHERE job_id = $1", &[&id]).await?;
        if owner.map(|r| r.get::<_, String>(0)).as_deref() != Some(tx.node_id.as_str()) {
            return Err(tx.not_found_job(id));
        }
        let result: Value = tx.query_one("SELECT jitgen.cancel_adapter_job($1)", &[&id]).await?.get(0);
        tx.commit().await?;
        let status = if result["status"] == "running" { StatusCode::ACCEPTED } else { StatusCode::OK };
        Ok(ok(status, result, None))
    })
    .await
}

async fn run(work: impl std::future::Future<Output = Result<Response, ApiError>>) -> Response {
    work.await.unwrap_or_else(IntoResponse::into_response)
}

/// The body of POST /adapters/train, checked field by field so a client learns every problem
/// of its request at once, in the seed's detail form.
struct TrainRequest {
    node_id: String,
    base_model_id: String,
    command_schema: Value,
    dataset_hash: Option<String>,
}

impl TrainRequest {
    fn parse(body: &[u8]) -> Result<TrainRequest, ApiError> {
        let doc: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("", "invalid_json", &format!("the body is not JSON: {e}")))?;
        let Value::Object(mut doc) = doc else {
            return Err(ApiError::invalid("", "invalid_type", "the body must be a JSON object"));
        };
        let mut details = Vec::new();
        let mut text = |name: &str, required: bool, details: &mut Vec<Value>| match doc.remove(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                details.push(detail(name, "missing_field", &format!("{name} required")));
                None
            }
            Some(_) => {
                details.push(detail(name, "invalid_type", &format!("{name} must be a non-empty string")));
                None
            }
        };
        let node_id = text("node_id", true, &mut details);
        let base_model_id = text("base_model_id", true, &mut details);
        let dataset_hash = text("dataset_hash", false, &mut details);
        let command_schema = match doc.remove("command_schema") {
            Some(v @ Value::Array(_)) => Some(v),
            None | Some(Value::Null) => {
                details.push(detail("command_schema", "missing_field", "command_schema required"));
                None
            }
            Some(_) => {
                details.push(detail("command_schema", "invalid_type", "command_schema must be an array of commands"));
                None
            }
        };
        match (node_id, base_model_id, command_schema) {
            (Some(node_id), Some(base_model_id), Some(command_schema)) if details.is_empty() => {
                Ok(TrainRequest { node_id, base_model_id, command_schema, dataset_hash })
            }
            _ => Err(ApiError::BadRequest(serde_json::json!({"error": "invalid_request", "details": details}))),
        }
    }
}

fn detail(path: &str, code: &str, message: &str) -> Value {
    serde_json::json!({"path": path, "code": code, "message": message})
}
