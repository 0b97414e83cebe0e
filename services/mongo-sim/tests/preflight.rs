//! The preflight checks on the simulator: one test per failure a user can run into. Each failure
//! must say which check failed, give its stable code, name the object in its message, offer a
//! remediation, and skip the checks that depend on it.

use std::sync::Arc;
use std::time::Duration;

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{
    CollectionInfo, ConnectOptions, MongoConnector, MongoPort, Privilege, Resource,
};
use edgebridge_mongo::preflight::{
    self, CheckResult, CheckStatus, ORDER, PreflightOptions, PreflightReport, PreflightRequest,
};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser, Simulator};

/// The cluster's host. It resolves to a public address so the default policy (public only)
/// lets it through; the simulator never sends traffic anywhere.
const HOST: &str = "cluster0.example.com";
const PUBLIC_IP: &str = "52.20.0.10";
const URI: &str = "mongodb://cluster0.example.com/";
const DB: &str = "shop";

const PER_COLLECTION: [&str; 4] = [
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "sync_privileges",
];

/// A reachable cluster with `shop.orders` ready to sync.
fn simulator() -> Simulator {
    let sim = Simulator::new(3);
    sim.add_host(HOST, &[PUBLIC_IP.parse().expect("an IP address")]);
    sim.create_collection(DB, "orders", CollectionOptions::ready());
    sim
}

fn request(uri: &str, collections: &[&str]) -> PreflightRequest {
    PreflightRequest {
        connection_string: uri.to_owned(),
        database: DB.to_owned(),
        collections: collections.iter().map(|c| (*c).to_owned()).collect(),
        auto_configure: false,
    }
}

/// The operator's defaults: public targets only.
async fn run(sim: &Simulator, request: &PreflightRequest) -> PreflightReport {
    run_with(sim, request, &PreflightOptions::default()).await
}

async fn run_with(
    sim: &Simulator,
    request: &PreflightRequest,
    options: &PreflightOptions,
) -> PreflightReport {
    preflight::run(&sim.connector(), request, options).await
}

fn user(name: &str, password: &str, privileges: Vec<Privilege>) -> SimUser {
    SimUser {
        name: name.to_owned(),
        password: password.to_owned(),
        privileges,
    }
}

/// A port on the simulator as the user in `uri`, to look at what preflight left behind.
async fn port_as(sim: &Simulator, uri: &str) -> Arc<dyn MongoPort> {
    sim.connector()
        .connect(
            &MongoUri::parse(uri).expect("the connection string parses"),
            &ConnectOptions::default(),
        )
        .await
        .expect("the simulator connects")
}

fn find<'a>(report: &'a PreflightReport, check: &str, collection: Option<&str>) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.check == check && c.collection.as_deref() == collection)
        .unwrap_or_else(|| panic!("no {check} check for {collection:?} in {report:#?}"))
}

fn position(check: &str) -> usize {
    ORDER
        .iter()
        .position(|c| *c == check)
        .unwrap_or_else(|| panic!("{check} is not a preflight check"))
}

/// The check failed with `code`, its message names each of `names`, it says what to do, and it
/// is the report's first failure.
fn assert_failed<'a>(
    report: &'a PreflightReport,
    check: &str,
    collection: Option<&str>,
    code: &str,
    names: &[&str],
) -> &'a CheckResult {
    let result = find(report, check, collection);
    assert_eq!(
        result.status,
        CheckStatus::Failed,
        "{check} should fail: {result:#?}"
    );
    assert_eq!(result.code, Some(code), "{result:#?}");
    for name in names {
        assert!(
            result.message.contains(name),
            "the {check} message should name {name}: {:?}",
            result.message
        );
    }
    assert!(
        result.remediation.as_deref().is_some_and(|r| !r.is_empty()),
        "a failure says what to do: {result:#?}"
    );
    assert!(!report.ok, "a report with a failure is not ok");
    assert_eq!(
        report
            .first_failure()
            .map(|c| (c.check, c.collection.as_deref())),
        Some((result.check, collection)),
        "{check} is the first failure"
    );
    result
}

/// Every check before `check` passed.
fn assert_passed_before(report: &PreflightReport, check: &str) {
    for earlier in &ORDER[..position(check)] {
        for result in report.checks.iter().filter(|c| c.check == *earlier) {
            assert_eq!(
                result.status,
                CheckStatus::Passed,
                "{earlier} runs before {check} and should pass: {result:#?}"
            );
        }
    }
}

/// Every check after `check` is reported, and skipped (once per collection where it applies).
fn assert_skipped_after(report: &PreflightReport, check: &str, collections: &[&str]) {
    for later in &ORDER[position(check) + 1..] {
        let targets: Vec<Option<&str>> = if PER_COLLECTION.contains(later) {
            collections.iter().map(|c| Some(*c)).collect()
        } else {
            vec![None]
        };
        for collection in targets {
            let result = find(report, later, collection);
            assert_eq!(
                result.status,
                CheckStatus::Skipped,
                "{later} depends on {check} and should be skipped: {result:#?}"
            );
            assert!(
                result.message.starts_with("Skipped because"),
                "a skipped check says why: {:?}",
                result.message
            );
        }
    }
}

fn assert_all_passed(report: &PreflightReport) {
    let not_passed: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
        .collect();
    assert!(not_passed.is_empty(), "every check passes: {not_passed:#?}");
    assert!(report.ok);
    assert_eq!(report.first_failure(), None);
}

async fn collection_infos(sim: &Simulator, uri: &str) -> Vec<CollectionInfo> {
    port_as(sim, uri)
        .await
        .list_collections(DB)
        .await
        .expect("list collections")
}

async fn collection_names(sim: &Simulator, uri: &str) -> Vec<String> {
    collection_infos(sim, uri)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Connection string and target
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unencoded_at_sign_in_the_password_is_an_invalid_connection_string() {
    let sim = simulator();
    let report = run(
        &sim,
        &request("mongodb://user:p@ss@cluster0.example.com/", &["orders"]),
    )
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
    let sim = simulator();
    let report = run(&sim, &request("http://x", &["orders"])).await;

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
    let sim = simulator();
    let report = run(
        &sim,
        &request("mongodb://nowhere.example.org/", &["orders"]),
    )
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
    let sim = simulator();
    sim.add_host("db.internal.example", &["10.0.0.5".parse().expect("an IP")]);
    let report = run(
        &sim,
        &request("mongodb://db.internal.example/", &["orders"]),
    )
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
    let sim = simulator();
    for uri in [
        "mongodb://u@cluster0.example.com/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
        "mongodb://cluster0.example.com/?authMechanism=MONGODB-AWS",
        "mongodb://u:p@cluster0.example.com/?tls=true&tlsCAFile=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    ] {
        let report = run(&sim, &request(uri, &["orders"])).await;
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
    // The connector itself refuses them too, whoever calls it.
    let uri = MongoUri::parse("mongodb://cluster0.example.com/?authMechanism=MONGODB-AWS").unwrap();
    let refused = sim
        .connector()
        .connect(&uri, &ConnectOptions::default())
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_private_address_is_allowed_under_the_allow_private_policy() {
    let sim = simulator();
    sim.add_host("db.internal.example", &["10.0.0.5".parse().expect("an IP")]);
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };
    let report = run_with(
        &sim,
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

// ---------------------------------------------------------------------------------------------
// Reaching the cluster
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreachable_cluster_fails_cluster_reachable() {
    let sim = simulator();
    sim.set_reachable(false);
    let report = run(&sim, &request(URI, &["orders"])).await;

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

#[tokio::test]
async fn the_cluster_unreachable_message_names_the_host() {
    let sim = simulator();
    sim.set_reachable(false);
    let report = run(&sim, &request(URI, &["orders"])).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &[HOST],
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_slower_than_the_connect_limits_is_unreachable() {
    let sim = simulator();
    sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_secs(120),
    });
    let report = run(&sim, &request(URI, &["orders"])).await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "cluster_unreachable",
        &["MongoDB"],
    );
    assert_skipped_after(&report, "cluster_reachable", &["orders"]);
}

#[tokio::test]
async fn a_wrong_password_fails_authentication() {
    let sim = simulator();
    sim.add_user(SimUser::read_write("app", "right", DB));
    let report = run(
        &sim,
        &request("mongodb://app:wrong@cluster0.example.com/", &["orders"]),
    )
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

#[tokio::test]
async fn the_authentication_failed_message_names_the_user() {
    let sim = simulator();
    sim.add_user(SimUser::read_write("app", "right", DB));
    let report = run(
        &sim,
        &request("mongodb://app:wrong@cluster0.example.com/", &["orders"]),
    )
    .await;

    assert_failed(
        &report,
        "cluster_reachable",
        None,
        "authentication_failed",
        &["app"],
    );
}

// ---------------------------------------------------------------------------------------------
// Privileges
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_user_without_privileges_cannot_list_databases() {
    let sim = simulator();
    sim.add_user(user("nobody", "pw", vec![]));
    let report = run(
        &sim,
        &request("mongodb://nobody:pw@cluster0.example.com/", &["orders"]),
    )
    .await;

    assert_failed(
        &report,
        "list_databases",
        None,
        "list_databases_denied",
        &["database names"],
    );
    assert_passed_before(&report, "list_databases");
    assert_skipped_after(&report, "list_databases", &["orders"]);
}

#[tokio::test]
async fn a_user_without_list_collections_cannot_list_collections() {
    let sim = simulator();
    sim.add_user(SimUser::with_actions("finder", "pw", DB, &["find"]));
    let report = run(
        &sim,
        &request("mongodb://finder:pw@cluster0.example.com/", &["orders"]),
    )
    .await;

    assert_failed(
        &report,
        "list_collections",
        None,
        "list_collections_denied",
        &[DB],
    );
    assert_passed_before(&report, "list_collections");
    assert_skipped_after(&report, "list_collections", &["orders"]);
}

#[tokio::test]
async fn a_user_without_create_collection_cannot_create_the_metadata_collections() {
    let sim = simulator();
    sim.add_user(SimUser::with_actions(
        "reader",
        "pw",
        DB,
        &[
            "listCollections",
            "find",
            "changeStream",
            "insert",
            "update",
            "remove",
        ],
    ));
    let report = run(
        &sim,
        &request("mongodb://reader:pw@cluster0.example.com/", &["orders"]),
    )
    .await;

    assert_failed(
        &report,
        "metadata_collections",
        None,
        "metadata_collection_create_failed",
        &[SESSIONS_COLLECTION, DB],
    );
    assert_passed_before(&report, "metadata_collections");
}

#[tokio::test]
async fn a_metadata_collection_created_before_a_failure_is_reported_as_a_change() {
    let sim = simulator();
    let on = |collection: &str, actions: &[&str]| Privilege {
        resource: Resource::Namespace {
            db: DB.to_owned(),
            collection: collection.to_owned(),
        },
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    };
    sim.add_user(user(
        "partial",
        "pw",
        vec![
            on(
                "",
                &[
                    "listCollections",
                    "find",
                    "changeStream",
                    "insert",
                    "update",
                    "remove",
                ],
            ),
            on(SESSIONS_COLLECTION, &["createCollection"]),
        ],
    ));
    let report = run(
        &sim,
        &request("mongodb://partial:pw@cluster0.example.com/", &["orders"]),
    )
    .await;

    assert_failed(
        &report,
        "metadata_collections",
        None,
        "metadata_collection_create_failed",
        &[UNSYNCED_DOCUMENTS_COLLECTION],
    );
    assert!(
        collection_names(&sim, "mongodb://partial:pw@cluster0.example.com/")
            .await
            .iter()
            .any(|n| n == SESSIONS_COLLECTION),
        "the sessions collection was created"
    );
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.contains(SESSIONS_COLLECTION)),
        "every change made to MongoDB is reported: {:?}",
        report.changes
    );
}

// ---------------------------------------------------------------------------------------------
// Database and collections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_missing_database_is_reported_by_name() {
    let sim = simulator();
    let mut request = request(URI, &["orders"]);
    request.database = "nosuchdb".to_owned();
    let report = run(&sim, &request).await;

    assert_failed(
        &report,
        "database_exists",
        None,
        "database_not_found",
        &["nosuchdb"],
    );
    assert_passed_before(&report, "database_exists");
    assert_skipped_after(&report, "database_exists", &["orders"]);
}

#[tokio::test]
async fn a_missing_collection_skips_only_its_own_checks() {
    let sim = simulator();
    let report = run(&sim, &request(URI, &["orders", "missing"])).await;

    assert_failed(
        &report,
        "collection_exists",
        Some("missing"),
        "collection_not_found",
        &["missing", DB],
    );
    for check in PER_COLLECTION {
        assert_eq!(
            find(&report, check, Some("orders")).status,
            CheckStatus::Passed,
            "{check} on the collection that exists"
        );
    }
    for check in [
        "collection_not_capped",
        "pre_and_post_images",
        "sync_privileges",
    ] {
        assert_eq!(
            find(&report, check, Some("missing")).status,
            CheckStatus::Skipped,
            "{check} on the missing collection"
        );
    }
    assert_eq!(
        find(&report, "metadata_collections", None).status,
        CheckStatus::Passed,
        "the metadata collections do not depend on the synced collections"
    );
}

#[tokio::test]
async fn a_capped_collection_is_refused() {
    let sim = simulator();
    sim.create_collection(
        DB,
        "logs",
        CollectionOptions {
            capped: true,
            pre_and_post_images: true,
            validator: None,
        },
    );
    let report = run(&sim, &request(URI, &["logs"])).await;

    assert_failed(
        &report,
        "collection_not_capped",
        Some("logs"),
        "collection_capped",
        &["logs"],
    );
    assert_eq!(
        find(&report, "pre_and_post_images", Some("logs")).status,
        CheckStatus::Passed,
        "the images check does not depend on the capped check"
    );
}

#[tokio::test]
async fn a_collection_without_pre_and_post_images_is_refused() {
    let sim = simulator();
    sim.create_collection(DB, "plain", CollectionOptions::default());
    let report = run(&sim, &request(URI, &["plain"])).await;

    let failed = assert_failed(
        &report,
        "pre_and_post_images",
        Some("plain"),
        "pre_and_post_images_disabled",
        &["plain"],
    );
    assert!(
        failed
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("collMod") && r.contains("plain")),
        "the remediation gives the command for this collection: {failed:#?}"
    );
    assert!(report.changes.iter().all(|c| !c.contains("plain")));
}

#[tokio::test]
async fn auto_configure_enables_pre_and_post_images_for_a_user_with_coll_mod() {
    let sim = simulator();
    sim.create_collection(DB, "plain", CollectionOptions::default());
    sim.add_user(SimUser::read_write_admin("admin", "pw", DB));
    let mut request = request("mongodb://admin:pw@cluster0.example.com/", &["plain"]);
    request.auto_configure = true;

    let report = run(&sim, &request).await;

    assert_all_passed(&report);
    assert!(
        report.changes.iter().any(|c| c.contains("shop.plain")),
        "the change names the collection: {:?}",
        report.changes
    );
    let infos = collection_infos(&sim, "mongodb://admin:pw@cluster0.example.com/").await;
    assert!(
        infos
            .iter()
            .any(|i| i.name == "plain" && i.pre_and_post_images),
        "the collection now records pre- and post-images"
    );
}

#[tokio::test]
async fn auto_configure_without_coll_mod_still_fails_and_says_why() {
    let sim = simulator();
    sim.create_collection(DB, "plain", CollectionOptions::default());
    sim.add_user(SimUser::read_write("app", "pw", DB));
    let mut request = request("mongodb://app:pw@cluster0.example.com/", &["plain"]);
    request.auto_configure = true;

    let report = run(&sim, &request).await;

    assert_failed(
        &report,
        "pre_and_post_images",
        Some("plain"),
        "pre_and_post_images_disabled",
        &["plain", "autoConfigure"],
    );
    assert!(report.changes.iter().all(|c| !c.contains("plain")));
}

// ---------------------------------------------------------------------------------------------
// All checks pass
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_ready_collection_passes_every_check_and_gets_its_metadata_collections() {
    let sim = simulator();
    let report = run(&sim, &request(URI, &["orders"])).await;

    assert_all_passed(&report);
    let names = collection_names(&sim, URI).await;
    for metadata in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
        assert!(
            names.iter().any(|n| n == metadata),
            "{metadata} exists after preflight: {names:?}"
        );
        assert!(
            report.changes.iter().any(|c| c.contains(metadata)),
            "the creation of {metadata} is reported: {:?}",
            report.changes
        );
    }
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let sim = simulator();
    run(&sim, &request(URI, &["orders"])).await;

    let again = run(&sim, &request(URI, &["orders"])).await;

    assert_all_passed(&again);
    assert_eq!(
        again.changes,
        Vec::<String>::new(),
        "preflight is idempotent"
    );
}

#[tokio::test]
async fn a_report_never_contains_the_password() {
    const PASSWORD: &str = "s3cr3t-pw";
    let sim = simulator();
    sim.add_user(SimUser::read_write("app", PASSWORD, DB));
    let good = format!("mongodb://app:{PASSWORD}@cluster0.example.com/");
    let wrong_user = format!("mongodb://someone:{PASSWORD}@cluster0.example.com/");
    let bad_port = format!("mongodb://app:{PASSWORD}@cluster0.example.com:99999/");
    let unknown_host = format!("mongodb://app:{PASSWORD}@nowhere.example.org/");

    for uri in [&good, &wrong_user, &bad_port, &unknown_host] {
        let report = run(&sim, &request(uri, &["orders", "missing"])).await;
        let json = serde_json::to_string(&report).expect("a report serializes");
        assert!(
            !json.contains(PASSWORD),
            "the report for {} leaks the password: {json}",
            edgebridge_domain::connection_string::redact(uri)
        );
    }

    sim.set_reachable(false);
    let report = run(&sim, &request(&good, &["orders"])).await;
    let json = serde_json::to_string(&report).expect("a report serializes");
    assert!(
        !json.contains(PASSWORD),
        "an unreachable cluster's report leaks the password: {json}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_over_its_total_time_reports_where_it_stopped() {
    let sim = simulator();
    sim.create_collection(DB, "items", CollectionOptions::ready());
    // Every call is a little slow: each step passes, the whole run does not fit.
    sim.inject(Fault::Slow {
        count: 100,
        delay: Duration::from_secs(4),
    });
    let options = PreflightOptions {
        total_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let report = run_with(&sim, &request(URI, &["orders", "items"]), &options).await;
    assert!(!report.ok);
    let failed: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", report.checks);
    assert_eq!(failed[0].code, Some("preflight_timed_out"));
    assert!(failed[0].remediation.is_some());
    // Every check is accounted for, once.
    assert_eq!(
        report.checks.len(),
        ORDER.len() - PER_COLLECTION.len() + 2 * PER_COLLECTION.len()
    );
    let after = report
        .checks
        .iter()
        .skip_while(|c| c.status != CheckStatus::Failed)
        .skip(1);
    assert!(after.into_iter().all(|c| c.status == CheckStatus::Skipped));
}

#[tokio::test]
async fn a_cluster_advertising_a_private_member_is_refused() {
    let sim = simulator();
    sim.add_host("member-2.internal", &["10.1.2.3".parse().expect("an IP")]);
    sim.advertise_member("member-2.internal:27017");
    let report = run(&sim, &request(URI, &["orders"])).await;
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
        run_with(&sim, &request(URI, &["orders"]), &options)
            .await
            .ok
    );
}

#[tokio::test]
async fn a_user_who_cannot_write_back_is_refused_per_collection() {
    let sim = simulator();
    sim.add_user(SimUser::read_only("reader", "pw", DB));
    let report = run(
        &sim,
        &request("mongodb://reader:pw@cluster0.example.com/", &["orders"]),
    )
    .await;
    assert_failed(
        &report,
        "sync_privileges",
        Some("orders"),
        "privileges_missing",
        &["insert", "update", "remove", "shop.orders"],
    );
    // readWrite is enough.
    sim.add_user(SimUser::read_write("writer", "pw", DB));
    let report = run(
        &sim,
        &request("mongodb://writer:pw@cluster0.example.com/", &["orders"]),
    )
    .await;
    assert!(report.ok, "{:?}", report.checks);
}
