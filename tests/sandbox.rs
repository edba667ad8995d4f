//! The sandbox for generated code (seed 001): each escape attempt runs as generated code would
//! and must end as a failed or contained run, with the host unchanged. No database needed; the
//! sandbox runtime comes from scripts/setup.sh (JITGEN_SANDBOX_VENV).

use std::time::Duration;

use jitgen_sidecar::jit_runtime::{self, Answer, Pool};
use jitgen_sidecar::sandbox::{Limits, Sandbox};
use serde_json::json;

async fn sandbox() -> Sandbox {
    let mut s = Sandbox::from_env().await.unwrap_or_else(|e| panic!("the sandbox must be available here: {e}"));
    // Short limits keep the suite fast; the defaults are larger.
    s.limits = Limits { cpu_seconds: 2, wall: Duration::from_secs(4), memory_bytes: 512 << 20, processes: 32, file_bytes: 1 << 20 };
    s
}

async fn python(s: &Sandbox, code: &str) -> jitgen_sidecar::sandbox::Run {
    s.run(&[("attempt.py", code)], &["python", "attempt.py"], None).await.expect("the sandbox starts")
}

#[tokio::test]
async fn a_normal_run_works_and_sees_only_its_files() {
    let s = sandbox().await;
    let r = python(&s, "import os; print(sorted(os.listdir('.'))); print(open('attempt.py').read()[:6])").await;
    assert!(r.succeeded(), "{r:?}");
    assert!(r.stdout.contains("['attempt.py']") && r.stdout.contains("import"), "{r:?}");
}

#[tokio::test]
async fn no_network_not_even_the_hosts_loopback() {
    let s = sandbox().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\nfor host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n    try:\n        socket.create_connection((host, port), timeout=2)\n        print('CONNECTED', host)\n    except OSError as e:\n        print('refused', host, type(e).__name__)\n"
    );
    let r = python(&s, &code).await;
    assert!(!r.stdout.contains("CONNECTED"), "{r:?}");
    assert_eq!(r.stdout.matches("refused").count(), 2, "{r:?}");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nothing reached the host's listener");
}

#[tokio::test]
async fn no_host_files_no_environment_no_host_processes() {
    std::env::set_var("LLM_API_KEY", "sk-must-not-leak-123");
    let s = sandbox().await;
    let r = python(
        &s,
        "import os\n\
         for p in ['/etc/shadow', '/etc/passwd', '/root/.bashrc', '/proc/1/environ']:\n\
         \x20   try:\n\
         \x20       data = open(p).read()\n\
         \x20       print('READ', p, 'sk-must-not-leak' in data)\n\
         \x20   except OSError as e:\n\
         \x20       print('denied', p, type(e).__name__)\n\
         print('ENV', dict(os.environ))\n\
         print('PIDS', sorted(int(d) for d in os.listdir('/proc') if d.isdigit()))\n",
    )
    .await;
    assert!(r.succeeded(), "{r:?}");
    assert!(!r.stdout.contains("sk-must-not-leak-123"), "the sidecar's key leaked: {}", r.stdout);
    assert!(!r.stdout.contains("READ /etc/shadow") && !r.stdout.contains("READ /root"), "{}", r.stdout);
    assert!(!r.stdout.contains("LLM_API_KEY"), "{}", r.stdout);
    // Its own PID namespace: a handful of processes, none of the host's.
    let pids = r.stdout.lines().find(|l| l.starts_with("PIDS")).unwrap().to_string();
    assert!(pids.matches(',').count() < 5, "{pids}");
}

#[tokio::test]
async fn writes_outside_its_directory_do_not_reach_the_host() {
    let s = sandbox().await;
    let target = std::env::temp_dir().join(format!("jitgen-escape-{}", std::process::id()));
    std::fs::create_dir_all(&target).unwrap();
    let victim = target.join("owned.txt");
    let code = format!(
        "for p in [{:?}, '/usr/owned.txt', '/owned.txt']:\n    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n    except OSError as e:\n        print('denied', p, type(e).__name__)\n",
        victim.to_string_lossy()
    );
    let r = python(&s, &code).await;
    assert!(!victim.exists(), "the sandbox wrote into the host: {r:?}");
    assert!(!std::path::Path::new("/usr/owned.txt").exists() && !std::path::Path::new("/owned.txt").exists());
    assert!(r.stdout.contains("denied /usr/owned.txt"), "{r:?}");
    std::fs::remove_dir_all(&target).ok();
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let s = sandbox().await;
    let r = python(&s, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n").await;
    assert!(!r.succeeded(), "{r:?}");
    assert!(r.elapsed < Duration::from_secs(10), "ended by its limits: {r:?}");
}

#[tokio::test]
async fn ten_gigabytes_are_refused() {
    let s = sandbox().await;
    let r = python(&s, "b = bytearray(10 * 1024**3)\nprint('ALLOCATED')").await;
    assert!(!r.succeeded() && !r.stdout.contains("ALLOCATED"), "{r:?}");
    assert!(r.stderr.contains("MemoryError"), "{r:?}");
}

#[tokio::test]
async fn a_busy_loop_and_a_long_sleep_are_stopped() {
    let s = sandbox().await;
    let r = python(&s, "while True:\n    pass\n").await;
    assert!(!r.succeeded(), "{r:?}");
    assert!(r.elapsed < Duration::from_secs(6), "{r:?}");
    let r = python(&s, "import time\ntime.sleep(60)\n").await;
    assert!(r.timed_out && r.code.is_none(), "{r:?}");
    assert!(r.elapsed < Duration::from_secs(6), "{r:?}");
}

#[tokio::test]
async fn a_huge_file_is_cut_at_the_size_limit() {
    let s = sandbox().await;
    let r = python(&s, "open('big', 'wb').write(b'x' * (50 << 20))\nprint('WROTE')").await;
    assert!(!r.succeeded() && !r.stdout.contains("WROTE"), "{r:?}");
}

const GOOD: &str = "def handle_request(request, context):\n    return {'length': len(request['text'])}\n";

#[tokio::test]
async fn pytest_passes_and_fails_with_its_output() {
    let s = sandbox().await;
    let tests = "from handler import handle_request\n\ndef test_length():\n    assert handle_request({'text': 'abc'}, {}) == {'length': 3}\n";
    let r = jit_runtime::run_tests(&s, GOOD, tests).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert!(r.stdout.contains("1 passed"), "{r:?}");
    let failing = tests.replace("== {'length': 3}", "== {'length': 4}");
    let r = jit_runtime::run_tests(&s, GOOD, &failing).await.unwrap();
    assert!(!r.succeeded() && r.stdout.contains("1 failed"), "{r:?}");
}

#[tokio::test]
async fn replay_and_the_warm_pool() {
    let s = sandbox().await;
    let code = "def handle_request(request, context):\n    if request['text'] == 'boom':\n        raise ValueError('boom')\n    if request['text'] == 'loop':\n        while True:\n            pass\n    return {'length': len(request['text'])}\n";
    let out = jit_runtime::replay(&s, code, &[json!({"text": "ab"}), json!({"text": "boom"})]).await.unwrap();
    assert_eq!(out, vec![Some(json!({"length": 2})), None]);
    let pool = Pool::new(s);
    let budget = Duration::from_millis(1500);
    assert!(matches!(pool.run("a/c@v1", code, &json!({"text": "abc"}), budget).await, Answer::Result(v) if v == json!({"length": 3})));
    assert!(matches!(pool.run("a/c@v1", code, &json!({"text": "boom"}), budget).await, Answer::Failed(e) if e.contains("ValueError")));
    assert!(matches!(pool.run("a/c@v1", code, &json!({"text": "loop"}), budget).await, Answer::TimedOut));
    // The looping worker was replaced: the next request is answered.
    assert!(matches!(pool.run("a/c@v1", code, &json!({"text": "abcd"}), budget).await, Answer::Result(v) if v == json!({"length": 4})));
}
