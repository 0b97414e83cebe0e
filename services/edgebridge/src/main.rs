//! `edgebridge`: one binary, several roles. Configuration comes from the environment (secrets only
//! from the environment, never from flags, so they do not show in process listings).

mod settings;

/// mimalloc: the api allocates many short-lived JSON values per request; glibc's allocator
/// spent a noticeable share of CPU in the store benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use edgebridge_api::telemetry::{self, LogFormat};
use edgebridge_api::{Application, admin, api_keys, openapi};
use secrecy::ExposeSecret;
use settings::{DbArgs, SchedulerArgs, ServeArgs};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "edgebridge",
    version,
    about = "Keeps MongoDB and the edge store in sync, both ways"
)]
struct Cli {
    /// Log format: auto (JSON unless stderr is a terminal), json or text.
    #[arg(
        long,
        env = "EDGEBRIDGE_LOG_FORMAT",
        default_value = "auto",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the public and internal HTTP API.
    Api(ServeArgs),
    /// Run every role in one process (today: the api and the scheduler; a worker joins later).
    All {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
    },
    /// Assign connectors to workers (several may run; one leads).
    Scheduler {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
    },
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization and print its id and an owner API key (shown once) as JSON.
    Create {
        /// The organization's name (unique).
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored secret with the active key (the first of EDGEBRIDGE_ENCRYPTION_KEYS).
    Rotate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a new random key entry for EDGEBRIDGE_ENCRYPTION_KEYS or EDGEBRIDGE_JWT_KEYS.
    Generate {
        /// The key id to use.
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Api(args) => serve(args, None).await?,
        Command::All {
            serve: args,
            scheduler,
        } => serve(args, Some(scheduler.config()?)).await?,
        Command::Scheduler { db, scheduler } => {
            let config = scheduler.config()?;
            let pool = db.connect(false).await?;
            edgebridge_api::migrate(&pool).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            tracing::info!("scheduler started");
            edgebridge_api::scheduler::run(pool.clone(), config, shutdown).await;
            pool.close().await;
            tracing::info!("stopped");
        }
        Command::Migrate(db) => {
            let pool = db.connect(false).await?;
            edgebridge_api::migrate(&pool).await?;
            eprintln!("migrations applied");
        }
        Command::Openapi => print!("{}", openapi::document_json()),
        Command::Org {
            command: OrgCommand::Create { name, db },
        } => {
            let pool = db.connect(false).await?;
            edgebridge_api::migrate(&pool).await?;
            let (org_id, key_id, key) = api_keys::create_organization(&pool, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))?;
            let out = serde_json::json!({
                "organizationId": org_id,
                "name": name,
                "apiKey": { "id": key_id, "role": "owner", "key": key.expose_secret() },
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Keys {
            command: KeysCommand::Rotate { db },
        } => {
            let keyring = settings::encryption_keys_from_env()?;
            let pool = db.connect(false).await?;
            edgebridge_api::migrate(&pool).await?;
            let report = admin::rotate_keys(&pool, &keyring).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.failed.is_empty() {
                eprintln!(
                    "error: {} secret(s) could not be opened with the configured keys; keep their old key in EDGEBRIDGE_ENCRYPTION_KEYS and re-run",
                    report.failed.len()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Keys {
            command: KeysCommand::Generate { id },
        } => println!("{}", settings::generate_key_entry(&id)?),
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    args: ServeArgs,
    scheduler: Option<edgebridge_api::scheduler::SchedulerConfig>,
) -> anyhow::Result<()> {
    let dev = args.dev;
    let pool = args.db.connect(dev).await?;
    let grace = args.shutdown_grace();
    let config = args.into_config()?;
    let shutdown = CancellationToken::new();
    let app = Application::build(config, pool.clone(), shutdown.clone()).await?;
    if dev {
        settings::announce_dev(&pool, app.port()).await?;
    }
    tokio::spawn(stop_on_signal(shutdown.clone()));
    if let Some(config) = scheduler {
        tokio::spawn(edgebridge_api::scheduler::run(
            pool.clone(),
            config,
            shutdown.clone(),
        ));
    }
    let server = app.run_until_stopped();
    tokio::select! {
        result = server => result?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "open requests did not finish within the shutdown grace period");
        }
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Cancels `token` on SIGTERM or Ctrl-C.
async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; draining");
    token.cancel();
}
