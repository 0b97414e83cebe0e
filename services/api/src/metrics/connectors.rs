//! Per-connector and per-collection series, read at scrape time from `connector_collection_stats`
//! (totals kept across runs, lag at the last report) and `connectors` (status), labelled
//! `connector_id`, `app_id` and `collection`. `EDGEBRIDGE_METRICS_PER_CONNECTOR=false` leaves
//! them all out.
//!
//! What one connector costs, at most: 10 series per collection (lag both ways, 4 document
//! kinds, unsynced, errors, pending writes, last synced) and 1 for the connector (`up`). Lag and
//! last-synced series appear once the worker reported them.

use super::fleet::gauges;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Collection rows read per scrape (10 series each); past it the rest are left out and
/// `edgebridge_metrics_per_connector_truncated` says so.
pub const MAX_COLLECTIONS: i64 = 20_000;
/// Connector rows read per scrape (1 series each).
pub const MAX_CONNECTORS: i64 = 20_000;

#[derive(Debug, sqlx::FromRow)]
struct CollectionRow {
    connector_id: Uuid,
    app_id: Uuid,
    collection: String,
    copied: i64,
    applied: i64,
    written_back: i64,
    skipped: i64,
    unsynced: i64,
    errors: i64,
    lag_in_ms: Option<i64>,
    lag_out_ms: Option<i64>,
    pending_out: i64,
    last_synced: Option<f64>,
}

#[derive(Debug, sqlx::FromRow)]
struct ConnectorRow {
    connector_id: Uuid,
    app_id: Uuid,
    status: String,
    desired_state: String,
    on_live_worker: bool,
}

/// The per-connector rows of one scrape.
#[derive(Debug, Default)]
pub struct ConnectorSeries {
    collections: Vec<CollectionRow>,
    connectors: Vec<ConnectorRow>,
    truncated: bool,
}

/// A collection's labels, as strings (ids formatted once).
struct Labels {
    connector_id: String,
    app_id: String,
    collection: String,
}

impl Labels {
    fn of(row: &CollectionRow) -> Self {
        Self {
            connector_id: row.connector_id.to_string(),
            app_id: row.app_id.to_string(),
            collection: row.collection.clone(),
        }
    }

    fn base(&self) -> [(&str, &str); 3] {
        [
            ("connector_id", self.connector_id.as_str()),
            ("app_id", self.app_id.as_str()),
            ("collection", self.collection.as_str()),
        ]
    }

    fn with<'a>(&'a self, key: &'a str, value: &'a str) -> [(&'a str, &'a str); 4] {
        let [a, b, c] = self.base();
        [a, b, c, (key, value)]
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

impl ConnectorSeries {
    pub(super) async fn read(tx: &mut Transaction<'static, Postgres>) -> sqlx::Result<Self> {
        let mut collections: Vec<CollectionRow> = sqlx::query_as(
            "select s.connector_id, c.app_id, s.collection, s.copied, s.applied, s.written_back,
                    s.skipped, s.unsynced, s.errors, s.lag_in_ms, s.lag_out_ms, s.pending_out,
                    extract(epoch from s.last_synced_at)::float8 as last_synced
             from connector_collection_stats s join connectors c using (connector_id)
             order by s.connector_id, s.collection limit $1",
        )
        .bind(MAX_COLLECTIONS + 1)
        .fetch_all(&mut **tx)
        .await?;
        let mut connectors: Vec<ConnectorRow> = sqlx::query_as(
            "select c.connector_id, c.app_id, c.status, c.desired_state,
                    coalesce(w.state = 'live', false) as on_live_worker
             from connectors c left join workers w on w.worker_id = c.assigned_worker_id
             order by c.connector_id limit $1",
        )
        .bind(MAX_CONNECTORS + 1)
        .fetch_all(&mut **tx)
        .await?;
        let truncated =
            collections.len() as i64 > MAX_COLLECTIONS || connectors.len() as i64 > MAX_CONNECTORS;
        if truncated {
            tracing::warn!(
                max_collections = MAX_COLLECTIONS,
                max_connectors = MAX_CONNECTORS,
                "metrics: more connectors than one scrape lists; the rest are left out (EDGEBRIDGE_METRICS_PER_CONNECTOR=false drops per-connector series)"
            );
        }
        collections.truncate(MAX_COLLECTIONS as usize);
        connectors.truncate(MAX_CONNECTORS as usize);
        Ok(Self {
            collections,
            connectors,
            truncated,
        })
    }

    pub(super) fn encode(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let none: [(&str, &str); 0] = [];
        gauges(
            encoder,
            "edgebridge_metrics_per_connector_truncated",
            "1 when there were more connectors or collections than one scrape lists (20000 each), and some were left out",
            [(none, i64::from(self.truncated))],
        )?;
        let labels: Vec<Labels> = self.collections.iter().map(Labels::of).collect();
        if !labels.is_empty() {
            self.encode_totals(encoder, &labels)?;
        }
        let rows = || self.collections.iter().zip(&labels);
        gauges(
            encoder,
            "edgebridge_connector_lag_seconds",
            "Sync lag at the last report: mongo_to_edge is now minus the cluster time of the last change applied (0 when caught up), edge_to_mongo the age of the oldest edge change not yet written back",
            rows().flat_map(|(row, l)| {
                [
                    (row.lag_in_ms, "mongo_to_edge"),
                    (row.lag_out_ms, "edge_to_mongo"),
                ]
                .into_iter()
                .filter_map(move |(ms, direction)| {
                    ms.map(|ms| (l.with("direction", direction), seconds(ms)))
                })
            }),
        )?;
        gauges(
            encoder,
            "edgebridge_connector_unsynced_documents",
            "Edge documents MongoDB refused, recorded as unsynced",
            rows().map(|(row, l)| (l.base(), row.unsynced)),
        )?;
        gauges(
            encoder,
            "edgebridge_connector_pending_writes",
            "Edge changes not yet written back to MongoDB",
            rows().map(|(row, l)| (l.base(), row.pending_out)),
        )?;
        gauges(
            encoder,
            "edgebridge_connector_last_synced_timestamp_seconds",
            "When the collection was last known up to date from MongoDB (Unix time)",
            rows().filter_map(|(row, l)| row.last_synced.map(|at| (l.base(), at))),
        )?;
        let ids: Vec<(String, String)> = self
            .connectors
            .iter()
            .map(|c| (c.connector_id.to_string(), c.app_id.to_string()))
            .collect();
        gauges(
            encoder,
            "edgebridge_connector_up",
            "1 when the connector runs on a live worker, else 0; status is the last reported one (pending, running, failed, paused)",
            self.connectors.iter().zip(&ids).map(|(c, (id, app))| {
                let up = c.status == "running" && c.desired_state == "running" && c.on_live_worker;
                (
                    [
                        ("connector_id", id.as_str()),
                        ("app_id", app.as_str()),
                        ("status", c.status.as_str()),
                    ],
                    i64::from(up),
                )
            }),
        )
    }

    /// The counters of each collection (documents by kind, errors).
    fn encode_totals(
        &self,
        encoder: &mut DescriptorEncoder,
        labels: &[Labels],
    ) -> std::fmt::Result {
        {
            let mut family = encoder.encode_descriptor(
                "edgebridge_connector_documents",
                "Documents synced since the connector was created, by kind: copied (initial sync), applied (changes MongoDB -> edge), written_back (edge -> MongoDB), skipped (filtered, unmappable, echoes)",
                None,
                MetricType::Counter,
            )?;
            for (row, l) in self.collections.iter().zip(labels) {
                for (kind, n) in [
                    ("copied", row.copied),
                    ("applied", row.applied),
                    ("written_back", row.written_back),
                    ("skipped", row.skipped),
                ] {
                    let labels = l.with("kind", kind);
                    ConstCounter::new(count(n)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "edgebridge_connector_errors",
                "Failures of the collection's pipeline since the connector was created (each restart counts one)",
                None,
                MetricType::Counter,
            )?;
            for (row, l) in self.collections.iter().zip(labels) {
                let labels = l.base();
                ConstCounter::new(count(row.errors)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
