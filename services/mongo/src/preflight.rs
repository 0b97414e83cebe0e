//! The checks a connector passes before it starts, and on demand ("test connection", also for an
//! unsaved spec). Each failure has a stable code, a message that names the object, and a
//! remediation. A failed check skips the checks that depend on it, and says so.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{
    CollectionInfo, CollectionKind, ConnectOptions, MongoConnector, MongoPort, allows,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// Which check: `connection_string`, `target_allowed`, `cluster_reachable`,
    /// `list_databases`, `list_collections`, `database_exists`, `collection_exists`,
    /// `collection_not_capped`, `pre_and_post_images`, `sync_privileges`,
    /// `metadata_collections`.
    #[schema(example = "pre_and_post_images")]
    pub check: &'static str,
    pub status: CheckStatus,
    /// The collection this check is about (per-collection checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Why it failed, stable (see the README's table).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "pre_and_post_images_disabled")]
    pub code: Option<&'static str>,
    pub message: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    pub duration_ms: u64,
}

/// All checks of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// True when every check passed.
    pub ok: bool,
    pub checks: Vec<CheckResult>,
    /// What `autoConfigure` changed in MongoDB, in words.
    pub changes: Vec<String>,
    pub duration_ms: u64,
}

impl PreflightReport {
    /// The first failure, for a connector's `failed` status.
    pub fn first_failure(&self) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.status == CheckStatus::Failed)
    }
}

/// What to check. `Debug` never shows the connection string (it holds the password).
#[derive(Clone)]
pub struct PreflightRequest {
    /// The connection string as given (it may not parse: that is the first check).
    pub connection_string: String,
    pub database: String,
    pub collections: Vec<String>,
    /// Enable pre- and post-images where missing (needs `collMod`).
    pub auto_configure: bool,
}

/// Limits and policy set by the operator.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    pub policy: TargetPolicy,
    pub connect: ConnectOptions,
    /// Bound on each step after connecting (listing, creating).
    pub step_timeout: Duration,
    /// Bound on the whole run (keep it under the API's request timeout): checks not reached by
    /// then are reported, not lost.
    pub total_timeout: Duration,
}

impl std::fmt::Debug for PreflightRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreflightRequest")
            .field(
                "connection_string",
                &edgebridge_domain::redact(&self.connection_string),
            )
            .field("database", &self.database)
            .field("collections", &self.collections)
            .field("auto_configure", &self.auto_configure)
            .finish()
    }
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            policy: TargetPolicy::PublicOnly,
            connect: ConnectOptions::default(),
            step_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(25),
        }
    }
}

const REMEDY_STRING: &str = "Correct the connection string: mongodb:// or mongodb+srv://, then \
user:password@ with special characters percent-encoded, then the hosts.";
const REMEDY_POLICY: &str = "Use the cluster's public address. This deployment only connects to \
public addresses; a self-hosted deployment can allow private ones (EDGEBRIDGE_TARGET_POLICY=allow-private).";
const REMEDY_OPTION: &str = "Remove the option from the connection string: authenticate with a \
database user and password, and let the cluster present a certificate from a public CA.";
const REMEDY_RESOLVE: &str = "Check the host name in the connection string; for mongodb+srv:// the \
name must have a _mongodb._tcp SRV record.";
const REMEDY_REACH: &str = "Make sure the cluster is running, that its network access list allows \
this service's outbound addresses, and that TLS settings match the cluster.";
const REMEDY_AUTH: &str = "Check the user name and password (and authSource) in the connection \
string; the database user must exist on the cluster.";
const REMEDY_PRIVILEGES: &str = "Grant the connector's database user the readWrite role on the \
database (on a sharded cluster, also read on config.collections).";
const REMEDY_DATABASE: &str = "Create the database in MongoDB (create any collection in it), or \
correct the `database` field.";
const REMEDY_COLLECTION: &str = "Create the collection in MongoDB with changeStreamPreAndPostImages \
enabled, or correct the collection name.";
const REMEDY_VIEW: &str = "Sync the view's source collection instead: views and time series \
collections have no change streams with pre- and post-images.";
const REMEDY_CAPPED: &str = "Use a collection that is not capped: copy the data into a new \
collection created with changeStreamPreAndPostImages enabled.";
const REMEDY_SLOW: &str = "The cluster answers too slowly: check its load and the network path, \
then test again.";
const REMEDY_UNKNOWN: &str = "An unexpected error occurred; try again, and contact support with \
the connector id if it persists.";

fn remedy_images(collection: &str) -> String {
    format!(
        "Run db.runCommand({{collMod: \"{collection}\", changeStreamPreAndPostImages: {{enabled: true}}}}), \
or set autoConfigure: true on the connector and grant its user collMod (dbAdmin role)."
    )
}

struct Run {
    checks: Vec<CheckResult>,
    changes: Vec<String>,
}

impl Run {
    fn pass(
        &mut self,
        check: &'static str,
        collection: Option<&str>,
        message: String,
        started: Instant,
    ) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Passed,
            collection: collection.map(str::to_owned),
            code: None,
            message,
            remediation: None,
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        check: &'static str,
        collection: Option<&str>,
        code: &'static str,
        message: String,
        remediation: impl Into<String>,
        started: Instant,
    ) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Failed,
            collection: collection.map(str::to_owned),
            code: Some(code),
            message,
            remediation: Some(remediation.into()),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    fn skip(&mut self, check: &'static str, collection: Option<&str>, because: &str) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Skipped,
            collection: collection.map(str::to_owned),
            code: None,
            message: format!("Skipped because {because}."),
            remediation: None,
            duration_ms: 0,
        });
    }

    fn skip_unavailable(&mut self, check: &'static str, collection: &str) {
        self.skip(
            check,
            Some(collection),
            &format!("collection {collection} is not available"),
        );
    }

    /// The run hit its total time limit: the first check without a result fails, the rest are
    /// skipped.
    fn out_of_time(&mut self, collections: &[String], limit: Duration) {
        let mut failed = false;
        for check in ORDER {
            let targets: Vec<Option<&str>> = if PER_COLLECTION.contains(&check) {
                collections.iter().map(|c| Some(c.as_str())).collect()
            } else {
                vec![None]
            };
            for collection in targets {
                let done = self
                    .checks
                    .iter()
                    .any(|c| c.check == check && c.collection.as_deref() == collection);
                if done {
                    continue;
                }
                if failed {
                    self.skip(check, collection, "the checks ran out of time");
                } else {
                    failed = true;
                    self.checks.push(CheckResult {
                        check,
                        status: CheckStatus::Failed,
                        collection: collection.map(str::to_owned),
                        code: Some("preflight_timed_out"),
                        message: format!(
                            "The checks did not finish within {} s; this one had not answered.",
                            limit.as_secs()
                        ),
                        remediation: Some(REMEDY_SLOW.to_owned()),
                        duration_ms: limit.as_millis() as u64,
                    });
                }
            }
        }
    }

    /// Skips every check after `from` (in [`ORDER`]), for every collection where it applies.
    fn skip_rest(&mut self, from: &'static str, collections: &[String], because: &str) {
        let start = ORDER
            .iter()
            .position(|c| *c == from)
            .map_or(ORDER.len(), |i| i + 1);
        for check in &ORDER[start..] {
            if PER_COLLECTION.contains(check) {
                for name in collections {
                    self.skip(check, Some(name), because);
                }
            } else {
                self.skip(check, None, because);
            }
        }
    }
}

/// Every check, in the order they run.
pub const ORDER: [&str; 11] = [
    "connection_string",
    "target_allowed",
    "cluster_reachable",
    "list_databases",
    "list_collections",
    "database_exists",
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "sync_privileges",
    "metadata_collections",
];

const PER_COLLECTION: [&str; 4] = [
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "sync_privileges",
];

/// What syncing a collection needs: read it, watch it, and write back to it.
const SYNC_ACTIONS: [&str; 5] = ["find", "changeStream", "insert", "update", "remove"];

async fn bounded<T>(
    limit: Duration,
    what: &str,
    step: impl Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(PortError::new(
            ErrorKind::Timeout,
            format!("{what} did not answer within {} s", limit.as_secs()),
        )),
    }
}

/// Runs every check against the deployment `connector` reaches.
pub async fn run(
    connector: &dyn MongoConnector,
    request: &PreflightRequest,
    options: &PreflightOptions,
) -> PreflightReport {
    let started = Instant::now();
    let mut run = Run {
        checks: Vec::new(),
        changes: Vec::new(),
    };
    let finished = tokio::time::timeout(
        options.total_timeout,
        run_checks(connector, request, options, &mut run),
    )
    .await;
    if finished.is_err() {
        run.out_of_time(&request.collections, options.total_timeout);
    }
    PreflightReport {
        ok: run.checks.iter().all(|c| c.status == CheckStatus::Passed),
        checks: run.checks,
        changes: run.changes,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn run_checks(
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
                        "MongoDB at {hosts} refused the credentials of user `{}`: {e}.",
                        uri.shown_username().unwrap_or("(none)")
                    ),
                    REMEDY_AUTH,
                ),
                ErrorKind::InvalidConnectionString => (
                    "connection_string_invalid",
                    format!("The MongoDB driver refused the connection string for {hosts}: {e}."),
                    REMEDY_STRING,
                ),
                _ => (
                    "cluster_unreachable",
                    format!("Failed to connect to MongoDB at {hosts}: {e}."),
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
                format!("Failed to list database names: {e}."),
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
                format!("Failed to list collections in database {db}: {e}."),
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
                format!("Collection {name} must be configured with changeStreamPreAndPostImages enabled, and autoConfigure could not enable them: {e}."),
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
                    format!("Collection {name} cannot be created in database {db}: {e}."),
                    remedy,
                    t,
                );
                return;
            }
        }
    }
    run.pass("metadata_collections", None, format!("Metadata collections {SESSIONS_COLLECTION} and {UNSYNCED_DOCUMENTS_COLLECTION} exist in database {db}."), t);
}

/// The first server the client discovered beyond the connection string's own hosts that the
/// policy refuses (or that does not resolve), with why.
async fn refused_member(
    connector: &dyn MongoConnector,
    port: &dyn MongoPort,
    uri: &MongoUri,
    options: &PreflightOptions,
) -> Option<(String, String)> {
    if options.policy == TargetPolicy::AllowPrivate {
        return None;
    }
    let seeds: Vec<String> = uri.hosts().iter().map(|h| normalize_host(h)).collect();
    for server in port.servers() {
        let server = normalize_host(&server);
        if seeds.contains(&server) {
            continue;
        }
        let Ok(member) = MongoUri::parse(&format!("mongodb://{server}/")) else {
            // Not expected after normalizing; refusing is the safe answer.
            return Some((server, "an address that cannot be checked".to_owned()));
        };
        match bounded(options.step_timeout, "DNS", connector.resolve(&member)).await {
            Ok(addresses) => {
                for ip in addresses {
                    if let Err(why) = options.policy.check(ip) {
                        return Some((server, format!("which resolves to {ip}, {why}")));
                    }
                }
            }
            Err(_) => return Some((server, "an address that does not resolve".to_owned())),
        }
    }
    None
}

/// `host:port` in one spelling: lowercase, the default port written out, IPv6 in brackets.
fn normalize_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some(_) => host,
            None => format!("[{}]:27017", rest.trim_end_matches(']')),
        };
    }
    match host.matches(':').count() {
        0 => format!("{host}:27017"),
        1 => host,
        // A bare IPv6 address, perhaps with a port after its last colon: the driver prints
        // members this way. Eight groups means there is no port.
        _ => match host.rsplit_once(':') {
            Some((addr, port)) if addr.parse::<IpAddr>().is_ok() && port.parse::<u16>().is_ok() => {
                format!("[{addr}]:{port}")
            }
            _ => format!("[{host}]:27017"),
        },
    }
}

/// A permission failure gets `code` and the privileges remedy; anything else is unexpected.
fn denied_or_unknown(error: &PortError, code: &'static str) -> (&'static str, &'static str) {
    match error.kind {
        ErrorKind::Unauthorized => (code, REMEDY_PRIVILEGES),
        ErrorKind::Network | ErrorKind::Timeout | ErrorKind::NotPrimary => {
            ("cluster_unreachable", REMEDY_REACH)
        }
        _ => ("unexpected_error", REMEDY_UNKNOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn hosts_compare_in_one_spelling() {
        assert_eq!(
            normalize_host("Cluster0.Example.com"),
            "cluster0.example.com:27017"
        );
        assert_eq!(
            normalize_host("db.example.com:27018"),
            "db.example.com:27018"
        );
        assert_eq!(normalize_host("[2600:1f18::5]"), "[2600:1f18::5]:27017");
        assert_eq!(
            normalize_host("[2600:1f18::5]:27019"),
            "[2600:1f18::5]:27019"
        );
        assert_eq!(normalize_host("2600:1f18::5:27017"), "[2600:1f18::5]:27017");
        assert_eq!(normalize_host("10.0.0.5:27017"), "10.0.0.5:27017");
    }
}
