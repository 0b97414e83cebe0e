//! Alert rules (an app's defaults and per-connector overrides) and a connector's alerts.

use super::AlertKind;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::monitoring::visible;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use edgebridge_domain::Violation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A rule: the app's default for a kind (`connectorId` null) or one connector's override.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AlertRule {
    #[sqlx(rename = "rule_id")]
    pub id: Uuid,
    pub app_id: Uuid,
    /// `null`: the app's rule for every connector without its own.
    pub connector_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub kind: KindName,
    pub enabled: bool,
    /// Seconds (`lag`, `stream_stalled`), percent (`error_rate`) or documents
    /// (`unsynced_increasing`); `null`: the built-in default.
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert fires (pending until then).
    pub for_secs: i32,
    /// The window of `error_rate` and `unsynced_increasing` (seconds); `null`: the default.
    pub window_secs: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A kind as stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
pub struct KindName(#[schema(inline)] pub AlertKind);

impl TryFrom<String> for KindName {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        AlertKind::parse(&s)
            .map(KindName)
            .ok_or_else(|| format!("unknown alert kind {s}"))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuiltInRule {
    pub kind: AlertKind,
    pub threshold: Option<f64>,
    pub for_secs: i32,
    pub window_secs: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRuleList {
    /// The app's rules and its connectors' overrides.
    pub items: Vec<AlertRule>,
    /// What applies to a kind nobody set a rule for (all kinds are on by default).
    pub built_in: Vec<BuiltInRule>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAlertRule {
    /// Omit (or null) for the app's default rule of this kind.
    pub connector_id: Option<Uuid>,
    pub kind: AlertKind,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub threshold: Option<f64>,
    #[serde(default)]
    pub for_secs: i32,
    pub window_secs: Option<i32>,
}

fn yes() -> bool {
    true
}

/// Fields to change; absent ones keep their value, a `null` threshold or window returns to the
/// built-in default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRulePatch {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<f64>)]
    pub threshold: Option<Option<f64>>,
    pub for_secs: Option<i32>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i32>)]
    pub window_secs: Option<Option<i32>>,
}

fn some<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check(
    kind: AlertKind,
    threshold: Option<f64>,
    for_secs: i32,
    window: Option<i32>,
) -> Result<()> {
    let (takes_threshold, takes_window) = kind.takes();
    let mut errors = Vec::new();
    let mut bad = |path: &str, message: String| {
        errors.push(Violation {
            path: path.into(),
            message,
        })
    };
    match threshold {
        Some(_) if !takes_threshold => bad(
            "/threshold",
            format!("`{}` takes no threshold; omit it", kind.as_str()),
        ),
        Some(t) if !t.is_finite() || t < 0.0 => bad("/threshold", "must be 0 or more".into()),
        Some(t) if kind == AlertKind::ErrorRate && t > 100.0 => {
            bad("/threshold", "a percentage: at most 100".into())
        }
        _ => {}
    }
    if !(0..=86_400).contains(&for_secs) {
        bad("/forSecs", "between 0 and 86400 seconds".into());
    }
    match window {
        Some(_) if !takes_window => bad(
            "/windowSecs",
            format!("`{}` takes no window; omit it", kind.as_str()),
        ),
        Some(w) if !(60..=86_400).contains(&w) => {
            bad("/windowSecs", "between 60 and 86400 seconds".into())
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

const RULE_COLUMNS: &str = "rule_id, app_id, connector_id, kind, enabled, threshold, for_secs, window_secs, created_at, updated_at";

/// List alert rules
///
/// The app's rules (its defaults, `connectorId` null) and its connectors' overrides, with the
/// built-in rules that apply to kinds nobody set.
#[utoipa::path(get, path = "/v1/apps/{appId}/alert-rules", operation_id = "listAlertRules", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id")),
    responses((status = 200, description = "The rules", body = AlertRuleList)))]
pub async fn list_rules(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
) -> Result<Json<AlertRuleList>> {
    auth.check_app(app_id)?;
    let items: Vec<AlertRule> = sqlx::query_as(&format!(
        "select {RULE_COLUMNS} from alert_rules where org_id = $1 and app_id = $2
         order by connector_id nulls first, kind"
    ))
    .bind(auth.org_id)
    .bind(app_id)
    .fetch_all(&state.pool)
    .await?;
    let stall = state.fleet.stream_stall.as_secs_f64();
    let built_in = AlertKind::ALL
        .into_iter()
        .map(|kind| {
            let (threshold, for_secs, window_secs) = kind.default_rule(stall);
            BuiltInRule {
                kind,
                threshold,
                for_secs,
                window_secs,
            }
        })
        .collect();
    Ok(Json(AlertRuleList { items, built_in }))
}

/// Create an alert rule
///
/// One rule per kind for the app (its default) and per kind for each connector (an override).
#[utoipa::path(post, path = "/v1/apps/{appId}/alert-rules", operation_id = "createAlertRule", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = NewAlertRule,
    responses(
        (status = 201, description = "Created", body = AlertRule),
        (status = 400, description = "A bad field", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rule of this kind exists for this scope (`alert_rule_exists`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_rule(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewAlertRule>,
) -> Result<(StatusCode, Json<AlertRule>)> {
    auth.check_app(app_id)?;
    auth.require_write()?;
    check(new.kind, new.threshold, new.for_secs, new.window_secs)?;
    if let Some(connector_id) = new.connector_id
        && visible(&state, &auth, app_id, connector_id).await.is_err()
    {
        return Err(ApiError::bad_field(
            "unknown_connector",
            "/connectorId",
            "no connector with this id in this app",
        ));
    }
    let app: Option<(i32,)> =
        sqlx::query_as("select 1 from apps where org_id = $1 and app_id = $2")
            .bind(auth.org_id)
            .bind(app_id)
            .fetch_optional(&state.pool)
            .await?;
    app.ok_or(ApiError::NotFound("app"))?;
    let rule: AlertRule = sqlx::query_as(&format!(
        "insert into alert_rules (rule_id, org_id, app_id, connector_id, kind, enabled, threshold,
             for_secs, window_secs)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {RULE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(auth.org_id)
    .bind(app_id)
    .bind(new.connector_id)
    .bind(new.kind.as_str())
    .bind(new.enabled)
    .bind(new.threshold)
    .bind(new.for_secs)
    .bind(new.window_secs)
    .fetch_one(&state.pool)
    .await
    .map_err(|e| match crate::error::violated_constraint(&e) {
        Some("alert_rules_scope_kind_key") => ApiError::conflict(
            "alert_rule_exists",
            format!(
                "A `{}` rule exists for this scope already; change it (PATCH) instead.",
                new.kind.as_str()
            ),
        ),
        _ => e.into(),
    })?;
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn fetch(state: &AppState, auth: &AuthContext, app_id: Uuid, id: Uuid) -> Result<AlertRule> {
    auth.check_app(app_id)?;
    let rule: Option<AlertRule> = sqlx::query_as(&format!(
        "select {RULE_COLUMNS} from alert_rules where org_id = $1 and app_id = $2 and rule_id = $3"
    ))
    .bind(auth.org_id)
    .bind(app_id)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    rule.ok_or(ApiError::NotFound("alert rule"))
}

/// Get an alert rule
#[utoipa::path(get, path = "/v1/apps/{appId}/alert-rules/{ruleId}", operation_id = "getAlertRule", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id"), ("ruleId" = Uuid, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = AlertRule),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_rule(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<AlertRule>> {
    Ok(Json(fetch(&state, &auth, app_id, id).await?))
}

/// Change an alert rule
#[utoipa::path(patch, path = "/v1/apps/{appId}/alert-rules/{ruleId}", operation_id = "updateAlertRule", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id"), ("ruleId" = Uuid, Path, description = "The rule's id")),
    request_body = AlertRulePatch,
    responses(
        (status = 200, description = "The rule as changed", body = AlertRule),
        (status = 400, description = "A bad field", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_rule(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(patch): ApiJson<AlertRulePatch>,
) -> Result<Json<AlertRule>> {
    let rule = fetch(&state, &auth, app_id, id).await?;
    auth.require_write()?;
    let threshold = patch.threshold.unwrap_or(rule.threshold);
    let window = patch.window_secs.unwrap_or(rule.window_secs);
    let for_secs = patch.for_secs.unwrap_or(rule.for_secs);
    let enabled = patch.enabled.unwrap_or(rule.enabled);
    check(rule.kind.0, threshold, for_secs, window)?;
    let rule: Option<AlertRule> = sqlx::query_as(&format!(
        "update alert_rules set enabled = $3, threshold = $4, for_secs = $5, window_secs = $6,
             updated_at = now()
         where org_id = $1 and rule_id = $2 returning {RULE_COLUMNS}"
    ))
    .bind(auth.org_id)
    .bind(id)
    .bind(enabled)
    .bind(threshold)
    .bind(for_secs)
    .bind(window)
    .fetch_optional(&state.pool)
    .await?;
    Ok(Json(rule.ok_or(ApiError::NotFound("alert rule"))?))
}

/// Delete an alert rule
///
/// The app's rule (or the built-in one) applies again.
#[utoipa::path(delete, path = "/v1/apps/{appId}/alert-rules/{ruleId}", operation_id = "deleteAlertRule", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id"), ("ruleId" = Uuid, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    fetch(&state, &auth, app_id, id).await?;
    auth.require_write()?;
    sqlx::query("delete from alert_rules where org_id = $1 and rule_id = $2")
        .bind(auth.org_id)
        .bind(id)
        .execute(&state.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// `active` (pending and firing, the default) or `all` (with the resolved history).
    #[param(example = "all")]
    pub state: Option<String>,
    /// At most this many, newest first (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[sqlx(rename = "alert_id")]
    pub id: Uuid,
    pub connector_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: KindName,
    /// `pending` (the condition holds, not yet for the rule's duration), `firing` or
    /// `resolved`.
    #[schema(example = "firing")]
    pub state: String,
    /// The measure when it last changed (seconds, percent or documents, as the rule's
    /// threshold).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
    pub started_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<Alert>,
}

/// List a connector's alerts
///
/// Active ones (pending and firing) by default; `state=all` adds the resolved history. Every
/// transition is also an event (`alert_pending`, `alert_firing`, `alert_resolved`) and a
/// webhook notification (`alert.pending`, `alert.firing`, `alert.resolved`).
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/alerts", operation_id = "listConnectorAlerts", tag = "alerts",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), AlertParams),
    responses(
        (status = 200, description = "Alerts, newest first", body = AlertList),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_alerts(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<AlertList>> {
    visible(&state, &auth, app_id, connector_id).await?;
    let all = match params.state.as_deref() {
        None | Some("") | Some("active") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/state",
                "`state` must be `active` or `all`",
            ));
        }
    };
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            "`limit` must be between 1 and 200",
        ));
    }
    let items: Vec<Alert> = sqlx::query_as(
        "select alert_id, connector_id, kind, state, value, threshold, message, started_at,
                fired_at, resolved_at
         from alerts where connector_id = $1 and ($2 or state <> 'resolved')
         order by started_at desc, alert_id desc limit $3",
    )
    .bind(connector_id)
    .bind(all)
    .bind(i64::from(limit))
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(AlertList { items }))
}
