//! End to end: seed 001's optimisation oracle. Components invoked through `jitgen.invoke`
//! against a scripted LLM, rule resolution and decisions, and `jit.generate` run by the real
//! `jitgen run` with a scripted coder LLM and the real sandbox: the origin's acceptance (3
//! writes on success, 2 on failing tests, none on a coder error, none when the rule is not met
//! or only recommends), review, routing to the active handler, and rollback.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::services::free_port;
use support::{db_error, poll_until, TestDb, Worker};
use tokio_postgres::Client;

const APP: &str = "shop";
const COMPONENT: &str = "length";

const GOOD_CODE: &str = "def handle_request(request, context):\n    text = request['text']\n    if text == 'boom':\n        raise ValueError('boom')\n    return {'length': len(text)}\n";
const GOOD_TESTS: &str = "from handler import handle_request\n\ndef test_counts():\n    assert handle_request({'text': 'abc'}, {}) == {'length': 3}\n";

fn candidate(code: &str, tests: &str) -> Behaviour {
    Behaviour::Content(json!({"code": code, "tests": tests}).to_string())
}

async fn register(c: &Client) {
    c.query_one(
        "SELECT jitgen.register_component($1, $2, 'Count the characters of the text.', $3, $4)",
        &[
            &APP,
            &COMPONENT,
            &json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
            &json!({"type": "object", "required": ["length"], "properties": {"length": {"type": "integer"}}}),
        ],
    )
    .await
    .unwrap();
}

/// A migrated database with the test component registered.
async fn registered() -> (TestDb, Client) {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    register(&c).await;
    (db, c)
}

async fn point_at(c: &Client, llm: &FakeLlm) {
    c.batch_execute(&format!("SET jitgen.llm_endpoint = '{}'; SET jitgen.llm_api_key = 'test-key'", llm.url)).await.unwrap();
}

async fn invoke(c: &Client, request: Value) -> Result<Value, tokio_postgres::Error> {
    c.query_one("SELECT jitgen.invoke($1, $2, $3)", &[&APP, &COMPONENT, &request]).await.map(|r| r.get(0))
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// A worker whose coder is `coder`, serving JIT handlers on a free port this connection uses.
async fn worker(db: &TestDb, c: &Client, coder: &FakeLlm, extra: &[(&str, &str)]) -> Worker {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("LLM_API_ENDPOINT", coder.url.as_str()),
        ("LLM_API_KEY", "test-key"),
        ("LLM_MAX_RETRIES", "0"),
        ("JITGEN_JIT_LISTEN", listen.as_str()),
    ];
    env.extend_from_slice(extra);
    let w = Worker::start(&db.url, &env);
    c.batch_execute(&format!("SET jitgen.jit_endpoint = 'http://{listen}/v1/chat/completions'")).await.unwrap();
    w
}

/// The job's final row: (state, result, error).
async fn finished(c: &Client, job: i64) -> (String, Value, Value) {
    poll_until(Duration::from_secs(60), || async {
        let r = c
            .query_one("SELECT state, coalesce(result, 'null'), coalesce(error, 'null') FROM jitgen.jobs WHERE id = $1", &[&job])
            .await
            .unwrap();
        let state: String = r.get(0);
        (!matches!(state.as_str(), "queued" | "running")).then(|| (state, r.get(1), r.get(2)))
    })
    .await
    .unwrap_or_else(|| panic!("job {job} never finished"))
}

async fn component(c: &Client) -> Value {
    c.query_one("SELECT to_jsonb(x) FROM jitgen.components x WHERE app_id = $1 AND component_id = $2", &[&APP, &COMPONENT])
        .await
        .unwrap()
        .get(0)
}

async fn trigger(c: &Client) -> i64 {
    c.query_one("SELECT jitgen.trigger_jit($1, $2)", &[&APP, &COMPONENT]).await.unwrap().get(0)
}

/// Three identical LLM invocations, recorded as samples for shadow replay.
async fn record_samples(c: &Client) {
    for _ in 0..3 {
        assert_eq!(invoke(c, json!({"text": "abc"})).await.unwrap(), json!({"length": 3}));
    }
}

#[tokio::test]
async fn invoke_through_the_llm_records_metrics_samples_and_errors() {
    let (_db, c) = registered().await;
    let llm = FakeLlm::start(Behaviour::Content(r#"{"length": 3}"#.into())).await;
    point_at(&c, &llm).await;
    assert_eq!(invoke(&c, json!({"text": "abc"})).await.unwrap(), json!({"length": 3}));
    let (_, body) = llm.requests.lock().unwrap()[0].clone();
    assert!(body["messages"][0]["content"].as_str().unwrap().starts_with("Count the characters"));
    assert_eq!(body["messages"][1]["content"], json!(r#"{"text":"abc"}"#));
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_metrics WHERE outcome = 'ok' AND handler_type = 'llm'").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_samples").await, 1);

    // Bad input: 22023 with the report, nothing recorded, no call made.
    let e = invoke(&c, json!({"txt": 1})).await.unwrap_err();
    let (code, detail, _) = db_error(&e);
    assert_eq!(code, "22023");
    assert!(detail.unwrap().contains("text"), "the report names the missing field");
    let e = c.query_one("SELECT jitgen.invoke('shop', 'nope', '{}')", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "42704");
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_metrics").await, 1);
    assert_eq!(llm.requests.lock().unwrap().len(), 1);

    // Output failing the schema, an HTTP error: the standard error result and an error metric.
    llm.set(Behaviour::Content(r#"{"len": 3}"#.into()));
    let r = invoke(&c, json!({"text": "abc"})).await.unwrap();
    assert_eq!((r["resultType"].clone(), r["error"]["code"].clone()), (json!("error"), json!("invalid_output")), "{r}");
    llm.set(Behaviour::Status(500, "{}".into()));
    let r = invoke(&c, json!({"text": "abc"})).await.unwrap();
    assert_eq!(r["resultType"], json!("error"), "{r}");
    let outcomes: Vec<String> =
        c.query("SELECT outcome FROM jitgen.component_metrics ORDER BY at", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(outcomes, ["ok", "invalid_output", "error"]);
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_samples").await, 1, "only successes are samples");

    // The newest jitgen.sample_limit samples are kept.
    llm.set(Behaviour::Content(r#"{"length": 3}"#.into()));
    c.batch_execute("SET jitgen.sample_limit = 2").await.unwrap();
    for _ in 0..3 {
        invoke(&c, json!({"text": "abc"})).await.unwrap();
    }
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_samples").await, 2);
}

#[tokio::test]
async fn rules_resolve_by_scope_and_decide_as_the_table_says() {
    let (_db, c) = registered().await;
    let set = |rule: Value| {
        let c = &c;
        async move { c.query_one("SELECT jitgen.set_rule($1)", &[&rule]).await }
    };
    set(json!({"scope": "global", "min_latency_ms": 1000})).await.unwrap();
    set(json!({"scope": "app", "app_id": APP, "min_latency_ms": 500, "prefer_llm_flexibility": true})).await.unwrap();
    let rule: Value = c.query_one("SELECT jitgen.effective_rule($1, $2)", &[&APP, &COMPONENT]).await.unwrap().get(0);
    assert_eq!((rule["scope"].clone(), rule["min_latency_ms"].clone()), (json!("app"), json!(500)));
    assert_eq!(rule["prefer_llm_for_flexibility"], json!(true), "the origin's spelling is accepted");
    set(json!({"scope": "component", "app_id": APP, "component_id": COMPONENT, "min_calls_per_minute": 2})).await.unwrap();
    let rule: Value = c.query_one("SELECT jitgen.effective_rule($1, $2)", &[&APP, &COMPONENT]).await.unwrap().get(0);
    // Whole rule, not per field: the component rule has no latency condition.
    assert_eq!((rule["scope"].clone(), rule["min_latency_ms"].clone()), (json!("component"), Value::Null));
    let other: Value = c.query_one("SELECT jitgen.effective_rule('other', 'x')", &[]).await.unwrap().get(0);
    assert_eq!(other["scope"], json!("global"));

    // Bad rules: unknown field, negative threshold.
    let e = set(json!({"scope": "global", "min_latncy_ms": 1})).await.unwrap_err();
    assert_eq!(db_error(&e).0, "22023");
    let e = set(json!({"scope": "global", "min_latency_ms": -1})).await.unwrap_err();
    assert_eq!(db_error(&e).0, "23514");

    // (rule, figures, decision)
    let figures = json!({"calls": 100, "calls_per_minute": 10, "avg_latency_ms": 900, "avg_cost": 0.01, "error_rate": 0.02});
    let cases = [
        (json!({"min_latency_ms": 500}), figures.clone(), "trigger"),
        (json!({"min_latency_ms": 500, "min_calls_per_minute": 20}), figures.clone(), "none"),
        (json!({"min_latency_ms": 500, "min_cost_per_call": null}), figures.clone(), "trigger"),
        (json!({"min_latency_ms": 500}), json!({"calls": 0}), "none"),
        (json!({"min_latency_ms": 500, "max_error_rate": 0.01}), figures.clone(), "none"),
        (json!({"min_latency_ms": 500, "max_error_rate": 0.05}), figures.clone(), "trigger"),
        (json!({"min_latency_ms": 500, "prefer_llm_for_flexibility": true}), figures.clone(), "recommend"),
        (json!({"min_latency_ms": 300, "prefer_llm_for_flexibility": true}), figures.clone(), "trigger"),
        (json!({"min_latency_ms": 300, "min_calls_per_minute": 5, "prefer_llm_for_flexibility": true}), figures.clone(), "recommend"),
        (json!({"min_latency_ms": 300, "min_calls_per_minute": 5, "prefer_llm_for_flexibility": true, "severe_factor": 2}), figures.clone(), "trigger"),
        (json!({"prefer_llm_for_flexibility": true}), figures.clone(), "recommend"),
    ];
    for (rule, figures, expected) in cases {
        let d: Value = c.query_one("SELECT jitgen._oracle_decision($1, $2)", &[&rule, &figures]).await.unwrap().get(0);
        assert_eq!(d["decision"], json!(expected), "{rule} on {figures}: {d}");
    }
}

async fn add_llm_metrics(c: &Client, n: i32, latency_ms: f32) {
    c.execute(
        "INSERT INTO jitgen.component_metrics (app_id, component_id, handler_type, latency_ms, outcome)
         SELECT $1, $2, 'llm', $3, 'ok' FROM generate_series(1, $4)",
        &[&APP, &COMPONENT, &latency_ms, &n],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn evaluate_oracle_queues_generation_only_when_the_rule_fires() {
    let (_db, c) = registered().await;
    let jobs = "SELECT count(*) FROM jitgen.jobs WHERE kind = 'jit.generate'";
    // No rule: nothing evaluated.
    assert_eq!(c.query("SELECT * FROM jitgen.evaluate_oracle()", &[]).await.unwrap().len(), 0);
    c.query_one("SELECT jitgen.set_rule('{\"scope\": \"global\", \"min_latency_ms\": 200}')", &[]).await.unwrap();
    // Rule not met (no calls): none, no job.
    let d: String = c.query_one("SELECT decision FROM jitgen.evaluate_oracle()", &[]).await.unwrap().get(0);
    assert_eq!(d, "none");
    assert_eq!(count(&c, jobs).await, 0);
    // The flexibility flag: a recommendation, still no job.
    c.query_one("SELECT jitgen.set_rule('{\"scope\": \"global\", \"min_latency_ms\": 200, \"prefer_llm_for_flexibility\": true}')", &[])
        .await
        .unwrap();
    add_llm_metrics(&c, 10, 300.0).await;
    let d: String = c.query_one("SELECT decision FROM jitgen.evaluate_oracle()", &[]).await.unwrap().get(0);
    assert_eq!(d, "recommend");
    assert_eq!(count(&c, jobs).await, 0);
    // Met without the flag: trigger, one job, and not a second one while it is queued.
    c.query_one("SELECT jitgen.set_rule('{\"scope\": \"global\", \"min_latency_ms\": 200}')", &[]).await.unwrap();
    let r = c.query_one("SELECT decision, reasons FROM jitgen.evaluate_oracle()", &[]).await.unwrap();
    assert_eq!(r.get::<_, String>(0), "trigger");
    let job = r.get::<_, Value>(1)["job_id"].as_i64().unwrap();
    c.query("SELECT * FROM jitgen.evaluate_oracle()", &[]).await.unwrap();
    assert_eq!(count(&c, jobs).await, 1);
    assert_eq!(trigger(&c).await, job, "a manual trigger joins the active job");
    // A disabled component rule silences the global one.
    c.query_one(
        "SELECT jitgen.set_rule(jsonb_build_object('scope', 'component', 'app_id', $1::text, 'component_id', $2::text, 'enabled', false))",
        &[&APP, &COMPONENT],
    )
    .await
    .unwrap();
    assert_eq!(c.query("SELECT * FROM jitgen.evaluate_oracle()", &[]).await.unwrap().len(), 0);
}

#[tokio::test]
async fn figures_from_per_minute_sums_equal_the_raw_rows() {
    let (_db, c) = registered().await;
    c.query_one("SELECT jitgen.set_rule('{\"scope\": \"global\", \"min_latency_ms\": 1}')", &[]).await.unwrap();
    // 600 calls over the last 50 minutes (most of them old enough to be rolled up), some failed.
    c.execute(
        "INSERT INTO jitgen.component_metrics (app_id, component_id, at, handler_type, latency_ms, cost, outcome)
         SELECT $1, $2, clock_timestamp() - i * interval '5 s', 'llm', 100 + i % 37, 0.002 * (i % 3),
                CASE WHEN i % 10 = 0 THEN 'error' ELSE 'ok' END
         FROM generate_series(1, 600) i",
        &[&APP, &COMPONENT],
    )
    .await
    .unwrap();
    let raw: serde_json::Value = c
        .query_one(
            "SELECT jsonb_build_object('calls', count(*), 'latency', avg(latency_ms::float8), 'cost', avg(cost::float8),
                    'errors', count(*) FILTER (WHERE outcome <> 'ok'))
             FROM jitgen.component_metrics WHERE at > clock_timestamp() - interval '1 hour'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for round in 0..2 {
        let m: serde_json::Value = c.query_one("SELECT metrics FROM jitgen.evaluate_oracle()", &[]).await.unwrap().get(0);
        assert_eq!(m["calls"], raw["calls"], "round {round}: {m} vs {raw}");
        for (figure, expected) in [("avg_latency_ms", &raw["latency"]), ("avg_cost", &raw["cost"])] {
            assert!((m[figure].as_f64().unwrap() - expected.as_f64().unwrap()).abs() < 1e-9, "round {round}: {figure} {m} vs {raw}");
        }
        let rate = raw["errors"].as_f64().unwrap() / raw["calls"].as_f64().unwrap();
        assert!((m["error_rate"].as_f64().unwrap() - rate).abs() < 1e-9, "{m}");
    }
    let rolled: i64 = c.query_one("SELECT coalesce(sum(calls), 0)::bigint FROM jitgen.component_minutes", &[]).await.unwrap().get(0);
    assert!(rolled > 400 && rolled < 600, "the old minutes were rolled up, the last five were not: {rolled}");
}

#[tokio::test]
async fn a_passing_candidate_is_three_writes_then_serves_invoke_and_rolls_back_when_it_fails() {
    let (db, c) = registered().await;
    let llm = FakeLlm::start(Behaviour::Content(r#"{"length": 3}"#.into())).await;
    point_at(&c, &llm).await;
    record_samples(&c).await;
    let coder = FakeLlm::start(candidate(GOOD_CODE, GOOD_TESTS)).await;
    let _w = worker(&db, &c, &coder, &[]).await;
    let (state, result, _) = finished(&c, trigger(&c).await).await;
    assert_eq!((state.as_str(), result["outcome"].clone()), ("complete", json!("passed")), "{result}");
    assert_eq!(result["shadow_agreement"], json!(1.0));
    assert!(result["pytest"].as_str().unwrap().contains("1 passed"));
    // The three writes: code, tests, registry.
    let artifacts: Vec<(String, String)> = c
        .query("SELECT kind, path FROM jitgen.jit_artifacts ORDER BY kind", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        artifacts,
        [("code".into(), "_jit_code/length/v1/handler.py".into()), ("test".into(), "_jit_code/length/v1/test_handler.py".into())]
    );
    let comp = component(&c).await;
    assert_eq!(comp["handler_type"], json!("jit"));
    assert_eq!(comp["task_details"], json!({"script": "_jit_code/length/v1/handler.py", "function": "handle_request"}));
    // The coder saw the specification and the samples; its call is on the savings ledger.
    let (_, body) = coder.requests.lock().unwrap()[0].clone();
    let spec = body["messages"][1]["content"].as_str().unwrap();
    assert!(spec.contains("Count the characters") && spec.contains("\"examples\""), "{spec}");
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.llm_calls WHERE component_id = 'jit.generate:length'").await, 1);

    // invoke now runs the generated code (the LLM would say 3 for anything).
    let before = llm.requests.lock().unwrap().len();
    assert_eq!(invoke(&c, json!({"text": "hello"})).await.unwrap(), json!({"length": 5}));
    assert_eq!(llm.requests.lock().unwrap().len(), before, "the LLM was not asked");
    let jit_ok = "SELECT count(*) FROM jitgen.component_metrics WHERE handler_type = 'jit' AND version = 'v1' AND outcome = 'ok'";
    assert_eq!(count(&c, jit_ok).await, 1);

    // The handler starts failing: error outcomes, then one evaluation rolls it back.
    for _ in 0..3 {
        let r = invoke(&c, json!({"text": "boom"})).await.unwrap();
        assert_eq!(r["resultType"], json!("error"), "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("ValueError"), "{r}");
    }
    c.query_one("SELECT jitgen.set_rule('{\"scope\": \"global\", \"max_error_rate\": 0.5}')", &[]).await.unwrap();
    let r = c.query_one("SELECT decision, reasons FROM jitgen.evaluate_oracle()", &[]).await.unwrap();
    assert_eq!(r.get::<_, String>(0), "rollback");
    assert_eq!(r.get::<_, Value>(1)["version"], json!("v1"));
    assert_eq!(component(&c).await["handler_type"], json!("llm"));
    assert_eq!(invoke(&c, json!({"text": "hello"})).await.unwrap(), json!({"length": 3}), "back on the prompt");
}

#[tokio::test]
async fn failing_tests_write_two_artifacts_and_leave_the_component_alone() {
    let (db, c) = registered().await;
    let llm = FakeLlm::start(Behaviour::Content(r#"{"length": 3}"#.into())).await;
    point_at(&c, &llm).await;
    record_samples(&c).await;
    let failing = GOOD_TESTS.replace("{'length': 3}", "{'length': 4}");
    let coder = FakeLlm::start(candidate(GOOD_CODE, &failing)).await;
    let _w = worker(&db, &c, &coder, &[]).await;
    let (state, result, _) = finished(&c, trigger(&c).await).await;
    assert_eq!((state.as_str(), result["outcome"].clone()), ("complete", json!("tests_failed")), "{result}");
    assert!(result["pytest"].as_str().unwrap().contains("1 failed"), "{result}");
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jit_artifacts").await, 2);
    assert_eq!(component(&c).await["handler_type"], json!("llm"));
    // A candidate whose tests pass but disagrees with the recorded answers is not activated.
    coder.set(candidate(&GOOD_CODE.replace("len(text)", "len(text) + 1"), "def test_nothing():\n    pass\n"));
    let (_, result, _) = finished(&c, trigger(&c).await).await;
    assert_eq!((result["outcome"].clone(), result["shadow_agreement"].clone()), (json!("shadow_disagrees"), json!(0.0)), "{result}");
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jit_artifacts WHERE version = 'v2'").await, 2);
    assert_eq!(component(&c).await["handler_type"], json!("llm"));
}

#[tokio::test]
async fn a_coder_error_writes_nothing_and_runs_nothing() {
    let (db, c) = registered().await;
    let coder = FakeLlm::start(Behaviour::Content(r#"{"code": "print(1)"}"#.into())).await;
    let _w = worker(&db, &c, &coder, &[]).await;
    let (state, _, error) = finished(&c, trigger(&c).await).await;
    assert_eq!(state, "failed", "{error}");
    assert_eq!(error["kind"], json!("invalid_coder_reply"), "{error}");
    coder.set(Behaviour::Status(500, "{}".into()));
    let (state, _, error) = finished(&c, trigger(&c).await).await;
    assert!(state == "failed" || state == "dead", "{state} {error}");
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.jit_artifacts").await, 0);
    assert_eq!(component(&c).await["handler_type"], json!("llm"));
}

#[tokio::test]
async fn without_a_sandbox_the_job_fails_before_the_coder_is_asked() {
    let (db, c) = registered().await;
    let coder = FakeLlm::start(candidate(GOOD_CODE, GOOD_TESTS)).await;
    let _w = worker(&db, &c, &coder, &[("JITGEN_SANDBOX_VENV", "/nonexistent/sandbox")]).await;
    let (state, _, error) = finished(&c, trigger(&c).await).await;
    assert_eq!(state, "failed");
    assert_eq!(error["kind"], json!("sandbox_unavailable"), "{error}");
    assert!(error["message"].as_str().unwrap().contains("/nonexistent/sandbox"), "{error}");
    assert!(coder.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn with_review_nothing_activates_until_approved_and_a_rejected_version_never_does() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    // Review required by the app's defaults; its target language is the component's default.
    let app: Value = c.query_one("SELECT jitgen.set_app_defaults($1, 'python', true)", &[&APP]).await.unwrap().get(0);
    assert_eq!(app["require_review"], json!(true));
    let e = c.query_one("SELECT jitgen.set_app_defaults($1, 'cobol')", &[&APP]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "23514");
    register(&c).await;
    assert_eq!(component(&c).await["target_language"], json!("python"));
    let llm = FakeLlm::start(Behaviour::Content(r#"{"length": 3}"#.into())).await;
    point_at(&c, &llm).await;
    record_samples(&c).await;
    let coder = FakeLlm::start(candidate(GOOD_CODE, GOOD_TESTS)).await;
    let _w = worker(&db, &c, &coder, &[]).await;
    finished(&c, trigger(&c).await).await;
    let comp = component(&c).await;
    assert_eq!((comp["handler_type"].clone(), comp["pending_version"].clone()), (json!("llm"), json!("v1")));
    // Rejected: never activates; a wrong version is refused.
    let e = c.query_one("SELECT jitgen.approve_jit($1, $2, 'v9')", &[&APP, &COMPONENT]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "55000");
    c.query_one("SELECT jitgen.reject_jit($1, $2, 'v1', 'reads like a guess')", &[&APP, &COMPONENT]).await.unwrap();
    let comp = component(&c).await;
    assert_eq!((comp["handler_type"].clone(), comp["pending_version"].clone()), (json!("llm"), Value::Null));
    let e = c.query_one("SELECT jitgen.approve_jit($1, $2, 'v1')", &[&APP, &COMPONENT]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "55000", "a rejected version cannot be approved later");
    // The next candidate, approved.
    finished(&c, trigger(&c).await).await;
    assert_eq!(component(&c).await["pending_version"], json!("v2"));
    c.query_one("SELECT jitgen.approve_jit($1, $2, 'v2')", &[&APP, &COMPONENT]).await.unwrap();
    let comp = component(&c).await;
    assert_eq!((comp["handler_type"].clone(), comp["active_version"].clone()), (json!("jit"), json!("v2")));
    let decisions: Vec<String> = c
        .query("SELECT decision FROM jitgen.oracle_decisions ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(decisions, ["trigger", "pending_review", "reject", "trigger", "pending_review", "approve"]);
}

#[tokio::test]
async fn the_oracle_is_the_operators_apps_get_invoke_only_when_granted() {
    let (db, c) = registered().await;
    let role = format!("{}_app", db.name);
    c.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\"")).await.unwrap();
    let llm = FakeLlm::start(Behaviour::Content(r#"{"length": 1}"#.into())).await;
    // The endpoint is the administrator's (superuser) setting, made before acting as the app.
    let app = db.client().await;
    point_at(&app, &llm).await;
    app.batch_execute(&format!("SET ROLE \"{role}\"")).await.unwrap();
    for sql in [
        "SELECT jitgen.invoke('shop', 'length', '{\"text\": \"a\"}')",
        "SELECT jitgen.register_component('shop', 'x', 'p', '{}', '{}')",
        "SELECT jitgen.trigger_jit('shop', 'length')",
        "SELECT * FROM jitgen.evaluate_oracle()",
        "SELECT jitgen.set_rule('{\"scope\": \"global\"}')",
        "SELECT jitgen.set_app_defaults('shop')",
        "SELECT jitgen.approve_jit('shop', 'length', 'v1')",
        "SELECT * FROM jitgen.components",
        "SELECT * FROM jitgen.component_samples",
        "SELECT * FROM jitgen.component_metrics",
    ] {
        let e = app.query(sql, &[]).await.unwrap_err();
        assert_eq!(db_error(&e).0, "42501", "{sql}");
    }
    c.batch_execute(&format!("GRANT EXECUTE ON FUNCTION jitgen.invoke(text, text, jsonb) TO \"{role}\"")).await.unwrap();
    let r: Value = app.query_one("SELECT jitgen.invoke('shop', 'length', '{\"text\": \"a\"}')", &[]).await.unwrap().get(0);
    assert_eq!(r, json!({"length": 1}));
    assert_eq!(count(&c, "SELECT count(*) FROM jitgen.component_metrics").await, 1, "recorded as the owner");
    drop(app);
    support::drop_database_then_roles(&db.name, &[&role]);
}
