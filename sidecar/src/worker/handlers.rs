//! Job kinds. A handler does its work outside any transaction and returns the result plus the
//! statements that record its side effects; the worker runs those statements in the same
//! transaction that marks the job complete and archives its message, so a crash at any point
//! either keeps all of it or none of it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// Kinds whose handler exists in builds with other features (adapter.train needs `train`): a
/// worker built without it leaves such jobs queued for one that has it, instead of burying
/// them as an unknown kind.
pub fn built_without(kind: &str) -> bool {
    kind == "adapter.train" && !cfg!(feature = "train")
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub struct JobContext {
    pub id: i64,
    pub payload: Value,
    pub attempt: i32,
    /// The job's last attempt: a handler may give a final answer instead of failing again.
    pub max_attempts: i32,
    pub worker: String,
    /// Turns true when someone calls jitgen.cancel_job on this job.
    pub cancel: watch::Receiver<bool>,
}

impl JobContext {
    /// Sleeps, waking early (with `Err(Canceled)`) if the job is canceled.
    pub async fn sleep(&self, d: Duration) -> Result<(), JobError> {
        let mut cancel = self.cancel.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = cancel.wait_for(|c| *c) => Err(JobError::Canceled),
        }
    }
}

/// One statement to run in the completing transaction.
pub struct Effect {
    pub sql: &'static str,
    pub params: Vec<Box<dyn ToSql + Sync + Send>>,
}

pub struct Done {
    pub result: Value,
    pub effects: Vec<Effect>,
}

#[derive(Debug)]
pub enum JobError {
    /// Worth retrying (network, timeouts, a busy dependency): retried with backoff, then dead.
    Transient(Value),
    /// Retrying cannot help (malformed payload): the job fails at once.
    Permanent(Value),
    Canceled,
}

impl JobError {
    pub fn transient(kind: &str, message: impl Into<String>) -> JobError {
        JobError::Transient(json!({"kind": kind, "message": message.into()}))
    }

    pub fn permanent(kind: &str, message: impl Into<String>) -> JobError {
        JobError::Permanent(json!({"kind": kind, "message": message.into()}))
    }

    /// A handler's own query failed: transient, the database may be back on the next attempt.
    pub fn database(e: tokio_postgres::Error) -> JobError {
        JobError::transient("database", super::describe(&e))
    }
}

pub trait Handler: Send + Sync {
    fn work<'a>(&'a self, ctx: &'a JobContext, db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>>;

    /// Removes what the job left on local disk; called once the job's end (complete, failed,
    /// dead, canceled or superseded) is committed, never while another attempt may need it.
    fn cleanup(&self, _job_id: i64, _payload: &Value) {}
}

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl Registry {
    pub fn builtin(llm: crate::llm::LlmClient) -> anyhow::Result<Registry> {
        let mut r = Registry::default();
        r.register("echo", Arc::new(Echo { faults: std::env::var("JITGEN_ECHO_FAULTS").is_ok_and(|v| v == "on") }));
        r.register("session.generate", Arc::new(super::session_generate::SessionGenerate { llm: llm.clone() }));
        r.register("content.generate", Arc::new(super::content_generate::ContentGenerate { llm: llm.clone() }));
        r.register("jit.generate", Arc::new(super::jit_generate::JitGenerate::from_env(llm.clone())));
        r.register("program.generate", Arc::new(super::program_generate::ProgramGenerate::from_env(llm)?));
        Ok(r)
    }

    pub fn register(&mut self, kind: &str, handler: Arc<dyn Handler>) {
        self.handlers.insert(kind.to_string(), handler);
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(kind).cloned()
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }
}

/// `echo`: returns its payload and records one row in jitgen_echo_log. Operators use it to
/// check the pipeline; payload options exercise the failure paths:
/// `{"fail_times": n}` fails transiently on the first n attempts, `{"sleep_ms": m}` works for
/// m ms (cancellable), a non-object payload fails permanently. With `JITGEN_ECHO_FAULTS=on`
/// (tests only: anyone granted echo could otherwise crash workers) `{"panic": true}` panics in
/// the handler and `{"abort": true}` aborts the whole process, as an OOM kill would.
pub struct Echo {
    pub faults: bool,
}

impl Handler for Echo {
    fn work<'a>(&'a self, ctx: &'a JobContext, _db: &'a Client) -> BoxFuture<'a, Result<Done, JobError>> {
        Box::pin(async move {
            let Some(payload) = ctx.payload.as_object() else {
                return Err(JobError::permanent("invalid_payload", "echo payload must be a JSON object"));
            };
            if self.faults && payload.get("abort") == Some(&Value::Bool(true)) {
                std::process::abort();
            }
            if self.faults && payload.get("panic") == Some(&Value::Bool(true)) {
                panic!("echo panics as asked (attempt {})", ctx.attempt);
            }
            if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
                ctx.sleep(Duration::from_millis(ms)).await?;
            }
            let fail_times = payload.get("fail_times").and_then(Value::as_i64).unwrap_or(0);
            if i64::from(ctx.attempt) <= fail_times {
                return Err(JobError::transient(
                    "echo_failure",
                    format!("failing as asked: attempt {} of the first {fail_times}", ctx.attempt),
                ));
            }
            Ok(Done {
                result: json!({"echo": ctx.payload, "attempt": ctx.attempt, "worker": ctx.worker}),
                effects: vec![Effect {
                    sql: "INSERT INTO jitgen_echo_log (job_id, payload, worker, attempt) VALUES ($1, $2, $3, $4)
                          ON CONFLICT (job_id) DO NOTHING",
                    params: vec![
                        Box::new(ctx.id),
                        Box::new(ctx.payload.clone()),
                        Box::new(ctx.worker.clone()),
                        Box::new(ctx.attempt),
                    ],
                }],
            })
        })
    }
}
