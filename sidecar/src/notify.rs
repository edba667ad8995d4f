//! `adapter_ready` notifications to nodes over MQTT, delivered from the outbox table
//! `jitgen.adapter_notifications`: a row counts as delivered only once the broker PUBACKs it,
//! so a crash or a broker outage leaves it due and it is sent again later (at least once).
//! A notification failure never retrains anything; it only delays the message.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio_postgres::{AsyncMessage, Client};

use crate::db;
use crate::tls::{self, Check, ClientCert, Roots};

pub const CHANNEL: &str = "jitgen_adapter_notifications";
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);

pub fn topic(node_id: &str) -> String {
    format!("jitgen/nodes/{node_id}/adapter_ready")
}

/// The payload, field for field; nothing else is published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterReady {
    pub node_id: String,
    pub base_model_id: String,
    pub adapter_url: String,
    pub dataset_hash: String,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `JITGEN_NOTIFY_BACKOFF_BASE_MS` (1000) and `JITGEN_NOTIFY_BACKOFF_CAP_MS` (60000).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn env_ms(name: &str, default: u64) -> anyhow::Result<Duration> {
    match env_opt(name) {
        Some(v) => Ok(Duration::from_millis(v.parse().with_context(|| format!("{name}={v:?}"))?)),
        None => Ok(Duration::from_millis(default)),
    }
}

impl MqttConfig {
    /// `None` unless `MQTT_HOST` is set or `JITGEN_NOTIFY=on`.
    pub fn from_env() -> anyhow::Result<Option<MqttConfig>> {
        let on = env_opt("JITGEN_NOTIFY").is_some_and(|v| v == "on");
        if env_opt("MQTT_HOST").is_none() && !on {
            return Ok(None);
        }
        let port = match env_opt("MQTT_PORT") {
            Some(v) => v.parse().with_context(|| format!("MQTT_PORT={v:?}"))?,
            None if tls_on()? => 8883,
            None => 1883,
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
        Ok(Some(MqttConfig {
            host: env_opt("MQTT_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            client_id: env_opt("MQTT_CLIENT_ID").unwrap_or_else(|| format!("jitgen-{hostname}-{}", std::process::id())),
            username: env_opt("MQTT_USERNAME"),
            password: env_opt("MQTT_PASSWORD"),
            backoff_base: env_ms("JITGEN_NOTIFY_BACKOFF_BASE_MS", 1000)?,
            backoff_cap: env_ms("JITGEN_NOTIFY_BACKOFF_CAP_MS", 60_000)?,
        }))
    }

    fn options(&self, tls: Option<&MqttTls>) -> MqttOptions {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        o.set_keep_alive(Duration::from_secs(30));
        if let Some(user) = &self.username {
            o.set_credentials(user, self.password.clone().unwrap_or_default());
        }
        if let Some(t) = tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(t.config.clone())));
        }
        o
    }

    /// min(cap, base × 2^attempts) × jitter in [0.8, 1.2], so many rows do not retry in lockstep.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
        let d = self.backoff_base.saturating_mul(exp).min(self.backoff_cap);
        d.mul_f64(0.8 + fastrand::f64() * 0.4)
    }
}

fn tls_on() -> anyhow::Result<bool> {
    match env_opt("MQTT_TLS").as_deref() {
        None | Some("off") => Ok(false),
        Some("on") => Ok(true),
        Some(v) => anyhow::bail!("MQTT_TLS={v:?}: expected on or off"),
    }
}

/// TLS to the broker: its certificate must chain to the CA file (the system's CAs when none
/// is given) and name `MQTT_HOST`; optionally with a client certificate.
#[derive(Clone)]
pub struct MqttTls {
    config: Arc<rustls::ClientConfig>,
    roots: Roots,
}

impl std::fmt::Debug for MqttTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MqttTls(trusting {})", self.roots)
    }
}

impl MqttTls {
    pub fn new(ca_file: Option<PathBuf>, client_cert: Option<ClientCert>) -> anyhow::Result<MqttTls> {
        let roots = ca_file.map(Roots::File).unwrap_or(Roots::System);
        let config = tls::client_config(Check::ChainAndName, &roots, client_cert.as_ref()).map_err(|e| anyhow::anyhow!(e))?;
        Ok(MqttTls { config: Arc::new(config), roots })
    }

    /// `MQTT_TLS=on` with `MQTT_CA_FILE`, and `MQTT_CLIENT_CERT` + `MQTT_CLIENT_KEY` together.
    pub fn from_env() -> anyhow::Result<Option<MqttTls>> {
        if !tls_on()? {
            return Ok(None);
        }
        let client_cert = match (env_opt("MQTT_CLIENT_CERT"), env_opt("MQTT_CLIENT_KEY")) {
            (Some(cert), Some(key)) => Some(ClientCert { cert: cert.into(), key: key.into() }),
            (None, None) => None,
            _ => anyhow::bail!("MQTT_CLIENT_CERT and MQTT_CLIENT_KEY go together"),
        };
        MqttTls::new(env_opt("MQTT_CA_FILE").map(PathBuf::from), client_cert).context("MQTT TLS settings").map(Some)
    }

    /// Why a connection failed, with a refused certificate spelled out.
    fn explain(&self, e: &rumqttc::ConnectionError, host: &str) -> String {
        match tls::find_rustls_error(e) {
            Some(r) => format!("{}: {r}", tls::explain(r, host, &self.roots)),
            None => e.to_string(),
        }
    }
}

/// Process-wide totals for `/metrics` (a caller's own NotifyStats counts one notifier).
pub static TOTALS: NotifyStats = NotifyStats { delivered: AtomicU64::new(0), failed: AtomicU64::new(0) };

#[derive(Default, Debug)]
pub struct NotifyStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

/// Writes an outbox row and wakes the notifier (the NOTIFY is sent at commit when `db` is in a
/// transaction, so the job's own commit and the notification go together).
pub async fn enqueue(db: &Client, job_id: i64, msg: &AdapterReady) -> anyhow::Result<i64> {
    let payload = serde_json::to_value(msg).context("encode adapter_ready")?;
    let row = db
        .query_one(
            "INSERT INTO jitgen.adapter_notifications (job_id, node_id, topic, payload) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&job_id, &msg.node_id, &topic(&msg.node_id), &payload],
        )
        .await
        .context("insert adapter notification")?;
    db.execute(&format!("NOTIFY {CHANNEL}"), &[]).await.context("notify the notifier")?;
    Ok(row.get(0))
}

/// Keeps a LISTEN connection open (reconnecting) and turns notifications into wakes.
async fn listen(target: db::Target, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Ok((client, mut conn)) = target.connect().await {
            backoff = Duration::from_millis(100);
            let w = wake.clone();
            let forward = tokio::spawn(async move {
                let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                while let Some(m) = messages.next().await {
                    match m {
                        Ok(AsyncMessage::Notification(_)) => w.notify_one(),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                // Rows written while we were not listening.
                wake.notify_one();
                tokio::select! {
                    _ = forward => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Drives the event loop until the broker accepts the connection.
async fn wait_connack(el: &mut EventLoop, cfg: &MqttConfig, tls: Option<&MqttTls>) -> anyhow::Result<()> {
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                let why = tls.map(|t| t.explain(&e, &cfg.host)).unwrap_or_else(|| e.to_string());
                return Err(anyhow::anyhow!("MQTT connect: {why}"));
            }
        }
    }
}

/// Publishes and waits for the PUBACK of exactly this packet.
async fn publish_acked(client: &AsyncClient, el: &mut EventLoop, topic: &str, payload: Vec<u8>) -> anyhow::Result<()> {
    client.publish(topic, QoS::AtLeastOnce, false, payload).await.context("queue MQTT publish")?;
    let mut pkid = None;
    let wait = async {
        loop {
            match el.poll().await.context("MQTT connection")? {
                Event::Outgoing(Outgoing::Publish(id)) if pkid.is_none() => pkid = Some(id),
                Event::Incoming(Packet::PubAck(ack)) if Some(ack.pkid) == pkid => return Ok(()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(ACK_TIMEOUT, wait).await.map_err(|_| anyhow::anyhow!("no PUBACK within {ACK_TIMEOUT:?}"))?
}

enum Broker<'a> {
    Up(&'a AsyncClient, &'a mut EventLoop),
    Down(&'a str),
}

/// Claims due rows one at a time and tries each; returns whether the broker failed.
async fn deliver_due(db: &mut Client, cfg: &MqttConfig, mut broker: Broker<'_>, stats: &NotifyStats) -> anyhow::Result<bool> {
    loop {
        let tx = db.transaction().await.context("begin outbox claim")?;
        let Some(row) = tx
            .query_opt(
                "SELECT id, topic, payload, attempts FROM jitgen.adapter_notifications
                 WHERE delivered_at IS NULL AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[],
            )
            .await
            .context("claim outbox row")?
        else {
            tx.commit().await.context("end outbox claim")?;
            return Ok(false);
        };
        let id: i64 = row.get(0);
        let topic: String = row.get(1);
        let payload: serde_json::Value = row.get(2);
        let attempts: i32 = row.get(3);
        // A malformed row only delays itself; a broker failure ends this round and reconnects.
        let mut broker_failed = false;
        let result = match &mut broker {
            Broker::Down(why) => Err(anyhow::anyhow!("broker unavailable: {why}")),
            Broker::Up(client, el) => match serde_json::from_value::<AdapterReady>(payload) {
                Ok(msg) => {
                    let bytes = serde_json::to_vec(&msg).context("encode payload")?;
                    let r = publish_acked(client, el, &topic, bytes).await;
                    broker_failed = r.is_err();
                    r
                }
                Err(e) => Err(anyhow::anyhow!("outbox payload is not an adapter_ready message: {e}")),
            },
        };
        match result {
            Ok(()) => {
                tx.execute("UPDATE jitgen.adapter_notifications SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1", &[&id])
                    .await
                    .context("mark notification delivered")?;
                tx.commit().await.context("commit delivery")?;
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                TOTALS.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::info!(id, topic, "adapter_ready delivered");
            }
            Err(e) => {
                let delay = cfg.backoff(attempts);
                let msg = format!("{e:#}");
                tx.execute(
                    "UPDATE jitgen.adapter_notifications SET attempts = attempts + 1,
                         next_attempt_at = now() + $2 * interval '1 millisecond', last_error = $3 WHERE id = $1",
                    &[&id, &(delay.as_millis() as f64), &msg],
                )
                .await
                .context("record notification failure")?;
                tx.commit().await.context("commit notification failure")?;
                stats.failed.fetch_add(1, Ordering::Relaxed);
                TOTALS.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id, topic, attempts = attempts + 1, retry_in_ms = delay.as_millis() as u64, error = msg, "adapter_ready not delivered");
                if broker_failed {
                    return Ok(true);
                }
            }
        }
    }
}

/// Runs until `shutdown`: connects to the broker (reconnecting with capped backoff) and
/// delivers due outbox rows, woken by LISTEN and a 1 s poll.
pub async fn run_notifier(db_url: String, cfg: MqttConfig, stats: Arc<NotifyStats>, shutdown: watch::Receiver<bool>) {
    run_notifier_with_tls(db_url, cfg, None, stats, shutdown).await
}

/// [`run_notifier`] over TLS when `tls` is given.
pub async fn run_notifier_with_tls(
    db_url: String,
    cfg: MqttConfig,
    tls: Option<MqttTls>,
    stats: Arc<NotifyStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let target = match db::Target::parse(&db_url) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "notifier cannot start");
            return;
        }
    };
    let wake = Arc::new(Notify::new());
    tokio::spawn(listen(target.clone(), wake.clone(), shutdown.clone()));
    let mut db: Option<Client> = None;
    let mut broker_backoff = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if db.as_ref().is_none_or(|c| c.is_closed()) {
            match target.connect_spawned("notifier").await {
                Ok(c) => db = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "notifier cannot connect to the database");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                }
            }
        }
        let Some(client_db) = db.as_mut() else { continue };
        // A fresh client per connection: rumqttc would otherwise replay publishes we already
        // recorded as failed, and the outbox sends them again anyway.
        let (client, mut el) = AsyncClient::new(cfg.options(tls.as_ref()), 16);
        let connected = tokio::time::timeout(ACK_TIMEOUT, wait_connack(&mut el, &cfg, tls.as_ref()))
            .await
            .map_err(|_| anyhow::anyhow!("MQTT connect timed out"))
            .and_then(|r| r);
        match connected {
            Err(e) => {
                let why = format!("{e:#}");
                tracing::warn!(host = cfg.host, port = cfg.port, error = why, retry_in_ms = broker_backoff.as_millis() as u64, "MQTT broker unavailable");
                // Due rows still record the failed attempt, so the outbox shows the outage.
                if let Err(e) = deliver_due(client_db, &cfg, Broker::Down(&why), &stats).await {
                    tracing::warn!(error = format!("{e:#}"), "notifier database error");
                    db = None;
                }
                tokio::select! {
                    _ = tokio::time::sleep(broker_backoff) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                broker_backoff = (broker_backoff * 2).min(cfg.backoff_cap.max(Duration::from_millis(200)));
                continue;
            }
            Ok(()) => {
                broker_backoff = Duration::from_millis(200);
                tracing::info!(host = cfg.host, port = cfg.port, "MQTT connected");
            }
        }
        while let Some(client_db) = db.as_mut() {
            match deliver_due(client_db, &cfg, Broker::Up(&client, &mut el), &stats).await {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "notifier database error");
                    db = None;
                    break;
                }
            }
            // Idle: keep the event loop polled (pings, disconnect detection) until woken.
            let lost = tokio::select! {
                _ = wake.notified() => false,
                _ = tokio::time::sleep(POLL) => false,
                ev = el.poll() => ev.is_err(),
                _ = shutdown.wait_for(|s| *s) => { let _ = client.try_disconnect(); return; }
            };
            if lost {
                tracing::warn!("MQTT connection lost");
                break;
            }
        }
    }
}
