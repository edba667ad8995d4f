//! Validation behaviour: every code of the reference, the seed-004 rules one by one, the
//! seed-004 body reproduced exactly, the real program fixture, and property tests.

use jitgen_core::validation::builtin::Builtin;
use jitgen_core::validation::commands::{parse_param_type, validate_commands, ParamType, ValueKind};
use jitgen_core::validation::{Code, CompiledSchema, Report, DEFAULT_MAX_DETAILS};
use proptest::prelude::*;
use serde_json::{json, Value};
mod common;
use common::command;

fn program() -> Value {
    serde_json::from_str(include_str!("fixtures/training_program.json")).unwrap()
}

fn adjustment() -> Value {
    json!({
        "intensityModifier": 0.95,
        "setModifier": -1,
        "skipMainLift": false,
        "auxOverrides": {"Romanian Deadlift": "reduce", "Leg Press": "skip"},
        "rationale": ["Quads are sore (7/10); trim one set."],
        "confidence": "medium"
    })
}


fn validate(b: Builtin, doc: &Value) -> Report {
    b.compiled().validate(doc, DEFAULT_MAX_DETAILS)
}

/// (path, code) pairs of a report, for compact assertions.
fn found(r: &Report) -> Vec<(String, Code)> {
    r.details().iter().map(|d| (d.path.clone(), d.code)).collect()
}

fn has(r: &Report, path: &str, code: Code) -> bool {
    r.details().iter().any(|d| d.path == path && d.code == code)
}

// ---------------------------------------------------------------- jit_adjustment (seed 000)

#[test]
fn adjustment_record_and_array_forms_are_valid() {
    assert!(validate(Builtin::JitAdjustment, &adjustment()).is_valid());
    let mut a = adjustment();
    a["auxOverrides"] = json!([
        {"exercise": "Romanian Deadlift", "action": "reduce", "anchorOverride": {"weightKg": 80, "reason": "grip"}},
        {"exercise": "Leg Press", "action": "skip", "anchorOverride": null}
    ]);
    a["restAdjustments"] = json!({"mainLift": 30});
    let r = validate(Builtin::JitAdjustment, &a);
    assert!(r.is_valid(), "{:?}", r.details());
    assert!(Builtin::JitAdjustment.compiled().is_valid(&a));
}

#[test]
fn adjustment_violations_table() {
    let cases: &[(&str, Value, &str, Code)] = &[
        ("intensityModifier", json!(0.10), "intensityModifier", Code::OutOfRange),
        ("intensityModifier", json!(1.25), "intensityModifier", Code::OutOfRange),
        ("intensityModifier", json!("0.9"), "intensityModifier", Code::InvalidType),
        ("setModifier", json!(-4), "setModifier", Code::OutOfRange),
        ("setModifier", json!(1.5), "setModifier", Code::InvalidType),
        ("skipMainLift", json!("no"), "skipMainLift", Code::InvalidType),
        ("auxOverrides", json!({"Leg Press": "drop"}), "auxOverrides[\"Leg Press\"]", Code::InvalidValue),
        ("auxOverrides", json!([{"exercise": "Dip"}]), "auxOverrides[0]", Code::MissingField),
        ("auxOverrides", json!([{"exercise": "Dip", "action": "skip", "anchorOverride": {"weightKg": 600, "reason": "x"}}]),
            "auxOverrides[0].anchorOverride.weightKg", Code::OutOfRange),
        ("auxOverrides", json!([{"exercise": "Dip", "action": "skip", "anchorOverride": {"weightKg": 60, "reason": "r".repeat(161)}}]),
            "auxOverrides[0].anchorOverride.reason", Code::TooLong),
        ("auxOverrides", json!("skip all"), "auxOverrides", Code::InvalidType),
        ("rationale", json!(["a", "b", "c", "d", "e", "f"]), "rationale", Code::TooManyItems),
        ("rationale", json!(["x".repeat(201)]), "rationale[0]", Code::TooLong),
        ("confidence", json!("certain"), "confidence", Code::InvalidValue),
    ];
    for (field, value, path, code) in cases {
        let mut a = adjustment();
        a[*field] = value.clone();
        let r = validate(Builtin::JitAdjustment, &a);
        assert!(has(&r, path, *code), "{field}={value}: expected {path} {code:?}, got {:?}", found(&r));
        assert!(!Builtin::JitAdjustment.compiled().is_valid(&a));
    }
}

#[test]
fn adjustment_missing_fields_are_all_reported() {
    let r = validate(Builtin::JitAdjustment, &json!({}));
    let missing: Vec<&str> = r.details().iter().filter(|d| d.code == Code::MissingField).map(|d| d.message.as_str()).collect();
    assert_eq!(missing.len(), 6, "{missing:?}");
    assert!(missing.contains(&"intensityModifier required"));
    assert!(r.details().iter().all(|d| d.path.is_empty()));
}

#[test]
fn non_object_document_is_an_invalid_type_at_the_root() {
    let r = validate(Builtin::JitAdjustment, &json!([1, 2]));
    assert_eq!(found(&r), vec![(String::new(), Code::InvalidType)]);
    assert_eq!(r.details()[0].message, "expected object, got array");
}

// ---------------------------------------------------------------- training_program (seed 002)

#[test]
fn real_program_fixture_is_valid() {
    let r = validate(Builtin::TrainingProgram, &program());
    assert!(r.is_valid(), "{:?}", r.details());
    assert!(Builtin::TrainingProgram.compiled().is_valid(&program()));
}

#[test]
fn program_violations_table() {
    type Edit = fn(&mut Value);
    let cases: &[(Edit, &str, Code)] = &[
        (|p| p["phases"][0]["weeks"][1]["days"][2]["dayOfWeek"] = json!(8), "phases[0].weeks[1].days[2].dayOfWeek", Code::OutOfRange),
        (|p| p["phases"][0]["weeks"][0]["days"][0]["exercises"][0]["sets"] = json!(0), "phases[0].weeks[0].days[0].exercises[0].sets", Code::OutOfRange),
        (|p| p["phases"][0]["weeks"][0]["days"][0]["exercises"][0]["rpe"] = json!(11), "phases[0].weeks[0].days[0].exercises[0].rpe", Code::OutOfRange),
        (|p| p["phases"][0]["weeks"][0]["days"][0]["exercises"][0]["reps"] = json!(true), "phases[0].weeks[0].days[0].exercises[0].reps", Code::InvalidType),
        (|p| p["phases"][0]["weeks"][0]["days"][0]["focus"] = json!("Everything"), "phases[0].weeks[0].days[0].focus", Code::InvalidValue),
        (|p| p["phases"][0]["weeks"][0]["days"][0]["exercises"][1]["category"] = json!("Heavy"), "phases[0].weeks[0].days[0].exercises[1].category", Code::InvalidValue),
        (|p| { p["phases"][1]["weeks"][0]["days"][0]["exercises"][0].as_object_mut().unwrap().remove("rest"); }, "phases[1].weeks[0].days[0].exercises[0]", Code::MissingField),
        (|p| p["phases"] = json!([]), "phases", Code::TooFewItems),
        (|p| p["difficultyLevel"] = json!("Expert"), "difficultyLevel", Code::InvalidValue),
        (|p| p["generatedAt"] = json!("yesterday"), "generatedAt", Code::InvalidValue),
        (|p| p["durationWeeksTotal"] = json!(12), "durationWeeksTotal", Code::InvalidValue),
        (|p| p["durationWeeksTotal"] = json!(0), "durationWeeksTotal", Code::OutOfRange),
    ];
    for (i, (edit, path, code)) in cases.iter().enumerate() {
        let mut p = program();
        edit(&mut p);
        let r = validate(Builtin::TrainingProgram, &p);
        assert!(has(&r, path, *code), "case {i}: expected {path} {code:?}, got {:?}", found(&r));
        assert!(!Builtin::TrainingProgram.compiled().is_valid(&p), "case {i}");
    }
}

#[test]
fn phase_weeks_must_add_up() {
    let mut p = program();
    p["phases"][1]["durationWeeks"] = json!(3);
    let r = validate(Builtin::TrainingProgram, &p);
    assert_eq!(found(&r), vec![("durationWeeksTotal".to_string(), Code::InvalidValue)]);
    assert_eq!(r.details()[0].message, "durationWeeksTotal is 8 but the phases' durationWeeks add up to 7");
}

// ---------------------------------------------------------------- commands (seed 004)

#[test]
fn valid_command_list_passes_in_every_envelope() {
    let list = json!([command("weather"), command("timer")]);
    assert!(validate_commands(&list, 100).is_valid());
    assert!(validate_commands(&json!({"commands": list.clone()}), 100).is_valid());
    assert!(validate_commands(&json!({"command_schema": list}), 100).is_valid());
    assert!(validate(Builtin::CommandSchema, &command("weather")).is_valid());
}

#[test]
fn seed_004_body_is_reproduced_exactly() {
    let r = validate_commands(&common::seed_004_invalid_payload(), 100);
    assert_eq!(r.error_body_text(), common::SEED_004_INVALID_BODY);
}

#[test]
fn seed_004_rules_one_by_one() {
    type Edit = fn(&mut Vec<Value>);
    let cases: &[(&str, Edit, &str, Code)] = &[
        ("required fields present", |l| { l[0].as_object_mut().unwrap().remove("command_name"); }, "commands[0]", Code::MissingField),
        ("types correct", |l| l[0]["description"] = json!(42), "commands[0].description", Code::InvalidType),
        ("non-empty command_name", |l| l[0]["command_name"] = json!(""), "commands[0].command_name", Code::InvalidValue),
        ("non-empty voice_command", |l| l[0]["examples"][1]["voice_command"] = json!(""), "commands[0].examples[1].voice_command", Code::InvalidValue),
        ("command_name unique", |l| l[1]["command_name"] = json!("cmd0"), "commands[1].command_name", Code::DuplicateName),
        ("parameters[].name unique", |l| l[0]["parameters"][1]["name"] = json!("city"), "commands[0].parameters[1].name", Code::DuplicateName),
        ("at least 1 example", |l| l[0]["examples"] = json!([]), "commands[0].examples", Code::TooFewExamples),
        ("at most 20 examples", |l| {
            let e = l[0]["examples"][1].clone();
            l[0]["examples"] = Value::Array(vec![e; 21]);
        }, "commands[0].examples", Code::TooManyExamples),
        ("primary example count <= 1", |l| l[0]["examples"][1]["is_primary"] = json!(true), "commands[0].examples", Code::TooManyPrimaryExamples),
        ("expected_parameters keys within parameters", |l| l[0]["examples"][0]["expected_parameters"]["zip"] = json!("75001"),
            "commands[0].examples[0].expected_parameters.zip", Code::UnknownParameter),
        ("expected value matches type", |l| l[0]["examples"][1]["expected_parameters"]["days"] = json!("three"),
            "commands[0].examples[1].expected_parameters.days", Code::InvalidValue),
        ("expected value within enum", |l| l[0]["examples"][1]["expected_parameters"]["unit"] = json!("kelvin"),
            "commands[0].examples[1].expected_parameters.unit", Code::InvalidValue),
        ("unknown parameter type", |l| l[0]["parameters"][0]["type"] = json!("decimal"), "commands[0].parameters[0].type", Code::InvalidType),
        ("expected_parameters is an object", |l| l[0]["examples"][0]["expected_parameters"] = json!(["Paris"]),
            "commands[0].examples[0].expected_parameters", Code::InvalidType),
    ];
    for (rule, edit, path, code) in cases {
        let mut list = vec![command("cmd0"), command("cmd1")];
        edit(&mut list);
        let r = validate_commands(&Value::Array(list), 100);
        assert!(has(&r, path, *code), "rule '{rule}': expected {path} {code:?}, got {:?}", found(&r));
    }
}

#[test]
fn command_list_envelope_errors() {
    assert_eq!(found(&validate_commands(&json!("x"), 100)), vec![("commands".to_string(), Code::InvalidType)]);
    assert_eq!(found(&validate_commands(&json!({"nodes": []}), 100)), vec![("commands".to_string(), Code::MissingField)]);
    assert_eq!(found(&validate_commands(&json!({"commands": 3}), 100)), vec![("commands".to_string(), Code::InvalidType)]);
    assert!(validate_commands(&json!([]), 100).is_valid());
}

#[test]
fn parameter_type_vocabulary() {
    for t in ["str", "string", "int", "integer", "float", "bool", "boolean", "list", "array", "dict", "datetime", "date", "time", "timedelta"] {
        assert!(matches!(parse_param_type(t), Some(ParamType::One(_))), "{t}");
    }
    for t in ["datetime", "date", "time", "timedelta", "string", "int", "float", "bool"] {
        for form in [format!("array<{t}>"), format!("array[{t}]"), format!("{t}[]")] {
            assert!(matches!(parse_param_type(&form), Some(ParamType::ArrayOf(_))), "{form}");
        }
    }
    assert_eq!(parse_param_type("array<float>"), Some(ParamType::ArrayOf(ValueKind::Float)));
    for bad in ["array<decimal>", "array<dict>", "str[]", "Array<int>", "int []", "", "array<>", "list<int>"] {
        assert_eq!(parse_param_type(bad), None, "{bad}");
    }
}

#[test]
fn every_error_is_reported_up_to_the_cap() {
    let list: Vec<Value> = (0..150).map(|_| json!({"command_name": "x"})).collect();
    let r = validate_commands(&Value::Array(list.clone()), 100);
    assert_eq!(r.details().len(), 100);
    assert!(r.truncated());
    let j = r.to_json();
    assert_eq!(j["truncated"], json!(true));
    assert_eq!(j["max_details"], json!(100));
    let r = validate_commands(&Value::Array(list), 10_000);
    assert!(!r.truncated());
    // 150 commands × 3 missing fields + 149 duplicate names.
    assert_eq!(r.details().len(), 150 * 3 + 149);
}

// ---------------------------------------------------------------- user schemas and limits

#[test]
fn user_schemas_in_both_drafts() {
    let d7 = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                    "properties": {"n": {"type": "integer", "exclusiveMaximum": 10}}, "additionalProperties": false});
    let s = CompiledSchema::compile(&d7).unwrap();
    assert!(s.validate(&json!({"n": 3}), 10).is_valid());
    let r = s.validate(&json!({"n": 10, "extra": 1}), 10);
    assert!(has(&r, "n", Code::OutOfRange));
    assert!(has(&r, "extra", Code::AdditionalProperty));

    let d2020 = json!({"type": "object", "properties": {"tags": {"type": "array", "maxItems": 1, "minItems": 1,
                       "items": {"type": "string", "pattern": "^[a-z]+$"}}}, "required": ["tags"]});
    let s = CompiledSchema::compile(&d2020).unwrap();
    assert!(has(&s.validate(&json!({"tags": ["a", "b"]}), 10), "tags", Code::TooManyItems));
    assert!(has(&s.validate(&json!({"tags": []}), 10), "tags", Code::TooFewItems));
    assert!(has(&s.validate(&json!({"tags": ["A"]}), 10), "tags[0]", Code::InvalidValue));
}

#[test]
fn invalid_json_schemas_do_not_compile() {
    for bad in [json!({"type": "strnig"}), json!({"minimum": "ten"}), json!([1, 2]), json!("x"),
                json!({"$ref": "https://example.com/s.json"}), json!({"pattern": "("})] {
        let e = CompiledSchema::compile(&bad).err();
        assert!(e.is_some(), "{bad} compiled");
        assert!(!e.unwrap().message.is_empty());
    }
    assert!(CompiledSchema::compile(&json!(true)).is_ok());
}

#[test]
fn deep_documents_are_refused_not_recursed() {
    let mut deep = json!(1);
    for _ in 0..1000 {
        deep = json!([deep]);
    }
    let s = CompiledSchema::compile(&json!({})).unwrap();
    let r = s.validate(&deep, 10);
    assert_eq!(r.details()[0].code, Code::InvalidValue);
    assert!(!s.is_valid(&deep));
    let r = validate_commands(&Value::Array(vec![deep]), 10);
    assert!(!r.is_valid());
}

// ---------------------------------------------------------------- properties

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z_ <>\\[\\]]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![Just("command_name".to_string()), Just("parameters".to_string()), Just("examples".to_string()),
                            Just("name".to_string()), Just("type".to_string()), Just("voice_command".to_string()),
                            Just("expected_parameters".to_string()), Just("is_primary".to_string()), "[a-z]{1,6}"],
                inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Validation never panics, respects the cap and agrees with is_valid.
    #[test]
    fn validators_are_total_and_consistent(doc in arb_json(), cap in 1usize..20) {
        for b in Builtin::ALL {
            let r = b.compiled().validate(&doc, cap);
            prop_assert!(r.details().len() <= cap);
            prop_assert_eq!(r.is_valid(), b.compiled().is_valid(&doc));
        }
        let r = validate_commands(&doc, cap);
        prop_assert!(r.details().len() <= cap);
        prop_assert!(r.details().iter().all(|d| d.path.starts_with("commands")));
    }

    /// Any adjustment inside the schema's bounds is accepted, in both auxOverrides forms.
    #[test]
    fn in_bounds_adjustments_are_valid(im in 0.40f64..=1.20, sm in -3i64..=2, skip: bool,
                                       n in 0usize..5, conf in 0usize..3, array_form: bool) {
        let actions = ["skip", "reduce", "normal"];
        let aux = if array_form {
            Value::Array((0..n).map(|i| json!({"exercise": format!("ex{i}"), "action": actions[i % 3]})).collect())
        } else {
            Value::Object((0..n).map(|i| (format!("ex{i}"), json!(actions[i % 3]))).collect())
        };
        let confidence = ["high", "medium", "low"][conf];
        let a = json!({"intensityModifier": im, "setModifier": sm, "skipMainLift": skip, "auxOverrides": aux,
                       "rationale": vec!["ok"; n], "confidence": confidence});
        let r = validate(Builtin::JitAdjustment, &a);
        prop_assert!(r.is_valid(), "{:?}", r.details());
    }

    /// An intensityModifier outside 0.40..1.20 is always out_of_range at its path.
    #[test]
    fn out_of_bounds_intensity_is_reported(im in prop_oneof![-10.0f64..0.399, 1.2001f64..10.0]) {
        let mut a = adjustment();
        a["intensityModifier"] = json!(im);
        let r = validate(Builtin::JitAdjustment, &a);
        prop_assert_eq!(found(&r), vec![("intensityModifier".to_string(), Code::OutOfRange)]);
    }
}

// ---------------------------------------------------------------- jsonb read in place

fn jsonb(v: &Value) -> Vec<u8> {
    jsonschema_value::jsonb::encode::encode(v)
}

#[test]
fn jsonb_path_agrees_on_fixtures() {
    let tp = Builtin::TrainingProgram.compiled();
    assert!(tp.is_valid_jsonb(&jsonb(&program())));
    let mut p = program();
    p["phases"][1]["durationWeeks"] = json!(3);
    assert!(!tp.is_valid_jsonb(&jsonb(&p)), "cross-field rule must hold on the jsonb path");
    let mut p = program();
    p["phases"][0]["weeks"][1]["days"][2]["dayOfWeek"] = json!(8);
    assert!(!tp.is_valid_jsonb(&jsonb(&p)));
    assert!(Builtin::JitAdjustment.compiled().is_valid_jsonb(&jsonb(&adjustment())));
    let mut a = adjustment();
    a["intensityModifier"] = json!(0.1);
    assert!(!Builtin::JitAdjustment.compiled().is_valid_jsonb(&jsonb(&a)));
    assert!(Builtin::CommandSchema.compiled().is_valid_jsonb(&jsonb(&command("x"))));
    let mut c = command("x");
    c["examples"] = json!([]);
    assert!(!Builtin::CommandSchema.compiled().is_valid_jsonb(&jsonb(&c)));
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    assert!(!CompiledSchema::compile(&json!({})).unwrap().is_valid_jsonb(&jsonb(&deep)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The in-place jsonb path and the serde path always give the same answer.
    #[test]
    fn jsonb_and_serde_paths_agree(doc in arb_json()) {
        let bytes = jsonb(&doc);
        for b in Builtin::ALL {
            prop_assert_eq!(b.compiled().is_valid_jsonb(&bytes), b.compiled().is_valid(&doc), "{}", b.name());
        }
    }

    /// Mutated programs: both paths agree on every single-field change of the real fixture.
    #[test]
    fn jsonb_and_serde_agree_on_mutated_programs(phase in 0usize..2, week in 0usize..4, day in 0usize..3,
                                                 field in 0usize..4, value in arb_json()) {
        let mut p = program();
        let target = &mut p["phases"][phase]["weeks"][week]["days"][day];
        let key = ["dayOfWeek", "focus", "exercises", "isRestDay"][field];
        target[key] = value;
        let tp = Builtin::TrainingProgram.compiled();
        prop_assert_eq!(tp.is_valid_jsonb(&jsonb(&p)), tp.is_valid(&p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The header-only jsonb depth scan matches the depth of the same value in serde.
    #[test]
    fn jsonb_depth_scan_matches_serde_depth(doc in arb_json(), wrap in 0usize..40, limit in 0usize..50) {
        let mut doc = doc;
        for i in 0..wrap {
            doc = if i % 2 == 0 { json!([doc, 1]) } else { json!({"k": doc, "pad": "x".repeat(i)}) };
        }
        let depth = jitgen_core::validation::depth(&doc);
        prop_assert_eq!(jitgen_core::validation::jsonb_depth::exceeds(&jsonb(&doc), limit), depth > limit);
    }
}

#[test]
fn jsonb_depth_scan_handles_wide_containers_with_stored_offsets() {
    // More than 32 children forces JEntries that store offsets instead of lengths.
    let wide = Value::Array((0..100).map(|i| if i % 7 == 0 { json!([[i]]) } else { json!(i) }).collect());
    assert!(!jitgen_core::validation::jsonb_depth::exceeds(&jsonb(&wide), 3));
    assert!(jitgen_core::validation::jsonb_depth::exceeds(&jsonb(&wide), 2));
    let obj = Value::Object((0..80).map(|i| (format!("key{i}"), if i == 79 { json!({"a": [1]}) } else { json!("v") })).collect());
    assert!(!jitgen_core::validation::jsonb_depth::exceeds(&jsonb(&obj), 3));
    assert!(jitgen_core::validation::jsonb_depth::exceeds(&jsonb(&obj), 2));
}

#[test]
fn format_follows_the_draft_unless_asserted() {
    let bad = json!("not-an-email");
    let d2020 = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "format": "email"});
    let d7 = json!({"$schema": "http://json-schema.org/draft-07/schema#", "format": "email"});
    // 2020-12: an annotation by default, asserted on request.
    assert!(CompiledSchema::compile(&d2020).unwrap().is_valid(&bad));
    assert!(!CompiledSchema::compile_with(&d2020, true).unwrap().is_valid(&bad));
    // No $schema means 2020-12.
    assert!(CompiledSchema::compile(&json!({"format": "date"})).unwrap().is_valid(&json!("31/12")));
    // Draft 7 asserts formats as its implementations commonly do; asserting changes nothing.
    assert!(!CompiledSchema::compile(&d7).unwrap().is_valid(&bad));
    assert!(!CompiledSchema::compile_with(&d7, true).unwrap().is_valid(&bad));
    assert!(CompiledSchema::compile_with(&d2020, true).unwrap().is_valid(&json!("a@b.example")));
}
