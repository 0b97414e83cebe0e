//! The unique index on ID fields other than `_id`: the write-back upserts by them, so without an
//! index each upsert scans the collection and without a unique one a concurrent insert by
//! another application makes a duplicate. Missing, it is a warning (the connector still runs)
//! with the exact `createIndex` command; `autoConfigure` creates it.

use bson::doc;
use edgebridge_mongo::port::IndexInfo;
use edgebridge_mongo::preflight::{CheckResult, CheckStatus, PreflightReport, PreflightRequest};
use edgebridge_mongo_sim::SimUser;

use crate::assertions::{assert_all_passed, find};
use crate::cluster::{Cluster, DB, request};

const COMMAND: &str = "db.orders.createIndex({tenant: 1, sku: 1}, {unique: true})";

/// `orders` keyed by `tenant` and `sku`.
fn keyed_request(uri: &str, auto_configure: bool) -> PreflightRequest {
    let mut request = request(uri, &["orders"]);
    request.id_fields.insert(
        "orders".to_owned(),
        vec!["tenant".to_owned(), "sku".to_owned()],
    );
    request.auto_configure = auto_configure;
    request
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The report is ok, and its only result that is not a pass is the `id_index` warning with
/// `code`, which it returns.
fn assert_only_warning<'a>(report: &'a PreflightReport, code: &str) -> &'a CheckResult {
    assert!(
        report.ok,
        "a warning does not stop the connector: {report:#?}"
    );
    assert_eq!(report.first_failure(), None);
    let others: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed && c.check != "id_index")
        .collect();
    assert!(others.is_empty(), "every other check passes: {others:#?}");
    let result = find(report, "id_index", Some("orders"));
    assert_eq!(result.status, CheckStatus::Warning, "{result:#?}");
    assert_eq!(result.code, Some(code), "{result:#?}");
    for name in ["orders", "tenant", "sku"] {
        assert!(
            result.message.contains(name),
            "the message names {name}: {:?}",
            result.message
        );
    }
    result
}

fn assert_remediation_names_the_command(result: &CheckResult) {
    assert!(
        result
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains(COMMAND)),
        "the remediation names the exact command {COMMAND}: {result:#?}"
    );
}

async fn without_a_unique_index_on_the_id_fields_it_warns_with_the_command(cluster: &Cluster) {
    // An index that is not unique keeps neither the upsert from racing nor duplicates out.
    let port = cluster.port_as(&cluster.uri()).await;
    port.create_index(DB, "orders", &strings(&["tenant", "sku"]), false)
        .await
        .expect("a plain index");
    let report = cluster.run(&keyed_request(&cluster.uri(), false)).await;

    let result = assert_only_warning(&report, "id_index_missing");
    assert_remediation_names_the_command(result);
    assert_eq!(
        report
            .changes
            .iter()
            .filter(|c| c.contains("index"))
            .count(),
        0,
        "nothing is created without autoConfigure: {:?}",
        report.changes
    );
}

on_both!(without_a_unique_index_on_the_id_fields_it_warns_with_the_command);

async fn a_unique_index_on_the_id_fields_passes(cluster: &Cluster) {
    let port = cluster.port_as(&cluster.uri()).await;
    port.create_index(DB, "orders", &strings(&["sku", "tenant"]), true)
        .await
        .expect("a unique index, its fields in another order");
    let report = cluster.run(&keyed_request(&cluster.uri(), false)).await;

    assert_all_passed(&report);
    let result = find(&report, "id_index", Some("orders"));
    assert!(
        result.message.contains("sku_1_tenant_1"),
        "the message names the index: {result:#?}"
    );
}

on_both!(a_unique_index_on_the_id_fields_passes);

/// Two documents equal on every ID field are equal on some of them: a unique index on a part of
/// the ID fields keeps them unique too.
async fn a_unique_index_on_some_of_the_id_fields_passes(cluster: &Cluster) {
    cluster.sim.create_unique_index(DB, "orders", "tenant");
    let report = cluster.run(&keyed_request(&cluster.uri(), false)).await;

    assert_all_passed(&report);
}

on_both!(a_unique_index_on_some_of_the_id_fields_passes);

async fn auto_configure_creates_the_unique_index_and_says_so(cluster: &Cluster) {
    let report = cluster.run(&keyed_request(&cluster.uri(), true)).await;

    assert_all_passed(&report);
    assert!(
        report.changes.contains(&format!(
            "Created the unique index {{tenant: 1, sku: 1}} on collection {DB}.orders."
        )),
        "the index is reported as a change: {:?}",
        report.changes
    );
    let indexes = cluster
        .port_as(&cluster.uri())
        .await
        .list_indexes(DB, "orders")
        .await
        .expect("listed");
    assert!(
        indexes.contains(&IndexInfo {
            name: "tenant_1_sku_1".to_owned(),
            keys: strings(&["tenant", "sku"]),
            unique: true,
            partial: false,
        }),
        "{indexes:#?}"
    );
    // MongoDB now refuses a second document with the same ID fields.
    cluster
        .sim
        .insert(DB, "orders", doc! {"_id": 1, "tenant": "t1", "sku": "a"})
        .expect("the first");
    let duplicate = cluster
        .sim
        .insert(DB, "orders", doc! {"_id": 2, "tenant": "t1", "sku": "a"})
        .expect_err("a duplicate of the ID fields");
    assert_eq!(duplicate.code, Some(11000), "{duplicate:?}");
    cluster
        .sim
        .insert(DB, "orders", doc! {"_id": 3, "tenant": "t2", "sku": "a"})
        .expect("another tenant's document with the same sku");

    // The second run finds the index: nothing more to create.
    let again = cluster.run(&keyed_request(&cluster.uri(), true)).await;
    assert_all_passed(&again);
    assert!(
        !again.changes.iter().any(|c| c.contains("index")),
        "{:?}",
        again.changes
    );
}

on_both!(auto_configure_creates_the_unique_index_and_says_so);

/// Documents that already share their ID fields keep MongoDB from building the index: still a
/// warning, with why, and no change reported.
async fn auto_configure_cannot_create_it_over_duplicates_and_warns(cluster: &Cluster) {
    for id in [1, 2] {
        cluster
            .sim
            .insert(DB, "orders", doc! {"_id": id, "tenant": "t1", "sku": "a"})
            .expect("inserted before the index");
    }
    let report = cluster.run(&keyed_request(&cluster.uri(), true)).await;

    let result = assert_only_warning(&report, "id_index_missing");
    assert!(
        result
            .message
            .contains("autoConfigure could not create one")
            && result.message.contains("E11000"),
        "{result:#?}"
    );
    assert_remediation_names_the_command(result);
    assert!(
        !report.changes.iter().any(|c| c.contains("index")),
        "{:?}",
        report.changes
    );
}

on_both!(auto_configure_cannot_create_it_over_duplicates_and_warns);

/// Everything the connector needs, but neither `listIndexes` nor `createIndex`.
fn user_without_index_actions() -> SimUser {
    SimUser::with_actions(
        "app",
        "pw",
        DB,
        &[
            "listCollections",
            "createCollection",
            "find",
            "changeStream",
            "insert",
            "update",
            "remove",
        ],
    )
}

async fn a_user_who_may_not_list_indexes_gets_a_warning_not_a_failure(cluster: &Cluster) {
    cluster.sim.add_user(user_without_index_actions());
    let report = cluster
        .run(&keyed_request(&cluster.uri_as("app", "pw"), true))
        .await;

    let result = assert_only_warning(&report, "id_index_unverified");
    assert!(
        result.message.contains("listIndexes"),
        "the cause names the action: {result:#?}"
    );
    assert!(
        result
            .remediation
            .as_deref()
            .is_some_and(|r| r.contains("listIndexes") && r.contains(COMMAND)),
        "{result:#?}"
    );
}

on_both!(a_user_who_may_not_list_indexes_gets_a_warning_not_a_failure);

async fn a_user_who_may_not_create_indexes_gets_a_warning_under_auto_configure(cluster: &Cluster) {
    let mut user = user_without_index_actions();
    user.privileges[0].actions.insert("listIndexes".to_owned());
    cluster.sim.add_user(user);
    let report = cluster
        .run(&keyed_request(&cluster.uri_as("app", "pw"), true))
        .await;

    let result = assert_only_warning(&report, "id_index_missing");
    assert!(
        result.message.contains("createIndex"),
        "the cause names the action: {result:#?}"
    );
    assert_remediation_names_the_command(result);
}

on_both!(a_user_who_may_not_create_indexes_gets_a_warning_under_auto_configure);

async fn a_collection_keyed_by_id_needs_no_index_of_its_own(cluster: &Cluster) {
    let mut request = request(&cluster.uri(), &["orders"]);
    request
        .id_fields
        .insert("orders".to_owned(), strings(&["_id"]));
    let report = cluster.run(&request).await;

    assert_all_passed(&report);
    let result = find(&report, "id_index", Some("orders"));
    assert!(result.message.contains("keyed by _id"), "{result:#?}");
    assert!(
        !cluster
            .sim
            .operations()
            .iter()
            .any(|op| op.starts_with("listIndexes")),
        "not even listed: {:?}",
        cluster.sim.operations()
    );
}

on_both!(a_collection_keyed_by_id_needs_no_index_of_its_own);

/// A collection that does not exist fails its own check; its index is not asked about (it can
/// be created with the collection).
async fn a_missing_collection_skips_the_check(cluster: &Cluster) {
    let mut request = request(&cluster.uri(), &["orders", "returns"]);
    request
        .id_fields
        .insert("returns".to_owned(), strings(&["rmaNumber"]));
    let report = cluster.run(&request).await;

    let result = find(&report, "id_index", Some("returns"));
    assert_eq!(result.status, CheckStatus::Skipped, "{result:#?}");
    assert_eq!(result.code, None);
    assert_eq!(
        find(&report, "id_index", Some("orders")).status,
        CheckStatus::Passed
    );
}

on_both!(a_missing_collection_skips_the_check);
