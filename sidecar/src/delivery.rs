//! Starts the notifier and the artifact sweeper beside the worker when their configuration is
//! present in the environment.

use std::sync::Arc;

use anyhow::Context;
use jitgen_sidecar::{notify, storage, sweeper};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub fn spawn(database_url: &str, stop: watch::Receiver<bool>) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    if let Some(cfg) = notify::MqttConfig::from_env().context("MQTT settings")? {
        let tls = notify::MqttTls::from_env()?;
        tracing::info!(host = cfg.host, port = cfg.port, client_id = cfg.client_id, tls = ?tls, "adapter notifier starting");
        let stats = Arc::new(notify::NotifyStats::default());
        tasks.push(tokio::spawn(notify::run_notifier_with_tls(database_url.to_string(), cfg, tls, stats, stop.clone())));
    }
    if let Some(cfg) = storage::S3Config::from_env().context("S3 settings")? {
        let store = Arc::new(storage::ArtifactStore::new(&cfg)?);
        let interval = sweeper::interval_from_env()?;
        tracing::info!(bucket = cfg.bucket, interval_s = interval.as_secs(), "artifact sweeper starting");
        tasks.push(tokio::spawn(sweeper::run_sweeper(database_url.to_string(), store, interval, stop)));
    }
    Ok(tasks)
}
