//! The real `jitgen api` (or `jitgen serve`) as a child process, and its replies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::BIN;

pub struct ApiServer {
    child: Child,
    /// e.g. http://127.0.0.1:40123/api/v0
    pub base: String,
}

impl ApiServer {
    /// Starts `jitgen api` on a free port and waits for the base URL it prints once listening.
    pub fn start(url: &str, env: &[(&str, &str)]) -> ApiServer {
        ApiServer::start_command(&["api"], url, env)
    }

    /// Starts `jitgen <args> --listen 127.0.0.1:0` (api, serve) and waits for its base URL.
    pub fn start_command(args: &[&str], url: &str, env: &[(&str, &str)]) -> ApiServer {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", url)
            .env("JITGEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start jitgen {args:?}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("http://"), "jitgen {args:?} printed {line:?} instead of its URL");
        ApiServer { child, base: line.trim().to_string() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl ApiServer {
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response's status, Retry-After header and JSON body.
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub www_authenticate: Option<String>,
    pub body: serde_json::Value,
}

pub async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let retry_after = header("retry-after").map(|v| v.parse().expect("Retry-After in seconds"));
    let www_authenticate = header("www-authenticate");
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    Reply { status, retry_after, www_authenticate, body }
}
