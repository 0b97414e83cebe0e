//! `POST .../connectors/validate`: every problem of a spec at once, without saving it. With
//! `?connectorId=` the spec is checked as a replacement of that connector (its own name and
//! collections are not conflicts, the stored connection string may be kept), which is what an
//! editor validating as the user types needs.

use super::edge_collections;
use super::handlers::{check_desired_state, collection_names, require_app};
use super::model::{ConnectorDraft, NormalizedConnector, ValidationReport};
use super::repo;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use edgebridge_domain::{SecretRule, Violation, parse_connector};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ValidateParams {
    /// Validate the spec as a replacement of this connector (as `PUT` would take it): its own
    /// name and collections are not reported as taken, `connectionString` may be left out to
    /// keep the stored one, and `desiredState` must be left out or equal its current state.
    pub connector_id: Option<Uuid>,
}

/// Validate a connector spec
///
/// Checks a spec without saving it: the answer says whether it is valid, lists every problem with
/// its JSON pointer, and shows the spec with defaults filled in. Also reports a name already
/// taken in the app, and collections another connector of the app already writes. With
/// `connectorId`, checks it as a replacement of that connector.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/validate", operation_id = "validateConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ValidateParams),
    request_body(content = ConnectorDraft, description = "A connector spec as for create (or replace, with `connectorId`); it may be incomplete: every problem is reported"),
    responses(
        (status = 200, description = "The validation result", body = ValidationReport),
        (status = 404, description = "No such app, or no such connector (`connectorId`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn validate_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ValidateParams>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<ValidationReport>> {
    require_app(&state, &auth, app_id).await?;
    let current = match params.connector_id {
        Some(id) => Some(
            repo::get(&state.pool, auth.org_id, app_id, id)
                .await?
                .ok_or(ApiError::NotFound("connector"))?,
        ),
        None => None,
    };
    let secret = match current {
        Some(_) => SecretRule::Optional,
        None => SecretRule::Required,
    };
    let draft = match parse_connector(&body, secret) {
        Ok(draft) => draft,
        Err(errors) => {
            return Ok(Json(ValidationReport {
                valid: false,
                errors,
                connector: None,
            }));
        }
    };
    let mut errors = Vec::new();
    let names = collection_names(&draft.spec);
    let names: Vec<&String> = names.iter().collect();
    let myself = current.as_ref().map_or(Uuid::nil(), |c| c.connector_id);
    for taken in edge_collections::taken_by_others(&state.pool, app_id, myself, &names).await? {
        errors.push(Violation {
            path: format!(
                "/collections/{}",
                taken.collection.replace('~', "~0").replace('/', "~1")
            ),
            message: edge_collections::taken_message(&taken),
        });
    }
    let renamed = current.as_ref().is_none_or(|c| c.name != draft.spec.name);
    if renamed && repo::name_exists(&state.pool, auth.org_id, app_id, &draft.spec.name).await? {
        errors.push(Violation {
            path: "/name".into(),
            message: format!(
                "a connector named `{}` already exists in this app; choose another name",
                draft.spec.name
            ),
        });
    }
    if let Some(current) = &current
        && let Err(ApiError::Validation(violations)) =
            check_desired_state(current, draft.desired_state)
    {
        errors.extend(violations);
    }
    // Sending back the redacted value read from the API keeps the stored secret, as replace does.
    let connection_string = draft
        .connection_string
        .map(|uri| uri.redacted())
        .or_else(|| current.as_ref().map(|c| c.connection_redacted.clone()));
    Ok(Json(ValidationReport {
        valid: errors.is_empty(),
        errors,
        connector: Some(NormalizedConnector {
            name: draft.spec.name,
            description: draft.spec.description,
            connection_string,
            database: draft.spec.database,
            collections: draft.spec.collections,
            auto_configure: draft.spec.auto_configure,
            on_history_lost: draft.spec.on_history_lost,
        }),
    }))
}
