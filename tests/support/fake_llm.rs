//! An OpenAI-compatible chat-completions server for tests: answers on 127.0.0.1 with whatever
//! the test scripted, records what it was asked, and tells the test when a request arrives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Clone)]
pub enum Behaviour {
    /// 200 with this message content (usually a JITAdjustment as JSON text).
    Content(String),
    /// 200 with this content cut off at the token limit (`finish_reason: "length"`).
    CutOff(String),
    /// Wait, then behave as the inner behaviour.
    Delay(Duration, Box<Behaviour>),
    /// This status with this body.
    Status(u16, String),
    /// This status with a Retry-After header (seconds).
    Throttle(u16, u64),
    /// This status with a Retry-After header of any text (`NaN`, `inf`, `1e400`).
    ThrottleText(u16, &'static str),
}

pub struct FakeLlm {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Scripted answers consumed one per request before `behaviour` applies.
    script: Arc<Mutex<std::collections::VecDeque<Behaviour>>>,
    /// When each request arrived.
    pub arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
    pub arrived: Arc<Notify>,
}

impl FakeLlm {
    pub async fn start(behaviour: Behaviour) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        let behaviour = Arc::new(Mutex::new(behaviour));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let script = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (b, r, a, sc, ar) = (behaviour.clone(), requests.clone(), arrived.clone(), script.clone(), arrivals.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let (b, r, a, sc, ar) = (b.clone(), r.clone(), a.clone(), sc.clone(), ar.clone());
                tokio::spawn(async move {
                    let Some((headers, body)) = read_request(&mut socket).await else { return };
                    let auth = headers
                        .lines()
                        .find_map(|l| l.strip_prefix("authorization: ").or_else(|| l.strip_prefix("Authorization: ")))
                        .unwrap_or_default()
                        .to_string();
                    r.lock().unwrap().push((auth, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    ar.lock().unwrap().push(std::time::Instant::now());
                    a.notify_one();
                    let scripted = sc.lock().unwrap().pop_front();
                    let mut behaviour = scripted.unwrap_or_else(|| b.lock().unwrap().clone());
                    let mut extra_header = String::new();
                    let (status, body) = loop {
                        match behaviour {
                            Behaviour::Delay(d, inner) => {
                                tokio::time::sleep(d).await;
                                behaviour = *inner;
                            }
                            Behaviour::Status(s, body) => break (s, body),
                            Behaviour::Throttle(s, secs) => {
                                extra_header = format!("Retry-After: {secs}\r\n");
                                break (s, "{\"error\":\"rate limited\"}".to_string());
                            }
                            Behaviour::ThrottleText(s, text) => {
                                extra_header = format!("Retry-After: {text}\r\n");
                                break (s, "{\"error\":\"rate limited\"}".to_string());
                            }
                            Behaviour::Content(content) => break (200, completion(&content, "stop")),
                            Behaviour::CutOff(content) => break (200, completion(&content, "length")),
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra_header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FakeLlm { url, behaviour, script, arrivals, requests, arrived }
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: Vec<Behaviour>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

/// A chat-completions response body; usage is fixed so tests can assert recorded tokens.
fn completion(content: &str, finish_reason: &str) -> String {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 321, "completion_tokens": 45, "total_tokens": 366}
    })
    .to_string()
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&buf[..end]).to_string();
            let length = headers
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse::<usize>().ok()))
                .flatten()
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < length {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some((headers, body));
        }
    }
}
