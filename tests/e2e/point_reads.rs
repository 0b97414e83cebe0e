//! Point reads by `_id` share statements under load: each read still answers exactly its own
//! documents, and a read abandoned mid-way never holds up the ones after it.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

async fn read(app: &TestApp, id: Value) -> Value {
    let res = app
        .client
        .post(app.url(&format!("/v1/apps/{}/store/execute", app.app_id)))
        .bearer_auth(&app.owner_key)
        .json(&json!({"statement": "SELECT * FROM things WHERE _id = :id", "args": {"id": id}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn concurrent_point_reads_each_get_their_own_documents(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    let docs: Vec<String> = (0..40).map(|i| format!("({{_id: {i}, n: {i}}})")).collect();
    let res = app
        .post(
            &format!("/v1/apps/{}/store/execute", app.app_id),
            &app.owner_key,
            &json!({"statement": format!("INSERT INTO things DOCUMENTS {}, ({{_id: {{a: 1, b: 'x'}}, n: -1}})", docs.join(", "))}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for round in 0..3 {
        let mut reads = Vec::new();
        for i in 0..60 {
            let app = app.clone();
            reads.push(tokio::spawn(async move {
                // Ids 40..59 do not exist; every tenth read is the composite id.
                let id = if i % 10 == 9 {
                    json!({"b": "x", "a": 1})
                } else {
                    json!(i)
                };
                (i, read(&app, id).await)
            }));
        }
        for handle in reads {
            let (i, answer) = handle.await.unwrap();
            let items = answer["items"].as_array().unwrap();
            if i % 10 == 9 {
                assert_eq!(items.len(), 1, "round {round}, read {i}: {answer}");
                assert_eq!(items[0]["n"], -1);
            } else if i < 40 {
                assert_eq!(items.len(), 1, "round {round}, read {i}: {answer}");
                assert_eq!(items[0]["n"], i);
            } else {
                assert!(items.is_empty(), "round {round}, read {i}: {answer}");
            }
        }
    }
}

#[sqlx::test(migrations = false)]
async fn abandoned_point_reads_do_not_hold_up_later_ones(pool: PgPool) {
    let app = std::sync::Arc::new(TestApp::spawn(pool).await);
    let res = app
        .post(
            &format!("/v1/apps/{}/store/execute", app.app_id),
            &app.owner_key,
            &json!({"statement": "INSERT INTO things DOCUMENTS ({_id: 1, n: 1})"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Clients that give up at once, many times over: their requests end mid-read.
    for _ in 0..5 {
        let mut abandoned = Vec::new();
        for _ in 0..20 {
            let app = app.clone();
            abandoned.push(tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_micros(300), read(&app, json!(1))).await;
            }));
        }
        for handle in abandoned {
            handle.await.unwrap();
        }
    }
    // Reads after them are answered (a queue left busy would make these wait forever).
    let answer = tokio::time::timeout(Duration::from_secs(10), read(&app, json!(1)))
        .await
        .expect("a later read is answered");
    assert_eq!(answer["items"][0]["n"], 1);
}
