//! `edgebridge`: one binary, several roles. Configuration comes from the environment (secrets only
//! from the environment, never from flags, so they do not show in process listings).

mod allocator;
mod database;
mod dev;
mod limits;
mod metrics_settings;
mod sandbox;
mod settings;
mod webhook_settings;

/// mimalloc: the api allocates many short-lived JSON values per request; glibc's allocator
/// spent a noticeable share of CPU in the store benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use database::DbArgs;
use edgebridge_api::metrics::MetricsRegistry;
use edgebridge_api::telemetry::{self, LogFormat};
use edgebridge_api::{Application, admin, api_keys, openapi};
use sandbox::{SandboxArgs, SandboxSetting};
use secrecy::ExposeSecret;
use settings::{FleetArgs, MetricsArgs, MongoArgs, SchedulerArgs, ServeArgs, WorkerArgs};
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
    Api {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
    /// Run every role in one process: the api, a scheduler and one worker (with --dev, also a
    /// sandbox MongoDB in memory, and a demo connector on a fresh database).
    All {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
        #[command(flatten)]
        worker: WorkerArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
    /// Assign connectors to workers (several may run; one leads).
    Scheduler {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
        #[command(flatten)]
        metrics: MetricsArgs,
        /// The webhook dispatcher runs here: EDGEBRIDGE_TARGET_POLICY and EDGEBRIDGE_ENCRYPTION_KEYS
        /// as on the api.
        #[command(flatten)]
        mongo: MongoArgs,
        #[command(flatten)]
        webhooks: webhook_settings::WebhookArgs,
    },
    /// Run connectors: register with the api (EDGEBRIDGE_API_URL, EDGEBRIDGE_WORKER_TOKEN) and
    /// run what the scheduler assigns; drains on SIGTERM.
    Worker {
        #[command(flatten)]
        worker: WorkerArgs,
        #[command(flatten)]
        mongo: MongoArgs,
        #[command(flatten)]
        metrics: MetricsArgs,
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
    allocator::tune();
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
        Command::Api {
            serve: args,
            fleet,
            metrics,
        } => serve(args, &fleet, None, None, &metrics).await?,
        Command::All {
            serve: args,
            fleet,
            scheduler,
            worker,
            sandbox,
            metrics,
        } => {
            let sandbox = sandbox.setting(args.dev)?;
            let scheduler = scheduler.config(&fleet)?;
            serve(args, &fleet, Some((scheduler, worker)), sandbox, &metrics).await?
        }
        Command::Worker {
            worker,
            mongo,
            metrics,
        } => {
            let config = worker.config(&mongo, false, None, None)?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            let registry = MetricsRegistry::default();
            registry.register(|r| config.supervisor.metrics.register(r));
            metrics.serve(&registry, shutdown.clone()).await?;
            tracing::info!(worker = %config.name, api = %config.api_url, "worker starting");
            edgebridge_worker::Worker::run(config, shutdown).await?;
            tracing::info!("stopped");
        }
        Command::Scheduler {
            db,
            fleet,
            scheduler,
            metrics,
            mongo,
            webhooks,
        } => {
            let config = scheduler.config(&fleet)?;
            let webhooks = webhooks.config()?;
            let policy = mongo
                .preflight(false, std::time::Duration::from_secs(60))?
                .policy;
            let pool = db.connect(false).await?;
            edgebridge_api::migrate(&pool).await?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            let registry = MetricsRegistry::default();
            config.metrics.register(&registry);
            registry
                .register(|r| r.register_collector(edgebridge_api::metrics::pool_collector(&pool)));
            metrics.serve(&registry, shutdown.clone()).await?;
            tracing::info!("scheduler started");
            let dispatcher = webhook_settings::spawn_scheduler_dispatcher(
                &pool,
                policy,
                webhooks,
                shutdown.clone(),
            )?;
            edgebridge_api::scheduler::run(pool.clone(), config, shutdown).await;
            if let Some(dispatcher) = dispatcher {
                dispatcher.await?;
            }
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

/// The api, and in the all-in-one mode a scheduler and a worker beside it (and with `--dev`,
/// unless `sandbox_setting` is off, the sandbox MongoDB).
async fn serve(
    args: ServeArgs,
    fleet: &FleetArgs,
    roles: Option<(edgebridge_api::scheduler::SchedulerConfig, WorkerArgs)>,
    sandbox_setting: Option<SandboxSetting>,
    metrics: &MetricsArgs,
) -> anyhow::Result<()> {
    let dev = args.dev;
    let pool = args.db.connect(dev).await?;
    let grace = args.shutdown_grace();
    let mongo = args.mongo.clone();
    let (mut config, mut dev_keys) = args.into_config(fleet)?;
    // One registry for every role of the process: one /metrics.
    let registry = MetricsRegistry::default();
    config.metrics = metrics.config(&registry);
    // Up before the worker, which may run connectors against it; stopped last (see the end).
    let sandbox = match sandbox_setting {
        Some(SandboxSetting::On(port)) => {
            let password = sandbox::password(&mut dev_keys)?;
            Some(sandbox::Sandbox::start(port, password, config.preflight.policy).await?)
        }
        _ => None,
    };
    let dev_keys_file = dev_keys.path();
    let operator_routes = config.fleet.operator_token.is_some();
    // The in-process worker needs the worker token: without one configured, a random one
    // (only this process knows it, so no outside worker can join).
    if roles.is_some() && config.fleet.worker_token.is_none() {
        config.fleet.worker_token = Some(settings::random_secret());
    }
    let worker_token = config.fleet.worker_token.clone();
    let shutdown = CancellationToken::new();
    // The all-in-one process delivers webhooks with the api's keys and policy.
    let webhook_dispatch = (
        std::sync::Arc::new(config.keyring.clone()),
        config.preflight.policy,
        config.webhooks.clone(),
    );
    let app = Application::build(config, pool.clone(), shutdown.clone()).await?;
    // The in-process worker and the demo connector's creation reach this api over loopback (or
    // the address it listens on).
    let api_url = {
        let address = app.address();
        let host = match address.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}", address.port())
    };
    if dev {
        let banner = dev::DevBanner {
            port: app.port(),
            keys_file: dev_keys_file,
            operator_routes,
            sandbox: Vec::new(),
        };
        dev::start(&pool, banner, sandbox_setting, sandbox.as_ref(), &api_url).await?;
    }
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let mut worker_task = None;
    // The server stops only after the worker drained (it reports through the server).
    let server_shutdown = CancellationToken::new();
    metrics.serve(&registry, server_shutdown.clone()).await?;
    if let Some((scheduler, worker)) = roles {
        scheduler.metrics.register(&registry);
        tokio::spawn(edgebridge_api::scheduler::run(
            pool.clone(),
            scheduler,
            shutdown.clone(),
        ));
        let (keyring, policy, webhooks) = webhook_dispatch;
        tokio::spawn(edgebridge_api::webhooks::run(
            pool.clone(),
            keyring,
            policy,
            webhooks,
            shutdown.clone(),
        ));
        let worker_config = worker.config(&mongo, dev, worker_token, Some(api_url))?;
        registry.register(|r| worker_config.supervisor.metrics.register(r));
        worker_task = Some(tokio::spawn(edgebridge_worker::Worker::run(
            worker_config,
            shutdown.clone(),
        )));
    } else {
        let (outer, inner) = (shutdown.clone(), server_shutdown.clone());
        tokio::spawn(async move {
            outer.cancelled().await;
            inner.cancel();
        });
    }
    if let Some(task) = worker_task {
        // The server stops once the worker is done: after its drain on shutdown, or at once
        // (stopping the whole process) if it failed by itself.
        let (outer, inner) = (shutdown.clone(), server_shutdown.clone());
        tokio::spawn(async move {
            match task.await {
                Ok(Err(e)) => tracing::error!(error = %e, "the worker failed; stopping"),
                Err(e) => tracing::error!(error = %e, "the worker task failed; stopping"),
                Ok(Ok(())) => {}
            }
            outer.cancel();
            inner.cancel();
        });
    }
    let server = app.run_until_stopped_on(server_shutdown.clone());
    tokio::select! {
        result = server => result?,
        _ = async { server_shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "open requests did not finish within the shutdown grace period");
        }
    }
    pool.close().await;
    // The sandbox outlives the worker's drain, whose connectors may still be writing to it.
    drop(sandbox);
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
