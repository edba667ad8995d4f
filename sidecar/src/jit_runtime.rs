//! Running generated handlers (seed 001), always through [`crate::sandbox`]: their pytest
//! suite, a shadow replay of recorded requests, and warm workers that answer `jitgen.invoke`.
//!
//! A warm worker is one sandboxed Python process per active handler version that reads one
//! JSON request per line and writes one JSON result per line; it loads the handler once. A
//! request that takes longer than its budget kills the worker (the next request starts a new
//! one), so a handler that loops forever costs one timeout, not a stuck slot.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use crate::sandbox::{tempdir, RemoveOnDrop, Run, Sandbox};

/// Our runner (not generated): loads /work/handler.py, answers one JSON line per request.
const RUNNER: &str = r#"import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", "/work/handler.py")
handler = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(handler)
    ready = {"ok": True}
except BaseException as e:
    ready = {"ok": False, "error": "import failed: %s: %s" % (type(e).__name__, e)}
print(json.dumps(ready), flush=True)
for line in sys.stdin:
    try:
        request = json.loads(line)
        result = handler.handle_request(request["request"], request.get("context") or {})
        out = {"ok": True, "result": result}
        text = json.dumps(out)
    except BaseException as e:
        text = json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, str(e)[:500])})
    print(text, flush=True)
"#;

/// Runs the candidate's tests: `pytest -q` on test_handler.py beside handler.py.
pub async fn run_tests(sandbox: &Sandbox, code: &str, tests: &str) -> Result<Run, String> {
    sandbox
        .run(
            &[("handler.py", code), ("test_handler.py", tests)],
            &["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_handler.py"],
            None,
        )
        .await
}

/// The candidate's output for each request (None where it raised or returned nothing).
pub async fn replay(sandbox: &Sandbox, code: &str, requests: &[Value]) -> Result<Vec<Option<Value>>, String> {
    let mut input = String::new();
    for r in requests {
        input.push_str(&json!({"request": r, "context": {}}).to_string());
        input.push('\n');
    }
    let run = sandbox.run(&[("handler.py", code), ("runner.py", RUNNER)], &["python", "runner.py"], Some(input.as_bytes())).await?;
    let mut lines = run.stdout.lines();
    let ready: Value = lines.next().and_then(|l| serde_json::from_str(l).ok()).unwrap_or(Value::Null);
    if ready["ok"] != json!(true) {
        return Err(format!("the candidate does not load: {} {}", ready["error"], run.stderr.chars().take(400).collect::<String>()));
    }
    let mut out: Vec<Option<Value>> = lines
        .map(|l| serde_json::from_str::<Value>(l).ok().filter(|v| v["ok"] == json!(true)).map(|v| v["result"].clone()))
        .collect();
    out.resize(requests.len(), None);
    Ok(out)
}

/// One warm sandboxed handler process.
struct Warm {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _dir: RemoveOnDrop,
}

impl Warm {
    async fn start(sandbox: &Sandbox, code: &str) -> Result<Warm, String> {
        let dir = tempdir()?;
        let remove = RemoveOnDrop(dir.clone());
        std::fs::write(dir.join("handler.py"), code).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("runner.py"), RUNNER).map_err(|e| e.to_string())?;
        let mut command = sandbox.command(&dir, &["python", "runner.py"]);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().map_err(|e| format!("cannot start the sandbox: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut warm = Warm { child, stdin, stdout, _dir: remove };
        let ready = tokio::time::timeout(sandbox.limits.wall, warm.stdout.next_line())
            .await
            .map_err(|_| "the handler did not load in time".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or("the sandbox ended before the handler loaded")?;
        let ready: Value = serde_json::from_str(&ready).map_err(|e| e.to_string())?;
        if ready["ok"] != json!(true) {
            return Err(ready["error"].as_str().unwrap_or("the handler does not load").to_string());
        }
        Ok(warm)
    }

    async fn ask(&mut self, request: &Value, budget: Duration) -> Result<Value, String> {
        let mut line = json!({"request": request, "context": {}}).to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.map_err(|e| format!("the handler process is gone: {e}"))?;
        let answer = tokio::time::timeout(budget, self.stdout.next_line())
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or("the handler process ended (a limit, or it exited)")?;
        let answer: Value = serde_json::from_str(&answer).map_err(|e| format!("unreadable answer: {e}"))?;
        if answer["ok"] == json!(true) {
            Ok(answer["result"].clone())
        } else {
            Err(answer["error"].as_str().unwrap_or("the handler raised").to_string())
        }
    }
}

/// What one pooled run gave.
pub enum Answer {
    Result(Value),
    /// The handler raised, exited or answered garbage.
    Failed(String),
    TimedOut,
}

/// Warm handlers by "app/component@version"; a version no longer active is simply never asked
/// again (its process ends when the pool drops it at the next start of that key).
#[derive(Clone)]
pub struct Pool {
    sandbox: Arc<Sandbox>,
    workers: Arc<Mutex<HashMap<String, Arc<Mutex<Option<Warm>>>>>>,
}

impl Pool {
    pub fn new(sandbox: Sandbox) -> Pool {
        Pool { sandbox: Arc::new(sandbox), workers: Arc::default() }
    }

    /// Runs `code` (the handler of `key`) on `request` within `budget`.
    pub async fn run(&self, key: &str, code: &str, request: &Value, budget: Duration) -> Answer {
        let slot = {
            let mut map = self.workers.lock().await;
            map.entry(key.to_string()).or_default().clone()
        };
        let mut warm = slot.lock().await;
        let started = Instant::now();
        if warm.is_none() {
            match Warm::start(&self.sandbox, code).await {
                Ok(w) => *warm = Some(w),
                Err(e) => return Answer::Failed(e),
            }
        }
        let left = budget.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        let Some(w) = warm.as_mut() else { return Answer::Failed("no worker".into()) };
        match w.ask(request, left).await {
            Ok(v) => Answer::Result(v),
            Err(e) => {
                // A timed-out or broken worker is replaced on the next request.
                if let Some(mut dead) = warm.take() {
                    let _ = dead.child.start_kill();
                }
                if e == "timeout" {
                    Answer::TimedOut
                } else {
                    Answer::Failed(e)
                }
            }
        }
    }
}
