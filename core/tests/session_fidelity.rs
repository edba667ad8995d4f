//! Differential test against the seed's origin engine (rek/parakeet's formula generator).
//!
//! `fixtures/session_fidelity/inputs.jsonl` holds seeded inputs in jitgen's format and
//! `origin.jsonl` the origin engine's outputs for them (regenerate both with
//! `fixtures/session_fidelity/run_origin.sh <checkout>`). Every input runs through
//! `formula_session`; its projection must equal the origin's, except where a deliberate
//! difference listed in the README's "Deliberate differences from the origin engine" table
//! applies. Each deliberate difference is a rewrite of the origin's output that this test
//! applies before comparing, so an unlisted change in either engine fails.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jitgen_core::session::volume::{capped_muscles, resolved_mrv_mev, sets_that_fit};
use jitgen_core::session::{base_main_sets, formula_session, IntensityType, JitInput, SessionOutput};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_jsonl(name: &str) -> Vec<Value> {
    let path = root().join("fixtures/session_fidelity").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn sets(sets: &[jitgen_core::session::PlannedSet]) -> Value {
    Value::Array(sets.iter().map(|s| json!([s.weight_kg, s.reps, s.rpe_target])).collect())
}

/// jitgen's session in the origin projection's shape.
fn project(s: &SessionOutput) -> Value {
    json!({
        "skippedMainLift": s.skipped_main_lift,
        "mainLiftSets": sets(&s.main_lift_sets),
        "warmupSets": s.warmup_sets.iter().map(|w| json!([w.weight_kg, w.reps])).collect::<Vec<_>>(),
        "auxiliaryWork": s.auxiliary_work.iter().map(|a| json!({
            "exercise": a.exercise, "skipped": a.skipped, "sets": sets(&a.sets),
        })).collect::<Vec<_>>(),
        "restSeconds": if s.main_lift_sets.is_empty() { Value::Null } else { json!(s.rest_seconds.main_lift) },
        "warnings": s.warnings,
    })
}

/// Equal, with numbers equal to 1e-6 (the origin's weights carry binary noise such as
/// 3 × 0.1 kg).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-6,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The differing top-level fields.
fn differing(ours: &Value, expected: &Value) -> Vec<String> {
    let (Value::Object(o), Value::Object(e)) = (ours, expected) else { return vec!["<shape>".into()] };
    e.keys().filter(|k| !o.get(*k).is_some_and(|v| same(v, &e[*k]))).cloned().collect()
}

/// Ids of the deliberate differences (the README's table lists each).
const DELIBERATE: &[&str] = &["recovery-respects-mrv", "set-ceiling", "no-whole-set-is-a-skip", "rehab-cap-warning"];

/// What a deliberate difference does to the origin's output: the rewritten output, its id,
/// and the prefix of the one warning jitgen adds for it (if any).
struct Expected {
    output: Value,
    applied: Vec<&'static str>,
    added_warnings: Vec<&'static str>,
}

fn suppress_aux(expected: &mut Value) {
    for a in expected["auxiliaryWork"].as_array_mut().unwrap() {
        // Bodyweight compensation work stays: it is the session when equipment is missing.
        let compensation = a["sets"].as_array().is_some_and(|s| s.iter().all(|x| x[0] == json!(0) && x[2] == json!(7)))
            && !a["skipped"].as_bool().unwrap();
        if !compensation {
            a["skipped"] = json!(true);
            a["sets"] = json!([]);
        }
    }
}

fn skip_main(expected: &mut Value) {
    expected["skippedMainLift"] = json!(true);
    expected["mainLiftSets"] = json!([]);
    expected["warmupSets"] = json!([]);
    expected["restSeconds"] = Value::Null;
}

/// The origin's output with the deliberate differences that apply to `input` made.
fn expected_from_origin(input: &JitInput, origin: &Value) -> Expected {
    let mut output = origin.clone();
    let mut applied = Vec::new();
    let mut added_warnings = Vec::new();
    let rehab_cap = output.as_object_mut().unwrap().remove("rehabCapKg").filter(|c| !c.is_null());
    let main_sets = origin["mainLiftSets"].as_array().unwrap().len();
    let skipped = origin["skippedMainLift"].as_bool().unwrap();
    let recovery = main_sets == 3
        && input.intensity_type != IntensityType::Deload
        && input.session_soreness() >= 9.0;

    // The origin states a Rehab Mode cap in the rationale only; jitgen also warns.
    if rehab_cap.is_some() {
        applied.push("rehab-cap-warning");
        added_warnings.push("Capped at ");
    }

    // The origin's recovery session skips its MRV step; jitgen's hard constraints still hold.
    if recovery {
        let table = resolved_mrv_mev(input);
        let fits = capped_muscles(input.primary_lift)
            .filter_map(|(m, load)| table.get(&m).map(|lm| sets_that_fit(lm.mrv, input.weekly_sets(m), load)))
            .min()
            .unwrap_or(usize::MAX);
        if fits < main_sets {
            applied.push("recovery-respects-mrv");
            added_warnings.push("[constraint] MRV");
            if fits == 0 {
                skip_main(&mut output);
            } else {
                output["mainLiftSets"].as_array_mut().unwrap().truncate(fits);
            }
        }
    }

    // The origin's volume calibration may add 3 sets; jitgen never exceeds formula + 2.
    let ceiling = base_main_sets(input).unwrap().len() + 2;
    if main_sets > ceiling {
        applied.push("set-ceiling");
        added_warnings.push("[constraint] Sets capped at formula sets + 2");
        output["mainLiftSets"].as_array_mut().unwrap().truncate(ceiling);
    }

    // Less than one whole set under MRV: the origin prescribes 0 sets but does not skip.
    if main_sets == 0 && !skipped {
        applied.push("no-whole-set-is-a-skip");
        skip_main(&mut output);
        suppress_aux(&mut output);
        // Suppressed auxiliaries are not checked against MRV one by one.
        output["warnings"].as_array_mut().unwrap().retain(|w| !w.as_str().unwrap().ends_with(" skipped")
            || !w.as_str().unwrap().starts_with("Approaching MRV"));
    }
    Expected { output, applied, added_warnings }
}

/// jitgen's warnings without the one added per `prefixes`; `None` when one is missing.
fn without_added(warnings: &Value, prefixes: &[&str]) -> Option<Value> {
    let mut list: Vec<Value> = warnings.as_array().unwrap().clone();
    for prefix in prefixes {
        let at = list.iter().position(|w| w.as_str().is_some_and(|w| w.starts_with(prefix)))?;
        list.remove(at);
    }
    Some(Value::Array(list))
}

#[test]
fn formula_sessions_match_the_origin_engine() {
    let inputs = read_jsonl("inputs.jsonl");
    let origin: BTreeMap<u64, Value> =
        read_jsonl("origin.jsonl").into_iter().map(|c| (c["id"].as_u64().unwrap(), c["origin"].clone())).collect();
    assert!(inputs.len() >= 1000, "the fixture must hold at least 1,000 cases, has {}", inputs.len());
    assert_eq!(inputs.len(), origin.len(), "inputs.jsonl and origin.jsonl are out of step; rerun run_origin.sh");

    let mut failures: Vec<String> = Vec::new();
    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_difference: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &inputs {
        let id = case["id"].as_u64().unwrap();
        let input = JitInput::from_value(&case["input"]).unwrap_or_else(|e| panic!("case {id}: {e:?}"));
        let mut ours = project(&formula_session(&input).unwrap_or_else(|e| panic!("case {id}: {e:?}")));
        let Expected { output: expected, applied, added_warnings } = expected_from_origin(&input, &origin[&id]);
        for d in applied {
            *by_difference.entry(d).or_default() += 1;
        }
        match without_added(&ours["warnings"], &added_warnings) {
            Some(rest) => ours["warnings"] = rest,
            None => failures.push(format!("case {id}: a warning starting with one of {added_warnings:?} is missing")),
        }
        let fields = differing(&ours, &expected);
        if !fields.is_empty() {
            for f in &fields {
                *by_field.entry(f.clone()).or_default() += 1;
            }
            if failures.len() < 12 {
                failures.push(format!(
                    "case {id} differs in {fields:?}\n  input:    {}\n  jitgen:   {ours}\n  expected: {expected}",
                    case["input"]
                ));
            }
        }
    }
    eprintln!("deliberate differences applied: {by_difference:?}");
    assert!(
        by_field.is_empty() && failures.is_empty(),
        "{} field differences from the origin engine ({by_field:?}); first cases:\n{}",
        by_field.values().sum::<usize>(),
        failures.join("\n")
    );
}

#[test]
fn every_deliberate_difference_is_documented() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for id in DELIBERATE {
        assert!(readme.contains(&format!("`{id}`")), "README does not list deliberate difference `{id}`");
    }
}
