// `#[pg_test]`s: behaviour visible from SQL inside a real backend.

use pgrx::prelude::*;
use serde_json::{json, Value};

/// Runs `sql` and returns {"sqlstate","message","detail","hint"} of the error it raises,
/// or {"sqlstate":"00000"} when it succeeds.
fn error_of(sql: &str) -> Value {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.error_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
         DECLARE s text; m text; d text; h text;
         BEGIN
           EXECUTE q;
           RETURN jsonb_build_object('sqlstate', '00000');
         EXCEPTION WHEN others THEN
           GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
           RETURN jsonb_build_object('sqlstate', s, 'message', m, 'detail', d, 'hint', h);
         END $$",
    )
    .unwrap();
    Spi::get_one_with_args::<pgrx::JsonB>("SELECT pg_temp.error_of($1)", &[sql.into()]).unwrap().unwrap().0
}

fn json_of(sql: &str) -> Value {
    Spi::get_one::<pgrx::JsonB>(sql).unwrap().unwrap().0
}

fn bool_of(sql: &str) -> bool {
    Spi::get_one::<bool>(sql).unwrap().unwrap()
}

const GOOD_ADJUSTMENT: &str = r#"{"intensityModifier":0.95,"setModifier":-1,"skipMainLift":false,
    "auxOverrides":{"Leg Press":"skip"},"rationale":["sore quads"],"confidence":"medium"}"#;

#[pg_test]
fn builtins_are_registered_as_version_1() {
    let names = json_of("SELECT jsonb_agg(name ORDER BY name) FROM jitgen.schemas WHERE builtin AND version = 1");
    assert_eq!(names, json!(["command_schema", "jit_adjustment", "learning_atom", "training_program"]));
}

#[pg_test]
fn validate_reports_valid_and_invalid_documents() {
    let ok = json_of(&format!("SELECT jitgen.validate('jit_adjustment', '{GOOD_ADJUSTMENT}')"));
    assert_eq!(ok, json!({"valid": true, "details": []}));
    let bad = json_of(&format!(
        "SELECT jitgen.validate('jit_adjustment', '{GOOD_ADJUSTMENT}'::jsonb || '{{\"intensityModifier\":0.10}}')"
    ));
    assert_eq!(bad["valid"], json!(false));
    assert_eq!(bad["error"], json!("invalid_schema"));
    assert_eq!(bad["details"], json!([{"path": "intensityModifier", "code": "out_of_range", "message": "must be >= 0.4, got 0.1"}]));
    assert!(bool_of(&format!("SELECT jitgen.is_valid('jit_adjustment', '{GOOD_ADJUSTMENT}')")));
    assert!(!bool_of("SELECT jitgen.is_valid('jit_adjustment', '{}')"));
}

#[pg_test]
fn assert_valid_returns_the_document_or_raises_22023_with_the_body() {
    let doc = json_of(&format!("SELECT jitgen.assert_valid('jit_adjustment', '{GOOD_ADJUSTMENT}')"));
    assert_eq!(doc["confidence"], json!("medium"));
    let e = error_of("SELECT jitgen.assert_valid('jit_adjustment', '{\"confidence\":\"sure\"}')");
    assert_eq!(e["sqlstate"], json!("22023"));
    let detail: Value = serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["error"], json!("invalid_schema"));
    assert_eq!(detail["details"].as_array().unwrap().len(), 6, "{detail}");
    assert!(e["hint"].as_str().unwrap().contains("jitgen.validate('jit_adjustment', doc)"));
}

#[pg_test]
fn bad_input_gets_specific_sqlstates() {
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT jitgen.validate('no_such_schema', '{}')", "42704", "jitgen.schemas"),
        ("SELECT jitgen.is_valid('no_such_schema', '{}')", "42704", "register_schema"),
        ("SELECT jitgen.register_schema('bad', '{\"type\":\"strnig\"}')", "22023", "draft 2020-12"),
        ("SELECT jitgen.register_schema('bad', '[1,2]')", "22023", "draft 2020-12"),
        ("SELECT jitgen.register_schema('bad', '{\"$ref\":\"https://example.com/x.json\"}')", "22023", "local"),
        ("SELECT jitgen.register_schema('Bad Name', '{}')", "22023", "workout_plan"),
        ("SELECT jitgen.register_schema('jit_adjustment', '{}')", "22023", "my_jit_adjustment"),
        ("SELECT jitgen.validate(NULL, '{}')", "22004", "jitgen.schemas"),
        ("SELECT jitgen.validate('jit_adjustment', NULL)", "22004", "IS NULL OR"),
        ("SELECT jitgen.is_valid('jit_adjustment', NULL)", "22004", "IS NULL OR"),
        ("SELECT jitgen.assert_valid(NULL, NULL)", "22004", "jitgen.schemas"),
        ("SELECT jitgen.register_schema(NULL, '{}')", "22004", "workout_plan"),
        ("SELECT jitgen.register_schema('x', NULL)", "22004", "jsonb"),
        ("SELECT jitgen.validate_commands(NULL)", "22004", "array"),
        ("SELECT jitgen.validate_json_text('jit_adjustment', NULL)", "22004", "text"),
        ("SELECT jitgen.matches_schema(NULL, '{}')", "22004", "JSON Schema"),
        ("SELECT jitgen.assert_valid('jit_adjustment', '[1]')", "22023", "jitgen.validate"),
        ("SELECT jitgen.validate('jit_adjustment', jsonb_build_object('a', repeat('x', 10*1024*1024)))", "54000", "max_document_bytes"),
        ("SELECT jitgen.validate('jit_adjustment', (repeat('[', 10000) || repeat(']', 10000))::jsonb)", "54000", "Flatten"),
        ("SELECT jitgen.validate_commands((repeat('[', 10000) || repeat(']', 10000))::jsonb)", "54000", "Flatten"),
        ("SELECT jitgen.validate('jit_adjustment', '{\"a\": 1e400}')", "22023", "double precision"),
        ("SELECT jitgen.assert_valid_commands('[{}]')", "22023", "jitgen.validate_commands(commands)"),
    ];
    for (sql, state, hint_part) in cases {
        let e = error_of(sql);
        assert_eq!(e["sqlstate"], json!(state), "{sql}: {e}");
        assert!(e["detail"].is_string(), "{sql}: no DETAIL: {e}");
        let hint = e["hint"].as_str().unwrap_or_default();
        assert!(hint.contains(hint_part), "{sql}: hint {hint:?} lacks {hint_part:?}");
    }
}

#[pg_test]
fn register_schema_versions_and_idempotence() {
    let reg = |s: &str| Spi::get_one::<i32>(&format!("SELECT jitgen.register_schema('plan', '{s}')")).unwrap().unwrap();
    assert_eq!(reg(r#"{"type":"object","required":["a"]}"#), 1);
    assert_eq!(reg(r#"{"type":"object","required":["a"]}"#), 1, "same schema, same version");
    assert_eq!(reg(r#"{"type":"object","required":["b"]}"#), 2);
    assert_eq!(Spi::get_one::<i32>("SELECT jitgen.schema_version('plan')").unwrap(), Some(2));
    assert_eq!(Spi::get_one::<i32>("SELECT jitgen.schema_version('training_program')").unwrap(), Some(1));
    assert_eq!(Spi::get_one::<i32>("SELECT jitgen.schema_version('nope')").unwrap(), None);
}

#[pg_test]
fn cached_validator_follows_new_versions() {
    Spi::run(r#"SELECT jitgen.register_schema('plan', '{"type":"object","required":["a"]}')"#).unwrap();
    // First call compiles and caches version 1.
    assert!(bool_of(r#"SELECT jitgen.is_valid('plan', '{"a":1}')"#));
    Spi::run(r#"SELECT jitgen.register_schema('plan', '{"type":"object","required":["b"]}')"#).unwrap();
    assert!(!bool_of(r#"SELECT jitgen.is_valid('plan', '{"a":1}')"#), "stale validator used after a new version");
    assert!(bool_of(r#"SELECT jitgen.is_valid('plan', '{"b":1}')"#));
    // A direct write to the registry invalidates too.
    Spi::run(r#"UPDATE jitgen.schemas SET schema = '{"type":"object","required":["c"]}' WHERE name = 'plan' AND version = 2"#).unwrap();
    assert!(!bool_of(r#"SELECT jitgen.is_valid('plan', '{"b":1}')"#));
    Spi::run("DELETE FROM jitgen.schemas WHERE name = 'plan'").unwrap();
    assert_eq!(error_of(r#"SELECT jitgen.is_valid('plan', '{}')"#)["sqlstate"], json!("42704"));
}

#[pg_test]
fn is_valid_guards_a_check_constraint() {
    Spi::run(
        "CREATE TABLE adj (doc jsonb NOT NULL CHECK (jitgen.is_valid('jit_adjustment', doc)))",
    )
    .unwrap();
    Spi::run(&format!("INSERT INTO adj VALUES ('{GOOD_ADJUSTMENT}')")).unwrap();
    let e = error_of(r#"INSERT INTO adj VALUES ('{"intensityModifier":0.1}')"#);
    assert_eq!(e["sqlstate"], json!("23514"));
    assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM adj").unwrap(), Some(1));
}

#[pg_test]
fn the_cap_is_a_setting_and_is_stated() {
    let many = "(SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 60))";
    let r = json_of(&format!("SELECT jitgen.validate_commands({many})"));
    assert_eq!(r["details"].as_array().unwrap().len(), 100);
    assert_eq!(r["truncated"], json!(true));
    assert_eq!(r["max_details"], json!(100));
    Spi::run("SET LOCAL jitgen.max_validation_details = 5").unwrap();
    let r = json_of(&format!("SELECT jitgen.validate_commands({many})"));
    assert_eq!(r["details"].as_array().unwrap().len(), 5);
    Spi::run("SET LOCAL jitgen.max_validation_details = 10000").unwrap();
    let r = json_of(&format!("SELECT jitgen.validate_commands({many})"));
    assert_eq!(r["details"].as_array().unwrap().len(), 240);
    assert!(r.get("truncated").is_none());
}

#[pg_test]
fn text_validation_reports_invalid_json() {
    let r = json_of("SELECT jitgen.validate_json_text('jit_adjustment', 'Sure! Here is the JSON: {')");
    assert_eq!(r["details"][0]["code"], json!("invalid_json"));
    let r = json_of(&format!("SELECT jitgen.validate_json_text('jit_adjustment', '{GOOD_ADJUSTMENT}')"));
    assert_eq!(r, json!({"valid": true, "details": []}));
}

#[pg_test]
fn matches_schema_compiles_inline_schemas() {
    assert!(bool_of(r#"SELECT jitgen.matches_schema('{"type":"integer","minimum":2}', '3')"#));
    assert!(!bool_of(r#"SELECT jitgen.matches_schema('{"type":"integer","minimum":2}', '1')"#));
    assert_eq!(error_of(r#"SELECT jitgen.matches_schema('{"type":1}', '1')"#)["sqlstate"], json!("22023"));
}
