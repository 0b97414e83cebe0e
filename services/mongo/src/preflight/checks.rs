//! The checks themselves, run in order; a failure stops the run and skips the checks after it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};

use super::members::refused_member;
use super::recorder::Run;
use super::remedy::{
    REMEDY_AUTH, REMEDY_CAPPED, REMEDY_COLLECTION, REMEDY_DATABASE, REMEDY_OPTION, REMEDY_POLICY,
    REMEDY_PRIVILEGES, REMEDY_REACH, REMEDY_RESOLVE, REMEDY_STRING, REMEDY_VIEW, denied_or_unknown,
    remedy_images,
};
use super::{PreflightOptions, PreflightRequest, SYNC_ACTIONS, bounded};
use crate::error::{ErrorKind, PortError};
use crate::port::{
    CollectionInfo, CollectionKind, ConnectOptions, MongoConnector, MongoPort, allows,
};

pub(super) async fn run_checks(
    connector: &dyn MongoConnector,
    request: &PreflightRequest,
    options: &PreflightOptions,
    run: &mut Run,
) {
    let collections = &request.collections;
    let db = request.database.as_str();

    // 1. The string parses.
    let t = Instant::now();
    let uri = match MongoUri::parse(&request.connection_string) {
        Ok(uri) => uri,
        Err(e) => {
            run.fail(
                "connection_string",
                None,
                "connection_string_invalid",
                format!("The connection string is invalid: it {}.", e.message()),
                REMEDY_STRING,
                t,
            );
            run.skip_rest(
                "connection_string",
                collections,
                "the connection string is invalid",
            );
            return;
        }
    };
    run.pass(
        "connection_string",
        None,
        format!("The connection string parses ({}).", uri.redacted()),
        t,
    );

    // 2. Every address it reaches, and every option it uses, is allowed.
    let t = Instant::now();
    if let Err(why) = options.policy.check_options(uri.options()) {
        run.fail(
            "target_allowed",
            None,
            "option_not_allowed",
            format!("The connection string is not allowed here: {why}."),
            REMEDY_OPTION,
            t,
        );
        run.skip_rest(
            "target_allowed",
            collections,
            "the connection string uses an option this deployment does not allow",
        );
        return;
    }
    let addresses: Vec<IpAddr> =
        match bounded(options.step_timeout, "DNS", connector.resolve(&uri)).await {
            Ok(addresses) => addresses,
            Err(e) => {
                let code = if e.kind == ErrorKind::Unsupported {
                    "target_not_allowed"
                } else {
                    "host_unresolvable"
                };
                run.fail(
                    "target_allowed",
                    None,
                    code,
                    format!("Could not resolve the cluster's hosts: {}.", e.message),
                    REMEDY_RESOLVE,
                    t,
                );
                run.skip_rest(
                    "target_allowed",
                    collections,
                    "the cluster's hosts could not be resolved",
                );
                return;
            }
        };
    if let Some((ip, why)) = addresses
        .iter()
        .find_map(|ip| options.policy.check(*ip).err().map(|why| (ip, why)))
    {
        run.fail(
            "target_allowed",
            None,
            "target_not_allowed",
            format!("The cluster's hosts resolve to {ip}, {why}, which this deployment does not connect to."),
            REMEDY_POLICY,
            t,
        );
        run.skip_rest(
            "target_allowed",
            collections,
            "the cluster's address is not allowed",
        );
        return;
    }
    let shown: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    run.pass(
        "target_allowed",
        None,
        format!(
            "The cluster's hosts resolve to allowed addresses ({}).",
            shown.join(", ")
        ),
        t,
    );

    // 3. Reachable, credentials accepted.
    let t = Instant::now();
    let limit = options.connect.server_selection_timeout + options.connect.connect_timeout;
    let connect_options = ConnectOptions {
        policy: options.policy,
        ..options.connect.clone()
    };
    let connected: Result<Arc<dyn MongoPort>, PortError> = async {
        // Connecting resolves SRV records in the driver: bounded too.
        let port = bounded(limit, "DNS", connector.connect(&uri, &connect_options)).await?;
        bounded(limit, "The cluster", port.ping()).await?;
        Ok(port)
    }
    .await;
    let port = match connected {
        Ok(port) => port,
        Err(e) => {
            let hosts = uri.hosts().join(",");
            let (code, message, remedy) = match e.kind {
                ErrorKind::TargetNotAllowed => (
                    "target_not_allowed",
                    format!("MongoDB at {hosts} is not allowed here: {}.", e.message),
                    REMEDY_POLICY,
                ),
                ErrorKind::Authentication => (
                    "authentication_failed",
                    format!(
                        "MongoDB at {hosts} refused the credentials of user `{}`: {}.",
                        uri.shown_username().unwrap_or("(none)"),
                        cause(&e)
                    ),
                    REMEDY_AUTH,
                ),
                ErrorKind::InvalidConnectionString => (
                    "connection_string_invalid",
                    format!(
                        "The MongoDB driver refused the connection string for {hosts}: {}.",
                        cause(&e)
                    ),
                    REMEDY_STRING,
                ),
                _ => (
                    "cluster_unreachable",
                    format!("Failed to connect to MongoDB at {hosts}: {}.", cause(&e)),
                    REMEDY_REACH,
                ),
            };
            run.fail("cluster_reachable", None, code, message, remedy, t);
            run.skip_rest(
                "cluster_reachable",
                collections,
                "MongoDB could not be reached",
            );
            return;
        }
    };
    // The cluster may name members of its own (replica-set discovery): they must be allowed too.
    if let Some((server, why)) = refused_member(connector, &*port, &uri, options).await {
        run.fail(
            "cluster_reachable",
            None,
            "target_not_allowed",
            format!("The cluster advertises the member {server}, {why}, which this deployment does not connect to."),
            REMEDY_POLICY,
            t,
        );
        run.skip_rest(
            "cluster_reachable",
            collections,
            "the cluster advertises a member that is not allowed",
        );
        return;
    }
    run.pass(
        "cluster_reachable",
        None,
        "Connected to MongoDB and authenticated.".to_owned(),
        t,
    );

    // 4. May list databases.
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
            return;
        }
    };
    run.pass(
        "list_databases",
        None,
        format!("Listed {} database(s).", databases.len()),
        t,
    );

    // 5. May list collections.
    let t = Instant::now();
    let infos: Vec<CollectionInfo> = match bounded(
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
            return;
        }
    };
    run.pass(
        "list_collections",
        None,
        format!("Listed {} collection(s) in database {db}.", infos.len()),
        t,
    );

    // 6. The database exists (MongoDB lists a database once it holds a collection).
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
        return;
    }
    run.pass("database_exists", None, format!("Database {db} exists."), t);

    // 7-9. Per collection.
    let mut missing = Vec::new();
    for name in collections {
        let t = Instant::now();
        match infos.iter().find(|i| &i.name == name) {
            None => {
                run.fail(
                    "collection_exists",
                    Some(name),
                    "collection_not_found",
                    format!("Collection {name} not found in database {db}."),
                    REMEDY_COLLECTION,
                    t,
                );
                missing.push(name.clone());
            }
            Some(info) if info.kind != CollectionKind::Collection => {
                let what = if info.kind == CollectionKind::View {
                    "a view"
                } else {
                    "a time series collection"
                };
                run.fail(
                    "collection_exists",
                    Some(name),
                    "collection_not_supported",
                    format!("Collection {name} is {what}, which cannot be synced."),
                    REMEDY_VIEW,
                    t,
                );
                missing.push(name.clone());
            }
            Some(_) => run.pass(
                "collection_exists",
                Some(name),
                format!("Collection {name} exists."),
                t,
            ),
        }
    }
    // The collections that exist and can be synced; the others skip their remaining checks.
    let available = |name: &String| {
        infos
            .iter()
            .find(|i| &i.name == name)
            .filter(|_| !missing.contains(name))
    };
    for name in collections {
        let Some(info) = available(name) else {
            run.skip_unavailable("collection_not_capped", name);
            continue;
        };
        let t = Instant::now();
        if info.capped {
            run.fail(
                "collection_not_capped",
                Some(name),
                "collection_capped",
                format!("Collection {name} cannot be a capped collection."),
                REMEDY_CAPPED,
                t,
            );
        } else {
            run.pass(
                "collection_not_capped",
                Some(name),
                format!("Collection {name} is not capped."),
                t,
            );
        }
    }
    for name in collections {
        let Some(info) = available(name) else {
            run.skip_unavailable("pre_and_post_images", name);
            continue;
        };
        let t = Instant::now();
        if info.pre_and_post_images {
            run.pass(
                "pre_and_post_images",
                Some(name),
                format!("Collection {name} records pre- and post-images."),
                t,
            );
            continue;
        }
        if !request.auto_configure {
            run.fail(
                "pre_and_post_images",
                Some(name),
                "pre_and_post_images_disabled",
                format!("Collection {name} must be configured with changeStreamPreAndPostImages enabled."),
                remedy_images(name),
                t,
            );
            continue;
        }
        match bounded(options.step_timeout, "collMod", port.enable_pre_and_post_images(db, name)).await {
            Ok(()) => {
                run.changes.push(format!("Enabled changeStreamPreAndPostImages on collection {db}.{name}."));
                run.pass("pre_and_post_images", Some(name), format!("Collection {name} had no pre- and post-images; autoConfigure enabled them."), t);
            }
            Err(e) => run.fail(
                "pre_and_post_images",
                Some(name),
                "pre_and_post_images_disabled",
                format!("Collection {name} must be configured with changeStreamPreAndPostImages enabled, and autoConfigure could not enable them: {}.", cause(&e)),
                remedy_images(name),
                t,
            ),
        }
    }

    // 10. The user may do what syncing needs on each collection. A server without access control
    // reports no privileges at all: nothing to check then.
    let t = Instant::now();
    let privileges =
        match bounded(options.step_timeout, "connectionStatus", port.privileges()).await {
            Ok(privileges) => Some(privileges),
            Err(e) => {
                tracing::debug!(error = %e, "privileges could not be read");
                None
            }
        };
    for name in collections {
        if available(name).is_none() {
            run.skip_unavailable("sync_privileges", name);
            continue;
        }
        let lacking: Vec<&str> = match &privileges {
            Some(list) if !list.is_empty() => SYNC_ACTIONS
                .iter()
                .copied()
                .filter(|action| !allows(list, action, db, Some(name)))
                .collect(),
            _ => Vec::new(),
        };
        if lacking.is_empty() {
            let how = match &privileges {
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
                format!(
                    "The database user may not {} on collection {db}.{name}.",
                    lacking.join(", ")
                ),
                REMEDY_PRIVILEGES,
                t,
            );
        }
    }

    // 11. The metadata collections can be created (they are created now: it is idempotent).
    let t = Instant::now();
    for name in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
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
    run.pass("metadata_collections", None, format!("Metadata collections {SESSIONS_COLLECTION} and {UNSYNCED_DOCUMENTS_COLLECTION} exist in database {db}."), t);
}

/// An error's text without its final period, to end a sentence of ours.
fn cause(e: &impl std::fmt::Display) -> String {
    e.to_string().trim_end_matches('.').to_owned()
}
