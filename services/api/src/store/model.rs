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

/// One edge document with what the edge store keeps beside its value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "collection": "orders",
    "documentId": "64b7f0c2a1b2c3d4e5f60718",
    "document": {"_id": "64b7f0c2a1b2c3d4e5f60718", "placedAt": "2024-05-01T10:00:00.000Z", "quantity": 3, "total": 12.5},
    "types": {"_id": "objectId", "placedAt": "date", "quantity": "int", "total": "double"},
    "counters": ["quantity"],
    "lastWrite": {"at": "2026-12-04T10:00:00.123Z", "actor": "connector:0193a7c1-5f2e-7a40-9c1d-3e8f2b6a4d10"}
}))]
pub struct EdgeDocumentOut {
    pub collection: String,
    /// The document's `_id` (a string, a number or an object).
    pub document_id: Value,
    /// The document as a SELECT reads it: with `_id`, settable counters as plain numbers.
    #[schema(value_type = Object)]
    pub document: Value,
    /// The BSON types a native-mode connector keeps in the document's metadata (sparse, shaped
    /// like the document; the form of the mapping preview's `types`), which writes back to
    /// MongoDB restore. Null when there are none: a document written only through DQL, one
    /// synced in `ejson` mode, or one whose fields all map to JSON as they are.
    #[schema(value_type = Option<Object>)]
    pub types: Option<Value>,
    /// Dotted paths of the fields that are settable counters (CRDT counters: increments from
    /// every writer add up), which the document shows as plain numbers.
    pub counters: Vec<String>,
    pub last_write: LastWriteOut,
}

/// The newest write to a document (a deletion aside).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastWriteOut {
    /// When the api applied it (its hybrid logical clock, to the millisecond).
    pub at: DateTime<Utc>,
    /// Who wrote it: `key:<apiKeyId>` (a DQL statement) or `connector:<connectorId>` (a
    /// connector's write from MongoDB).
    #[schema(example = "connector:0193a7c1-5f2e-7a40-9c1d-3e8f2b6a4d10")]
    pub actor: String,
}
