//! API key persistence. Every function is scoped by organization.

use super::model::ApiKeyOut;
use crate::auth::{Role, api_key};
use crate::error::{ApiError, Result};
use crate::http::extract::PageRequest;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, Transaction};
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

/// Revokes a key at once, with every key it created, directly or through other keys, except
/// `spared` (the caller's own key) and the keys created under it. Answers the ids revoked, the
/// named key first; empty when the key does not exist or was already revoked. Keys created by
/// an already revoked key are reached too (revoked before this rule, they may still be live).
///
/// A key being created meanwhile holds its creator's row ([`lock_live_creator`]): updating that
/// row waits for the creation to commit, and the walk runs again (a new statement sees it) until
/// a round revokes nothing; a creation that comes later finds its creator revoked.
pub async fn revoke_with_created(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    key_id: Uuid,
    spared: Uuid,
) -> Result<Vec<Uuid>> {
    let mut revoked = Vec::new();
    loop {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "with recursive created (key_id, depth) as (
                 select key_id, 0 from api_keys where org_id = $1 and key_id = $2
                 union
                 select k.key_id, c.depth + 1
                 from api_keys k join created c on k.created_by = c.key_id
                 where k.org_id = $1 and k.key_id <> $3
             ),
             revoked as (
                 update api_keys k set revoked_at = now()
                 from created c
                 where k.key_id = c.key_id and k.org_id = $1 and k.revoked_at is null
                 returning k.key_id, c.depth
             )
             select key_id from revoked order by depth, key_id",
        )
        .bind(org_id)
        .bind(key_id)
        .bind(spared)
        .fetch_all(&mut **tx)
        .await?;
        if rows.is_empty() {
            return Ok(revoked);
        }
        revoked.extend(rows.into_iter().map(|(id,)| id));
    }
}

/// Holds the creating key's row until the new key is saved, and refuses (401) when it was
/// revoked or expired since the request authenticated, so a key never outlives its creator's
/// revocation (see [`revoke_with_created`]).
pub async fn lock_live_creator(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    key_id: Uuid,
) -> Result<()> {
    let live: Option<(i32,)> = sqlx::query_as(
        "select 1 from api_keys
         where org_id = $1 and key_id = $2 and revoked_at is null
           and (expires_at is null or expires_at > now())
         for share",
    )
    .bind(org_id)
    .bind(key_id)
    .fetch_optional(&mut **tx)
    .await?;
    live.map(|_| ()).ok_or(ApiError::InvalidCredentials)
}
