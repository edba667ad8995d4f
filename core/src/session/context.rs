//! The context sent to the LLM.
//!
//! It is the input exactly as the app sent it (unknown keys included: the app may know
//! things the engine does not) minus `warmupConfig` (warm-ups are always formula-derived;
//! the LLM cannot change them), plus what the LLM needs to reason about its adjustment:
//!
//! - `formulaBase`: the loading-table prescription the modifiers apply to
//!   (`{sets, reps, repsMax?, pct, rpeTarget, weightKg, incrementKg}`);
//! - `formulaSession`: what the formula generator would prescribe, without its warm-ups
//!   (`{mainLiftSets, skippedMainLift, auxiliaryWork, rationale, warnings}`);
//! - `formulaRestSeconds`: the main-lift rest `restAdjustments.mainLift` is relative to;
//! - `volumeStatus`: per tracked muscle `{weeklySets, mev, mrv, status, remainingSets}`
//!   against the resolved landmarks (training age and `mrvMevConfig` applied);
//! - `auxiliaryBaseWeights`: exercise → the catalogue load (kg, rounded) an `anchorOverride`
//!   would replace; uncatalogued exercises are absent.
//!
//! Keys the engine adds replace app keys of the same name.

use serde_json::{json, Map, Value};

use super::catalogue::aux_weight_kg;
use super::error::InputError;
use super::formula::{formula_session_resolved, Resolved};
use super::input::JitInput;
use super::rounding::round_to_increment;
use super::volume::volume_overview;

/// Builds the LLM context for an input document.
pub fn build_jit_context(input: &Value) -> Result<Value, InputError> {
    let parsed = JitInput::from_value(input)?;
    let r = Resolved::new(&parsed)?;
    // from_value succeeded, so the input is an object.
    let mut ctx: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
    ctx.remove("warmupConfig");

    let p = &r.prescription;
    let mut base = json!({
        "sets": p.sets,
        "reps": p.reps,
        "pct": p.pct,
        "rpeTarget": p.rpe_target,
        "weightKg": r.base_weight,
        "incrementKg": r.increment,
    });
    if let Some(max) = p.reps_max {
        base["repsMax"] = json!(max);
    }
    ctx.insert("formulaBase".into(), base);

    let formula = formula_session_resolved(&parsed, &r);
    ctx.insert(
        "formulaSession".into(),
        json!({
            "mainLiftSets": formula.main_lift_sets,
            "skippedMainLift": formula.skipped_main_lift,
            "auxiliaryWork": formula.auxiliary_work,
            "rationale": formula.rationale,
            "warnings": formula.warnings,
        }),
    );
    ctx.insert("formulaRestSeconds".into(), json!(r.rest.main_lift));

    let volume: Map<String, Value> = volume_overview(&parsed)
        .into_iter()
        .map(|(m, v)| (m.as_str().to_string(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect();
    ctx.insert("volumeStatus".into(), Value::Object(volume));

    let aux: Map<String, Value> = parsed
        .active_auxiliaries
        .iter()
        .filter_map(|e| {
            aux_weight_kg(&parsed, e).map(|w| (e.clone(), json!(round_to_increment(w, r.increment))))
        })
        .collect();
    ctx.insert("auxiliaryBaseWeights".into(), Value::Object(aux));
    Ok(Value::Object(ctx))
}
