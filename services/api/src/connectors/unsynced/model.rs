//! What the unsynced-document routes take and answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum UnsyncedState {
    /// MongoDB refused the document; nothing is under way.
    Open,
    /// Queued for the write-back again (a retry); it leaves the list once written.
    Retrying,
    /// A user discarded it: the worker deletes the MongoDB record, then it leaves the list.
    DiscardRequested,
}

impl UnsyncedState {
    pub(super) fn parse(state: &str) -> Self {
        match state {
            "retrying" => Self::Retrying,
            "discard_requested" => Self::DiscardRequested,
            _ => Self::Open,
        }
    }
}

/// An edge document the connector could not write to MongoDB.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedDocumentOut {
    /// The record's id (the `recordId` of its routes; also a cursor for `after`).
    pub id: Uuid,
    /// The record's `_id` in the connector database's `__edgebridge_unsynced_documents`.
    #[schema(example = "0193a7c4-8c5e-7d7a-9f1e-2b3c4d5e6f70:products:\"p1\"")]
    pub mongo_record_id: String,
    #[schema(example = "products")]
    pub collection: String,
    /// The edge document's `_id`.
    #[schema(example = json!("p1"))]
    pub document_id: serde_json::Value,
    /// Why MongoDB did not take it: `schema_validation`, `duplicate_key`, `document_too_large`,
    /// `unmappable`...
    #[schema(example = "schema_validation")]
    pub code: String,
    /// MongoDB's message (or the mapping's).
    pub message: String,
    /// How many times it was refused.
    pub attempts: i32,
    pub state: UnsyncedState,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When it was last retried.
    pub retried_at: Option<DateTime<Utc>>,
}

/// An unsynced document with the edge document as it is now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedDocumentDetail {
    #[serde(flatten)]
    pub record: UnsyncedDocumentOut,
    /// The document as the edge store holds it now (what a retry writes); `null` when it is
    /// deleted on the edge.
    #[schema(value_type = Option<Object>)]
    pub edge_document: Option<serde_json::Value>,
}

/// A page of unsynced documents, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedPage {
    pub items: Vec<UnsyncedDocumentOut>,
    /// Pass as `after` for older records; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of the unsynced-documents list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnsyncedParams {
    /// Only records of this collection.
    #[param(example = "products")]
    pub collection: Option<String>,
    /// Only records with this code, e.g. `schema_validation`.
    #[param(example = "schema_validation")]
    pub code: Option<String>,
    /// The `nextCursor` of the previous page (or a record's `id`): records older than it.
    pub after: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Which records a bulk retry takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkRetryParams {
    /// Only records of this collection.
    #[param(example = "products")]
    pub collection: Option<String>,
    /// Only records with this code, e.g. `schema_validation`.
    #[param(example = "schema_validation")]
    pub code: Option<String>,
    /// The most records this call queues, 1 to 1000 (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// What a bulk retry did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRetryOut {
    /// Documents queued for the write-back again (their records now `retrying`).
    pub requeued: u64,
    /// Open records taken whose document the edge store no longer holds at all (nothing to
    /// write; discard them). They stay `open`.
    pub without_edge_document: u64,
    /// Open records matching the filters that are still not queued: call again while it is
    /// above `withoutEdgeDocument`.
    pub remaining: u64,
}

pub use crate::http::extract::{decode_cursor, encode_cursor};

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("short")), None);
    }

    #[test]
    fn states_read_as_stored() {
        assert_eq!(UnsyncedState::parse("open"), UnsyncedState::Open);
        assert_eq!(UnsyncedState::parse("retrying"), UnsyncedState::Retrying);
        assert_eq!(
            UnsyncedState::parse("discard_requested"),
            UnsyncedState::DiscardRequested
        );
        let json = serde_json::to_value(UnsyncedState::DiscardRequested).unwrap();
        assert_eq!(json, "discardRequested");
    }
}
