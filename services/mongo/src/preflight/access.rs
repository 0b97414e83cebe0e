//! What the connector's user may do: read, watch and write each collection and write the
//! metadata collections, and on a sharded cluster read its shard metadata; and the metadata
//! collections themselves, created where missing.

use std::time::Instant;

use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};

use super::checks::cause;
use super::collections::find;
use super::recorder::Run;
use super::remedy::{REMEDY_CONFIG_READ, REMEDY_PRIVILEGES, denied_or_unknown};
use super::{METADATA_ACTIONS, PreflightOptions, PreflightRequest, SYNC_ACTIONS, bounded};
use crate::port::{CollectionInfo, MongoPort, Privilege, Topology, allows};

const METADATA_COLLECTIONS: [&str; 2] = [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION];

/// The user's privileges (`connectionStatus`); `None` when they could not be read (the checks
/// then say so and pass: the operations themselves will tell).
pub(super) async fn privileges(
    port: &dyn MongoPort,
    options: &PreflightOptions,
) -> Option<Vec<Privilege>> {
    match bounded(options.step_timeout, "connectionStatus", port.privileges()).await {
        Ok(privileges) => Some(privileges),
        Err(e) => {
            tracing::debug!(error = %e, "privileges could not be read");
            None
        }
    }
}

/// The user may do what syncing needs on each collection, and what its write-back does to the
/// metadata collections (recording its sessions and the documents MongoDB refused). A server
/// without access control reports no privileges at all: nothing to check then.
pub(super) fn sync_privileges(
    request: &PreflightRequest,
    run: &mut Run,
    available: &[&CollectionInfo],
    privileges: Option<&[Privilege]>,
) {
    let db = request.database.as_str();
    let t = Instant::now();
    let checked = privileges.filter(|list| !list.is_empty());
    // The same for every collection: each one's write-back writes there.
    let metadata: Vec<String> = checked
        .map(|list| {
            METADATA_COLLECTIONS
                .iter()
                .filter_map(|name| lacking(list, &METADATA_ACTIONS, db, name))
                .collect()
        })
        .unwrap_or_default();
    for name in &request.collections {
        if find(available, name).is_none() {
            run.skip_unavailable("sync_privileges", name);
            continue;
        }
        let mut missing: Vec<String> = checked
            .and_then(|list| lacking(list, &SYNC_ACTIONS, db, name))
            .into_iter()
            .collect();
        missing.extend(metadata.iter().cloned());
        if missing.is_empty() {
            let how = match privileges {
                Some(list) if !list.is_empty() => "may read, watch and write",
                Some(_) => "runs without access control, so the user may read, watch and write",
                None => {
                    "did not report privileges (connectionStatus failed); reading, watching and writing will be tried when syncing"
                }
            };
            run.pass(
                "sync_privileges",
                Some(name),
                format!("The user {how} collection {name}."),
                t,
            );
        } else {
            run.fail(
                "sync_privileges",
                Some(name),
                "privileges_missing",
                format!("The database user may not {}.", missing.join(", nor ")),
                REMEDY_PRIVILEGES,
                t,
            );
        }
    }
}

/// On a sharded cluster the change streams, and the connector, read the collections' shard
/// metadata from `config.collections` through the router: a user who may not read it passes
/// every other check and fails when syncing starts. Nothing to check on a replica set.
pub(super) fn shard_metadata(topology: &Topology, run: &mut Run, privileges: Option<&[Privilege]>) {
    const CHECK: &str = "shard_metadata";
    let t = Instant::now();
    if *topology != Topology::Sharded {
        run.pass(
            CHECK,
            None,
            "MongoDB is a replica set: there is no shard metadata to read.".to_owned(),
            t,
        );
        return;
    }
    let message = match privileges {
        Some(list) if !list.is_empty() && !allows(list, "find", "config", Some("collections")) => {
            run.fail(
                CHECK,
                None,
                "config_read_required",
                "The database user may not read collection config.collections (find), where the sharded cluster keeps the shard metadata its change streams read.".to_owned(),
                REMEDY_CONFIG_READ,
                t,
            );
            return;
        }
        Some(list) if !list.is_empty() => {
            "The user may read collection config.collections (the shard metadata)."
        }
        Some(_) => {
            "The cluster runs without access control, so the user may read collection config.collections (the shard metadata)."
        }
        None => {
            "The cluster did not report privileges (connectionStatus failed); reading config.collections will be tried when syncing."
        }
    };
    run.pass(CHECK, None, message.to_owned(), t);
}

/// "insert, update on collection db.name" for the actions the user lacks there, if any.
fn lacking(privileges: &[Privilege], actions: &[&str], db: &str, name: &str) -> Option<String> {
    let lacking: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|action| !allows(privileges, action, db, Some(name)))
        .collect();
    (!lacking.is_empty()).then(|| format!("{} on collection {db}.{name}", lacking.join(", ")))
}

/// The metadata collections exist: those missing are created now, and said so in the report's
/// changes (only what this run really created).
pub(super) async fn metadata_collections(
    port: &dyn MongoPort,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) {
    let db = request.database.as_str();
    let t = Instant::now();
    for name in METADATA_COLLECTIONS {
        match bounded(
            options.step_timeout,
            "create",
            port.create_collection(db, name),
        )
        .await
        {
            // Said as it happens, so a later failure does not hide what was already created.
            Ok(true) => run
                .changes
                .push(format!("Created metadata collection {db}.{name}.")),
            Ok(false) => {}
            Err(e) => {
                let (_, remedy) = denied_or_unknown(&e, "metadata_collection_create_failed");
                run.fail(
                    "metadata_collections",
                    None,
                    "metadata_collection_create_failed",
                    format!(
                        "Collection {name} cannot be created in database {db}: {}.",
                        cause(&e)
                    ),
                    remedy,
                    t,
                );
                return;
            }
        }
    }
    run.pass(
        "metadata_collections",
        None,
        format!("Metadata collections {SESSIONS_COLLECTION} and {UNSYNCED_DOCUMENTS_COLLECTION} exist in database {db}."),
        t,
    );
}
