//! End to end over HTTP, seed 004's JCC routes: the real `jitgen api` in front of the real
//! extension, per-node bearer tokens, the seed's 400 body, 401/404/413/503, the per-node rate
//! limit under 16 concurrent posts, and a job followed to a downloadable adapter trained by
//! the real worker (libtorch) and stored in a real S3-compatible server.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::api::{reply, ApiServer, Reply};
use support::services::{free_port, temp_dir, S3Server};
use support::{db_error, poll_until, TestDb, Worker};
use tokio_postgres::Client;

/// A database with nodes `node-a` and `node-b`, each with its own owner role (roles are
/// cluster-wide: named after the database), a token each, and `jitgen api` in front.
struct Setup {
    db: TestDb,
    admin: Client,
    api: ApiServer,
    http: reqwest::Client,
    token_a: String,
    token_b: String,
    roles: [String; 2],
}

impl Setup {
    async fn new(limit_a: i32, api_env: &[(&str, &str)]) -> Setup {
        let db = TestDb::migrated().await;
        let admin = db.client().await;
        let roles = [format!("{}_a", db.name), format!("{}_b", db.name)];
        for role in &roles {
            admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\";")).await.unwrap();
        }
        let params = json!({"epochs": 2, "r": 4, "alpha": 8});
        admin
            .execute("SELECT jitgen.register_node('node-a', 'acme', 'tiny-qwen2', $1, $2, 'UTC', $3)", &[&roles[0], &limit_a, &params])
            .await
            .unwrap();
        admin.execute("SELECT jitgen.register_node('node-b', 'acme', 'tiny-qwen2', $1)", &[&roles[1]]).await.unwrap();
        let token = |node: &'static str| {
            let admin = &admin;
            async move { admin.query_one("SELECT jitgen.issue_node_token($1)", &[&node]).await.unwrap().get::<_, String>(0) }
        };
        let (token_a, token_b) = (token("node-a").await, token("node-b").await);
        let api = ApiServer::start(&db.url, api_env);
        Setup { db, admin, api, http: reqwest::Client::new(), token_a, token_b, roles }
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> Reply {
        reply(self.http.post(self.api.url(path)).bearer_auth(token).json(body).send().await.unwrap()).await
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        reply(self.http.get(self.api.url(path)).bearer_auth(token).send().await.unwrap()).await
    }

    async fn count(&self, sql: &str) -> i64 {
        self.admin.query_one(sql, &[]).await.unwrap().get(0)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.api.stop();
        support::drop_database_then_roles(&self.db.name, &[&self.roles[0], &self.roles[1]]);
    }
}

fn train_body(node: &str, commands: Value) -> Value {
    json!({"node_id": node, "base_model_id": "tiny-qwen2", "command_schema": commands})
}

/// Two valid commands; `tag` changes their descriptions so each tag is a different dataset.
fn commands(tag: &str) -> Value {
    let mut cmds = support::adapters::commands();
    for c in cmds.as_array_mut().unwrap() {
        c["description"] = json!(format!("{} ({tag})", c["description"].as_str().unwrap()));
    }
    cmds
}

#[tokio::test]
async fn the_seeds_invalid_payload_gets_the_seeds_400_body_and_nothing_is_stored() {
    let s = Setup::new(6, &[]).await;
    // The seed's example: commands[3] has an example without voice_command, commands[1] an
    // unknown parameter type, commands[5] no examples (array<decimal>: the reference makes
    // the seed's array<float> valid).
    let cmds: Vec<Value> = (0..6)
        .map(|i| {
            json!({"command_name": format!("cmd{i}"), "description": format!("command {i}"),
                "parameters": [{"name": "city", "type": "str", "required": true},
                               {"name": "days", "type": "int", "required": false},
                               {"name": "at", "type": if i == 1 { "array<decimal>" } else { "array<float>" }, "required": false}],
                "examples": match i {
                    5 => json!([]),
                    3 => json!([{"expected_parameters": {}}]),
                    _ => json!([{"voice_command": "weather in Paris", "expected_parameters": {"city": "Paris"}, "is_primary": true}]),
                }})
        })
        .collect();
    let r = s.post(&s.token_a, "/adapters/train", &train_body("node-a", Value::Array(cmds))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"error": "invalid_schema", "details": [
            {"path": "commands[3].examples[0]", "code": "missing_field", "message": "voice_command required"},
            {"path": "commands[1].parameters[2].type", "code": "invalid_type", "message": "unknown param type: array<decimal>"},
            {"path": "commands[5].examples", "code": "too_few_examples", "message": "minimum 1 example required"}]})
    );
    assert_eq!(s.count("SELECT count(*) FROM jitgen.node_commands").await, 0);
    assert_eq!(s.count("SELECT count(*) FROM jitgen.jobs").await, 0);

    // The request's own shape: every problem at once, in the same detail form.
    let r = s.post(&s.token_a, "/adapters/train", &json!({"node_id": 7, "command_schema": {}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], json!("invalid_request"));
    let codes: Vec<(String, String)> = r.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap().to_string(), d["code"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        codes,
        [("node_id", "invalid_type"), ("base_model_id", "missing_field"), ("command_schema", "invalid_type")]
            .map(|(p, c)| (p.to_string(), c.to_string()))
    );
    let raw = s.http.post(s.api.url("/adapters/train")).bearer_auth(&s.token_a).body("{not json").send().await.unwrap();
    let r = reply(raw).await;
    assert_eq!((r.status, r.body["details"][0]["code"].clone()), (400, json!("invalid_json")));
    // A dataset_hash that the commands do not hash to: refused, nothing kept.
    let mut body = train_body("node-a", commands("v1"));
    body["dataset_hash"] = json!("0".repeat(64));
    let r = s.post(&s.token_a, "/adapters/train", &body).await;
    assert_eq!((r.status, r.body["details"][0]["path"].clone()), (400, json!("dataset_hash")), "{}", r.body);
    assert_eq!(s.count("SELECT count(*) FROM jitgen.node_commands").await, 0);
}

#[tokio::test]
async fn a_token_acts_as_its_node_only_and_stops_when_revoked_or_expired() {
    let s = Setup::new(6, &[]).await;
    let a = s.post(&s.token_a, "/adapters/train", &train_body("node-a", commands("v1"))).await;
    assert_eq!((a.status, a.body["status"].clone()), (200, json!("queued")), "{}", a.body);
    let job_a = a.body["job_id"].as_i64().unwrap();

    let mine = s.get(&s.token_a, &format!("/adapters/jobs/{job_a}")).await;
    assert_eq!((mine.status, mine.body["status"].clone(), mine.body["node_id"].clone()), (200, json!("queued"), json!("node-a")));
    // Another node's job, another node's id and a job that does not exist look the same.
    let theirs = s.get(&s.token_b, &format!("/adapters/jobs/{job_a}")).await;
    let missing = s.get(&s.token_b, "/adapters/jobs/999999").await;
    assert_eq!((theirs.status, missing.status), (404, 404));
    assert_eq!(theirs.body["error"], missing.body["error"]);
    assert!(!theirs.body.to_string().contains("node-a"), "{}", theirs.body);
    let cancel = s.post(&s.token_b, &format!("/adapters/jobs/{job_a}/cancel"), &json!({})).await;
    assert_eq!(cancel.status, 404);
    let other = s.post(&s.token_b, "/adapters/train", &train_body("node-a", commands("v2"))).await;
    assert_eq!(other.status, 404);
    assert_eq!(s.count("SELECT count(*) FROM jitgen.jobs WHERE state = 'queued'").await, 1, "nothing was canceled or queued for node-a by b");
    // Two nodes of one owner role: RLS lets the role see both, the token still binds one node.
    s.admin.execute("SELECT jitgen.register_node('node-c', 'acme', 'tiny-qwen2', $1)", &[&s.roles[0]]).await.unwrap();
    let c: Value = s.admin.query_one("SELECT jitgen.train_adapter('node-c', 'tiny-qwen2', $1)", &[&commands("c")]).await.unwrap().get(0);
    let sibling = s.get(&s.token_a, &format!("/adapters/jobs/{}", c["job_id"])).await;
    assert_eq!(sibling.status, 404, "{}", sibling.body);
    assert_eq!(s.post(&s.token_a, "/adapters/train", &train_body("node-c", commands("c2"))).await.status, 404);
    let bad_id = s.get(&s.token_a, "/adapters/jobs/abc").await;
    assert_eq!((bad_id.status, bad_id.body["details"][0]["path"].clone()), (400, json!("job_id")));

    // No token, a made-up token, a revoked one, an expired one: 401, nothing shown.
    let none = reply(s.http.get(s.api.url(&format!("/adapters/jobs/{job_a}"))).send().await.unwrap()).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer realm=\"jitgen\""));
    let forged = s.get(&format!("jgn_{}", "0".repeat(64)), &format!("/adapters/jobs/{job_a}")).await;
    assert_eq!(forged.status, 401);
    assert!(forged.body.get("status").is_none());
    let n: i32 = s.admin.query_one("SELECT jitgen.revoke_node_tokens('node-b')", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    assert_eq!(s.get(&s.token_b, "/adapters/jobs/999999").await.status, 401);
    let short: String = s.admin.query_one("SELECT jitgen.issue_node_token('node-a', interval '1 millisecond')", &[]).await.unwrap().get(0);
    let expired = poll_until(Duration::from_secs(5), || async {
        let r = s.get(&short, &format!("/adapters/jobs/{job_a}")).await;
        (r.status == 401).then_some(r)
    })
    .await;
    assert!(expired.is_some(), "an expired token still works");

    // Tokens are stored as hashes only, and only operators may issue or read them.
    let plain = s.count(&format!("SELECT count(*) FROM jitgen.node_tokens t WHERE row_to_json(t)::text LIKE '%{}%'", &s.token_a[4..])).await;
    assert_eq!(plain, 0, "a token secret is stored in clear");
    let hashed = s.admin.query_one("SELECT count(*) FROM jitgen.node_tokens WHERE secret_sha256 = sha256(convert_to($1, 'UTF8'))", &[&s.token_a]).await.unwrap();
    assert_eq!(hashed.get::<_, i64>(0), 1);
    // Requests run as the node's role, not as the sidecar's: the database's privileges decide.
    s.admin.batch_execute("REVOKE USAGE ON SCHEMA jitgen FROM PUBLIC").await.unwrap();
    let refused = s.get(&s.token_a, &format!("/adapters/jobs/{job_a}")).await;
    s.admin.batch_execute("GRANT USAGE ON SCHEMA jitgen TO PUBLIC").await.unwrap();
    assert_eq!((refused.status, refused.body["error"].clone()), (403, json!("forbidden")), "{}", refused.body);
    let node = s.db.client().await;
    node.batch_execute(&format!("SET ROLE \"{}\"", s.roles[0])).await.unwrap();
    for sql in ["SELECT jitgen.issue_node_token('node-a')", "SELECT count(*) FROM jitgen.node_tokens", "SELECT * FROM jitgen._authenticate_node_token('x')"] {
        let e = node.query_one(sql, &[]).await.unwrap_err();
        assert_eq!(db_error(&e).0, "42501", "{sql}");
    }
}

#[tokio::test]
async fn sixteen_concurrent_posts_with_a_limit_of_three_admit_exactly_three() {
    let s = Setup::new(3, &[]).await;
    let posts = (0..16).map(|i| {
        let (http, url, token) = (s.http.clone(), s.api.url("/adapters/train"), s.token_a.clone());
        tokio::spawn(async move {
            reply(http.post(url).bearer_auth(token).json(&train_body("node-a", commands(&format!("v{i}")))).send().await.unwrap()).await
        })
    });
    let replies: Vec<Reply> = futures_util::future::join_all(posts).await.into_iter().map(Result::unwrap).collect();
    let admitted = replies.iter().filter(|r| r.status == 200).count();
    let deferred: Vec<&Reply> = replies.iter().filter(|r| r.status == 202).collect();
    assert_eq!((admitted, deferred.len()), (3, 13), "{:?}", replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in &deferred {
        assert!(r.retry_after.unwrap() >= 1, "{}", r.body);
        assert!(r.body["deferred_until"].is_string() && r.body["status"] == json!("queued"), "{}", r.body);
    }
    // The change is kept: one deferred job holds the newest commands, ready for its slot.
    let deferred_jobs = s.count("SELECT count(*) FROM jitgen.jobs WHERE state = 'queued' AND run_after > now() + interval '50 minutes'").await;
    assert_eq!(deferred_jobs, 1);
    let stored: Value = s
        .admin
        .query_one("SELECT jsonb_agg(schema ORDER BY command_name) FROM jitgen.node_commands WHERE node_id = 'node-a'", &[])
        .await
        .unwrap()
        .get(0);
    let same: i64 = s
        .admin
        .query_one(
            "SELECT count(*) FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
             WHERE j.state = 'queued' AND a.dataset_hash = (jitgen._assemble_adapter_dataset('node-a', 'tiny-qwen2', $1,
                   (SELECT params FROM jitgen.nodes WHERE node_id = 'node-a'), (SELECT date_context->>'today' FROM jitgen.nodes WHERE node_id = 'node-a'),
                   'UTC', floor(extract(epoch FROM (SELECT (date_context->>'now')::timestamptz FROM jitgen.nodes WHERE node_id = 'node-a')))::bigint))->>'dataset_hash'",
            &[&stored],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(same, 1, "the deferred job does not train the stored commands");
}

#[tokio::test]
async fn cancel_over_http_cancels_a_queued_job() {
    let s = Setup::new(6, &[]).await;
    let a = s.post(&s.token_a, "/adapters/train", &train_body("node-a", commands("v1"))).await;
    let id = a.body["job_id"].as_i64().unwrap();
    let c = s.post(&s.token_a, &format!("/adapters/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!((c.status, c.body["status"].clone()), (200, json!("canceled")), "{}", c.body);
    let state: String = s.admin.query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!(state, "canceled");
    assert_eq!(s.get(&s.token_a, &format!("/adapters/jobs/{id}")).await.body["status"], json!("canceled"));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_a_database_outage_503() {
    let s = Setup::new(6, &[("JITGEN_API_MAX_BODY_BYTES", "4096")]).await;
    let big = train_body("node-a", json!([{"command_name": "x", "description": "y".repeat(8192)}]));
    let r = s.post(&s.token_a, "/adapters/train", &big).await;
    assert_eq!((r.status, r.body["error"].clone()), (413, json!("payload_too_large")), "{}", r.body);
    assert_eq!(s.count("SELECT count(*) FROM jitgen.node_commands").await, 0);

    // Nothing listens on this port: every request is a retryable 503, never a hang or a 500.
    let down = ApiServer::start(&format!("postgres://postgres@127.0.0.1:{}/postgres", free_port()), &[]);
    let r = reply(s.http.get(down.url("/adapters/jobs/1")).bearer_auth(&s.token_a).send().await.unwrap()).await;
    assert_eq!((r.status, r.body["error"].clone()), (503, json!("unavailable")), "{}", r.body);
    assert!(r.retry_after.unwrap() >= 1);

    // The served OpenAPI document is the checked-in one and names every route.
    let doc: Value = s.http.get(s.api.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let file: Value = serde_json::from_str(include_str!("../sidecar/src/api/openapi.json")).unwrap();
    assert_eq!(doc, file);
    for path in ["/api/v0/adapters/train", "/api/v0/adapters/jobs/{job_id}", "/api/v0/adapters/jobs/{job_id}/cancel"] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

#[tokio::test]
async fn a_node_posts_over_http_polls_to_complete_and_downloads_its_adapter() {
    let s = Setup::new(6, &[]).await;
    let posted = s.post(&s.token_a, "/adapters/train", &train_body("node-a", commands("v1"))).await;
    assert_eq!((posted.status, posted.body["status"].clone()), (200, json!("queued")), "{}", posted.body);
    let id = posted.body["job_id"].as_i64().unwrap();
    let model_dir = temp_dir("model").join("tiny-qwen2");
    support::adapters::tiny_model(&s.admin, id, &model_dir).await;
    let s3 = S3Server::start();
    let cache = temp_dir("cache");
    let env = [
        ("S3_ENDPOINT", s3.endpoint()),
        ("S3_BUCKET", "jitgen-adapters".to_string()),
        ("S3_ACCESS_KEY", s3.access_key.clone()),
        ("S3_SECRET_KEY", s3.secret_key.clone()),
        ("S3_PATH_STYLE", "true".to_string()),
        ("JITGEN_BASE_MODELS", format!("tiny-qwen2={}", model_dir.display())),
        ("JITGEN_ADAPTER_CACHE", cache.display().to_string()),
        ("JITGEN_GATE_THRESHOLD", "0".to_string()),
        ("JITGEN_TRAIN_THREADS", "2".to_string()),
        ("JITGEN_VT_SECS", "10".to_string()),
    ];
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _worker = Worker::start(&s.db.url, &pairs);

    let done = poll_until(Duration::from_secs(300), || async {
        let r = s.get(&s.token_a, &format!("/adapters/jobs/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        ["complete", "failed", "dead"].contains(&r.body["status"].as_str().unwrap_or("")).then_some(r.body)
    })
    .await
    .expect("the job finished within 300 s");
    assert_eq!(done["status"], json!("complete"), "{done}");
    assert_eq!(done["progress"].as_f64(), Some(1.0));
    assert_eq!(done["artifact_metadata"]["node_id"], json!("node-a"), "{done}");
    let url = done["artifact_url"].as_str().expect("artifact_url");
    let bytes = reqwest::get(url).await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
    let sha: String = s.admin.query_one("SELECT sha256 FROM jitgen.adapter_artifacts WHERE job_id = $1", &[&id]).await.unwrap().get(0);
    use sha2::Digest;
    let got: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got, sha, "the downloaded adapter is not the stored one");
    // The same commands again: the finished job is reused, no new training.
    let again = s.post(&s.token_a, "/adapters/train", &train_body("node-a", commands("v1"))).await;
    assert_eq!((again.body["job_id"].as_i64(), again.body["status"].clone()), (Some(id), json!("complete")), "{}", again.body);
}
