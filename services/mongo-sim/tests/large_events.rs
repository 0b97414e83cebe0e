//! Change events over 16 MiB through the shipped driver adapter against the wire front: an
//! update of a 9 MB document with its pre- and post-image is one event of about 18 MB, which
//! MongoDB can only deliver in fragments (`$changeStreamSplitLargeEvent`). The adapter asks for
//! them, joins them back into one event, and never reports a position inside the event.

use std::sync::Arc;

use bson::{Bson, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{
    ConnectOptions, MongoConnector, MongoPort, OperationType, StreamStart,
};
use edgebridge_mongo_sim::{CollectionOptions, Simulator, WireOptions, WireServer};

const DB: &str = "shop";

async fn connect(server: &WireServer) -> Arc<dyn MongoPort> {
    let uri = MongoUri::parse(&server.uri()).expect("the wire front's URI parses");
    let options = ConnectOptions {
        policy: TargetPolicy::AllowPrivate,
        ..ConnectOptions::default()
    };
    DriverConnector
        .connect(&uri, &options)
        .await
        .expect("the driver adapter connects")
}

#[tokio::test]
async fn an_event_over_16_mib_arrives_whole_and_the_stream_resumes_after_it() {
    let sim = Simulator::new(7);
    sim.create_collection(DB, "items", CollectionOptions::ready());
    let big = "x".repeat(9 * 1024 * 1024);
    sim.insert(DB, "items", doc! {"_id": "a", "blob": big.clone(), "n": 1})
        .unwrap();
    let server = WireServer::start(sim.clone(), WireOptions::default())
        .await
        .expect("the wire front listens");
    let port = connect(&server).await;
    let mut stream = port.watch(DB, "items", StreamStart::Now).await.unwrap();
    let before = stream.resume_token().expect("a start position");
    sim.update(DB, "items", &Bson::String("a".into()), doc! {"n": 2})
        .unwrap();
    sim.insert(DB, "items", doc! {"_id": "b", "n": 1}).unwrap();

    let event = loop {
        if let Some(event) = stream.next().await.expect("the stream reads on") {
            break event;
        }
    };
    assert_eq!(event.operation, OperationType::Update);
    let post = event.full_document.as_ref().expect("the post-image");
    let pre = event
        .full_document_before_change
        .as_ref()
        .expect("the pre-image");
    assert_eq!(post.get_i32("n").unwrap(), 2);
    assert_eq!(pre.get_i32("n").unwrap(), 1);
    assert_eq!(post.get_str("blob").unwrap().len(), big.len());
    assert_eq!(pre.get_str("blob").unwrap().len(), big.len());
    let after_big = stream.resume_token().expect("a position after the event");
    assert_ne!(after_big, before);
    let next = loop {
        if let Some(event) = stream.next().await.unwrap() {
            break event;
        }
    };
    assert_eq!(next.operation, OperationType::Insert);

    // Resuming after the large event goes on with the next one; resuming before it gets it whole.
    let mut resumed = port
        .watch(DB, "items", StreamStart::After(after_big))
        .await
        .unwrap();
    let first = loop {
        if let Some(event) = resumed.next().await.unwrap() {
            break event;
        }
    };
    assert_eq!(first.operation, OperationType::Insert);
    let mut again = port
        .watch(DB, "items", StreamStart::After(before))
        .await
        .unwrap();
    let first = loop {
        if let Some(event) = again.next().await.unwrap() {
            break event;
        }
    };
    assert_eq!(first.operation, OperationType::Update);
    assert_eq!(first.full_document.unwrap().get_i32("n").unwrap(), 2);
}
