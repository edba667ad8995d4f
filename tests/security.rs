//! End to end, the privilege model (README "Privileges"): what an ordinary app role and a node
//! role can no longer do. Each test acts as those roles against the real extension and pgmq.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::{db_error, poll_until, TestDb};
use tokio::net::TcpListener;
use tokio_postgres::Client;

const INPUT: &str = r#"{"sessionId":"s1","weekNumber":1,"blockNumber":1,"primaryLift":"squat",
    "intensityType":"heavy","oneRmKg":140,"biologicalSex":"male"}"#;

/// A database plus an app role and a node role unique to the test (roles are cluster-wide).
struct Tenants {
    db: TestDb,
    app: String,
    node: String,
}

impl Tenants {
    async fn new() -> Tenants {
        let db = TestDb::migrated().await;
        let c = db.client().await;
        let (app, node) = (format!("{}_app", db.name), format!("{}_node", db.name));
        for role in [&app, &node] {
            c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\";")).await.unwrap();
        }
        c.execute("SELECT jitgen.register_node('node-1', 'acme', 'tiny-llama', $1)", &[&node]).await.unwrap();
        c.execute("SELECT jitgen.grant_enqueue('echo', $1)", &[&app]).await.unwrap();
        Tenants { db, app, node }
    }

    async fn as_role(&self, role: &str) -> Client {
        let c = self.db.client().await;
        c.batch_execute(&format!("SET ROLE \"{role}\"")).await.unwrap();
        c
    }
}

impl Drop for Tenants {
    fn drop(&mut self) {
        let name = self.db.name.clone();
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", &support::admin_url(), "-c", &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")])
            .output();
        for role in [&self.app, &self.node] {
            let _ = std::process::Command::new("psql")
                .args(["-X", "-q", &support::admin_url(), "-c", &format!("DROP ROLE IF EXISTS \"{role}\"")])
                .output();
        }
    }
}

/// A TCP listener that counts connections: where a thief would point the endpoint.
async fn thief() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, hits)
}

#[tokio::test]
async fn only_a_superuser_chooses_where_the_servers_key_goes() {
    let t = Tenants::new().await;
    let admin = t.db.client().await;
    let llm = FakeLlm::start(Behaviour::Status(401, "Incorrect API key provided: sk-live-SECRET-1234. \u{1b}[31m".repeat(20))).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET jitgen.llm_api_key = 'sk-live-SECRET-1234';
             ALTER DATABASE \"{db}\" SET jitgen.llm_endpoint = '{url}';
             GRANT EXECUTE ON FUNCTION jitgen.generate_session(jsonb, text, boolean) TO \"{app}\";",
            db = t.db.name,
            url = llm.url,
            app = t.app
        ))
        .await
        .unwrap();
    let (evil, hits) = thief().await;
    let input: Value = serde_json::from_str(INPUT).unwrap();

    // Before the library is loaded in this backend the SET is a placeholder; loading it drops
    // the value because the role may not set it. After loading, the SET is refused outright.
    let c = t.as_role(&t.app).await;
    let _ = c.batch_execute(&format!("SET jitgen.llm_endpoint = '{evil}'; SET jitgen.llm_model = 'gpt-4-32k'")).await;
    let s: Value = c.query_one("SELECT jitgen.generate_session($1, 'llm')", &[&input]).await.unwrap().get(0);
    for (setting, value) in [("llm_endpoint", evil.as_str()), ("llm_model", "gpt-4-32k"), ("app_id", "forged")] {
        let err = c.batch_execute(&format!("SET jitgen.{setting} = '{value}'")).await.unwrap_err();
        assert_eq!(db_error(&err).0, "42501", "{setting}");
    }
    let _: Value = c.query_one("SELECT jitgen.generate_session($1, 'llm')", &[&input]).await.unwrap().get(0);

    assert_eq!(hits.load(Ordering::SeqCst), 0, "the role's endpoint received nothing");
    let requests = llm.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "both calls went to the administrator's endpoint");
    assert_eq!(requests[0].0, "Bearer sk-live-SECRET-1234");
    assert_eq!(requests[0].1["model"], json!("gpt-4o-mini"), "the role's model was dropped");

    // The reply is echoed only as a short, sanitised excerpt: no key, no control characters.
    assert_eq!(s["jit_strategy"], json!("formula_fallback"));
    let reason = s["fallback_reason"].to_string();
    assert!(!reason.contains("SECRET"), "{reason}");
    assert!(!reason.contains('\u{1b}') && !reason.contains("\\u001b"), "{reason}");
    assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());

    // Metric rows are the owner's: the role can neither read nor forge them.
    let err = c.query_one("SELECT count(*) FROM jitgen.llm_calls", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501");
    let err = c.execute("SELECT jitgen._record_llm_call('x', 'y', 'z', 1, 0, 0, NULL, 'ok', NULL)", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501");
    let (calls, app_ids): (i64, Vec<String>) = {
        let r = admin.query_one("SELECT count(*), array_agg(DISTINCT app_id) FROM jitgen.llm_calls", &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(calls, 2, "the backend's real calls were recorded");
    assert_eq!(app_ids, vec![t.db.name.clone()]);
}

#[tokio::test]
async fn internal_kinds_are_refused_and_granted_kinds_stay_with_their_role() {
    let t = Tenants::new().await;
    let admin = t.db.client().await;
    let app = t.as_role(&t.app).await;
    let node = t.as_role(&t.node).await;

    for (who, c) in [("node", &node), ("app", &app)] {
        for sql in [
            "SELECT jitgen.enqueue('adapter.train', '{}', key => 'node-1', delay => '100 years')",
            "SELECT jitgen.enqueue('session.generate', '{\"session_id\": \"00000000-0000-0000-0000-000000000000\"}')",
        ] {
            let err = c.query_one(sql, &[]).await.unwrap_err();
            let (code, _, hint) = db_error(&err);
            assert_eq!(code, "42501", "{who}: {sql}");
            assert!(hint.unwrap().starts_with("Call jitgen."), "{who}");
        }
    }
    let err = node.query_one("SELECT jitgen.enqueue('echo', '{}')", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501", "echo is granted to the app role only");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 0);

    // The app's own job: it sees it, the node role does not, nor through the summary view.
    let id: i64 = app.query_one("SELECT jitgen.enqueue('echo', '{\"x\": 1}', key => 'k1')", &[]).await.unwrap().get(0);
    let j: Value = app.query_one("SELECT jitgen.job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!((j["state"].as_str(), j["enqueued_by"].as_str()), (Some("queued"), Some(t.app.as_str())));
    assert_eq!(count(&app, "SELECT coalesce(sum(jobs), 0)::bigint FROM jitgen.job_summary").await, 1);
    assert_eq!(count(&node, "SELECT coalesce(sum(jobs), 0)::bigint FROM jitgen.job_summary").await, 0);
    assert_eq!(count(&node, "SELECT count(*) FROM jitgen.jobs").await, 0);
    let err = node.query_one("SELECT jitgen.cancel_job($1)", &[&id]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704", "invisible jobs cannot be canceled");
    // The same key from the owner is idempotent; another role's key is refused, not shared.
    let again: i64 = app.query_one("SELECT jitgen.enqueue('echo', '{\"x\": 2}', key => 'k1')", &[]).await.unwrap().get(0);
    assert_eq!(again, id);
    admin.execute("SELECT jitgen.grant_enqueue('echo', $1)", &[&t.node]).await.unwrap();
    let err = node.query_one("SELECT jitgen.enqueue('echo', '{}', key => 'k1')", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "23505");
    let r: Value = app.query_one("SELECT jitgen.cancel_job($1)", &[&id]).await.unwrap().get(0);
    assert_eq!(r["state"], json!("canceled"));
    assert_eq!(count(&admin, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 0, "its message was archived");

    // The queue itself is out of reach.
    for sql in ["SELECT pgmq.send('jitgen_jobs', '{\"job_id\": 1}')", "SELECT count(*) FROM pgmq.q_jitgen_jobs"] {
        let err = app.query_one(sql, &[]).await.unwrap_err();
        assert_eq!(db_error(&err).0, "42501", "{sql}");
    }
}

#[tokio::test]
async fn a_session_job_is_only_for_a_row_the_caller_may_update() {
    let t = Tenants::new().await;
    let admin = t.db.client().await;
    admin
        .batch_execute(&format!(
            "GRANT SELECT, UPDATE ON sessions TO \"{app}\"; GRANT SELECT ON sessions TO \"{node}\";",
            app = t.app,
            node = t.node
        ))
        .await
        .unwrap();
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let id: String = admin
        .query_one("INSERT INTO sessions (user_id, jit_input) VALUES (gen_random_uuid(), $1) RETURNING id::text", &[&input])
        .await
        .unwrap()
        .get(0);
    let node = t.as_role(&t.node).await;
    let err = node.query_one("SELECT jitgen.request_session($1::text::uuid)", &[&id]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501", "a role that may only read the row cannot have it rewritten");
    let app = t.as_role(&t.app).await;
    let missing = app.query_one("SELECT jitgen.request_session(gen_random_uuid())", &[]).await.unwrap_err();
    assert_eq!(db_error(&missing).0, "42704");
    let job: i64 = app.query_one("SELECT jitgen.request_session($1::text::uuid, 'formula')", &[&id]).await.unwrap().get(0);
    let j: Value = app.query_one("SELECT jitgen.job($1)", &[&job]).await.unwrap().get(0);
    assert_eq!(j["kind"], json!("session.generate"));
    assert_eq!(j["key"], json!(id));
    let again: i64 = app.query_one("SELECT jitgen.request_session($1::text::uuid)", &[&id]).await.unwrap().get(0);
    assert_eq!(again, job, "one active job per session");
}

#[tokio::test]
async fn node_roles_cannot_lock_shared_rows_or_tables() {
    let t = Tenants::new().await;
    let admin = t.db.client().await;
    let node = t.as_role(&t.node).await;
    let cmds = json!([{
        "command_name": "open_door", "description": "Open the door.",
        "parameters": [{"name": "room", "type": "str", "required": true}],
        "examples": (0..10).map(|i| json!({"voice_command": format!("open the door {i}"), "expected_parameters": {"room": "hall"}})).collect::<Vec<_>>(),
    }]);
    let r: Value = node.query_one("SELECT jitgen.train_adapter('node-1', 'tiny-llama', $1)", &[&cmds]).await.unwrap().get(0);
    let job = r["job_id"].as_i64().unwrap();
    admin
        .execute(
            "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes,
                                                  sha256, metadata, url, url_expires_at)
             VALUES ($1, 'node-1', 'tiny-llama', 'h', 'k', 1, 's', '{}', 'http://u', now() + interval '1 day')",
            &[&job],
        )
        .await
        .unwrap();
    node.batch_execute("BEGIN").await.unwrap();
    for table in ["jobs", "adapter_artifacts", "adapter_jobs", "nodes", "node_commands"] {
        // Reads work (row-level security), and hold only ACCESS SHARE.
        assert!(count(&node, &format!("SELECT count(*) FROM jitgen.{table}")).await >= 1, "{table}");
        for lock in [
            format!("SELECT 1 FROM jitgen.{table} FOR UPDATE"),
            format!("SELECT 1 FROM jitgen.{table} FOR KEY SHARE"),
            format!("LOCK TABLE jitgen.{table} IN ACCESS EXCLUSIVE MODE"),
            format!("LOCK TABLE jitgen.{table} IN ROW EXCLUSIVE MODE"),
        ] {
            node.batch_execute("SAVEPOINT s").await.unwrap();
            let err = node.batch_execute(&lock).await.unwrap_err();
            assert_eq!(db_error(&err).0, "42501", "{lock}");
            node.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
        }
    }
    // While the node's transaction stays open, the owner's writes to every shared row go through.
    admin.batch_execute("SET lock_timeout = '2s'").await.unwrap();
    admin.execute("UPDATE jitgen.jobs SET heartbeat_at = now() WHERE id = $1", &[&job]).await.unwrap();
    admin.execute("UPDATE jitgen.adapter_artifacts SET deleted_at = now() WHERE job_id = $1", &[&job]).await.unwrap();
    admin.execute("UPDATE jitgen.nodes SET max_jobs_per_hour = 7 WHERE node_id = 'node-1'", &[]).await.unwrap();
    // The node still acts through the checked functions.
    let c: Value = node.query_one("SELECT jitgen.cancel_adapter_job($1)", &[&job]).await.unwrap().get(0);
    assert_eq!(c["status"], json!("canceled"));
    let d: Value = node.query_one("SELECT jitgen.confirm_adapter_download($1)", &[&job]).await.unwrap().get(0);
    assert!(d["downloaded_at"].is_string());
    node.batch_execute("COMMIT").await.unwrap();
    let still = poll_until(Duration::from_secs(5), || async {
        (count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state = 'canceled'").await == 1).then_some(())
    })
    .await;
    assert!(still.is_some());
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn each_user_sees_and_writes_only_their_own_profile_and_programs() {
    let t = Tenants::new().await;
    let admin = t.db.client().await;
    admin
        .batch_execute(&format!("GRANT SELECT, INSERT, UPDATE, DELETE ON profiles, training_programs TO \"{}\"", t.app))
        .await
        .unwrap();
    let program: Value = serde_json::from_str(include_str!("../core/tests/fixtures/training_program.json")).unwrap();
    let (alice, bob) = ("11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222");
    // The sidecar (the tables' owner) writes for anyone.
    for user in [alice, bob] {
        admin
            .execute("INSERT INTO profiles (user_id, onboarding_responses) VALUES ($1::text::uuid, '{}')", &[&user])
            .await
            .unwrap();
        admin
            .execute("INSERT INTO training_programs (user_id, program_details) VALUES ($1::text::uuid, $2)", &[&user, &program])
            .await
            .unwrap();
    }
    let app = t.as_role(&t.app).await;
    app.batch_execute(&format!("SET jitgen.user_id = '{alice}'")).await.unwrap();
    for table in ["profiles", "training_programs"] {
        let mine: Vec<String> =
            app.query(&format!("SELECT user_id::text FROM {table}"), &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(mine, vec![alice.to_string()], "{table}");
        let touched = app.execute(&format!("UPDATE {table} SET updated_at = now() WHERE user_id = '{bob}'"), &[]).await.unwrap();
        assert_eq!(touched, 0, "{table}: alice updated bob's row");
        let gone = app.execute(&format!("DELETE FROM {table} WHERE user_id = '{bob}'"), &[]).await.unwrap();
        assert_eq!(gone, 0, "{table}: alice deleted bob's row");
    }
    let err = app
        .execute("INSERT INTO profiles (user_id) VALUES ($1::text::uuid)", &[&"33333333-3333-3333-3333-333333333333"])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "42501", "a row for another user is refused");
    // The extracted columns follow every update of the document.
    let mut renamed = program.clone();
    renamed["programName"] = json!("Renamed");
    renamed["durationWeeksTotal"] = json!(8);
    app.execute("UPDATE training_programs SET program_details = $1", &[&renamed]).await.unwrap();
    let name: String = app.query_one("SELECT program_name FROM training_programs", &[]).await.unwrap().get(0);
    assert_eq!(name, "Renamed");
    // No user set: nothing is visible.
    app.batch_execute("RESET jitgen.user_id").await.unwrap();
    let n: i64 = app.query_one("SELECT count(*) FROM training_programs", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
    let all: i64 = admin.query_one("SELECT count(*) FROM profiles", &[]).await.unwrap().get(0);
    assert_eq!(all, 2, "bob's rows are intact");
}
