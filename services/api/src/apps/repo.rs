//! App persistence. Every function is scoped by organization.

use super::model::AppOut;
use crate::error::{ApiError, Result, violated_constraint};
use crate::http::extract::PageRequest;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

const COLUMNS: &str = "app_id, name, description, created_at, updated_at";

fn name_taken(e: sqlx::Error, name: &str) -> ApiError {
    if violated_constraint(&e) == Some("apps_org_name_key") {
        ApiError::conflict(
            "app_name_taken",
            format!(
                "An app named `{name}` already exists in this organization; choose another name."
            ),
        )
    } else {
        e.into()
    }
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    name: &str,
    description: &str,
) -> Result<AppOut> {
    sqlx::query_as(&format!(
        "insert into apps (app_id, org_id, name, description) values ($1, $2, $3, $4) returning {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(org_id)
    .bind(name)
    .bind(description)
    .fetch_one(db)
    .await
    .map_err(|e| name_taken(e, name))
}

pub async fn get(db: impl PgExecutor<'_>, org_id: Uuid, app_id: Uuid) -> Result<Option<AppOut>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from apps where org_id = $1 and app_id = $2"
    ))
    .bind(org_id)
    .bind(app_id)
    .fetch_optional(db)
    .await?)
}

/// The app when it exists in the organization, else 404.
pub async fn require(db: impl PgExecutor<'_>, org_id: Uuid, app_id: Uuid) -> Result<()> {
    let found: Option<(i32,)> =
        sqlx::query_as("select 1 from apps where org_id = $1 and app_id = $2")
            .bind(org_id)
            .bind(app_id)
            .fetch_optional(db)
            .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("app"))
}

pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    only: Option<Uuid>,
    page: &PageRequest,
) -> Result<Vec<AppOut>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from apps
         where org_id = $1 and ($2::uuid is null or app_id = $2) and ($3::uuid is null or app_id > $3)
         order by app_id limit $4"
    ))
    .bind(org_id)
    .bind(only)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?)
}

pub async fn update(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Option<AppOut>> {
    sqlx::query_as(&format!(
        "update apps set name = coalesce($3, name), description = coalesce($4, description), updated_at = now()
         where org_id = $1 and app_id = $2 returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(name)
    .bind(description)
    .fetch_optional(db)
    .await
    .map_err(|e| name_taken(e, name.unwrap_or_default()))
}

/// Locks the app row for the rest of the transaction (shared: writers that need it to stay).
pub async fn lock_shared(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    app_id: Uuid,
) -> Result<()> {
    let found: Option<(i32,)> =
        sqlx::query_as("select 1 from apps where org_id = $1 and app_id = $2 for share")
            .bind(org_id)
            .bind(app_id)
            .fetch_optional(&mut **tx)
            .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("app"))
}

/// Deletes the app; refused while it has connectors or live keys limited to it (deleting those
/// keys with the app would let a developer remove keys it may not revoke). Revoked and expired
/// keys of the app go with it.
pub async fn delete(pool: &PgPool, org_id: Uuid, app_id: Uuid) -> Result<()> {
    let mut tx = crate::db::begin(pool).await?;
    let found: Option<(i32,)> =
        sqlx::query_as("select 1 from apps where org_id = $1 and app_id = $2 for update")
            .bind(org_id)
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await?;
    found.ok_or(ApiError::NotFound("app"))?;
    let (live_keys,): (i64,) = sqlx::query_as(
        "select count(*) from api_keys where app_id = $1 and revoked_at is null
           and (expires_at is null or expires_at > now())",
    )
    .bind(app_id)
    .fetch_one(&mut *tx)
    .await?;
    if live_keys > 0 {
        return Err(ApiError::conflict(
            "app_has_api_keys",
            format!(
                "{live_keys} live API key(s) are limited to this app. Revoke them first (DELETE /v1/api-keys/{{keyId}}), then delete the app."
            ),
        ));
    }
    // The app's edge store goes with it (its tables have no foreign key; see the migration).
    for table in ["store_changes", "store_documents"] {
        sqlx::query(&format!("delete from {table} where app_id = $1"))
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("delete from apps where org_id = $1 and app_id = $2")
        .bind(org_id)
        .bind(app_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if violated_constraint(&e) == Some("connectors_app_id_fkey") {
                ApiError::conflict(
                    "app_has_connectors",
                    "The app still has connectors. Delete its connectors first, then the app.",
                )
            } else {
                e.into()
            }
        })?;
    tx.commit().await?;
    Ok(())
}
