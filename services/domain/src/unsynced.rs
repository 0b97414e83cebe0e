//! The api's mirror of a connector's unsynced-document records (the edge documents MongoDB
//! refused, kept by the write-back in the customer's `__edgebridge_unsynced_documents`): what a
//! worker reports at `POST /internal/v1/workers/{workerId}/connectors/{connectorId}/unsynced`,
//! and the discards users asked for, which the worker carries out and acknowledges. Fenced by
//! the assignment epoch like every report (409 `stale_epoch`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Records (upserted, removed and discarded together) one report may carry.
pub const MAX_RECORDS_PER_REPORT: usize = 1_000;
/// Longest refusal message kept (characters); longer ones are cut.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// Most discards one answer hands out (the rest come with the next answers).
pub const MAX_DISCARDS_PER_ANSWER: usize = 500;

/// Longest record id, collection name, document id and code a report may carry (bytes).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// `GET` (`?epoch=`: the discards to carry out) and `POST` (an [`UnsyncedReport`]).
pub fn path(worker: Uuid, connector: Uuid) -> String {
    format!("/internal/v1/workers/{worker}/connectors/{connector}/unsynced")
}

/// One record as the write-back keeps it in MongoDB.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedRecord {
    /// The record's `_id` (`<connectorId>:<collection>:<edge id as JSON>`).
    pub record_id: String,
    pub collection: String,
    /// The edge document's `_id` as JSON text.
    pub document_id: String,
    /// Why it was not written (`schema_validation`, `duplicate_key`, `document_too_large`...).
    pub code: String,
    pub message: String,
    /// When MongoDB refused it.
    pub at: DateTime<Utc>,
}

impl UnsyncedRecord {
    /// Within what the api takes: an id, and no field past [`MAX_FIELD_BYTES`]. (A record that
    /// is not is left out of reports: the api would refuse the whole report.)
    pub fn is_reportable(&self) -> bool {
        !self.record_id.is_empty()
            && [
                &self.record_id,
                &self.collection,
                &self.document_id,
                &self.code,
            ]
            .iter()
            .all(|f| f.len() <= MAX_FIELD_BYTES)
    }
}

/// Record ids (compared byte by byte) a reconciling report lists completely: rows of the mirror
/// in the range that the report does not list are no longer in MongoDB.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRange {
    /// Exclusive lower bound; from the first id when absent.
    pub after: Option<String>,
    /// Inclusive upper bound; to the last id when absent.
    pub through: Option<String>,
}

/// What changed in the connector's records since the last report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedReport {
    pub epoch: i64,
    /// Records written (a refusal, or a refusal again): each counts one attempt. In a
    /// reconciling report, the records MongoDB holds in the range (no attempt counted).
    #[serde(default)]
    pub upserted: Vec<UnsyncedRecord>,
    /// Records deleted because their documents were written after all.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Records deleted because a user discarded them (acknowledges the discard).
    #[serde(default)]
    pub discarded: Vec<String>,
    /// Present at the start of a run, when the worker sends every record it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileRange>,
}

impl UnsyncedReport {
    pub fn len(&self) -> usize {
        self.upserted.len() + self.removed.len() + self.discarded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.reconcile.is_none()
    }
}

/// The api's answer: records users asked to discard (the worker deletes them in MongoDB, then
/// reports them as `discarded`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnsyncedAnswer {
    #[serde(default)]
    pub discard: Vec<String>,
}

/// `text` cut to `chars` characters (with an ellipsis when cut).
pub fn truncate_message(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A run's records as reconciling reports of at most `page` records each, in id order, whose
/// ranges together cover every id: the first starts at the first id, each next one after the
/// previous one's last record, the last has no upper bound. No records: one report that
/// clears the whole mirror.
pub fn reconcile_reports(
    epoch: i64,
    mut records: Vec<UnsyncedRecord>,
    page: usize,
) -> Vec<UnsyncedReport> {
    records.retain(UnsyncedRecord::is_reportable);
    records.sort_by(|a, b| a.record_id.cmp(&b.record_id));
    records.dedup_by(|a, b| a.record_id == b.record_id);
    let page = page.max(1);
    let mut reports = Vec::new();
    let mut after: Option<String> = None;
    let mut rest = records.into_iter().peekable();
    loop {
        let upserted: Vec<UnsyncedRecord> = rest.by_ref().take(page).collect();
        let last_page = rest.peek().is_none();
        let through = if last_page {
            None
        } else {
            upserted.last().map(|r| r.record_id.clone())
        };
        let next_after = through.clone();
        reports.push(UnsyncedReport {
            epoch,
            upserted,
            removed: Vec::new(),
            discarded: Vec::new(),
            reconcile: Some(ReconcileRange {
                after: after.take(),
                through,
            }),
        });
        if last_page {
            return reports;
        }
        after = next_after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> UnsyncedRecord {
        UnsyncedRecord {
            record_id: id.to_owned(),
            collection: "c".into(),
            document_id: "\"x\"".into(),
            code: "schema_validation".into(),
            message: "refused".into(),
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn no_records_is_one_report_over_everything() {
        let reports = reconcile_reports(3, Vec::new(), 2);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].epoch, 3);
        assert_eq!(reports[0].reconcile, Some(ReconcileRange::default()));
        assert!(reports[0].upserted.is_empty());
    }

    #[test]
    fn pages_cover_every_id_in_order_without_gaps() {
        let mut records = ["e", "a", "d", "b", "c", "a"].map(record).to_vec();
        let mut unreportable = record("f");
        unreportable.document_id = "x".repeat(MAX_FIELD_BYTES + 1);
        records.push(unreportable);
        let reports = reconcile_reports(1, records, 2);
        let ranges: Vec<(Option<&str>, Option<&str>)> = reports
            .iter()
            .map(|r| {
                let range = r.reconcile.as_ref().unwrap();
                (range.after.as_deref(), range.through.as_deref())
            })
            .collect();
        assert_eq!(
            ranges,
            vec![(None, Some("b")), (Some("b"), Some("d")), (Some("d"), None)]
        );
        let ids: Vec<&str> = reports
            .iter()
            .flat_map(|r| r.upserted.iter().map(|u| u.record_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec!["a", "b", "c", "d", "e"],
            "sorted, once each, all reportable"
        );
    }

    #[test]
    fn a_full_last_page_still_ends_unbounded() {
        let reports = reconcile_reports(1, ["a", "b"].map(record).to_vec(), 2);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].reconcile, Some(ReconcileRange::default()));
        assert_eq!(reports[0].upserted.len(), 2);
    }

    #[test]
    fn messages_are_cut_by_characters() {
        assert_eq!(truncate_message("héllo", 2), "hé…");
        assert_eq!(truncate_message("hi", 2), "hi");
    }
}
