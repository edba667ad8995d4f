//! Throwaway certificates made with the `openssl` CLI at test time: a CA, a server certificate
//! it signs, and an unrelated second CA for the "wrong CA" cases. Nothing is checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::services::temp_dir;

pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting it must refuse the server.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl (apt-get install openssl)");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=jitgen test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.pem"))
}

impl Pki {
    /// `san` is the server certificate's subjectAltName, e.g. `DNS:localhost`.
    pub fn generate(san: &str) -> Pki {
        let dir = temp_dir("pki");
        let ca = make_ca(&dir, "ca");
        let other_ca = make_ca(&dir, "other-ca");
        std::fs::write(
            dir.join("server.ext"),
            format!("subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=jitgen test server",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        Pki { ca, other_ca, server_cert: dir.join("server.pem"), server_key: dir.join("server.key"), dir }
    }

    /// A client certificate signed by the CA, for brokers that require one: (cert, key).
    pub fn client_cert(&self, name: &str) -> (PathBuf, PathBuf) {
        std::fs::write(
            self.dir.join(format!("{name}.ext")),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
        (self.dir.join(format!("{name}.pem")), self.dir.join(format!("{name}.key")))
    }

    /// A copy of the server key that `user` owns with mode 0600 (Postgres refuses any other).
    pub fn server_key_owned_by(&self, user: &str) -> PathBuf {
        let key = self.dir.join(format!("server-{user}.key"));
        std::fs::copy(&self.server_key, &key).unwrap();
        let out = Command::new("chown").arg(user).arg(&key).output().unwrap();
        assert!(out.status.success() || user == whoami(), "chown {user}: {}", String::from_utf8_lossy(&out.stderr));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        key
    }

    /// A world-readable copy of the server key, for a server that drops privileges before
    /// reading it (mosquitto started as root).
    pub fn server_key_readable(&self) -> PathBuf {
        let key = self.dir.join("server-readable.key");
        std::fs::copy(&self.server_key, &key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        key
    }
}

fn whoami() -> String {
    Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
