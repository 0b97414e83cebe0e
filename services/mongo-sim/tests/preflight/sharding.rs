//! A sharded cluster, reached through a `mongos`: its change streams read the collections'
//! shard metadata in `config.collections`, so the user must be allowed to read it there.

use edgebridge_mongo::port::{Privilege, Resource, Topology};
use edgebridge_mongo::preflight::CheckStatus;
use edgebridge_mongo_sim::SimUser;

use crate::assertions::{assert_all_passed, assert_failed, assert_passed_before, find};
use crate::cluster::{Cluster, DB, request};

/// `readWrite` on the database, and optionally `find` on `config.collections`.
fn user(may_read_config: bool) -> SimUser {
    let mut user = SimUser::read_write("app", "pw", DB);
    if may_read_config {
        user.privileges.push(Privilege {
            resource: Resource::Namespace {
                db: "config".to_owned(),
                collection: "collections".to_owned(),
            },
            actions: ["find".to_owned()].into_iter().collect(),
        });
    }
    user
}

async fn a_router_whose_user_may_not_read_config_collections_fails(cluster: &Cluster) {
    cluster.sim.set_mongos(true);
    cluster.sim.add_user(user(false));
    let uri = cluster.router_uri_as("app", "pw");
    let report = cluster.run(&request(&uri, &["orders"])).await;

    assert!(
        find(&report, "replica_set", None)
            .message
            .contains("sharded cluster"),
        "{report:#?}"
    );
    let failed = assert_failed(
        &report,
        "shard_metadata",
        None,
        "config_read_required",
        &["config.collections"],
    );
    assert!(
        failed
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("config") && r.contains("collections")),
        "{failed:#?}"
    );
    assert_passed_before(&report, "shard_metadata");
    assert_eq!(
        find(&report, "metadata_collections", None).status,
        CheckStatus::Passed,
        "the metadata collections do not depend on it"
    );
}

on_both!(a_router_whose_user_may_not_read_config_collections_fails);

async fn a_router_whose_user_may_read_config_collections_passes(cluster: &Cluster) {
    cluster.sim.set_mongos(true);
    cluster.sim.add_user(user(true));
    let uri = cluster.router_uri_as("app", "pw");
    assert_eq!(
        cluster.port_as(&uri).await.topology().await.expect("hello"),
        Topology::Sharded
    );
    let report = cluster.run(&request(&uri, &["orders"])).await;

    assert_all_passed(&report);
    assert!(
        find(&report, "shard_metadata", None)
            .message
            .contains("config.collections"),
        "{report:#?}"
    );
}

on_both!(a_router_whose_user_may_read_config_collections_passes);

/// A replica set has no shard metadata: the same user passes there.
async fn a_replica_set_needs_no_shard_metadata(cluster: &Cluster) {
    cluster.sim.add_user(user(false));
    let report = cluster
        .run(&request(&cluster.uri_as("app", "pw"), &["orders"]))
        .await;

    assert_all_passed(&report);
    assert!(
        find(&report, "shard_metadata", None)
            .message
            .contains("replica set"),
        "{report:#?}"
    );
}

on_both!(a_replica_set_needs_no_shard_metadata);
