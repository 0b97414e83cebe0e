//! Edge store DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A DQL statement with its named arguments.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"statement": "SELECT * FROM tasks WHERE done = :done ORDER BY createdAt DESC LIMIT 20", "args": {"done": false}}))]
pub struct ExecuteIn {
    /// One DQL statement: SELECT (also `SELECT COUNT(*) FROM c` and
    /// `SELECT * FROM system:collections`), INSERT, UPDATE or DELETE. Field and collection names
    /// that are also keywords (`id`, `order`, `limit`...) need no quoting; backquotes always work.
    pub statement: String,
    /// Values for the statement's `:name` arguments.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub args: Option<Map<String, Value>>,
    /// Tags the writes so a change-feed consumer can skip its own (`excludeOrigin`).
    #[serde(default)]
    #[schema(example = "connector:retail")]
    pub origin: Option<String>,
    /// Strict mode (default true): objects written to a field replace it whole. With false, their
    /// members merge into the existing object member by member.
    #[serde(default)]
    pub dql_strict_mode: Option<bool>,
}

/// The result of a statement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteOut {
    /// `select`, `insert`, `update` or `delete`.
    #[schema(example = "select")]
    pub query_type: String,
    /// The documents a SELECT found (empty for writes). `COUNT(*)` answers one row,
    /// `{"count": n}`; `system:collections` one row per collection, `{"name", "documents"}`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// The `_id`s of the documents a write changed (any JSON value: `_id`s are strings,
    /// numbers or objects).
    pub mutated_document_ids: Vec<Value>,
    pub warnings: Vec<String>,
    pub total_warnings_count: usize,
}

/// Change-feed query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// The `nextCursor` of the previous answer; from the beginning when absent.
    pub after: Option<String>,
    /// Comma-separated collection names; every collection when absent.
    pub collections: Option<String>,
    /// Skip changes written with this origin (your own writes).
    pub exclude_origin: Option<String>,
    /// At most this many changes (1 to 1000, default 100).
    pub limit: Option<u32>,
    /// Seconds to wait for a change when there is none yet (0 to 30, default 0).
    pub wait: Option<u32>,
}

/// One change of one document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOut {
    /// Resume after this change by passing it as `after`.
    pub cursor: String,
    pub collection: String,
    /// The document's `_id` (any JSON value).
    pub document_id: Value,
    /// The document after the change; null when it was deleted.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    pub deleted: bool,
    pub origin: Option<String>,
    pub actor: String,
    pub committed_at: DateTime<Utc>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangesPage {
    pub changes: Vec<ChangeOut>,
    /// Pass as `after` next time (also when `changes` is empty).
    pub next_cursor: Option<String>,
}
