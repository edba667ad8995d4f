//! Runs jitgen's validator against a checkout of the official JSON-Schema-Test-Suite and counts
//! the cases where it disagrees with the suite's expected result:
//!
//!     cargo run -p jitgen-core --release --example schema_suite -- <suite-dir> [--assert-formats]
//!
//! The suite is not vendored (it is another project's); scripts/schema-suite.sh clones it.
//! Mandatory tests of draft 7 and draft 2020-12 are run (`optional/` is not), except
//! `refRemote.json`: jitgen never fetches a remote reference, by design, and the other cases
//! whose schema needs one of the suite's remote documents are counted apart. Both `is_valid`
//! (what `jitgen.is_valid` and `matches_schema` call) and `validate` (`jitgen.validate`) are
//! checked. The exit status is non-zero when any other case differs.

use std::path::{Path, PathBuf};

use jitgen_core::validation::{CompiledSchema, DEFAULT_MAX_DETAILS};
use serde_json::Value;

const DRAFTS: [(&str, &str); 2] =
    [("draft7", "http://json-schema.org/draft-07/schema#"), ("draft2020-12", "https://json-schema.org/draft/2020-12/schema")];

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: schema_suite <JSON-Schema-Test-Suite dir> [--assert-formats]");
        std::process::exit(2);
    };
    let assert_formats = args.any(|a| a == "--assert-formats");
    let mut failed = 0;
    for (draft, uri) in DRAFTS {
        let (total, remote, wrong) = run_draft(&dir.join("tests").join(draft), uri, assert_formats);
        println!(
            "{draft}: {total} cases, {} agree, {} differ, {remote} need a remote document{}",
            total - wrong.len() - remote,
            wrong.len(),
            if assert_formats { " (formats asserted)" } else { "" }
        );
        for w in wrong.iter().take(40) {
            println!("  differs: {w}");
        }
        failed += wrong.len();
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

fn run_draft(dir: &Path, uri: &str, assert_formats: bool) -> (usize, usize, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("refRemote.json"))
        .collect();
    files.sort();
    let (mut total, mut remote, mut wrong) = (0, 0, Vec::new());
    for file in files {
        let groups: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for group in groups.as_array().unwrap() {
            let mut schema = group["schema"].clone();
            // The suite's schemas mostly leave the draft to the runner; jitgen defaults to 2020-12.
            if let Some(obj) = schema.as_object_mut() {
                obj.entry("$schema").or_insert_with(|| Value::String(uri.to_string()));
            }
            let compiled = CompiledSchema::compile_with(&schema, assert_formats);
            for case in group["tests"].as_array().unwrap() {
                total += 1;
                let expected = case["valid"].as_bool().unwrap();
                let label = format!("{name}: {} / {}", group["description"].as_str().unwrap_or(""), case["description"].as_str().unwrap_or(""));
                match &compiled {
                    Err(e) if e.to_string().contains("localhost:1234") => remote += 1,
                    Err(e) => wrong.push(format!("{label} (schema refused: {e})")),
                    Ok(c) => {
                        let fast = c.is_valid(&case["data"]);
                        let full = c.validate(&case["data"], DEFAULT_MAX_DETAILS).is_valid();
                        if fast != expected || full != expected {
                            wrong.push(format!("{label} (expected {expected}, is_valid {fast}, validate {full})"));
                        }
                    }
                }
            }
        }
    }
    (total, remote, wrong)
}
