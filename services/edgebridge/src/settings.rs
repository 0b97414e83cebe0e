//! Reading and validating configuration from the environment, and the development mode.

use anyhow::{Context, bail};
use clap::Args;
use edgebridge_api::ApiConfig;
use edgebridge_api::auth::jwt::JwtKeys;
use edgebridge_api::crypto::Keyring;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::mongo::preflight::PreflightOptions;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::time::Duration;

pub use crate::metrics_settings::MetricsArgs;

/// Settings the api, the scheduler and the workers share.
#[derive(Args, Clone)]
pub struct FleetArgs {
    /// A worker silent for longer is dead, and its connectors move to others.
    #[arg(long, env = "EDGEBRIDGE_LEASE_TTL_SECS", default_value_t = 10)]
    lease_ttl_secs: u64,
    /// How often workers heartbeat (the api tells registering workers; keep it well under the
    /// lease TTL).
    #[arg(long, env = "EDGEBRIDGE_HEARTBEAT_INTERVAL_MS", default_value_t = 2000)]
    heartbeat_interval_ms: u64,
}

impl FleetArgs {
    pub fn lease_ttl(&self) -> anyhow::Result<Duration> {
        if self.lease_ttl_secs == 0 {
            bail!("EDGEBRIDGE_LEASE_TTL_SECS must be above 0");
        }
        Ok(Duration::from_secs(self.lease_ttl_secs))
    }

    pub fn heartbeat_interval(&self) -> anyhow::Result<Duration> {
        let interval = Duration::from_millis(self.heartbeat_interval_ms);
        // Workers stop their connectors one interval before the lease ends, and a lost
        // heartbeat or two must not cost the lease.
        if interval.is_zero() || interval * 3 > self.lease_ttl()? {
            bail!(
                "EDGEBRIDGE_HEARTBEAT_INTERVAL_MS must be above 0 and at most a third of EDGEBRIDGE_LEASE_TTL_SECS"
            );
        }
        Ok(interval)
    }
}

/// The scheduler's settings.
#[derive(Args, Clone)]
pub struct SchedulerArgs {
    /// Time between scheduler ticks.
    #[arg(long, env = "EDGEBRIDGE_SCHEDULER_TICK_MS", default_value_t = 1000)]
    scheduler_tick_ms: u64,
    /// Healthy connectors moved per tick (draining, rebalancing).
    #[arg(long, env = "EDGEBRIDGE_SCHEDULER_MAX_MOVES", default_value_t = 20)]
    scheduler_max_moves: usize,
}

impl SchedulerArgs {
    pub fn config(
        &self,
        fleet: &FleetArgs,
    ) -> anyhow::Result<edgebridge_api::scheduler::SchedulerConfig> {
        if self.scheduler_tick_ms == 0 {
            bail!("EDGEBRIDGE_SCHEDULER_TICK_MS must be above 0");
        }
        let defaults = edgebridge_api::scheduler::SchedulerConfig::default();
        Ok(edgebridge_api::scheduler::SchedulerConfig {
            lease_ttl: fleet.lease_ttl()?,
            tick: Duration::from_millis(self.scheduler_tick_ms),
            tuning: edgebridge_api::scheduler::Tuning {
                max_moves: self.scheduler_max_moves,
                ..defaults.tuning
            },
            metrics: defaults.metrics,
        })
    }
}

/// How the api and workers reach MongoDB.
#[derive(Args, Clone)]
pub struct MongoArgs {
    /// Which addresses a connection string may reach: `public-only` (refuses loopback,
    /// private, link-local and metadata addresses: for managed deployments) or `allow-private`
    /// (self-hosted, MongoDB on the same network). Default: public-only, allow-private with --dev.
    #[arg(long, env = "EDGEBRIDGE_TARGET_POLICY")]
    target_policy: Option<TargetPolicy>,
    /// Bound on reaching MongoDB (connect and server selection, each).
    #[arg(
        long,
        env = "EDGEBRIDGE_MONGODB_CONNECT_TIMEOUT_SECS",
        default_value_t = 5
    )]
    mongodb_connect_timeout_secs: u64,
}

impl MongoArgs {
    /// The policy and connection bounds; `total` bounds a whole preflight run.
    pub fn preflight(&self, dev: bool, total: Duration) -> anyhow::Result<PreflightOptions> {
        if self.mongodb_connect_timeout_secs == 0 {
            bail!("EDGEBRIDGE_MONGODB_CONNECT_TIMEOUT_SECS must be above 0");
        }
        let mut options = PreflightOptions {
            policy: match self.target_policy {
                Some(policy) => policy,
                None if dev => TargetPolicy::AllowPrivate,
                None => TargetPolicy::PublicOnly,
            },
            ..PreflightOptions::default()
        };
        let connect = Duration::from_secs(self.mongodb_connect_timeout_secs);
        options.connect.connect_timeout = connect;
        options.connect.server_selection_timeout = connect;
        options.connect.policy = options.policy;
        options.total_timeout = total;
        Ok(options)
    }
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: crate::database::DbArgs,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Address to listen on.
    #[arg(long, env = "EDGEBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests per second allowed per API key (with a burst of the same size); 0 disables.
    #[arg(long, env = "EDGEBRIDGE_RATE_LIMIT", default_value_t = edgebridge_api::config::DEFAULT_RATE_LIMIT)]
    rate_limit: u32,
    /// Failed authentications allowed per second per client address before it is throttled
    /// (429); 0 disables. Behind a proxy every client shares the proxy's address.
    #[arg(long, env = "EDGEBRIDGE_AUTH_FAILURE_LIMIT", default_value_t = edgebridge_api::config::DEFAULT_AUTH_FAILURE_LIMIT)]
    auth_failure_limit: u32,
    /// Lifetime of access tokens from POST /v1/auth/token, in seconds.
    #[arg(long, env = "EDGEBRIDGE_TOKEN_TTL_SECS", default_value_t = 900)]
    token_ttl_secs: u64,
    /// Longest a request may take, in seconds.
    #[arg(long, env = "EDGEBRIDGE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "EDGEBRIDGE_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    body_limit_bytes: usize,
    /// How long open requests may finish after SIGTERM, in seconds.
    #[arg(long, env = "EDGEBRIDGE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    shutdown_grace_secs: u64,
    /// Largest edge-store document, in bytes (its JSON).
    #[arg(long, env = "EDGEBRIDGE_STORE_MAX_DOCUMENT_BYTES", default_value_t = 256 * 1024)]
    store_max_document_bytes: usize,
    /// Most edge-store documents one app may hold.
    #[arg(
        long,
        env = "EDGEBRIDGE_STORE_MAX_DOCUMENTS_PER_APP",
        default_value_t = 1_000_000
    )]
    store_max_documents_per_app: i64,
    #[command(flatten)]
    pub mongo: MongoArgs,
    #[command(flatten)]
    pub webhooks: crate::webhook_settings::WebhookArgs,
    /// Connection tests one api process runs at once; more answer 429.
    #[arg(long, env = "EDGEBRIDGE_MAX_CONNECTION_TESTS", default_value_t = edgebridge_api::config::DEFAULT_MAX_CONCURRENT_CONNECTION_TESTS)]
    max_connection_tests: usize,
    /// A copying or streaming collection whose MongoDB scan or change stream has not answered
    /// for this many seconds makes the connector's health yellow (five times as long: red).
    #[arg(long, env = "EDGEBRIDGE_STREAM_STALL_SECS", default_value_t = 60)]
    stream_stall_secs: u64,
    /// A running connector lagging more than this many seconds (either way) shows health
    /// yellow (five times as much: red).
    #[arg(long, env = "EDGEBRIDGE_LAG_WARN_SECS", default_value_t = 300)]
    lag_warn_secs: u64,
    /// Days the one-minute metrics history is kept; older minutes are rolled up into hours.
    #[arg(long, env = "EDGEBRIDGE_METRICS_KEEP_DAYS", default_value_t = 7)]
    metrics_keep_days: u64,
    /// Days the hourly metrics history is kept.
    #[arg(
        long,
        env = "EDGEBRIDGE_METRICS_HOURLY_KEEP_DAYS",
        default_value_t = 90
    )]
    metrics_hourly_keep_days: u64,
    /// Trace steps kept per connector (the newest; the per-document trace reads them).
    #[arg(long, env = "EDGEBRIDGE_TRACE_KEEP", default_value_t = 20_000)]
    trace_keep: i64,
    /// Seconds between alert evaluations (every api replica runs the evaluator; one cycle runs
    /// at a time). 0: this replica does not evaluate.
    #[arg(long, env = "EDGEBRIDGE_ALERT_INTERVAL_SECS", default_value_t = 15)]
    alert_interval_secs: u64,
    /// Diagnostics events stored per connector per minute; more are counted as dropped.
    #[arg(long, env = "EDGEBRIDGE_EVENTS_PER_MINUTE", default_value_t = 60)]
    events_per_minute: u32,
    /// Newest diagnostics events kept per connector.
    #[arg(long, env = "EDGEBRIDGE_EVENTS_KEPT", default_value_t = 1000)]
    events_kept: i64,
    /// Diagnostics events older than this are deleted.
    #[arg(long, env = "EDGEBRIDGE_EVENTS_MAX_AGE_DAYS", default_value_t = 7)]
    events_max_age_days: u64,
    /// Development mode: generate missing keys (kept in a private file, see
    /// EDGEBRIDGE_DEV_KEYS_FILE), create the database and a default organization, app and owner
    /// key; `all --dev` also runs a sandbox MongoDB (in memory) with a demo connector. Never in
    /// production.
    #[arg(long)]
    pub dev: bool,
    /// Where --dev keeps the keys it generates (default: $XDG_DATA_HOME/edgebridge/dev-keys or
    /// ~/.local/share/edgebridge/dev-keys). Read only with --dev.
    #[arg(long, env = "EDGEBRIDGE_DEV_KEYS_FILE")]
    dev_keys_file: Option<std::path::PathBuf>,
}

impl ServeArgs {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The api's configuration, and the `--dev` keys file (opened when a key came from it; the
    /// sandbox keeps its password there too).
    pub fn into_config(
        self,
        fleet: &FleetArgs,
    ) -> anyhow::Result<(ApiConfig, crate::dev::DevKeys)> {
        if self.token_ttl_secs == 0 || self.request_timeout_secs == 0 || self.body_limit_bytes == 0
        {
            bail!(
                "EDGEBRIDGE_TOKEN_TTL_SECS, EDGEBRIDGE_REQUEST_TIMEOUT_SECS and EDGEBRIDGE_BODY_LIMIT_BYTES must be above 0"
            );
        }
        // --dev keeps the keys it generates in a file (read only in this mode), so what one run
        // encrypted and signed the next can still open and verify.
        let configured = self
            .dev_keys_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let mut dev_keys = crate::dev::DevKeys::new(configured);
        let keyring = match non_empty_env("EDGEBRIDGE_ENCRYPTION_KEYS") {
            Some(spec) => parse_keyring(&spec)?,
            None if self.dev => {
                let spec = dev_keys.entry("EDGEBRIDGE_ENCRYPTION_KEYS", || {
                    Keyring::generate_ephemeral().1
                })?;
                parse_keyring(&spec).with_context(|| dev_keys.describe())?
            }
            None => bail!(
                "EDGEBRIDGE_ENCRYPTION_KEYS is not set: give `keyid:base64-32-bytes` (make one with `edgebridge keys generate`), or run with --dev for development"
            ),
        };
        let jwt = match (
            non_empty_env("EDGEBRIDGE_JWT_KEYS"),
            std::env::var("EDGEBRIDGE_JWT_SECRET")
                .ok()
                .filter(|s| !s.is_empty()),
        ) {
            (Some(keys), _) => JwtKeys::parse_keys(&keys).context("EDGEBRIDGE_JWT_KEYS")?,
            (None, Some(secret)) => {
                JwtKeys::from_secret(&secret).context("EDGEBRIDGE_JWT_SECRET")?
            }
            (None, None) if self.dev => {
                // 32 random bytes under a `dev-` id: the same shape as an encryption key.
                let keys =
                    dev_keys.entry("EDGEBRIDGE_JWT_KEYS", || Keyring::generate_ephemeral().1)?;
                JwtKeys::parse_keys(&keys)
                    .context("EDGEBRIDGE_JWT_KEYS")
                    .with_context(|| dev_keys.describe())?
            }
            (None, None) => bail!(
                "EDGEBRIDGE_JWT_KEYS (or EDGEBRIDGE_JWT_SECRET) is not set: give `kid:base64-32+-bytes` (make one with `edgebridge keys generate`), or run with --dev for development"
            ),
        };
        let mut config = ApiConfig::new(self.listen, keyring, jwt);
        config.rate_limit_per_sec = self.rate_limit;
        config.auth_failure_limit_per_sec = self.auth_failure_limit;
        config.token_ttl = Duration::from_secs(self.token_ttl_secs);
        config.request_timeout = Duration::from_secs(self.request_timeout_secs);
        config.body_limit_bytes = self.body_limit_bytes;
        if self.store_max_document_bytes == 0 || self.store_max_documents_per_app <= 0 {
            bail!(
                "EDGEBRIDGE_STORE_MAX_DOCUMENT_BYTES and EDGEBRIDGE_STORE_MAX_DOCUMENTS_PER_APP must be above 0"
            );
        }
        config.store_limits.max_document_bytes = self.store_max_document_bytes;
        config.store_limits.max_documents_per_app = self.store_max_documents_per_app;
        // A connection test answers before the request times out, with what it found so far.
        let total = config
            .request_timeout
            .saturating_sub(Duration::from_secs(3))
            .max(Duration::from_secs(1));
        config.preflight = self.mongo.preflight(self.dev, total)?;
        config.max_concurrent_connection_tests = self.max_connection_tests;
        config.fleet.lease_ttl = fleet.lease_ttl()?;
        config.fleet.heartbeat_interval = fleet.heartbeat_interval()?;
        config.fleet.worker_token = secret_env("EDGEBRIDGE_WORKER_TOKEN")?;
        config.fleet.operator_token = secret_env("EDGEBRIDGE_OPERATOR_TOKEN")?;
        if let (Some(w), Some(o)) = (&config.fleet.worker_token, &config.fleet.operator_token)
            && w.expose_secret() == o.expose_secret()
        {
            bail!(
                "EDGEBRIDGE_WORKER_TOKEN and EDGEBRIDGE_OPERATOR_TOKEN must differ: every worker host holds the worker token"
            );
        }
        if self.events_per_minute == 0 || self.events_kept == 0 || self.events_max_age_days == 0 {
            bail!(
                "EDGEBRIDGE_EVENTS_PER_MINUTE, EDGEBRIDGE_EVENTS_KEPT and EDGEBRIDGE_EVENTS_MAX_AGE_DAYS must be above 0"
            );
        }
        config.fleet.events.per_minute = self.events_per_minute;
        config.fleet.events.keep_per_connector = self.events_kept;
        config.fleet.events.max_age = Duration::from_secs(self.events_max_age_days * 24 * 3600);
        if self.stream_stall_secs == 0 {
            bail!("EDGEBRIDGE_STREAM_STALL_SECS must be above 0");
        }
        config.fleet.stream_stall = Duration::from_secs(self.stream_stall_secs);
        if self.lag_warn_secs == 0 {
            bail!("EDGEBRIDGE_LAG_WARN_SECS must be above 0");
        }
        config.fleet.lag_warn = Duration::from_secs(self.lag_warn_secs);
        if self.metrics_keep_days == 0 || self.metrics_hourly_keep_days < self.metrics_keep_days {
            bail!(
                "EDGEBRIDGE_METRICS_KEEP_DAYS must be above 0 and at most EDGEBRIDGE_METRICS_HOURLY_KEEP_DAYS"
            );
        }
        config.fleet.metrics_keep = Duration::from_secs(self.metrics_keep_days * 24 * 3600);
        config.fleet.metrics_hourly_keep =
            Duration::from_secs(self.metrics_hourly_keep_days * 24 * 3600);
        if self.trace_keep < 0 {
            bail!("EDGEBRIDGE_TRACE_KEEP must be 0 or more");
        }
        config.fleet.trace_keep_per_connector = self.trace_keep;
        config.fleet.alert_interval = Duration::from_secs(self.alert_interval_secs);
        config.webhooks = self.webhooks.config()?;
        self.limits.apply(&mut config)?;
        Ok((config, dev_keys))
    }
}

/// A random secret (the all-in-one process's worker token when none is configured).
pub fn random_secret() -> SecretString {
    let (_, spec) = Keyring::generate_ephemeral();
    SecretString::from(spec)
}

/// A secret from the environment only (never a flag: flags show in process listings). Set but
/// shorter than 16 characters is refused.
pub fn secret_env(name: &str) -> anyhow::Result<Option<SecretString>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) if v.trim().len() < 16 => {
            bail!("{name} must be at least 16 characters (make one with `openssl rand -base64 32`)")
        }
        Ok(v) => Ok(Some(SecretString::from(v.trim().to_owned()))),
        Err(_) => Ok(None),
    }
}

/// A worker's settings (the MongoDB ones come from [`MongoArgs`]).
#[derive(Args, Clone)]
pub struct WorkerArgs {
    /// The api's base URL.
    #[arg(
        long,
        env = "EDGEBRIDGE_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    api_url: String,
    /// This worker's name, unique among running workers (default: the host name).
    #[arg(long, env = "EDGEBRIDGE_WORKER_NAME")]
    worker_name: Option<String>,
    /// Total connector weight this worker takes (a connector weighs 1 + its collections).
    #[arg(long, env = "EDGEBRIDGE_WORKER_CAPACITY", default_value_t = 100)]
    worker_capacity: u32,
    /// Heartbeat interval; by default the api's (EDGEBRIDGE_HEARTBEAT_INTERVAL_MS on the api).
    #[arg(long, env = "EDGEBRIDGE_WORKER_HEARTBEAT_MS")]
    worker_heartbeat_ms: Option<u64>,
    /// Seconds between a running connector's cluster pings and status reports.
    #[arg(
        long,
        env = "EDGEBRIDGE_CONNECTOR_HEALTH_INTERVAL_SECS",
        default_value_t = 15
    )]
    connector_health_interval_secs: u64,
    /// Longest wait before retrying a connector that failed to start, in seconds.
    #[arg(
        long,
        env = "EDGEBRIDGE_CONNECTOR_RETRY_MAX_SECS",
        default_value_t = 300
    )]
    connector_retry_max_secs: u64,
    /// Record each document's sync steps for the per-document trace (`GET .../trace`); the
    /// benchmark measures its cost (README).
    #[arg(long, env = "EDGEBRIDGE_TRACE", default_value_t = true, action = clap::ArgAction::Set)]
    trace: bool,
    /// Routine trace steps recorded per second per connector (refusals and merges always);
    /// past it the trace samples.
    #[arg(long, env = "EDGEBRIDGE_TRACE_STEPS_PER_SEC", default_value_t = 200)]
    trace_steps_per_sec: u32,
}

impl WorkerArgs {
    /// The worker's configuration. `token` overrides EDGEBRIDGE_WORKER_TOKEN (the all-in-one
    /// process hands its own in); `api_url` overrides EDGEBRIDGE_API_URL likewise.
    pub fn config(
        &self,
        mongo: &MongoArgs,
        dev: bool,
        token: Option<SecretString>,
        api_url: Option<String>,
    ) -> anyhow::Result<edgebridge_worker::WorkerConfig> {
        let worker_token = match token {
            Some(t) => t,
            None => secret_env("EDGEBRIDGE_WORKER_TOKEN")?.context(
                "EDGEBRIDGE_WORKER_TOKEN is not set: give the secret also set on the api (at least 16 characters)",
            )?,
        };
        if self.worker_capacity == 0
            || self.connector_health_interval_secs == 0
            || self.worker_heartbeat_ms == Some(0)
        {
            bail!(
                "EDGEBRIDGE_WORKER_CAPACITY, EDGEBRIDGE_CONNECTOR_HEALTH_INTERVAL_SECS and EDGEBRIDGE_WORKER_HEARTBEAT_MS must be above 0"
            );
        }
        let api_url = api_url.unwrap_or_else(|| self.api_url.clone());
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            bail!("EDGEBRIDGE_API_URL must start with http:// or https://, e.g. http://api:8080");
        }
        let defaults = edgebridge_worker::supervisor::SupervisorSettings::default();
        let supervisor = edgebridge_worker::supervisor::SupervisorSettings {
            health_interval: Duration::from_secs(self.connector_health_interval_secs),
            retry_max: Duration::from_secs(self.connector_retry_max_secs).max(defaults.retry_min),
            trace: self.trace,
            trace_steps_per_sec: self.trace_steps_per_sec,
            ..defaults
        };
        Ok(edgebridge_worker::WorkerConfig {
            api_url,
            worker_token,
            name: self
                .worker_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(edgebridge_worker::host_name),
            capacity: self.worker_capacity,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            heartbeat_interval: self.worker_heartbeat_ms.map(Duration::from_millis),
            request_timeout: Duration::from_secs(10),
            mongo: std::sync::Arc::new(edgebridge_api::mongo::driver::DriverConnector),
            preflight: mongo.preflight(dev, Duration::from_secs(60))?,
            supervisor,
        })
    }
}

fn parse_keyring(spec: &str) -> anyhow::Result<Keyring> {
    Keyring::parse(spec).map_err(|e| {
        anyhow::anyhow!("EDGEBRIDGE_ENCRYPTION_KEYS: {e}; expected `keyid:base64-32-bytes[,older...]` (make one with `edgebridge keys generate`)")
    })
}

/// A variable's value, unless it is unset or blank.
fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn encryption_keys_from_env() -> anyhow::Result<Keyring> {
    match non_empty_env("EDGEBRIDGE_ENCRYPTION_KEYS") {
        Some(spec) => parse_keyring(&spec),
        None => bail!(
            "EDGEBRIDGE_ENCRYPTION_KEYS is not set: list the new active key first, then the old ones"
        ),
    }
}

pub fn generate_key_entry(id: &str) -> anyhow::Result<String> {
    let (_, spec) = Keyring::generate_ephemeral();
    let (_, key) = spec.split_once(':').context("generated key entry")?;
    let entry = format!("{id}:{key}");
    // Validate the id the same way the server will.
    Keyring::parse(&entry).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(entry)
}
