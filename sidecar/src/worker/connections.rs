//! The worker's own connections: the slots' (reconnecting with capped backoff), LISTEN, and
//! the jitgen.workers row.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, Client};

use super::{Shared, CHANNEL};

/// Connects, retrying with capped exponential backoff until it succeeds or shutdown begins.
pub(super) async fn connect(shared: &Shared, purpose: &'static str) -> Option<Client> {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shared.shutdown.borrow() {
            return None;
        }
        match shared.db.connect_spawned(purpose).await {
            Ok(client) => {
                shared.metrics.connected();
                return Some(client);
            }
            Err(e) => {
                tracing::warn!(%purpose, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot connect");
                let mut stop = shared.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = stop.wait_for(|s| *s) => return None,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// LISTEN on its own connection; every notification wakes the slots.
pub(super) async fn listen(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shared.shutdown.borrow() {
            return;
        }
        match shared.db.connect().await {
            Ok((client, mut connection)) => {
                backoff = Duration::from_millis(100);
                let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let listen_sql = format!("LISTEN {CHANNEL}");
                let listening = client.batch_execute(&listen_sql);
                tokio::pin!(listening);
                // Drive the connection while the LISTEN completes, then forward notifications.
                let mut listened = false;
                loop {
                    let mut stop = shared.shutdown.clone();
                    tokio::select! {
                        r = &mut listening, if !listened => {
                            if let Err(e) = r { tracing::warn!(error = %e, "LISTEN failed"); break; }
                            listened = true;
                            // Anything enqueued while we were not listening is found by this wake.
                            shared.wake.send_modify(|n| *n += 1);
                        }
                        m = messages.next() => match m {
                            Some(Ok(AsyncMessage::Notification(_))) => shared.wake.send_modify(|n| *n += 1),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => { tracing::warn!(error = %e, "listen connection lost"); break; }
                            None => break,
                        },
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect for LISTEN"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Keeps this worker's row in jitgen.workers fresh.
pub(super) async fn register_worker(shared: Arc<Shared>) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let kinds = shared.registry.kinds();
    loop {
        if let Some(client) = connect(&shared, "heartbeat").await {
            loop {
                let in_flight = shared.in_flight.load(Ordering::Relaxed) as i32;
                let r = client
                    .execute(
                        "INSERT INTO jitgen.workers (id, hostname, pid, version, kinds, in_flight)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), in_flight = EXCLUDED.in_flight,
                             kinds = EXCLUDED.kinds, stopped_at = NULL",
                        &[&shared.config.worker_id, &hostname, &(std::process::id() as i32), &env!("CARGO_PKG_VERSION"), &kinds, &in_flight],
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "worker heartbeat failed");
                    break;
                }
                shared.metrics.db_ok();
                let mut stop = shared.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep((shared.config.health_stale / 4).clamp(Duration::from_millis(200), Duration::from_secs(5))) => {},
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        } else {
            return;
        }
    }
}

pub(super) async fn mark_stopped(shared: &Shared) {
    if let Ok(client) = shared.db.connect_spawned("mark stopped").await {
        let _ = client
            .execute("UPDATE jitgen.workers SET stopped_at = now(), in_flight = 0 WHERE id = $1", &[&shared.config.worker_id])
            .await;
    }
}
