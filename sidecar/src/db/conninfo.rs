//! Takes `sslmode` and `sslrootcert` out of a libpq connection string, in URL form
//! (`postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/ca.pem`) or key=value form
//! (`host=h sslmode=verify-full sslrootcert='/my ca.pem'`), leaving the rest for tokio-postgres.

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parts {
    pub rest: String,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

impl Parts {
    /// Whether `key` is ours; records its value.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.sslmode = Some(value),
            "sslrootcert" => self.sslrootcert = Some(value),
            _ => return false,
        }
        true
    }
}

pub fn split(s: &str) -> Result<Parts, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        split_url(s)
    } else {
        split_key_values(s)
    }
}

fn split_url(url: &str) -> Result<Parts, String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(Parts { rest: url.to_string(), ..Parts::default() });
    };
    let mut parts = Parts::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !parts.take(&percent_decode(k)?, percent_decode(v)?) {
            kept.push(pair);
        }
    }
    parts.rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok(parts)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("bad percent-encoding in {s:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad percent-encoding in {s:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

fn split_key_values(s: &str) -> Result<Parts, String> {
    let mut parts = Parts::default();
    let mut kept = Vec::new();
    for (key, value) in key_values(s)? {
        if !parts.take(&key, value.clone()) {
            kept.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    parts.rest = kept.join(" ");
    Ok(parts)
}

/// libpq's key=value syntax: spaces around `=` allowed, values bare or single-quoted, with
/// backslash escapes in both.
fn key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("expected `=` after {key:?}"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().ok_or("unterminated quoted value")?),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value of {key:?}")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(if c == '\\' { chars.next().ok_or("trailing backslash")? } else { c });
            }
        }
        out.push((key, value));
    }
}

/// The connection string without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    if !url.contains("://") {
        return redact_key_values(url);
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn redact_key_values(s: &str) -> String {
    match key_values(s) {
        Ok(kvs) => kvs
            .iter()
            .map(|(k, v)| if k == "password" { format!("{k}=***") } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) if s.contains("password") => "(a connection string with a password, not shown)".into(),
        Err(_) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_form() {
        let p = split("postgres://u@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fmy%20ca.pem").unwrap();
        assert_eq!(p.rest, "postgres://u@h:5/db?application_name=x");
        assert_eq!(p.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/tmp/my ca.pem"));
        let p = split("postgresql://u@h/db?sslmode=disable").unwrap();
        assert_eq!((p.rest.as_str(), p.sslrootcert), ("postgresql://u@h/db", None));
        assert_eq!(split("postgres://u@h/db").unwrap().rest, "postgres://u@h/db");
    }

    #[test]
    fn key_value_form() {
        let p = split(r"host=h  user = u sslmode=verify-ca sslrootcert='/my ca\'s.pem' password=a\ b").unwrap();
        assert_eq!(p.rest, r"host='h' user='u' password='a b'");
        assert_eq!(p.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/my ca's.pem"));
        assert!(split("host=h sslrootcert='/open").is_err());
        assert!(split("host").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("host=/tmp"), "host=/tmp");
        assert!(!redact("host=h password=secret").contains("secret"));
    }
}
