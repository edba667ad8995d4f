//! Where a generated program's CPU time goes in the sidecar: building the prompt, parsing the
//! reply, the schema and equipment checks (`check_reply`), for the template program of a
//! realistic onboarding. cargo run --release -p jitgen-core --example program_cost
use std::time::Instant;

use jitgen_core::program::{check_reply, prompt, template, Onboarding};
use serde_json::json;

fn main() {
    let o = Onboarding::from_value(&json!({"experienceLevel": "Intermediate (6mo-2yr)", "trainingFrequencyDays": 4,
                                           "equipment": ["Full Gym (Barbells, Racks, Machines)"]}))
    .unwrap();
    let program = template::program(&o, "2026-12-02T10:00:00Z");
    let text = program.to_string();
    let n = 500;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let build = time(&mut || drop(prompt::request_body("gpt-4o-mini", &o)));
    let parse = time(&mut || drop(serde_json::from_str::<serde_json::Value>(&text).unwrap()));
    let check = time(&mut || assert!(check_reply(&program, &o).is_ok()));
    let make = time(&mut || drop(template::program(&o, "2026-12-02T10:00:00Z")));
    println!("program {} bytes: prompt {build:.0} µs, parse {parse:.0} µs, check_reply {check:.0} µs, template {make:.0} µs", text.len());
}
