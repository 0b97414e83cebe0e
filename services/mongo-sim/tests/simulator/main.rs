//! What only the simulator can be made to do on demand: lose oplog history, drop connections
//! mid-batch or mid-stream, step the primary down, answer slowly, refuse a user. Each test states
//! what the sync engine may rely on when that happens.

//!
//! Split by subject: `history` (the oplog window and resume tokens), `faults` (faults and
//! determinism), `catalog` (users, privileges, collection options).

mod catalog;
mod faults;
mod history;

use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::port::{
    ChangeEvent, ChangeStream, ConnectOptions, MongoConnector, MongoPort, PortResult, ResumeToken,
    SessionId, StreamStart, WriteOp,
};
use edgebridge_mongo::{ErrorClass, ErrorKind, PortError};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser, Simulator};

const DB: &str = "app";
const COLL: &str = "orders";

/// A simulator with a resolvable host and one ready collection, `app.orders`.
fn simulator(seed: u64) -> Simulator {
    let sim = Simulator::new(seed);
    sim.add_host(
        "sim.example.net",
        &["203.0.113.10".parse().expect("an IP address")],
    );
    sim.create_collection(DB, COLL, CollectionOptions::ready());
    sim
}

async fn connect_as(sim: &Simulator, uri: &str) -> Arc<dyn MongoPort> {
    sim.connector()
        .connect(
            &MongoUri::parse(uri).expect("the connection string parses"),
            &ConnectOptions::default(),
        )
        .await
        .expect("the simulator connects")
}

async fn connect(sim: &Simulator) -> Arc<dyn MongoPort> {
    connect_as(sim, "mongodb://sim.example.net/").await
}

async fn watch(port: &dyn MongoPort, start: StreamStart) -> Box<dyn ChangeStream> {
    port.watch(DB, COLL, start).await.expect("watch opens")
}

/// The error a `watch` that must fail fails with.
fn watch_error(result: PortResult<Box<dyn ChangeStream>>) -> PortError {
    match result {
        Ok(_) => panic!("expected watch to fail, it opened a stream"),
        Err(e) => e,
    }
}

/// The next event; the simulator answers at once, so an empty batch means there is none.
async fn next_event(stream: &mut dyn ChangeStream) -> ChangeEvent {
    match stream.next().await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("expected a change event, got an empty batch"),
        Err(e) => panic!("expected a change event, the stream failed: {e:?}"),
    }
}

async fn assert_no_more_events(stream: &mut dyn ChangeStream) {
    match stream.next().await {
        Ok(None) => {}
        Ok(Some(event)) => panic!("expected no further event, got {event:?}"),
        Err(e) => panic!("expected an empty batch, the stream failed: {e:?}"),
    }
}

fn key_id(event: &ChangeEvent) -> Bson {
    event
        .document_key
        .as_ref()
        .and_then(|key| key.get("_id"))
        .cloned()
        .expect("the change event has a document key")
}

fn insert_many(sim: &Simulator, ids: std::ops::Range<i32>) {
    for n in ids {
        sim.insert(DB, COLL, doc! { "_id": n, "n": n })
            .expect("another application's insert succeeds");
    }
}

fn upsert(id: i32) -> WriteOp {
    WriteOp::Upsert {
        collection: COLL.to_owned(),
        filter: doc! { "_id": id },
        replacement: doc! { "_id": id, "status": "new" },
    }
}

fn ids(documents: &[Document]) -> Vec<Bson> {
    documents
        .iter()
        .map(|d| d.get("_id").cloned().expect("every document has an _id"))
        .collect()
}

fn int_ids(range: std::ops::Range<i32>) -> Vec<Bson> {
    range.map(Bson::Int32).collect()
}
