//! A write-back batch too large for one MongoDB transaction (the storage engine's cache cannot
//! hold it: 388 `TransactionTooLargeForCache`, as 290, 257 and 10334 also say) is written again
//! in halves until each part fits; nothing is recorded as unsynced and the connector runs.

use super::{DB, connector, execute, until_mongo};
use crate::fleet::{Fleet, Port, both_ports};
use crate::pipeline::{start_worker, until_status};
use edgebridge_domain::names::UNSYNCED_DOCUMENTS_COLLECTION;
use sqlx::PgPool;

both_ports! {
    async fn a_batch_too_large_for_a_transaction_is_written_in_halves(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, None).await;
        // Devices wrote ten documents before the connector ran: one page, one batch for the
        // write-back, with the session record's renewal eleven changes; a transaction holds three.
        for n in 0..10 {
            execute(
                &fleet,
                &format!("INSERT INTO products DOCUMENTS ({{'_id': 'd{n}', 'n': {n}}})"),
            )
            .await;
        }
        fleet.sim.set_transaction_limit(Some(3));
        let _w1 = start_worker(&fleet, "w1").await;
        let docs = until_mongo(&fleet.sim, "every document, in parts", |d| d.len() == 10).await;
        assert!(docs.iter().all(|d| d.get_str("_id").unwrap().starts_with('d')));
        assert!(fleet.sim.documents(DB, UNSYNCED_DOCUMENTS_COLLECTION).is_empty());
        let status = until_status(&fleet, id, "written back", |s| {
            s["counters"]["documentsWrittenBack"] == 10
        })
        .await;
        assert_eq!(status["status"], "running", "{status}");
        assert_eq!(status["counters"]["documentsUnsynced"], 0, "{status}");
    }
}

/// The secondary of a primary-secondary-arbiter set is down (wire front only): a device's write
/// is applied on the primary, but no majority can acknowledge its commit. With `wtimeout` the
/// commit answers WriteConcernTimeout instead of hanging, the write-back says so at once
/// (`write_back_retrying`) and keeps retrying; once the secondary is back, later writes go
/// through, nothing is unsynced and the connector never restarted.
#[sqlx::test(migrations = false)]
async fn a_commit_no_majority_can_acknowledge_is_reported_and_retried(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    let id = connector(&fleet, None).await;
    let mut settings = crate::pipeline::worker_settings(&fleet, "w1");
    settings.preflight.connect.commit_wtimeout = std::time::Duration::from_millis(300);
    let mut w1 = edgebridge_worker::Worker::register(settings).await.unwrap();
    fleet.tick().await;
    crate::fleet::step(&mut w1).await;
    crate::pipeline::until_streaming(&fleet, id).await;
    fleet.sim.set_majority_unavailable(true);
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'd1', 'n': 1})",
    )
    .await;
    let status = until_status(&fleet, id, "the stuck commit reported", |s| {
        s["status"] == "running"
    })
    .await;
    let path = format!(
        "{}/events?q=write_back_retrying",
        fleet.app.connector_path(fleet.app.app_id, id)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let event = loop {
        let events: serde_json::Value = fleet
            .app
            .get(&path, &fleet.app.owner_key)
            .await
            .json()
            .await
            .unwrap();
        if let Some(e) = events["items"].as_array().and_then(|a| a.first()).cloned() {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "no warning: {status}");
        // The worker heartbeats (tests step it by hand): its lease holds.
        crate::fleet::step(&mut w1).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(event["level"], "warn", "{event}");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("WriteConcernTimeout")
            || event["context"]["kind"] == "CommitOutcomeUnknown",
        "{event}"
    );
    fleet.sim.set_majority_unavailable(false);
    crate::fleet::step(&mut w1).await;
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'd2', 'n': 2})",
    )
    .await;
    until_mongo(&fleet.sim, "both writes", |d| d.len() == 2).await;
    let status = until_status(&fleet, id, "written back", |s| {
        s["counters"]["documentsWrittenBack"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!(status["status"], "running", "{status}");
    assert!(
        fleet
            .sim
            .documents(DB, UNSYNCED_DOCUMENTS_COLLECTION)
            .is_empty()
    );
    crate::fleet::step(&mut w1).await;
}
