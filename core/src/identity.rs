//! Which app user the current request acts for, from the settings PostgREST / Supabase set
//! (`request.jwt.claims`, the older `request.jwt.claim.sub`) or jitgen's own `jitgen.user_id`.
//! Row-level security compares it with each row's `user_id`; a missing or malformed value
//! means "nobody" (None), never an error.

use serde_json::Value;

/// The first usable user id among the three settings, in the reference's order.
pub fn current_user_id(jwt_claims: Option<&str>, jwt_claim_sub: Option<&str>, jitgen_user_id: Option<&str>) -> Option<uuid_text::Uuid> {
    let from_claims = jwt_claims
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| v.get("sub").and_then(Value::as_str).map(str::to_string));
    let first = [from_claims.as_deref(), jwt_claim_sub, jitgen_user_id].into_iter().flatten().map(str::trim).find(|s| !s.is_empty());
    first.and_then(uuid_text::parse)
}

/// A uuid as its 16 bytes, parsed from the canonical text forms Postgres accepts for `uuid`
/// (hyphenated or not, either case, optionally in braces).
pub mod uuid_text {
    pub type Uuid = [u8; 16];

    pub fn parse(text: &str) -> Option<Uuid> {
        let t = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(text);
        let hex: String = if t.len() == 36 {
            let b = t.as_bytes();
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
            t.chars().filter(|&c| c != '-').collect()
        } else {
            t.to_string()
        };
        if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "11111111-2222-3333-4444-555555555555";
    const B: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    #[test]
    fn the_first_usable_setting_wins() {
        let a = uuid_text::parse(A);
        let b = uuid_text::parse(B);
        assert!(a.is_some() && b.is_some());
        let claims = format!(r#"{{"sub":"{A}","role":"authenticated"}}"#);
        assert_eq!(current_user_id(Some(&claims), Some(B), Some(B)), a);
        assert_eq!(current_user_id(None, Some(A), Some(B)), a);
        assert_eq!(current_user_id(Some(""), Some(""), Some(B)), b);
        // Claims without a sub, or not JSON at all, fall through to the next setting.
        assert_eq!(current_user_id(Some(r#"{"role":"anon"}"#), None, Some(B)), b);
        assert_eq!(current_user_id(Some("{not json"), None, Some(A)), a);
    }

    #[test]
    fn malformed_ids_mean_nobody() {
        for bad in ["", "42", "not-a-uuid", "11111111-2222-3333-4444-55555555555", "g1111111-2222-3333-4444-555555555555", "11111111+2222-3333-4444-555555555555"] {
            assert_eq!(current_user_id(None, None, Some(bad)), None, "{bad:?}");
        }
        assert_eq!(current_user_id(Some(r#"{"sub": 42}"#), None, None), None);
        assert!(uuid_text::parse("{11111111-2222-3333-4444-555555555555}").is_some());
        assert!(uuid_text::parse("11111111222233334444555555555555").is_some());
        assert!(uuid_text::parse("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE").is_some());
    }
}
