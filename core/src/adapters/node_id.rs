//! The one rule for node ids. A node id names the node's MQTT topic and the storage prefix
//! that scopes its presigned URLs, so it is checked once, at `register_node`, with this same
//! function the sidecar applies before publishing.

/// 1 to 128 characters: a letter or digit, then letters, digits, `_`, `.` or `-`; never `..`
/// (which would step out of the node's storage prefix).
pub fn valid_node_id(node_id: &str) -> bool {
    let b = node_id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && !node_id.contains("..")
}

#[cfg(test)]
mod tests {
    use super::valid_node_id;

    #[test]
    fn node_ids() {
        for ok in ["kitchen-1", "a", "A.b_c-9", &"x".repeat(128)] {
            assert!(valid_node_id(ok), "{ok}");
        }
        for bad in ["", "a..b", "..", "-a", ".a", "a/b", "a b", "é", &"x".repeat(129), "a\0b"] {
            assert!(!valid_node_id(bad), "{bad:?}");
        }
    }
}
