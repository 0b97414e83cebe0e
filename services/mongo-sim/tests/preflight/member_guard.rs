//! A cluster that advertises a member the outbound policy refuses: preflight reports it in
//! process; through the driver, the adapter's own guard refuses every operation once the
//! driver's monitor has opened that member.

use std::time::Duration;

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoPort, PortResult, StreamStart};
use edgebridge_mongo::preflight::PreflightOptions;
use edgebridge_mongo::{ErrorKind, PortError};
use tokio::time::Instant;

use crate::assertions::assert_skipped_after;
use crate::cluster::{Cluster, DB, request};

#[tokio::test]
async fn a_cluster_advertising_a_private_member_is_refused() {
    let cluster = Cluster::in_process();
    let sim = &cluster.sim;
    sim.add_host("member-2.internal", &["10.1.2.3".parse().expect("an IP")]);
    sim.advertise_member("member-2.internal:27017");
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;
    let failed = report.first_failure().expect("a failure");
    assert_eq!(failed.check, "cluster_reachable");
    assert_eq!(failed.code, Some("target_not_allowed"));
    assert!(
        failed.message.contains("member-2.internal:27017") && failed.message.contains("10.1.2.3"),
        "{failed:?}"
    );
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
    // Self-hosted deployments may have private members.
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };
    assert!(
        cluster
            .run_with(&request(&cluster.uri(), &["orders"]), &options)
            .await
            .ok
    );
}

/// How long the driver may take to open the advertised member's monitor after the seed's
/// first `hello`: a bound on the wait, not a measurement.
const DISCOVERY_DEADLINE: Duration = Duration::from_secs(15);

/// The first error `ping` answers: the guard learns of the member from the driver's event
/// stream, which runs beside the operations.
async fn first_refusal(port: &dyn MongoPort) -> PortError {
    let deadline = Instant::now() + DISCOVERY_DEADLINE;
    loop {
        match port.ping().await {
            Err(error) => return error,
            Ok(()) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(()) => panic!(
                "every ping succeeded for {DISCOVERY_DEADLINE:?} although the cluster advertises \
                 10.1.2.3:27017; servers seen: {:?}",
                port.servers()
            ),
        }
    }
}

fn assert_refused<T>(what: &str, result: PortResult<T>) {
    match result {
        Err(error) => assert_eq!(
            error.kind,
            ErrorKind::TargetNotAllowed,
            "{what} is refused by the guard: {error:?}"
        ),
        Ok(_) => panic!("{what} succeeded after the cluster advertised a private member"),
    }
}

/// The seed (the wire front on 127.0.0.1) is let through the egress guard by its exact address
/// (the test seam `connect_allowing`), as a public seed would be; the member the cluster adds by
/// itself in `hello` is checked and refused.
#[tokio::test]
async fn the_driver_adapter_refuses_every_operation_once_a_private_member_is_advertised() {
    let cluster = Cluster::through_the_driver().await;
    cluster.sim.advertise_member("10.1.2.3:27017");
    let uri = MongoUri::parse(&cluster.uri()).expect("the wire front's connection string parses");
    let options = ConnectOptions {
        policy: TargetPolicy::PublicOnly,
        ..ConnectOptions::default()
    };
    let seed: std::net::SocketAddr = cluster.host().parse().expect("the wire front's address");
    let port = DriverConnector
        .connect_allowing(&uri, &options, &[seed])
        .await
        .expect("connecting is lazy");

    let refused = first_refusal(port.as_ref()).await;
    assert_eq!(refused.kind, ErrorKind::TargetNotAllowed, "{refused:?}");
    assert!(
        refused.message.contains("10.1.2.3:27017"),
        "the refusal names the member: {refused:?}"
    );
    assert!(
        port.servers().iter().any(|s| s == "10.1.2.3:27017"),
        "the member is among the servers the client has seen: {:?}",
        port.servers()
    );

    assert_refused("ping", port.ping().await);
    assert_refused("listDatabases", port.list_database_names().await);
    assert_refused("listCollections", port.list_collections(DB).await);
    assert_refused("connectionStatus", port.privileges().await);
    assert_refused("create", port.create_collection(DB, "more").await);
    assert_refused(
        "collMod",
        port.enable_pre_and_post_images(DB, "orders").await,
    );
    assert_refused("a scan", port.scan(DB, "orders", None, 10).await);
    assert_refused("count", port.estimated_count(DB, "orders").await);
    assert_refused("watch", port.watch(DB, "orders", StreamStart::Now).await);
    assert_refused("a session", port.start_session().await);
    // The refused `create` never reached the wire front.
    let lists = cluster
        .port_as(&cluster.uri())
        .await
        .list_collections(DB)
        .await
        .expect("an allow-private client lists the collections");
    assert!(
        lists.iter().all(|c| c.name != "more"),
        "the refused create did not happen: {lists:?}"
    );
}

/// Self-hosted deployments may have private members: under `AllowPrivate` the same cluster
/// passes every check through the driver.
#[tokio::test]
async fn a_private_member_is_allowed_through_the_driver_under_allow_private() {
    let cluster = Cluster::through_the_driver().await;
    cluster.sim.advertise_member("10.1.2.3:27017");
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;
    assert!(report.ok, "{:#?}", report.checks);
}
