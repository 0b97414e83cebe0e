//! What the write-back keeps in MongoDB (its session records, the unsynced-document records) and
//! the edge feed it reads.

use super::{MAX_RECORDED_DOCUMENT, Refused, UnsyncedRecords};
use crate::client::ApiClient;
use crate::pipeline::{PipelineError, while_unavailable};
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_domain::fleet::WriteBackPosition;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::error::{ErrorKind, PortError};
use edgebridge_mongo::port::{MongoPort, SessionId, WriteOp};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// What a run needs from the metadata collections before anything streams.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Sessions of this connector whose events may still be in a stream.
    pub sessions: HashSet<SessionId>,
    /// Session records older than the retention: deleted by this run's first commit.
    pub stale: Vec<Bson>,
    /// This connector's unsynced-document records (for the api's mirror too).
    pub unsynced: UnsyncedRecords,
}

/// Reads the connector's session and unsynced-document records. A missing collection holds
/// none.
pub async fn load_recorded(
    port: &dyn MongoPort,
    database: &str,
    connector_id: Uuid,
    retention: Duration,
) -> Result<Recorded, PortError> {
    let connector = connector_id.to_string();
    let mut recorded = Recorded::default();
    let cutoff = bson::DateTime::from_millis(
        bson::DateTime::now()
            .timestamp_millis()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)),
    );
    for doc in scan_all(port, database, SESSIONS_COLLECTION).await? {
        if doc.get_str("connectorId").ok() != Some(connector.as_str()) {
            continue;
        }
        let Some(Bson::Binary(bin)) = doc.get("_id") else {
            continue;
        };
        // Kept while in use: every transaction of the session renews `usedAt`.
        let used = doc
            .get_datetime("usedAt")
            .or_else(|_| doc.get_datetime("startedAt"))
            .copied()
            .unwrap_or(cutoff);
        if used < cutoff {
            recorded.stale.push(Bson::Binary(bin.clone()));
        } else {
            recorded.sessions.insert(SessionId(bin.bytes.clone()));
        }
    }
    let prefix = format!("{connector}:");
    for doc in scan_all(port, database, UNSYNCED_DOCUMENTS_COLLECTION).await? {
        if let Ok(id) = doc.get_str("_id")
            && id.starts_with(&prefix)
        {
            recorded.unsynced.load(id, &doc);
        }
    }
    Ok(recorded)
}

async fn scan_all(
    port: &dyn MongoPort,
    database: &str,
    collection: &str,
) -> Result<Vec<Document>, PortError> {
    let mut out = Vec::new();
    let mut after: Option<Bson> = None;
    loop {
        let batch = match port.scan(database, collection, after.as_ref(), 1000).await {
            Ok(batch) => batch,
            Err(e) if e.kind == ErrorKind::NamespaceNotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let full = batch.len() == 1000;
        after = batch.last().and_then(|d| d.get("_id")).cloned();
        out.extend(batch);
        if !full || after.is_none() {
            return Ok(out);
        }
    }
}

/// The edge feed of the connector's collections, as the write-back reads it.
pub(super) struct Feed {
    pub(super) client: ApiClient,
    pub(super) connector_id: Uuid,
    pub(super) epoch: i64,
    pub(super) limit: u32,
    pub(super) wait_secs: u32,
}

impl Feed {
    pub(super) async fn fetch(
        &self,
        after: Option<&str>,
    ) -> Result<edgebridge_domain::fleet::FeedPage, PipelineError> {
        while_unavailable(self.connector_id, "reading the edge feed", || {
            self.client.changes(
                self.connector_id,
                self.epoch,
                after,
                self.limit,
                self.wait_secs,
            )
        })
        .await
    }

    pub(super) async fn save(&self, cursor: Option<String>) -> Result<(), PipelineError> {
        let position = WriteBackPosition {
            epoch: self.epoch,
            cursor,
        };
        while_unavailable(self.connector_id, "saving the write-back position", || {
            self.client
                .save_write_back_position(self.connector_id, &position)
        })
        .await
    }
}

pub(super) fn session_binary(id: &SessionId) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: id.0.clone(),
    })
}

/// The unsynced-document record (one per document: a later refusal replaces it).
pub(super) fn unsynced_record(connector_id: Uuid, r: &Refused) -> WriteOp {
    let document = r
        .document
        .as_ref()
        .filter(|_| !r.without_document)
        .and_then(|d| serde_json::to_string(d).ok())
        .filter(|json| json.len() <= MAX_RECORDED_DOCUMENT);
    let mut record = doc! {
        "_id": &r.record_id,
        "connectorId": connector_id.to_string(),
        "collection": &r.collection,
        "edgeId": r.id.to_string(),
        "code": &r.code,
        "error": &r.message,
        "at": bson::DateTime::now(),
    };
    match document {
        Some(json) => record.insert("document", json),
        None => record.insert("documentOmitted", true),
    };
    WriteOp::Upsert {
        collection: UNSYNCED_DOCUMENTS_COLLECTION.to_owned(),
        filter: doc! {"_id": &r.record_id},
        replacement: record,
    }
}
