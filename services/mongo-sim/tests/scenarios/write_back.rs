//! Write-back transactions: sessions and transaction numbers (e), all or nothing on a schema
//! violation (f) or a duplicate key (g), and the preserving update that keeps what the edge
//! never held (j).

use bson::{Bson, Document, doc};
use edgebridge_mongo::port::{OperationType, StreamStart, WriteOp};
use edgebridge_mongo::{ErrorClass, ErrorKind};
use edgebridge_mongo_sim::CollectionOptions;

use crate::deployment::Deployment;
use crate::helpers::{delete, id_of, key_id, next_event, scan_all, upsert};

// ---------------------------------------------------------------------------------------------
// (e) Transactional writes
// ---------------------------------------------------------------------------------------------

async fn transactional_writes(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    d.insert(db, "orders", doc! { "_id": 3, "status": "old" })
        .await;
    let port = d.port();
    let mut stream = port
        .watch(db, "orders", StreamStart::Now)
        .await
        .expect("watch opens");
    let mut session = port.start_session().await.expect("a session starts");

    let first = session
        .commit(
            db,
            &[
                upsert("orders", doc! { "_id": 1, "status": "new" }),
                upsert("orders", doc! { "_id": 2, "status": "new" }),
                delete("orders", 3),
            ],
        )
        .await
        .expect("the transaction commits");
    assert_eq!(
        (first.upserted, first.deleted),
        (2, 1),
        "two upserts inserted, one delete deleted"
    );

    let events = [
        next_event(stream.as_mut(), d.polls()).await,
        next_event(stream.as_mut(), d.polls()).await,
        next_event(stream.as_mut(), d.polls()).await,
    ];
    let seen: Vec<(OperationType, Bson)> = events
        .iter()
        .map(|e| (e.operation.clone(), key_id(e)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (OperationType::Insert, Bson::Int32(1)),
            (OperationType::Insert, Bson::Int32(2)),
            (OperationType::Delete, Bson::Int32(3)),
        ]
    );
    for event in &events {
        assert_eq!(
            event.lsid.as_ref(),
            Some(session.id()),
            "a transaction's events carry the session's lsid"
        );
        assert_eq!(
            event.txn_number,
            Some(first.txn_number),
            "a transaction's events carry its txnNumber"
        );
    }

    let second = session
        .commit(db, &[upsert("orders", doc! { "_id": 1, "status": "paid" })])
        .await
        .expect("the second transaction commits");
    assert!(
        second.txn_number > first.txn_number,
        "a later transaction on the session gets a larger txnNumber ({} then {})",
        first.txn_number,
        second.txn_number
    );
    let replace = next_event(stream.as_mut(), d.polls()).await;
    assert_eq!(replace.operation, OperationType::Replace);
    assert_eq!(replace.lsid.as_ref(), Some(session.id()));
    assert_eq!(replace.txn_number, Some(second.txn_number));

    let documents = scan_all(port.as_ref(), db, "orders", 10).await;
    assert_eq!(
        documents,
        vec![
            doc! { "_id": 1, "status": "paid" },
            doc! { "_id": 2, "status": "new" },
        ],
        "the committed writes are in place"
    );
}

on_both!(
    transactional_writes,
    transactional_writes_on_simulator,
    transactional_writes_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (f) Schema validation
// ---------------------------------------------------------------------------------------------

async fn schema_validation(d: &dyn Deployment) {
    let db = d.db();
    let validator = doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["name"],
            "properties": { "name": { "bsonType": "string" } },
        },
    };
    d.setup(
        db,
        "people",
        CollectionOptions {
            pre_and_post_images: true,
            validator: Some(validator),
            ..Default::default()
        },
    )
    .await;
    d.insert(db, "people", doc! { "_id": 10, "name": "Grace" })
        .await;
    d.insert(db, "people", doc! { "_id": 11, "name": "Alan" })
        .await;
    let port = d.port();
    let mut session = port.start_session().await.expect("a session starts");

    let err = session
        .commit(
            db,
            &[
                upsert("people", doc! { "_id": 10, "name": "Grace H." }),
                delete("people", 11),
                upsert("people_log", doc! { "_id": 1, "what": "created here" }),
                upsert("people", doc! { "_id": 1, "name": "Ada" }),
                upsert("people", doc! { "_id": 2, "name": 42 }),
            ],
        )
        .await
        .expect_err("a document the validator rejects fails the transaction");
    assert_eq!(
        err.op_index,
        Some(4),
        "the error names the invalid document's operation"
    );
    assert_eq!(err.error.kind, ErrorKind::SchemaValidation, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Document);

    assert_eq!(
        scan_all(port.as_ref(), db, "people", 10).await,
        vec![
            doc! { "_id": 10, "name": "Grace" },
            doc! { "_id": 11, "name": "Alan" }
        ],
        "all or nothing: the failed transaction's replace, delete and insert were not applied"
    );
    assert_eq!(
        scan_all(port.as_ref(), db, "people_log", 10).await,
        Vec::<Document>::new(),
        "all or nothing: the failed transaction's write to another collection was not applied"
    );
}

on_both!(
    schema_validation,
    schema_validation_on_simulator,
    schema_validation_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (g) Duplicate keys
// ---------------------------------------------------------------------------------------------

async fn duplicate_key(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "users", CollectionOptions::ready()).await;
    d.unique_index(db, "users", "email").await;
    d.insert(db, "users", doc! { "_id": 1, "email": "ada@example.com" })
        .await;
    let port = d.port();
    let mut session = port.start_session().await.expect("a session starts");

    let err = session
        .commit(
            db,
            &[
                upsert("users", doc! { "_id": 2, "email": "grace@example.com" }),
                upsert("users", doc! { "_id": 3, "email": "ada@example.com" }),
            ],
        )
        .await
        .expect_err("a duplicate email fails the transaction");
    assert_eq!(
        err.op_index,
        Some(1),
        "the error names the duplicate's operation"
    );
    assert_eq!(err.error.kind, ErrorKind::DuplicateKey, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Document);

    let ids: Vec<Bson> = scan_all(port.as_ref(), db, "users", 10)
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(
        ids,
        vec![Bson::Int32(1)],
        "all or nothing: nothing of the failed transaction was written"
    );
}

on_both!(
    duplicate_key,
    duplicate_key_on_simulator,
    duplicate_key_on_mongodb
);

// (j) A write-back that keeps what the edge never held: a document with a binary field (not
// replicated) is mapped to the edge, edited there, mapped back, and written with the preserving
// update. MongoDB keeps the binary values and takes the edits.
async fn write_back_keeps_unreplicated_fields(d: &dyn Deployment) {
    use bson::spec::BinarySubtype;
    use edgebridge_domain::spec::SyncMode;
    use edgebridge_mongo::mapping::{IdFields, MappingConfig, to_edge, to_mongo};

    let db = d.db();
    d.setup(db, "files", CollectionOptions::ready()).await;
    let blob = Bson::Binary(bson::Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2, 3],
    });
    d.insert(
        db,
        "files",
        doc! { "_id": 1, "name": "a.txt", "blob": blob.clone(), "meta": {"thumb": blob.clone(), "size": 3}, "parts": [blob.clone(), 2] },
    )
    .await;
    let config = MappingConfig {
        id: IdFields::MatchId,
        mode: SyncMode::Json,
        counters: Vec::new(),
    };
    let port = d.port();
    let stored = scan_all(port.as_ref(), db, "files", 10).await.remove(0);
    let edge = to_edge(&stored, &config).expect("maps to the edge");
    assert!(!edge.body.contains_key("blob"));

    let mut body = edge.body.clone();
    body.insert("name".into(), serde_json::json!("b.txt"));
    body["meta"]["size"] = serde_json::json!(4);
    body["parts"][1] = serde_json::json!(5);
    let back = to_mongo(&body, edge.types.as_ref(), &config).expect("maps back");
    let mut session = port.start_session().await.expect("a session starts");
    session
        .commit(
            db,
            &[WriteOp::Update {
                collection: "files".into(),
                filter: back.filter.clone(),
                update: back
                    .merge_update()
                    .expect("every name is addressable")
                    .into(),
                upsert: true,
            }],
        )
        .await
        .expect("the preserving update commits");

    let after = scan_all(port.as_ref(), db, "files", 10).await.remove(0);
    assert_eq!(
        after,
        doc! { "_id": 1, "name": "b.txt", "blob": blob.clone(), "meta": {"thumb": blob.clone(), "size": 4}, "parts": [blob, 5] },
        "edits applied, binary values kept"
    );
}

on_both!(
    write_back_keeps_unreplicated_fields,
    write_back_keeps_unreplicated_fields_on_simulator,
    write_back_keeps_unreplicated_fields_on_mongodb
);
