//! End to end: the real `jitgen migrate` on a real Postgres 15 with the extension installed,
//! then validation seen through a client driver, across sessions and under concurrency.

mod support;

use serde_json::{json, Value};
use support::{db_error, TestDb};

const PROGRAM: &str = include_str!("../core/tests/fixtures/training_program.json");

#[tokio::test]
async fn migrate_installs_pgmq_extension_and_app_tables_idempotently() {
    let db = TestDb::migrated().await;
    let again = db.jitgen(&["migrate"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("migrations: up to date"));
    let c = db.client().await;
    let row = c
        .query_one(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'jitgen'),
                    to_regclass('public.training_programs') IS NOT NULL,
                    to_regprocedure('pgmq.send(text,jsonb,integer)') IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), env!("CARGO_PKG_VERSION"));
    assert!(row.get::<_, bool>(1));
    assert!(row.get::<_, bool>(2), "pgmq.send is missing");
    // pgmq works for real: a queue round trip.
    c.batch_execute("SELECT pgmq.create('e2e_probe'); SELECT pgmq.send('e2e_probe', '{\"x\":1}');").await.unwrap();
    let msg: Value = c.query_one("SELECT message FROM pgmq.read('e2e_probe', 30, 1)", &[]).await.unwrap().get(0);
    assert_eq!(msg, json!({"x": 1}));
}

#[tokio::test]
async fn training_programs_table_accepts_real_programs_and_rejects_invalid_ones() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let program: Value = serde_json::from_str(PROGRAM).unwrap();
    let row = c
        .query_one(
            "INSERT INTO training_programs (user_id, program_details) VALUES (gen_random_uuid(), $1)
             RETURNING program_name, total_duration_weeks",
            &[&program],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), program["programName"].as_str().unwrap());
    assert_eq!(row.get::<_, i32>(1), 8);

    let mut bad = program.clone();
    bad["phases"][0]["weeks"][0]["days"][0]["dayOfWeek"] = json!(9);
    let err = c
        .execute("INSERT INTO training_programs (user_id, program_details) VALUES (gen_random_uuid(), $1)", &[&bad])
        .await
        .unwrap_err();
    assert_eq!(db_error(&err).0, "23514");
    let n: i64 = c.query_one("SELECT count(*) FROM training_programs", &[]).await.unwrap().get(0);
    assert_eq!(n, 1, "the invalid program must not be stored");
}

#[tokio::test]
async fn errors_reach_the_client_with_sqlstate_detail_and_hint() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let err = c
        .query_one("SELECT jitgen.assert_valid_commands($1)", &[&json!([{"command_name": "x", "description": "d",
            "parameters": [{"name": "p", "type": "array<decimal>", "required": true}], "examples": []}])])
        .await
        .unwrap_err();
    let (code, detail, hint) = db_error(&err);
    assert_eq!(code, "22023");
    let body: Value = serde_json::from_str(&detail.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_schema", "details": [
            {"path": "commands[0].parameters[0].type", "code": "invalid_type", "message": "unknown param type: array<decimal>"},
            {"path": "commands[0].examples", "code": "too_few_examples", "message": "minimum 1 example required"}]})
    );
    assert!(hint.unwrap().contains("jitgen.validate"));
    let err = c.query_one("SELECT jitgen.validate('nope', '{}')", &[]).await.unwrap_err();
    assert_eq!(db_error(&err).0, "42704");
}

#[tokio::test]
async fn a_new_version_committed_elsewhere_replaces_cached_validators() {
    let db = TestDb::migrated().await;
    let a = db.client().await;
    let b = db.client().await;
    a.execute("SELECT jitgen.register_schema('plan', '{\"type\":\"object\",\"required\":[\"a\"]}')", &[]).await.unwrap();
    let valid = |doc: Value| {
        let a = &a;
        async move { a.query_one("SELECT jitgen.is_valid('plan', $1)", &[&doc]).await.unwrap().get::<_, bool>(0) }
    };
    assert!(valid(json!({"a": 1})).await, "session A caches version 1");

    // B registers version 2 but rolls back: A keeps version 1.
    b.batch_execute("BEGIN; SELECT jitgen.register_schema('plan', '{\"type\":\"object\",\"required\":[\"b\"]}'); ROLLBACK;")
        .await
        .unwrap();
    assert!(valid(json!({"a": 1})).await);

    // B commits version 2: A's very next statement uses it (invalidation at commit, no polling).
    b.execute("SELECT jitgen.register_schema('plan', '{\"type\":\"object\",\"required\":[\"b\"]}')", &[]).await.unwrap();
    assert!(!valid(json!({"a": 1})).await, "A still used the stale version 1");
    assert!(valid(json!({"b": 1})).await);
}

#[tokio::test]
async fn concurrent_registrations_get_dense_distinct_versions() {
    let db = TestDb::migrated().await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = support::connect(&url).await;
            let schema = json!({"type": "object", "maxProperties": i + 1});
            c.query_one("SELECT jitgen.register_schema('shared', $1)", &[&schema]).await.unwrap().get::<_, i32>(0)
        }));
    }
    let mut versions: Vec<i32> = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
}
