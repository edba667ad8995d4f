//! The sidecar's OpenAI-compatible client: retries 429, 5xx and connection errors with
//! backoff (honouring Retry-After) inside one overall time budget; unparsable replies are
//! reported as such and not retried blindly. Every call is recorded in jitgen.llm_calls.

use std::time::{Duration, Instant};

use jitgen_core::llm::{self, Failure, Outcome, Reply, Usage};
use serde_json::Value;
use tokio_postgres::Client;

#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    pub endpoint: String,
    pub model: String,
    api_key: Option<String>,
    /// The whole call, retries included (`LLM_TIMEOUT_MS`, default 30000).
    pub budget: Duration,
    /// Extra attempts after a 429/5xx/connection failure (`LLM_MAX_RETRIES`, default 3).
    pub max_retries: u32,
    /// Ask once more, quoting the validation errors, when a reply fails its schema
    /// (`LLM_REASK=true`).
    pub reask: bool,
}

pub struct Call {
    pub reply: Result<Reply, Failure>,
    pub latency: Duration,
    pub attempts: u32,
    /// Tokens the answer reports, also when its content is unusable: those were paid for.
    pub usage: Usage,
    /// The answer's message text as sent, kept for debugging an invalid reply.
    pub content: Option<String>,
}

impl Call {
    fn failed(failure: Failure, started: Instant, attempts: u32) -> Call {
        Call { reply: Err(failure), latency: started.elapsed(), attempts, usage: Usage::default(), content: None }
    }

    /// Parses the body once: the reply, and the usage and text also kept when the reply is
    /// unusable.
    fn answered(body: &[u8], started: Instant, attempts: u32) -> Call {
        let Ok(envelope) = serde_json::from_slice::<Value>(body) else {
            return Call { reply: llm::parse_response(body), latency: started.elapsed(), attempts, usage: Usage::default(), content: None };
        };
        let content = envelope.pointer("/choices/0/message/content").and_then(Value::as_str).map(str::to_string);
        let usage = llm::envelope_usage(&envelope);
        Call { reply: llm::parse_envelope(&envelope), latency: started.elapsed(), attempts, usage, content }
    }
}

/// A setting from the environment, trimmed; None when unset or blank.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl LlmClient {
    pub fn from_env() -> anyhow::Result<LlmClient> {
        let parse = |name: &str, default: u64| -> anyhow::Result<u64> {
            env(name).map_or(Ok(default), |v| v.parse().map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")))
        };
        Ok(LlmClient {
            http: reqwest::Client::builder().build()?,
            endpoint: env("LLM_API_ENDPOINT").unwrap_or_else(|| "https://api.openai.com/v1/chat/completions".into()),
            model: env("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            api_key: env("LLM_API_KEY"),
            budget: Duration::from_millis(parse("LLM_TIMEOUT_MS", 30_000)?),
            max_retries: parse("LLM_MAX_RETRIES", 3)? as u32,
            reask: env("LLM_REASK").is_some_and(|v| v == "true" || v == "1"),
        })
    }

    pub fn set_api_key(&mut self, key: String) {
        self.api_key = Some(key);
    }

    /// Online by configuration: a key is set.
    pub fn is_online(&self) -> bool {
        self.api_key.is_some()
    }

    pub async fn chat(&self, body: &Value) -> Call {
        let started = Instant::now();
        let Some(key) = &self.api_key else {
            return Call::failed(Failure::NotConfigured { message: "LLM_API_KEY is not set".into() }, started, 0);
        };
        let deadline = started + self.budget;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout_ms = self.budget.as_millis() as u64;
            if remaining.is_zero() {
                return Call::failed(Failure::Timeout { timeout_ms }, started, attempts);
            }
            let sent = self.http.post(&self.endpoint).bearer_auth(key).json(body).timeout(remaining).send().await;
            let (failure, retry_after) = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        // NaN and infinities parse as f64; they would panic in from_secs_f64.
                        .filter(|s| s.is_finite())
                        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)));
                    match response.bytes().await {
                        Ok(bytes) if (200..300).contains(&status) => {
                            return Call::answered(&bytes, started, attempts);
                        }
                        Ok(bytes) => {
                            let failure = Failure::HttpStatus { status, body: llm::error_excerpt(&bytes, Some(key)) };
                            if status != 429 && status < 500 {
                                return Call::failed(failure, started, attempts);
                            }
                            (failure, retry_after)
                        }
                        Err(e) if e.is_timeout() => {
                            return Call::failed(Failure::Timeout { timeout_ms }, started, attempts);
                        }
                        Err(e) => (Failure::Network { message: e.to_string() }, None),
                    }
                }
                Err(e) if e.is_timeout() => {
                    return Call::failed(Failure::Timeout { timeout_ms }, started, attempts);
                }
                // Never include the request in messages: it carries the key.
                Err(e) => (Failure::Network { message: e.without_url().to_string() }, None),
            };
            let backoff = retry_after.unwrap_or_else(|| Duration::from_millis(250 * 2u64.pow(attempts.min(6) - 1)));
            if attempts > self.max_retries || Instant::now() + backoff >= deadline {
                return Call::failed(failure, started, attempts);
            }
            tracing::info!(attempt = attempts, kind = failure.kind(), wait_ms = backoff.as_millis() as u64, "LLM call failed; retrying");
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Writes the metric row for one call (in its own statement, so it is kept even if the job
/// that made the call fails later).
pub async fn record(db: &Client, component_id: &str, model: &str, call: &Call, outcome: Outcome, error: Option<Value>) {
    record_for(db, "", component_id, model, call, outcome, error).await
}

/// [`record`] under an explicit app id ("" = `jitgen.app_id`, else the database name).
pub async fn record_for(db: &Client, app_id: &str, component_id: &str, model: &str, call: &Call, outcome: Outcome, error: Option<Value>) {
    // jit.generate:<component> → jit.generate: one series per kind, not per component.
    let kind = component_id.split(':').next().unwrap_or(component_id).to_string();
    crate::worker::metrics::llm_latency()
        .get_or_create(&crate::worker::metrics::KindLabel { kind })
        .observe(call.latency.as_secs_f64());
    let usage = call.usage;
    let r = db
        .execute(
            "SELECT jitgen._record_llm_call(coalesce(nullif($9, ''), current_setting('jitgen.app_id', true), current_database()),
                    $1, $2, $3, $4, $5, $6::float8::numeric, $7, $8)",
            &[
                &component_id,
                &model,
                &(call.latency.as_millis().min(i32::MAX as u128) as i32),
                &(usage.prompt_tokens.min(i32::MAX as u64) as i32),
                &(usage.completion_tokens.min(i32::MAX as u64) as i32),
                &llm::cost_estimate_usd(model, usage),
                &outcome.as_str(),
                &error,
                &app_id,
            ],
        )
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %crate::worker::describe(&e), "could not record the LLM call");
    }
}
