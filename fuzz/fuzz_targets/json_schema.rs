//! Arbitrary schema + document through compile and validate, and documents through every
//! built-in: no panic, and the boolean and the detailed answers always agree.
#![no_main]

use jitgen_core::validation::builtin::Builtin;
use jitgen_core::validation::CompiledSchema;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // Input: <schema JSON> 0x00 <document JSON>; a missing separator fuzzes the built-ins only.
    let (schema, doc) = match data.iter().position(|b| *b == 0) {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let Ok(doc) = serde_json::from_slice::<Value>(doc) else { return };
    for b in Builtin::ALL {
        let compiled = b.compiled();
        assert_eq!(compiled.is_valid(&doc), compiled.validate(&doc, 100).is_valid(), "{}", b.name());
    }
    let Some(Ok(schema)) = schema.map(serde_json::from_slice::<Value>) else { return };
    if let Ok(compiled) = CompiledSchema::compile(&schema) {
        let report = compiled.validate(&doc, 50);
        assert!(report.details().len() <= 50);
        assert_eq!(compiled.is_valid(&doc), report.is_valid());
    }
});
