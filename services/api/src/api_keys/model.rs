//! API key DTOs.

use crate::auth::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyOut {
    pub id: Uuid,
    #[schema(example = "ci pipeline")]
    pub name: String,
    pub role: Role,
    /// The app the key is limited to; absent for organization-wide keys.
    pub app_id: Option<Uuid>,
    /// The key's recognizable start, e.g. `ebk_AbCdEfGhIjKl_…`.
    #[schema(example = "ebk_AbCdEfGhIjKl_…")]
    pub display: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "ci pipeline", "role": "developer"}))]
pub struct ApiKeyIn {
    /// What the key is for (1-100 characters).
    pub name: String,
    /// At most your own role.
    pub role: Role,
    /// Limit the key to one app.
    #[serde(default)]
    pub app_id: Option<Uuid>,
    /// When the key stops working (RFC 3339 with an offset, e.g. `2027-01-01T00:00:00Z`). When
    /// absent: never, or when the creating key expires if it does.
    #[serde(default)]
    #[schema(example = "2027-01-01T00:00:00Z")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The created key. `key` is shown this once and cannot be retrieved later: store it now.
/// (No `Debug`: the key must not reach logs.)
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The secret key, for `Authorization: Bearer <key>`.
    #[schema(example = "ebk_AbCdEfGhIjKl_0123456789abcdefghijABCDEFGHIJ")]
    pub key: String,
}

/// One page of API keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyPage {
    pub items: Vec<ApiKeyOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What a revocation revoked: the key, and the keys it created (directly or through keys it
/// created), which stop working with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRevocation {
    /// How many keys were revoked, the named key included.
    #[schema(example = 3)]
    pub revoked_count: usize,
    /// Their ids, the named key first.
    pub revoked_key_ids: Vec<Uuid>,
}
