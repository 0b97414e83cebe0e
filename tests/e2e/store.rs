//! The edge store through HTTP: every DQL form, the merge rules, limits, the change feed (also
//! under concurrent writers), the compatibility path and tenancy.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::{Duration, Instant};

impl TestApp {
    fn store_path(&self) -> String {
        format!("/v1/apps/{}/store/execute", self.app_id)
    }

    async fn dql_as(&self, key: &str, statement: &str, args: Value) -> reqwest::Response {
        self.post(
            &self.store_path(),
            key,
            &json!({"statement": statement, "args": args}),
        )
        .await
    }

    /// Runs a statement that must succeed and returns its answer.
    async fn dql(&self, statement: &str, args: Value) -> Value {
        let res = self.dql_as(&self.owner_key, statement, args).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{statement}: {body}");
        body
    }

    async fn dql_with(&self, body: Value) -> Value {
        let res = self.post(&self.store_path(), &self.owner_key, &body).await;
        let status = res.status();
        let out: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}: {out}");
        out
    }

    /// Waits until the feed from the start shows `n` changes (a change becomes readable once
    /// every older transaction in the cluster has ended, and tests run side by side).
    async fn feed_settles_at(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self.changes("limit=1000").await;
            if page["changes"].as_array().unwrap().len() >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the feed did not reach {n} changes: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn changes(&self, query: &str) -> Value {
        let res = self
            .get(
                &format!("/v1/apps/{}/store/changes?{query}", self.app_id),
                &self.owner_key,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

fn items(answer: &Value) -> Vec<Value> {
    answer["items"].as_array().unwrap().clone()
}

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

#[sqlx::test(migrations = false)]
async fn compatibility_path_roles_and_tenancy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url(&format!("/{}/api/v4/store/execute", app.app_id)))
        .header("authorization", format!("bearer {}", app.owner_key))
        .json(&json!({"statement": "INSERT INTO cars DOCUMENTS (:car)", "args": {"car": {"_id": "c1", "make": "Volvo"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = app
        .post(
            &format!("/{}/api/v4/store/execute", app.app_id),
            &app.owner_key,
            &json!({"statement": "SELECT * FROM cars"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["items"], json!([{"_id": "c1", "make": "Volvo"}]));

    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    assert_eq!(
        app.dql_as(&viewer, "SELECT * FROM cars", json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.dql_as(&viewer, "DELETE FROM cars WHERE true", json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let (_, other) = app.create_org("globex").await;
    for path in [
        format!("/v1/apps/{}/store/execute", app.app_id),
        format!("/{}/api/v4/store/execute", app.app_id),
    ] {
        let res = app
            .post(&path, &other, &json!({"statement": "SELECT * FROM cars"}))
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app
        .get(&format!("/v1/apps/{}/store/changes", app.app_id), &other)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // Writes from the other organization (owner and viewer) answer 404 and change nothing.
    let other_viewer = app.create_key(&other, "viewer", None).await;
    for key in [&other, &other_viewer] {
        for statement in [
            "INSERT INTO cars DOCUMENTS ({_id: 'c1', make: 'Saab'}) ON ID CONFLICT DO UPDATE",
            "INSERT INTO cars DOCUMENTS ({_id: 'c2'})",
            "UPDATE cars SET make = 'Saab' WHERE true",
            "DELETE FROM cars WHERE true",
        ] {
            let res = app.dql_as(key, statement, json!({})).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    // Unchanged.
    assert_eq!(
        items(&app.dql("SELECT * FROM cars", json!({})).await),
        [json!({"_id": "c1", "make": "Volvo"})]
    );
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
async fn deleting_an_app_deletes_its_store(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other = app.create_app(&app.owner_key, "other").await;
    app.dql("INSERT INTO t DOCUMENTS ({_id: 1}), ({_id: 2})", json!({}))
        .await;
    let res = app
        .post(
            &format!("/v1/apps/{other}/store/execute"),
            &app.owner_key,
            &json!({"statement": "INSERT INTO t DOCUMENTS ({_id: 1})"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .delete(&format!("/v1/apps/{}", app.app_id), &app.owner_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for table in ["store_documents", "store_changes"] {
        let (gone,): (i64,) =
            sqlx::query_as(&format!("select count(*) from {table} where app_id = $1"))
                .bind(app.app_id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(gone, 0, "{table}");
        let (kept,): (i64,) =
            sqlx::query_as(&format!("select count(*) from {table} where app_id = $1"))
                .bind(other)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(kept, 1, "{table} of the other app");
    }
    // Writes to the deleted app answer 404 and leave nothing behind.
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO t DOCUMENTS ({_id: 3})",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let (orphans,): (i64,) =
        sqlx::query_as("select count(*) from store_documents where app_id = $1")
            .bind(app.app_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(orphans, 0);
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
