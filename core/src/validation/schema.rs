//! Compiling JSON Schemas (draft 7 and 2020-12) and mapping engine errors to our codes.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::json::{Json, Node};
use jsonschema::json::Jsonb;
use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

use super::builtin::Builtin;
use super::path;
use super::report::{Code, Report};

/// A schema that could not be compiled; `message` is the engine's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    /// Where in the schema the problem is, as a JSON Pointer ("" for the root).
    pub schema_path: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema_path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (at schema path {})", self.message, self.schema_path)
        }
    }
}

impl std::error::Error for CompileError {}

/// A compiled schema plus, for the built-in schemas, the rules JSON Schema cannot express.
pub struct CompiledSchema {
    schema: Value,
    validator: Validator,
    /// Validates Postgres jsonb bytes in place; built on first use because only boolean checks
    /// (CHECK constraints) take this path.
    jsonb_validator: OnceLock<Validator<Jsonb>>,
    builtin: Option<Builtin>,
    assert_formats: bool,
}

/// `assert_formats` false follows the drafts: draft 7 asserts `format`, draft 2020-12 treats it
/// as an annotation unless the schema declares the format-assertion vocabulary. True asserts
/// every known format in any draft (the built-in schemas, and schemas registered that way).
fn options<'i, F: Json>(assert_formats: bool) -> jsonschema::ValidationOptions<'i, std::sync::Arc<dyn jsonschema::Retrieve>, F> {
    let mut options = jsonschema::options_for::<F>();
    if assert_formats {
        options = options.should_validate_formats(true);
    }
    options.with_pattern_options(PatternOptions::regex().size_limit(1 << 20))
}

impl CompiledSchema {
    /// Compiles `schema` with the draft's own `format` behaviour (see [`options`]).
    pub fn compile(schema: &Value) -> Result<CompiledSchema, CompileError> {
        Self::compile_with(schema, false)
    }

    /// Compiles `schema`. `$schema` picks the draft (7 or 2020-12; 2020-12 when absent).
    /// References are never fetched from the network or the file system: a database backend
    /// must not block on IO it was not asked for.
    pub fn compile_with(schema: &Value, assert_formats: bool) -> Result<CompiledSchema, CompileError> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(CompileError {
                message: format!("a JSON Schema is an object or a boolean, got {}", json_type(schema)),
                schema_path: String::new(),
            });
        }
        if super::depth(schema) > super::MAX_DEPTH {
            return Err(CompileError {
                message: format!("schema nests deeper than {} levels", super::MAX_DEPTH),
                schema_path: String::new(),
            });
        }
        let validator = options::<jsonschema::json::SerdeJson>(assert_formats).build(schema).map_err(|e| CompileError {
            message: e.to_string(),
            schema_path: e.schema_path().as_str().to_string(),
        })?;
        Ok(CompiledSchema { schema: schema.clone(), validator, jsonb_validator: OnceLock::new(), builtin: None, assert_formats })
    }

    /// Like [`is_valid`](Self::is_valid) for a Postgres `JsonbContainer` (the jsonb datum
    /// without its varlena header), read in place: no parse, no allocation per value.
    pub fn is_valid_jsonb(&self, container: &[u8]) -> bool {
        if super::jsonb_depth::exceeds(container, super::MAX_DEPTH) {
            return false;
        }
        let root = Jsonb::root(container);
        let validator = self.jsonb_validator.get_or_init(|| {
            options::<Jsonb>(self.assert_formats).build(&self.schema).expect("a schema that compiled for serde compiles for jsonb")
        });
        let valid = validator.is_valid(root)
            && match self.builtin {
                None | Some(Builtin::JitAdjustment) | Some(Builtin::LearningAtom) => true,
                Some(Builtin::TrainingProgram) => super::program::cross_fields_hold(root),
                // Not a hot path: run the rules on a materialised copy.
                Some(b @ Builtin::CommandSchema) => {
                    let doc = root.to_value();
                    let mut report = Report::new(1);
                    b.check(&doc, "", &mut report);
                    report.is_valid()
                }
            };
        // The reader parks conversion errors in a thread-local; none may leak into later calls.
        let _ = jsonschema::json::jsonb::take_pending_error();
        valid
    }

    pub(crate) fn validator(&self) -> &Validator {
        &self.validator
    }

    pub(crate) fn with_builtin(mut self, builtin: Builtin) -> Self {
        self.builtin = Some(builtin);
        self
    }

    /// True when `doc` satisfies the schema and any built-in rules. Stops at the first problem.
    pub fn is_valid(&self, doc: &Value) -> bool {
        if super::depth(doc) > super::MAX_DEPTH {
            return false;
        }
        self.validator.is_valid(doc)
            && self.builtin.is_none_or(|b| {
                let mut report = Report::new(1);
                b.check(doc, "", &mut report);
                report.is_valid()
            })
    }

    /// Every problem (up to `max_details`), JSON Schema errors first in document order, then
    /// the built-in rules.
    pub fn validate(&self, doc: &Value, max_details: usize) -> Report {
        let mut report = Report::new(max_details);
        if reject_too_deep(doc, "", &mut report) {
            return report;
        }
        schema_errors(&self.validator, doc, "", &mut report);
        if let Some(b) = self.builtin {
            if !report.is_full() {
                b.check(doc, "", &mut report);
            }
        }
        report
    }
}

/// Records a depth error and returns true when `doc` is too deep to be walked safely.
pub(crate) fn reject_too_deep(doc: &Value, base: &str, report: &mut Report) -> bool {
    let d = super::depth(doc);
    if d > super::MAX_DEPTH {
        report.push(
            base,
            Code::InvalidValue,
            format!("document nests {d} levels deep; at most {} are accepted", super::MAX_DEPTH),
        );
        return true;
    }
    false
}

/// Runs the JSON Schema engine and appends its errors under `base`.
pub(crate) fn schema_errors(validator: &Validator, doc: &Value, base: &str, report: &mut Report) {
    if validator.is_valid(doc) {
        return;
    }
    for error in validator.iter_errors(doc) {
        let at = path::from_location(base, error.instance_path());
        let more = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().map(Cow::Borrowed).unwrap_or_else(|| property.to_string().into());
                report.push(at, Code::MissingField, format!("{name} required"))
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let mut more = true;
                for name in unexpected {
                    more = report.push(
                        path::key(&at, name),
                        Code::AdditionalProperty,
                        format!("property {name} is not allowed"),
                    );
                    if !more {
                        break;
                    }
                }
                more
            }
            kind => {
                let (code, message) = describe(kind, error.instance());
                report.push(at, code, message)
            }
        };
        if !more {
            break;
        }
    }
}

fn describe(kind: &ValidationErrorKind, instance: &Value) -> (Code, String) {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => {
                    set.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
                }
            };
            (Code::InvalidType, format!("expected {expected}, got {}", json_type(instance)))
        }
        K::Minimum { limit } => (Code::OutOfRange, format!("must be >= {limit}, got {}", short(instance))),
        K::Maximum { limit } => (Code::OutOfRange, format!("must be <= {limit}, got {}", short(instance))),
        K::ExclusiveMinimum { limit } => {
            (Code::OutOfRange, format!("must be > {limit}, got {}", short(instance)))
        }
        K::ExclusiveMaximum { limit } => {
            (Code::OutOfRange, format!("must be < {limit}, got {}", short(instance)))
        }
        K::MaxLength { limit } => (
            Code::TooLong,
            format!("at most {limit} characters, got {}", instance.as_str().map_or(0, |s| s.chars().count())),
        ),
        K::MinLength { limit: 1 } => (Code::InvalidValue, "must not be empty".to_string()),
        K::MinLength { limit } => (Code::InvalidValue, format!("at least {limit} characters required")),
        K::MaxItems { limit } => (
            Code::TooManyItems,
            format!("at most {limit} items, got {}", instance.as_array().map_or(0, Vec::len)),
        ),
        K::MinItems { limit } => (
            Code::TooFewItems,
            format!("at least {limit} items required, got {}", instance.as_array().map_or(0, Vec::len)),
        ),
        K::MaxProperties { limit } => (Code::TooManyItems, format!("at most {limit} properties")),
        K::MinProperties { limit } => (Code::TooFewItems, format!("at least {limit} properties required")),
        K::Enum { options } => {
            (Code::InvalidValue, format!("must be one of {}, got {}", short(options), short(instance)))
        }
        K::Constant { expected_value } => {
            (Code::InvalidValue, format!("must equal {}, got {}", short(expected_value), short(instance)))
        }
        K::Pattern { pattern } => {
            (Code::InvalidValue, format!("{} does not match pattern {pattern}", short(instance)))
        }
        K::Format { format } => (Code::InvalidValue, format!("{} is not a valid {format}", short(instance))),
        K::UniqueItems => (Code::InvalidValue, "items must be unique".to_string()),
        K::MultipleOf { multiple_of } => (Code::InvalidValue, format!("must be a multiple of {multiple_of}")),
        K::AnyOf { .. } | K::OneOfNotValid { .. } => {
            (Code::InvalidValue, "does not match any of the allowed shapes".to_string())
        }
        K::OneOfMultipleValid { .. } => {
            (Code::InvalidValue, "matches more than one of the exclusive shapes".to_string())
        }
        K::Not { .. } => (Code::InvalidValue, "matches a shape that is not allowed".to_string()),
        K::FalseSchema => (Code::InvalidValue, "no value is allowed here".to_string()),
        K::AdditionalItems { limit } => (Code::TooManyItems, format!("at most {limit} items")),
        K::UnevaluatedItems { .. } => (Code::TooManyItems, "unexpected items".to_string()),
        K::Contains => (Code::InvalidValue, "no item matches the required item shape".to_string()),
        other => (Code::InvalidValue, other_message(other)),
    }
}

fn other_message(kind: &ValidationErrorKind) -> String {
    format!("fails the {} rule", kind.keyword())
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value rendered for a message, shortened so a huge value cannot blow up the report.
pub(crate) fn short(v: &Value) -> String {
    const LIMIT: usize = 80;
    let s = v.to_string();
    if s.len() <= LIMIT {
        return s;
    }
    let mut cut = LIMIT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}
