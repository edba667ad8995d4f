//! `jitgen serve` end to end: a real Postgres with the extension, a real S3-compatible server
//! (s3s-fs), the real binary over a tiny random model, and PEFT adapters published the way the
//! adapter.train worker publishes them (tar in storage, row in jitgen.adapter_artifacts).

mod support;

use std::path::{Path, PathBuf};

use jitgen_sidecar::storage::{object_key, pack_adapter_dir_to, ArtifactMeta, ArtifactStore};
use jitgen_trainer::config::Arch;
use jitgen_trainer::model::LoraSpec;
use jitgen_trainer::serve::{ChatMessage, Engine, SamplingParams};
use jitgen_trainer::tch::Device;
use jitgen_trainer::tiny::{make_tiny_model, write_random_adapter, TinySpec};
use serde_json::{json, Value};
use support::api::{reply, ApiServer, Reply};
use support::services::{temp_dir, S3Server};
use support::TestDb;
use tokio_postgres::Client;

const BUCKET: &str = "jitgen-adapters";
const BASE: &str = "tiny-llama";
const PROMPT: &str = "turn on the kitchen light";

fn tiny_base(dir: &Path) {
    let corpus: Vec<String> = [PROMPT, "set a timer for ten minutes", "system\n", "user\n", "assistant\n", "{\"name\": \"x\"}"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut spec = TinySpec::new(Arch::Llama);
    spec.vocab_size = 300;
    make_tiny_model(dir, &spec, &corpus).unwrap();
}

/// A PEFT adapter with random LoRA matrices (seeded): large enough to change greedy answers.
fn random_adapter(base: &Path, seed: i64, out: &Path) {
    let spec = LoraSpec { r: 4, alpha: 8.0, dropout: 0.0, targets: ["q_proj", "v_proj", "o_proj"].map(String::from).to_vec() };
    write_random_adapter(base, spec, seed, 0.5, out).unwrap();
}

/// Packs, uploads and records an adapter as the worker does; `recorded_sha` overrides the
/// hash written to the row (a corrupted artifact).
async fn publish(c: &Client, store: &ArtifactStore, node: &str, job_id: i64, dir: &Path, recorded_sha: Option<&str>, deleted: bool) -> String {
    let packed = pack_adapter_dir_to(dir, &temp_dir("pack").join(format!("{node}-{job_id}.tar"))).unwrap();
    let key = object_key(node, job_id, &packed.sha256).unwrap();
    let meta = ArtifactMeta { node_id: node.into(), base_model_id: BASE.into(), dataset_hash: packed.sha256.clone(), created_at: "2026-12-02T00:00:00Z".into() };
    store.put_file(&key, &packed.path, &meta).await.unwrap();
    let sha = recorded_sha.unwrap_or(&packed.sha256).to_string();
    c.execute(
        "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes, sha256,
                                              metadata, url, url_expires_at, deleted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', 'http://unused', now() + interval '1 day', CASE WHEN $8 THEN now() END)",
        &[&job_id, &node, &BASE, &packed.sha256, &key, &(packed.size as i64), &sha, &deleted],
    )
    .await
    .unwrap();
    packed.sha256
}

struct Setup {
    _db: TestDb,
    c: Client,
    s3: S3Server,
    model_dir: PathBuf,
    adapters: PathBuf,
    url: String,
}

async fn setup() -> Setup {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let model_dir = temp_dir("serve-model").join(BASE);
    tiny_base(&model_dir);
    let s3 = S3Server::start();
    let store = s3.store(BUCKET);
    store.ensure_bucket(true).await.unwrap();
    let adapters = temp_dir("serve-adapters");
    for (i, node) in ["node-a", "node-b", "node-c"].iter().enumerate() {
        let dir = adapters.join(node);
        random_adapter(&model_dir, 100 + i as i64, &dir);
        publish(&c, &store, node, 1000 + i as i64, &dir, None, false).await;
    }
    let url = db.url.clone();
    Setup { _db: db, c, s3, model_dir, adapters, url }
}

fn serve(s: &Setup, env: &[(&str, &str)]) -> ApiServer {
    let endpoint = s.s3.endpoint();
    let cache = temp_dir("serve-cache").display().to_string();
    let dir = s.model_dir.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("S3_ENDPOINT", &endpoint),
        ("S3_BUCKET", BUCKET),
        ("S3_ACCESS_KEY", &s.s3.access_key),
        ("S3_SECRET_KEY", &s.s3.secret_key),
        ("S3_PATH_STYLE", "true"),
        ("JITGEN_ADAPTER_CACHE", &cache),
        ("JITGEN_SERVE_THREADS", "1"),
    ];
    all.extend_from_slice(env);
    ApiServer::start_command(&["serve", "--model-dir", &dir], &s.url, &all)
}

async fn ask(server: &ApiServer, model: &str, extra: Value) -> Reply {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    reply(reqwest::Client::new().post(server.url("/chat/completions")).json(&body).send().await.unwrap()).await
}

fn content(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["choices"][0]["message"]["content"].as_str().unwrap().to_string()
}

async fn metrics(server: &ApiServer) -> String {
    let base = server.base.trim_end_matches("/v1");
    reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap()
}

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

/// What the engine gives locally for the prompt, with or without an adapter directory.
fn expected(model_dir: &Path, adapter: Option<&Path>) -> String {
    let engine = Engine::load(model_dir, Device::Cpu).unwrap();
    let prompt = engine.encode_chat(&[ChatMessage { role: "user".into(), content: PROMPT.into() }]).unwrap();
    let a = adapter.map(|d| engine.load_adapter(d).unwrap());
    let p = SamplingParams { max_tokens: 8, ..SamplingParams::default() };
    engine.complete(&prompt, a.as_ref(), &p, &Default::default()).unwrap().text
}

#[tokio::test]
async fn each_node_gets_its_own_adapter_and_the_lru_evicts_at_size_plus_one() {
    let s = setup().await;
    let server = serve(&s, &[("JITGEN_SERVE_ADAPTERS", "2")]);

    let base = content(&ask(&server, BASE, json!({})).await);
    let a = content(&ask(&server, &format!("{BASE}:node-a"), json!({})).await);
    let b = content(&ask(&server, &format!("{BASE}:node-b"), json!({})).await);
    assert_eq!(base, expected(&s.model_dir, None));
    assert_eq!(a, expected(&s.model_dir, Some(&s.adapters.join("node-a"))));
    assert_eq!(b, expected(&s.model_dir, Some(&s.adapters.join("node-b"))));
    assert!(a != b && a != base && b != base, "base {base:?}, node-a {a:?}, node-b {b:?}");

    // node-a is used again (a hit), so node-b is the least recently used when node-c arrives.
    let again = ask(&server, &format!("{BASE}:node-a"), json!({})).await;
    assert_eq!(content(&again), a);
    assert!(again.body["jitgen"]["adapter_load_ms"].is_null(), "a cached adapter is not loaded again");
    assert_eq!(again.body["jitgen"]["adapter"]["node_id"], "node-a");
    content(&ask(&server, &format!("{BASE}:node-c"), json!({})).await);
    let m = metrics(&server).await;
    assert_eq!(sample(&m, "jitgen_serve_adapter_evictions_total"), 1.0, "{m}");
    assert_eq!(sample(&m, "jitgen_serve_cached_adapters"), 2.0);
    assert_eq!(sample(&m, r#"jitgen_serve_adapter_cache_hits_total{adapter="node-a"}"#), 1.0);
    let models: Value = reqwest::get(server.url("/models")).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [BASE, "tiny-llama:node-c", "tiny-llama:node-a"], "node-b was evicted");

    // node-b comes back with a second load, and its answer has not changed.
    let back = ask(&server, &format!("{BASE}:node-b"), json!({})).await;
    assert_eq!(content(&back), b);
    assert!(back.body["jitgen"]["adapter_load_ms"].as_f64().is_some());
    let m = metrics(&server).await;
    assert_eq!(sample(&m, r#"jitgen_serve_adapter_cache_misses_total{adapter="node-b"}"#), 2.0, "{m}");
    assert_eq!(sample(&m, "jitgen_serve_adapter_evictions_total"), 2.0);
    assert!(sample(&m, r#"jitgen_serve_generated_tokens_total{adapter="node-a"}"#) > 0.0);
    assert!(m.contains(r#"jitgen_serve_adapter_load_seconds_count{adapter="node-b"} 2"#), "{m}");
}

#[tokio::test]
async fn bad_models_artifacts_and_lengths_get_specific_errors_and_the_base_still_serves() {
    let s = setup().await;
    let store = s.s3.store(BUCKET);
    let tampered = s.adapters.join("node-x");
    random_adapter(&s.model_dir, 7, &tampered);
    publish(&s.c, &store, "node-x", 2000, &tampered, Some(&"0".repeat(64)), false).await;
    publish(&s.c, &store, "node-gone", 2001, &tampered, None, true).await;
    let server = serve(&s, &[]);

    let r = ask(&server, "gpt-4o", json!({})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (404, Some("model_not_found")));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("\"gpt-4o\""), "{}", r.body);
    let r = ask(&server, &format!("{BASE}:node-unknown"), json!({})).await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("node-unknown"), "{}", r.body);
    let r = ask(&server, &format!("{BASE}:node-gone"), json!({})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (404, Some("adapter_gone")), "{}", r.body);

    let r = ask(&server, &format!("{BASE}:node-x"), json!({})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (502, Some("adapter_rejected")), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("sha256"), "{}", r.body);
    let m = metrics(&server).await;
    assert_eq!(sample(&m, r#"jitgen_serve_adapter_rejected_total{adapter="node-x",reason="sha256"}"#), 1.0, "{m}");
    assert_eq!(sample(&m, "jitgen_serve_cached_adapters"), 0.0);
    content(&ask(&server, BASE, json!({})).await);

    let r = ask(&server, BASE, json!({"max_tokens": 100000})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (400, Some("context_length_exceeded")), "{}", r.body);
    let limit = jitgen_trainer::config::ModelConfig::load(&s.model_dir).unwrap().max_position_embeddings;
    assert!(r.body["error"]["message"].as_str().unwrap().contains(&format!("maximum context length is {limit} tokens")), "{}", r.body);
    let r = ask(&server, BASE, json!({"temperature": 9})).await;
    assert_eq!((r.status, r.body["error"]["param"].as_str()), (400, Some("temperature")));

    // A random model does not write JSON: the reply is refused, not passed off as JSON.
    let r = ask(&server, BASE, json!({"response_format": {"type": "json_object"}})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (422, Some("json_object_unsatisfied")), "{}", r.body);

    let exact = ask(&server, BASE, json!({"max_tokens": 5, "ignore_eos": true})).await;
    assert_eq!(exact.body["usage"]["completion_tokens"], 5, "{}", exact.body);
    assert_eq!(exact.body["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn the_concurrency_limit_holds_under_eight_clients_and_a_full_queue_gets_503() {
    let s = setup().await;
    let server = serve(&s, &[("JITGEN_SERVE_CONCURRENCY", "2"), ("JITGEN_SERVE_QUEUE", "32")]);
    let long = json!({"max_tokens": 64, "ignore_eos": true});
    let replies = futures_util::future::join_all((0..8).map(|i| {
        let model = if i % 2 == 0 { BASE.to_string() } else { format!("{BASE}:node-a") };
        let (server, long) = (&server, long.clone());
        async move { ask(server, &model, long).await }
    }))
    .await;
    for r in &replies {
        assert_eq!(r.status, 200, "queued, not failed: {}", r.body);
    }
    let m = metrics(&server).await;
    assert_eq!(sample(&m, "jitgen_serve_running_peak"), 2.0, "two at once, never more: {m}");
    assert_eq!(sample(&m, "jitgen_serve_running"), 0.0);
    drop(server);

    let server = serve(&s, &[("JITGEN_SERVE_CONCURRENCY", "1"), ("JITGEN_SERVE_QUEUE", "1")]);
    let slow = json!({"max_tokens": 400, "ignore_eos": true});
    let replies = futures_util::future::join_all((0..6).map(|_| ask(&server, BASE, slow.clone()))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let busy: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok + busy.len(), 6);
    assert!(ok >= 2 && !busy.is_empty(), "one running and one queued succeed, the rest are refused: {ok} ok");
    assert_eq!(busy[0].body["error"]["code"], "overloaded");
    assert_eq!(busy[0].retry_after, Some(1));
    assert_eq!(sample(&metrics(&server).await, "jitgen_serve_busy_rejections_total"), busy.len() as f64);
}

#[tokio::test]
async fn a_node_role_serves_only_the_adapters_it_may_see_and_an_api_key_is_enforced() {
    let s = setup().await;
    let role = format!("serve_tenant_{}", std::process::id());
    s.c.batch_execute(&format!("CREATE ROLE {role} LOGIN")).await.unwrap();
    s.c.execute("SELECT jitgen.register_node('node-a', 'acme', $1, $2::text::name)", &[&BASE, &role]).await.unwrap();
    s.c.execute("SELECT jitgen.register_node('node-b', 'other', $1, current_user)", &[&BASE]).await.unwrap();
    let as_role = s.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(as_role, s.url, "the test URL names the postgres user");
    let dir = s.model_dir.display().to_string();
    let endpoint = s.s3.endpoint();
    let cache = temp_dir("serve-cache").display().to_string();
    let server = ApiServer::start_command(
        &["serve", "--model-dir", &dir],
        &as_role,
        &[
            ("S3_ENDPOINT", &endpoint),
            ("S3_BUCKET", BUCKET),
            ("S3_ACCESS_KEY", &s.s3.access_key),
            ("S3_SECRET_KEY", &s.s3.secret_key),
            ("S3_PATH_STYLE", "true"),
            ("JITGEN_ADAPTER_CACHE", &cache),
            ("JITGEN_SERVE_API_KEY", "sk-test-serve"),
        ],
    );
    let post = |model: String, key: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .post(server.url("/chat/completions"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 4}));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        async move { reply(req.send().await.unwrap()).await }
    };
    let r = post(BASE.into(), None).await;
    assert_eq!((r.status, r.www_authenticate.as_deref()), (401, Some("Bearer")));
    assert_eq!(post(BASE.into(), Some("sk-wrong")).await.status, 401);
    assert_eq!(post(format!("{BASE}:node-a"), Some("sk-test-serve")).await.status, 200);
    let other = post(format!("{BASE}:node-b"), Some("sk-test-serve")).await;
    assert_eq!(other.status, 404, "row-level security hides another tenant's adapter: {}", other.body);
    drop(server);
    support::drop_database_then_roles(&s._db.name, &[&role]);
}
