//! Cross-field rules of the `training_program` schema (seed 002).

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
