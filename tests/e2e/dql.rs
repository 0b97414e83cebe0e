//! DQL through HTTP as users and hostile tenants write it: costly statements are bounded and
//! never stall other tenants, numbers overflow loudly, keywords work as names, COUNT(*) and
//! `system:collections` answer, and unsupported constructs are named.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Sends a statement to an app's store (`compat`: at the compatibility path) and answers the
/// status and body.
async fn send(
    app: &TestApp,
    app_id: Uuid,
    key: &str,
    statement: &str,
    args: Value,
    compat: bool,
) -> (StatusCode, Value) {
    let path = if compat {
        format!("/{app_id}/api/v4/store/execute")
    } else {
        format!("/v1/apps/{app_id}/store/execute")
    };
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(key)
        .json(&json!({"statement": statement, "args": args}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Runs a statement as the owner that must succeed; answers its items.
async fn ok(app: &TestApp, statement: &str, args: Value) -> Vec<Value> {
    let (status, body) = send(app, app.app_id, &app.owner_key, statement, args, false).await;
    assert_eq!(status, StatusCode::OK, "{statement}: {body}");
    body["items"].as_array().unwrap().clone()
}

/// Runs a statement as the owner that must fail with `status` and `code`; answers the detail.
async fn refused(
    app: &TestApp,
    statement: &str,
    args: Value,
    status: StatusCode,
    code: &str,
) -> String {
    let (actual, body) = send(app, app.app_id, &app.owner_key, statement, args, false).await;
    assert_eq!(
        (actual, body["code"].as_str()),
        (status, Some(code)),
        "{statement}: {body}"
    );
    body["detail"].as_str().unwrap().to_owned()
}

/// Three documents with a 250,000-character string (under the default 256 KiB document limit).
async fn insert_long_strings(app: &TestApp) {
    let s = "a".repeat(250_000);
    for id in ["x", "y", "z"] {
        ok(
            app,
            "INSERT INTO c DOCUMENTS (:d)",
            json!({"d": {"_id": id, "s": s}}),
        )
        .await;
    }
}

#[sqlx::test(migrations = false)]
async fn hostile_like_patterns_answer_quickly(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.store_limits.max_statement_work = 20_000_000).await;
    insert_long_strings(&app).await;
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    // As a viewer, at the compatibility path, the pattern as an argument.
    let like = async |pattern: String| {
        let started = Instant::now();
        let statement = "SELECT _id FROM c WHERE s LIKE :p";
        let answer = send(
            &app,
            app.app_id,
            &viewer,
            statement,
            json!({"p": pattern}),
            true,
        )
        .await;
        (answer, started.elapsed())
    };

    // The pattern (an argument, so the statement limit does not apply): refused for its
    // length, at once.
    let ((status, body), took) = like(format!("%{}b", "a".repeat(125_000))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "pattern_too_long");
    assert!(body["detail"].as_str().unwrap().contains("4096"), "{body}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // As long as allowed, searched for: linear (backtracking took ~3 billion steps here).
    let ((status, body), took) = like(format!("%{}b%", "a".repeat(4_000))).await;
    assert_eq!(
        (status, &body["items"]),
        (StatusCode::OK, &json!([])),
        "{body}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    let ((status, body), _) = like(format!("%{}%", "a".repeat(4_000))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 3);

    // Wildcards cost a word per 64 pattern characters per text character: past the budget.
    let ((status, body), took) = like(format!("%{}b%", "a_".repeat(2_000))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "statement_budget_exceeded");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("20000000 units of work") && detail.contains("LIMIT"),
        "{detail}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[sqlx::test(migrations = false)]
async fn other_tenants_stay_fast_while_heavy_statements_run(pool: PgPool) {
    // No limit of work: the heavy statements below run until their deadline.
    let app = TestApp::spawn_with(pool, |c| {
        c.store_limits.max_statement_work = u64::MAX;
        c.store_limits.max_statement_time = Duration::from_secs(6);
    })
    .await;
    insert_long_strings(&app).await;
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    let (_, other_key) = app.create_org("globex").await;
    let other_app = app.create_app(&other_key, "other").await;
    let (status, _) = send(
        &app,
        other_app,
        &other_key,
        "INSERT INTO t DOCUMENTS ({_id: 1})",
        json!({}),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Each would need billions of units (200 searches of 750,000 characters, 63 words each).
    let heavy = format!(
        "SELECT _id FROM c WHERE {}",
        vec!["s LIKE :p"; 200].join(" OR ")
    );
    let pattern = format!("%{}b%", "a_".repeat(2_000));
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..4 {
        let client = app.client.clone();
        let url = app.url(&format!("/{}/api/v4/store/execute", app.app_id));
        let body = json!({"statement": heavy, "args": {"p": pattern}});
        let viewer = viewer.clone();
        running.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(viewer)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            (
                status,
                res.json::<Value>().await.unwrap(),
                started.elapsed(),
            )
        }));
    }
    // Meanwhile, another organization's statements and the health check answer promptly.
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let (status, body) = send(
            &app,
            other_app,
            &other_key,
            "SELECT * FROM t WHERE _id = 1",
            json!({}),
            false,
        )
        .await;
        assert_eq!(
            (status, &body["items"]),
            (StatusCode::OK, &json!([{"_id": 1}]))
        );
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        slowest < Duration::from_secs(5),
        "another tenant waited {slowest:?}"
    );
    assert!(
        running.iter().any(|h| !h.is_finished()),
        "the heavy statements were still running while the others answered"
    );
    // The heavy statements stop at their deadline with a clear answer.
    for handle in running {
        let (status, body, at) = handle.await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "statement_timeout", "{body}");
        assert!(at < Duration::from_secs(15), "{at:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn numbers_overflow_with_an_error_never_null(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    ok(
        &app,
        "INSERT INTO n DOCUMENTS ({_id: 1, n: 0, m: 0, v: 1, big: 9223372036854775807})",
        json!({}),
    )
    .await;
    ok(
        &app,
        "UPDATE n APPLY n INCREMENT BY 1.7e308 WHERE _id = 1",
        json!({}),
    )
    .await;
    let detail = refused(
        &app,
        "UPDATE n APPLY n INCREMENT BY 1.7e308 WHERE _id = 1",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "numeric_overflow",
    )
    .await;
    assert!(detail.starts_with("`n`:"), "{detail}");
    let detail = refused(
        &app,
        "UPDATE n SET v = 1.7e308 * 10 WHERE _id = 1",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "numeric_overflow",
    )
    .await;
    assert!(detail.starts_with("`v`:"), "{detail}");
    // i64::MAX is past what a counter holds exactly (2^53 − 1): refused, not rounded.
    let detail = refused(
        &app,
        "UPDATE n APPLY m INCREMENT BY :by WHERE _id = 1",
        json!({"by": i64::MAX}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "numeric_overflow",
    )
    .await;
    assert!(detail.contains("9007199254740991"), "{detail}");
    // Integer arithmetic past 64 bits (unsigned ones included), in a SET or a WHERE.
    refused(
        &app,
        "UPDATE n SET v = big * 3 WHERE _id = 1",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "numeric_overflow",
    )
    .await;
    refused(
        &app,
        "SELECT * FROM n WHERE big * 3 > 0",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "numeric_overflow",
    )
    .await;
    // Nothing refused was written; exact integers stay exact.
    let doc = ok(&app, "SELECT n, m, v, big FROM n", json!({})).await;
    assert_eq!(
        doc,
        [json!({"n": 1.7e308, "m": 0, "v": 1, "big": 9223372036854775807i64})]
    );
    let sum = ok(
        &app,
        "SELECT _id FROM n WHERE big - 1 + 1 = 9223372036854775807",
        json!({}),
    )
    .await;
    assert_eq!(sum.len(), 1);
}

#[sqlx::test(migrations = false)]
async fn common_field_names_work_unquoted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    ok(
        &app,
        "INSERT INTO users DOCUMENTS ({_id: 'u7', id: 7, order: 2, by: 'me', limit: 5, offset: 1, set: true, desc: 'x', documents: 3, missing: false, select: 's', from: 'f'})",
        json!({}),
    )
    .await;
    let found = ok(&app, "SELECT * FROM users WHERE id = 7", json!({})).await;
    assert_eq!(found.len(), 1);
    let found = ok(
        &app,
        "SELECT id, order, by, limit, offset, set, desc, documents, missing, select, from FROM users WHERE order = 2 AND limit > offset AND set AND missing = false ORDER BY desc DESC LIMIT 1",
        json!({}),
    )
    .await;
    assert_eq!(
        found,
        [
            json!({"id": 7, "order": 2, "by": "me", "limit": 5, "offset": 1, "set": true, "desc": "x", "documents": 3, "missing": false, "select": "s", "from": "f"})
        ]
    );
    // The reference's settable-counter example (counters in objects need non-strict mode).
    let res = app
        .client
        .post(app.url(&format!("/v1/apps/{}/store/execute", app.app_id)))
        .bearer_auth(&app.owner_key)
        .json(&json!({
            "statement": "UPDATE inventory APPLY order.qty INCREMENT BY 2 WHERE _id = :id",
            "args": {"id": "i1"},
            "dqlStrictMode": false
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    ok(
        &app,
        "INSERT INTO inventory DOCUMENTS ({_id: 'i1', order: {qty: 1}})",
        json!({}),
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/v1/apps/{}/store/execute", app.app_id)))
        .bearer_auth(&app.owner_key)
        .json(&json!({
            "statement": "UPDATE inventory APPLY order.qty INCREMENT BY 2 WHERE _id = :id",
            "args": {"id": "i1"},
            "dqlStrictMode": false
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let items = ok(&app, "SELECT order.qty FROM inventory", json!({})).await;
    assert_eq!(items, [json!({"qty": 3})]);
    // A keyword read the other way round: the error suggests backquotes.
    let detail = refused(
        &app,
        "SELECT * FROM users WHERE id = 7 order = 2",
        json!({}),
        StatusCode::BAD_REQUEST,
        "dql_syntax_error",
    )
    .await;
    assert!(detail.contains("backquotes"), "{detail}");
}

#[sqlx::test(migrations = false)]
async fn count_and_the_collections_of_an_app(pool: PgPool) {
    // A budget too small to read the documents: COUNT(*) without WHERE never reads them.
    let app = TestApp::spawn_with(pool, |c| c.store_limits.max_statement_work = 2_000).await;
    let docs: Vec<Value> = (0..300)
        .map(|i| json!({"_id": i, "done": i % 3 == 0, "pad": "x".repeat(200)}))
        .collect();
    ok(
        &app,
        "INSERT INTO tasks DOCUMENTS (:d)",
        json!({"d": docs[0]}),
    )
    .await;
    for chunk in docs[1..].chunks(50) {
        let statement = format!(
            "INSERT INTO tasks DOCUMENTS {}",
            (0..chunk.len())
                .map(|i| format!("(:d{i})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let args: serde_json::Map<String, Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("d{i}"), d.clone()))
            .collect();
        ok(&app, &statement, Value::Object(args)).await;
    }
    ok(
        &app,
        "INSERT INTO notes DOCUMENTS ({_id: 'a'}), ({_id: 'b'})",
        json!({}),
    )
    .await;
    ok(&app, "DELETE FROM notes WHERE _id = 'a'", json!({})).await;
    ok(&app, "INSERT INTO gone DOCUMENTS ({_id: 1})", json!({})).await;
    ok(&app, "DELETE FROM gone WHERE _id = 1", json!({})).await;

    assert_eq!(
        ok(&app, "SELECT COUNT(*) FROM tasks", json!({})).await,
        [json!({"count": 300})]
    );
    assert_eq!(
        ok(
            &app,
            "select count(*) as total from nothing_here",
            json!({})
        )
        .await,
        [json!({"total": 0})]
    );
    // With a WHERE each document is tested: past this app's tiny budget.
    refused(
        &app,
        "SELECT COUNT(*) FROM tasks WHERE done = true",
        json!({}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "statement_budget_exceeded",
    )
    .await;
    assert_eq!(
        ok(
            &app,
            "SELECT COUNT(*) FROM tasks WHERE _id IN [1, 3, 5000]",
            json!({})
        )
        .await,
        [json!({"count": 2})]
    );

    assert_eq!(
        ok(&app, "SELECT * FROM system:collections", json!({})).await,
        [
            json!({"name": "gone", "documents": 0}),
            json!({"name": "notes", "documents": 1}),
            json!({"name": "tasks", "documents": 300}),
        ]
    );
    assert_eq!(
        ok(
            &app,
            "SELECT name FROM system:collections WHERE documents > 0 ORDER BY documents DESC LIMIT 1",
            json!({})
        )
        .await,
        [json!({"name": "tasks"})]
    );
    assert_eq!(
        ok(
            &app,
            "SELECT COUNT(*) AS n FROM system:collections WHERE documents > 0",
            json!({})
        )
        .await,
        [json!({"n": 2})]
    );
    refused(
        &app,
        "DELETE FROM system:collections WHERE true",
        json!({}),
        StatusCode::BAD_REQUEST,
        "dql_unsupported",
    )
    .await;
    // Another organization sees its own app's collections only.
    let (_, other_key) = app.create_org("globex").await;
    let other_app = app.create_app(&other_key, "other").await;
    let (status, body) = send(
        &app,
        other_app,
        &other_key,
        "SELECT * FROM system:collections",
        json!({}),
        false,
    )
    .await;
    assert_eq!(
        (status, &body["items"]),
        (StatusCode::OK, &json!([])),
        "{body}"
    );
    let (status, _) = send(
        &app,
        app.app_id,
        &other_key,
        "SELECT COUNT(*) FROM tasks",
        json!({}),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = false)]
async fn unsupported_constructs_say_what_is_unsupported(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (statement, says) in [
        (
            "SELECT SUM(x) FROM c",
            "aggregates other than COUNT are not supported",
        ),
        (
            "SELECT a, COUNT(*) FROM c GROUP BY a",
            "GROUP BY is not supported",
        ),
        (
            "SELECT * FROM a JOIN b ON a.x = b.y",
            "JOIN is not supported",
        ),
        (
            "SELECT * FROM c WHERE x IN (SELECT y FROM d)",
            "subqueries are not supported",
        ),
        (
            "SELECT * FROM c WHERE lower(x) = 'a'",
            "functions are not supported",
        ),
    ] {
        let detail = refused(
            &app,
            statement,
            json!({}),
            StatusCode::BAD_REQUEST,
            "dql_unsupported",
        )
        .await;
        assert!(detail.contains(says), "{statement}: {detail}");
    }
}
