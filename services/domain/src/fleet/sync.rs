//! The sync engine's messages: MongoDB documents mapped to edge writes and applied with their
//! collection's checkpoint, and the edge feed the write-back reads.

use serde::{Deserialize, Serialize};

/// Writes to the edge store and a checkpoint in one batch.
pub const MAX_WRITES_PER_APPLY: usize = 5_000;

/// One document as MongoDB reports it, already mapped (see `edgebridge_mongo::mapping`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase", try_from = "WireWrite")]
pub enum EdgeWrite {
    /// Make the edge document read as `body` (fields that differ are written, fields MongoDB
    /// no longer has are removed).
    Upsert {
        /// The edge `_id`.
        id: serde_json::Value,
        /// The fields, settable counters taken out.
        body: serde_json::Map<String, serde_json::Value>,
        /// Settable counters present, with their values (each a reset).
        #[serde(default)]
        counters: Vec<(Vec<String>, f64)>,
        /// The BSON type tree (native mode), for the way back.
        #[serde(default)]
        types: Option<serde_json::Value>,
        /// An update's pre-image, mapped the same way: only what changed between the two is
        /// written, so an edge edit not yet in MongoDB is not overwritten by MongoDB's stale
        /// copy of that field. Absent for inserts, replaces and the initial scan.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Box<PreImage>>,
    },
    Delete {
        id: serde_json::Value,
    },
    /// What MongoDB holds after the connector's own write-back (an event of one of its
    /// sessions): nothing is written to the edge. When the edge reads otherwise, MongoDB
    /// overwrote something the edge has (a concurrent write), so the document is queued for
    /// write-back again with the edge's state. `body: None`: MongoDB no longer has it.
    Verify {
        id: serde_json::Value,
        #[serde(default)]
        body: Option<serde_json::Map<String, serde_json::Value>>,
        #[serde(default)]
        counters: Vec<(Vec<String>, f64)>,
    },
}

/// How an [`EdgeWrite`] is read: every variant's fields in one flat struct, deserialized
/// straight from the stream. serde's internally tagged enums first buffer each value whole (its
/// `Content` tree), then convert it, which doubled the cost of reading a batch of documents.
/// The JSON is the same either way: `{"op": "upsert", "id": ..., "body": {...}, ...}`.
#[derive(Deserialize)]
struct WireWrite {
    op: WireOp,
    id: serde_json::Value,
    #[serde(default)]
    body: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    counters: Vec<(Vec<String>, f64)>,
    #[serde(default)]
    types: Option<serde_json::Value>,
    #[serde(default)]
    before: Option<Box<PreImage>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireOp {
    Upsert,
    Delete,
    Verify,
}

impl TryFrom<WireWrite> for EdgeWrite {
    type Error = &'static str;

    fn try_from(w: WireWrite) -> Result<Self, Self::Error> {
        Ok(match w.op {
            WireOp::Upsert => EdgeWrite::Upsert {
                id: w.id,
                body: w
                    .body
                    .ok_or("missing field `body` (an upsert states the document)")?,
                counters: w.counters,
                types: w.types,
                before: w.before,
            },
            WireOp::Delete => EdgeWrite::Delete { id: w.id },
            WireOp::Verify => EdgeWrite::Verify {
                id: w.id,
                body: w.body,
                counters: w.counters,
            },
        })
    }
}

impl EdgeWrite {
    /// The edge `_id` the write is about.
    pub fn id(&self) -> &serde_json::Value {
        match self {
            EdgeWrite::Upsert { id, .. }
            | EdgeWrite::Delete { id }
            | EdgeWrite::Verify { id, .. } => id,
        }
    }
}

/// A mapped pre-image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreImage {
    pub body: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub counters: Vec<(Vec<String>, f64)>,
}

/// Where a collection's pipeline is, as persisted (fenced by epoch) after each applied batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointPhase {
    /// Scanning: resume the scan after `scanAfter`, then stream from `resumeToken`.
    InitialSync,
    /// Streaming from `resumeToken`.
    Streaming,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectionCheckpoint {
    pub phase: CheckpointPhase,
    /// Canonical Extended JSON of the change stream's resume token.
    pub resume_token: Option<serde_json::Value>,
    /// Canonical Extended JSON of the last scanned `_id` (initial sync).
    #[serde(default)]
    pub scan_after: Option<serde_json::Value>,
    /// Documents copied by the initial sync so far.
    #[serde(default)]
    pub copied: u64,
    #[serde(default)]
    pub estimated_total: Option<u64>,
}

/// `POST .../connectors/{connectorId}/apply`: the writes and the checkpoint after them, in one
/// transaction, only for the connector's current owner at this epoch (409 otherwise).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    pub epoch: i64,
    pub collection: String,
    #[serde(default)]
    pub writes: Vec<EdgeWrite>,
    pub checkpoint: CollectionCheckpoint,
}

/// A write the edge store refused (too large, too deep, an unusable `_id`); the rest of the
/// batch is applied and the checkpoint moves past it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedWrite {
    pub id: serde_json::Value,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// Documents that changed (a write equal to what the edge holds changes nothing).
    pub changed: usize,
    pub skipped: Vec<SkippedWrite>,
    /// Documents the edge reads otherwise than MongoDB holds them after the batch (a MongoDB
    /// update merged with an edge edit, or an echo that differs): queued back to MongoDB.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requeued: Vec<serde_json::Value>,
}

/// One edge-store change for the write-back path: a document of a mapped collection, written by
/// someone other than this connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeedChange {
    /// Resume after this change by passing it as `after`.
    pub cursor: String,
    pub collection: String,
    /// The edge `_id`.
    pub id: serde_json::Value,
    /// The document as the edge reads it now (not as of this change: a write-back always
    /// writes the current state, so replaying an old change is harmless); `None` when it is
    /// deleted.
    pub document: Option<serde_json::Map<String, serde_json::Value>>,
    /// The document's BSON type tree (the connector's metadata slot), for restoring types.
    pub types: Option<serde_json::Value>,
}

/// `GET .../connectors/{connectorId}/changes?epoch=&after=&limit=&wait=`: the feed of the
/// connector's mapped collections without its own writes, for its owner at `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeedPage {
    pub changes: Vec<FeedChange>,
    /// Pass as `after` next time (also when `changes` is empty).
    pub next_cursor: Option<String>,
}

/// `GET`/`PUT .../connectors/{connectorId}/write-back`: how far the write-back has taken the
/// feed (`cursor: None`: from its beginning), saved after each commit to MongoDB, for the
/// connector's owner at `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WriteBackPosition {
    pub epoch: i64,
    pub cursor: Option<String>,
}
