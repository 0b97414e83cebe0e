//! What one client can hold of the server: connections that send their headers slowly or sit
//! idle, change-feed long polls, and the database work of a filtered feed.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `limit` passes); true when it closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[sqlx::test(migrations = false)]
async fn slow_and_idle_connections_are_closed(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| {
        c.connections.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // A client trickling a header line every 300 ms never finishes its head: closed.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return (true, started.elapsed());
            }
            let mut buf = [0u8; 64];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
            {
                return (true, started.elapsed());
            }
        }
        (false, started.elapsed())
    });
    let (closed, after) = trickle.await.unwrap();
    assert!(
        closed,
        "a trickled header kept its connection for {after:?}"
    );
    assert!(
        after < Duration::from_secs(4),
        "closed only after {after:?}"
    );

    // A connection that never sends anything is closed too.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(4)).await);

    // A keep-alive connection idle after a request is closed as well.
    let mut kept = TcpStream::connect(&address).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(4)).await);

    // Meanwhile normal requests are served.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

impl TestApp {
    fn changes_url(&self, query: &str) -> String {
        self.url(&format!("/v1/apps/{}/store/changes?{query}", self.app_id))
    }

    async fn execute(&self, statement: &str) {
        let res = self
            .post(
                &format!("/v1/apps/{}/store/execute", self.app_id),
                &self.owner_key,
                &json!({ "statement": statement }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{statement}");
    }
}

#[sqlx::test(migrations = false)]
async fn long_polls_are_limited_per_key_and_per_app(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| {
        c.feed.long_polls_per_key = 2;
        c.feed.long_polls_per_app = 3;
    })
    .await;
    let other_key = app.create_key(&app.owner_key, "viewer", None).await;
    let third_key = app.create_key(&app.owner_key, "viewer", None).await;
    let poll = |key: String| {
        let request = app
            .client
            .get(app.changes_url("collections=none&wait=3"))
            .bearer_auth(key);
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    let first = poll(app.owner_key.clone());
    let second = poll(app.owner_key.clone());
    // Both are waiting before the third arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = app
        .get(
            &format!(
                "/v1/apps/{}/store/changes?collections=none&wait=3",
                app.app_id
            ),
            &app.owner_key,
        )
        .await;
    let problem = assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_long_polls").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("EDGEBRIDGE_FEED_LONG_POLLS_PER_KEY"),
        "{problem}"
    );
    // A read without `wait` is not a long poll and is always served.
    let res = app
        .get(
            &format!("/v1/apps/{}/store/changes", app.app_id),
            &app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Another key may poll, up to the app's limit.
    let third = poll(other_key.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app
        .get(
            &format!("/v1/apps/{}/store/changes?wait=3", app.app_id),
            &third_key,
        )
        .await;
    let problem = assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_long_polls").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("EDGEBRIDGE_FEED_LONG_POLLS_PER_APP")
    );
    for handle in [first, second, third] {
        assert_eq!(handle.await.unwrap(), StatusCode::OK);
    }
    // The places are given back when the polls end.
    let res = app
        .get(
            &format!("/v1/apps/{}/store/changes?wait=1", app.app_id),
            &app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn a_filtered_feed_moves_past_what_it_read(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // 2,500 changes the reader's filter leaves out, in batches.
    for batch in 0..25 {
        let docs: Vec<String> = (0..100)
            .map(|i| format!("({{_id: {}}})", batch * 100 + i))
            .collect();
        app.execute(&format!("INSERT INTO noise DOCUMENTS {}", docs.join(", ")))
            .await;
    }
    // Changes become listable once older transactions (of other tests too) have ended.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut listed = 0;
    let mut after = String::new();
    while listed < 2_500 {
        let page: Value = app.changes(&format!("limit=1000&after={after}")).await;
        listed += page["changes"].as_array().unwrap().len();
        after = page["nextCursor"].as_str().unwrap().to_owned();
        assert!(Instant::now() < deadline, "only {listed} changes listed");
    }
    // One read with a filter that keeps nothing reads window after window and answers an empty
    // page whose cursor is past all of them (before, it stayed at the start, and every re-check
    // of a long poll read the app's whole history again).
    let page: Value = app.changes("collections=wanted").await;
    assert_eq!(page["changes"], json!([]));
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(
        cursor, after,
        "the filtered read ends where the unfiltered one did"
    );
    // A long poll from there wakes on the one change it wants, among new noise.
    let request = app
        .client
        .get(app.changes_url(&format!("after={cursor}&collections=wanted&wait=20")))
        .bearer_auth(&app.owner_key);
    let started = Instant::now();
    let poll = tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.execute("INSERT INTO noise DOCUMENTS ({_id: 'late'})")
        .await;
    app.execute("INSERT INTO wanted DOCUMENTS ({_id: 'w'})")
        .await;
    let page = poll.await.unwrap().unwrap();
    assert_eq!(
        page["changes"].as_array().unwrap().len(),
        1,
        "{page} after {:?} from {cursor}",
        started.elapsed()
    );
    assert_eq!(page["changes"][0]["documentId"], "w");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[sqlx::test(migrations = false)]
async fn a_change_behind_an_older_transaction_is_listed_when_that_ends(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let start: Value = app.changes("").await;
    let cursor = start["nextCursor"].as_str().unwrap().to_owned();
    // An older transaction holding a transaction id, that sends no notification when it ends.
    let mut blocker = edgebridge_api::db::begin(&pool).await.unwrap();
    sqlx::query("select pg_current_xact_id()")
        .execute(&mut *blocker)
        .await
        .unwrap();
    app.execute("INSERT INTO c DOCUMENTS ({_id: 1})").await;
    let request = app
        .client
        .get(app.changes_url(&format!("after={cursor}&wait=20")))
        .bearer_auth(&app.owner_key);
    let started = Instant::now();
    let poll = tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.commit().await.unwrap();
    let page = poll.await.unwrap().unwrap();
    assert_eq!(page["changes"][0]["documentId"], 1, "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the poll noticed the change only at {:?}",
        started.elapsed()
    );
}
