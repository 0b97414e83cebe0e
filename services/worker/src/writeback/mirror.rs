//! The api's mirror of the connector's unsynced-document records (users list, retry and discard
//! them there). Every record the write-back writes or removes in MongoDB is reported after its
//! commit; when a run starts, every record read from MongoDB is, so the api's mirror is right
//! after an outage too (a report lost to a crash included). Discards users ask for come in the
//! api's answers, and, while the connector has records, from a poll now and then (at most every
//! `idle_checkpoint`, between pages of the feed): the write-back deletes those records in
//! MongoDB between its batches, never beside one, and acknowledges them.

use super::{Refused, WriteBack};
use crate::pipeline::{PipelineError, while_unavailable};
use bson::{Document, doc};
use chrono::Utc;
use edgebridge_domain::names::UNSYNCED_DOCUMENTS_COLLECTION;
use edgebridge_domain::unsynced::{
    MAX_MESSAGE_CHARS, UnsyncedRecord, UnsyncedReport, reconcile_reports, truncate_message,
};
use edgebridge_mongo::port::{WriteOp, WriteSession};
use std::collections::BTreeSet;
use std::time::Instant;

/// Records per report (well inside the api's bound).
const REPORT_PAGE: usize = 500;

/// The connector's unsynced-document records, as this run knows them.
#[derive(Debug, Default)]
pub struct UnsyncedRecords {
    /// The records' ids (`_id` in MongoDB).
    ids: BTreeSet<String>,
    /// The records read from MongoDB before the run, until the api's mirror is reconciled with
    /// them.
    loaded: Vec<UnsyncedRecord>,
    /// Records users asked to discard, not yet deleted.
    discards: Vec<String>,
    /// When the api was last asked for discards.
    polled: Option<Instant>,
}

impl UnsyncedRecords {
    /// A record read from MongoDB (`id`: its `_id`).
    pub fn load(&mut self, id: &str, record: &Document) {
        let text = |field: &str| record.get_str(field).unwrap_or_default().to_owned();
        self.loaded.push(UnsyncedRecord {
            record_id: id.to_owned(),
            collection: text("collection"),
            document_id: text("edgeId"),
            code: text("code"),
            message: truncate_message(
                record.get_str("error").unwrap_or_default(),
                MAX_MESSAGE_CHARS,
            ),
            at: record
                .get_datetime("at")
                .ok()
                .and_then(|at| chrono::DateTime::from_timestamp_millis(at.timestamp_millis()))
                .unwrap_or_else(Utc::now),
        });
        self.ids.insert(id.to_owned());
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub fn insert(&mut self, id: String) {
        self.ids.insert(id);
    }

    pub fn remove(&mut self, id: &str) {
        self.ids.remove(id);
    }
}

impl WriteBack {
    /// At the start of a run: the api's mirror made to hold exactly the records MongoDB holds.
    pub(super) async fn reconcile_mirror(&mut self) -> Result<(), PipelineError> {
        let loaded = std::mem::take(&mut self.unsynced.loaded);
        for report in reconcile_reports(self.epoch, loaded, REPORT_PAGE) {
            self.report_unsynced(&report).await?;
        }
        self.unsynced.polled = Some(Instant::now());
        Ok(())
    }

    /// After a commit: the records it wrote (`refused`) and deleted (`cleared`).
    pub(super) async fn mirror(
        &mut self,
        refused: &[Refused],
        cleared: &[String],
    ) -> Result<(), PipelineError> {
        let at = Utc::now();
        let mut upserted = refused
            .iter()
            .map(|r| UnsyncedRecord {
                record_id: r.record_id.clone(),
                collection: r.collection.clone(),
                document_id: r.id.to_string(),
                code: r.code.clone(),
                message: truncate_message(&r.message, MAX_MESSAGE_CHARS),
                at,
            })
            .filter(UnsyncedRecord::is_reportable);
        let mut removed = cleared.iter().cloned();
        loop {
            let report = UnsyncedReport {
                epoch: self.epoch,
                upserted: upserted.by_ref().take(REPORT_PAGE).collect(),
                removed: removed.by_ref().take(REPORT_PAGE).collect(),
                ..Default::default()
            };
            if report.is_empty() {
                return Ok(());
            }
            self.report_unsynced(&report).await?;
        }
    }

    /// Between pages: the discards users asked for, deleted in MongoDB (one transaction) and
    /// acknowledged.
    pub(super) async fn carry_out_discards(
        &mut self,
        session: &mut dyn WriteSession,
    ) -> Result<(), PipelineError> {
        let due = !self.unsynced.ids.is_empty()
            && self
                .unsynced
                .polled
                .is_none_or(|at| at.elapsed() >= self.settings.idle_checkpoint);
        if due {
            let (client, connector_id, epoch) = (&self.client, self.connector_id, self.epoch);
            let answer =
                while_unavailable(connector_id, "reading unsynced-document discards", || {
                    client.unsynced_discards(connector_id, epoch)
                })
                .await?;
            self.unsynced.discards = answer.discard;
            self.unsynced.polled = Some(Instant::now());
        }
        if self.unsynced.discards.is_empty() {
            return Ok(());
        }
        let discarded = std::mem::take(&mut self.unsynced.discards);
        let ops: Vec<WriteOp> = discarded
            .iter()
            .map(|id| WriteOp::Delete {
                collection: UNSYNCED_DOCUMENTS_COLLECTION.to_owned(),
                filter: doc! {"_id": id},
            })
            .collect();
        self.commit_metadata(session, &ops).await?;
        for id in &discarded {
            self.unsynced.remove(id);
        }
        tracing::info!(connector_id = %self.connector_id, records = discarded.len(), "unsynced-document records discarded");
        let report = UnsyncedReport {
            epoch: self.epoch,
            discarded,
            ..Default::default()
        };
        self.report_unsynced(&report).await
    }

    /// Sends a report; the discards in the answer are carried out between the next pages.
    async fn report_unsynced(&mut self, report: &UnsyncedReport) -> Result<(), PipelineError> {
        let (client, connector_id) = (&self.client, self.connector_id);
        let answer = while_unavailable(connector_id, "reporting unsynced documents", || {
            client.report_unsynced(connector_id, report)
        })
        .await?;
        self.unsynced.discards = answer.discard;
        Ok(())
    }
}
