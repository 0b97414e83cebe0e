//! The change feed's one query: a bounded window of the app's changes after a position, the
//! changes of it a reader keeps, and where the window ended.

use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug)]
pub struct ChangeRow {
    pub tx_id: String,
    pub change_id: i64,
    pub collection: String,
    pub doc_key: String,
    pub value: Option<Vec<u8>>,
    pub origin: Option<String>,
    pub actor: String,
    pub committed_at: chrono::DateTime<chrono::Utc>,
}

/// One read of the feed.
#[derive(Debug, Default)]
pub struct Window {
    /// The changes the reader keeps, in order (at most `limit`).
    pub changes: Vec<ChangeRow>,
    /// The last change the window read, kept or not.
    pub scanned_to: Option<(String, i64)>,
    /// How many changes the window read (at most `scan`).
    pub scanned: i64,
    /// A change after the position is committed but not yet listable, because an older
    /// transaction is still running: it may become readable without a notification.
    pub pending: bool,
}

impl Window {
    /// Where the reader continues: after the last kept change when the page filled up (more
    /// kept changes may follow within the window), else after everything the window read.
    pub fn position(&self, limit: usize) -> Option<(String, i64)> {
        match self.changes.last() {
            Some(last) if self.changes.len() >= limit => Some((last.tx_id.clone(), last.change_id)),
            _ => self.scanned_to.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    tx_id: Option<String>,
    change_id: Option<i64>,
    collection: Option<String>,
    doc_key: Option<String>,
    value: Option<Vec<u8>>,
    origin: Option<String>,
    actor: Option<String>,
    committed_at: Option<chrono::DateTime<chrono::Utc>>,
    scanned_tx: Option<String>,
    scanned_change: Option<i64>,
    scanned_rows: i64,
    pending: bool,
}

/// Reads at most `scan` changes after `(tx_id, change_id)` whose transactions are older than
/// every running one (so no change can later appear before them), and keeps at most `limit` of
/// them: those of `collections` (all when `None`) not written with `exclude_origin`. Whatever
/// the filter keeps, the window's end is returned, so a reader's cursor always moves past what
/// was read and a re-check never reads it again. Values are read only for kept changes.
pub async fn read_window(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    after: (&str, i64),
    collections: Option<&[String]>,
    exclude_origin: Option<&str>,
    limit: i64,
    scan: i64,
) -> sqlx::Result<Window> {
    let rows: Vec<Row> = sqlx::query_as(
        "with scanned as (
             select tx_id, change_id, collection, doc_key, origin, actor, committed_at,
                    row_number() over (order by tx_id, change_id) as n
             from store_changes
             where app_id = $1 and (tx_id, change_id) > ($2::text::xid8, $3)
               and tx_id < pg_snapshot_xmin(pg_current_snapshot())
             -- The table's columns: numeric order, and the index.
             order by store_changes.tx_id, change_id
             limit $7
         ), kept as (
             select * from scanned
             where ($4::text[] is null or collection = any($4))
               and ($6::text is null or origin is distinct from $6)
             order by n
             limit $5
         ), head as (
             select t.tx_id::text as scanned_tx, t.change_id as scanned_change,
                    (select count(*) from scanned) as scanned_rows,
                    exists(select 1 from store_changes p
                           where p.app_id = $1
                             and p.tx_id >= greatest(pg_snapshot_xmin(pg_current_snapshot()),
                                                     $2::text::xid8)
                             and (p.tx_id, p.change_id) > ($2::text::xid8, $3)) as pending
             from (select 1) as one
             left join scanned t on t.n = (select count(*) from scanned)
         )
         select k.tx_id::text as tx_id, k.change_id, k.collection, k.doc_key, c.value, k.origin,
                k.actor, k.committed_at, h.scanned_tx, h.scanned_change, h.scanned_rows, h.pending
         from head h
         left join kept k on true
         left join store_changes c
                on c.app_id = $1 and c.tx_id = k.tx_id and c.change_id = k.change_id
         order by k.n",
    )
    .persistent(false)
    .bind(app_id)
    .bind(after.0)
    .bind(after.1)
    .bind(collections)
    .bind(limit)
    .bind(exclude_origin)
    .bind(scan)
    .fetch_all(db)
    .await?;
    let mut window = Window::default();
    for row in rows {
        window.scanned = row.scanned_rows;
        window.pending = row.pending;
        if let (Some(tx), Some(change)) = (row.scanned_tx, row.scanned_change) {
            window.scanned_to = Some((tx, change));
        }
        if let (
            Some(tx_id),
            Some(change_id),
            Some(collection),
            Some(doc_key),
            Some(actor),
            Some(at),
        ) = (
            row.tx_id,
            row.change_id,
            row.collection,
            row.doc_key,
            row.actor,
            row.committed_at,
        ) {
            window.changes.push(ChangeRow {
                tx_id,
                change_id,
                collection,
                doc_key,
                value: row.value,
                origin: row.origin,
                actor,
                committed_at: at,
            });
        }
    }
    Ok(window)
}
