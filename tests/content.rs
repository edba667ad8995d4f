//! End to end: seed 003's just-in-time content through `jitgen.request_content`, the
//! learner_answers trigger, `jitgen run` and an OpenAI-compatible server started by the test.

mod support;

use serde_json::{json, Value};
use support::fake_llm::{Behaviour, FakeLlm};
use support::{db_error, TestDb, Worker};
use tokio_postgres::Client;

/// A reply with `n` distinct valid flashcards, cloze and mcq atoms.
fn atoms(n: usize, tag: &str) -> String {
    let all: Vec<Value> = (0..n)
        .map(|i| match i % 3 {
            0 => json!({"atom_type": "flashcard", "front": format!("{tag} question {i}?"), "back": format!("answer {i}")}),
            1 => json!({"atom_type": "cloze", "front": format!("{tag} {{{{c1::fact {i}}}}} holds")}),
            _ => json!({"atom_type": "mcq", "front": format!("{tag} pick {i}"),
                        "options": [{"text": "right", "correct": true}, {"text": "wrong", "correct": false}, {"text": "also wrong", "correct": false}]}),
        })
        .collect();
    json!({"atoms": all}).to_string()
}

async fn concept(c: &Client, name: &str, source: Option<&str>, existing: usize) -> String {
    let id: String = c
        .query_one("INSERT INTO concepts (name, source_text) VALUES ($1, $2) RETURNING id::text", &[&name, &source])
        .await
        .unwrap()
        .get(0);
    for i in 0..existing {
        c.execute(
            "INSERT INTO learning_atoms (concept_id, atom_type, front, back) VALUES ($1::text::uuid, 'flashcard', $2, 'x')",
            &[&id, &format!("existing {i} of {name}")],
        )
        .await
        .unwrap();
    }
    id
}

async fn settled(c: &Client, job: i64) -> Value {
    let j: Value = c.query_one("SELECT jitgen.await_job($1, 30000)", &[&job]).await.unwrap().get(0);
    assert!(!matches!(j["state"].as_str(), Some("queued" | "running")), "job {job} never finished: {j}");
    j
}

async fn atoms_of(c: &Client, concept: &str) -> Vec<(String, Vec<String>, Option<f32>)> {
    c.query("SELECT atom_type, tags, quality_score FROM learning_atoms WHERE concept_id = $1::text::uuid AND 'jit_generated' = ANY (tags) ORDER BY created_at", &[&concept])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn worker(db: &TestDb, llm: &FakeLlm) -> Worker {
    Worker::start(&db.url, &[("LLM_API_ENDPOINT", llm.url.as_str()), ("LLM_API_KEY", "test-key"), ("LLM_MAX_RETRIES", "0")])
}

#[tokio::test]
async fn a_failed_answer_fills_its_concept_up_to_five_atoms() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Content(atoms(6, "ospf"))).await;
    let _w = worker(&db, &llm);
    let c = db.client().await;
    for (existing, expected) in [(0usize, 5usize), (1, 4), (2, 3)] {
        let id = concept(&c, &format!("OSPF {existing}"), Some("OSPF is a link-state routing protocol."), existing).await;
        c.execute(
            "INSERT INTO learner_answers (learner_id, concept_id, correct, fail_mode) VALUES ('l1', $1::text::uuid, false, 'ENCODING_ERROR')",
            &[&id],
        )
        .await
        .unwrap();
        let job: i64 = c.query_one("SELECT id FROM jitgen.jobs WHERE kind = 'content.generate' AND payload->>'concept_id' = $1", &[&id]).await.unwrap().get(0);
        let j = settled(&c, job).await;
        assert_eq!(j["state"], json!("complete"), "{j}");
        assert_eq!(j["result"]["saved"], json!(expected), "{j}");
        let made = atoms_of(&c, &id).await;
        assert_eq!(made.len(), expected);
        assert!(made.iter().all(|(_, tags, q)| tags == &["jit_generated", "trigger:failed_question"] && *q == Some(75.0)), "{made:?}");
        // An encoding failure asks for flashcards, cloze and mcq, in that order of preference.
        assert_eq!(j["result"]["atom_types"], json!(["flashcard", "cloze", "mcq"]));
    }
    // Enough atoms already: a wrong answer queues nothing, and a right one never does.
    let full = concept(&c, "full", Some("text"), 5).await;
    c.execute("INSERT INTO learner_answers (learner_id, concept_id, correct) VALUES ('l1', $1::text::uuid, false)", &[&full]).await.unwrap();
    let thin = concept(&c, "thin", Some("text"), 0).await;
    c.execute("INSERT INTO learner_answers (learner_id, concept_id, correct) VALUES ('l1', $1::text::uuid, true)", &[&thin]).await.unwrap();
    let queued: i64 = c
        .query_one("SELECT count(*) FROM jitgen.jobs WHERE payload->>'concept_id' IN ($1, $2)", &[&full, &thin])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0);
    // Fatigue asks for a break, not content.
    let tired = concept(&c, "tired", Some("text"), 0).await;
    let none: Option<i64> = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'failed_question', fail_mode => 'fatigue')", &[&tired]).await.unwrap().get(0);
    assert_eq!(none, None);
}

#[tokio::test]
async fn invalid_atoms_are_reported_and_the_valid_ones_saved() {
    let db = TestDb::migrated().await;
    let reply = json!({"atoms": [
        {"atom_type": "flashcard", "front": "Valid one?", "back": "yes"},
        {"atom_type": "mcq", "front": "Two right", "options": [{"text": "a", "correct": true}, {"text": "b", "correct": true}, {"text": "c", "correct": false}]},
        {"atom_type": "cloze", "front": "no deletion here"},
        {"atom_type": "flashcard", "front": "Valid two?", "back": "yes"}
    ]});
    let llm = FakeLlm::start(Behaviour::Content(reply.to_string())).await;
    let _w = worker(&db, &llm);
    let c = db.client().await;
    let id = concept(&c, "STP", Some("The root bridge has the lowest bridge id."), 0).await;
    let job: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', atom_count => 4)", &[&id]).await.unwrap().get(0);
    let j = settled(&c, job).await;
    assert_eq!(j["state"], json!("complete"), "{j}");
    assert_eq!(j["result"]["saved"], json!(2));
    let errors = j["result"]["errors"].as_array().unwrap();
    assert_eq!(errors.iter().map(|e| e["index"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2], "{errors:?}");
    assert_eq!(atoms_of(&c, &id).await.len(), 2);
    // The request went to the LLM with the concept's source text.
    let (_, body) = llm.requests.lock().unwrap()[0].clone();
    assert!(body["messages"][1]["content"].as_str().unwrap().contains("The root bridge has the lowest bridge id."));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn an_outage_is_retried_then_fails_with_the_reason_and_saves_nothing() {
    let db = TestDb::migrated().await;
    let llm = FakeLlm::start(Behaviour::Status(503, "{\"error\":\"down\"}".into())).await;
    let _w = worker(&db, &llm);
    let c = db.client().await;
    let id = concept(&c, "VLAN", Some("A VLAN is a broadcast domain."), 0).await;
    let job: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'missing_coverage')", &[&id]).await.unwrap().get(0);
    let j = settled(&c, job).await;
    assert_eq!((j["state"].clone(), j["attempts"].clone()), (json!("dead"), json!(5)), "{j}");
    assert_eq!(j["error"]["failure"]["status"], json!(503), "{j}");
    let saved: i64 = c.query_one("SELECT count(*) FROM learning_atoms", &[]).await.unwrap().get(0);
    assert_eq!(saved, 0);
    // No source text: a warning, no atoms, no LLM call.
    let bare = concept(&c, "bare", None, 0).await;
    let before = llm.requests.lock().unwrap().len();
    let job: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request')", &[&bare]).await.unwrap().get(0);
    let j = settled(&c, job).await;
    assert_eq!((j["state"].clone(), j["result"]["saved"].clone()), (json!("complete"), json!(0)), "{j}");
    assert!(j["result"]["warnings"][0].as_str().unwrap().contains("no source_text"));
    assert_eq!(llm.requests.lock().unwrap().len(), before);
}

#[tokio::test]
async fn one_key_one_job_until_the_cache_is_cleared() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let id = concept(&c, "NAT", Some("NAT rewrites addresses."), 0).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = db.client().await;
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let j: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', ARRAY['practice'])", &[&id]).await.unwrap().get(0);
            j
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "16 concurrent requests with one key: {ids:?}");
    let first = ids[0];
    // Another content type is another key.
    let other: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', ARRAY['explanation'])", &[&id]).await.unwrap().get(0);
    assert_ne!(other, first);
    // Completed within the TTL: still the same job.
    let llm = FakeLlm::start(Behaviour::Content(atoms(3, "nat"))).await;
    let _w = worker(&db, &llm);
    settled(&c, first).await;
    let again: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', ARRAY['practice'])", &[&id]).await.unwrap().get(0);
    assert_eq!(again, first);
    let cleared: i32 = c.query_one("SELECT jitgen.clear_content_cache($1::text::uuid)", &[&id]).await.unwrap().get(0);
    assert_eq!(cleared, 2);
    let fresh: i64 = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', ARRAY['practice'])", &[&id]).await.unwrap().get(0);
    assert!(fresh > other);
}

#[tokio::test]
async fn proactive_generation_considers_three_concepts_with_few_atoms() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let mut ids = Vec::new();
    for (i, existing) in [0usize, 3, 1, 0, 0].iter().enumerate() {
        ids.push(concept(&c, &format!("c{i}"), Some("text"), *existing).await);
    }
    let rows = c
        .query("SELECT concept_id::text FROM jitgen.proactive_generation('l1', $1::text[]::uuid[])", &[&ids])
        .await
        .unwrap();
    let got: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    // The first three are considered; the second has 3 atoms already.
    assert_eq!(got, vec![ids[0].clone(), ids[2].clone()]);
    let count: i64 = c.query_one("SELECT (payload->>'count')::bigint FROM jitgen.jobs WHERE payload->>'concept_id' = $1", &[&ids[2]]).await.unwrap().get(0);
    assert_eq!(count, 2, "proactive fills up to 3");
}

#[tokio::test]
async fn gaps_remediation_atoms_stats_and_bad_input() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let cluster = "11111111-1111-4111-8111-111111111111";
    let a = concept(&c, "a", Some("t"), 0).await;
    let b = concept(&c, "b", Some("t"), 2).await;
    let full = concept(&c, "full", Some("t"), 3).await;
    c.execute("UPDATE concepts SET cluster_id = $1::text::uuid WHERE id::text IN ($2, $3)", &[&cluster, &b, &full]).await.unwrap();
    let gaps: Vec<(String, i32, i32)> = c
        .query("SELECT concept_id::text, atom_count, missing FROM jitgen.find_gaps()", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(gaps, vec![(a.clone(), 0, 3), (b.clone(), 2, 1)]);
    let in_cluster: i64 = c.query_one("SELECT count(*) FROM jitgen.find_gaps(3, $1::text::uuid)", &[&cluster]).await.unwrap().get(0);
    assert_eq!(in_cluster, 1);
    // The counts find_gaps reads follow every insert, delete and move of an atom.
    let agree = "SELECT count(*) = 0 FROM (SELECT concept_id, atom_count FROM jitgen.find_gaps(100)
                  EXCEPT SELECT c.id, count(a.id)::int FROM concepts c LEFT JOIN learning_atoms a ON a.concept_id = c.id GROUP BY c.id) d";
    c.batch_execute(&format!(
        "UPDATE learning_atoms SET concept_id = '{a}' WHERE id = (SELECT id FROM learning_atoms WHERE concept_id = '{full}' LIMIT 1);
         DELETE FROM learning_atoms WHERE id = (SELECT id FROM learning_atoms WHERE concept_id = '{b}' LIMIT 1);
         INSERT INTO learning_atoms (concept_id, atom_type, front) SELECT '{b}', 'flashcard', 'f' || g FROM generate_series(1, 2) g;
         DELETE FROM learning_atoms WHERE front LIKE 'f_' AND concept_id = '{b}';"
    ))
    .await
    .unwrap();
    assert!(c.query_one(agree, &[]).await.unwrap().get::<_, bool>(0));
    let gaps_now: Vec<(String, i32)> =
        c.query("SELECT concept_id::text, atom_count FROM jitgen.find_gaps()", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(gaps_now, vec![(a.clone(), 1), (b.clone(), 1), (full.clone(), 2)]);
    // Put the atoms back as they were for the checks below.
    c.batch_execute(&format!(
        "UPDATE learning_atoms SET concept_id = '{full}' WHERE concept_id = '{a}';
         INSERT INTO learning_atoms (concept_id, atom_type, front, back) VALUES ('{b}', 'flashcard', 'again', 'x');"
    ))
    .await
    .unwrap();
    assert!(c.query_one(agree, &[]).await.unwrap().get::<_, bool>(0));
    // remediation_atoms returns what exists, suited types first, and queues a job below 3.
    c.execute("INSERT INTO learning_atoms (concept_id, atom_type, front, quality_score) VALUES ($1::text::uuid, 'true_false', 'tf', 10)", &[&b]).await.unwrap();
    let types: Vec<String> = c
        .query("SELECT atom_type FROM jitgen.remediation_atoms($1::text::uuid, 'discrimination')", &[&b])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, ["true_false", "flashcard", "flashcard"]);
    let queued: i64 = c.query_one("SELECT count(*) FROM jitgen.jobs WHERE payload->>'concept_id' = $1", &[&b]).await.unwrap().get(0);
    assert_eq!(queued, 0, "3 atoms: enough");
    let stats: Value = c.query_one("SELECT to_jsonb(s) FROM jitgen.generation_stats s", &[]).await.unwrap().get(0);
    assert_eq!((stats["total_atoms"].clone(), stats["jit_generated"].clone()), (json!(6), json!(0)));
    for (sql, code) in [
        ("SELECT jitgen.request_content($1::text::uuid, 'user_request', fail_mode => 'boredom')", "22023"),
        ("SELECT jitgen.request_content($1::text::uuid, 'whenever')", "22023"),
        ("SELECT jitgen.request_content($1::text::uuid, 'user_request', atom_count => 21)", "22023"),
        ("SELECT jitgen.request_content($1::text::uuid, 'user_request', ARRAY['video'])", "22023"),
    ] {
        let e = c.query_one(sql, &[&a]).await.unwrap_err();
        assert_eq!(db_error(&e).0, code, "{sql}");
    }
    let e = c.query_one("SELECT jitgen.request_content(gen_random_uuid(), 'user_request')", &[]).await.unwrap_err();
    assert_eq!(db_error(&e).0, "42704");
    let e = c.query_one("SELECT jitgen.request_content($1::text::uuid, 'user_request', fail_mode => 'boredom')", &[&a]).await.unwrap_err();
    assert!(db_error(&e).1.unwrap().contains("encoding, retrieval, discrimination"));
}

// The CLI runs as a blocking child process: a second runtime thread keeps the test's LLM
// server answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_gaps_fills_them_and_shows_stats() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let cluster = "22222222-2222-4222-8222-222222222222";
    let a = concept(&c, "alpha", Some("Alpha is the first letter."), 0).await;
    let b = concept(&c, "beta", Some("Beta is the second letter."), 2).await;
    let full = concept(&c, "gamma", Some("t"), 3).await;
    c.execute("UPDATE concepts SET cluster_id = $1::text::uuid WHERE id::text = $2", &[&cluster, &b]).await.unwrap();
    let listed = |args: &[&str]| {
        let out = db.jitgen(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let ids_in = |text: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| w.len() == 36 && w.matches('-').count() == 4).map(str::to_string).collect()
    };
    let expected: Vec<String> = c.query("SELECT concept_id::text FROM jitgen.find_gaps()", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids_in(&listed(&["generate", "gaps", "--dry-run"])), expected);
    assert_eq!(expected, vec![a.clone(), b.clone()]);
    assert_eq!(ids_in(&listed(&["generate", "gaps", "--dry-run", "--cluster", cluster])), vec![b.clone()]);
    assert!(ids_in(&listed(&["generate", "gaps", "--dry-run", "--min-atoms", "4"])).contains(&full));
    let missing = db.jitgen(&["generate", "concept", "33333333-3333-4333-8333-333333333333"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));

    let llm = FakeLlm::start(Behaviour::Content(atoms(6, "letters"))).await;
    let _w = worker(&db, &llm);
    let filled = listed(&["generate", "gaps", "--yes"]);
    assert!(filled.contains("3 atoms saved") && filled.contains("1 atoms saved"), "{filled}");
    assert!(ids_in(&listed(&["generate", "gaps", "--dry-run"])).is_empty(), "no gaps left");
    let one = listed(&["generate", "concept", &full, "--count", "2", "--type", "practice"]);
    assert!(one.contains("2 atoms saved"), "{one}");
    let stats = listed(&["generate", "stats"]);
    let row: Value = c.query_one("SELECT to_jsonb(s) FROM jitgen.generation_stats s", &[]).await.unwrap().get(0);
    let value_of = |label: &str| -> i64 {
        stats.lines().find(|l| l.trim_start().starts_with(label)).and_then(|l| l.split_whitespace().rev().find_map(|w| w.parse().ok())).unwrap_or(-1)
    };
    assert_eq!(value_of("total atoms"), row["total_atoms"].as_i64().unwrap(), "{stats}");
    assert_eq!(value_of("missing_coverage"), 4);
    assert_eq!(value_of("user_request"), 2);
    assert_eq!(row["jit_generated"], json!(6));
}

#[tokio::test]
async fn an_app_role_writes_atoms_and_reads_gaps_with_its_own_grants_only() {
    let db = TestDb::migrated().await;
    let c = db.client().await;
    let role = format!("{}_app", db.name);
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\";
         GRANT SELECT, INSERT, DELETE ON concepts, learning_atoms, learner_answers TO \"{role}\";
         GRANT SELECT ON concept_atom_counts TO \"{role}\";"
    ))
    .await
    .unwrap();
    let id = concept(&c, "owned by the app", Some("Some facts about it."), 0).await;
    let app = db.client().await;
    app.batch_execute(&format!("SET ROLE \"{role}\"")).await.unwrap();
    // The counts follow the app's writes although it holds no write grant on them.
    app.execute("INSERT INTO learning_atoms (concept_id, atom_type, front) SELECT $1::text::uuid, 'flashcard', 'q' || g FROM generate_series(1, 2) g", &[&id])
        .await
        .unwrap();
    app.execute("DELETE FROM learning_atoms WHERE front = 'q1'", &[]).await.unwrap();
    let counted: i32 = app.query_one("SELECT atom_count FROM jitgen.find_gaps() WHERE concept_id = $1::text::uuid", &[&id]).await.unwrap().get(0);
    assert_eq!(counted, 1);
    app.execute("INSERT INTO learner_answers (learner_id, concept_id, correct) VALUES ('l', $1::text::uuid, false)", &[&id]).await.unwrap();
    let queued: i64 = c.query_one("SELECT count(*) FROM jitgen.jobs WHERE kind = 'content.generate'", &[]).await.unwrap().get(0);
    assert_eq!(queued, 1, "the app's wrong answer queued remediation through the checked function");
    // Who runs the functions and the view the migrations add, and who may call them.
    let rows = c
        .query(
            "SELECT p.proname::text, p.prosecdef, p.proconfig IS NOT NULL, has_function_privilege($1, p.oid, 'EXECUTE')
             FROM pg_proc p
             WHERE p.proname IN ('learning_atoms_count', 'remediation_atoms', 'learner_answers_remediate', 'profiles_request_program')
             ORDER BY 1",
            &[&role],
        )
        .await
        .unwrap();
    let got: Vec<(String, bool, bool, bool)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        got,
        vec![
            ("learner_answers_remediate".into(), false, false, true),
            ("learning_atoms_count".into(), true, true, false),
            ("profiles_request_program".into(), false, false, true),
            ("remediation_atoms".into(), false, true, true),
        ]
    );
    let view: (bool, Vec<String>) = c
        .query_one(
            "SELECT has_table_privilege($1, 'jitgen.generation_stats', 'SELECT'), coalesce(reloptions, '{}')
             FROM pg_class WHERE oid = 'jitgen.generation_stats'::regclass",
            &[&role],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(view, (true, vec!["security_invoker=true".to_string()]));
    drop(app);
    c.batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\";")).await.unwrap();
}
