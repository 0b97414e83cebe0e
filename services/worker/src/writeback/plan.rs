//! An edge change as the MongoDB write that makes MongoDB hold it, and batches of them.

use super::Planned;
use crate::pipeline::PipelineError;
use bson::{Bson, Document};
use edgebridge_domain::fleet::FeedChange;
use edgebridge_mongo::error::{ErrorKind, PortError};
use edgebridge_mongo::mapping::merge::carried_document;
use edgebridge_mongo::mapping::{MappingConfig, to_mongo};
use edgebridge_mongo::port::{UpdateModification, WriteOp};
use serde_json::{Map, Value};
use std::collections::VecDeque;

/// Most bytes of documents in one transaction: well under what MongoDB holds in its cache for one
/// (`TransactionTooLargeForCache`), and few enough round trips to finish long before the
/// transaction lifetime limit (60 s by default).
const MAX_TRANSACTION_BYTES: usize = 16 * 1024 * 1024;

/// Splits planned writes into transactions of at most `limit` documents and
/// [`MAX_TRANSACTION_BYTES`] (a larger document goes alone).
pub(super) fn chunks(planned: Vec<Planned>, limit: u32) -> VecDeque<Vec<Planned>> {
    let limit = limit.max(1) as usize;
    let mut out = VecDeque::new();
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    for p in planned {
        let size = op_bytes(&p.op);
        if !chunk.is_empty() && (chunk.len() >= limit || bytes + size > MAX_TRANSACTION_BYTES) {
            out.push_back(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(p);
    }
    if !chunk.is_empty() {
        out.push_back(chunk);
    }
    out
}

/// About how many bytes an operation sends (its documents' BSON).
fn op_bytes(op: &WriteOp) -> usize {
    let size = |d: &Document| bson::serialize_to_vec(d).map_or(0, |v| v.len());
    match op {
        WriteOp::Upsert {
            filter,
            replacement,
            ..
        } => size(filter) + size(replacement),
        WriteOp::Update { filter, update, .. } => {
            size(filter)
                + match update {
                    UpdateModification::Operators(d) => size(d),
                    UpdateModification::Pipeline(stages) => stages.iter().map(size).sum(),
                }
        }
        WriteOp::Delete { filter, .. } => size(filter),
        WriteOp::Insert { document, .. } => size(document),
    }
}

pub(super) fn write_back_failed(error: PortError) -> PipelineError {
    match PipelineError::from(error) {
        PipelineError::Failed {
            code,
            message,
            remediation,
        } => PipelineError::Failed {
            code: if code == "not_authorized" {
                "write_back_not_authorized"
            } else {
                code
            },
            message: format!("Writing edge changes to MongoDB failed: {message}"),
            remediation: if code == "not_authorized" {
                "Grant the connector's database user insert, update and remove on the synced collections and the __edgebridge_* metadata collections."
            } else {
                remediation
            },
        },
        other => other,
    }
}

pub(super) fn refusal_code(error: &PortError) -> &'static str {
    match error.kind {
        ErrorKind::SchemaValidation => "schema_validation",
        ErrorKind::DuplicateKey => "duplicate_key",
        ErrorKind::DocumentTooLarge => "document_too_large",
        ErrorKind::InvalidDocument => "invalid_document",
        _ => "refused",
    }
}

/// The MongoDB write of one edge change: an upsert keyed by the mapped fields (keeping what
/// MongoDB holds and the edge never had), or a delete.
pub(super) fn plan(
    change: &FeedChange,
    config: &MappingConfig,
) -> Result<WriteOp, (String, String)> {
    let refused = |d: edgebridge_mongo::mapping::Diagnostic| {
        (
            d.code.to_owned(),
            format!("{} (at `{}`)", d.message, d.path),
        )
    };
    match &change.document {
        Some(body) => {
            let mongo = to_mongo(body, change.types.as_ref(), config).map_err(refused)?;
            if mongo.preserve.is_empty() {
                return Ok(WriteOp::Upsert {
                    collection: change.collection.clone(),
                    filter: mongo.filter,
                    replacement: mongo.document,
                });
            }
            // MongoDB holds values the edge never had: the edge document replaces the stored
            // one with those read back into it (fields the edge deleted go). A document whose
            // kept values cannot be read back that way is left alone (and recorded) instead: a
            // replacement would drop them.
            let pipeline = mongo.merge_update().map_err(refused)?;
            Ok(WriteOp::Update {
                collection: change.collection.clone(),
                filter: mongo.filter,
                update: UpdateModification::Pipeline(pipeline),
                upsert: true,
            })
        }
        None => {
            let mut id_only = Map::new();
            id_only.insert("_id".to_owned(), change.id.clone());
            let mongo = to_mongo(&id_only, change.types.as_ref(), config).map_err(refused)?;
            Ok(WriteOp::Delete {
                collection: change.collection.clone(),
                filter: mongo.filter,
            })
        }
    }
}

/// The edge document a planned write carries, for its record (as Extended JSON).
pub(super) fn document_of(op: &WriteOp) -> Option<Map<String, Value>> {
    let doc = match op {
        WriteOp::Upsert { replacement, .. } => replacement.clone(),
        WriteOp::Update {
            update: UpdateModification::Pipeline(pipeline),
            ..
        } => carried_document(pipeline)?,
        _ => return None,
    };
    match Bson::Document(doc).into_relaxed_extjson() {
        Value::Object(m) => Some(m),
        _ => None,
    }
}
