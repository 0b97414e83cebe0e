//! The database and the collections to sync: missing, capped, without pre- and post-images,
//! and `autoConfigure` turning images on. Every message asserted here is the preflight's own
//! text, the same on both ports.

use edgebridge_mongo::preflight::CheckStatus;
use edgebridge_mongo_sim::{CollectionOptions, SimUser};

use crate::assertions::{
    PER_COLLECTION, assert_all_passed, assert_failed, assert_passed_before, assert_skipped_after,
    find,
};
use crate::cluster::{Cluster, DB, request};

async fn a_missing_database_is_reported_by_name(cluster: &Cluster) {
    let mut request = request(&cluster.uri(), &["orders"]);
    request.database = "nosuchdb".to_owned();
    let report = cluster.run(&request).await;

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

on_both!(a_missing_database_is_reported_by_name);

async fn a_missing_collection_skips_only_its_own_checks(cluster: &Cluster) {
    let report = cluster
        .run(&request(&cluster.uri(), &["orders", "missing"]))
        .await;

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

on_both!(a_missing_collection_skips_only_its_own_checks);

async fn a_capped_collection_is_refused(cluster: &Cluster) {
    cluster.sim.create_collection(
        DB,
        "logs",
        CollectionOptions {
            capped: true,
            pre_and_post_images: true,
            validator: None,
        },
    );
    let report = cluster.run(&request(&cluster.uri(), &["logs"])).await;

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

on_both!(a_capped_collection_is_refused);

async fn a_collection_without_pre_and_post_images_is_refused(cluster: &Cluster) {
    cluster
        .sim
        .create_collection(DB, "plain", CollectionOptions::default());
    let report = cluster.run(&request(&cluster.uri(), &["plain"])).await;

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

on_both!(a_collection_without_pre_and_post_images_is_refused);

async fn auto_configure_enables_pre_and_post_images_for_a_user_with_coll_mod(cluster: &Cluster) {
    cluster
        .sim
        .create_collection(DB, "plain", CollectionOptions::default());
    cluster
        .sim
        .add_user(SimUser::read_write_admin("admin", "pw", DB));
    let uri = cluster.uri_as("admin", "pw");
    let mut request = request(&uri, &["plain"]);
    request.auto_configure = true;

    let report = cluster.run(&request).await;

    assert_all_passed(&report);
    assert!(
        report.changes.iter().any(|c| c.contains("shop.plain")),
        "the change names the collection: {:?}",
        report.changes
    );
    let infos = cluster.collection_infos(&uri).await;
    assert!(
        infos
            .iter()
            .any(|i| i.name == "plain" && i.pre_and_post_images),
        "the collection now records pre- and post-images"
    );
}

on_both!(auto_configure_enables_pre_and_post_images_for_a_user_with_coll_mod);

async fn auto_configure_without_coll_mod_still_fails_and_says_why(cluster: &Cluster) {
    cluster
        .sim
        .create_collection(DB, "plain", CollectionOptions::default());
    cluster.sim.add_user(SimUser::read_write("app", "pw", DB));
    let mut request = request(&cluster.uri_as("app", "pw"), &["plain"]);
    request.auto_configure = true;

    let report = cluster.run(&request).await;

    assert_failed(
        &report,
        "pre_and_post_images",
        Some("plain"),
        "pre_and_post_images_disabled",
        &["plain", "autoConfigure"],
    );
    assert!(report.changes.iter().all(|c| !c.contains("plain")));
}

on_both!(auto_configure_without_coll_mod_still_fails_and_says_why);
