//! The sync engine's way into the edge store (`.../apply`, `.../checkpoints`): mapped MongoDB
//! documents and the checkpoint after them in one transaction, fenced by the epoch, through the
//! real api and the real Postgres edge store. (The pipelines that call it run on the next
//! issue's supervisors; here a registered worker's client calls it directly.)

use crate::fleet::WORKER_TOKEN;
use crate::helpers::{PASSWORD, TestApp, id_of};
use edgebridge_domain::fleet::RegisterRequest;
use edgebridge_domain::fleet::{
    ApplyRequest, CheckpointPhase, CollectionCheckpoint, EdgeWrite, FeedChange, WriteBackPosition,
};
use edgebridge_worker::client::{ApiClient, ClientError};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

struct Setup {
    app: TestApp,
    client: ApiClient,
    connector: Uuid,
    epoch: i64,
}

async fn setup(pool: PgPool, max_document_bytes: usize) -> Setup {
    let app = TestApp::spawn_with(pool, |c| {
        c.fleet.worker_token = Some(SecretString::from(WORKER_TOKEN));
        c.store_limits.max_document_bytes = max_document_bytes;
    })
    .await;
    let connector = id_of(
        &app.create_connector(&json!({
            "name": "shop",
            "connectionString": format!("mongodb://appuser:{PASSWORD}@db.example.com/"),
            "database": "shop",
            "collections": {"orders": {"fields": ["_id"]}},
        }))
        .await,
    );
    let client = ApiClient::new(
        &app.address,
        SecretString::from(WORKER_TOKEN),
        Duration::from_secs(10),
    )
    .unwrap();
    client
        .register(&RegisterRequest {
            name: "w1".into(),
            capacity: 100,
            version: "test".into(),
        })
        .await
        .unwrap();
    edgebridge_api::scheduler::tick(&app.pool, &Default::default())
        .await
        .unwrap();
    let (epoch,): (i64,) =
        sqlx::query_as("select assignment_epoch from connectors where connector_id = $1")
            .bind(connector)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    Setup {
        app,
        client,
        connector,
        epoch,
    }
}

fn upsert(id: &str, body: Value) -> EdgeWrite {
    let mut body = body.as_object().unwrap().clone();
    body.insert("_id".into(), json!(id));
    EdgeWrite::Upsert {
        id: json!(id),
        body,
        counters: Vec::new(),
        types: None,
        before: None,
    }
}

/// An update event: the pre-image says what MongoDB had before.
fn update(id: &str, before: Value, after: Value) -> EdgeWrite {
    let EdgeWrite::Upsert { id, body, .. } = upsert(id, after) else {
        unreachable!()
    };
    let EdgeWrite::Upsert { body: before, .. } = upsert(id.as_str().unwrap(), before) else {
        unreachable!()
    };
    EdgeWrite::Upsert {
        id,
        body,
        counters: Vec::new(),
        types: None,
        before: Some(Box::new(edgebridge_domain::fleet::PreImage {
            body: before,
            counters: Vec::new(),
        })),
    }
}

fn checkpoint(token: i64, copied: u64) -> CollectionCheckpoint {
    CollectionCheckpoint {
        phase: CheckpointPhase::Streaming,
        resume_token: Some(json!({"_data": format!("{token:08}")})),
        scan_after: None,
        copied,
        estimated_total: None,
    }
}

impl Setup {
    fn request(&self, epoch: i64, writes: Vec<EdgeWrite>, token: i64) -> ApplyRequest {
        ApplyRequest {
            epoch,
            collection: "orders".into(),
            writes,
            checkpoint: checkpoint(token, 0),
        }
    }

    async fn docs(&self) -> Vec<Value> {
        let res = self
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", self.app.app_id),
                &self.app.owner_key,
                &json!({"statement": "SELECT * FROM orders ORDER BY _id"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["items"].as_array().unwrap().clone()
    }

    /// The feed's changes, once `n` are readable.
    async fn changes(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page: Value = self
                .app
                .get(
                    &format!("/v1/apps/{}/store/changes?limit=1000", self.app.app_id),
                    &self.app.owner_key,
                )
                .await
                .json()
                .await
                .unwrap();
            let changes = page["changes"].as_array().unwrap().clone();
            if changes.len() >= n {
                return changes;
            }
            assert!(Instant::now() < deadline, "feed stuck at {page}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[sqlx::test(migrations = false)]
async fn mapped_documents_land_in_the_edge_store_with_their_checkpoint_once(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    let writes = vec![
        upsert(
            "a",
            json!({"item": "pen", "qty": 1, "addr": {"city": "Oslo", "zip": "0150"}}),
        ),
        upsert("b", json!({"item": "ink"})),
        upsert("c", json!({"item": "pad"})),
    ];
    let done = s
        .client
        .apply(s.connector, &s.request(s.epoch, writes.clone(), 1))
        .await
        .unwrap();
    assert_eq!((done.changed, done.skipped.len()), (3, 0));
    let docs = s.docs().await;
    assert_eq!(docs.len(), 3);
    assert_eq!(
        docs[0],
        json!({"_id": "a", "item": "pen", "qty": 1, "addr": {"city": "Oslo", "zip": "0150"}})
    );
    // The feed marks them as the connector's own writes (its write-back skips them).
    let changes = s.changes(3).await;
    let origin = format!("connector:{}", s.connector);
    assert!(
        changes.iter().all(|c| c["origin"] == origin.as_str()),
        "{changes:?}"
    );

    // Redelivered (a restart after the write, before the checkpoint): nothing changes.
    let again = s
        .client
        .apply(s.connector, &s.request(s.epoch, writes, 2))
        .await
        .unwrap();
    assert_eq!(again.changed, 0);

    // An update that removes a nested member and a field, and a delete.
    let done = s
        .client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![
                    upsert("a", json!({"item": "pen", "addr": {"city": "Bergen"}})),
                    EdgeWrite::Delete { id: json!("b") },
                    EdgeWrite::Delete { id: json!("zz") },
                ],
                3,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        done.changed, 2,
        "deleting a document the edge never had changes nothing"
    );
    let docs = s.docs().await;
    assert_eq!(
        docs,
        vec![
            json!({"_id": "a", "item": "pen", "addr": {"city": "Bergen"}}),
            json!({"_id": "c", "item": "pad"}),
        ]
    );
    let changes = s.changes(5).await;
    assert_eq!(
        changes.len(),
        5,
        "the redelivered batch recorded nothing: {changes:?}"
    );

    // The checkpoint is the last batch's.
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], checkpoint(3, 0));
}

#[sqlx::test(migrations = false)]
async fn a_device_edit_of_another_field_survives_a_connector_write(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    s.client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![upsert("a", json!({"title": "t", "done": false}))],
                1,
            ),
        )
        .await
        .unwrap();
    let res = s
        .app
        .post(
            &format!("/v1/apps/{}/store/execute", s.app.app_id),
            &s.app.owner_key,
            &json!({"statement": "UPDATE orders SET title = 'edited' WHERE _id = 'a'"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // MongoDB updates `done`; its post-image still has the old `title`. With the pre-image,
    // only `done` is written and the device's edit stays (it reaches MongoDB by write-back).
    s.client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![update(
                    "a",
                    json!({"title": "t", "done": false}),
                    json!({"title": "t", "done": true}),
                )],
                2,
            ),
        )
        .await
        .unwrap();
    let docs = s.docs().await;
    assert_eq!(docs[0]["done"], true);
    assert_eq!(docs[0]["title"], "edited");
    // A replace (no pre-image) states the whole document: MongoDB's title comes through.
    s.client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![upsert("a", json!({"title": "t", "done": true}))],
                3,
            ),
        )
        .await
        .unwrap();
    assert_eq!(s.docs().await[0]["title"], "t");
}

#[sqlx::test(migrations = false)]
async fn a_stale_epoch_writes_nothing_and_moves_no_checkpoint(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    s.client
        .apply(
            s.connector,
            &s.request(s.epoch, vec![upsert("a", json!({"v": 1}))], 1),
        )
        .await
        .unwrap();
    // Restarted: a new epoch; the old run's batch is refused whole.
    let res = s
        .app
        .post(
            &format!(
                "{}/restart",
                s.app.connector_path(s.app.app_id, s.connector)
            ),
            &s.app.owner_key,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let refused = s
        .client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![upsert("a", json!({"v": 2})), upsert("b", json!({}))],
                9,
            ),
        )
        .await;
    assert!(
        matches!(refused, Err(ClientError::Fenced(_))),
        "{:?}",
        refused.err()
    );
    assert!(matches!(
        s.client.checkpoints(s.connector, s.epoch).await,
        Err(ClientError::Fenced(_))
    ));
    let docs = s.docs().await;
    assert_eq!(docs, vec![json!({"_id": "a", "v": 1})]);
    // The new run resumes from the old run's last checkpoint.
    let resumed = s
        .client
        .checkpoints(s.connector, s.epoch + 1)
        .await
        .unwrap();
    assert_eq!(resumed["orders"], checkpoint(1, 0));
}

#[sqlx::test(migrations = false)]
async fn a_document_the_store_refuses_is_skipped_not_the_batch(pool: PgPool) {
    let s = setup(pool, 1024).await;
    let big = "x".repeat(2000);
    let done = s
        .client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![
                    upsert("ok", json!({"v": 1})),
                    upsert("big", json!({"v": big})),
                    EdgeWrite::Upsert {
                        id: json!([1, 2]),
                        body: json!({"_id": [1, 2]}).as_object().unwrap().clone(),
                        counters: Vec::new(),
                        types: None,
                        before: None,
                    },
                ],
                1,
            ),
        )
        .await
        .unwrap();
    assert_eq!(done.changed, 1);
    let codes: Vec<&str> = done.skipped.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, vec!["invalid_id", "document_too_large"]);
    assert_eq!(s.docs().await, vec![json!({"_id": "ok", "v": 1})]);
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(
        checkpoints["orders"],
        checkpoint(1, 0),
        "the checkpoint moves past them"
    );
    // A collection the connector does not sync is refused.
    let mut other = s.request(s.epoch, vec![], 2);
    other.collection = "users".into();
    assert!(matches!(
        s.client.apply(s.connector, &other).await,
        Err(ClientError::Refused(m)) if m.contains("unknown_collection")
    ));
}

/// The write-back's feed: the connector's mapped collections without its own writes, with the
/// type tree its writes left in each document's metadata slot; fenced like the rest.
#[sqlx::test(migrations = false)]
async fn the_write_back_feed_leaves_out_the_connectors_own_writes_and_carries_types(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    let EdgeWrite::Upsert { id, body, .. } = upsert("a", json!({"n": 1})) else {
        unreachable!()
    };
    s.client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![EdgeWrite::Upsert {
                    id,
                    body,
                    counters: Vec::new(),
                    types: Some(json!({"n": "long"})),
                    before: None,
                }],
                1,
            ),
        )
        .await
        .unwrap();
    for statement in [
        "INSERT INTO orders DOCUMENTS ({'_id': 'd', 'v': 1})",
        "UPDATE orders SET n = 2 WHERE _id = 'a'",
        "INSERT INTO other DOCUMENTS ({'_id': 'x'})",
    ] {
        let res = s
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", s.app.app_id),
                &s.app.owner_key,
                &json!({"statement": statement}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{statement}");
    }
    // Readable once older transactions in the cluster have ended: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    while seen.len() < 2 {
        assert!(Instant::now() < deadline, "feed stuck at {seen:?}");
        let page = s
            .client
            .changes(s.connector, s.epoch, after.as_deref(), 100, 1)
            .await
            .unwrap();
        seen.extend(page.changes);
        after = page.next_cursor;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].id, json!("d"));
    assert_eq!(seen[0].types, None);
    assert_eq!(seen[1].id, json!("a"));
    assert_eq!(seen[1].document.as_ref().unwrap()["n"], 2);
    assert_eq!(seen[1].types, Some(json!({"n": "long"})));
    assert!(
        seen.iter().all(|c| c.collection == "orders"),
        "unmapped collections stay out"
    );
    // Fenced: another epoch reads nothing.
    assert!(matches!(
        s.client
            .changes(s.connector, s.epoch + 1, None, 100, 0)
            .await,
        Err(ClientError::Fenced(_))
    ));
}

impl Setup {
    async fn execute(&self, statement: &str) {
        let res = self
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", self.app.app_id),
                &self.app.owner_key,
                &json!({"statement": statement}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{statement}");
    }

    /// The feed's changes after `after` (bounded poll until `count` arrived).
    async fn feed(&self, after: Option<String>, count: usize) -> (Vec<FeedChange>, Option<String>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let mut after = after;
        loop {
            let page = self
                .client
                .changes(self.connector, self.epoch, after.as_deref(), 100, 0)
                .await
                .unwrap();
            seen.extend(page.changes);
            after = page.next_cursor.or(after);
            if seen.len() >= count {
                return (seen, after);
            }
            assert!(Instant::now() < deadline, "feed stuck at {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An echo of the write-back (`verify`) writes nothing; when MongoDB holds something else than
/// the edge (it overwrote an edit the edge has), the document is queued for write-back again.
/// A MongoDB update merged with an edge edit of another field queues it as well; a value the
/// edge holds in another form than MongoDB's (3 vs 3.0) does not.
#[sqlx::test(migrations = false)]
async fn echoes_are_checked_not_applied_and_differences_go_back_to_mongodb(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    s.execute("INSERT INTO orders DOCUMENTS ({'_id': 'a', 'n': 1, 'x': 3})")
        .await;
    let (first, cursor) = s.feed(None, 1).await;
    assert_eq!(first[0].id, json!("a"));
    let verify = |body: Option<Value>| EdgeWrite::Verify {
        id: json!("a"),
        body: body.map(|b| b.as_object().unwrap().clone()),
        counters: Vec::new(),
    };
    // MongoDB holds what the edge holds (3.0 is 3): nothing is written or queued.
    let answer = s
        .client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![verify(Some(json!({"_id": "a", "n": 1, "x": 3.0})))],
                1,
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer.changed, 0);
    // MongoDB holds another value: nothing is written, the edge's state is queued.
    s.client
        .apply(
            s.connector,
            &s.request(
                s.epoch,
                vec![verify(Some(json!({"_id": "a", "n": 5, "x": 3})))],
                2,
            ),
        )
        .await
        .unwrap();
    assert_eq!(s.docs().await, vec![json!({"_id": "a", "n": 1, "x": 3})]);
    let (queued, cursor) = s.feed(cursor, 1).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        queued[0].document,
        json!({"_id": "a", "n": 1, "x": 3}).as_object().cloned()
    );

    // An edge edit of `x` not yet in MongoDB; MongoDB changes `n` (its pre-image still has
    // the old `x`): the edge takes `n` and keeps `x`, so MongoDB must get `x` back.
    s.execute("UPDATE orders SET x = 4 WHERE _id = 'a'").await;
    let (edit, cursor) = s.feed(cursor, 1).await;
    assert_eq!(edit[0].document.as_ref().unwrap()["x"], 4);
    let update = EdgeWrite::Upsert {
        id: json!("a"),
        body: json!({"_id": "a", "n": 2, "x": 3})
            .as_object()
            .unwrap()
            .clone(),
        counters: Vec::new(),
        types: None,
        before: Some(Box::new(edgebridge_domain::fleet::PreImage {
            body: json!({"_id": "a", "n": 1, "x": 3})
                .as_object()
                .unwrap()
                .clone(),
            counters: Vec::new(),
        })),
    };
    s.client
        .apply(s.connector, &s.request(s.epoch, vec![update], 3))
        .await
        .unwrap();
    assert_eq!(s.docs().await, vec![json!({"_id": "a", "n": 2, "x": 4})]);
    let (merged, cursor) = s.feed(cursor, 1).await;
    assert_eq!(
        merged[0].document,
        json!({"_id": "a", "n": 2, "x": 4}).as_object().cloned()
    );
    // MongoDB deleted it while the edge has it: it is queued (the edge document goes back).
    s.client
        .apply(s.connector, &s.request(s.epoch, vec![verify(None)], 4))
        .await
        .unwrap();
    let (back, _) = s.feed(cursor, 1).await;
    assert_eq!(back[0].id, json!("a"));
    assert!(back[0].document.is_some());
}

/// The write-back's position: saved and read back by the owner at its epoch, refused to anyone
/// else and for a cursor the feed never gave.
#[sqlx::test(migrations = false)]
async fn the_write_back_position_is_fenced(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    let read = s
        .client
        .write_back_position(s.connector, s.epoch)
        .await
        .unwrap();
    assert_eq!(
        read.cursor, None,
        "a new connector starts at the feed's beginning"
    );
    s.execute("INSERT INTO orders DOCUMENTS ({'_id': 'a'})")
        .await;
    let (_, cursor) = s.feed(None, 1).await;
    let position = WriteBackPosition {
        epoch: s.epoch,
        cursor: cursor.clone(),
    };
    s.client
        .save_write_back_position(s.connector, &position)
        .await
        .unwrap();
    assert_eq!(
        s.client
            .write_back_position(s.connector, s.epoch)
            .await
            .unwrap()
            .cursor,
        cursor
    );
    let stale = WriteBackPosition {
        epoch: s.epoch + 1,
        cursor: None,
    };
    assert!(matches!(
        s.client.save_write_back_position(s.connector, &stale).await,
        Err(ClientError::Fenced(_))
    ));
    let forged = WriteBackPosition {
        epoch: s.epoch,
        cursor: Some("not-a-cursor".into()),
    };
    assert!(matches!(
        s.client
            .save_write_back_position(s.connector, &forged)
            .await,
        Err(ClientError::Refused(_))
    ));
}

/// A copy applies two batches at once; they may commit in either order. Each carries a position
/// no further than what is applied, and the stored one never moves back.
#[sqlx::test(migrations = false)]
async fn copy_batches_commit_in_any_order_and_the_copy_position_never_moves_back(pool: PgPool) {
    let s = setup(pool, 256 * 1024).await;
    let copy = |copied: u64, after: Option<&str>| CollectionCheckpoint {
        phase: CheckpointPhase::InitialSync,
        resume_token: Some(json!({"_data": "00000001"})),
        scan_after: after.map(|a| json!(a)),
        copied,
        estimated_total: Some(4),
    };
    let apply = |writes: Vec<EdgeWrite>, checkpoint: CollectionCheckpoint| ApplyRequest {
        epoch: s.epoch,
        collection: "orders".into(),
        writes,
        checkpoint,
    };
    // The copy begins.
    s.client
        .apply(s.connector, &apply(Vec::new(), copy(0, None)))
        .await
        .unwrap();
    // The first batch is sent alone (its own position); the second while the first was in
    // flight (the position before it), and it commits first.
    let first = apply(
        vec![upsert("a", json!({"n": 1})), upsert("b", json!({"n": 2}))],
        copy(2, Some("b")),
    );
    let second = apply(
        vec![upsert("c", json!({"n": 3})), upsert("d", json!({"n": 4}))],
        copy(0, None),
    );
    s.client.apply(s.connector, &second).await.unwrap();
    s.client.apply(s.connector, &first).await.unwrap();
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], copy(2, Some("b")));
    // A later batch carrying the first one's position again leaves it (it does not move back
    // to an earlier one either).
    let third = apply(vec![upsert("e", json!({"n": 5}))], copy(4, Some("d")));
    s.client.apply(s.connector, &third).await.unwrap();
    let stale = apply(Vec::new(), copy(2, Some("b")));
    s.client.apply(s.connector, &stale).await.unwrap();
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], copy(4, Some("d")));
    assert_eq!(s.docs().await.len(), 5);
    // The copy ends: streaming from its start point.
    let end = CollectionCheckpoint {
        phase: CheckpointPhase::Streaming,
        scan_after: None,
        ..copy(5, None)
    };
    s.client
        .apply(s.connector, &apply(Vec::new(), end.clone()))
        .await
        .unwrap();
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], end);

    // A copy batch that arrives after its copy ended (a request that outlived its sender) is
    // not applied: it would write older documents over streamed ones and restart the copy.
    let streamed = apply(vec![upsert("a", json!({"n": 10}))], end.clone());
    s.client.apply(s.connector, &streamed).await.unwrap();
    for late in [
        apply(vec![upsert("a", json!({"n": 1}))], copy(2, Some("b"))),
        apply(vec![upsert("a", json!({"n": 1}))], copy(0, None)),
    ] {
        let done = s.client.apply(s.connector, &late).await.unwrap();
        assert_eq!(done.changed, 0);
    }
    let docs = s.docs().await;
    assert!(
        docs.iter().any(|d| d["_id"] == "a" && d["n"] == 10),
        "{docs:?}"
    );
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], end);

    // A new copy begins (its stream start is new); a stream batch from before it is not
    // applied, and is not taken for that copy's end (whose sweep would empty the collection).
    let again = CollectionCheckpoint {
        resume_token: Some(json!({"_data": "00000002"})),
        ..copy(0, None)
    };
    s.client
        .apply(s.connector, &apply(Vec::new(), again.clone()))
        .await
        .unwrap();
    let late = apply(
        vec![upsert("a", json!({"n": 11}))],
        CollectionCheckpoint {
            resume_token: Some(json!({"_data": "00000001"})),
            ..end.clone()
        },
    );
    assert_eq!(s.client.apply(s.connector, &late).await.unwrap().changed, 0);
    let docs = s.docs().await;
    assert_eq!(docs.len(), 5, "{docs:?}");
    assert!(
        docs.iter().any(|d| d["_id"] == "a" && d["n"] == 10),
        "{docs:?}"
    );
    let checkpoints = s.client.checkpoints(s.connector, s.epoch).await.unwrap();
    assert_eq!(checkpoints["orders"], again);
}
