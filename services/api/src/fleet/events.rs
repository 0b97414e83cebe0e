//! Diagnostics events, listed to the connector's tenant newest first, filtered by severity,
//! text, collection and document. Storing them (from reports, and the api's own lifecycle
//! events) is in [`super::event_store`].

pub use super::event_store::{Lifecycle, prune, record, store};

use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::EventLevel;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A diagnostics event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventOut {
    /// Opaque; pass it as `after` to list older events.
    pub id: String,
    #[schema(value_type = String, example = "warn")]
    pub level: &'static str,
    #[schema(example = "cluster_unreachable")]
    pub code: String,
    pub message: String,
    /// Details (check, error class, remediation...).
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// The collection it concerns, if one.
    pub collection: Option<String>,
    /// The document it concerns (its edge id as JSON text, e.g. `"p1"` or `{"sku":"a"}`), if one.
    pub document_id: Option<String>,
    /// The assignment epoch the event was reported under.
    pub epoch: i64,
    /// When it happened on the worker.
    pub occurred_at: DateTime<Utc>,
    /// When the api stored it.
    pub recorded_at: DateTime<Utc>,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub items: Vec<EventOut>,
    /// Pass as `after` for older events; absent on the last page.
    pub next_cursor: Option<String>,
    /// Events the worker reported beyond the rate limit (not stored), since the connector was
    /// created.
    pub dropped: i64,
}

/// Filters of the events list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The lowest severity shown: `info` (the default), `warn` or `error`; `debug` also shows
    /// the debug events of debug mode.
    #[param(value_type = Option<String>, example = "warn")]
    pub level: Option<String>,
    /// Only events whose code or message contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only events about this collection.
    pub collection: Option<String>,
    /// Only events about this document: its id as the edge holds it, as JSON text for
    /// composite or non-string ids (`{"sku":"a"}`), or the plain string.
    pub document_id: Option<String>,
    /// The `nextCursor` of the previous page (or an event's `id`): events older than it.
    pub after: Option<String>,
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("ev:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix("ev:")?.parse().ok()
}

fn parse_level(level: Option<&str>) -> Result<i16> {
    let level = match level {
        Some("debug") => EventLevel::Debug,
        None | Some("") | Some("info") => EventLevel::Info,
        Some("warn") | Some("warning") => EventLevel::Warn,
        Some("error") => EventLevel::Error,
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/level",
                "`level` must be `debug`, `info`, `warn` or `error`",
            ));
        }
    };
    Ok(level.severity())
}

fn level_name(severity: i16) -> &'static str {
    match severity {
        3 => EventLevel::Error.as_str(),
        2 => EventLevel::Warn.as_str(),
        1 => EventLevel::Info.as_str(),
        _ => EventLevel::Debug.as_str(),
    }
}

/// `%`, `_` and `\` are literal in the search text.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: i64,
    severity: i16,
    code: String,
    message: String,
    context: serde_json::Value,
    collection: Option<String>,
    document_id: Option<String>,
    epoch: i64,
    occurred_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// List a connector's diagnostics events
///
/// Newest first. Filter by lowest severity (`level`), search code and message (`q`), and by the
/// collection or document an event concerns; page with `after`. Besides workers' reports, the
/// lifecycle is recorded: started, paused, resumed, restarted, moved, copies started and
/// finished, reconfigured, credentials rotated, alerts. Events are kept for a limited time and number per connector, and a connector
/// reporting too many has the excess counted in `dropped` instead of stored.
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/events", operation_id = "listConnectorEvents", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), EventParams),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventPage),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Json<EventPage>> {
    auth.check_app(app_id)?;
    let severity = parse_level(params.level.as_deref())?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            "`limit` must be between 1 and 100",
        ));
    }
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::bad_field(
                "invalid_cursor",
                "/after",
                "`after` is not a cursor this API returned; pass `nextCursor` (or an event's `id`) unchanged",
            )
        })?),
    };
    let q = params.q.as_deref().filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/q",
            "`q` is at most 200 characters",
        ));
    }
    let collection = params.collection.as_deref().filter(|c| !c.is_empty());
    let document = params.document_id.as_deref().filter(|d| !d.is_empty());
    for (path, value) in [("/collection", collection), ("/documentId", document)] {
        if value.is_some_and(|v| v.chars().count() > 512) {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                path,
                "at most 512 characters",
            ));
        }
    }
    let dropped: Option<(i64,)> = sqlx::query_as(
        "select events_dropped from connectors
         where org_id = $1 and app_id = $2 and connector_id = $3",
    )
    .bind(auth.org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(&state.pool)
    .await?;
    let (dropped,) = dropped.ok_or(ApiError::NotFound("connector"))?;
    let rows: Vec<EventRow> = sqlx::query_as(
        "select event_id, severity, code, message, context, collection, document_id, epoch,
                occurred_at, created_at
         from connector_events
         where connector_id = $1 and severity >= $2
           and ($3::bigint is null or event_id < $3)
           and ($4::text is null or message ilike $4 or code ilike $4)
           and ($6::text is null or collection = $6)
           and ($7::text is null or document_id = $7 or document_id = $8)
         order by event_id desc limit $5",
    )
    .bind(connector_id)
    .bind(severity)
    .bind(after)
    .bind(q.map(like_pattern))
    .bind(i64::from(limit) + 1)
    .bind(collection)
    .bind(document)
    .bind(document.map(|d| serde_json::Value::String(d.to_owned()).to_string()))
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() > limit as usize;
    let mut items: Vec<EventOut> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| EventOut {
            id: encode_cursor(r.event_id),
            level: level_name(r.severity),
            code: r.code,
            message: r.message,
            context: r.context,
            collection: r.collection,
            document_id: r.document_id,
            epoch: r.epoch,
            occurred_at: r.occurred_at,
            recorded_at: r.created_at,
        })
        .collect();
    items.shrink_to_fit();
    let next_cursor = if more {
        items.last().map(|e| e.id.clone())
    } else {
        None
    };
    Ok(Json(EventPage {
        items,
        next_cursor,
        dropped,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_text() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("xx:1")), None);
    }

    #[test]
    fn search_text_is_literal() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
