//! Encryption at rest: key rotation re-encrypts in place; a ciphertext moved to another row or
//! tampered with fails loudly.

use crate::helpers::*;
use edgebridge_api::admin::rotate_keys;
use edgebridge_api::crypto::{CryptoError, Keyring, connector_secret_aad};
use sqlx::PgPool;
use uuid::Uuid;

async fn secret_of(pool: &PgPool, id: Uuid) -> (Vec<u8>, String) {
    sqlx::query_as(
        "select connection_ciphertext, connection_key_id from connectors where connector_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn rotation_re_encrypts_every_secret_under_the_active_key(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id_of(
            &app.create_connector(&own_connector_spec(&format!("c{i}")))
                .await,
        ));
    }
    let rotated_ring =
        Keyring::parse(&format!("{},{}", key_entry("k2", 2), key_entry("k1", 1))).unwrap();
    let report = rotate_keys(&app.pool, &rotated_ring).await.unwrap();
    assert_eq!(report.active_key_id, "k2");
    assert_eq!(report.rotated, 3);
    assert!(report.failed.is_empty());

    let only_new = Keyring::parse(&key_entry("k2", 2)).unwrap();
    for id in &ids {
        let (ciphertext, key_id) = secret_of(&app.pool, *id).await;
        assert_eq!(key_id, "k2");
        let plain = only_new
            .decrypt(&ciphertext, &connector_secret_aad(app.org_id, *id))
            .unwrap();
        assert!(String::from_utf8(plain).unwrap().contains(PASSWORD));
    }
    // Idempotent.
    let again = rotate_keys(&app.pool, &rotated_ring).await.unwrap();
    assert_eq!(again.rotated, 0);
}

#[sqlx::test(migrations = false)]
async fn moved_or_tampered_ciphertexts_fail_to_open(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let a = id_of(&app.create_connector(&own_connector_spec("a")).await);
    let b = id_of(&app.create_connector(&own_connector_spec("b")).await);
    let c = id_of(&app.create_connector(&own_connector_spec("c")).await);

    // Copy a's ciphertext into b's row.
    let (a_secret, _) = secret_of(&app.pool, a).await;
    sqlx::query("update connectors set connection_ciphertext = $1 where connector_id = $2")
        .bind(&a_secret)
        .bind(b)
        .execute(&app.pool)
        .await
        .unwrap();
    let (moved, _) = secret_of(&app.pool, b).await;
    assert_eq!(
        test_keyring().decrypt(&moved, &connector_secret_aad(app.org_id, b)),
        Err(CryptoError::Authentication)
    );

    // Flip one byte of c's ciphertext.
    sqlx::query(
        "update connectors set connection_ciphertext = set_byte(connection_ciphertext, 19, get_byte(connection_ciphertext, 19) # 1) where connector_id = $1",
    )
    .bind(c)
    .execute(&app.pool)
    .await
    .unwrap();
    let (tampered, _) = secret_of(&app.pool, c).await;
    assert!(
        test_keyring()
            .decrypt(&tampered, &connector_secret_aad(app.org_id, c))
            .is_err()
    );

    // Rotation reports both, rotates the intact one, and leaves the broken rows as they were.
    let ring = Keyring::parse(&format!("{},{}", key_entry("k2", 2), key_entry("k1", 1))).unwrap();
    let report = rotate_keys(&app.pool, &ring).await.unwrap();
    assert_eq!(report.rotated, 1);
    let mut failed = report.failed.clone();
    failed.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(failed, expected);
    assert_eq!(secret_of(&app.pool, b).await, (a_secret, "k1".to_owned()));
}
