//! Operator commands that run against the database directly: key rotation and the development
//! bootstrap.

use crate::api_keys;
use crate::connectors::repo;
use crate::crypto::{Keyring, connector_secret_aad};
use secrecy::SecretString;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// What `keys rotate` did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    pub active_key_id: String,
    /// Secrets re-encrypted under the active key.
    pub rotated: u64,
    /// Secrets changed by someone else meanwhile (already re-encrypted by their writer).
    pub skipped_concurrent: u64,
    /// Secrets that could not be opened (unknown key or tampered), by connector or webhook id.
    pub failed: Vec<Uuid>,
}

const BATCH: i64 = 200;

/// Re-encrypts every stored connector and webhook secret that is not under the active key, in
/// batches of short statements (no long transaction). Safe to re-run; safe beside a running api.
pub async fn rotate_keys(pool: &PgPool, keyring: &Keyring) -> anyhow::Result<RotationReport> {
    let mut report = RotationReport {
        active_key_id: keyring.active_id().to_owned(),
        ..Default::default()
    };
    let mut after = None;
    loop {
        let rows = repo::secrets_not_under(pool, keyring.active_id(), after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.connector_id);
        for row in &rows {
            let aad = connector_secret_aad(row.org_id, row.connector_id);
            let plaintext = match keyring.decrypt(&row.connection_ciphertext, &aad) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(connector_id = %row.connector_id, error = %e, "cannot re-encrypt");
                    report.failed.push(row.connector_id);
                    continue;
                }
            };
            let sealed = keyring.encrypt(&plaintext, &aad);
            if repo::replace_secret(pool, row, &sealed, keyring.active_id()).await? {
                report.rotated += 1;
            } else {
                report.skipped_concurrent += 1;
            }
        }
    }
    crate::webhooks::keys::rotate_secrets(pool, keyring, &mut report).await?;
    Ok(report)
}

/// The first organization, app and owner key of an empty development database.
pub struct DevBootstrap {
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub api_key: SecretString,
}

/// Creates organization `default`, app `default` and an owner key when no organization exists.
pub async fn bootstrap_dev(pool: &PgPool) -> anyhow::Result<Option<DevBootstrap>> {
    let (count,): (i64,) = sqlx::query_as("select count(*) from organizations")
        .fetch_one(pool)
        .await?;
    if count > 0 {
        return Ok(None);
    }
    let (org_id, _, api_key) = api_keys::create_organization(pool, "default")
        .await
        .map_err(|e| anyhow::anyhow!("creating the default organization: {e}"))?;
    let app = crate::apps::repo::insert(pool, org_id, "default", "created by --dev")
        .await
        .map_err(|e| anyhow::anyhow!("creating the default app: {e}"))?;
    Ok(Some(DevBootstrap {
        org_id,
        app_id: app.id,
        api_key,
    }))
}
