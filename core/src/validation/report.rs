use serde::Serialize;
use serde_json::{json, Value};

/// How many details a report keeps unless the caller asks for another cap.
pub const DEFAULT_MAX_DETAILS: usize = 100;

/// Stable error codes; part of the public contract (apps switch on them).
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    MissingField,
    InvalidType,
    OutOfRange,
    InvalidValue,
    TooLong,
    TooManyItems,
    TooFewItems,
    AdditionalProperty,
    DuplicateName,
    TooFewExamples,
    TooManyExamples,
    TooManyPrimaryExamples,
    UnknownParameter,
    InvalidJson,
}

impl Code {
    pub const ALL: [Code; 14] = [
        Code::MissingField,
        Code::InvalidType,
        Code::OutOfRange,
        Code::InvalidValue,
        Code::TooLong,
        Code::TooManyItems,
        Code::TooFewItems,
        Code::AdditionalProperty,
        Code::DuplicateName,
        Code::TooFewExamples,
        Code::TooManyExamples,
        Code::TooManyPrimaryExamples,
        Code::UnknownParameter,
        Code::InvalidJson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingField => "missing_field",
            Code::InvalidType => "invalid_type",
            Code::OutOfRange => "out_of_range",
            Code::InvalidValue => "invalid_value",
            Code::TooLong => "too_long",
            Code::TooManyItems => "too_many_items",
            Code::TooFewItems => "too_few_items",
            Code::AdditionalProperty => "additional_property",
            Code::DuplicateName => "duplicate_name",
            Code::TooFewExamples => "too_few_examples",
            Code::TooManyExamples => "too_many_examples",
            Code::TooManyPrimaryExamples => "too_many_primary_examples",
            Code::UnknownParameter => "unknown_parameter",
            Code::InvalidJson => "invalid_json",
        }
    }
}

/// One problem found in a document. Field order is the wire order of the seed-004 body.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub path: String,
    pub code: Code,
    pub message: String,
}

/// The problems found in one document, capped at `max_details`.
#[derive(Clone, Debug)]
pub struct Report {
    details: Vec<Detail>,
    max_details: usize,
    truncated: bool,
}

/// The error body (`{"error":"invalid_schema","details":[…]}`), serialised in this field order.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    details: &'a [Detail],
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_details: Option<usize>,
}

impl Report {
    pub fn new(max_details: usize) -> Self {
        Report { details: Vec::new(), max_details: max_details.max(1), truncated: false }
    }

    /// Records a problem; returns false once the cap is reached so callers can stop early.
    pub fn push(&mut self, path: impl Into<String>, code: Code, message: impl Into<String>) -> bool {
        if self.details.len() >= self.max_details {
            self.truncated = true;
            return false;
        }
        self.details.push(Detail { path: path.into(), code, message: message.into() });
        true
    }

    pub fn is_full(&self) -> bool {
        self.details.len() >= self.max_details
    }

    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    pub fn is_valid(&self) -> bool {
        self.details.is_empty()
    }

    pub fn details(&self) -> &[Detail] {
        &self.details
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: "invalid_schema",
            details: &self.details,
            truncated: self.truncated.then_some(true),
            max_details: self.truncated.then_some(self.max_details),
        }
    }

    /// The structured error as compact JSON text with `error` first, exactly the shape of
    /// the seed-004 400 body; used as the DETAIL of raised errors.
    pub fn error_body_text(&self) -> String {
        serde_json::to_string(&self.body()).expect("report serialises")
    }

    /// `{"valid":true,"details":[]}` or `{"valid":false,"error":"invalid_schema","details":[…]}`
    /// (plus `truncated` and `max_details` when the cap was hit).
    pub fn to_json(&self) -> Value {
        if self.is_valid() {
            return json!({"valid": true, "details": []});
        }
        let mut v = serde_json::to_value(self.body()).expect("report serialises");
        v["valid"] = Value::Bool(false);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_names() {
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn valid_report_shape() {
        assert_eq!(Report::new(10).to_json(), json!({"valid": true, "details": []}));
    }

    #[test]
    fn cap_is_enforced_and_stated() {
        let mut r = Report::new(2);
        assert!(r.push("a", Code::MissingField, "a required"));
        assert!(r.push("b", Code::MissingField, "b required"));
        assert!(!r.push("c", Code::MissingField, "c required"));
        let j = r.to_json();
        assert_eq!(j["details"].as_array().unwrap().len(), 2);
        assert_eq!(j["truncated"], json!(true));
        assert_eq!(j["max_details"], json!(2));
        assert_eq!(j["valid"], json!(false));
    }

    #[test]
    fn error_body_text_puts_error_first() {
        let mut r = Report::new(5);
        r.push("x", Code::InvalidType, "m");
        assert_eq!(
            r.error_body_text(),
            r#"{"error":"invalid_schema","details":[{"path":"x","code":"invalid_type","message":"m"}]}"#
        );
    }
}
