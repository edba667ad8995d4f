//! The one network call a backend makes: a synchronous, time-boxed chat completion for
//! `generate_session`. The HTTP exchange runs on a helper thread that never touches Postgres;
//! the backend waits in short slices, checking for interrupts, so statement_timeout and
//! pg_cancel_backend stop the wait at once. A wait that outlives the budget is abandoned: the
//! exchange is aborted (the agent is shut down, which closes its socket), so the thread ends at
//! once; the backend's next call still waits for it first, so a backend never has more than one.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use jitgen_core::llm::{self, Failure, Reply};

use crate::guc;

/// Where and how to call, resolved from settings and the server environment.
pub struct LlmConfig {
    pub endpoint: Option<String>,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl LlmConfig {
    pub fn current() -> LlmConfig {
        LlmConfig {
            endpoint: guc::llm_endpoint(),
            model: guc::llm_model(),
            api_key: guc::llm_api_key(),
            timeout: Duration::from_millis(guc::llm_timeout_ms()),
        }
    }

    /// Online by configuration: an endpoint and a key. Reachability is learnt by calling; a
    /// failed call falls back to the formula.
    pub fn is_configured(&self) -> bool {
        self.endpoint.is_some() && self.api_key.is_some()
    }
}

/// What one call produced, with its latency for the metric row.
pub struct CallResult {
    pub reply: Result<Reply, Failure>,
    pub latency: Duration,
}

pub fn chat(config: &LlmConfig, body: serde_json::Value) -> CallResult {
    let started = Instant::now();
    let (Some(endpoint), Some(key)) = (config.endpoint.clone(), config.api_key.clone()) else {
        return CallResult {
            reply: Err(Failure::NotConfigured {
                message: "set jitgen.llm_endpoint (or LLM_API_ENDPOINT) and LLM_API_KEY (or jitgen.llm_api_key)".into(),
            }),
            latency: started.elapsed(),
        };
    };
    let timeout = config.timeout;
    let timeout_ms = timeout.as_millis() as u64;
    let deadline = started + timeout;
    // A call abandoned by a cancel or a timeout leaves its thread running until its own
    // deadline. Waiting for it here (interruptibly, within this call's budget) keeps a backend
    // at one HTTP thread however often it is cancelled.
    if !wait_for_previous_thread(deadline) {
        return CallResult { reply: Err(Failure::Timeout { timeout_ms }), latency: started.elapsed() };
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let agent = http_agent(remaining);
    // However this call ends (reply, timeout, or a cancel that unwinds out of the wait below),
    // the agent is shut down: an exchange still in flight fails at once and its thread ends.
    let _abort = AbortOnDrop(Some(agent.clone()));
    let (tx, rx) = mpsc::channel();
    let spawned = with_signals_blocked(|| {
        std::thread::Builder::new().name("jitgen-llm".into()).spawn(move || {
            let _ = tx.send(post(&agent, &endpoint, &key, &body, remaining));
        })
    });
    match spawned {
        Ok(handle) => IN_FLIGHT.with(|slot| *slot.borrow_mut() = Some(handle)),
        Err(e) => {
            return CallResult {
                reply: Err(Failure::Network { message: format!("cannot start the HTTP thread: {e}") }),
                latency: started.elapsed(),
            }
        }
    }
    let reply = loop {
        let now = Instant::now();
        if now >= deadline {
            break Err(Failure::Timeout { timeout_ms });
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(5))) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Raises query_canceled (57014) on pg_cancel_backend or statement_timeout.
                pgrx::check_for_interrupts!();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Failure::Network { message: "the HTTP thread ended without a reply".into() })
            }
        }
    };
    CallResult { reply, latency: started.elapsed() }
}

thread_local! {
    /// This backend's HTTP thread, finished or not.
    static IN_FLIGHT: std::cell::RefCell<Option<std::thread::JoinHandle<()>>> = const { std::cell::RefCell::new(None) };
}

/// Waits until this backend's previous HTTP thread has ended, or `deadline`; true when it has.
fn wait_for_previous_thread(deadline: Instant) -> bool {
    loop {
        let running = IN_FLIGHT.with(|slot| slot.borrow().as_ref().is_some_and(|h| !h.is_finished()));
        if !running {
            if let Some(done) = IN_FLIGHT.with(|slot| slot.borrow_mut().take()) {
                let _ = done.join();
            }
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
        pgrx::check_for_interrupts!();
    }
}

/// Runs `f` with every signal blocked so a thread it starts inherits a full mask: Postgres'
/// handlers (cancel, die, latch) must run on the backend's own thread.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        result
    }
}

/// The HTTP exchange (helper thread only: no Postgres calls here).
fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

struct AbortOnDrop(Option<ureq::Agent>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(agent) = self.0.take() {
            agent.shutdown();
        }
    }
}

fn post(agent: &ureq::Agent, endpoint: &str, key: &str, body: &serde_json::Value, timeout: Duration) -> Result<Reply, Failure> {
    let payload = serde_json::to_vec(body).map_err(|e| Failure::InvalidJson { message: e.to_string() })?;
    let response = agent
        .post(endpoint)
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .send(&payload[..])
        .map_err(|e| transport_failure(e, timeout))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .with_config()
        .limit(8 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| transport_failure(e, timeout))?;
    if !(200..300).contains(&status) {
        return Err(Failure::HttpStatus { status, body: llm::error_excerpt(&bytes, Some(key)) });
    }
    llm::parse_response(&bytes)
}

fn transport_failure(e: ureq::Error, timeout: Duration) -> Failure {
    match e {
        ureq::Error::Timeout(_) => Failure::Timeout { timeout_ms: timeout.as_millis() as u64 },
        // Never echo the request: it carries the key in a header.
        other => Failure::Network { message: other.to_string() },
    }
}
