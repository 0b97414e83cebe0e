//! Reaching the cluster: down, firewalled, too slow, or refusing the credentials.

use std::time::Duration;

use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::preflight::{self, PreflightOptions};
use edgebridge_mongo_sim::{Fault, SimUser};

use crate::assertions::{assert_failed, assert_passed_before, assert_skipped_after};
use crate::cluster::{Cluster, DB, request};

// On the wire, `set_reachable(false)` closes every connection at once: the driver's server
// checks fail and server selection gives up after its timeout. The message's cause differs
// between the ports (the driver adapter says what its checks saw); the parts asserted here are
// the preflight's own: the code, "MongoDB" and the host from the connection string.
async fn an_unreachable_cluster_fails_cluster_reachable(cluster: &Cluster) {
    cluster.sim.set_reachable(false);
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &["MongoDB"],
    );
    assert_passed_before(&report, "cluster_reachable");
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
}

on_both!(an_unreachable_cluster_fails_cluster_reachable);

async fn the_cluster_unreachable_message_names_the_host(cluster: &Cluster) {
    cluster.sim.set_reachable(false);
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &[&cluster.host()],
    );
}

on_both!(the_cluster_unreachable_message_names_the_host);

/// Nothing listens on the port: the driver's checks are refused, and the adapter says so.
#[tokio::test]
async fn a_closed_port_fails_cluster_reachable_through_the_driver() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let address = listener.local_addr().expect("a bound address");
    drop(listener);
    let uri = format!("mongodb://{address}/?replicaSet=rs0");
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };

    let report = preflight::run(&DriverConnector, &request(&uri, &["orders"]), &options).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &["MongoDB", &address.to_string(), "connection refused"],
    );
    assert_passed_before(&report, "cluster_reachable");
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
}

// In process only: the slow answer is staged in paused tokio time, which a socket does not
// follow.
#[tokio::test(start_paused = true)]
async fn a_cluster_slower_than_the_connect_limits_is_unreachable() {
    let cluster = Cluster::in_process();
    cluster.sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_secs(120),
    });
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &["MongoDB"],
    );
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
}

// The server's "Authentication failed." reaches the message on both ports; the rest of the
// wording differs (the driver puts "SCRAM failure: " before it, the simulator " (code 18)"
// after it), so only that part is asserted.
async fn a_wrong_password_fails_authentication(cluster: &Cluster) {
    cluster
        .sim
        .add_user(SimUser::read_write("app", "right", DB));
    let report = cluster
        .run(&request(&cluster.uri_as("app", "wrong"), &["orders"]))
        .await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "authentication_failed",
        &["Authentication failed"],
    );
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
}

on_both!(a_wrong_password_fails_authentication);

async fn the_authentication_failed_message_names_the_user(cluster: &Cluster) {
    cluster
        .sim
        .add_user(SimUser::read_write("app", "right", DB));
    let report = cluster
        .run(&request(&cluster.uri_as("app", "wrong"), &["orders"]))
        .await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "authentication_failed",
        &["app"],
    );
}

on_both!(the_authentication_failed_message_names_the_user);
