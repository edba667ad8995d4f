//! Where formula_session time goes: input parse, formula, serialisation.
//! cargo run --release -p jitgen-core --example session_cost
use std::time::Instant;

use jitgen_core::session::{formula_session, JitInput};

fn main() {
    let text = r#"{"sessionId":"s7","weekNumber":3,"blockNumber":2,"primaryLift":"squat","intensityType":"heavy",
      "oneRmKg":147,"biologicalSex":"male","sorenessRatings":{"quads":4,"chest":2},
      "weeklyVolumeToDate":{"quads":7,"chest":7,"hamstrings":7},
      "activeAuxiliaries":["Romanian Deadlift","Leg Press","Barbell Row"],
      "recentLogs":[{"sessionDate":"2026-11-20","lift":"squat","sets":[{"weightKg":100,"reps":5,"rpe":8}]}],
      "activeDisruptions":[]}"#;
    let n = 20000;
    let t = Instant::now();
    let mut v = serde_json::Value::Null;
    for _ in 0..n {
        v = serde_json::from_str(text).unwrap();
    }
    let parse = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    let mut input = None;
    for _ in 0..n {
        input = Some(JitInput::from_value(&v).unwrap());
    }
    let typed = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let input = input.unwrap();
    let t = Instant::now();
    let mut s = None;
    for _ in 0..n {
        s = Some(formula_session(&input).unwrap());
    }
    let formula = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let s = s.unwrap();
    let t = Instant::now();
    let mut len = 0;
    for _ in 0..n {
        len = serde_json::to_string(&s).unwrap().len();
    }
    let ser = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        let _ = serde_json::to_value(&s).unwrap();
    }
    let to_value = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("parse {parse:.2} µs, JitInput {typed:.2} µs, formula {formula:.2} µs, to_string {ser:.2} µs ({len} bytes), to_value {to_value:.2} µs");
}
