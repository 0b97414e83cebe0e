//! Settings that bound what one client or tenant can hold of the api: connections, long polls,
//! statement work, and how long a looked-up API key is trusted.

use anyhow::bail;
use clap::Args;
use edgebridge_api::ApiConfig;
use std::time::Duration;

#[derive(Args, Clone)]
pub struct LimitArgs {
    /// Seconds a client has to send a request's head; also how long a keep-alive connection may
    /// stay idle.
    #[arg(
        long,
        env = "EDGEBRIDGE_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    header_read_timeout_secs: u64,
    /// Client connections served at once (more wait in the listen backlog).
    #[arg(long, env = "EDGEBRIDGE_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Change-feed long polls (`wait` > 0) one API key may have open at once.
    #[arg(long, env = "EDGEBRIDGE_FEED_LONG_POLLS_PER_KEY", default_value_t = 16)]
    long_polls_per_key: usize,
    /// Change-feed long polls open at once on one app.
    #[arg(long, env = "EDGEBRIDGE_FEED_LONG_POLLS_PER_APP", default_value_t = 64)]
    long_polls_per_app: usize,
    /// Units of work one DQL statement may do (comparisons, path steps, pattern steps, sort
    /// comparisons, bytes parsed / 16).
    #[arg(
        long,
        env = "EDGEBRIDGE_STATEMENT_MAX_WORK",
        default_value_t = 500_000_000
    )]
    statement_max_work: u64,
    /// Seconds one DQL statement may take.
    #[arg(long, env = "EDGEBRIDGE_STATEMENT_MAX_SECS", default_value_t = 20)]
    statement_max_secs: u64,
    /// Milliseconds a looked-up API key is trusted without asking Postgres again (a key revoked
    /// on another api replica keeps working there this long); 0 turns the cache off.
    #[arg(long, env = "EDGEBRIDGE_KEY_CACHE_MS", default_value_t = 2000)]
    key_cache_ms: u64,
}

impl LimitArgs {
    pub fn apply(&self, config: &mut ApiConfig) -> anyhow::Result<()> {
        if self.header_read_timeout_secs == 0
            || self.max_connections == 0
            || self.long_polls_per_key == 0
            || self.long_polls_per_app == 0
            || self.statement_max_work == 0
            || self.statement_max_secs == 0
        {
            bail!(
                "EDGEBRIDGE_HEADER_READ_TIMEOUT_SECS, EDGEBRIDGE_MAX_CONNECTIONS, \
                 EDGEBRIDGE_FEED_LONG_POLLS_PER_KEY, EDGEBRIDGE_FEED_LONG_POLLS_PER_APP, \
                 EDGEBRIDGE_STATEMENT_MAX_WORK and EDGEBRIDGE_STATEMENT_MAX_SECS must be above 0"
            );
        }
        if self.statement_max_secs >= config.request_timeout.as_secs() {
            bail!(
                "EDGEBRIDGE_STATEMENT_MAX_SECS ({}) must be below EDGEBRIDGE_REQUEST_TIMEOUT_SECS ({})",
                self.statement_max_secs,
                config.request_timeout.as_secs()
            );
        }
        config.connections.header_read_timeout = Duration::from_secs(self.header_read_timeout_secs);
        config.connections.max_connections = self.max_connections;
        config.feed.long_polls_per_key = self.long_polls_per_key;
        config.feed.long_polls_per_app = self.long_polls_per_app;
        config.store_limits.max_statement_work = self.statement_max_work;
        config.store_limits.max_statement_time = Duration::from_secs(self.statement_max_secs);
        config.key_cache_ttl = Duration::from_millis(self.key_cache_ms);
        Ok(())
    }
}
