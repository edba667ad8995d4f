//! End to end: adapter ingest in the database (seed 004): validation, dataset assembly,
//! dataset_hash reuse, coalescing, the per-node rate limit and row-level security, with
//! concurrent sessions against a real Postgres with the extension and pgmq.

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::{db_error, TestDb};
use tokio::sync::Barrier;
use tokio_postgres::Client;

/// One valid seed-004 command; `tag` changes its description so datasets differ.
fn command(name: &str, tag: &str, examples: usize) -> Value {
    json!({
        "command_name": name,
        "description": format!("{name} command ({tag})"),
        "parameters": [{"name": "minutes", "type": "int", "required": true, "description": "How long"}],
        "examples": (0..examples).map(|i| json!({
            "voice_command": format!("{name} please number {i}"),
            "expected_parameters": {"minutes": i + 1},
            "is_primary": i == 0,
        })).collect::<Vec<_>>(),
    })
}

fn commands(n: usize, tag: &str) -> Value {
    Value::Array((0..n).map(|i| command(&format!("cmd_{i}"), tag, 10)).collect())
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// A database with two registered nodes whose owner roles are unique to this test (roles are
/// cluster-wide and tests run in parallel).
struct Nodes {
    db: TestDb,
    role_a: String,
    role_b: String,
}

impl Nodes {
    async fn new(limit_a: i32) -> Nodes {
        let db = TestDb::migrated().await;
        let c = db.client().await;
        let role_a = format!("{}_a", db.name);
        let role_b = format!("{}_b", db.name);
        for role in [&role_a, &role_b] {
            c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\"; GRANT USAGE ON SCHEMA jitgen TO \"{role}\";"))
                .await
                .unwrap();
        }
        c.execute("SELECT jitgen.register_node('node-a', 'acme', 'tiny-llama', $1, $2)", &[&role_a, &limit_a]).await.unwrap();
        c.execute("SELECT jitgen.register_node('node-b', 'acme', 'tiny-llama', $1)", &[&role_b]).await.unwrap();
        Nodes { db, role_a, role_b }
    }

    /// A session acting as node `which` ("a" or "b").
    async fn as_node(&self, which: &str) -> Client {
        let c = self.db.client().await;
        let role = if which == "a" { &self.role_a } else { &self.role_b };
        c.batch_execute(&format!("SET ROLE \"{role}\"")).await.unwrap();
        c
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        support::drop_database_then_roles(&self.db.name, &[&self.role_a, &self.role_b]);
    }
}

async fn train(c: &Client, node: &str, cmds: &Value) -> Result<Value, tokio_postgres::Error> {
    c.query_one("SELECT jitgen.train_adapter($1, 'tiny-llama', $2)", &[&node, cmds]).await.map(|r| r.get(0))
}

#[tokio::test]
async fn invalid_commands_raise_the_seed_body_and_store_nothing() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    let mut bad = commands(2, "v1");
    bad[1]["parameters"][0]["type"] = json!("array<float>x");
    bad[0].as_object_mut().unwrap().remove("examples");
    let err = train(&a, "node-a", &bad).await.unwrap_err();
    let (code, detail, hint) = db_error(&err);
    assert_eq!(code, "22023");
    let body: Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert_eq!(body["error"], json!("invalid_schema"));
    let paths: Vec<&str> = body["details"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"commands[0]"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("commands[1].parameters[0]")), "{paths:?}");
    assert!(hint.unwrap().contains("validate_commands"));
    let admin = n.db.client().await;
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.node_commands").await, 0);
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 0);
    assert_eq!(count(&admin, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 0);

    // Direct writes are validated as a whole list at COMMIT: the commit fails, nothing stays.
    let err = admin
        .batch_execute(
            "BEGIN; INSERT INTO jitgen.node_commands VALUES ('node-a', 'bad', '{\"command_name\": \"bad\"}'); COMMIT;",
        )
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "22023");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.node_commands").await, 0);
}

#[tokio::test]
async fn more_than_2000_pairs_are_refused_with_the_count() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    // 201 commands × 10 examples = 2010 positive pairs.
    let err = train(&a, "node-a", &commands(201, "big")).await.unwrap_err();
    let (code, detail, hint) = db_error(&err);
    assert_eq!(code, "54000");
    let body: Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert_eq!(body, json!({"error": "too_many_pairs", "count": 2010, "limit": 2000}));
    assert!(hint.unwrap().contains("2000"));
    let admin = n.db.client().await;
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.node_commands").await, 0);
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 0);
    // 200 × 10 is accepted.
    let ok = train(&a, "node-a", &commands(200, "big")).await.unwrap();
    assert_eq!(ok["counts"]["positives"], json!(2000));
}

#[tokio::test]
async fn unchanged_or_reordered_commands_reuse_the_job() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    let cmds = commands(3, "v1");
    let first = train(&a, "node-a", &cmds).await.unwrap();
    assert_eq!(first["status"], json!("queued"));
    let mut reversed = cmds.as_array().unwrap().clone();
    reversed.reverse();
    let again = train(&a, "node-a", &Value::Array(reversed)).await.unwrap();
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(again["dataset_hash"], first["dataset_hash"]);
    assert_eq!(again["reused"], json!(true));

    // Once complete, the same commands return the complete job; new ones make a new job.
    let admin = n.db.client().await;
    let id = first["job_id"].as_i64().unwrap();
    admin.execute("UPDATE jitgen.jobs SET state = 'complete', finished_at = now() WHERE id = $1", &[&id]).await.unwrap();
    admin
        .execute(
            "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes, sha256,
                                                  metadata, url, url_expires_at)
             SELECT job_id, node_id, base_model_id, dataset_hash, 'k', 1, 's', '{}', 'http://u', now() + interval '1 day'
             FROM jitgen.adapter_jobs WHERE job_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let done = train(&a, "node-a", &cmds).await.unwrap();
    assert_eq!((done["job_id"].as_i64(), done["status"].as_str()), (Some(id), Some("complete")));
    let changed = train(&a, "node-a", &commands(3, "v2")).await.unwrap();
    assert_ne!(changed["job_id"], first["job_id"]);
    // Going back to the trained commands supersedes the queued job and returns the complete one.
    let back = train(&a, "node-a", &cmds).await.unwrap();
    assert_eq!(back["job_id"].as_i64(), Some(id));
    let superseded: String = admin
        .query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&changed["job_id"].as_i64().unwrap()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(superseded, "superseded");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state IN ('queued','running')").await, 0);

    // A dataset_hash that does not match the commands is refused, and nothing changes.
    let err = a
        .query_one("SELECT jitgen.train_adapter('node-a', 'tiny-llama', $1, $2)", &[&commands(3, "v3"), &"0".repeat(64)])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "22023");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 2);

    // Once its URL has expired (or the sweeper deleted the object), the complete job is not
    // handed out again: a new job makes the adapter fetchable (re-presign, re-upload or train).
    admin.execute("UPDATE jitgen.adapter_artifacts SET url_expires_at = now() - interval '1 minute'", &[]).await.unwrap();
    let fresh = train(&a, "node-a", &cmds).await.unwrap();
    assert_eq!(fresh["status"], json!("queued"), "{fresh}");
    assert_ne!(fresh["job_id"].as_i64(), Some(id));
    assert_eq!(fresh["dataset_hash"], first["dataset_hash"]);
}

#[tokio::test]
async fn direct_writes_in_one_transaction_make_one_job() {
    // Node roles post through train_adapter; an administrator (the owner) may write the table.
    let n = Nodes::new(6).await;
    let admin = n.db.client().await;
    let cmds = commands(2, "v1");
    admin.execute(
        "INSERT INTO jitgen.node_commands (node_id, command_name, schema)
         SELECT 'node-a', e->>'command_name', e FROM jsonb_array_elements($1) e",
        &[&cmds],
    )
    .await
    .unwrap();
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 1);
    admin.batch_execute(
        "BEGIN;
         DELETE FROM jitgen.node_commands WHERE command_name = 'cmd_1';
         UPDATE jitgen.node_commands SET schema = jsonb_set(schema, '{description}', '\"changed\"');
         COMMIT;",
    )
    .await
    .unwrap();
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 2, "one job per transaction");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state = 'queued'").await, 1);
    let counts: Value = admin
        .query_one("SELECT a.counts FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id WHERE j.state = 'queued'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(counts["positives"], json!(10), "trained on the commands after the whole transaction");
}

/// Recomputes the dataset hash of what a node has stored now.
async fn hash_of_stored(c: &Client, node: &str) -> String {
    c.query_one(
        "SELECT jitgen._assemble_adapter_dataset(n.node_id, n.base_model_id,
                    (SELECT jsonb_agg(schema ORDER BY command_name) FROM jitgen.node_commands c WHERE c.node_id = n.node_id),
                    n.params, n.date_context->>'today', n.date_context->>'timezone',
                    floor(extract(epoch FROM (n.date_context->>'now')::timestamptz))::bigint)->>'dataset_hash'
         FROM jitgen.nodes n WHERE n.node_id = $1",
        &[&node],
    )
    .await
    .unwrap()
    .get(0)
}

/// `callers` sessions acting as node A, released together by a barrier, each posting its own
/// `commands`-command list; their results in caller order.
async fn concurrent_trains(n: &Arc<Nodes>, callers: usize, commands_each: usize) -> Vec<Value> {
    let barrier = Arc::new(Barrier::new(callers));
    let mut tasks = Vec::new();
    for i in 0..callers {
        let (n, barrier) = (n.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let c = n.as_node("a").await;
            barrier.wait().await;
            train(&c, "node-a", &commands(commands_each, &format!("caller {i}"))).await.unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

#[tokio::test]
async fn thirty_two_concurrent_updates_leave_one_active_job_on_the_newest_snapshot() {
    let n = Arc::new(Nodes::new(1000).await);
    for r in concurrent_trains(&n, 32, 3).await {
        assert_eq!(r["status"], json!("queued"));
    }
    let admin = n.db.client().await;
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state IN ('queued', 'running')").await, 1);
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state = 'superseded'").await, 31);
    let active_hash: String = admin
        .query_one(
            "SELECT a.dataset_hash FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id
             WHERE j.state IN ('queued', 'running')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(active_hash, hash_of_stored(&admin, "node-a").await, "the active job trains what is stored now");
    // Superseded queued jobs have no message left to wake a worker.
    assert_eq!(count(&admin, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 1);

    // Unchanged commands: no new job.
    let stored: Value = admin
        .query_one("SELECT jsonb_agg(schema ORDER BY command_name) FROM jitgen.node_commands", &[])
        .await
        .unwrap()
        .get(0);
    let a = n.as_node("a").await;
    let again = train(&a, "node-a", &stored).await.unwrap();
    assert_eq!(again["reused"], json!(true));
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs").await, 32);
}

#[tokio::test]
async fn concurrent_posts_of_different_command_sets_never_mix() {
    // Each caller posts two commands with names of its own: whatever the interleaving, the
    // stored set is exactly one caller's, because the node lock is taken before it is replaced.
    let n = Arc::new(Nodes::new(1000).await);
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (n, barrier) = (n.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let c = n.as_node("a").await;
            let set = json!([command(&format!("c{i}_a"), "x", 10), command(&format!("c{i}_b"), "x", 10)]);
            barrier.wait().await;
            train(&c, "node-a", &set).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let admin = n.db.client().await;
    let names: Vec<String> = admin
        .query("SELECT command_name FROM jitgen.node_commands ORDER BY command_name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let caller = names[0].trim_end_matches("_a");
    assert_eq!(names, vec![format!("{caller}_a"), format!("{caller}_b")], "a mix of two posts was stored");
    assert_eq!(
        admin
            .query_one(
                "SELECT a.dataset_hash FROM jitgen.adapter_jobs a JOIN jitgen.jobs j ON j.id = a.job_id WHERE j.state = 'queued'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, String>(0),
        hash_of_stored(&admin, "node-a").await
    );
}

#[tokio::test]
async fn a_running_job_is_superseded_and_asked_to_cancel() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    let first = train(&a, "node-a", &commands(2, "v1")).await.unwrap();
    let id = first["job_id"].as_i64().unwrap();
    let admin = n.db.client().await;
    // As a worker's claim would.
    admin
        .execute("UPDATE jitgen.jobs SET state = 'running', started_at = now(), attempts = 1, worker = 'w' WHERE id = $1", &[&id])
        .await
        .unwrap();
    let second = train(&a, "node-a", &commands(2, "v2")).await.unwrap();
    assert_ne!(second["job_id"], first["job_id"]);
    let row = admin.query_one("SELECT state, cancel_requested FROM jitgen.jobs WHERE id = $1", &[&id]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, bool>(1)), ("superseded".into(), true));
    // The worker's completion is refused: it no longer owns a running job.
    let err = admin.execute("SELECT jitgen._assert_job_owner($1, 'w', 1)", &[&id]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "55000");
}

#[tokio::test]
async fn rate_limit_under_sixteen_concurrent_callers_admits_at_most_the_limit() {
    let n = Arc::new(Nodes::new(3).await);
    let mut deferred = 0;
    for r in concurrent_trains(&n, 16, 2).await {
        assert_eq!(r["status"], json!("queued"));
        if r.get("deferred_until").is_some() {
            deferred += 1;
        }
    }
    assert_eq!(deferred, 13, "every caller past the third is told when its job starts");
    let admin = n.db.client().await;
    assert_eq!(
        count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE kind = 'adapter.train' AND run_after <= now()").await,
        3,
        "exactly the limit is admitted now"
    );
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.jobs WHERE state = 'queued'").await, 1);
    let row = admin
        .query_one(
            "SELECT j.run_after - (SELECT min(run_after) FROM jitgen.jobs) > interval '59 minutes', a.dataset_hash
             FROM jitgen.jobs j JOIN jitgen.adapter_jobs a ON a.job_id = j.id WHERE j.state = 'queued'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the deferred job waits for the slot of the oldest admitted one");
    assert_eq!(row.get::<_, String>(1), hash_of_stored(&admin, "node-a").await, "the change is kept and trained");
}

#[tokio::test]
async fn the_rate_limit_warning_says_when_and_how() {
    let n = Nodes::new(1).await;
    let admin = n.db.client().await;
    let a = n.as_node("a").await;
    train(&a, "node-a", &commands(1, "v1")).await.unwrap();
    // Complete it so the next change makes a new job instead of superseding a queued one.
    admin.batch_execute("UPDATE jitgen.jobs SET state = 'complete', finished_at = now()").await.unwrap();
    let out = std::process::Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", &n.db.url, "-c"])
        .arg(format!("SET ROLE \"{}\"", n.role_a))
        .arg("-c")
        .arg(format!(
            "SELECT jitgen.train_adapter('node-a', 'tiny-llama', '{}')",
            commands(1, "v2").to_string().replace('\'', "''")
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("WARNING:  53400: node node-a is over its rate limit of 1 training jobs per hour"), "{stderr}");
    assert!(stderr.contains("starts by itself at"), "{stderr}");
    assert!(stderr.contains("UPDATE jitgen.nodes SET max_jobs_per_hour = 2 WHERE node_id = 'node-a';"), "{stderr}");
    assert_eq!(count(&admin, "SELECT count(*) FROM jitgen.node_commands WHERE schema->>'description' LIKE '%v2%'").await, 1);
}

#[tokio::test]
async fn node_a_cannot_see_or_touch_node_b() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    let b = n.as_node("b").await;
    let job_b = train(&b, "node-b", &commands(2, "b")).await.unwrap()["job_id"].as_i64().unwrap();
    let job_a = train(&a, "node-a", &commands(2, "a")).await.unwrap()["job_id"].as_i64().unwrap();
    let admin = n.db.client().await;
    admin
        .execute(
            "INSERT INTO jitgen.adapter_artifacts (job_id, node_id, base_model_id, dataset_hash, object_key, size_bytes,
                                                  sha256, metadata, url, url_expires_at)
             VALUES ($1, 'node-b', 'tiny-llama', 'h', 'nodes/node-b/adapters/x.tar', 1, 's', '{}',
                     'http://s3/nodes/node-b/adapters/x.tar?sig', now() + interval '1 day')",
            &[&job_b],
        )
        .await
        .unwrap();

    // Reads: nothing of B is visible to A.
    for sql in [
        "SELECT count(*) FROM jitgen.nodes WHERE node_id = 'node-b'",
        "SELECT count(*) FROM jitgen.node_commands WHERE node_id = 'node-b'",
        "SELECT count(*) FROM jitgen.adapter_jobs WHERE node_id = 'node-b'",
        "SELECT count(*) FROM jitgen.adapter_artifacts",
        "SELECT count(*) FROM jitgen.jobs WHERE key = 'node-b'",
    ] {
        assert_eq!(count(&a, sql).await, 0, "{sql}");
    }
    assert_eq!(count(&a, "SELECT count(*) FROM jitgen.jobs").await, 1, "A sees its own job");
    let err = a.query_one("SELECT jitgen.adapter_job($1)", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704");
    let mine: Value = a.query_one("SELECT jitgen.adapter_job($1)", &[&job_a]).await.unwrap().get(0);
    assert_eq!(mine["node_id"], json!("node-a"));

    // Writes: A cannot cancel B's job, post B's commands or confirm B's download.
    let err = a.query_one("SELECT jitgen.cancel_adapter_job($1)", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704");
    let err = a.execute("UPDATE jitgen.jobs SET cancel_requested = true WHERE id = $1", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501", "tenants hold no write grant on the ledger");
    let err = train(&a, "node-b", &commands(1, "evil")).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704");
    let err = a
        .execute("INSERT INTO jitgen.node_commands VALUES ('node-b', 'cmd_0', $1)", &[&command("cmd_0", "evil", 2)])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "42501", "node roles write commands only through train_adapter");
    let err = a.query_one("SELECT jitgen.confirm_adapter_download($1)", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704");
    // A cannot reach the internals that act as the owner.
    let err = a.execute("SELECT jitgen._schedule_adapter_training('node-b')", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501");
    let err = a.execute("SELECT jitgen._train_adapter('node-b', 'tiny-llama', '[]', NULL, 'x')", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501");
    let err = a.execute("SELECT jitgen._supersede_adapter_job($1, 'queued', NULL, 'x')", &[&job_b]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42501");

    let state_b: String = admin.query_one("SELECT state FROM jitgen.jobs WHERE id = $1", &[&job_b]).await.unwrap().get(0);
    assert_eq!(state_b, "queued");
    // B itself can cancel: a queued job is canceled at once and its message archived.
    let r: Value = b.query_one("SELECT jitgen.cancel_adapter_job($1)", &[&job_b]).await.unwrap().get(0);
    assert_eq!(r["status"], json!("canceled"));
    assert_eq!(count(&admin, "SELECT count(*) FROM pgmq.q_jitgen_jobs").await, 1, "only A's message is left");
}

#[tokio::test]
async fn relative_dates_use_the_date_context_stored_with_the_change() {
    let n = Nodes::new(6).await;
    let a = n.as_node("a").await;
    let cmds = json!([{
        "command_name": "add_event",
        "description": "Add a calendar event",
        "parameters": [{"name": "day", "type": "date", "required": true}],
        "examples": (0..10).map(|i| json!({
            "voice_command": format!("add event {i} tomorrow"),
            "expected_parameters": {"day": "tomorrow"},
        })).collect::<Vec<_>>(),
    }]);
    let r = train(&a, "node-a", &cmds).await.unwrap();
    let admin = n.db.client().await;
    let row = admin
        .query_one(
            "SELECT a.dataset, ((n.date_context->>'today')::date + 1)::text FROM jitgen.adapter_jobs a JOIN jitgen.nodes n USING (node_id)
             WHERE a.job_id = $1",
            &[&r["job_id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    let dataset: Value = row.get(0);
    let tomorrow: String = row.get(1);
    let pair = &dataset["train"][0];
    assert_eq!(pair["output"]["arguments"]["day"], json!(tomorrow));
    assert!(dataset["system"].as_str().unwrap().contains("add_event"));
}


#[tokio::test]
async fn datetime_arguments_are_instants_in_the_nodes_time_zone() {
    let n = Nodes::new(6).await;
    let admin = n.db.client().await;
    let e = admin
        .execute("SELECT jitgen.register_node('node-x', 'acme', 'tiny-llama', $1, 6, 'CEST')", &[&n.role_a])
        .await
        .unwrap_err();
    assert_eq!(support::db_error(&e).0, "22023", "an abbreviation is not a zone");
    let e = admin
        .execute("SELECT jitgen.register_node('node-x', 'acme', 'tiny-llama', $1, 6, 'UTC', '{\"date_style\": \"local\"}')", &[&n.role_a])
        .await
        .unwrap_err();
    assert_eq!(support::db_error(&e).0, "22023");
    let cmds = json!([{
        "command_name": "set_alarm",
        "description": "Set alarms",
        "parameters": [{"name": "times", "type": "array<datetime>", "required": true}],
        "examples": (0..10).map(|i| json!({
            "voice_command": format!("alarm {i} tomorrow at midnight"),
            "expected_parameters": {"times": ["tomorrow at midnight"]},
        })).collect::<Vec<_>>(),
    }]);
    for (node, params) in [("node-ny", "{}"), ("node-ny-offset", "{\"date_style\": \"offset\"}")] {
        admin
            .execute(
                "SELECT jitgen.register_node($1, 'acme', 'tiny-llama', $2, 6, 'America/New_York', $3::text::jsonb)",
                &[&node, &n.role_a, &params],
            )
            .await
            .unwrap();
        let r = train(&n.as_node("a").await, node, &cmds).await.unwrap();
        // Postgres' own tz code computes the expected instant: midnight tomorrow in New York.
        let row = admin
            .query_one(
                "SELECT a.dataset, n.date_context->>'now',
                        to_char((((n.date_context->>'today')::date + 1)::timestamp AT TIME ZONE 'America/New_York') AT TIME ZONE 'UTC',
                                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        ((n.date_context->>'today')::date + 1)::text
                 FROM jitgen.adapter_jobs a JOIN jitgen.nodes n USING (node_id) WHERE a.job_id = $1",
                &[&r["job_id"].as_i64().unwrap()],
            )
            .await
            .unwrap();
        let (dataset, now, utc, tomorrow): (Value, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
        let rendered = dataset["train"][0]["output"]["arguments"]["times"][0].as_str().unwrap().to_string();
        if params == "{}" {
            assert_eq!(rendered, utc, "UTC instants, as the SDK's examples");
            assert!(now.ends_with('Z'), "{now}");
        } else {
            assert!(rendered == format!("{tomorrow}T00:00:00-05:00") || rendered == format!("{tomorrow}T00:00:00-04:00"), "{rendered}");
        }
        let system = dataset["system"].as_str().unwrap();
        assert!(system.contains("timezone America/New_York (UTC-0"), "{system}");
        assert!(system.contains("the current time is "), "{system}");
        if params == "{}" {
            assert!(system.contains(&format!("the current time is {now}")), "{system}");
        }
        assert_eq!(hash_of_stored(&admin, node).await, r["dataset_hash"].as_str().unwrap());
    }
}
