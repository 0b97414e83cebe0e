//! Webhook delivery settings from the environment, and the dispatcher of the scheduler role.

use anyhow::bail;
use clap::Args;
use edgebridge_api::config::WebhookConfig;
use edgebridge_api::mongo::policy::TargetPolicy;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How webhooks are delivered (the api's test events and retries, and the dispatcher).
#[derive(Args, Clone)]
pub struct WebhookArgs {
    /// Delay before a failed webhook attempt's first retry, in milliseconds; later retries follow
    /// the Standard Webhooks schedule scaled by it (5000: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h...).
    #[arg(long, env = "EDGEBRIDGE_WEBHOOK_RETRY_BASE_MS", default_value_t = 5000)]
    webhook_retry_base_ms: u64,
    /// A webhook delivery still failing this many seconds after it was created is given up.
    #[arg(long, env = "EDGEBRIDGE_WEBHOOK_GIVE_UP_SECS", default_value_t = 24 * 3600)]
    webhook_give_up_secs: u64,
    /// Bound on one webhook attempt (connect, send, first KiB of the answer), in seconds.
    #[arg(long, env = "EDGEBRIDGE_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    webhook_timeout_secs: u64,
    /// Webhook attempts one process makes at once.
    #[arg(long, env = "EDGEBRIDGE_WEBHOOK_CONCURRENCY", default_value_t = 8)]
    webhook_concurrency: usize,
    /// Webhook attempts one process makes at once for one app.
    #[arg(
        long,
        env = "EDGEBRIDGE_WEBHOOK_CONCURRENCY_PER_APP",
        default_value_t = 2
    )]
    webhook_concurrency_per_app: usize,
    /// Days webhook messages and their delivery log are kept.
    #[arg(long, env = "EDGEBRIDGE_WEBHOOK_RETENTION_DAYS", default_value_t = 30)]
    webhook_retention_days: u64,
}

impl WebhookArgs {
    pub fn config(&self) -> anyhow::Result<WebhookConfig> {
        if self.webhook_retry_base_ms == 0
            || self.webhook_give_up_secs == 0
            || self.webhook_timeout_secs == 0
            || self.webhook_concurrency == 0
            || self.webhook_concurrency_per_app == 0
            || self.webhook_retention_days == 0
        {
            bail!(
                "EDGEBRIDGE_WEBHOOK_RETRY_BASE_MS, EDGEBRIDGE_WEBHOOK_GIVE_UP_SECS, EDGEBRIDGE_WEBHOOK_TIMEOUT_SECS, EDGEBRIDGE_WEBHOOK_CONCURRENCY, EDGEBRIDGE_WEBHOOK_CONCURRENCY_PER_APP and EDGEBRIDGE_WEBHOOK_RETENTION_DAYS must be above 0"
            );
        }
        if self.webhook_retention_days * 24 * 3600 < self.webhook_give_up_secs {
            bail!(
                "EDGEBRIDGE_WEBHOOK_RETENTION_DAYS must cover EDGEBRIDGE_WEBHOOK_GIVE_UP_SECS (messages are kept while retried)"
            );
        }
        Ok(WebhookConfig {
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            give_up_after: Duration::from_secs(self.webhook_give_up_secs),
            request_timeout: Duration::from_secs(self.webhook_timeout_secs),
            concurrency: self.webhook_concurrency,
            per_app: self
                .webhook_concurrency_per_app
                .min(self.webhook_concurrency),
            retention: Duration::from_secs(self.webhook_retention_days * 24 * 3600),
            ..WebhookConfig::default()
        })
    }
}

/// The scheduler role's webhook dispatcher. It opens webhook secrets, so it needs the api's
/// EDGEBRIDGE_ENCRYPTION_KEYS: without them this scheduler delivers no webhooks, and says so.
pub fn spawn_scheduler_dispatcher(
    pool: &PgPool,
    policy: TargetPolicy,
    config: WebhookConfig,
    cancel: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let keys_set = std::env::var("EDGEBRIDGE_ENCRYPTION_KEYS").is_ok_and(|v| !v.trim().is_empty());
    if !keys_set {
        tracing::warn!(
            "EDGEBRIDGE_ENCRYPTION_KEYS is not set: this scheduler does not deliver webhooks; give it the api's keys (and EDGEBRIDGE_TARGET_POLICY) to deliver them"
        );
        return Ok(None);
    }
    let keyring = crate::settings::encryption_keys_from_env()?;
    Ok(Some(tokio::spawn(edgebridge_api::webhooks::run(
        pool.clone(),
        Arc::new(keyring),
        policy,
        config,
        cancel,
    ))))
}
