//! The endpoint `jitgen.invoke` calls for components whose handler is generated code
//! (`JITGEN_JIT_LISTEN`, default 127.0.0.1:8091, `off` disables). It speaks the chat-completions
//! protocol the backend already uses for LLMs: model `<app>/<component>@<version>`, the request
//! as the last message, the handler's result as the reply's content. Each request reads the
//! component's current active version and code from the database (no reload signal: a rollback
//! or a new activation takes effect on the next call) and runs it in the warm sandbox pool.
//! Bearer token: `JITGEN_JIT_TOKEN` (default `jitgen-local`; set one wherever other local users
//! exist).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use jitgen_core::oracle::error_result;
use jitgen_sidecar::db;
use jitgen_sidecar::jit_runtime::{Answer, Pool};
use jitgen_sidecar::sandbox::Sandbox;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_postgres::Client;

struct Served {
    db: db::Target,
    client: Mutex<Option<Client>>,
    pool: Pool,
    token: String,
    budget: Duration,
}

pub async fn serve(addr: SocketAddr, db: db::Target, token: String, budget: Duration) -> anyhow::Result<()> {
    let sandbox = match Sandbox::from_env().await {
        Ok(s) => s,
        Err(reason) => {
            // Generated code never runs outside the sandbox: invoke of a JIT component then
            // records an error outcome (connection refused) and evaluate_oracle can roll back.
            tracing::error!(%reason, "no sandbox: JIT handlers are not served");
            return Ok(());
        }
    };
    let served = Arc::new(Served { db, client: Mutex::new(None), pool: Pool::new(sandbox), token, budget });
    let router = Router::new().route("/v1/chat/completions", post(run)).with_state(served);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "serving JIT handlers");
    axum::serve(listener, router).await?;
    Ok(())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": {"message": message.into()}}))).into_response()
}

fn reply(model: &str, content: &Value) -> Response {
    axum::Json(json!({
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content.to_string()}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }))
    .into_response()
}

async fn code_for(served: &Served, app: &str, component: &str, version: &str) -> Result<Option<String>, String> {
    let mut slot = served.client.lock().await;
    for _ in 0..2 {
        if slot.is_none() {
            *slot = Some(served.db.connect_spawned("jit").await.map_err(|e| e.to_string())?);
        }
        let client = slot.as_ref().expect("connected above");
        let row = client
            .query_opt(
                "SELECT a.content FROM jitgen.components c
                 JOIN jitgen.jit_artifacts a ON a.app_id = c.app_id AND a.component_id = c.component_id
                      AND a.version = c.active_version AND a.kind = 'code'
                 WHERE c.app_id = $1 AND c.component_id = $2 AND c.handler_type = 'jit' AND c.active_version = $3",
                &[&app, &component, &version],
            )
            .await;
        match row {
            Ok(row) => return Ok(row.map(|r| r.get(0))),
            // A broken connection is replaced once.
            Err(e) if e.is_closed() => *slot = None,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the database connection keeps closing".into())
}

async fn run(State(served): State<Arc<Served>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == served.token);
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let Some((app, rest)) = model.split_once('/') else {
        return error(StatusCode::BAD_REQUEST, "model must be <app>/<component>@<version>");
    };
    let Some((component, version)) = rest.rsplit_once('@') else {
        return error(StatusCode::BAD_REQUEST, "model must be <app>/<component>@<version>");
    };
    let content = body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str()).unwrap_or("null");
    let Ok(request) = serde_json::from_str::<Value>(content) else {
        return error(StatusCode::BAD_REQUEST, "the last message's content is not JSON");
    };
    let code = match code_for(&served, app, component, version).await {
        Ok(Some(code)) => code,
        Ok(None) => {
            return reply(&model, &error_result("not_active", format!("{app}/{component}@{version} is not the active handler")))
        }
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")),
    };
    let answer = served.pool.run(&model, &code, &request, served.budget).await;
    let content = match answer {
        Answer::Result(v) => v,
        Answer::Failed(message) => error_result("handler_error", message),
        Answer::TimedOut => error_result("timeout", format!("no result within {} ms", served.budget.as_millis())),
    };
    reply(&model, &content)
}
