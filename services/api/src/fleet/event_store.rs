//! Storing diagnostics events: those of workers' reports, under a per-connector rate limit and
//! bound (debug events under their own), and the api's lifecycle events (paused, moved,
//! reconfigured, alert transitions...). Each carries the collection and document it concerns,
//! when it concerns one, to filter by.

use crate::config::EventLimits;
use crate::error::Result;
use edgebridge_domain::fleet::{
    EventLevel, MAX_EVENT_CONTEXT_BYTES, MAX_EVENT_MESSAGE_CHARS, ReportedEvent,
};
use sqlx::PgPool;
use uuid::Uuid;

const CODE_CHARS: usize = 100;
const ID_CHARS: usize = 512;

pub(super) fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The collection and document an event concerns: its own fields, else its context's
/// `collection` and `documentId`.
fn subject(e: &ReportedEvent) -> (Option<String>, Option<String>) {
    let collection = e.collection.clone().or_else(|| {
        e.context
            .get("collection")
            .and_then(|c| c.as_str())
            .filter(|c| !c.starts_with('$'))
            .map(str::to_owned)
    });
    let document = e.document_id.clone().or_else(|| {
        e.context
            .get("documentId")
            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned))
    });
    (
        collection.map(|c| truncate(&c, ID_CHARS)),
        document.map(|d| truncate(&d, ID_CHARS)),
    )
}

/// Stores what the rate limits let through (the rest only counted in `events_dropped`), then
/// trims the connector's events to the newest `keep_per_connector` (debug events apart). Runs
/// in the report's transaction, after the fenced update took the connector's row lock, so
/// concurrent reports for one connector serialize here.
pub async fn store(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    limits: &EventLimits,
    connector_id: Uuid,
    epoch: i64,
    events: Vec<ReportedEvent>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (recent, recent_debug): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where severity > 0), count(*) filter (where severity = 0)
         from connector_events
         where connector_id = $1 and created_at > now() - interval '1 minute'",
    )
    .bind(connector_id)
    .fetch_one(&mut **tx)
    .await?;
    let mut room = (i64::from(limits.per_minute) - recent).max(0);
    let mut debug_room = (i64::from(limits.debug_per_minute) - recent_debug).max(0);
    let total = events.len();
    let kept: Vec<ReportedEvent> = events
        .into_iter()
        .filter(|e| {
            let budget = if e.level == EventLevel::Debug {
                &mut debug_room
            } else {
                &mut room
            };
            *budget -= 1;
            *budget >= 0
        })
        .collect();
    let dropped = total - kept.len();
    let debug = kept.iter().any(|e| e.level == EventLevel::Debug);
    if !kept.is_empty() {
        insert(&mut **tx, connector_id, epoch, kept).await?;
        trim(tx, connector_id, false, limits.keep_per_connector).await?;
        if debug {
            trim(tx, connector_id, true, limits.debug_keep_per_connector).await?;
        }
    }
    if dropped > 0 {
        sqlx::query(
            "update connectors set events_dropped = events_dropped + $2 where connector_id = $1",
        )
        .bind(connector_id)
        .bind(i64::try_from(dropped).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    connector_id: Uuid,
    epoch: i64,
    events: Vec<ReportedEvent>,
) -> Result<()> {
    let n = events.len();
    let (mut severity, mut code, mut message) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut context, mut at) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut collection, mut document) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for e in events {
        let (c, d) = subject(&e);
        collection.push(c);
        document.push(d);
        severity.push(e.level.severity());
        code.push(truncate(&e.code, CODE_CHARS));
        message.push(truncate(&e.message, MAX_EVENT_MESSAGE_CHARS));
        let ctx = if e.context.is_null() {
            serde_json::json!({})
        } else if serde_json::to_vec(&e.context).map_or(usize::MAX, |v| v.len())
            > MAX_EVENT_CONTEXT_BYTES
        {
            serde_json::json!({"truncated": true})
        } else {
            e.context
        };
        context.push(ctx);
        at.push(e.at);
    }
    sqlx::query(
        "insert into connector_events (connector_id, epoch, severity, code, message, context,
             occurred_at, collection, document_id)
         select $1, $2, * from unnest($3::smallint[], $4::text[], $5::text[], $6::jsonb[],
             $7::timestamptz[], $8::text[], $9::text[])",
    )
    .bind(connector_id)
    .bind(epoch)
    .bind(&severity)
    .bind(&code)
    .bind(&message)
    .bind(&context)
    .bind(&at)
    .bind(&collection)
    .bind(&document)
    .execute(executor)
    .await?;
    Ok(())
}

async fn trim(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    debug: bool,
    keep: i64,
) -> Result<()> {
    sqlx::query(
        "delete from connector_events where connector_id = $1 and (severity = 0) = $3
           and event_id <= (
             select event_id from connector_events where connector_id = $1 and (severity = 0) = $3
             order by event_id desc offset $2 limit 1)",
    )
    .bind(connector_id)
    .bind(keep)
    .bind(debug)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An event the api itself records about a connector (no worker's rate limit: these follow
/// users' actions and the fleet's decisions, a few per connector at most).
pub struct Lifecycle {
    pub level: EventLevel,
    pub code: &'static str,
    pub message: String,
    pub context: serde_json::Value,
    pub collection: Option<String>,
}

impl Lifecycle {
    pub fn info(code: &'static str, message: String, context: serde_json::Value) -> Self {
        Lifecycle {
            level: EventLevel::Info,
            code,
            message,
            context,
            collection: None,
        }
    }
}

/// Records a lifecycle event under the connector's current epoch.
pub async fn record<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    connector_id: Uuid,
    event: Lifecycle,
) -> Result<()> {
    sqlx::query(
        "insert into connector_events (connector_id, epoch, severity, code, message, context,
             occurred_at, collection)
         select connector_id, assignment_epoch, $2, $3, $4, $5, now(), $6
         from connectors where connector_id = $1",
    )
    .bind(connector_id)
    .bind(event.level.severity())
    .bind(event.code)
    .bind(truncate(&event.message, MAX_EVENT_MESSAGE_CHARS))
    .bind(&event.context)
    .bind(&event.collection)
    .execute(executor)
    .await?;
    Ok(())
}

/// Deletes events older than `max_age` (all connectors), in bounded batches.
pub async fn prune(pool: &PgPool, limits: &EventLimits) -> anyhow::Result<u64> {
    let secs = limits.max_age.as_secs_f64();
    let mut total = 0;
    loop {
        let done = sqlx::query(
            "delete from connector_events where event_id in (
                 select event_id from connector_events
                 where created_at < now() - make_interval(secs => $1) limit 10000)",
        )
        .bind(secs)
        .execute(pool)
        .await?;
        total += done.rows_affected();
        if done.rows_affected() < 10_000 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
    }

    #[test]
    fn the_subject_comes_from_the_fields_or_the_context() {
        let mut e = ReportedEvent {
            level: EventLevel::Info,
            code: "x".into(),
            message: String::new(),
            context: serde_json::json!({"collection": "products", "documentId": {"a": 1}}),
            at: chrono::Utc::now(),
            collection: None,
            document_id: None,
        };
        assert_eq!(
            subject(&e),
            (Some("products".into()), Some(r#"{"a":1}"#.into()))
        );
        e.context = serde_json::json!({"collection": "$writeBack", "documentId": "p1"});
        assert_eq!(subject(&e), (None, Some("p1".into())));
        e.collection = Some("orders".into());
        assert_eq!(subject(&e).0.as_deref(), Some("orders"));
    }
}
