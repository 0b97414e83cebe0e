//! The metadata collections: created where missing, and only what a run really created is
//! reported as a change. MongoDB 7.0+ answers `create` of an existing collection with ok, so the
//! answer alone does not tell.

use std::time::Duration;

use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use mongodb::Client;
use mongodb::error::ErrorKind as DriverErrorKind;
use mongodb::options::ClientOptions;

use crate::assertions::assert_all_passed;
use crate::cluster::{Cluster, DB, request};

async fn a_metadata_collection_that_exists_is_not_reported_as_created(cluster: &Cluster) {
    cluster
        .sim
        .create_collection(DB, SESSIONS_COLLECTION, CollectionOptions::default());
    let report = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    assert_all_passed(&report);
    assert_eq!(
        report.changes,
        vec![format!(
            "Created metadata collection {DB}.{UNSYNCED_DOCUMENTS_COLLECTION}."
        )],
        "only the collection this run created"
    );
}

on_both!(a_metadata_collection_that_exists_is_not_reported_as_created);

/// An administrator created the metadata collections: a user who may not create collections
/// passes, since nothing has to be created.
async fn a_user_without_create_collection_passes_once_the_metadata_collections_exist(
    cluster: &Cluster,
) {
    for name in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
        cluster
            .sim
            .create_collection(DB, name, CollectionOptions::default());
    }
    cluster.sim.add_user(SimUser::with_actions(
        "app",
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
        .run(&request(&cluster.uri_as("app", "pw"), &["orders"]))
        .await;

    assert_all_passed(&report);
    assert_eq!(report.changes, Vec::<String>::new());
}

on_both!(a_user_without_create_collection_passes_once_the_metadata_collections_exist);

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        DriverErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// The wire front answers `create` as MongoDB 7.0+ does: ok for a collection that exists with
/// the options asked for, 48 `NamespaceExists` when its options differ.
#[tokio::test]
async fn the_wire_front_s_create_is_idempotent_as_on_mongodb_7() {
    let sim = Simulator::new(3);
    sim.create_collection(DB, "ready", CollectionOptions::ready());
    let wire = WireServer::start(sim.clone(), WireOptions::default())
        .await
        .expect("the wire front starts");
    let mut options = ClientOptions::parse(wire.uri())
        .await
        .expect("the URI parses");
    options.server_selection_timeout = Some(Duration::from_secs(5));
    let client = Client::with_options(options).expect("a client");
    let db = client.database(DB);

    db.create_collection("plain").await.expect("created");
    db.create_collection("plain")
        .await
        .expect("created again with the same (no) options: ok");
    let names = db.list_collection_names().await.expect("listed");
    assert_eq!(
        names.iter().filter(|n| *n == "plain").count(),
        1,
        "{names:?}"
    );

    let err = db
        .create_collection("ready")
        .await
        .expect_err("the collection exists with other options");
    assert_eq!(command_code(&err), Some(48), "{err:?}");
}
