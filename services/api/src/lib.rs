//! The Edgebridge api service: tenants, API keys and access tokens, MongoDB connectors with
//! encrypted connection strings, and the OpenAPI document.

pub mod admin;
pub mod api_keys;
pub mod apps;
pub mod auth;
pub mod config;
pub mod connectors;
pub mod crypto;
pub mod db;
pub mod error;
pub mod fleet;
pub mod http;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod scheduler;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod webhooks;

/// The MongoDB port crate, re-exported for the binary's configuration.
pub use edgebridge_mongo as mongo;
pub mod tokens;

pub use config::ApiConfig;
pub use startup::{Application, migrate};
