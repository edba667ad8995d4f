//! Where validation time goes for a realistic program: JSON parse vs schema check vs rules.
//! cargo run --release -p jitgen-core --example validate_cost
use std::time::Instant;

use jitgen_core::validation::builtin::Builtin;

fn main() {
    let text = include_str!("../tests/fixtures/training_program.json");
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(text).unwrap()).unwrap();
    let n = 2000;
    let t = Instant::now();
    let mut v = serde_json::Value::Null;
    for _ in 0..n {
        v = serde_json::from_str(&compact).unwrap();
    }
    let parse = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let s = Builtin::TrainingProgram.compiled();
    let t = Instant::now();
    let mut ok = true;
    for _ in 0..n {
        ok &= s.is_valid(&v);
    }
    let check = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let bytes = jsonschema_value::jsonb::encode::encode(&v);
    let t = Instant::now();
    let mut okj = true;
    for _ in 0..n {
        okj &= s.is_valid_jsonb(&bytes);
    }
    let jsonb = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("is_valid_jsonb {jsonb:.1} µs ({okj})");
    let t = Instant::now();
    for _ in 0..n {
        drop(v.clone());
    }
    let clone_drop = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..200 {
        let _ = jitgen_core::validation::CompiledSchema::compile(&Builtin::TrainingProgram.schema()).unwrap();
    }
    let compile = t.elapsed().as_secs_f64() * 1e6 / 200.0;
    println!("doc {} bytes: parse {parse:.1} µs, is_valid {check:.1} µs ({ok}), clone+drop {clone_drop:.1} µs, compile {compile:.1} µs", compact.len());
}
