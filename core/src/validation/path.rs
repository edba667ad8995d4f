//! Paths are written `field[index].field` with the root omitted, e.g.
//! `phases[0].weeks[1].days[2].dayOfWeek`. Keys that are not plain identifiers are written
//! as a quoted index (`tags["a.b"]`) so every path can be read back unambiguously.

use std::fmt::Write;

/// Appends `.key` (or `key` at the root, or `["key"]` when it is not a plain identifier).
pub fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::to_string(key).expect("string serialises"));
        path.push(']');
    }
}

pub fn push_index(path: &mut String, index: usize) {
    let _ = write!(path, "[{index}]");
}

pub fn key(base: &str, key: &str) -> String {
    let mut p = base.to_string();
    push_key(&mut p, key);
    p
}

pub fn index(base: &str, index: usize) -> String {
    let mut p = base.to_string();
    push_index(&mut p, index);
    p
}

/// Converts a JSON Pointer location (as produced by the JSON Schema engine) under `base`.
pub fn from_location(base: &str, location: &jsonschema::paths::Location) -> String {
    let mut p = base.to_string();
    for segment in location.segments() {
        match segment {
            jsonschema::paths::LocationSegment::Property(name) => push_key(&mut p, &name),
            jsonschema::paths::LocationSegment::Index(i) => push_index(&mut p, i),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_dotted_paths() {
        let mut p = String::new();
        push_key(&mut p, "phases");
        push_index(&mut p, 0);
        push_key(&mut p, "weeks");
        push_index(&mut p, 1);
        push_key(&mut p, "dayOfWeek");
        assert_eq!(p, "phases[0].weeks[1].dayOfWeek");
    }

    #[test]
    fn quotes_odd_keys() {
        assert_eq!(key("tags", "a.b"), r#"tags["a.b"]"#);
        assert_eq!(key("", "with space"), r#"["with space"]"#);
        assert_eq!(key("", ""), r#"[""]"#);
    }
}
