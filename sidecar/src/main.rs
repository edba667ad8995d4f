//! `jitgen` — the sidecar binary: migrations now; the queue worker and operator commands
//! are added per capability.

mod migrate;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "jitgen", version, about = "jitgen sidecar and operator CLI")]
struct Cli {
    /// Postgres connection string of the deployment database.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@localhost:5432/postgres", global = true)]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install pgmq, create or update the jitgen extension and apply the app migrations.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("JITGEN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tokio_postgres=warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate => {
            let summary = migrate::run(&cli.database_url).await?;
            println!("{summary}");
        }
    }
    Ok(())
}
