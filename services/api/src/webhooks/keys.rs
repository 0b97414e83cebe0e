//! Webhook secrets at rest: encrypted with the api's [`Keyring`] exactly like connection strings
//! (AAD binding organization and webhook), and re-encrypted by `keys rotate`.

use super::repo::{self, SealedKey};
use super::signature::{SigningKey, webhook_secret_aad};
use crate::admin::RotationReport;
use crate::crypto::{CryptoError, Keyring};
use sqlx::PgPool;
use uuid::Uuid;

pub fn seal(keyring: &Keyring, org_id: Uuid, webhook_id: Uuid, key: &SigningKey) -> SealedKey {
    SealedKey {
        ciphertext: keyring.encrypt(key.expose(), &webhook_secret_aad(org_id, webhook_id)),
        key_id: keyring.active_id().to_owned(),
    }
}

pub fn open(
    keyring: &Keyring,
    org_id: Uuid,
    webhook_id: Uuid,
    ciphertext: &[u8],
) -> Result<SigningKey, CryptoError> {
    keyring
        .decrypt(ciphertext, &webhook_secret_aad(org_id, webhook_id))
        .map(SigningKey::from_bytes)
}

const BATCH: i64 = 200;

/// Re-encrypts every webhook secret not under the active key, in batches of short statements,
/// adding to `report` (a secret that cannot be opened is listed by webhook id in `failed`).
pub async fn rotate_secrets(
    pool: &PgPool,
    keyring: &Keyring,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    let mut after = None;
    loop {
        let rows = repo::secrets_not_under(pool, keyring.active_id(), after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.webhook_id);
        for row in &rows {
            let key = match open(keyring, row.org_id, row.webhook_id, &row.secret_ciphertext) {
                Ok(key) => key,
                Err(e) => {
                    tracing::error!(webhook_id = %row.webhook_id, error = %e, "cannot re-encrypt a webhook secret");
                    report.failed.push(row.webhook_id);
                    continue;
                }
            };
            let sealed = seal(keyring, row.org_id, row.webhook_id, &key);
            if repo::replace_secret(pool, row, &sealed).await? {
                report.rotated += 1;
            } else {
                report.skipped_concurrent += 1;
            }
        }
    }
    Ok(())
}
