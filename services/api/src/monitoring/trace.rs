//! The per-document trace: the last sync steps of one document, both ways, from the steps
//! workers report (the newest 20,000 per connector by default, `EDGEBRIDGE_TRACE_KEEP`).

use super::visible;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TraceParams {
    /// The collection (as named in the connector).
    pub collection: String,
    /// The document's id as the edge holds it: the plain string for a string id (`p1`), else
    /// JSON (`42`, `{"sku":"a","region":"eu"}`).
    pub document_id: String,
    /// Steps, newest first, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// One sync step of the document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceStepOut {
    /// When the worker took the step.
    pub at: DateTime<Utc>,
    /// `mongo_to_edge` or `edge_to_mongo`.
    #[schema(example = "mongo_to_edge")]
    pub direction: String,
    /// `mongo_change` (operation, cluster time, resume token, fields changed), `edge_merged`
    /// (the edge kept an edit: its state goes back to MongoDB), `edge_refused`, `echo` (the
    /// write-back's own write seen in the change stream: recognised, not applied),
    /// `write_back` (operation, session, transaction number) or `refused` (MongoDB refused
    /// it: code and message; the document is listed in the unsynced documents).
    #[schema(example = "write_back")]
    pub step: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTrace {
    pub collection: String,
    pub document_id: String,
    /// Newest first.
    pub steps: Vec<TraceStepOut>,
    /// How many steps the connector keeps (all documents together, the newest).
    pub retention_steps: i64,
    /// Steps the connector's workers left out (past their per-second budget under heavy load),
    /// since it was created: a busy document's trace may miss some.
    pub dropped: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    occurred_at: DateTime<Utc>,
    direction: String,
    step: String,
    detail: serde_json::Value,
}

/// The last sync steps of one document
///
/// Both ways: the MongoDB change read (operation, cluster time, resume token, fields changed),
/// its edge write's outcome, the write-back (session, transaction), an echo of it recognised,
/// a refusal and its reason. Kept per connector: the newest steps of all its documents (20,000
/// by default). A worker records at most 200 routine steps a second per connector (refusals and
/// merges always): past that the trace samples, and `dropped` counts what it left out.
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/trace", operation_id = "traceConnectorDocument", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), TraceParams),
    responses(
        (status = 200, description = "The document's steps, newest first (none when it has not synced lately)", body = DocumentTrace),
        (status = 400, description = "A missing or bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn document_trace(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<TraceParams>,
) -> Result<Json<DocumentTrace>> {
    visible(&state, &auth, app_id, connector_id).await?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            "`limit` must be between 1 and 200",
        ));
    }
    for (path, value) in [
        ("/collection", &params.collection),
        ("/documentId", &params.document_id),
    ] {
        if value.is_empty() || value.chars().count() > 512 {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                path,
                "1 to 512 characters",
            ));
        }
    }
    // A plain string id is stored as its JSON text; accept it either way.
    let quoted = serde_json::Value::String(params.document_id.clone()).to_string();
    let rows: Vec<Row> = sqlx::query_as(
        "select occurred_at, direction, step, detail from connector_traces
         where connector_id = $1 and collection = $2 and document_id in ($3, $4)
         order by step_id desc limit $5",
    )
    .bind(connector_id)
    .bind(&params.collection)
    .bind(&params.document_id)
    .bind(&quoted)
    .bind(i64::from(limit))
    .fetch_all(&state.pool)
    .await?;
    let (dropped,): (i64,) =
        sqlx::query_as("select traces_dropped from connectors where connector_id = $1")
            .bind(connector_id)
            .fetch_one(&state.pool)
            .await?;
    Ok(Json(DocumentTrace {
        collection: params.collection,
        document_id: params.document_id,
        steps: rows
            .into_iter()
            .map(|r| TraceStepOut {
                at: r.occurred_at,
                direction: r.direction,
                step: r.step,
                detail: r.detail,
            })
            .collect(),
        retention_steps: state.fleet.trace_keep_per_connector,
        dropped,
    }))
}
