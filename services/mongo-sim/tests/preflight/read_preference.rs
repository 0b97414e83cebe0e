//! The initial scan reads from the primary whatever `readPreference` the connection string
//! asks for: the change stream continues from the scan's snapshot, and a lagging secondary
//! would hand the scan documents older than changes the stream never replays.

use std::time::Duration;

use bson::doc;
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector};

use crate::cluster::{Cluster, DB};

/// The wire front is a replica set with only a primary: were the string's
/// `readPreference=secondary` used, the scan would find no server to read from.
#[tokio::test]
async fn a_scan_reads_from_the_primary_under_read_preference_secondary() {
    let cluster = Cluster::through_the_driver().await;
    cluster
        .sim
        .insert(DB, "orders", doc! {"_id": 1, "sku": "a"})
        .expect("inserted");
    let uri = MongoUri::parse(&format!("{}&readPreference=secondary", cluster.uri()))
        .expect("a connection string");
    let options = ConnectOptions {
        policy: TargetPolicy::AllowPrivate,
        server_selection_timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    };
    let port = DriverConnector
        .connect(&uri, &options)
        .await
        .expect("connecting is lazy");

    let batch = tokio::time::timeout(Duration::from_secs(20), port.scan(DB, "orders", None, 10))
        .await
        .expect("the scan answers")
        .expect("the scan reads from the primary");

    assert_eq!(batch, vec![doc! {"_id": 1, "sku": "a"}]);
}
