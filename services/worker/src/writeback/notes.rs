//! What the write-back tells: warnings while a commit is retried, its counters and events
//! per collection, and the per-document trace of each transaction.

use super::{Planned, Refused, WRITE_BACK_PROGRESS, WriteBack};
use edgebridge_domain::fleet::{EventLevel, ReportedEvent, TraceDirection};
use edgebridge_domain::names::UNSYNCED_DOCUMENTS_COLLECTION;
use edgebridge_mongo::error::PortError;
use edgebridge_mongo::port::{SessionId, WriteOp};

impl WriteBack {
    /// A warning event: a commit failed and is being retried.
    pub(super) fn warn_retrying(&self, error: &PortError, documents: usize) {
        let Ok(mut all) = self.progress.lock() else {
            return;
        };
        let progress = all.entry(WRITE_BACK_PROGRESS.to_owned()).or_default();
        if progress.events.len() < 20 {
            progress.events.push(ReportedEvent {
                level: EventLevel::Warn,
                code: "write_back_retrying".into(),
                message: format!(
                    "Writing {documents} edge document(s) to MongoDB failed: {error}. The write-back retries with backoff; if MongoDB keeps failing it stops and says so."
                ),
                context: serde_json::json!({"kind": format!("{:?}", error.kind)}),
                at: chrono::Utc::now(),
                collection: None,
                document_id: None,
            });
        }
    }

    /// The trace of a committed transaction: each document written, each refused.
    pub(super) fn trace(
        &self,
        session: &SessionId,
        txn: i64,
        written: &[Planned],
        refused: &[Refused],
    ) {
        let session = hex::encode(&session.0);
        for p in written {
            let operation = match &p.op {
                WriteOp::Insert { .. } => "insert",
                WriteOp::Upsert { .. } => "replace",
                WriteOp::Update { .. } => "update",
                WriteOp::Delete { .. } => "delete",
            };
            self.diag.step(
                &p.collection,
                &p.id,
                TraceDirection::EdgeToMongo,
                "write_back",
                || serde_json::json!({"operation": operation, "session": session, "txnNumber": txn}),
            );
        }
        for r in refused {
            self.diag.step(
                &r.collection,
                &r.id,
                TraceDirection::EdgeToMongo,
                "refused",
                || serde_json::json!({"code": r.code, "message": r.message, "recordId": r.record_id}),
            );
        }
    }

    pub(super) fn note(&self, written: &[Planned], refused: &[Refused]) {
        let Ok(mut all) = self.progress.lock() else {
            return;
        };
        for p in written {
            all.entry(p.collection.clone()).or_default().written_back += 1;
        }
        for r in refused {
            let progress = all.entry(r.collection.clone()).or_default();
            progress.unsynced += 1;
            if progress.events.len() < 20 {
                progress.events.push(ReportedEvent {
                    level: EventLevel::Warn,
                    code: "document_unsynced".into(),
                    message: format!(
                        "The edge document {} of {} was not written to MongoDB: {}. It is recorded in {}.",
                        r.id, r.collection, r.message, UNSYNCED_DOCUMENTS_COLLECTION
                    ),
                    context: serde_json::json!({
                        "collection": r.collection,
                        "id": r.id,
                        "reason": r.code,
                    }),
                    at: chrono::Utc::now(),
                    collection: Some(r.collection.clone()),
                    document_id: Some(r.id.to_string()),
                });
            }
        }
    }
}
