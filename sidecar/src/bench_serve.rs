//! `jitgen bench-serve` (bench/serve.sh): `jitgen serve` over a real base model, each figure
//! against a baseline measured in the same run:
//! 1. per-token decode latency with a cached adapter against the base alone (target ≤ +10%);
//! 2. first adapter load (fetch from S3, sha256, unpack, load), p50 over fresh nodes
//!    (target ≤ 500 ms);
//! 3. decode tokens/s against transformers `generate` on the same model, prompt token ids and
//!    thread count (bench/serve_hf.py; target ≥ 1.0×).
//!
//! Adapters are seed-004-shaped (r 16, alpha 32, q/k/v/o) with random weights: the cost of a
//! LoRA does not depend on what it learned.

use std::fmt::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jitgen_sidecar::db;
use jitgen_sidecar::storage::{object_key, pack_adapter_dir_to, ArtifactMeta, ArtifactStore, S3Config};
use jitgen_trainer::data::Encoder;
use jitgen_trainer::model::LoraSpec;
use jitgen_trainer::tiny::write_random_adapter;
use serde_json::{json, Value};

use crate::bench::percentile;

const MODEL_ID: &str = "bench-base";
const PROMPT: &str = "Write a short story about a lighthouse keeper who finds a message in a bottle.";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn publish(c: &tokio_postgres::Client, store: &ArtifactStore, node: &str, job_id: i64, dir: &Path, work: &Path) -> anyhow::Result<()> {
    let packed = pack_adapter_dir_to(dir, &work.join(format!("{node}.tar")))?;
    let key = object_key(node, job_id, &packed.sha256)?;
    let meta = ArtifactMeta { node_id: node.into(), base_model_id: MODEL_ID.into(), dataset_hash: packed.sha256.clone(), created_at: "2026-01-01T00:00:00Z".into() };
    store.put_file(&key, &packed.path, &meta).await?;
    c.execute(
        "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes, sha256,
                                              metadata, url, url_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $4, '{}', 'http://unused', now() + interval '1 day')
         ON CONFLICT (job_id) DO NOTHING",
        &[&job_id, &node, &MODEL_ID, &packed.sha256, &key, &(packed.size as i64)],
    )
    .await?;
    Ok(())
}

async fn complete(http: &reqwest::Client, base: &str, model: &str, tokens: usize) -> anyhow::Result<Value> {
    let body = json!({"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens, "ignore_eos": true});
    let r = http.post(format!("{base}/chat/completions")).json(&body).send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "{model}: {status}: {v}");
    Ok(v)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The prompt's token ids exactly as the server builds them.
fn prompt_ids(model_dir: &Path) -> anyhow::Result<Vec<i64>> {
    let cfg = jitgen_trainer::config::ModelConfig::load(model_dir)?;
    let enc = Encoder::load(model_dir, &cfg.eos_token_ids)?;
    let mut ids = enc.turn("user", PROMPT)?;
    ids.extend(enc.assistant_header()?);
    Ok(ids)
}

pub async fn serve(url: &str, model_dir: PathBuf, nodes: usize, tokens: usize, reps: usize, threads: i32) -> anyhow::Result<String> {
    anyhow::ensure!(tokens >= 2 && nodes >= 1 && reps >= 1, "need tokens ≥ 2, nodes ≥ 1, reps ≥ 1");
    let work = std::env::temp_dir().join(format!("jitgen-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let store = ArtifactStore::new(&S3Config::from_env()?.ok_or_else(|| anyhow::anyhow!("bench-serve needs S3_* settings"))?)?;
    store.ensure_bucket(true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let c = db::connect_spawned(url, "bench").await?;
    for i in 0..nodes {
        let dir = work.join(format!("adapter-{i}"));
        let spec = LoraSpec { r: 16, alpha: 32.0, dropout: 0.0, targets: ["q_proj", "k_proj", "v_proj", "o_proj"].map(String::from).to_vec() };
        write_random_adapter(&model_dir, spec, i as i64, 0.01, &dir)?;
        publish(&c, &store, &format!("bench-node-{i}"), 900_000 + i as i64, &dir, &work).await?;
    }

    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--model-id", MODEL_ID, "--model-dir"])
        .arg(&model_dir)
        .env("DATABASE_URL", url)
        .env("JITGEN_LOG", "warn")
        .env("JITGEN_SERVE_THREADS", threads.to_string())
        .env("JITGEN_SERVE_ADAPTERS", (nodes + 1).to_string())
        .env("JITGEN_ADAPTER_CACHE", work.join("cache"))
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let _server = Child(child);
    let base = line.trim().to_string();
    anyhow::ensure!(base.starts_with("http://"), "jitgen serve printed {line:?}");
    let http = reqwest::Client::new();

    // Warm-up: libtorch's first passes allocate and pick kernels.
    for _ in 0..2 {
        complete(&http, &base, MODEL_ID, 8).await?;
    }
    let mut loads = Vec::new();
    for i in 0..nodes {
        let v = complete(&http, &base, &format!("{MODEL_ID}:bench-node-{i}"), 2).await?;
        loads.push(v["jitgen"]["adapter_load_ms"].as_f64().ok_or_else(|| anyhow::anyhow!("node {i}: no load time: {v}"))?);
    }
    let loads = sorted(loads);

    // Per-token decode time, base and cached adapter alternating so drift hits both alike.
    let cached = format!("{MODEL_ID}:bench-node-0");
    let (mut plain, mut adapted, mut tps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        for (model, into) in [(MODEL_ID, &mut plain), (cached.as_str(), &mut adapted)] {
            let v = complete(&http, &base, model, tokens).await?;
            let decode_ms = v["jitgen"]["decode_ms"].as_f64().unwrap_or(f64::NAN);
            let n = v["usage"]["completion_tokens"].as_u64().unwrap_or(0) as f64;
            anyhow::ensure!(n as usize == tokens, "{model}: {n} tokens, asked for {tokens}");
            into.push(decode_ms / n);
            if model == MODEL_ID {
                // Tokens after the first: the first comes from the prompt's pass, as in transformers.
                tps.push((n - 1.0) / (decode_ms / 1000.0));
            }
        }
    }
    let (plain, adapted, tps) = (sorted(plain), sorted(adapted), sorted(tps));

    let ids = prompt_ids(&model_dir)?;
    let ids_arg = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/serve_hf.py");
    let python = std::env::var("JITGEN_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg("--model-dir")
        .arg(&model_dir)
        .args(["--ids", &ids_arg, "--tokens", &tokens.to_string(), "--reps", &reps.to_string(), "--threads", &threads.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr));
    let hf: Value = serde_json::from_slice(&out.stdout)?;
    let hf_tps = hf["decode_tokens_per_s_p50"].as_f64().ok_or_else(|| anyhow::anyhow!("serve_hf.py printed {hf}"))?;
    let _ = std::fs::remove_dir_all(&work);

    let mut r = String::new();
    let (p50_plain, p50_adapted) = (percentile(&plain, 0.5), percentile(&adapted, 0.5));
    writeln!(r, "bench/serve: {} ({} prompt tokens), {tokens} tokens per request, {reps} reps, {threads} threads", model_dir.display(), ids.len())?;
    writeln!(r, "  per-token decode, base:            p50 {p50_plain:.2} ms  p95 {:.2} ms", percentile(&plain, 0.95))?;
    writeln!(r, "  per-token decode, cached adapter:  p50 {p50_adapted:.2} ms  p95 {:.2} ms", percentile(&adapted, 0.95))?;
    writeln!(r, "  adapter overhead ratio:            {:.3}  (target ≤ 1.10)", p50_adapted / p50_plain)?;
    writeln!(r, "  first adapter load ({nodes} nodes):     p50 {:.1} ms  max {:.1} ms  (target p50 ≤ 500 ms)", percentile(&loads, 0.5), loads[loads.len() - 1])?;
    let ours = percentile(&tps, 0.5);
    writeln!(r, "  decode tokens/s, jitgen serve:     p50 {ours:.1}")?;
    writeln!(r, "  decode tokens/s, transformers:     p50 {hf_tps:.1}  (torch {}, generate, greedy, KV cache)", hf["torch"].as_str().unwrap_or("?"))?;
    writeln!(r, "  decode speed ratio (ours / HF):    {:.3}  (target ≥ 1.0)", ours / hf_tps)?;
    Ok(r)
}
