//! API key persistence. Every function is scoped by organization.

use super::model::ApiKeyOut;
use crate::auth::{Role, api_key};
use crate::error::Result;
use crate::http::extract::PageRequest;
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    key_id: Uuid,
    name: String,
    role: String,
    app_id: Option<Uuid>,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "key_id, name, role, app_id, prefix, created_at, expires_at, last_used_at";

impl TryFrom<Row> for ApiKeyOut {
    type Error = crate::error::ApiError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(ApiKeyOut {
            id: r.key_id,
            name: r.name,
            role: r.role.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            app_id: r.app_id,
            display: api_key::display(&r.prefix),
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        })
    }
}

pub struct NewKeyRow<'a> {
    pub org_id: Uuid,
    pub app_id: Option<Uuid>,
    pub name: &'a str,
    pub role: Role,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, key: NewKeyRow<'_>) -> Result<ApiKeyOut> {
    let row: Row = sqlx::query_as(&format!(
        "insert into api_keys (key_id, org_id, app_id, name, role, prefix, secret_hash, created_by, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(key.org_id)
    .bind(key.app_id)
    .bind(key.name)
    .bind(key.role.as_str())
    .bind(key.prefix)
    .bind(key.secret_hash)
    .bind(key.created_by)
    .bind(key.expires_at)
    .fetch_one(db)
    .await?;
    row.try_into()
}

/// Live (unrevoked) keys, optionally of one app only.
pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    only_app: Option<Uuid>,
    page: &PageRequest,
) -> Result<Vec<ApiKeyOut>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys
         where org_id = $1 and revoked_at is null and ($2::uuid is null or app_id = $2)
           and ($3::uuid is null or key_id > $3)
         order by key_id limit $4"
    ))
    .bind(org_id)
    .bind(only_app)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub async fn get_live(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    key_id: Uuid,
) -> Result<Option<ApiKeyOut>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys where org_id = $1 and key_id = $2 and revoked_at is null"
    ))
    .bind(org_id)
    .bind(key_id)
    .fetch_optional(db)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Revokes a key at once; false when it does not exist or was already revoked.
pub async fn revoke(db: impl PgExecutor<'_>, org_id: Uuid, key_id: Uuid) -> Result<bool> {
    let result = sqlx::query(
        "update api_keys set revoked_at = now() where org_id = $1 and key_id = $2 and revoked_at is null",
    )
    .bind(org_id)
    .bind(key_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}
