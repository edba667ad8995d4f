//! Every sidecar connection to Postgres: TLS as the connection string's `sslmode` asks, the way
//! libpq reads it, and a lock timeout so a row lock held elsewhere never stalls a worker.
//!
//! tokio-postgres knows only sslmode disable/prefer/require and no `sslrootcert`, so those two
//! are taken out of the string here and become a rustls verifier:
//!
//! | sslmode       | TLS                | certificate checked                                   |
//! |---------------|--------------------|-------------------------------------------------------|
//! | `disable`     | never              | –                                                     |
//! | `prefer`      | if the server can  | no; with a root certificate, the chain (as libpq)     |
//! | `require`     | always             | no; with a root certificate, the chain (as libpq)     |
//! | `verify-ca`   | always             | chain to `sslrootcert` (system CAs when none)         |
//! | `verify-full` | always             | chain and that the certificate names the host         |
//!
//! The root certificate is `sslrootcert` (a PEM file, or `system`), else
//! `~/.postgresql/root.crt` when that file exists, as libpq does.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{self, Check, Roots};

mod conninfo;

pub use conninfo::redact;

/// `JITGEN_LOCK_TIMEOUT_MS` when unset: long enough for any lock the queue takes in passing,
/// short enough that a forgotten `SELECT … FOR UPDATE` in psql surfaces as an error.
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 5000;

pub type TlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
pub type Connection = tokio_postgres::Connection<Socket, TlsStream>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's allow (plain first, TLS on refusal) has no counterpart in tokio-postgres.
            other => return Err(format!("sslmode={other:?} is not supported (use disable, prefer, require, verify-ca or verify-full)")),
        })
    }
}

#[derive(Debug)]
pub enum ConnectError {
    /// The connection string or a file it names is wrong; retrying will not help.
    Config(String),
    Postgres(tokio_postgres::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(m) => f.write_str(m),
            // tokio-postgres prints only its own part ("error performing TLS handshake");
            // the why (for TLS, HandshakeError below) is in the cause chain.
            ConnectError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{} ({})", db.message(), db.code().code()),
                None => {
                    write!(f, "{e}")?;
                    let mut cause = std::error::Error::source(e);
                    while let Some(c) = cause {
                        write!(f, ": {c}")?;
                        cause = c.source();
                    }
                    Ok(())
                }
            },
        }
    }
}

// No source(): the Display above already walks the cause chain, and anyhow's `{:#}` would
// print it twice.
impl std::error::Error for ConnectError {}

impl ConnectError {
    pub fn postgres(&self) -> Option<&tokio_postgres::Error> {
        match self {
            ConnectError::Postgres(e) => Some(e),
            ConnectError::Config(_) => None,
        }
    }
}

/// `JITGEN_LOCK_TIMEOUT_MS` (default 5000); 0 leaves the server's setting alone.
pub fn lock_timeout_from_env() -> Result<Option<u64>, ConnectError> {
    let ms = match std::env::var("JITGEN_LOCK_TIMEOUT_MS") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .map_err(|e| ConnectError::Config(format!("JITGEN_LOCK_TIMEOUT_MS={v:?} is not a number of milliseconds: {e}")))?,
        _ => DEFAULT_LOCK_TIMEOUT_MS,
    };
    Ok((ms > 0).then_some(ms))
}

/// A parsed connection string with its TLS configuration built (CA files read) once.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    /// The same string without the parameters moved into `ssl_mode` and `roots`.
    rest: String,
    ssl_mode: SslMode,
    check: Check,
    roots: Option<Roots>,
    tls: MakeTls,
    lock_timeout_ms: Option<u64>,
}

impl Target {
    /// Parses `url` (URL or key=value form) and reads the lock timeout from the environment.
    pub fn parse(url: &str) -> Result<Target, ConnectError> {
        let bad = |m: String| ConnectError::Config(format!("DATABASE_URL {}: {m}", redact(url)));
        let parts = conninfo::split(url).map_err(bad)?;
        let ssl_mode: SslMode = parts.sslmode.as_deref().unwrap_or("prefer").parse().map_err(bad)?;
        let roots = match parts.sslrootcert.as_deref() {
            Some("system") => Some(Roots::System),
            Some(path) => Some(Roots::File(PathBuf::from(path))),
            None => default_root_file().map(Roots::File),
        };
        let check = match ssl_mode {
            SslMode::Disable => Check::Nothing,
            SslMode::Prefer | SslMode::Require if roots.is_none() => Check::Nothing,
            SslMode::Prefer | SslMode::Require | SslMode::VerifyCa => Check::Chain,
            SslMode::VerifyFull => Check::ChainAndName,
        };
        let mut config: tokio_postgres::Config = parts.rest.parse().map_err(|e| bad(format!("{e}")))?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let trusted = roots.clone().unwrap_or(Roots::System);
        let rustls_config = tls::client_config(check, &trusted, None).map_err(|e| bad(format!("sslrootcert: {e}")))?;
        let tls = MakeTls { inner: MakeRustlsConnect::new(rustls_config), check, trusted: Arc::new(trusted) };
        Ok(Target { config, rest: parts.rest, ssl_mode, check, roots, tls, lock_timeout_ms: lock_timeout_from_env()? })
    }

    /// For schema changes, which may rightly wait for running transactions to end.
    pub fn without_lock_timeout(mut self) -> Target {
        self.lock_timeout_ms = None;
        self
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    pub fn lock_timeout_ms(&self) -> Option<u64> {
        self.lock_timeout_ms
    }

    pub async fn connect(&self) -> Result<(Client, Connection), ConnectError> {
        let mut config = self.config.clone();
        if let Some(ms) = self.lock_timeout_ms {
            // Ours first, so a lock_timeout in the string's own `options` still wins.
            let theirs = config.get_options().unwrap_or_default().to_string();
            config.options(format!("-c lock_timeout={ms} {theirs}").trim_end());
        }
        config.connect(self.tls.clone()).await.map_err(ConnectError::Postgres)
    }

    /// Connects and drives the connection on its own task; `purpose` names it in the log
    /// line written if the connection ends with an error.
    pub async fn connect_spawned(&self, purpose: &'static str) -> Result<Client, ConnectError> {
        let (client, connection) = self.connect().await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(purpose, error = %ConnectError::Postgres(e), "database connection closed");
            }
        });
        Ok(client)
    }

    /// sqlx options for the same server with the same TLS checks (pgmq's installer takes a
    /// sqlx pool); never with a lock timeout, as only `migrate` uses sqlx.
    pub fn sqlx_options(&self) -> Result<sqlx::postgres::PgConnectOptions, ConnectError> {
        use sqlx::postgres::{PgConnectOptions, PgSslMode};
        let mut o = if self.rest.contains("://") {
            PgConnectOptions::from_str(&self.rest).map_err(|e| ConnectError::Config(format!("DATABASE_URL {}: {e}", redact(&self.rest))))?
        } else {
            self.sqlx_options_from_config()
        };
        o = o.ssl_mode(match (self.ssl_mode, self.check) {
            (SslMode::Disable, _) => PgSslMode::Disable,
            (SslMode::Prefer, Check::Nothing) => PgSslMode::Prefer,
            (_, Check::Nothing) => PgSslMode::Require,
            // sqlx's prefer/require never check the chain, even given a root certificate.
            (_, Check::Chain) => PgSslMode::VerifyCa,
            (_, Check::ChainAndName) => PgSslMode::VerifyFull,
        });
        if let Some(Roots::File(path)) = &self.roots {
            o = o.ssl_root_cert(path);
        }
        Ok(o)
    }

    // sqlx reads URLs only; a key=value string goes over field by field.
    fn sqlx_options_from_config(&self) -> sqlx::postgres::PgConnectOptions {
        let c = &self.config;
        let mut o = sqlx::postgres::PgConnectOptions::new_without_pgpass();
        match c.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => o = o.host(h),
            Some(tokio_postgres::config::Host::Unix(p)) => o = o.socket(p),
            None => {}
        }
        if let Some(p) = c.get_ports().first() {
            o = o.port(*p);
        }
        if let Some(u) = c.get_user() {
            o = o.username(u);
        }
        if let Some(p) = c.get_password() {
            o = o.password(&String::from_utf8_lossy(p));
        }
        if let Some(d) = c.get_dbname() {
            o = o.database(d);
        }
        o
    }
}

fn default_root_file() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
    path.is_file().then_some(path)
}

/// Parses `url` and connects; the caller drives the returned connection (the LISTEN paths
/// poll it for notifications).
pub async fn connect(url: &str) -> Result<(Client, Connection), ConnectError> {
    Target::parse(url)?.connect().await
}

/// Parses `url`, connects and drives the connection on its own task.
pub async fn connect_spawned(url: &str, purpose: &'static str) -> Result<Client, ConnectError> {
    Target::parse(url)?.connect_spawned(purpose).await
}

/// tokio-postgres-rustls with handshake failures reworded: its own error is rustls' terse
/// "invalid peer certificate: UnknownIssuer" inside an io::Error.
#[derive(Clone)]
struct MakeTls {
    inner: MakeRustlsConnect,
    check: Check,
    trusted: Arc<Roots>,
}

impl MakeTlsConnect<Socket> for MakeTls {
    type Stream = TlsStream;
    type TlsConnect = Handshake;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, HandshakeError> {
        let inner = match <MakeRustlsConnect as MakeTlsConnect<Socket>>::make_tls_connect(&mut self.inner, host) {
            Ok(c) => c,
            Err(never) => match never {},
        };
        Ok(Handshake { inner, host: host.to_string(), check: self.check, trusted: self.trusted.clone() })
    }
}

struct Handshake {
    inner: <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect,
    host: String,
    check: Check,
    trusted: Arc<Roots>,
}

impl TlsConnect<Socket> for Handshake {
    type Stream = TlsStream;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream, HandshakeError>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        let Handshake { inner, host, check, trusted } = self;
        let handshake = inner.connect(stream);
        Box::pin(async move {
            handshake.await.map_err(|e| {
                let text = match tls::find_rustls_error(&e) {
                    Some(r) => tls::explain(r, &host, &trusted),
                    None => format!("TLS handshake with {host} failed: {e}"),
                };
                let hint = match check {
                    Check::Nothing => "",
                    Check::Chain => " (checked: the chain to a trusted CA, not the host name)",
                    Check::ChainAndName => " (checked: the chain to a trusted CA and the host name)",
                };
                HandshakeError(format!("{text}{hint}"), e)
            })
        })
    }
}

#[derive(Debug)]
pub struct HandshakeError(String, std::io::Error);

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_checks() {
        let t = Target::parse("postgres://u@db.example/app?sslmode=require").unwrap();
        assert_eq!((t.ssl_mode(), t.check), (SslMode::Require, Check::Nothing));
        let t = Target::parse("postgres://u@db.example/app?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!((t.ssl_mode(), t.check, t.roots.clone()), (SslMode::VerifyCa, Check::Chain, Some(Roots::System)));
        let t = Target::parse("host=db.example user=u sslmode=verify-full sslrootcert=system").unwrap();
        assert_eq!(t.check, Check::ChainAndName);
        assert_eq!(Target::parse("postgres://u@h/d").unwrap().ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn config_errors_are_clear_and_redacted() {
        let e = Target::parse("postgres://u:secret@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").err().unwrap().to_string();
        assert!(e.contains("/nonexistent/ca.pem") && !e.contains("secret"), "{e}");
        let e = Target::parse("postgres://u@h/d?sslmode=allow").err().unwrap().to_string();
        assert!(e.contains("sslmode=\"allow\" is not supported"), "{e}");
    }

    #[test]
    fn sqlx_gets_the_same_checks() {
        use sqlx::postgres::PgSslMode;
        let t = Target::parse("postgres://u@h:5/d?sslmode=require&application_name=x").unwrap();
        assert!(matches!(t.sqlx_options().unwrap().get_ssl_mode(), PgSslMode::Require));
        let t = Target::parse("host=h port=5 user=u dbname=d sslmode=verify-full sslrootcert=system").unwrap();
        let o = t.sqlx_options().unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        assert_eq!((o.get_host(), o.get_port(), o.get_username(), o.get_database()), ("h", 5, "u", Some("d")));
    }
}
