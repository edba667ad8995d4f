//! HTTP answers of the node API: every error is a JSON body with an `error` code, and SQLSTATEs
//! map to the status codes the seed and the OpenAPI document promise.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug)]
pub enum ApiError {
    /// 400 with a ready body: the seed's `invalid_schema` report or an `invalid_request` one.
    BadRequest(Value),
    Unauthorized,
    /// 404 for what does not exist and for what belongs to another node alike.
    NotFound(String),
    Forbidden(String),
    MethodNotAllowed,
    TooLarge { error: &'static str, message: String },
    /// 503 with Retry-After: the database or the pool, not the request, is the problem.
    Unavailable { message: String, retry_after_s: u64 },
    Internal,
}

impl ApiError {
    pub fn unavailable(message: &str) -> ApiError {
        ApiError::Unavailable { message: message.to_string(), retry_after_s: 5 }
    }

    /// One problem with the request's own shape (not its commands), in the seed's detail form.
    pub fn invalid(path: &str, code: &str, message: &str) -> ApiError {
        ApiError::BadRequest(json!({"error": "invalid_request", "details": [{"path": path, "code": code, "message": message}]}))
    }

    /// A failed statement, by SQLSTATE: input errors are the client's, lock and connection
    /// trouble is retryable, anything else is logged and hidden.
    pub fn from_db(e: &tokio_postgres::Error) -> ApiError {
        let Some(db) = e.as_db_error() else {
            tracing::warn!(error = %e, "api: database connection failed");
            return ApiError::unavailable("the database connection failed");
        };
        let code = db.code().code();
        let message = db.message().to_string();
        match code {
            // train_adapter's DETAIL is the seed's 400 body for invalid commands.
            "22023" if db.detail().and_then(seed_body).is_some() => ApiError::BadRequest(db.detail().and_then(seed_body).unwrap_or_default()),
            c if c.starts_with("22") => {
                let path = if message.starts_with("dataset_hash") { "dataset_hash" } else { "" };
                let text = match db.detail() {
                    Some(d) => format!("{message}: {d}"),
                    None => message,
                };
                ApiError::invalid(path, "invalid_value", &text)
            }
            "42704" => ApiError::NotFound(message),
            "42501" => ApiError::Forbidden(message),
            "54000" => ApiError::TooLarge { error: "dataset_too_large", message: format!("{message}. {}", db.detail().unwrap_or("")).trim_end().to_string() },
            "55P03" | "57014" | "40001" | "40P01" => ApiError::Unavailable { message, retry_after_s: 1 },
            c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => {
                tracing::warn!(sqlstate = c, %message, "api: database unavailable");
                ApiError::unavailable("the database is unavailable")
            }
            c => {
                tracing::error!(sqlstate = c, %message, detail = db.detail().unwrap_or(""), "api: unexpected database error");
                ApiError::Internal
            }
        }
    }
}

fn seed_body(detail: &str) -> Option<Value> {
    serde_json::from_str::<Value>(detail).ok().filter(|v| v["error"].is_string() && v["details"].is_array())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, retry_after) = match self {
            ApiError::BadRequest(body) => (StatusCode::BAD_REQUEST, body, None),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "unauthorized", "message": "a valid bearer token is required (Authorization: Bearer jgn_…)"}),
                None,
            ),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, json!({"error": "not_found", "message": message}), None),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, json!({"error": "forbidden", "message": message}), None),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": "method_not_allowed", "message": "see /api/v0/openapi.json for each route's method"}),
                None,
            ),
            ApiError::TooLarge { error, message } => (StatusCode::PAYLOAD_TOO_LARGE, json!({"error": error, "message": message}), None),
            ApiError::Unavailable { message, retry_after_s } => {
                (StatusCode::SERVICE_UNAVAILABLE, json!({"error": "unavailable", "message": message}), Some(retry_after_s))
            }
            ApiError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "internal", "message": "the server logged the cause"}), None)
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"jitgen\""));
        }
        if let Some(s) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// A success body with its status and, for a deferred training job, Retry-After.
pub fn ok(status: StatusCode, body: Value, retry_after_s: Option<u64>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(s) = retry_after_s {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}
