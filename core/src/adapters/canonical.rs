//! Canonical JSON and the hashes built on it.
//!
//! The canonical form is: object keys sorted by Unicode code point (Rust `str` order), no
//! whitespace, strings escaped minimally (`"`, `\`, and control characters; everything else
//! as UTF-8), numbers exactly as serde_json prints them. It is *not* RFC 8785 (JCS sorts by
//! UTF-16 units and reformats numbers); it only has to be stable across our own builds, and
//! whoever recomputes a `dataset_hash` does so with this module.
//!
//! The writer is iterative so that no document, however deep, can overflow the stack of a
//! Postgres backend.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where canonical text goes: a `String` (for storage) or a hasher (so a 2000-pair dataset is
/// hashed without first being rendered as one large string).
pub(crate) trait Sink {
    fn put(&mut self, s: &str);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, s: &str) {
        self.update(s.as_bytes());
    }
}

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// Hex (lower case) sha256 of the canonical text of `value`.
pub fn canonical_sha256(value: &Value) -> String {
    let mut h = Sha256::new();
    write_canonical(value, &mut h);
    to_hex(&h.finalize())
}

pub(crate) fn write_canonical(value: &Value, out: &mut impl Sink) {
    enum Step<'a> {
        Value(&'a Value),
        Key(&'a str),
        Text(&'static str),
    }
    let mut stack = vec![Step::Value(value)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(t) => out.put(t),
            Step::Key(k) => {
                write_string(k, out);
                out.put(":");
            }
            Step::Value(Value::Null) => out.put("null"),
            Step::Value(Value::Bool(b)) => out.put(if *b { "true" } else { "false" }),
            Step::Value(Value::Number(n)) => out.put(&n.to_string()),
            Step::Value(Value::String(s)) => write_string(s, out),
            Step::Value(Value::Array(items)) => {
                out.put("[");
                stack.push(Step::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Step::Value(item));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
            Step::Value(Value::Object(map)) => {
                out.put("{");
                stack.push(Step::Text("}"));
                // serde_json's map order depends on a crate feature (preserve_order) that another
                // crate in the build may switch on; sorting here makes the text independent of it.
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, v)) in entries.into_iter().enumerate().rev() {
                    stack.push(Step::Value(v));
                    stack.push(Step::Key(k));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
        }
    }
}

pub(crate) fn write_string(s: &str, out: &mut impl Sink) {
    out.put("\"");
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{08}' => "\\b",
            '\u{0C}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.put(&s[start..i]);
        if escaped.is_empty() {
            out.put(&format!("\\u{:04x}", c as u32));
        } else {
            out.put(escaped);
        }
        start = i + c.len_utf8();
    }
    out.put(&s[start..]);
    out.put("\"");
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The first 8 bytes of sha256(`text`) as a big-endian integer: a uniform, portable number
/// that anyone can recompute from the text alone.
pub(crate) fn sha256_prefix_u64(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x", "é": 1.5, "A": -2});
        assert_eq!(canonical_json(&v), r#"{"A":-2,"a":"x","b":[1,{"a":true,"z":null}],"é":1.5}"#);
    }

    #[test]
    fn escapes_like_serde_json() {
        let s = "q\"b\\n\n\r\t\u{08}\u{0C}\u{01}\u{1f}é😀\u{7f}";
        let mut out = String::new();
        write_string(s, &mut out);
        assert_eq!(out, serde_json::to_string(s).unwrap());
    }

    #[test]
    fn matches_serde_json_on_sorted_input() {
        let v = json!({"a": [1, 2.5, "x", null, false, {"k": []}], "b": {}});
        assert_eq!(canonical_json(&v), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn deep_documents_do_not_overflow() {
        let mut v = json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(canonical_json(&v).len(), 200_001);
        // serde_json's own Drop is recursive; leak the value so the test checks only our writer.
        std::mem::forget(v);
    }

    #[test]
    fn sha256_of_empty_object() {
        assert_eq!(canonical_sha256(&json!({})), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }
}
