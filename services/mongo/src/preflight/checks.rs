//! The checks, run in order; a failure stops the run and skips the checks after it. Reaching the
//! cluster is in `reach`, the collections' own checks in `collections`, the user's privileges
//! and the metadata collections in `access`; the deployment and catalog checks are here.

use std::time::Instant;

use edgebridge_domain::connection_string::MongoUri;

use super::access::{metadata_collections, privileges, shard_metadata, sync_privileges};
use super::collections::check_collections;
use super::reach::reach;
use super::recorder::Run;
use super::remedy::{REMEDY_DATABASE, REMEDY_REPLICA_SET, denied_or_unknown};
use super::{PreflightOptions, PreflightRequest, bounded};
use crate::port::{CollectionInfo, MongoConnector, MongoPort, Topology};

pub(super) async fn run_checks(
    connector: &dyn MongoConnector,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) {
    let Some((uri, port)) = reach(connector, request, options, run).await else {
        return;
    };
    let Some(topology) = replica_set(&*port, &uri, request, options, run).await else {
        return;
    };
    let Some(infos) = catalog(&*port, request, options, run).await else {
        return;
    };
    let available = check_collections(&*port, request, options, run, &infos).await;
    let privileges = privileges(&*port, options).await;
    sync_privileges(request, run, &available, privileges.as_deref());
    shard_metadata(&topology, run, privileges.as_deref());
    metadata_collections(&*port, request, options, run).await;
}

/// Check 4, a replica set or a sharded cluster: a standalone server has neither change streams
/// nor transactions, and the connector would fail on its first stream or write-back. Which one
/// it is when it passes.
async fn replica_set(
    port: &dyn MongoPort,
    uri: &MongoUri,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) -> Option<Topology> {
    let t = Instant::now();
    let hosts = uri.hosts().join(",");
    let failure = match bounded(options.step_timeout, "hello", port.topology()).await {
        Ok(Topology::ReplicaSet { name }) => {
            run.pass(
                "replica_set",
                None,
                format!("MongoDB at {hosts} is a member of the replica set {name}."),
                t,
            );
            return Some(Topology::ReplicaSet { name });
        }
        Ok(Topology::Sharded) => {
            run.pass(
                "replica_set",
                None,
                format!("MongoDB at {hosts} is a sharded cluster (mongos)."),
                t,
            );
            return Some(Topology::Sharded);
        }
        Ok(Topology::Standalone) => (
            "replica_set_required",
            format!(
                "MongoDB at {hosts} is a standalone server: change streams and transactions, which syncing needs, exist only on a replica set or a sharded cluster."
            ),
            REMEDY_REPLICA_SET,
        ),
        Err(e) => {
            let (code, remedy) = denied_or_unknown(&e, "unexpected_error");
            (
                code,
                format!(
                    "Failed to ask MongoDB at {hosts} what it is (hello): {}.",
                    cause(&e)
                ),
                remedy,
            )
        }
    };
    let (code, message, remedy) = failure;
    run.fail("replica_set", None, code, message, remedy, t);
    run.skip_rest(
        "replica_set",
        &request.collections,
        "MongoDB is not a replica set or a sharded cluster",
    );
    None
}

/// 5-7. The user may list databases and collections, and the database exists. Its collections
/// when these pass.
async fn catalog(
    port: &dyn MongoPort,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) -> Option<Vec<CollectionInfo>> {
    let db = request.database.as_str();
    let collections = &request.collections;
    let t = Instant::now();
    let databases = match bounded(
        options.step_timeout,
        "listDatabases",
        port.list_database_names(),
    )
    .await
    {
        Ok(names) => names,
        Err(e) => {
            let (code, remedy) = denied_or_unknown(&e, "list_databases_denied");
            run.fail(
                "list_databases",
                None,
                code,
                format!("Failed to list database names: {}.", cause(&e)),
                remedy,
                t,
            );
            run.skip_rest(
                "list_databases",
                collections,
                "databases could not be listed",
            );
            return None;
        }
    };
    run.pass(
        "list_databases",
        None,
        format!("Listed {} database(s).", databases.len()),
        t,
    );

    let t = Instant::now();
    let infos = match bounded(
        options.step_timeout,
        "listCollections",
        port.list_collections(db),
    )
    .await
    {
        Ok(infos) => infos,
        Err(e) => {
            let (code, remedy) = denied_or_unknown(&e, "list_collections_denied");
            run.fail(
                "list_collections",
                None,
                code,
                format!(
                    "Failed to list collections in database {db}: {}.",
                    cause(&e)
                ),
                remedy,
                t,
            );
            run.skip_rest(
                "list_collections",
                collections,
                "collections could not be listed",
            );
            return None;
        }
    };
    run.pass(
        "list_collections",
        None,
        format!("Listed {} collection(s) in database {db}.", infos.len()),
        t,
    );

    // MongoDB lists a database once it holds a collection.
    let t = Instant::now();
    if !databases.iter().any(|d| d == db) && infos.is_empty() {
        run.fail(
            "database_exists",
            None,
            "database_not_found",
            format!("Database {db} not found."),
            REMEDY_DATABASE,
            t,
        );
        run.skip_rest(
            "database_exists",
            collections,
            &format!("database {db} does not exist"),
        );
        return None;
    }
    run.pass("database_exists", None, format!("Database {db} exists."), t);
    Some(infos)
}

/// An error's text without its final period, to end a sentence of ours.
pub(super) fn cause(e: &impl std::fmt::Display) -> String {
    e.to_string().trim_end_matches('.').to_owned()
}
