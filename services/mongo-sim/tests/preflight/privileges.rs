//! The user's privileges: listing, creating the metadata collections, and what syncing needs on
//! each collection. Every message asserted here is the preflight's own text, the same on both
//! ports.

use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::port::{Privilege, Resource};
use edgebridge_mongo_sim::SimUser;

use crate::assertions::{assert_failed, assert_passed_before, assert_skipped_after, user};
use crate::cluster::{Cluster, DB, request};

/// MongoDB answers `listDatabases` with `authorizedDatabases: true` for every user (the
/// databases it holds privileges on, none here): such a user fails at listing collections.
async fn a_user_without_privileges_lists_no_databases_and_cannot_list_collections(
    cluster: &Cluster,
) {
    cluster.sim.add_user(user("nobody", "pw", vec![]));
    let report = cluster
        .run(&request(&cluster.uri_as("nobody", "pw"), &["orders"]))
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

on_both!(a_user_without_privileges_lists_no_databases_and_cannot_list_collections);

async fn a_user_without_list_collections_cannot_list_collections(cluster: &Cluster) {
    cluster
        .sim
        .add_user(SimUser::with_actions("finder", "pw", DB, &["find"]));
    let report = cluster
        .run(&request(&cluster.uri_as("finder", "pw"), &["orders"]))
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

on_both!(a_user_without_list_collections_cannot_list_collections);

async fn a_user_without_create_collection_cannot_create_the_metadata_collections(
    cluster: &Cluster,
) {
    cluster.sim.add_user(SimUser::with_actions(
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
    let report = cluster
        .run(&request(&cluster.uri_as("reader", "pw"), &["orders"]))
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

on_both!(a_user_without_create_collection_cannot_create_the_metadata_collections);

async fn a_metadata_collection_created_before_a_failure_is_reported_as_a_change(cluster: &Cluster) {
    let on = |collection: &str, actions: &[&str]| Privilege {
        resource: Resource::Namespace {
            db: DB.to_owned(),
            collection: collection.to_owned(),
        },
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    };
    cluster.sim.add_user(user(
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
    let uri = cluster.uri_as("partial", "pw");
    let report = cluster.run(&request(&uri, &["orders"])).await;

    assert_failed(
        &report,
        "metadata_collections",
        None,
        "metadata_collection_create_failed",
        &[UNSYNCED_DOCUMENTS_COLLECTION],
    );
    assert!(
        cluster
            .collection_names(&uri)
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

on_both!(a_metadata_collection_created_before_a_failure_is_reported_as_a_change);

async fn a_user_who_cannot_write_back_is_refused_per_collection(cluster: &Cluster) {
    cluster.sim.add_user(SimUser::read_only("reader", "pw", DB));
    let report = cluster
        .run(&request(&cluster.uri_as("reader", "pw"), &["orders"]))
        .await;
    assert_failed(
        &report,
        "sync_privileges",
        Some("orders"),
        "privileges_missing",
        &["insert", "update", "remove", "shop.orders"],
    );
    // readWrite is enough.
    cluster
        .sim
        .add_user(SimUser::read_write("writer", "pw", DB));
    let report = cluster
        .run(&request(&cluster.uri_as("writer", "pw"), &["orders"]))
        .await;
    assert!(report.ok, "{:?}", report.checks);
}

on_both!(a_user_who_cannot_write_back_is_refused_per_collection);

/// The write-back records its sessions and the documents MongoDB refused in the metadata
/// collections: a user who may write the synced collection but not those is refused up front,
/// not at the first write-back.
async fn a_user_who_cannot_write_the_metadata_collections_is_refused(cluster: &Cluster) {
    let on = |collection: &str, actions: &[&str]| Privilege {
        resource: Resource::Namespace {
            db: DB.to_owned(),
            collection: collection.to_owned(),
        },
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    };
    cluster.sim.add_user(user(
        "narrow",
        "pw",
        vec![
            on("", &["listCollections", "createCollection"]),
            on(
                "orders",
                &["find", "changeStream", "insert", "update", "remove"],
            ),
        ],
    ));
    let report = cluster
        .run(&request(&cluster.uri_as("narrow", "pw"), &["orders"]))
        .await;

    let failed = assert_failed(
        &report,
        "sync_privileges",
        Some("orders"),
        "privileges_missing",
        &[
            SESSIONS_COLLECTION,
            UNSYNCED_DOCUMENTS_COLLECTION,
            "find, insert, update, remove",
        ],
    );
    assert!(
        !failed.message.contains("shop.orders"),
        "nothing is missing on the synced collection itself: {:?}",
        failed.message
    );
}

on_both!(a_user_who_cannot_write_the_metadata_collections_is_refused);
