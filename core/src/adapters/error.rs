//! Why a dataset could not be assembled. Every variant is the caller's data, so the extension
//! maps all of them to SQLSTATE 22023 (invalid_parameter_value), with [`AssembleError::detail`]
//! as the DETAIL and [`AssembleError::hint`] as the HINT.

use std::fmt;

use serde_json::json;

use super::canonical::canonical_json;

use crate::validation::Report;

#[derive(Clone, Debug)]
pub enum AssembleError {
    /// The command list failed `validate_commands`; the report is the seed-004 error body.
    Invalid(Report),
    /// A scalar argument or a training parameter is out of range; `field` names it
    /// (`base_model_id`, `params.r`, …).
    InvalidArgument { field: String, message: String },
    /// More pairs than one job may train on (seed 004: 2000).
    TooManyPairs { count: usize, limit: usize },
}

impl AssembleError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AssembleError::Invalid(_) => "invalid_schema",
            AssembleError::InvalidArgument { .. } => "invalid_argument",
            AssembleError::TooManyPairs { .. } => "too_many_pairs",
        }
    }

    /// Structured DETAIL as compact JSON text. For `Invalid` it is exactly the seed's body
    /// (`{"error":"invalid_schema","details":[…]}`); the other bodies are canonical (sorted keys).
    pub fn detail(&self) -> String {
        match self {
            AssembleError::Invalid(report) => report.error_body_text(),
            AssembleError::InvalidArgument { field, message } => {
                canonical_json(&json!({"error": self.code(), "field": field, "message": message}))
            }
            AssembleError::TooManyPairs { count, limit } => {
                canonical_json(&json!({"error": self.code(), "count": count, "limit": limit}))
            }
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            AssembleError::Invalid(_) => "fix the listed paths of command_schema and send the whole list again".into(),
            AssembleError::InvalidArgument { field, .. } => format!("correct {field}"),
            AssembleError::TooManyPairs { limit, .. } => format!(
                "reduce examples or antipatterns so that the node has at most {limit} training pairs \
                 (about 10 examples per command)"
            ),
        }
    }
}

impl fmt::Display for AssembleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssembleError::Invalid(report) => {
                write!(f, "invalid command_schema: {} problem(s)", report.details().len())?;
                if report.truncated() {
                    write!(f, " (list truncated)")?;
                }
                Ok(())
            }
            AssembleError::InvalidArgument { field, message } => write!(f, "invalid {field}: {message}"),
            AssembleError::TooManyPairs { count, limit } => {
                write!(f, "dataset has {count} training pairs, more than the limit of {limit}")
            }
        }
    }
}

impl std::error::Error for AssembleError {}
