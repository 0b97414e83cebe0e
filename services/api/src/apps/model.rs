//! App DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An app groups connectors, edge-store collections and API keys.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppOut {
    #[sqlx(rename = "app_id")]
    pub id: Uuid,
    #[schema(example = "retail")]
    pub name: String,
    #[schema(example = "Store data for the retail app")]
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "retail", "description": "Store data for the retail app"}))]
pub struct AppIn {
    /// 1-64 letters, digits, '-', '_' or '.', unique in the organization.
    pub name: String,
    /// Up to 1024 characters.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(nullable = false)]
    pub description: Option<String>,
}

/// Changes to an app; members left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"description": "Renamed store data"}))]
pub struct AppPatch {
    /// A new name (it cannot be removed: `null` is refused).
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// A new description (`null` is refused).
    #[serde(default, deserialize_with = "crate::http::json::present")]
    #[schema(nullable = false)]
    pub description: Option<String>,
}

/// One page of apps.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPage {
    pub items: Vec<AppOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
