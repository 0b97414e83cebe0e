//! The connection string and its target, in process only: these checks run before anything
//! connects, against the simulator's DNS (the driver would ask the machine's resolver, which
//! the test does not control).

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector};
use edgebridge_mongo::preflight::{CheckStatus, PreflightOptions};

use crate::assertions::{
    assert_all_passed, assert_failed, assert_passed_before, assert_skipped_after, find,
};
use crate::cluster::{Cluster, request};

#[tokio::test]
async fn an_unencoded_at_sign_in_the_password_is_an_invalid_connection_string() {
    let cluster = Cluster::in_process();
    let report = cluster
        .run(&request(
            "mongodb://user:p@ss@cluster0.example.com/",
            &["orders"],
        ))
        .await;

    let failed = assert_failed(
        &report,
        "connection_string",
        None,
        "connection_string_invalid",
        &["connection string"],
    );
    assert!(
        !failed.message.contains("p@ss"),
        "the message never quotes the password: {:?}",
        failed.message
    );
    assert_skipped_after(&report, "connection_string", &["orders"]);
}

#[tokio::test]
async fn a_non_mongodb_scheme_is_an_invalid_connection_string() {
    let cluster = Cluster::in_process();
    let report = cluster.run(&request("http://x", &["orders"])).await;

    assert_failed(
        &report,
        "connection_string",
        None,
        "connection_string_invalid",
        &["mongodb://"],
    );
    assert_skipped_after(&report, "connection_string", &["orders"]);
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_reported_by_name() {
    let cluster = Cluster::in_process();
    let report = cluster
        .run(&request("mongodb://nowhere.example.org/", &["orders"]))
        .await;

    assert_failed(
        &report,
        "target_allowed",
        None,
        "host_unresolvable",
        &["nowhere.example.org"],
    );
    assert_passed_before(&report, "target_allowed");
    assert_skipped_after(&report, "target_allowed", &["orders"]);
}

#[tokio::test]
async fn a_private_address_is_not_allowed_under_the_public_only_policy() {
    let cluster = Cluster::in_process();
    let sim = &cluster.sim;
    sim.add_host("db.internal.example", &["10.0.0.5".parse().expect("an IP")]);
    let report = cluster
        .run(&request("mongodb://db.internal.example/", &["orders"]))
        .await;

    assert_failed(
        &report,
        "target_allowed",
        None,
        "target_not_allowed",
        &["10.0.0.5"],
    );
    assert_skipped_after(&report, "target_allowed", &["orders"]);
    assert!(
        sim.operations().is_empty(),
        "nothing is sent to a target that is not allowed: {:?}",
        sim.operations()
    );
}

#[tokio::test]
async fn options_that_use_the_services_own_credentials_or_files_are_refused() {
    let cluster = Cluster::in_process();
    let sim = &cluster.sim;
    for uri in [
        "mongodb://u@cluster0.example.com/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
        "mongodb://cluster0.example.com/?authMechanism=MONGODB-AWS",
        "mongodb://u:p@cluster0.example.com/?tls=true&tlsCAFile=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    ] {
        let report = cluster.run(&request(uri, &["orders"])).await;
        let failed = report.first_failure().expect("a failure");
        assert_eq!(failed.check, "target_allowed", "{uri}: {failed:?}");
        assert_eq!(failed.code, Some("option_not_allowed"), "{uri}");
        assert!(failed.remediation.is_some());
        assert!(!failed.message.contains("/var/run"), "{failed:?}");
        assert_skipped_after(&report, "target_allowed", &["orders"]);
    }
    assert!(
        sim.operations().is_empty(),
        "nothing is sent with a refused option: {:?}",
        sim.operations()
    );
    // The connectors themselves refuse them too, whoever calls them: the simulator's and the
    // driver adapter (before it builds a client).
    let uri = MongoUri::parse("mongodb://cluster0.example.com/?authMechanism=MONGODB-AWS").unwrap();
    let refused = sim
        .connector()
        .connect(&uri, &ConnectOptions::default())
        .await;
    assert!(refused.is_err());
    let refused = edgebridge_mongo::driver::DriverConnector
        .connect(&uri, &ConnectOptions::default())
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_private_address_is_allowed_under_the_allow_private_policy() {
    let cluster = Cluster::in_process();
    cluster
        .sim
        .add_host("db.internal.example", &["10.0.0.5".parse().expect("an IP")]);
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };
    let report = cluster
        .run_with(
            &request("mongodb://db.internal.example/", &["orders"]),
            &options,
        )
        .await;

    assert_eq!(
        find(&report, "target_allowed", None).status,
        CheckStatus::Passed
    );
    assert_all_passed(&report);
}

/// A connection string's own proxy would take the connections around this deployment's egress
/// guard: refused where options are checked, with what to remove, before anything connects.
#[tokio::test]
async fn a_proxy_of_the_connection_string_s_own_is_an_option_not_allowed() {
    let cluster = Cluster::in_process();
    let sim = &cluster.sim;
    let report = cluster
        .run(&request(
            "mongodb://u:p@cluster0.example.com/?proxyHost=proxy.example.com&proxyPort=1080&proxyPassword=hunter2",
            &["orders"],
        ))
        .await;

    let failed = assert_failed(
        &report,
        "target_allowed",
        None,
        "option_not_allowed",
        &["proxyHost"],
    );
    assert!(
        failed
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("proxyHost") && r.contains("egress guard")),
        "{failed:#?}"
    );
    assert!(!failed.message.contains("hunter2"), "{failed:?}");
    assert_passed_before(&report, "target_allowed");
    assert_skipped_after(&report, "target_allowed", &["orders"]);
    assert!(
        sim.operations().is_empty(),
        "nothing is sent: {:?}",
        sim.operations()
    );

    // A self-hosted deployment may route through a proxy.
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };
    let report = cluster
        .run_with(
            &request(
                "mongodb://cluster0.example.com/?proxyHost=proxy.example.com",
                &["orders"],
            ),
            &options,
        )
        .await;
    assert_all_passed(&report);
}
