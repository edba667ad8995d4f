//! `jitgen migrate`: everything a deployment database needs, idempotently and in order.
//! 1. pgmq from the `pgmq` crate's embedded SQL (no extension files needed on the server);
//! 2. `CREATE EXTENSION jitgen` or `ALTER EXTENSION jitgen UPDATE`;
//! 3. refinery migrations from `migrations/` (app tables that use the extension).

use std::fmt;

use anyhow::Context;
use jitgen_sidecar::db::{self, redact};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

pub struct Summary {
    pub pgmq_version: Option<String>,
    pub jitgen_version: String,
    pub applied: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pgmq {}", self.pgmq_version.as_deref().unwrap_or("(unknown version)"))?;
        writeln!(f, "extension jitgen {}", self.jitgen_version)?;
        if self.applied.is_empty() {
            write!(f, "migrations: up to date")
        } else {
            write!(f, "migrations applied: {}", self.applied.join(", "))
        }
    }
}

pub async fn run(database_url: &str) -> anyhow::Result<Summary> {
    // DDL may wait for running jobs' transactions; JITGEN_LOCK_TIMEOUT_MS is for the worker.
    let target = db::Target::parse(database_url)?.without_lock_timeout();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(target.sqlx_options()?)
        .await
        .with_context(|| format!("connecting to {}", redact(database_url)))?;
    pgmq::install::install_sql_from_embedded(&pool).await.context("installing pgmq")?;
    let pgmq_version = pgmq::install::installed_version(&pool)
        .await
        .ok()
        .flatten()
        .map(|v| v.to_string());
    pool.close().await;

    let (mut client, connection) = target
        .connect()
        .await
        .with_context(|| format!("connecting to {}", redact(database_url)))?;
    let conn = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "migration connection closed");
        }
    });
    client
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS jitgen; ALTER EXTENSION jitgen UPDATE; SELECT jitgen.ensure_queue();",
        )
        .await
        .context("creating or updating extension jitgen (is it installed? run scripts/install-extension.sh)")?;
    let jitgen_version: String = client
        .query_one("SELECT extversion FROM pg_extension WHERE extname = 'jitgen'", &[])
        .await?
        .get(0);
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .context("applying migrations")?;
    let applied = report.applied_migrations().iter().map(|m| m.to_string()).collect();
    drop(client);
    let _ = conn.await;
    Ok(Summary { pgmq_version, jitgen_version, applied })
}
