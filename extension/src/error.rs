//! Every error a SQL caller can cause, with its SQLSTATE, DETAIL and a HINT naming the fix.

use jitgen_core::adapters::AssembleError;
use jitgen_core::session::InputError;
use jitgen_core::validation::{CompileError, Report};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub enum JitgenError {
    NullArgument { function: &'static str, argument: &'static str, hint: &'static str },
    UnknownSchema { name: String, known: Vec<String> },
    InvalidSchemaName { name: String },
    InvalidJsonSchema { name: String, error: CompileError },
    BuiltinSchemaReadOnly { name: String },
    /// `subject` names what was checked (`schema "x"`, `the command list`); `validate_call` is
    /// the non-raising call that lists the same problems.
    DocumentInvalid { subject: String, validate_call: String, report: Report },
    DocumentTooLarge { bytes: usize, limit: usize },
    DocumentTooDeep { limit: usize },
    DocumentUnrepresentable { reason: String },
    InvalidInput(InputError),
    /// A node's command list or training parameters cannot become a dataset.
    Assemble(AssembleError),
    Internal { context: &'static str, message: String },
}

impl JitgenError {
    fn parts(self) -> (PgSqlErrorCode, String, Option<String>, Option<String>) {
        use PgSqlErrorCode::*;
        match self {
            JitgenError::NullArgument { function, argument, hint } => (
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("{argument} must not be NULL"),
                Some(format!("jitgen.{function} was called with a NULL {argument}.")),
                Some(hint.to_string()),
            ),
            JitgenError::UnknownSchema { name, known } => (
                ERRCODE_UNDEFINED_OBJECT,
                format!("schema \"{name}\" is not registered"),
                Some(format!("Registered schemas: {}.", known.join(", "))),
                Some(format!(
                    "List them with SELECT DISTINCT name FROM jitgen.schemas; register a new one with \
                     SELECT jitgen.register_schema('{name}', '<JSON Schema>'::jsonb)."
                )),
            ),
            JitgenError::InvalidSchemaName { name } => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("invalid schema name \"{name}\""),
                Some("A schema name is 1 to 63 characters: a lower-case letter, then lower-case letters, digits, '_', '.' or '-'.".into()),
                Some("Use a name such as 'workout_plan' or 'app.v2.plan'.".into()),
            ),
            JitgenError::InvalidJsonSchema { name, error } => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("\"{name}\" is not a valid JSON Schema"),
                Some(error.to_string()),
                Some("Fix the schema (draft 2020-12 or draft 7, picked by \"$schema\"); references must be local (\"#/$defs/...\").".into()),
            ),
            JitgenError::BuiltinSchemaReadOnly { name } => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                format!("\"{name}\" is a built-in schema and cannot be replaced"),
                Some("Built-in schemas carry rules beyond JSON Schema and are shared by every jitgen function.".into()),
                Some(format!("Register your variant under another name, e.g. SELECT jitgen.register_schema('my_{name}', ...).")),
            ),
            JitgenError::DocumentInvalid { subject, validate_call, report } => {
                let n = report.details().len();
                let first = report
                    .details()
                    .first()
                    .map(|d| if d.path.is_empty() { format!(": {}", d.message) } else { format!(": {} {}", d.path, d.message) })
                    .unwrap_or_default();
                (
                    ERRCODE_INVALID_PARAMETER_VALUE,
                    format!(
                        "{subject} is invalid ({n}{} problem{}){first}",
                        if report.truncated() { "+" } else { "" },
                        if n == 1 { "" } else { "s" }
                    ),
                    Some(report.error_body_text()),
                    Some(format!("Every problem is listed in DETAIL as JSON; SELECT {validate_call} returns the same list without raising.")),
                )
            }
            JitgenError::DocumentTooLarge { bytes, limit } => (
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "document is too large to validate".into(),
                Some(format!("The document is {bytes} bytes; jitgen.max_document_bytes is {limit}.")),
                Some("Split the document, or raise the limit: SET jitgen.max_document_bytes = '16MB';".into()),
            ),
            JitgenError::DocumentTooDeep { limit } => (
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "document nests too deeply to validate".into(),
                Some(format!("jitgen accepts at most {limit} levels of nested arrays and objects.")),
                Some("Flatten the document; no generated artefact needs this depth.".into()),
            ),
            JitgenError::DocumentUnrepresentable { reason } => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                "document cannot be validated".into(),
                Some(reason),
                Some("Numbers must fit in a double precision float (about ±1.8e308).".into()),
            ),
            JitgenError::InvalidInput(e) => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                e.message.clone(),
                Some(e.detail.clone().unwrap_or_else(|| format!("field: {} ({})", if e.field.is_empty() { "(root)" } else { &e.field }, e.kind.as_str()))),
                Some(e.hint.clone()),
            ),
            JitgenError::Assemble(AssembleError::Invalid(report)) => JitgenError::DocumentInvalid {
                subject: "command_schema".into(),
                validate_call: "jitgen.validate_commands(command_schema)".into(),
                report,
            }
            .parts(),
            JitgenError::Assemble(e @ AssembleError::TooManyPairs { .. }) => (
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                e.to_string(),
                Some(e.detail()),
                Some(format!("{}.", capitalise(&e.hint()))),
            ),
            JitgenError::Assemble(e @ AssembleError::InvalidArgument { .. }) => (
                ERRCODE_INVALID_PARAMETER_VALUE,
                e.to_string(),
                Some(e.detail()),
                Some(format!("{}.", capitalise(&e.hint()))),
            ),
            JitgenError::Internal { context, message } => (
                ERRCODE_INTERNAL_ERROR,
                format!("jitgen internal error while {context}"),
                Some(message),
                Some("This is a bug in jitgen; please report it with the statement that caused it.".into()),
            ),
        }
    }

    /// Raises the error as a Postgres ERROR; never returns.
    #[track_caller]
    pub fn raise(self, function: &'static str) -> ! {
        let (code, message, detail, hint) = self.parts();
        raise(code, message, detail, hint, function)
    }
}

/// Raises a Postgres ERROR with this SQLSTATE, message, DETAIL and HINT; never returns.
#[track_caller]
pub fn raise(code: PgSqlErrorCode, message: String, detail: Option<String>, hint: Option<String>, function: &'static str) -> ! {
    let mut report = ErrorReport::new(code, message, function);
    if let Some(d) = detail {
        report = report.set_detail(d);
    }
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR-level reports do not return")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Unwraps a required argument or raises 22004 with a hint.
#[track_caller]
pub fn required<T>(value: Option<T>, function: &'static str, argument: &'static str, hint: &'static str) -> T {
    match value {
        Some(v) => v,
        None => JitgenError::NullArgument { function, argument, hint }.raise(function),
    }
}

/// SPI failures are never swallowed: they surface as an internal error naming what we were doing.
pub trait OrRaise<T> {
    fn or_raise(self, context: &'static str, function: &'static str) -> T;
}

impl<T> OrRaise<T> for Result<T, pgrx::spi::Error> {
    #[track_caller]
    fn or_raise(self, context: &'static str, function: &'static str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => JitgenError::Internal { context, message: e.to_string() }.raise(function),
        }
    }
}
