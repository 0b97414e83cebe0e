//! Authentication (API keys, access tokens) and authorization (roles, app scope).

pub mod api_key;
pub mod cache;
pub(crate) mod context;
pub mod failures;
pub mod jwt;
pub mod role;

pub use context::{AuthContext, AuthMethod};
pub use role::Role;
