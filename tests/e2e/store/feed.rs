//! The change feed: order, filters, resumption, long polls, concurrent writers.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[sqlx::test(migrations = false)]
async fn change_feed_orders_filters_and_resumes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql("INSERT INTO a DOCUMENTS ({_id: 1, v: 1})", json!({}))
        .await;
    app.dql_with(
        json!({"statement": "INSERT INTO b DOCUMENTS ({_id: 2})", "origin": "connector:retail"}),
    )
    .await;
    app.dql("UPDATE a SET v = 2 WHERE _id = 1", json!({})).await;
    app.dql("DELETE FROM a WHERE _id = 1", json!({})).await;
    app.feed_settles_at(4).await;

    let page = app.changes("").await;
    let changes = page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[0]["document"], json!({"_id": 1, "v": 1}));
    assert_eq!(changes[1]["origin"], "connector:retail");
    assert_eq!(changes[2]["document"]["v"], 2);
    assert_eq!(changes[3]["deleted"], true);
    assert_eq!(changes[3]["document"], Value::Null);

    let only_a = app.changes("collections=a").await;
    assert_eq!(only_a["changes"].as_array().unwrap().len(), 3);
    let not_mine = app.changes("excludeOrigin=connector:retail").await;
    assert_eq!(not_mine["changes"].as_array().unwrap().len(), 3);
    // Left-out changes are skipped over: a page of one after the first change is the third,
    // and its cursor is past the left-out second.
    let first = changes[0]["cursor"].as_str().unwrap();
    let skipped = app
        .changes(&format!(
            "after={first}&limit=1&wait=10&excludeOrigin=connector:retail"
        ))
        .await;
    assert_eq!(skipped["changes"].as_array().unwrap().len(), 1);
    assert_eq!(skipped["changes"][0]["cursor"], changes[2]["cursor"]);
    assert_eq!(skipped["nextCursor"], changes[2]["cursor"]);
    // A full page ends at its last kept change, so the next page starts right after it.
    let page = app.changes("limit=2&excludeOrigin=connector:retail").await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 2);
    assert_eq!(page["changes"][1]["cursor"], changes[2]["cursor"]);
    assert_eq!(page["nextCursor"], changes[2]["cursor"]);
    let page = app
        .changes(&format!(
            "after={}&limit=2&excludeOrigin=connector:retail",
            page["nextCursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    assert_eq!(page["changes"][0]["deleted"], true);
    // A page that kept nothing still moves its cursor past everything it read.
    let none = app.changes("collections=nothing-here").await;
    assert_eq!(none["changes"], json!([]));
    assert_eq!(none["nextCursor"], changes[3]["cursor"]);

    // Resume after the second change, in pages of one.
    let cursor = changes[1]["cursor"].as_str().unwrap();
    let next = app.changes(&format!("after={cursor}&limit=1")).await;
    assert_eq!(next["changes"][0]["document"]["v"], 2);
    let rest = app
        .changes(&format!("after={}", next["nextCursor"].as_str().unwrap()))
        .await;
    assert_eq!(rest["changes"].as_array().unwrap().len(), 1);
    let end = app
        .changes(&format!("after={}", rest["nextCursor"].as_str().unwrap()))
        .await;
    assert_eq!(end["changes"], json!([]));
    assert_eq!(end["nextCursor"], rest["nextCursor"]);

    // A second server over the same database resumes from the cursor (cursors survive restarts).
    let other = TestApp::spawn(app.pool.clone()).await;
    let res = other
        .get(
            &format!("/v1/apps/{}/store/changes?after={cursor}", app.app_id),
            &app.owner_key,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["changes"].as_array().unwrap().len(), 2);

    for bad in ["after=garbage", "limit=0", "wait=31"] {
        let res = app
            .get(
                &format!("/v1/apps/{}/store/changes?{bad}", app.app_id),
                &app.owner_key,
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[sqlx::test(migrations = false)]
async fn long_poll_wakes_on_a_new_change(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    let start = app.changes("").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.dql("INSERT INTO late DOCUMENTS ({_id: 'x'})", json!({}))
                .await;
        })
    };
    let started = Instant::now();
    let page = app.changes(&format!("after={start}&wait=10")).await;
    let waited = started.elapsed();
    writer.await.unwrap();
    assert_eq!(page["changes"][0]["documentId"], "x");
    assert!(
        waited >= Duration::from_millis(250),
        "it waited for the write ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(10),
        "it woke before the timeout ({waited:?})"
    );

    // Nothing new: answers empty once `wait` is over.
    let cursor = page["nextCursor"].as_str().unwrap();
    let started = Instant::now();
    let empty = app.changes(&format!("after={cursor}&wait=1")).await;
    assert_eq!(empty["changes"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[sqlx::test(migrations = false)]
async fn the_feed_never_skips_a_change_under_concurrent_writers(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                app.dql(
                    "INSERT INTO c DOCUMENTS (:d)",
                    json!({"d": {"_id": format!("{w}-{i}")}}),
                )
                .await;
            }
        }));
    }
    // Read while they write, page by page, with a small page size.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < WRITERS * EACH {
        assert!(Instant::now() < deadline, "saw only {} changes", seen.len());
        let page = app.changes(&format!("after={cursor}&limit=7&wait=1")).await;
        for change in page["changes"].as_array().unwrap() {
            seen.push(change["documentId"].as_str().unwrap().to_owned());
        }
        cursor = page["nextCursor"].as_str().unwrap().to_owned();
    }
    for w in writers {
        w.await.unwrap();
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), WRITERS * EACH, "every change exactly once");
    assert_eq!(seen.len(), WRITERS * EACH);
    // Each writer's changes arrive in the order it made them.
    for w in 0..WRITERS {
        let order: Vec<usize> = seen
            .iter()
            .filter_map(|id| {
                id.strip_prefix(&format!("{w}-"))
                    .map(|n| n.parse().unwrap())
            })
            .collect();
        assert!(
            order.windows(2).all(|p| p[0] < p[1]),
            "writer {w}: {order:?}"
        );
    }
    let again = app.changes(&format!("after={cursor}")).await;
    assert_eq!(again["changes"], json!([]));
}

/// The feed is ordered by transaction id as a number. Transaction ids 9 and 10 (written here
/// directly, as transactions long ago would have left them) read "10" before "9" as text; in
/// that order a page of one would return 10 first and its cursor would skip 9 for good.
#[sqlx::test(migrations = false)]
async fn change_feed_orders_transaction_ids_numerically_across_a_digit(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    sqlx::query(
        "insert into store_changes (app_id, tx_id, collection, doc_key, value, origin, actor)
         select $1, t.tx::xid8, 'a', t.key, convert_to(t.doc, 'UTF8'), null, 'test'
         from (values ('9', '1', '{\"_id\":1}'), ('10', '2', '{\"_id\":2}')) as t(tx, key, doc)",
    )
    .bind(app.app_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..4 {
        let page = app.changes(&format!("limit=1&after={cursor}")).await;
        for change in page["changes"].as_array().unwrap() {
            seen.push(change["document"]["_id"].clone());
        }
        cursor = page["nextCursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, vec![json!(1), json!(2)]);
}
