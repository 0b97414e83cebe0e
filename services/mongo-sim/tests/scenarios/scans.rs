//! (a) Ordered scans: batches in MongoDB's `_id` order across types.

use bson::{Bson, doc};
use edgebridge_mongo_sim::CollectionOptions;

use crate::deployment::Deployment;
use crate::helpers::{id_of, oid, scan_all};

async fn ordered_scan(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "items", CollectionOptions::ready()).await;
    // Inserted out of order, three `_id` types mixed.
    let ids: Vec<Bson> = vec![
        Bson::String("b".into()),
        Bson::ObjectId(oid(2)),
        Bson::Int32(30),
        Bson::String("a".into()),
        Bson::Int32(2),
        Bson::ObjectId(oid(1)),
        Bson::Int32(10),
        Bson::String("c".into()),
        Bson::Int32(1),
    ];
    for (n, id) in ids.iter().enumerate() {
        d.insert(db, "items", doc! { "_id": id.clone(), "n": n as i32 })
            .await;
    }

    let scanned: Vec<Bson> = scan_all(d.port().as_ref(), db, "items", 2)
        .await
        .iter()
        .map(id_of)
        .collect();

    // MongoDB's order: numbers, then strings, then ObjectIds; each document exactly once.
    let expected = vec![
        Bson::Int32(1),
        Bson::Int32(2),
        Bson::Int32(10),
        Bson::Int32(30),
        Bson::String("a".into()),
        Bson::String("b".into()),
        Bson::String("c".into()),
        Bson::ObjectId(oid(1)),
        Bson::ObjectId(oid(2)),
    ];
    assert_eq!(
        scanned, expected,
        "a batched scan must return every document once, in MongoDB's _id order across types"
    );
}

on_both!(
    ordered_scan,
    ordered_scan_on_simulator,
    ordered_scan_on_mongodb
);
