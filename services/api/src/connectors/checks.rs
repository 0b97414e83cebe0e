//! Checking a connector before it runs: the preflight checks against MongoDB ("test
//! connection", for a saved connector or an unsaved spec) and the mapping preview (what sample
//! MongoDB documents become on the edge).

use super::handlers::{open_secret, require_app};
use super::repo;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use bson::{Bson, Document};
use edgebridge_domain::{
    CollectionMapping, SecretRule, Violation, parse_collection_mapping, parse_connector,
};
use edgebridge_mongo::mapping::{self, Diagnostic, MappingConfig};
use edgebridge_mongo::preflight::{self, PreflightReport, PreflightRequest};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most sample documents one preview maps.
pub const MAX_PREVIEW_DOCUMENTS: usize = 100;

/// A slot among the connection tests allowed at once, or 429.
fn test_slot(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit> {
    state
        .connection_tests
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::other(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "connection_tests_busy",
                "Too many connection tests are running right now; retry in a few seconds.",
            )
        })
}

async fn run_checks(state: &AppState, request: PreflightRequest) -> Result<PreflightReport> {
    let _slot = test_slot(state)?;
    let report = preflight::run(&*state.mongo.0, &request, &state.preflight).await;
    match report.first_failure() {
        Some(failed) => tracing::info!(
            check = failed.check,
            code = failed.code,
            "connection test failed"
        ),
        None => tracing::info!(changes = report.changes.len(), "connection test passed"),
    }
    Ok(report)
}

/// Test a connector spec against MongoDB
///
/// Runs the preflight checks for an unsaved spec (the body of create): the connection string
/// parses; its hosts resolve to addresses this deployment may reach; the cluster answers and
/// accepts the credentials; the user may list databases and collections; the database and each
/// collection exist, are not capped and record pre- and post-images (enabled here when
/// `autoConfigure` is true and the user may `collMod`); the metadata collections can be created
/// (they are created). Each check answers passed, failed (with a stable code, a message naming the
/// object, and a remediation) or skipped (an earlier check it depends on failed). A connection
/// string that does not parse is reported as the first check's failure, not as a 422.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/test", operation_id = "testConnectorSpec", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body(content = super::model::ConnectorIn, description = "A connector spec as for create"),
    responses(
        (status = 200, description = "Each check's result; `ok` is true when all passed", body = PreflightReport),
        (status = 403, description = "The key may not change connectors", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The spec is invalid (other than its connection string)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many connection tests are running (`connection_tests_busy`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn test_connector_spec(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<PreflightReport>> {
    require_app(&state, &auth, app_id).await?;
    // It reaches out to MongoDB and may create or change collections there.
    auth.require_write()?;
    let (spec, connection_string) = match parse_connector(&body, SecretRule::Required) {
        Ok(draft) => {
            let raw = draft
                .connection_string
                .map(|uri| uri.expose().to_owned())
                .unwrap_or_default();
            (draft.spec, raw)
        }
        Err(violations) => {
            // A connection string that does not parse is the first check's answer.
            let raw = body.get("connectionString").and_then(Value::as_str);
            let only_the_string = violations.iter().all(|v| v.path == "/connectionString");
            let Some(raw) = raw.filter(|_| only_the_string) else {
                return Err(ApiError::Validation(violations));
            };
            let mut rest = body.clone();
            if let Some(obj) = rest.as_object_mut() {
                obj.remove("connectionString");
            }
            let draft =
                parse_connector(&rest, SecretRule::Optional).map_err(ApiError::Validation)?;
            (draft.spec, raw.to_owned())
        }
    };
    let request = PreflightRequest {
        connection_string,
        database: spec.database,
        id_fields: PreflightRequest::id_fields_of(&spec.collections),
        collections: spec.collections.into_keys().collect(),
        auto_configure: spec.auto_configure,
    };
    Ok(Json(run_checks(&state, request).await?))
}

/// Test a saved connector against MongoDB
///
/// The same checks as for an unsaved spec, with the connector's stored settings and connection
/// string. Changes nothing in the connector's status.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/test", operation_id = "testConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "Each check's result; `ok` is true when all passed", body = PreflightReport),
        (status = 403, description = "The key may not change connectors", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The stored connection string cannot be decrypted (replace it)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many connection tests are running (`connection_tests_busy`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn test_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<PreflightReport>> {
    auth.check_app(app_id)?;
    let row = repo::get(&state.pool, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    auth.require_write()?;
    let uri = open_secret(&state, &row).ok_or_else(super::view::secret_unavailable)?;
    let request = PreflightRequest {
        connection_string: uri.expose().to_owned(),
        database: row.database_name.clone(),
        collections: row.collections.0.keys().cloned().collect(),
        id_fields: PreflightRequest::id_fields_of(&row.collections.0),
        auto_configure: row.auto_configure,
    };
    Ok(Json(run_checks(&state, request).await?))
}

/// A sample document mapped.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewResult {
    /// Position in `documents`.
    pub index: usize,
    /// The MongoDB `_id` (canonical Extended JSON), when the sample has one.
    pub mongo_id: Option<Value>,
    /// False when the document would not be synced (see `error`).
    pub synced: bool,
    /// The edge document's `_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<Value>,
    /// The edge document as devices would read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    /// The original BSON types kept in the document's metadata (native mode), so writes from
    /// the edge restore them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub types: Option<Value>,
    /// Fields synced as settable counters (dotted paths).
    pub counters: Vec<String>,
    /// Fields not replicated, types not kept, ...
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Diagnostic>,
    /// Why the document would not be synced.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Diagnostic>,
}

/// The mapping preview.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewOut {
    /// The collection settings used, defaults filled in.
    pub mapping: CollectionMapping,
    pub results: Vec<PreviewResult>,
}

/// The body of a preview, for the OpenAPI document (validated by hand for precise errors).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "collection": {"fields": ["orderId", "storeId"], "settableCounters": ["quantity"], "dqlStrictMode": false},
    "documents": [{"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "orderId": 17, "storeId": "s-1", "quantity": 3,
                   "placedAt": {"$date": "2024-05-01T10:00:00Z"}}]
}))]
pub struct PreviewIn {
    /// Collection settings as in a connector spec. Give this, or `connectorId` and `collectionName`.
    pub collection: Option<super::model::CollectionMappingIn>,
    /// A saved connector whose settings for `collectionName` to use.
    pub connector_id: Option<Uuid>,
    pub collection_name: Option<String>,
    /// Sample MongoDB documents as Extended JSON (canonical or relaxed), at most 100.
    #[schema(value_type = Vec<Object>)]
    pub documents: Vec<Value>,
}

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Preview a collection mapping
///
/// Maps sample MongoDB documents (Extended JSON) the way the connector would, without touching
/// MongoDB or the edge store: for each, the edge `_id`, the edge document, the BSON type metadata
/// kept with it, the settable counters, and warnings (an unsupported type dropped, ...) or the
/// reason it would not be synced (a missing or forbidden ID field).
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/preview", operation_id = "previewMapping", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = PreviewIn,
    responses(
        (status = 200, description = "Each sample document as the edge would hold it", body = PreviewOut),
        (status = 404, description = "No such app or connector", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings or documents; `errors` lists every problem", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn preview_mapping(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<PreviewOut>> {
    require_app(&state, &auth, app_id).await?;
    let Value::Object(obj) = &body else {
        return Err(ApiError::Validation(vec![violation(
            "",
            "must be a JSON object with `collection` (or `connectorId` and `collectionName`) and `documents`",
        )]));
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !["collection", "connectorId", "collectionName", "documents"].contains(&key.as_str()) {
            errors.push(violation(
                &format!("/{key}"),
                "is not a member of a preview request; use collection, connectorId, collectionName and documents",
            ));
        }
    }
    let mapping = mapping_of(&state, &auth, app_id, obj, &mut errors).await?;
    let documents = sample_documents(obj.get("documents"), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let Some(mapping) = mapping else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "preview without a mapping"
        )));
    };
    let config = MappingConfig::from_spec(&mapping);
    let results = documents
        .iter()
        .enumerate()
        .map(|(index, doc)| preview_one(index, doc, &config))
        .collect();
    Ok(Json(PreviewOut { mapping, results }))
}

/// The collection settings: given inline, or read from a saved connector.
async fn mapping_of(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    obj: &Map<String, Value>,
    errors: &mut Vec<Violation>,
) -> Result<Option<CollectionMapping>> {
    match (obj.get("collection"), obj.get("connectorId")) {
        (Some(_), None) if obj.get("collectionName").is_some_and(|n| !n.is_null()) => {
            errors.push(violation(
                "/collectionName",
                "goes with connectorId (a saved connector's collection); with `collection` leave it out",
            ));
            Ok(None)
        }
        (Some(settings), None) => match parse_collection_mapping(settings, "collection") {
            Ok(mapping) => Ok(Some(mapping)),
            Err(violations) => {
                errors.extend(violations);
                Ok(None)
            }
        },
        (None, Some(id)) => {
            let Some(connector_id) = id.as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
                errors.push(violation("/connectorId", "must be a connector id (a UUID)"));
                return Ok(None);
            };
            let Some(name) = obj.get("collectionName").and_then(Value::as_str) else {
                errors.push(violation(
                    "/collectionName",
                    "is required with connectorId: name one of the connector's collections",
                ));
                return Ok(None);
            };
            let row = repo::get(&state.pool, auth.org_id, app_id, connector_id)
                .await?
                .ok_or(ApiError::NotFound("connector"))?;
            match row.collections.0.get(name) {
                Some(mapping) => Ok(Some(mapping.clone())),
                None => {
                    let known: Vec<&String> = row.collections.0.keys().collect();
                    errors.push(violation(
                        "/collectionName",
                        format!(
                            "the connector does not sync a collection `{name}`; it syncs {known:?}"
                        ),
                    ));
                    Ok(None)
                }
            }
        }
        (Some(_), Some(_)) => {
            errors.push(violation(
                "/collection",
                "give either collection or connectorId with collectionName, not both",
            ));
            Ok(None)
        }
        (None, None) => {
            errors.push(violation(
                "/collection",
                "is required: collection settings such as {\"fields\": [\"_id\"]}, or give connectorId and collectionName",
            ));
            Ok(None)
        }
    }
}

/// The samples as BSON documents, every problem reported.
fn sample_documents(value: Option<&Value>, errors: &mut Vec<Violation>) -> Vec<Document> {
    let items = match value {
        Some(Value::Array(items)) => items,
        _ => {
            errors.push(violation(
                "/documents",
                "is required: an array of sample MongoDB documents in Extended JSON",
            ));
            return Vec::new();
        }
    };
    if items.is_empty() || items.len() > MAX_PREVIEW_DOCUMENTS {
        errors.push(violation(
            "/documents",
            format!("must hold 1 to {MAX_PREVIEW_DOCUMENTS} documents"),
        ));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("/documents/{i}");
        if !item.is_object() {
            errors.push(violation(&at, "must be an object (a MongoDB document)"));
            continue;
        }
        match Bson::try_from(item.clone()) {
            Ok(Bson::Document(doc)) => out.push(doc),
            Ok(_) => errors.push(violation(
                &at,
                "is an Extended JSON value, not a document; give the document itself",
            )),
            Err(e) => errors.push(violation(&at, format!("is not valid Extended JSON: {e}"))),
        }
    }
    out
}

fn preview_one(index: usize, doc: &Document, config: &MappingConfig) -> PreviewResult {
    let mongo_id = doc.get("_id").map(|id| id.clone().into_canonical_extjson());
    match mapping::to_edge(doc, config) {
        Ok(edge) => {
            // Devices read counters as plain numbers inside the document.
            let mut document = edge.body;
            let mut counters = Vec::new();
            for (path, value) in &edge.counters {
                insert_path(&mut document, path, Value::from(*value));
                counters.push(path.join("."));
            }
            PreviewResult {
                index,
                mongo_id,
                synced: true,
                edge_id: Some(edge.id),
                document: Some(Value::Object(document)),
                types: edge.types,
                counters,
                warnings: edge.warnings,
                error: None,
            }
        }
        Err(rejected) => PreviewResult {
            index,
            mongo_id,
            synced: false,
            edge_id: None,
            document: None,
            types: None,
            counters: Vec::new(),
            warnings: Vec::new(),
            error: Some(rejected.diagnostic),
        },
    }
}

fn insert_path(doc: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for name in parents {
        let entry = current
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match entry {
            Value::Object(members) => current = members,
            _ => return,
        }
    }
    current.insert(last.clone(), value);
}
