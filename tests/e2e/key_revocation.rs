//! Revoking a key revokes the keys it created, transitively: a leaked key cannot leave keys
//! behind that outlive it. The caller's own key (and what it created) is spared, so an owner can
//! rotate its key by revoking the one that created it.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

struct Key {
    id: Uuid,
    key: String,
}

async fn create(app: &TestApp, creator: &str, role: &str) -> Key {
    let res = app
        .post(
            "/v1/api-keys",
            creator,
            &json!({"name": format!("{role} key"), "role": role}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    Key {
        id: id_of(&body),
        key: body["key"].as_str().unwrap().to_owned(),
    }
}

async fn revoke(app: &TestApp, caller: &str, id: Uuid) -> (usize, Vec<Uuid>) {
    let res = app.delete(&format!("/v1/api-keys/{id}"), caller).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let ids: Vec<Uuid> = body["revokedKeyIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(body["revokedCount"], ids.len(), "{body}");
    (ids.len(), ids)
}

async fn works(app: &TestApp, credential: &str) -> bool {
    match app.get("/v1/apps", credential).await.status() {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}"),
    }
}

#[sqlx::test(migrations = false)]
async fn revoking_a_key_revokes_every_key_created_under_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // owner ─┬─ a (admin) ─┬─ b (admin) ── c (viewer)
    //        │             └─ d (viewer)
    //        └─ e (viewer)
    let a = create(&app, &app.owner_key, "admin").await;
    let b = create(&app, &a.key, "admin").await;
    let c = create(&app, &b.key, "viewer").await;
    let d = create(&app, &a.key, "viewer").await;
    let e = create(&app, &app.owner_key, "viewer").await;
    let c_token: Value = app
        .post("/v1/auth/token", &c.key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let c_token = c_token["accessToken"].as_str().unwrap().to_owned();
    // b was revoked before cascading existed: its own key c is still live, and still reached.
    sqlx::query("update api_keys set revoked_at = now() where key_id = $1")
        .bind(b.id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(works(&app, &c.key).await);

    let (count, ids) = revoke(&app, &app.owner_key, a.id).await;
    assert_eq!(count, 3);
    assert_eq!(ids[0], a.id, "the named key first");
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([a.id, c.id, d.id])
    );
    for gone in [&a.key, &b.key, &c.key, &d.key, &c_token] {
        assert!(!works(&app, gone).await);
    }
    assert!(works(&app, &e.key).await);
    assert!(works(&app, &app.owner_key).await);
    let listed = app
        .get("/v1/api-keys", &app.owner_key)
        .await
        .text()
        .await
        .unwrap();
    for id in [a.id, b.id, c.id, d.id] {
        assert!(!listed.contains(&id.to_string()), "{listed}");
    }
    assert!(listed.contains(&e.id.to_string()));
}

#[sqlx::test(migrations = false)]
async fn the_callers_own_key_survives_revoking_the_key_that_created_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let first_owner: (Uuid,) = sqlx::query_as("select key_id from api_keys where prefix = $1")
        .bind(&app.owner_key[4..16])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Rotation: the first owner key creates its successor and a CI key; the successor creates
    // a dashboard key, then revokes the first owner key.
    let successor = create(&app, &app.owner_key, "owner").await;
    let ci = create(&app, &app.owner_key, "developer").await;
    let dashboard = create(&app, &successor.key, "viewer").await;

    let (count, ids) = revoke(&app, &successor.key, first_owner.0).await;
    assert_eq!(count, 2);
    assert_eq!(ids, [first_owner.0, ci.id]);
    assert!(!works(&app, &app.owner_key).await);
    assert!(!works(&app, &ci.key).await);
    assert!(works(&app, &successor.key).await);
    assert!(works(&app, &dashboard.key).await);

    // Revoking one's own key takes what it created along.
    let (count, _) = revoke(&app, &successor.key, successor.id).await;
    assert_eq!(count, 2);
    assert!(!works(&app, &dashboard.key).await);
}

/// A key revoked through one api replica stops working on another within that replica's key
/// cache time, however often it is used meanwhile (a cache hit never extends the entry), and at
/// once on the replica that revoked it.
#[sqlx::test(migrations = false)]
async fn a_revoked_key_stops_working_on_every_replica(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let other = TestApp::spawn_with(pool, |c| {
        c.key_cache_ttl = std::time::Duration::from_millis(500);
    })
    .await;
    let key = create(&app, &app.owner_key, "developer").await;
    // Cached on the other replica.
    assert_eq!(
        other.get("/v1/apps", &key.key).await.status(),
        StatusCode::OK
    );
    let res = app
        .delete(&format!("/v1/api-keys/{}", key.id), &app.owner_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // At once here.
    assert_eq!(
        app.get("/v1/apps", &key.key).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // There, used every 50 ms: refused within the cache time (and a margin), never later.
    let started = std::time::Instant::now();
    loop {
        let status = other.get("/v1/apps", &key.key).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the revoked key still worked after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
