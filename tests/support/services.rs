//! Real S3 (s3s-fs) and MQTT (mosquitto) servers for end-to-end tests, each on its own free
//! port in a temp dir, restartable on the same port to simulate outages.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("jitgen-{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls a TCP connect until the server listens (or panics at the deadline).
fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on port {port}: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on port {port} within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_closed(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "port {port} still accepts connections after stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn s3s_fs_bin() -> PathBuf {
    if let Ok(p) = std::env::var("JITGEN_S3S_FS") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("JITGEN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/jitgen"));
    let bin = cache.join("s3s-fs-0.14.1/bin/s3s-fs");
    assert!(
        bin.exists(),
        "s3s-fs not found at {}: run `source scripts/lib.sh && ensure_s3s_fs` or set JITGEN_S3S_FS",
        bin.display()
    );
    bin
}

/// Kills and reaps a server process; false when none was running.
fn end(child: &mut Option<Child>) -> bool {
    match child.take() {
        Some(mut c) => {
            let _ = c.kill();
            let _ = c.wait();
            true
        }
        None => false,
    }
}

pub struct S3Server {
    pub port: u16,
    pub dir: PathBuf,
    pub access_key: String,
    pub secret_key: String,
    child: Option<Child>,
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = temp_dir("s3");
        let mut s = S3Server {
            port: free_port(),
            dir,
            access_key: "jitgen-test".into(),
            secret_key: "jitgen-test-secret".into(),
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(s3s_fs_bin())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--access-key",
                &self.access_key,
                "--secret-key",
                &self.secret_key,
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        wait_listening(self.port, "s3s-fs", &mut child);
        self.child = Some(child);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A store on this server's `bucket`, as the sidecar configures one.
    pub fn store(&self, bucket: &str) -> jitgen_sidecar::storage::ArtifactStore {
        jitgen_sidecar::storage::ArtifactStore::new(&jitgen_sidecar::storage::S3Config {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            bucket: bucket.into(),
            access_key: Some(self.access_key.clone()),
            secret_key: Some(self.secret_key.clone()),
            path_style: true,
            url_ttl: jitgen_sidecar::storage::DEFAULT_URL_TTL,
        })
        .expect("store")
    }

    pub fn stop(&mut self) {
        if end(&mut self.child) {
            wait_closed(self.port);
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        end(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct MqttBroker {
    pub port: u16,
    /// The TLS listener of `start_tls`, beside the plain one at `port`.
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

impl MqttBroker {
    pub fn start() -> MqttBroker {
        let dir = temp_dir("mqtt");
        let port = free_port();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        let mut b = MqttBroker { port, tls_port: None, dir, child: None };
        b.spawn();
        b
    }

    /// A broker with a TLS listener (`tls_port`) presenting `cert`, and a plain one (`port`)
    /// for test subscribers. With `require_client_cert`, TLS clients need a certificate
    /// signed by `ca`.
    pub fn start_tls(ca: &Path, cert: &Path, key: &Path, require_client_cert: bool) -> MqttBroker {
        let dir = temp_dir("mqtt");
        let (port, tls_port) = (free_port(), free_port());
        let conf = format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_client_cert}\n\
             listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            ca.display(),
            cert.display(),
            key.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut b = MqttBroker { port, tls_port: Some(tls_port), dir, child: None };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (apt-get install mosquitto)");
        wait_listening(self.port, "mosquitto", &mut child);
        if let Some(p) = self.tls_port {
            wait_listening(p, "mosquitto (TLS listener)", &mut child);
        }
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if end(&mut self.child) {
            wait_closed(self.port);
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for MqttBroker {
    fn drop(&mut self) {
        end(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub topic: String,
    pub qos: QoS,
    pub payload: Vec<u8>,
}

/// Subscribes (QoS 1) and collects every message on `topic`; returns once the SUBACK came.
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    pub async fn start(port: u16, topic: &str) -> Subscriber {
        let id = format!("jitgen-test-sub-{}-{}", std::process::id(), free_port());
        let (client, mut el) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 16);
        client.subscribe(topic, QoS::AtLeastOnce).await.expect("queue subscribe");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ev = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), el.poll())
                .await
                .expect("no SUBACK within 10 s")
                .expect("subscriber connection");
            if let Event::Incoming(Packet::SubAck(_)) = ev {
                break;
            }
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    m.lock().unwrap().push(Received { topic: p.topic.clone(), qos: p.qos, payload: p.payload.to_vec() });
                }
            }
        });
        Subscriber { messages, task }
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
