//! Any JSON (and any bytes) through the seed-004 ingest validation: no panic, the cap holds,
//! every path is rooted at `commands`, and the error body is valid JSON.
#![no_main]

use jitgen_core::validation::commands::validate_commands;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let cap = 1 + data.first().copied().unwrap_or(0) as usize % 100;
    let report = validate_commands(&value, cap);
    assert!(report.details().len() <= cap);
    assert!(report.details().iter().all(|d| d.path.starts_with("commands")));
    let body: serde_json::Value = serde_json::from_str(&report.error_body_text()).expect("body is JSON");
    assert_eq!(body["details"].as_array().map(Vec::len), Some(report.details().len()));
});
