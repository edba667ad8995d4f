//! `jitgen` — the sidecar binary: migrations now; the queue worker and operator commands
//! are added per capability.

mod api;
mod bench;
mod bench_api;
mod bench_oracle;
#[cfg(feature = "serve")]
mod bench_serve;
mod console;
mod delivery;
mod dev_llm;
mod generate;
mod llm;
mod migrate;
#[cfg(feature = "serve")]
mod serve;
mod status;
mod worker;

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
    /// Run the queue worker until SIGTERM (settings: JITGEN_* environment variables).
    Run,
    /// Show job counts by kind and state, dead jobs and live workers.
    Status,
    /// Serve seed 004's HTTP API for nodes (/api/v0/adapters/…, per-node bearer tokens) until
    /// SIGTERM. Prints its base URL.
    Api {
        #[arg(long, env = "JITGEN_API_LISTEN", default_value = "127.0.0.1:8787")]
        listen: String,
    },
    /// Serve an OpenAI-compatible endpoint (POST /v1/chat/completions, GET /v1/models) over a
    /// base model, with each node's adapter as `"model": "<model id>:<node_id>"` (adapters
    /// from jitgen.adapter_artifacts; settings JITGEN_SERVE_*). Prints its base URL.
    #[cfg(feature = "serve")]
    Serve {
        /// A Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
        #[arg(long, env = "JITGEN_BASE_MODEL_DIR")]
        model_dir: std::path::PathBuf,
        /// The name requests use in `model` (default: the directory's name); must equal the
        /// nodes' base_model_id for their adapters to be found.
        #[arg(long, env = "JITGEN_SERVE_MODEL_ID")]
        model_id: Option<String>,
        #[arg(long, env = "JITGEN_SERVE_LISTEN", default_value = "127.0.0.1:8090")]
        listen: String,
        /// Serve the base model only, without looking up adapters in the database.
        #[arg(long)]
        no_database: bool,
    },
    /// Serve a scripted OpenAI-compatible endpoint that answers program requests with the
    /// template program (for the demo and bench/programs.sh; not a model). Prints its URL.
    DevLlm {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Fixed delay before each answer, as a model's generation time.
        #[arg(long, default_value_t = 200)]
        latency_ms: u64,
    },
    /// Fill content gaps (seed 003): list them, generate atoms for a concept, show statistics.
    Generate {
        #[command(subcommand)]
        what: GenerateCommand,
    },
    /// Measure the node API over HTTP against the same calls through SQL (bench/api.sh).
    BenchApi {
        #[arg(long, default_value_t = 20)]
        posts: usize,
        #[arg(long, default_value_t = 200)]
        gets_per_client: usize,
    },
    /// Measure `jitgen serve`: adapter overhead per token, first adapter load, and decode speed
    /// against transformers (bench/serve.sh; needs S3_* and the torch venv's python).
    #[cfg(feature = "serve")]
    BenchServe {
        #[arg(long, env = "JITGEN_BASE_MODEL_DIR")]
        model_dir: std::path::PathBuf,
        #[arg(long, default_value_t = 8)]
        nodes: usize,
        #[arg(long, default_value_t = 64)]
        tokens: usize,
        #[arg(long, default_value_t = 7)]
        reps: usize,
        #[arg(long, default_value_t = 2)]
        threads: i32,
    },
    /// The operator console (off unless JITGEN_CONSOLE_TOKEN is set; acts as JITGEN_CONSOLE_ROLE).
    Console {
        #[arg(long, default_value = "127.0.0.1:8092")]
        listen: String,
    },
    /// Measure the oracle: invoke through generated code vs an LLM, sandbox cold start,
    /// evaluate_oracle at scale (bench/oracle.sh).
    BenchOracle {
        #[arg(long, default_value_t = 300)]
        invokes: usize,
        #[arg(long, default_value_t = 300)]
        llm_ms: u64,
        #[arg(long, default_value_t = 1000)]
        components: i32,
        #[arg(long, default_value_t = 1_000_000)]
        metrics: i32,
    },
    /// Measure queue latency and throughput against a raw pgmq loop (bench/queue.sh).
    BenchQueue {
        #[arg(long, default_value_t = 300)]
        samples: usize,
        #[arg(long, default_value_t = 5000)]
        jobs: i64,
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
}

#[derive(Subcommand)]
enum GenerateCommand {
    /// List concepts with fewer atoms than --min-atoms and, after confirmation, fill them.
    Gaps {
        #[arg(long, default_value_t = 3)]
        min_atoms: i32,
        /// Only concepts of this cluster (uuid).
        #[arg(long)]
        cluster: Option<String>,
        /// List only.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before generating.
        #[arg(long)]
        yes: bool,
    },
    /// Generate atoms for one concept.
    Concept {
        id: String,
        #[arg(long, default_value_t = 3)]
        count: i32,
        /// practice, explanation or worked_example.
        #[arg(long = "type")]
        content_type: Option<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Atoms in all, generated just in time, by trigger.
    Stats,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("JITGEN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tokio_postgres=warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("JITGEN_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate => {
            let summary = migrate::run(&cli.database_url).await?;
            println!("{summary}");
        }
        Command::Run => {
            // First of all: a SIGTERM that arrives while the worker starts is kept and drains it.
            let signals = worker::Signals::install()?;
            // A bad sslmode or CA file stops here, not in a reconnect loop.
            let target = jitgen_sidecar::db::Target::parse(&cli.database_url)?;
            let config = worker::WorkerConfig::from_env()?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let background = delivery::spawn(&cli.database_url, stop_rx)?;
            #[allow(unused_mut)]
            let mut registry = worker::handlers::Registry::builtin(llm::LlmClient::from_env()?)?;
            #[cfg(feature = "train")]
            registry.register("adapter.train", std::sync::Arc::new(worker::adapter_train::AdapterTrain::from_env().await?));
            let result = worker::run(config, target, registry, signals).await;
            // The worker returns after its drain: stop delivery tasks on the same shutdown.
            let _ = stop_tx.send(true);
            for task in background {
                let _ = task.await;
            }
            result?;
        }
        Command::DevLlm { listen, latency_ms } => dev_llm::serve(&listen, std::time::Duration::from_millis(latency_ms)).await?,
        Command::Generate { what } => {
            let outcome = match what {
                GenerateCommand::Gaps { min_atoms, cluster, dry_run, yes } => {
                    generate::gaps(&cli.database_url, min_atoms, cluster.as_deref(), dry_run, yes).await?
                }
                GenerateCommand::Concept { id, count, content_type, dry_run } => {
                    generate::concept(&cli.database_url, &id, count, content_type.as_deref(), dry_run).await?
                }
                GenerateCommand::Stats => generate::stats(&cli.database_url).await?,
            };
            if let generate::Outcome::NotFound(message) = outcome {
                eprintln!("error: {message}");
                std::process::exit(generate::EXIT_NOT_FOUND);
            }
        }
        Command::Api { listen } => {
            let target = jitgen_sidecar::db::Target::parse(&cli.database_url)?;
            api::serve(&listen, target, api::ApiConfig::from_env()?, stop_signal()).await?
        }
        Command::Status => print!("{}", status::report(&cli.database_url).await?),
        #[cfg(feature = "serve")]
        Command::Serve { model_dir, model_id, listen, no_database } => {
            let database = if no_database { None } else { Some(jitgen_sidecar::db::Target::parse(&cli.database_url)?) };
            serve::serve(&listen, database, serve::ServeConfig::from_env(model_dir, model_id)?, stop_signal()).await?
        }
        Command::BenchApi { posts, gets_per_client } => print!("{}", bench_api::api(&cli.database_url, posts, gets_per_client).await?),
        #[cfg(feature = "serve")]
        Command::BenchServe { model_dir, nodes, tokens, reps, threads } => {
            print!("{}", bench_serve::serve(&cli.database_url, model_dir, nodes, tokens, reps, threads).await?)
        }
        Command::Console { listen } => {
            let target = jitgen_sidecar::db::Target::parse(&cli.database_url)?;
            console::serve(&listen, target, console::ConsoleConfig::from_env()?).await?
        }
        Command::BenchOracle { invokes, llm_ms, components, metrics } => {
            print!("{}", bench_oracle::oracle(&cli.database_url, invokes, llm_ms, components, metrics).await?)
        }
        Command::BenchQueue { samples, jobs, connections } => {
            print!("{}", bench::queue(&cli.database_url, samples, jobs, connections).await?)
        }
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
