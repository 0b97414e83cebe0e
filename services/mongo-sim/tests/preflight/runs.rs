//! Whole runs: everything passes, a second run changes nothing, no report holds the password,
//! and a run past its total time says where it stopped.

use std::time::Duration;

use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::preflight::{CheckResult, CheckStatus, ORDER, PreflightOptions};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser};

use crate::assertions::{PER_COLLECTION, assert_all_passed};
use crate::cluster::{Cluster, DB, request};

async fn a_ready_collection_passes_every_check_and_gets_its_metadata_collections(
    cluster: &Cluster,
) {
    let uri = cluster.uri();
    let report = cluster.run(&request(&uri, &["orders"])).await;

    assert_all_passed(&report);
    let names = cluster.collection_names(&uri).await;
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

on_both!(a_ready_collection_passes_every_check_and_gets_its_metadata_collections);

async fn a_second_run_changes_nothing(cluster: &Cluster) {
    let first = cluster.run(&request(&cluster.uri(), &["orders"])).await;
    assert!(
        !first.changes.is_empty(),
        "the first run creates the metadata collections"
    );

    let again = cluster.run(&request(&cluster.uri(), &["orders"])).await;

    assert_all_passed(&again);
    assert_eq!(
        again.changes,
        Vec::<String>::new(),
        "preflight is idempotent"
    );
}

on_both!(a_second_run_changes_nothing);

async fn a_report_never_contains_the_password(cluster: &Cluster) {
    const PASSWORD: &str = "s3cr3t-pw";
    cluster
        .sim
        .add_user(SimUser::read_write("app", PASSWORD, DB));
    let good = cluster.uri_as("app", PASSWORD);
    let wrong_user = cluster.uri_as("someone", PASSWORD);
    let bad_port = format!("mongodb://app:{PASSWORD}@{}:99999/", cluster.host_name());
    let mut uris = vec![good.clone(), wrong_user, bad_port];
    if cluster.is_in_process() {
        // In process only: the driver would ask the machine's resolver.
        uris.push(format!("mongodb://app:{PASSWORD}@nowhere.example.org/"));
    }

    for uri in &uris {
        let report = cluster.run(&request(uri, &["orders", "missing"])).await;
        let json = serde_json::to_string(&report).expect("a report serializes");
        assert!(
            !json.contains(PASSWORD),
            "the report for {} leaks the password: {json}",
            edgebridge_domain::connection_string::redact(uri)
        );
    }

    cluster.sim.set_reachable(false);
    let report = cluster.run(&request(&good, &["orders"])).await;
    let json = serde_json::to_string(&report).expect("a report serializes");
    assert!(
        !json.contains(PASSWORD),
        "an unreachable cluster's report leaks the password: {json}"
    );
}

on_both!(a_report_never_contains_the_password);

// In process only: every answer is slowed in paused tokio time, which a socket does not follow.
#[tokio::test(start_paused = true)]
async fn a_run_over_its_total_time_reports_where_it_stopped() {
    let cluster = Cluster::in_process();
    let sim = &cluster.sim;
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
    let report = cluster
        .run_with(&request(&cluster.uri(), &["orders", "items"]), &options)
        .await;
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
