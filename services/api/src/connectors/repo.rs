//! Connector persistence. Every function is scoped by organization and app. Only ciphertext of the
//! connection string is stored, plus its redacted form for responses.

use super::model::{ConnectorOut, ConnectorStatus, DesiredState, StatusDetail};
use crate::error::{ApiError, Result, violated_constraint};
use crate::http::extract::PageRequest;
use chrono::{DateTime, Utc};
use edgebridge_domain::{CollectionMapping, ConnectorSpec};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct ConnectorRow {
    pub connector_id: Uuid,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub name: String,
    pub description: String,
    pub database_name: String,
    pub collections: Json<BTreeMap<String, CollectionMapping>>,
    pub auto_configure: bool,
    pub connection_ciphertext: Vec<u8>,
    pub connection_redacted: String,
    pub desired_state: String,
    pub status: String,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub status_remediation: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "connector_id, org_id, app_id, name, description, database_name, collections,
    auto_configure, connection_ciphertext, connection_redacted, desired_state, status, status_code, status_message,
    status_remediation, status_changed_at, version, created_at, updated_at";

fn parse_desired(s: &str) -> DesiredState {
    match s {
        "paused" => DesiredState::Paused,
        _ => DesiredState::Running,
    }
}

fn parse_status(s: &str) -> ConnectorStatus {
    match s {
        "running" => ConnectorStatus::Running,
        "failed" => ConnectorStatus::Failed,
        "paused" => ConnectorStatus::Paused,
        _ => ConnectorStatus::Pending,
    }
}

impl ConnectorRow {
    pub fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            database: self.database_name.clone(),
            collections: self.collections.0.clone(),
            auto_configure: self.auto_configure,
        }
    }

    pub fn into_out(self) -> ConnectorOut {
        let status = parse_status(&self.status);
        let status_detail = (self.status_code.is_some() || self.status_message.is_some())
            .then_some(StatusDetail {
                code: self.status_code,
                message: self.status_message,
                remediation: self.status_remediation,
                since: self.status_changed_at,
            });
        ConnectorOut {
            id: self.connector_id,
            app_id: self.app_id,
            name: self.name,
            description: self.description,
            connection_string: self.connection_redacted,
            database: self.database_name,
            collections: self.collections.0,
            auto_configure: self.auto_configure,
            desired_state: parse_desired(&self.desired_state),
            status,
            status_detail,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

pub fn name_conflict(name: &str) -> ApiError {
    ApiError::conflict(
        "connector_name_taken",
        format!("A connector named `{name}` already exists in this app; choose another name."),
    )
}

/// Maps constraint violations: the name taken (409), or the app deleted meanwhile (404).
pub fn name_taken(e: sqlx::Error, name: &str) -> ApiError {
    match violated_constraint(&e) {
        Some("connectors_app_name_key") => name_conflict(name),
        Some("connectors_app_id_fkey") => ApiError::NotFound("app"),
        _ => e.into(),
    }
}

/// The encrypted secret of a connector being written.
pub struct SealedSecret<'a> {
    pub ciphertext: &'a [u8],
    pub key_id: &'a str,
    pub redacted: &'a str,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    spec: &ConnectorSpec,
    secret: SealedSecret<'_>,
) -> Result<ConnectorRow> {
    sqlx::query_as(&format!(
        "insert into connectors (connector_id, org_id, app_id, name, description, database_name,
             collections, connection_ciphertext, connection_key_id, connection_redacted,
             auto_configure)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning {COLUMNS}"
    ))
    .bind(connector_id)
    .bind(org_id)
    .bind(app_id)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(&spec.database)
    .bind(Json(&spec.collections))
    .bind(secret.ciphertext)
    .bind(secret.key_id)
    .bind(secret.redacted)
    .bind(spec.auto_configure)
    .fetch_one(db)
    .await
    .map_err(|e| name_taken(e, &spec.name))
}

pub async fn get(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<Option<ConnectorRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from connectors where org_id = $1 and app_id = $2 and connector_id = $3"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(db)
    .await?)
}

/// Reads and locks the row for the rest of the transaction (no MongoDB I/O happens inside it).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<ConnectorRow> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from connectors
         where org_id = $1 and app_id = $2 and connector_id = $3 for update"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("connector"))
}

pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<ConnectorRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from connectors
         where org_id = $1 and app_id = $2 and ($3::uuid is null or connector_id > $3)
         order by connector_id limit $4"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?)
}

pub async fn name_exists(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    name: &str,
) -> Result<bool> {
    let row: Option<(i32,)> =
        sqlx::query_as("select 1 from connectors where org_id = $1 and app_id = $2 and name = $3")
            .bind(org_id)
            .bind(app_id)
            .bind(name)
            .fetch_optional(db)
            .await?;
    Ok(row.is_some())
}

/// Replaces the settings (and the secret when given), bumping the version.
pub async fn update_spec(
    tx: &mut Transaction<'_, Postgres>,
    current: &ConnectorRow,
    spec: &ConnectorSpec,
    secret: Option<SealedSecret<'_>>,
) -> Result<ConnectorRow> {
    let (ciphertext, key_id, redacted) = match &secret {
        Some(s) => (Some(s.ciphertext), Some(s.key_id), Some(s.redacted)),
        None => (None, None, None),
    };
    sqlx::query_as(&format!(
        "update connectors set name = $3, description = $4, database_name = $5, collections = $6,
             connection_ciphertext = coalesce($7, connection_ciphertext),
             connection_key_id = coalesce($8, connection_key_id),
             connection_redacted = coalesce($9, connection_redacted),
             auto_configure = $10,
             version = version + 1, updated_at = now()
         where org_id = $1 and connector_id = $2 returning {COLUMNS}"
    ))
    .bind(current.org_id)
    .bind(current.connector_id)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(&spec.database)
    .bind(Json(&spec.collections))
    .bind(ciphertext)
    .bind(key_id)
    .bind(redacted)
    .bind(spec.auto_configure)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| name_taken(e, &spec.name))
}

/// Sets the desired state (and the matching status) unless it is already set. Returns the row
/// either way; `None` when the connector does not exist.
pub async fn set_desired_state(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    desired: DesiredState,
) -> Result<Option<ConnectorRow>> {
    let (desired_text, status_text) = match desired {
        DesiredState::Paused => ("paused", "paused"),
        DesiredState::Running => ("running", "pending"),
    };
    let updated: Option<ConnectorRow> = sqlx::query_as(&format!(
        "update connectors set desired_state = $4, status = $5, status_code = null,
             status_message = null, status_remediation = null, status_changed_at = now(),
             version = version + 1, updated_at = now()
         where org_id = $1 and app_id = $2 and connector_id = $3
           and (desired_state <> $4 or ($4 = 'running' and status = 'failed'))
         returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(desired_text)
    .bind(status_text)
    .fetch_optional(db)
    .await?;
    match updated {
        Some(row) => Ok(Some(row)),
        None => get(db, org_id, app_id, connector_id).await,
    }
}

/// Deletes the connector, only at one of `expected_versions` when given. `Ok(None)` = not
/// found, `Ok(Some(false))` = version mismatch.
pub async fn delete(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    expected_versions: Option<Vec<i64>>,
) -> Result<Option<bool>> {
    let result = sqlx::query(
        "delete from connectors where org_id = $1 and app_id = $2 and connector_id = $3
           and ($4::bigint[] is null or version = any($4))",
    )
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(expected_versions)
    .execute(db)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Some(true));
    }
    Ok(get(db, org_id, app_id, connector_id).await?.map(|_| false))
}

/// One connector's secret for re-encryption.
#[derive(Debug, sqlx::FromRow)]
pub struct SecretRow {
    pub connector_id: Uuid,
    pub org_id: Uuid,
    pub connection_ciphertext: Vec<u8>,
}

/// Connectors whose secret is not under `active_key_id`, after `after`, in id order.
pub async fn secrets_not_under(
    db: impl PgExecutor<'_>,
    active_key_id: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SecretRow>> {
    Ok(sqlx::query_as(
        "select connector_id, org_id, connection_ciphertext from connectors
         where connection_key_id <> $1 and ($2::uuid is null or connector_id > $2)
         order by connector_id limit $3",
    )
    .bind(active_key_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Swaps the ciphertext only if it is still the one that was read (no lost concurrent update).
pub async fn replace_secret(
    db: impl PgExecutor<'_>,
    row: &SecretRow,
    ciphertext: &[u8],
    key_id: &str,
) -> Result<bool> {
    let result = sqlx::query(
        "update connectors set connection_ciphertext = $3, connection_key_id = $4
         where connector_id = $1 and connection_ciphertext = $2",
    )
    .bind(row.connector_id)
    .bind(&row.connection_ciphertext)
    .bind(ciphertext)
    .bind(key_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}
