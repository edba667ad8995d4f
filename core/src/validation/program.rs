//! Cross-field rules of the `training_program` schema (seed 002).

use jsonschema::json::{Array, Json, JsonNumber, Jsonb, JsonbNode, Node, Object};
use serde_json::Value;

use super::path;
use super::report::{Code, Report};

/// The phases' `durationWeeks` must add up to `durationWeeksTotal`. Checked only when every
/// number involved is an integer: otherwise the JSON Schema errors already say what is wrong.
pub(crate) fn check_cross_fields(doc: &Value, base: &str, report: &mut Report) {
    let Some(total) = doc.get("durationWeeksTotal").and_then(Value::as_i64) else { return };
    let Some(phases) = doc.get("phases").and_then(Value::as_array) else { return };
    let weeks: Option<Vec<i64>> =
        phases.iter().map(|p| p.get("durationWeeks").and_then(Value::as_i64)).collect();
    let Some(weeks) = weeks else { return };
    let sum: i64 = weeks.iter().fold(0i64, |acc, w| acc.saturating_add(*w));
    if !weeks.is_empty() && sum != total {
        report.push(
            path::key(base, "durationWeeksTotal"),
            Code::InvalidValue,
            format!("durationWeeksTotal is {total} but the phases' durationWeeks add up to {sum}"),
        );
    }
}

/// The same rule over jsonb read in place (the CHECK-constraint path).
pub(crate) fn cross_fields_hold(doc: JsonbNode<'_>) -> bool {
    let int = |n: Option<JsonbNode<'_>>| n.and_then(|n| n.as_number()).and_then(|n| n.as_i64());
    let Some(object) = doc.as_object() else { return true };
    let Some(total) = int(object.get(&Jsonb::prepare_key("durationWeeksTotal"))) else { return true };
    let Some(phases) = object.get(&Jsonb::prepare_key("phases")).and_then(|p| p.as_array()) else { return true };
    let key = Jsonb::prepare_key("durationWeeks");
    let mut sum = 0i64;
    let mut any = false;
    for phase in phases.elements() {
        let Some(weeks) = int(phase.as_object().and_then(|o| o.get(&key))) else { return true };
        sum = sum.saturating_add(weeks);
        any = true;
    }
    !any || sum == total
}
