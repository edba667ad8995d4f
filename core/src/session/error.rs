//! The one error type of the session engine: bad input from the caller.
//!
//! Everything the engine can reject is the caller's data (an input, a session or an
//! adjustment), so the extension maps every [`InputError`] to SQLSTATE 22023 with
//! `message` as the message, `detail` (or the field path) as the DETAIL and `hint` as the
//! HINT.

use std::fmt;

use crate::validation::Report;

/// What is wrong, as a stable snake_case code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputErrorKind {
    /// A required field is absent (or null).
    MissingField,
    /// A field has the wrong JSON type (a string where a number belongs, …).
    InvalidType,
    /// A field names something the engine does not know (a lift, a strategy, …).
    UnknownValue,
    /// A number is outside its allowed range (or not finite).
    OutOfRange,
    /// An adjustment failed the `jit_adjustment` schema; `detail` holds the report.
    InvalidAdjustment,
}

impl InputErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputErrorKind::MissingField => "missing_field",
            InputErrorKind::InvalidType => "invalid_type",
            InputErrorKind::UnknownValue => "unknown_value",
            InputErrorKind::OutOfRange => "out_of_range",
            InputErrorKind::InvalidAdjustment => "invalid_adjustment",
        }
    }
}

/// Bad input, with the field it concerns and a hint that names the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub kind: InputErrorKind,
    /// Dotted path of the offending field (`sorenessRatings.quads`, `recentLogs[2].sets`);
    /// empty for the document itself. For SQL scalar arguments, the argument name.
    pub field: String,
    /// A complete sentence that names the field and the problem.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// Structured detail as JSON text, when there is more than one problem to report
    /// (the `{"error":"invalid_schema","details":[…]}` body of an adjustment).
    pub detail: Option<String>,
}

impl InputError {
    pub(crate) fn new(
        kind: InputErrorKind,
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        InputError { kind, field: field.into(), message: message.into(), hint: hint.into(), detail: None }
    }

    pub(crate) fn missing(field: &str, hint: impl Into<String>) -> Self {
        let message = format!("{} is required", display_field(field));
        InputError::new(InputErrorKind::MissingField, field, message, hint)
    }

    pub(crate) fn invalid_type(field: &str, problem: impl fmt::Display, hint: impl Into<String>) -> Self {
        let message = format!("{} {problem}", display_field(field));
        InputError::new(InputErrorKind::InvalidType, field, message, hint)
    }

    pub(crate) fn unknown(field: &str, got: &str, expected: &str, hint: impl Into<String>) -> Self {
        let got = serde_json::Value::String(got.to_string());
        let message = format!("{} must be one of {expected}, got {got}", display_field(field));
        InputError::new(InputErrorKind::UnknownValue, field, message, hint)
    }

    pub(crate) fn out_of_range(field: &str, problem: impl fmt::Display, hint: impl Into<String>) -> Self {
        let message = format!("{} {problem}", display_field(field));
        InputError::new(InputErrorKind::OutOfRange, field, message, hint)
    }

    /// An adjustment that failed schema validation; the whole report travels in `detail`.
    pub(crate) fn invalid_adjustment(field: &str, report: &Report) -> Self {
        let first = report
            .details()
            .first()
            .map(|d| if d.path.is_empty() { d.message.clone() } else { format!("{}: {}", d.path, d.message) })
            .unwrap_or_else(|| "invalid".to_string());
        let count = report.details().len();
        let more = if count > 1 { format!(" (and {} more problems)", count - 1) } else { String::new() };
        InputError {
            kind: InputErrorKind::InvalidAdjustment,
            field: field.to_string(),
            message: format!(
                "{} does not match the jit_adjustment schema: {first}{more}",
                display_field(field)
            ),
            hint: "Check the adjustment with jitgen.validate('jit_adjustment', …); \
                   intensityModifier must be 0.40..1.20 and setModifier an integer -3..2."
                .to_string(),
            detail: Some(report.error_body_text()),
        }
    }

    /// Moves the error under `prefix` (e.g. a session's fields under `session`).
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        let old = display_field(&self.field);
        let field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        if let Some(rest) = self.message.strip_prefix(&old) {
            self.message = format!("{}{rest}", display_field(&field));
        }
        self.field = field;
        self
    }
}

/// How a field is named in a message: its path, or "the document" for the root.
fn display_field(field: &str) -> String {
    if field.is_empty() {
        "the document".to_string()
    } else {
        field.to_string()
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field() {
        let e = InputError::unknown("primaryLift", "press", "squat, bench or deadlift", "h");
        assert_eq!(e.message, r#"primaryLift must be one of squat, bench or deadlift, got "press""#);
        let e = InputError::missing("", "h");
        assert_eq!(e.message, "the document is required");
        let e = InputError::out_of_range("[0].weight_kg", "must be >= 0", "h").under("mainLiftSets");
        assert_eq!(e.field, "mainLiftSets[0].weight_kg");
        assert_eq!(e.message, "mainLiftSets[0].weight_kg must be >= 0");
    }
}
