//! `jitgen dev-llm`: a scripted OpenAI-compatible chat-completions server for the demo and
//! the benchmarks, where no model is reachable. After a fixed latency it answers a program
//! request with the template program for the onboarding answers in the prompt, and a
//! learning-content request with atoms cut from the source text in the prompt, labelled with
//! the model name `jitgen-dev-llm`. For the oracle's demo it plays a character-counting
//! component (`{"text"}` → `{"length"}`) and a coder that only knows how to write that one
//! handler and its tests. It is not a model and never pretends to be.

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

/// The scripted coder's one candidate: a character count and its tests.
const COUNTING_CODE: &str = "def handle_request(request, context):\n    text = request.get('text')\n    if not isinstance(text, str):\n        return {'resultType': 'error', 'error': {'code': 'invalid_request', 'message': 'text must be a string'}}\n    return {'length': len(text)}\n";
const COUNTING_TESTS: &str = "from handler import handle_request\n\n\ndef test_counts_characters():\n    assert handle_request({'text': 'abc'}, {}) == {'length': 3}\n\n\ndef test_empty_text():\n    assert handle_request({'text': ''}, {}) == {'length': 0}\n\n\ndef test_bad_request_is_an_error_result():\n    assert handle_request({}, {})['resultType'] == 'error'\n";

fn completion(request: &Value) -> Value {
    let system = request["messages"][0]["content"].as_str().unwrap_or_default();
    let user = request["messages"][1]["content"].as_str().unwrap_or_default();
    let content = if system.starts_with("You replace an LLM prompt") {
        json!({"code": COUNTING_CODE, "tests": COUNTING_TESTS}).to_string()
    } else if system.contains("Answer with one JSON object only") {
        let text = serde_json::from_str::<Value>(user).ok().and_then(|r| r["text"].as_str().map(|t| t.chars().count()));
        text.map_or_else(|| json!({}), |n| json!({"length": n})).to_string()
    } else if user.contains("Source text:") {
        atoms_for(user).to_string()
    } else {
        program_for(request)
    };
    json!({
        "id": "chatcmpl-dev", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": request.to_string().len() / 4, "completion_tokens": content.len() / 4}
    })
}

/// Atoms of the requested types, one fact (sentence) of the source text each.
fn atoms_for(prompt: &str) -> Value {
    let between = |start: &str, end: &str| prompt.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(v, _)| v.trim().to_string());
    let concept = between("Concept:", "\n").unwrap_or_else(|| "the concept".into());
    let source = between("\"\"\"", "\"\"\"").unwrap_or_default();
    let count: usize = between("Write ", " atoms").and_then(|n| n.parse().ok()).unwrap_or(3);
    let types: Vec<String> = between("atom types in turn:", ". Each").map_or_else(Vec::new, |t| t.split(',').map(|s| s.trim().to_string()).collect());
    let facts: Vec<&str> = source.split(['.', '\n']).map(str::trim).filter(|f| f.split_whitespace().count() >= 3).collect();
    if facts.is_empty() || types.is_empty() {
        return json!({"atoms": []});
    }
    let atoms: Vec<Value> = (0..count)
        .map(|i| {
            let fact = facts[i % facts.len()];
            let n = i + 1;
            let longest = fact.split_whitespace().max_by_key(|w| w.len()).unwrap_or(fact);
            match types[i % types.len()].as_str() {
                "cloze" => json!({"atom_type": "cloze", "front": format!("({n}) {}", fact.replacen(longest, &format!("{{{{c1::{longest}}}}}"), 1))}),
                "mcq" => json!({"atom_type": "mcq", "front": format!("({n}) Which statement about {concept} is true?"),
                                "options": [{"text": fact, "correct": true}, {"text": format!("{concept} has nothing to do with this topic."), "correct": false},
                                            {"text": "None of these statements.", "correct": false}]}),
                "true_false" => json!({"atom_type": "true_false", "front": format!("({n}) {fact}"), "answer": true}),
                "compare" => json!({"atom_type": "compare", "front": format!("({n}) Which one does this describe: {fact}?"), "items": [concept, "something else"], "back": concept}),
                "parsons" => json!({"atom_type": "parsons", "front": format!("({n}) Put the words of this fact in order"), "lines": fact.split_whitespace().collect::<Vec<_>>()}),
                "numeric" => json!({"atom_type": "numeric", "front": format!("({n}) How many words are in: \"{fact}\"?"), "answer": fact.split_whitespace().count(), "tolerance": 0}),
                _ => json!({"atom_type": "flashcard", "front": format!("({n}) What does the source say about {concept}?"), "back": fact}),
            }
        })
        .collect();
    json!({"atoms": atoms})
}

fn program_for(request: &Value) -> String {
    let onboarding = Onboarding::from_value(&onboarding_in(request)).unwrap_or_else(|_| Onboarding::from_value(&json!({})).expect("{} is an object"));
    let mut program = template::program(&onboarding, &rfc3339_now());
    program["aiModelUsed"] = json!(MODEL);
    program["tags"] = json!(["dev-llm"]);
    program.to_string()
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

    #[test]
    fn answers_content_requests_with_valid_atoms_of_the_asked_types() {
        let types: Vec<String> = ["flashcard", "cloze", "mcq", "true_false", "compare", "parsons", "numeric"].iter().map(|s| s.to_string()).collect();
        let body = crate::worker::content_generate::request_body("m", "OSPF", "OSPF is a link-state protocol. It floods link-state advertisements to neighbours.", &types, 7);
        let reply = completion(&body);
        let content: Value = serde_json::from_str(reply["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        let atoms = content["atoms"].as_array().unwrap();
        assert_eq!(atoms.len(), 7);
        for (atom, ty) in atoms.iter().zip(&types) {
            assert_eq!(atom["atom_type"], json!(ty));
            let report = jitgen_core::validation::builtin::Builtin::LearningAtom.compiled().validate(atom, 10);
            assert!(report.is_valid(), "{atom}: {}", report.to_json());
        }
    }
}
