//! `jitgen dev-llm`: a scripted OpenAI-compatible chat-completions server for the demo and
//! the program benchmark, where no model is reachable. It answers every request after a fixed
//! latency with the template program for the onboarding answers it finds in the prompt,
//! labelled with the model name `jitgen-dev-llm`. It is not a model and never pretends to be.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jitgen_core::adapters::{DateContext, InstantStyle};
use jitgen_core::program::{template, Onboarding};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const MODEL: &str = "jitgen-dev-llm";

/// Serves until the process ends; prints the endpoint URL first, on its own line.
pub async fn serve(listen: &str, latency: Duration) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("http://{}/v1/chat/completions", listener.local_addr()?);
    loop {
        let (socket, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = connection(socket, latency).await;
        });
    }
}

/// One keep-alive connection: requests are answered in order until the client closes it.
async fn connection(mut socket: TcpStream, latency: Duration) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let headers = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf[end + 4..end + 4 + length].to_vec();
        buf.drain(..end + 4 + length);
        tokio::time::sleep(latency).await;
        let (status, reply) = match serde_json::from_slice::<Value>(&body) {
            Ok(request) => (200, completion(&request)),
            Err(e) => (400, json!({"error": {"message": format!("request body is not JSON: {e}")}})),
        };
        let reply = reply.to_string();
        // One write: a head and a body sent apart meet Nagle's algorithm and the client's
        // delayed ACK, which add 40 ms to every answer.
        let response = format!("HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}", reply.len());
        socket.write_all(response.as_bytes()).await?;
    }
}

/// The onboarding object the program prompt embeds (`{}` when there is none).
fn onboarding_in(request: &Value) -> Value {
    let text = request["messages"].as_array().into_iter().flatten().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n");
    text.split_once("onboarding answers:\n```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .and_then(|(json, _)| serde_json::from_str(json).ok())
        .unwrap_or_else(|| json!({}))
}

fn completion(request: &Value) -> Value {
    let onboarding = Onboarding::from_value(&onboarding_in(request)).unwrap_or_else(|_| Onboarding::from_value(&json!({})).expect("{} is an object"));
    let mut program = template::program(&onboarding, &rfc3339_now());
    program["aiModelUsed"] = json!(MODEL);
    program["tags"] = json!(["dev-llm"]);
    let content = program.to_string();
    json!({
        "id": "chatcmpl-dev", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": request.to_string().len() / 4, "completion_tokens": content.len() / 4}
    })
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    DateContext::at(secs, "UTC", InstantStyle::Utc).ok().and_then(|c| c.now).unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_a_valid_program_for_the_prompted_onboarding() {
        let o = Onboarding::from_value(&json!({"experienceLevel": "Advanced", "equipment": ["Kettlebells"], "trainingFrequencyDays": 5})).unwrap();
        let request = jitgen_core::program::prompt::request_body("gpt-4o-mini", &o);
        let reply = completion(&request);
        let content: Value = serde_json::from_str(reply["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(content["difficultyLevel"], json!("Advanced"));
        assert_eq!(content["trainingFrequency"], json!(5));
        assert!(jitgen_core::program::check_reply(&content, &o).is_ok());
        let now = rfc3339_now();
        assert_eq!((now.len(), &now[10..11], &now[19..]), (20, "T", "Z"));
        assert!(now.as_str() > "2026-01-01");
    }
}
