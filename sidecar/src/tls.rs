//! rustls pieces shared by the Postgres and MQTT connections: where trusted CAs come from, the
//! three levels of server checking that libpq's sslmodes call for, and error text that says
//! which check refused a handshake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

// Explicit rather than rustls' process default: reqwest and rust-s3 already pick ring, and a
// second provider feature turned on anywhere in the tree would make the default ambiguous.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where trusted CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file with one or more CA certificates; only these are trusted.
    File(PathBuf),
    /// The operating system's store (`/etc/ssl/certs` on Debian).
    System,
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::File(p) => write!(f, "CA file {}", p.display()),
            Roots::System => f.write_str("the system's trusted CAs"),
        }
    }
}

impl Roots {
    fn load(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match self {
            Roots::File(path) => {
                let (added, _) = store.add_parsable_certificates(read_certs(path)?);
                if added == 0 {
                    return Err(format!("{}: no usable CA certificate in the file", path.display()));
                }
            }
            Roots::System => {
                store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if store.is_empty() {
                    return Err("no system CA certificates found: install ca-certificates or name a CA file".into());
                }
            }
        }
        Ok(store)
    }
}

pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read PEM certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in the file", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("cannot read a PEM private key from {}: {e}", path.display()))
}

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Encryption only (libpq's prefer/require without a root certificate): the handshake
    /// signature is still checked, so the peer holds the key of the certificate it sent.
    Nothing,
    /// The chain up to a trusted CA, any host name (verify-ca).
    Chain,
    /// The chain and that the certificate names the host connected to (verify-full).
    ChainAndName,
}

/// A client certificate and its key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A rustls client configuration that checks the server as `check` says; `roots` is only read
/// when a chain is checked.
pub fn client_config(check: Check, roots: &Roots, client_cert: Option<&ClientCert>) -> Result<ClientConfig, String> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AnyCert { algs }),
        Check::Chain => Arc::new(ChainOnly { roots: Arc::new(roots.load()?), algs }),
        Check::ChainAndName => WebPkiServerVerifier::builder_with_provider(Arc::new(roots.load()?), provider.clone())
            .build()
            .map_err(|e| format!("{roots}: {e}"))?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some(c) => builder
            .with_client_auth_cert(read_certs(&c.cert)?, read_key(&c.key)?)
            .map_err(|e| format!("client certificate {} with key {}: {e}", c.cert.display(), c.key.display())),
    }
}

#[derive(Debug)]
struct AnyCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, self.algs.all)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The first rustls error in `err`'s cause chain. tokio-rustls wraps it in an `io::Error`,
/// whose `source()` skips the wrapped error, so io errors are opened by hand.
pub fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

/// Operator-facing text for a refused handshake with `host`: which check failed and against
/// which CAs, so a wrong CA file and a wrong host name read differently.
pub fn explain(err: &rustls::Error, host: &str, trusted: &Roots) -> String {
    match err {
        rustls::Error::InvalidCertificate(c) => {
            let why = match c {
                CertificateError::UnknownIssuer => {
                    format!("the certificate of {host} is not signed by a trusted CA (trusted: {trusted})")
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    format!("the certificate does not name {host:?}, the host connected to (it must be in its subjectAltName)")
                }
                CertificateError::BadSignature => format!("the certificate of {host} has a bad signature"),
                other => format!("{other} (server {host}, trusted: {trusted})"),
            };
            format!("certificate verification failed: {why}")
        }
        rustls::Error::AlertReceived(alert) => {
            format!("TLS handshake with {host} failed: the server sent alert {alert:?} (does it require a client certificate?)")
        }
        other => format!("TLS handshake with {host} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_wrong_ca_and_wrong_name_apart() {
        let roots = Roots::File("/etc/ca.pem".into());
        let ca = explain(&rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer), "db", &roots);
        assert!(ca.starts_with("certificate verification failed:") && ca.contains("/etc/ca.pem"), "{ca}");
        let name = explain(&rustls::Error::InvalidCertificate(CertificateError::NotValidForName), "10.0.0.1", &roots);
        assert!(name.contains("certificate verification failed") && name.contains("subjectAltName"), "{name}");
    }

    #[test]
    fn finds_rustls_errors_inside_io_errors() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert!(matches!(find_rustls_error(&io), Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = client_config(Check::ChainAndName, &Roots::File("/nonexistent/ca.pem".into()), None).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        assert!(client_config(Check::Nothing, &Roots::File("/nonexistent/ca.pem".into()), None).is_ok());
    }
}
