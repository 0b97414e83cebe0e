//! Concurrent writers: counters, one document under many writers, group-committed inserts.

use super::items;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn counters_add_up_under_concurrent_writers_and_resets_win(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO inventory DOCUMENTS ({_id: 'sku1', quantity: 100})",
        json!({}),
    )
    .await;
    let app = std::sync::Arc::new(app);
    let mut writers = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..5 {
                let by = if i % 2 == 0 { -1 } else { 2 };
                app.dql(
                    "UPDATE inventory APPLY quantity INCREMENT BY :by WHERE _id = 'sku1'",
                    json!({"by": by}),
                )
                .await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // 4 writers x 5 x -1 and 4 x 5 x +2.
    let out = app.dql("SELECT quantity FROM inventory", json!({})).await;
    assert_eq!(items(&out)[0]["quantity"], json!(120));

    // An absolute write resets; later increments count from it.
    app.dql(
        "UPDATE inventory APPLY quantity RESTART WITH 25 WHERE _id = 'sku1'",
        json!({}),
    )
    .await;
    app.dql(
        "UPDATE inventory APPLY quantity INCREMENT BY -5 WHERE _id = 'sku1'",
        json!({}),
    )
    .await;
    assert_eq!(
        items(&app.dql("SELECT quantity FROM inventory", json!({})).await)[0]["quantity"],
        json!(20)
    );
    app.dql(
        "UPDATE inventory SET quantity = 7 WHERE _id = 'sku1'",
        json!({}),
    )
    .await;
    app.dql(
        "UPDATE inventory APPLY quantity INCREMENT BY 1 WHERE _id = 'sku1'",
        json!({}),
    )
    .await;
    assert_eq!(
        items(&app.dql("SELECT quantity FROM inventory", json!({})).await)[0]["quantity"],
        json!(8)
    );
    app.dql(
        "UPDATE inventory APPLY quantity RESTART WHERE _id = 'sku1'",
        json!({}),
    )
    .await;
    assert_eq!(
        items(&app.dql("SELECT quantity FROM inventory", json!({})).await)[0]["quantity"],
        json!(0)
    );
}

#[sqlx::test(migrations = false)]
async fn concurrent_writers_on_one_document_lose_nothing(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    app.dql("INSERT INTO docs DOCUMENTS ({_id: 'shared'})", json!({}))
        .await;
    let mut writers = Vec::new();
    for i in 0..10 {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            app.dql_with(json!({"statement": format!("UPDATE docs SET f{i} = {i} WHERE _id = 'shared'"), "dqlStrictMode": false}))
                .await;
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let doc = items(&app.dql("SELECT * FROM docs", json!({})).await)[0].clone();
    for i in 0..10 {
        assert_eq!(doc[format!("f{i}")], json!(i), "{doc}");
    }
    // Concurrent inserts of one new _id: one creates it, the others merge into it.
    let mut inserts = Vec::new();
    for i in 0..6 {
        let app = app.clone();
        inserts.push(tokio::spawn(async move {
            app.dql(&format!("INSERT INTO docs DOCUMENTS ({{_id: 'new', w{i}: true}}) ON ID CONFLICT DO UPDATE"), json!({}))
                .await;
        }));
    }
    for i in inserts {
        i.await.unwrap();
    }
    let new = items(
        &app.dql("SELECT * FROM docs WHERE _id = 'new'", json!({}))
            .await,
    )[0]
    .clone();
    assert_eq!(new.as_object().unwrap().len(), 7, "{new}");
}

#[sqlx::test(migrations = false)]
async fn group_committed_inserts_keep_their_own_outcomes(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    app.dql("INSERT INTO g DOCUMENTS ({_id: 'taken'})", json!({}))
        .await;
    // Many small inserts at once share statements; the ones that hit a taken _id fail alone.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let id = if i % 10 == 0 {
                "taken".to_owned()
            } else {
                format!("n{i}")
            };
            let res = app
                .dql_as(
                    &app.owner_key,
                    "INSERT INTO g DOCUMENTS (:d)",
                    json!({"d": {"_id": id, "i": i}}),
                )
                .await;
            res.status()
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, conflicts), (36, 4));
    let all = app.dql("SELECT * FROM g", json!({})).await;
    assert_eq!(items(&all).len(), 37);
    let taken = app
        .dql("SELECT * FROM g WHERE _id = 'taken'", json!({}))
        .await;
    assert_eq!(
        items(&taken),
        [json!({"_id": "taken"})],
        "the taken document is untouched"
    );
    app.feed_settles_at(37).await;
    let feed = app.changes("limit=1000").await;
    assert_eq!(
        feed["changes"].as_array().unwrap().len(),
        37,
        "one change per written document"
    );
}
