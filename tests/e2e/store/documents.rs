//! Documents through DQL: insert, select, update, delete, ids, merge rules, lookups, ordering,
//! bad statements, size limits and quotas.

use super::items;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn insert_select_update_delete(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let out = app
        .dql(
            "INSERT INTO tasks DOCUMENTS (:a), (:b), ({_id: 't3', title: 'call', done: false, prio: 1})",
            json!({"a": {"_id": "t1", "title": "buy milk", "done": false, "prio": 3, "tags": ["home"]},
                   "b": {"title": "walk", "done": true, "prio": 2}}),
        )
        .await;
    assert_eq!(out["queryType"], "insert");
    let ids = out["mutatedDocumentIds"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], "t1");
    assert!(ids[1].as_str().unwrap().len() >= 32, "a generated _id");

    let all = app
        .dql("SELECT * FROM tasks ORDER BY prio DESC", json!({}))
        .await;
    let titles: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["buy milk", "walk", "call"]);
    assert_eq!(
        items(&all)[0],
        json!({"_id": "t1", "done": false, "prio": 3, "tags": ["home"], "title": "buy milk"})
    );

    let open = app
        .dql(
            "SELECT _id, title FROM tasks WHERE done = false AND prio >= :p ORDER BY title",
            json!({"p": 1}),
        )
        .await;
    assert_eq!(
        items(&open),
        [
            json!({"_id": "t1", "title": "buy milk"}),
            json!({"_id": "t3", "title": "call"})
        ]
    );
    let page = app
        .dql(
            "SELECT title FROM tasks ORDER BY title LIMIT 1 OFFSET 1",
            json!({}),
        )
        .await;
    assert_eq!(items(&page), [json!({"title": "call"})]);
    for (filter, n) in [
        ("title LIKE '%l%'", 3),
        ("title LIKE '_al%'", 2),
        ("prio IN (1, 2)", 2),
        ("prio NOT IN [1]", 2),
        ("tags IS MISSING", 2),
        ("tags IS NOT MISSING OR prio = 1", 2),
        ("NOT done", 2),
        ("prio + 1 > 3", 1),
        ("_id IN :ids", 2),
    ] {
        let out = app
            .dql(
                &format!("SELECT * FROM tasks WHERE {filter}"),
                json!({"ids": ["t1", "t3"]}),
            )
            .await;
        assert_eq!(items(&out).len(), n, "{filter}");
    }

    let out = app
        .dql(
            "UPDATE tasks SET done = true, note = 'x' UNSET tags WHERE _id = 't1'",
            json!({}),
        )
        .await;
    assert_eq!(out["mutatedDocumentIds"], json!(["t1"]));
    let t1 = app
        .dql("SELECT * FROM tasks WHERE _id = 't1'", json!({}))
        .await;
    assert_eq!(
        items(&t1)[0],
        json!({"_id": "t1", "done": true, "note": "x", "prio": 3, "title": "buy milk"})
    );

    let out = app
        .dql("DELETE FROM tasks WHERE done = true", json!({}))
        .await;
    assert_eq!(out["mutatedDocumentIds"].as_array().unwrap().len(), 2);
    let left = app.dql("SELECT _id FROM tasks", json!({})).await;
    assert_eq!(items(&left), [json!({"_id": "t3"})]);

    // Unknown collections read as empty.
    assert_eq!(
        items(&app.dql("SELECT * FROM nothing_here", json!({})).await),
        Vec::<Value>::new()
    );
    let out = app
        .dql("UPDATE nothing_here SET a = 1 WHERE true", json!({}))
        .await;
    assert_eq!(out["mutatedDocumentIds"], json!([]));
}

#[sqlx::test(migrations = false)]
async fn id_conflicts_and_composite_ids(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO orders DOCUMENTS ({_id: {orderId: 7, storeId: 's1'}, total: 10})",
        json!({}),
    )
    .await;

    // The same composite id with members in another order is the same document.
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO orders DOCUMENTS ({_id: {storeId: 's1', orderId: 7.0}, total: 99})",
            json!({}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "document_id_conflict").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("ON ID CONFLICT")
    );

    let out = app
        .dql("INSERT INTO orders DOCUMENTS ({_id: {storeId: 's1', orderId: 7}, total: 99}) ON ID CONFLICT DO NOTHING", json!({}))
        .await;
    assert_eq!(out["mutatedDocumentIds"], json!([]));
    app.dql("INSERT INTO orders DOCUMENTS ({_id: {storeId: 's1', orderId: 7}, paid: true}) ON ID CONFLICT DO UPDATE", json!({}))
        .await;
    let found = app
        .dql(
            "SELECT * FROM orders WHERE _id = :id",
            json!({"id": {"storeId": "s1", "orderId": 7}}),
        )
        .await;
    assert_eq!(
        items(&found),
        [json!({"_id": {"orderId": 7, "storeId": "s1"}, "paid": true, "total": 10})]
    );

    // Nothing half-applied: the third document conflicts, so the first two are not inserted.
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO orders DOCUMENTS ({_id: 'a'}), ({_id: 'b'}), ({_id: 'a'})",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "document_id_conflict").await;
    assert_eq!(
        items(
            &app.dql("SELECT * FROM orders WHERE _id IN ('a', 'b')", json!({}))
                .await
        )
        .len(),
        0
    );

    for (doc, code) in [
        ("{_id: null}", "invalid_document_id"),
        ("{_id: [1]}", "invalid_document_id"),
        ("5", "invalid_document"),
    ] {
        let res = app
            .dql_as(
                &app.owner_key,
                &format!("INSERT INTO orders DOCUMENTS ({doc})"),
                json!({}),
            )
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
}

#[sqlx::test(migrations = false)]
async fn strict_and_non_strict_objects_tombstones_and_revival(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO people DOCUMENTS ({_id: 'p', addr: {city: 'Oslo', zip: '0150'}})",
        json!({}),
    )
    .await;
    // Non-strict: members merge.
    app.dql_with(json!({"statement": "UPDATE people SET addr = {city: 'Bergen'} WHERE _id = 'p'", "dqlStrictMode": false})).await;
    let p = app.dql("SELECT addr FROM people", json!({})).await;
    assert_eq!(
        items(&p)[0]["addr"],
        json!({"city": "Bergen", "zip": "0150"})
    );
    // Strict (the default): the object replaces the field.
    app.dql(
        "UPDATE people SET addr = {city: 'Trondheim'} WHERE _id = 'p'",
        json!({}),
    )
    .await;
    let p = app.dql("SELECT addr FROM people", json!({})).await;
    assert_eq!(items(&p)[0]["addr"], json!({"city": "Trondheim"}));

    // Delete leaves a tombstone; a later insert revives the document with only the new fields.
    app.dql("DELETE FROM people WHERE _id = 'p'", json!({}))
        .await;
    assert_eq!(
        items(&app.dql("SELECT * FROM people", json!({})).await).len(),
        0
    );
    app.dql(
        "INSERT INTO people DOCUMENTS ({_id: 'p', name: 'Ann'})",
        json!({}),
    )
    .await;
    assert_eq!(
        items(&app.dql("SELECT * FROM people", json!({})).await),
        [json!({"_id": "p", "name": "Ann"})]
    );
}

#[sqlx::test(migrations = false)]
async fn bad_statements_get_clear_errors(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .dql_as(
            &app.owner_key,
            "SELECT * FROM tasks WHERE done = = true",
            json!({}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "dql_syntax_error").await;
    assert_eq!(problem["statementError"]["position"], 33);
    assert_eq!(problem["statementError"]["column"], 34);
    assert!(problem["detail"].as_str().unwrap().contains("expected"));

    let res = app
        .dql_as(
            &app.owner_key,
            "SELECT * FROM tasks WHERE a = :nope",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "dql_missing_argument").await;
    let res = app
        .dql_as(&app.owner_key, "DELETE FROM tasks", json!({}))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "dql_syntax_error").await;
    let res = app
        .dql_as(
            &app.owner_key,
            "SELECT * FROM tasks LIMIT 100000",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "dql_limit_too_large").await;
    let res = app
        .dql_as(
            &app.owner_key,
            "UPDATE t SET a[0] = 1 WHERE true",
            json!({}),
        )
        .await;
    // No document matches, so nothing is written and nothing refused.
    assert_eq!(res.status(), StatusCode::OK);
    app.dql("INSERT INTO t DOCUMENTS ({_id: 1, a: [1]})", json!({}))
        .await;
    let res = app
        .dql_as(
            &app.owner_key,
            "UPDATE t SET a[0] = 1 WHERE true",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "dql_invalid_write").await;
    let res = app
        .post(
            &app.store_path(),
            &app.owner_key,
            &json!({"statement": format!("SELECT * FROM t WHERE a = '{}'", "x".repeat(70_000))}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "statement_too_long").await;
}

#[sqlx::test(migrations = false)]
async fn size_limits_and_quotas(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| {
        c.store_limits.max_document_bytes = 1024;
        c.store_limits.max_documents_per_app = 3;
        c.store_limits.default_result_items = 2;
    })
    .await;
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO t DOCUMENTS (:d)",
            json!({"d": {"big": "x".repeat(2000)}}),
        )
        .await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "document_too_large").await;
    app.dql(
        "INSERT INTO t DOCUMENTS ({_id: 1}), ({_id: 2}), ({_id: 3})",
        json!({}),
    )
    .await;
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO t DOCUMENTS ({_id: 4})",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "quota_exceeded").await;
    // The default result size cuts with a warning.
    let out = app.dql("SELECT * FROM t", json!({})).await;
    assert_eq!(items(&out).len(), 2);
    assert_eq!(out["warnings"].as_array().unwrap().len(), 1);
    let out = app.dql("SELECT * FROM t LIMIT 3", json!({})).await;
    assert_eq!(items(&out).len(), 3);
}

#[sqlx::test(migrations = false)]
async fn id_lookups_numbers_origins_and_depth(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO n DOCUMENTS ({_id: 1, a: 0}), ({_id: 9007199254740993, a: 1}), ({_id: 9007199254740992, a: 2})",
        json!({}),
    )
    .await;
    // `_id` compared with an expression over the document is not a key lookup.
    let out = app
        .dql("SELECT _id FROM n WHERE _id = a + 1", json!({}))
        .await;
    assert_eq!(items(&out), [json!({"_id": 1})]);
    // Large integer ids stay distinct.
    let out = app
        .dql("SELECT a FROM n WHERE _id = 9007199254740993", json!({}))
        .await;
    assert_eq!(items(&out), [json!({"a": 1})]);
    // `IN (:v)` with a single value.
    let out = app
        .dql("SELECT _id FROM n WHERE a IN (:v)", json!({"v": 2}))
        .await;
    assert_eq!(items(&out).len(), 1);

    // The feed's actor is always the key; `origin` cannot pose as another writer.
    app.dql_with(
        json!({"statement": "INSERT INTO o DOCUMENTS ({_id: 'x'})", "origin": "key:someone-else"}),
    )
    .await;
    app.feed_settles_at(4).await;
    let feed = app.changes("collections=o").await;
    let change = &feed["changes"][0];
    assert_eq!(change["origin"], "key:someone-else");
    assert!(change["actor"].as_str().unwrap().starts_with("key:"));
    assert_ne!(change["actor"], "key:someone-else");

    // Documents nested too deeply to be stored safely are refused.
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({"d": deep});
    }
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO n DOCUMENTS (:d)",
            json!({"d": {"x": deep}}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "document_too_deep").await;
}

#[sqlx::test(migrations = false)]
async fn order_by_keeps_only_the_best_matches_and_offsets_are_bounded(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // 60 documents whose priorities are a permutation of 0..60 (key order differs from it).
    let docs: Vec<Value> = (0..60)
        .map(|i| json!({"_id": format!("d{i:02}"), "p": (i * 37) % 60}))
        .collect();
    app.dql("INSERT INTO o DOCUMENTS (:a)", json!({"a": docs[0]}))
        .await;
    for d in &docs[1..] {
        app.dql("INSERT INTO o DOCUMENTS (:a)", json!({"a": d}))
            .await;
    }
    let out = app
        .dql(
            "SELECT p FROM o WHERE p >= 0 ORDER BY p DESC LIMIT 3 OFFSET 2",
            json!({}),
        )
        .await;
    assert_eq!(
        items(&out),
        [json!({"p": 57}), json!({"p": 56}), json!({"p": 55})]
    );
    let out = app
        .dql("SELECT p FROM o ORDER BY p LIMIT 4", json!({}))
        .await;
    assert_eq!(
        items(&out),
        [
            json!({"p": 0}),
            json!({"p": 1}),
            json!({"p": 2}),
            json!({"p": 3})
        ]
    );
    let res = app
        .dql_as(&app.owner_key, "SELECT * FROM o OFFSET 100001", json!({}))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "dql_offset_too_large").await;
}
