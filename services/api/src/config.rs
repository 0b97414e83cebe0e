//! The api's configuration, already validated. The binary builds it from the environment.

use crate::auth::jwt::JwtKeys;
use crate::crypto::Keyring;
use crate::store::execute::StoreLimits;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::port::MongoConnector;
use edgebridge_mongo::preflight::PreflightOptions;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_RATE_LIMIT: u32 = 100;
pub const DEFAULT_AUTH_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_MAX_CONCURRENT_CONNECTION_TESTS: usize = 8;

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
    /// Outbound target policy and time limits of connection tests.
    pub preflight: PreflightOptions,
    /// How the api reaches MongoDB (the driver; tests put the simulator here).
    pub mongo: MongoAccess,
    /// Connection tests one api process runs at once (each holds a MongoDB client); more get
    /// 429 `connection_tests_busy`.
    pub max_concurrent_connection_tests: usize,
}

/// The [`MongoConnector`] the api uses.
#[derive(Clone)]
pub struct MongoAccess(pub Arc<dyn MongoConnector>);

impl fmt::Debug for MongoAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MongoAccess")
    }
}

impl Default for MongoAccess {
    fn default() -> Self {
        MongoAccess(Arc::new(DriverConnector))
    }
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
            preflight: PreflightOptions::default(),
            mongo: MongoAccess::default(),
            max_concurrent_connection_tests: DEFAULT_MAX_CONCURRENT_CONNECTION_TESTS,
        }
    }
}
