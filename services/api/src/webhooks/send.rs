//! One attempt of a delivery: sign, POST (10 s by default, no redirects, no proxies, only to
//! addresses the policy allows), record what came back, and schedule the next attempt.

use super::keys;
use super::queue::{self, Claimed, Outcome};
use super::signature::message_header_id;
use super::target::{self, PolicyResolver};
use crate::config::WebhookConfig;
use crate::crypto::Keyring;
use chrono::Utc;
use edgebridge_mongo::policy::TargetPolicy;
use rand::Rng;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest text kept of an error or of a response body.
pub const MAX_TEXT: usize = 1024;

/// Delays after attempts 1, 2, 3... in units of the retry base: with 5 s, the Standard Webhooks
/// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then 10 h on).
const SCHEDULE: &[u32] = &[1, 60, 360, 1_440, 3_600, 7_200];

/// The delay after attempt `attempt` (1-based), with ±10 % jitter so that deliveries that failed
/// together do not all come back at the same instant.
pub fn retry_delay(base: Duration, attempt: i32) -> Duration {
    let index = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    let units = SCHEDULE[index.min(SCHEDULE.len() - 1)];
    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
    base.saturating_mul(units).mul_f64(jitter)
}

/// Sends attempts; cheap to clone (one HTTP client and its connection pool).
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: TargetPolicy,
    config: WebhookConfig,
    /// Bounds the attempts the api makes at once for requests (test events, manual retries).
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("policy", &self.policy)
            .field("config", &self.config)
            .finish()
    }
}

impl WebhookSender {
    pub fn new(policy: TargetPolicy, config: WebhookConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // Names resolve through the policy, and connections go to the addresses it checked.
            .dns_resolver(Arc::new(PolicyResolver { policy }))
            // A proxy would resolve names itself, out of the policy's sight.
            .no_proxy()
            // A redirect could lead anywhere; a receiver answers 2xx at its URL.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Edgebridge-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Ok(Self {
            client,
            policy,
            config,
            slots,
        })
    }

    /// A slot for an attempt made for a request, unless all are taken.
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    pub fn policy(&self) -> TargetPolicy {
        self.policy
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// How long a claimed delivery is left alone: longer than an attempt may take.
    pub fn lease(&self) -> Duration {
        self.config.request_timeout + Duration::from_secs(30)
    }

    /// Makes the attempt `claimed` was claimed for and records it. `Err` only when the outcome
    /// could not be written (the lease then brings the delivery back).
    pub async fn attempt(
        &self,
        pool: &PgPool,
        keyring: &Keyring,
        claimed: &Claimed,
    ) -> anyhow::Result<()> {
        let outcome = self.post(keyring, claimed).await;
        let delay = retry_delay(self.config.retry_base, claimed.attempt);
        let recorded =
            queue::record(pool, claimed, &outcome, delay, self.config.give_up_after).await?;
        tracing::info!(
            delivery_id = %claimed.delivery_id,
            webhook_id = %claimed.webhook_id,
            attempt = claimed.attempt,
            status = outcome.status_code,
            error = outcome.error.as_deref(),
            succeeded = outcome.succeeded(),
            recorded,
            "webhook attempt"
        );
        Ok(())
    }

    async fn post(&self, keyring: &Keyring, claimed: &Claimed) -> Outcome {
        let at = Utc::now();
        let started = Instant::now();
        let result = self.try_post(keyring, claimed, at.timestamp()).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok((status, response_body)) => Outcome {
                at,
                status_code: Some(i32::from(status)),
                error: (300..400).contains(&status).then(|| {
                    "redirects are not followed: answer 2xx at the webhook's URL".to_owned()
                }),
                duration_ms,
                response_body,
            },
            Err(error) => Outcome {
                at,
                status_code: None,
                error: Some(bounded(&error)),
                duration_ms,
                response_body: None,
            },
        }
    }

    async fn try_post(
        &self,
        keyring: &Keyring,
        claimed: &Claimed,
        timestamp: i64,
    ) -> Result<(u16, Option<String>), String> {
        let key = keys::open(keyring, claimed.org_id, claimed.webhook_id, &claimed.secret_ciphertext)
            .map_err(|e| {
                tracing::error!(webhook_id = %claimed.webhook_id, error = %e, "webhook secret cannot be opened");
                "the webhook's secret cannot be decrypted with the configured keys; rotate it (POST .../rotate-secret)".to_owned()
            })?;
        let url = target::parse_url(&claimed.url).map_err(|why| format!("the URL {why}"))?;
        target::check_literal(&url, self.policy).map_err(|refused| refused.0)?;
        let message_id = message_header_id(claimed.message_id);
        let signature = key.sign(&message_id, timestamp, &claimed.body);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claimed.body.clone())
            .send()
            .await
            .map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        Ok((status, read_snippet(response).await))
    }

    /// Words for a failed request, without the URL (it is in the webhook).
    fn describe(&self, error: &reqwest::Error) -> String {
        if let Some(refused) = target::refusal_in(error) {
            return refused.0.clone();
        }
        if error.is_timeout() {
            return format!(
                "no answer within {} s",
                self.config.request_timeout.as_secs_f64()
            );
        }
        let mut root: &dyn std::error::Error = error;
        while let Some(source) = root.source() {
            root = source;
        }
        if error.is_connect() {
            format!("could not connect: {root}")
        } else {
            format!("the request failed: {root}")
        }
    }
}

/// At most [`MAX_TEXT`] bytes of `text` (cut at a character boundary), without NUL characters
/// (Postgres text cannot hold them).
pub fn bounded(text: &str) -> String {
    let mut out: String = text.replace('\0', "\u{FFFD}");
    if out.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// The start of the response body: reads no more than [`MAX_TEXT`] bytes of it.
async fn read_snippet(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_TEXT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_TEXT);
    (!bytes.is_empty()).then(|| bounded(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_then_stays_at_its_cap() {
        let base = Duration::from_secs(5);
        let expected = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000];
        for (i, secs) in expected.iter().enumerate() {
            let delay = retry_delay(base, i as i32 + 1).as_secs_f64();
            let secs = *secs as f64;
            assert!(
                (secs * 0.9..=secs * 1.1).contains(&delay),
                "attempt {}: {delay} s",
                i + 1
            );
        }
        assert!(retry_delay(Duration::from_millis(20), 1) < Duration::from_millis(23));
    }

    #[test]
    fn texts_are_bounded_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT && cut.len() >= MAX_TEXT - 1);
        assert_eq!(bounded("a\0b"), "a\u{FFFD}b");
    }
}
