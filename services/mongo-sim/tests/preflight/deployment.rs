//! The deployment: a replica set passes (a sharded cluster too: see `Topology::from_hello`); a
//! standalone server, which has neither change streams nor transactions, fails before anything
//! is changed in it, instead of passing and leaving the connector to fail on every restart.

use bson::doc;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::ErrorKind;
use edgebridge_mongo::port::{Topology, WriteOp};
use edgebridge_mongo::preflight::CheckStatus;

use crate::assertions::{assert_failed, assert_passed_before, assert_skipped_after, find};
use crate::cluster::{Cluster, DB, request};

async fn a_standalone_server_fails_replica_set_before_anything_changes(cluster: &Cluster) {
    cluster.sim.set_standalone(true);
    let uri = cluster.standalone_uri();
    let report = cluster.run(&request(&uri, &["orders"])).await;

    let failed = assert_failed(
        &report,
        "replica_set",
        None,
        "replica_set_required",
        &["standalone", &cluster.host()],
    );
    assert!(
        failed
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("--replSet") && r.contains("rs.initiate()")),
        "the remediation says how to make it a replica set: {failed:#?}"
    );
    assert_passed_before(&report, "replica_set");
    assert_skipped_after(&report, "replica_set", &["orders"]);
    assert_eq!(report.changes, Vec::<String>::new(), "nothing is created");
    let names = cluster.collection_names(&uri).await;
    for metadata in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
        assert!(
            !names.iter().any(|n| n == metadata),
            "{metadata} is not created on a server the connector cannot sync: {names:?}"
        );
    }
}

on_both!(a_standalone_server_fails_replica_set_before_anything_changes);

async fn a_replica_set_passes_and_is_named(cluster: &Cluster) {
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    let result = find(&report, "replica_set", None);
    assert_eq!(result.status, CheckStatus::Passed, "{result:#?}");
    assert!(
        result.message.contains("replica set rs0"),
        "the message names the set: {:?}",
        result.message
    );
}

on_both!(a_replica_set_passes_and_is_named);

/// What the check spares a connector: on a standalone server the write-back's transaction is
/// refused as MongoDB refuses it, 20 `IllegalOperation`, and would be again after every restart.
#[tokio::test]
async fn a_standalone_server_refuses_the_write_back_s_transaction_through_the_driver() {
    let cluster = Cluster::through_the_driver().await;
    cluster.sim.set_standalone(true);
    let port = cluster.port_as(&cluster.standalone_uri()).await;
    assert_eq!(port.topology().await.expect("hello"), Topology::Standalone);

    let mut session = port.start_session().await.expect("a session starts");
    let err = session
        .commit(
            DB,
            &[WriteOp::Insert {
                collection: "orders".to_owned(),
                document: doc! {"_id": 1},
            }],
        )
        .await
        .expect_err("a standalone server has no transactions");

    assert_eq!(err.error.code, Some(20), "{err:?}");
    assert_eq!(err.error.kind, ErrorKind::Unsupported, "{err:?}");
    assert!(
        err.error
            .message
            .contains("only allowed on a replica set member or mongos"),
        "{err:?}"
    );
    assert_eq!(cluster.sim.count(DB, "orders"), 0, "nothing was written");
}
