//! (i) The preflight checks on a ready collection, through the deployment's own connector.

use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::preflight::{self, CheckStatus, PreflightOptions, PreflightRequest};
use edgebridge_mongo_sim::CollectionOptions;

use crate::deployment::Deployment;

// ---------------------------------------------------------------------------------------------
// (i) Preflight on a ready collection
// ---------------------------------------------------------------------------------------------

async fn preflight_ready(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    let request = PreflightRequest {
        connection_string: d.connection_string(),
        database: db.to_owned(),
        collections: vec!["orders".to_owned()],
        id_fields: Default::default(),
        auto_configure: false,
    };
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };

    let report = preflight::run(d.connector().as_ref(), &request, &options).await;

    let not_passed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
        .collect();
    assert!(
        not_passed.is_empty(),
        "every check passes on a ready collection: {not_passed:#?}"
    );
    assert!(report.ok);

    let names: Vec<String> = d
        .port()
        .list_collections(db)
        .await
        .expect("list collections")
        .into_iter()
        .map(|c| c.name)
        .collect();
    for metadata in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
        assert!(
            names.iter().any(|n| n == metadata),
            "preflight creates the metadata collection {metadata}; found {names:?}"
        );
    }
}

on_both!(
    preflight_ready,
    preflight_ready_on_simulator,
    preflight_ready_on_mongodb
);
