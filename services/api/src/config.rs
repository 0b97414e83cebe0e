//! The api's configuration, already validated. The binary builds it from the environment.

use crate::auth::jwt::JwtKeys;
use crate::crypto::Keyring;
use crate::store::execute::StoreLimits;
use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_RATE_LIMIT: u32 = 100;
pub const DEFAULT_AUTH_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub keyring: Keyring,
    pub jwt: JwtKeys,
    /// Requests per second per API key (burst of the same size); 0 turns limiting off.
    pub rate_limit_per_sec: u32,
    /// Failed authentications per second per client address before it is throttled; 0 = off.
    pub auth_failure_limit_per_sec: u32,
    pub token_ttl: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub store_limits: StoreLimits,
}

impl ApiConfig {
    /// A configuration with the defaults for everything but the keys.
    pub fn new(listen: SocketAddr, keyring: Keyring, jwt: JwtKeys) -> Self {
        Self {
            listen,
            keyring,
            jwt,
            rate_limit_per_sec: DEFAULT_RATE_LIMIT,
            auth_failure_limit_per_sec: DEFAULT_AUTH_FAILURE_LIMIT,
            token_ttl: DEFAULT_TOKEN_TTL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            store_limits: StoreLimits::default(),
        }
    }
}
