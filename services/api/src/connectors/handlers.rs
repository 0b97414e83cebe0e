//! Connector handlers: CRUD with an encrypted connection string, validation, reconfiguration
//! plans with dry run, ETag/If-Match, pause and resume.

use super::edge_collections;
pub(crate) use super::lifecycle::connector_visible;
use super::lifecycle::reconfigured_events;
use super::model::{
    ConnectorDraft, ConnectorIn, ConnectorOut, ConnectorPage, ConnectorUpdate, DesiredState,
    DryRunParams,
};
use super::repo::{self, ConnectorRow, SealedSecret};
use crate::apps;
use crate::auth::AuthContext;
use crate::crypto::connector_secret_aad;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{
    ApiJson, ApiPath, ApiQuery, PageParams, check_if_match, etag, paginate,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgebridge_domain::spec::ConnectorDraft as ParsedConnector;
use edgebridge_domain::{
    ConnectorSpec, MongoUri, SecretRule, Violation, merge_patch, parse_connector,
    plan_reconfiguration,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// 404 unless the app exists in the caller's organization and scope.
pub(super) async fn require_app(state: &AppState, auth: &AuthContext, app_id: Uuid) -> Result<()> {
    auth.check_app(app_id)?;
    apps::repo::require(&state.pool, auth.org_id, app_id).await
}

pub(super) fn with_etag(
    state: &AppState,
    status: StatusCode,
    row: ConnectorRow,
    location: bool,
) -> Response {
    let tag = etag(row.version);
    let out = row.into_out(&state.fleet, &state.keyring);
    let mut response = (status, [(header::ETAG, tag)], Json(&out)).into_response();
    if location && let Ok(value) = format!("/v1/apps/{}/connectors/{}", out.app_id, out.id).parse()
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn validation(
    draft: std::result::Result<ParsedConnector, Vec<Violation>>,
) -> Result<ParsedConnector> {
    draft.map_err(ApiError::Validation)
}

/// The encrypted form of a connection string, bound to its organization and connector.
struct Sealed {
    ciphertext: Vec<u8>,
    key_id: String,
    redacted: String,
}

impl Sealed {
    fn new(state: &AppState, org_id: Uuid, connector_id: Uuid, uri: &MongoUri) -> Self {
        let aad = connector_secret_aad(org_id, connector_id);
        Self {
            ciphertext: state.keyring.encrypt(uri.expose().as_bytes(), &aad),
            key_id: state.keyring.active_id().to_owned(),
            redacted: uri.redacted(),
        }
    }

    fn as_secret(&self) -> SealedSecret<'_> {
        SealedSecret {
            ciphertext: &self.ciphertext,
            key_id: &self.key_id,
            redacted: &self.redacted,
        }
    }
}

/// The stored connection string, decrypted (for the plan's credential comparison).
pub(super) fn open_secret(state: &AppState, row: &ConnectorRow) -> Option<MongoUri> {
    let aad = connector_secret_aad(row.org_id, row.connector_id);
    match state.keyring.decrypt(&row.connection_ciphertext, &aad) {
        Ok(bytes) => MongoUri::parse(&String::from_utf8_lossy(&bytes)).ok(),
        Err(e) => {
            tracing::warn!(connector_id = %row.connector_id, error = %e, "stored connection string cannot be opened");
            None
        }
    }
}

/// List connectors
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors", operation_id = "listConnectors", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), PageParams),
    responses(
        (status = 200, description = "A page of connectors, oldest first", body = ConnectorPage),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_connectors(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<ConnectorPage>> {
    let page = params.resolve()?;
    require_app(&state, &auth, app_id).await?;
    let rows = repo::list(&state.pool, auth.org_id, app_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, &page, |r| r.connector_id);
    let items = rows
        .into_iter()
        .map(|r| r.into_out(&state.fleet, &state.keyring))
        .collect();
    Ok(Json(ConnectorPage { items, next_cursor }))
}

/// Create a connector
///
/// Validates the spec (reporting every violation at once), stores the connection string
/// encrypted, and answers the connector with defaults filled in. It starts `pending`, or
/// `paused` with `"desiredState": "paused"` (saved, not run: test it, then resume it). Each
/// collection name is an edge collection of the app, which one connector writes (409
/// `edge_collection_taken` names the connector that has it).
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors", operation_id = "createConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = ConnectorIn,
    responses(
        (status = 201, description = "The connector was created", body = ConnectorOut,
            headers(("ETag" = String, description = "The configuration version"), ("Location" = String, description = "URL of the connector"))),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A connector with this name exists in the app (`connector_name_taken`), or another connector writes one of its edge collections (`edge_collection_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The spec is invalid; `errors` lists every problem", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response> {
    require_app(&state, &auth, app_id).await?;
    auth.require_write()?;
    let draft = validation(parse_connector(&body, SecretRule::Required))?;
    let Some(uri) = &draft.connection_string else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated draft lacks its secret"
        )));
    };
    let connector_id = Uuid::now_v7();
    let sealed = Sealed::new(&state, auth.org_id, connector_id, uri);
    let desired = draft.desired_state.unwrap_or_default();
    let mut tx = crate::db::begin(&state.pool).await?;
    let row = repo::insert(
        &mut *tx,
        auth.org_id,
        app_id,
        connector_id,
        &draft.spec,
        sealed.as_secret(),
        desired,
    )
    .await?;
    edge_collections::claim(
        &mut tx,
        app_id,
        connector_id,
        &collection_names(&draft.spec),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%connector_id, %app_id, "connector created");
    Ok(with_etag(&state, StatusCode::CREATED, row, true))
}

/// Get a connector
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}", operation_id = "getConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorOut,
            headers(("ETag" = String, description = "The configuration version, for If-Match"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    let row = repo::get(&state.pool, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    Ok(with_etag(&state, StatusCode::OK, row, false))
}

pub(super) fn collection_names(spec: &ConnectorSpec) -> Vec<String> {
    spec.collections.keys().cloned().collect()
}

/// `desiredState` in a replace or patch: ignored when it is the current state (a body read with
/// GET and sent back), refused otherwise: pause and resume are their own operations.
pub(super) fn check_desired_state(
    current: &ConnectorRow,
    asked: Option<DesiredState>,
) -> Result<()> {
    let now = DesiredState::parse(&current.desired_state).unwrap_or_default();
    match asked {
        Some(asked) if asked != now => Err(ApiError::Validation(vec![Violation {
            path: "/desiredState".into(),
            message: format!(
                "cannot change from \"{}\" to \"{}\" here: use POST .../{} (or leave desiredState out)",
                now.as_str(),
                asked.as_str(),
                match asked {
                    DesiredState::Paused => "pause",
                    DesiredState::Running => "resume",
                }
            ),
        }])),
        _ => Ok(()),
    }
}

/// Replaces the stored settings with `body` (already merged for PATCH) and plans the change.
async fn reconfigure(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    connector_id: Uuid,
    headers: &HeaderMap,
    dry_run: bool,
    make_body: impl FnOnce(&ConnectorRow) -> Value,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(state, auth, app_id, connector_id))
        .await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let current = repo::lock(&mut tx, auth.org_id, app_id, connector_id).await?;
    check_if_match(headers, current.version)?;
    let body = make_body(&current);
    let draft = validation(parse_connector(&body, SecretRule::Optional))?;
    check_desired_state(&current, draft.desired_state)?;

    // Sending back the redacted value read from the API keeps the stored secret.
    let new_uri = draft
        .connection_string
        .filter(|uri| uri.expose() != current.connection_redacted);
    // Checked here too so that a dry run does not promise what the real change would refuse.
    if draft.spec.name != current.name
        && repo::name_exists(&mut *tx, auth.org_id, app_id, &draft.spec.name).await?
    {
        return Err(repo::name_conflict(&draft.spec.name));
    }
    // Claimed before a dry run answers too, so that it does not promise what would be refused.
    edge_collections::claim(
        &mut tx,
        app_id,
        connector_id,
        &collection_names(&draft.spec),
    )
    .await?;
    let old_uri = new_uri.as_ref().and_then(|_| open_secret(state, &current));
    let plan = plan_reconfiguration(
        &current.spec(),
        &draft.spec,
        old_uri.as_ref(),
        new_uri.as_ref(),
    );

    if dry_run {
        tx.rollback().await?;
        let version = current.version;
        let mut preview = current.into_out(&state.fleet, &state.keyring);
        preview.name = draft.spec.name;
        preview.description = draft.spec.description;
        preview.database = draft.spec.database;
        preview.collections = draft.spec.collections;
        preview.auto_configure = draft.spec.auto_configure;
        preview.on_history_lost = draft.spec.on_history_lost;
        if let Some(uri) = &new_uri {
            preview.connection_string = uri.redacted();
        }
        let body = ConnectorUpdate {
            connector: preview,
            plan,
            dry_run: true,
        };
        return Ok(([(header::ETAG, etag(version))], Json(body)).into_response());
    }

    let sealed = new_uri
        .as_ref()
        .map(|uri| Sealed::new(state, auth.org_id, connector_id, uri));
    let row = repo::update_spec(
        &mut tx,
        &current,
        &draft.spec,
        sealed.as_ref().map(Sealed::as_secret),
    )
    .await?;
    // The pipelines start where the plan says: a new copy, a new stream, or where they were.
    repo::apply_plan_to_checkpoints(&mut tx, connector_id, &plan).await?;
    reconfigured_events(
        &mut tx,
        auth,
        connector_id,
        row.version,
        &plan,
        sealed.is_some(),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%connector_id, version = row.version, "connector reconfigured");
    let tag = etag(row.version);
    let body = ConnectorUpdate {
        connector: row.into_out(&state.fleet, &state.keyring),
        plan,
        dry_run: false,
    };
    Ok(([(header::ETAG, tag)], Json(body)).into_response())
}

/// Replace a connector
///
/// Replaces the whole spec. Leave `connectionString` out, or send back the redacted value you
/// read, to keep the stored one. Answers the new connector and the `plan` of what the change
/// does per collection; with `?dryRun=true` only the plan, saving nothing. Send `If-Match` with
/// the ETag you read to refuse lost updates (412).
#[utoipa::path(put, path = "/v1/apps/{appId}/connectors/{connectorId}", operation_id = "replaceConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the connector changed since"),
        DryRunParams),
    request_body = ConnectorIn,
    responses(
        (status = 200, description = "The connector and the plan", body = ConnectorUpdate,
            headers(("ETag" = String, description = "The new configuration version"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another connector in the app has this name (`connector_name_taken`) or writes one of the edge collections (`edge_collection_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The connector changed since you read it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The spec is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn replace_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<DryRunParams>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response> {
    reconfigure(
        &state,
        &auth,
        app_id,
        connector_id,
        &headers,
        params.dry_run,
        |_| body,
    )
    .await
}

/// The stored settings in request form, as the base a merge patch applies to.
fn editable_view(row: &ConnectorRow, patch: &Value) -> Value {
    let mut collections = serde_json::to_value(&row.collections.0).unwrap_or_else(|_| json!({}));
    // A patch that uses the reference spelling for a collection's counters replaces ours.
    if let (Some(base), Some(patched)) = (
        collections.as_object_mut(),
        patch.get("collections").and_then(Value::as_object),
    ) {
        for (name, settings) in patched {
            if settings.get("dittoTypes").is_some_and(|v| !v.is_null())
                && let Some(Value::Object(c)) = base.get_mut(name)
            {
                c.remove("settableCounters");
            }
        }
    }
    json!({
        "name": row.name,
        "description": row.description,
        "database": row.database_name,
        "collections": collections,
        "autoConfigure": row.auto_configure,
    })
}

/// Update a connector (JSON merge patch)
///
/// Applies a JSON merge patch (RFC 7386) to the spec: members set to `null` are removed (e.g.
/// `{"collections": {"users": null}}` stops syncing `users`). Answers like replace, with the
/// plan; `?dryRun=true` saves nothing.
#[utoipa::path(patch, path = "/v1/apps/{appId}/connectors/{connectorId}", operation_id = "updateConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the connector changed since"),
        DryRunParams),
    request_body(content = ConnectorDraft, content_type = "application/merge-patch+json",
        description = "A JSON merge patch of the connector spec (also accepted as application/json): members left out stay, `null` removes",
        example = json!({"collections": {"users": null, "orders": {"initialSync": false}}})),
    responses(
        (status = 200, description = "The connector and the plan", body = ConnectorUpdate,
            headers(("ETag" = String, description = "The new configuration version"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another connector in the app has this name (`connector_name_taken`) or writes one of the edge collections (`edge_collection_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The connector changed since you read it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched spec is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<DryRunParams>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Response> {
    if !patch.is_object() {
        return Err(ApiError::Validation(vec![Violation {
            path: String::new(),
            message: "a merge patch of a connector must be a JSON object".into(),
        }]));
    }
    reconfigure(
        &state,
        &auth,
        app_id,
        connector_id,
        &headers,
        params.dry_run,
        |row| {
            let mut merged = editable_view(row, &patch);
            merge_patch(&mut merged, &patch);
            merged
        },
    )
    .await
}
