//! The MongoDB port on the official `mongodb` driver: what ships.
//!
//! Everything here is a thin translation between the driver's API and [`crate::port`]: requests
//! go out as the driver's builders, answers come back as the port's types, and every driver error
//! goes through [`classify`] so the engine can decide between retrying, stopping and setting one
//! document aside.
//!
//! Connection strings carry passwords: nothing in this module puts the string (or any part of it
//! beyond host names) into an error message or a log line.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bson::{Bson, Document, RawDocumentBuf, doc};
use edgebridge_domain::connection_string::{MongoUri, Scheme};
use futures_util::TryStreamExt;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{GOOGLE, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use mongodb::change_stream::ChangeStream as DriverChangeStream;
use mongodb::change_stream::event::{
    ChangeStreamEvent, OperationType as DriverOperationType, ResumeToken as DriverResumeToken,
};
use mongodb::error::{
    BulkWriteError, Error as DriverError, ErrorKind as DriverErrorKind, InsertManyError,
    RETRYABLE_WRITE_ERROR, SYSTEM_OVERLOADED_ERROR, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
};
use mongodb::event::EventHandler;
use mongodb::event::sdam::SdamEvent;
use mongodb::options::ServerAddress;
use mongodb::options::{
    ClientOptions, FullDocumentBeforeChangeType, FullDocumentType, Hint, ReadConcern, WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, Database};

use crate::error::{ErrorClass, ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{
    ChangeEvent, ChangeStream, CollectionInfo, CollectionKind, CommitOutcome, ConnectOptions,
    MongoConnector, MongoPort, OperationType, PortResult, Privilege, Resource, ResumeToken,
    SessionId, StreamStart, TxnError, WriteOp, WriteSession,
};
use crate::reach::{self, Reachability};

/// MongoDB's port when a connection string names none.
const DEFAULT_PORT: u16 = 27017;

/// NamespaceExists: `create` on a collection that is already there.
const NAMESPACE_EXISTS: i32 = 48;

/// How many times a commit whose outcome is unknown (`UnknownTransactionCommitResult`) is sent
/// again before giving up. The driver already retries once on its own; commit is idempotent.
const COMMIT_RETRIES: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Connector
// ---------------------------------------------------------------------------------------------

/// Opens driver clients. Stateless: each call resolves or connects from scratch.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverConnector;

#[async_trait]
impl MongoConnector for DriverConnector {
    async fn resolve(&self, uri: &MongoUri) -> PortResult<Vec<IpAddr>> {
        let groups = match uri.scheme() {
            Scheme::Standard => {
                futures_util::future::try_join_all(uri.hosts().iter().map(|h| resolve_host(h)))
                    .await?
            }
            Scheme::Srv => {
                let seed = uri.hosts().first().ok_or_else(|| {
                    PortError::new(
                        ErrorKind::InvalidConnectionString,
                        "a mongodb+srv:// connection string must name one DNS name",
                    )
                })?;
                vec![resolve_srv(seed).await?]
            }
        };
        Ok(dedup(groups.into_iter().flatten()))
    }

    async fn connect(
        &self,
        uri: &MongoUri,
        options: &ConnectOptions,
    ) -> PortResult<Arc<dyn MongoPort>> {
        options
            .policy
            .check_options(uri.options())
            .map_err(|why| PortError::new(ErrorKind::Unsupported, why))?;
        let mut client_options = ClientOptions::parse(uri.expose())
            .await
            .map_err(parse_error)?;
        // Ours win over the string's: the bounds are what keeps a tenant's unreachable cluster
        // from holding a preflight or a connector start for the driver's default 30 seconds.
        client_options.connect_timeout = Some(options.connect_timeout);
        client_options.server_selection_timeout = Some(options.server_selection_timeout);
        client_options.app_name = Some(options.app_name.clone());
        let guard = Arc::new(Guard::new(options.policy, uri)?);
        let watcher = guard.clone();
        client_options.sdam_event_handler = Some(EventHandler::callback(move |event| {
            match event {
                SdamEvent::ServerOpening(opening) => watcher.opened(&opening.address),
                // Kept to say why, should server selection time out.
                SdamEvent::ServerHeartbeatFailed(failed) => {
                    watcher.check_failed(&failed.server_address, &failed.failure)
                }
                SdamEvent::ServerHeartbeatSucceeded(answered) => {
                    watcher.check_answered(&answered.server_address)
                }
                _ => {}
            }
        }));
        let client = Client::with_options(client_options).map_err(classify)?;
        Ok(Arc::new(DriverPort::with_guard(client, guard)))
    }
}

/// A parse failure of the connection string. The driver's own message can quote option values
/// (some of them secret), so the invalid-argument case gets a fixed message instead.
fn parse_error(err: DriverError) -> PortError {
    match err.kind.as_ref() {
        DriverErrorKind::InvalidArgument { .. } => PortError::new(
            ErrorKind::InvalidConnectionString,
            "the MongoDB driver does not accept this connection string",
        ),
        // SRV and TXT lookups happen while parsing `mongodb+srv://` strings.
        _ => classify(err),
    }
}

fn network(message: String) -> PortError {
    PortError::new(ErrorKind::Network, message)
}

/// Removes repeated addresses, keeping the first occurrence's position.
fn dedup(ips: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for ip in ips {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// A `host[:port]` entry of a `mongodb://` host list, split into name (brackets removed from IPv6
/// literals) and port. Unix socket paths are refused: they reach the local machine and have no
/// address the outbound policy could check.
fn split_host(host: &str) -> PortResult<(&str, u16)> {
    if host.ends_with(".sock") || host.contains('/') || host.to_ascii_lowercase().contains("%2f") {
        return Err(PortError::new(
            ErrorKind::Unsupported,
            "Unix domain socket hosts are not supported",
        ));
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']').ok_or_else(|| {
                PortError::new(
                    ErrorKind::InvalidConnectionString,
                    format!("the host {host} is missing its closing ']'"),
                )
            })?;
            (addr, after.strip_prefix(':'))
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port.parse().map_err(|_| {
            PortError::new(
                ErrorKind::InvalidConnectionString,
                format!("the host {host} has an invalid port"),
            )
        })?,
    };
    Ok((name, port))
}

/// The addresses of one `mongodb://` host: IP literals as they are, names through the system
/// resolver (the same one the driver uses when it connects).
async fn resolve_host(host: &str) -> PortResult<Vec<IpAddr>> {
    let (name, port) = split_host(host)?;
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| network(format!("could not resolve the host {name}: {e}")))?;
    let ips = dedup(addrs.map(|addr| addr.ip()));
    if ips.is_empty() {
        return Err(network(format!("the host {name} resolved to no addresses")));
    }
    Ok(ips)
}

/// A DNS resolver with the system's configuration, or public resolvers when the system's cannot
/// be read (a container without `/etc/resolv.conf`).
fn dns_resolver() -> PortResult<TokioResolver> {
    let builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the system DNS configuration; using public resolvers");
        TokioResolver::builder_with_config(
            ResolverConfig::udp_and_tcp(&GOOGLE),
            TokioRuntimeProvider::default(),
        )
    });
    builder
        .build()
        .map_err(|e| network(format!("cannot set up a DNS resolver: {e}")))
}

/// The addresses behind a `mongodb+srv://` seed name: its `_mongodb._tcp` SRV targets, each
/// resolved to A/AAAA records.
async fn resolve_srv(seed: &str) -> PortResult<Vec<IpAddr>> {
    let resolver = dns_resolver()?;
    let query = format!("_mongodb._tcp.{seed}");
    let lookup = resolver.srv_lookup(query.as_str()).await.map_err(|e| {
        network(format!(
            "the SRV lookup of {query} failed: {}",
            srv_cause(&e)
        ))
    })?;
    let targets: Vec<Name> = lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.target.clone()),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return Err(network(format!("{query} has no SRV records")));
    }
    let mut ips = Vec::new();
    for target in targets {
        let found = resolver.lookup_ip(target.clone()).await.map_err(|e| {
            network(format!(
                "could not resolve the SRV target {target}: {}",
                srv_cause(&e)
            ))
        })?;
        ips.extend(found.iter());
    }
    if ips.is_empty() {
        return Err(network(format!(
            "the SRV targets of {query} resolved to no addresses"
        )));
    }
    Ok(dedup(ips))
}

/// A resolver failure in a few words (its text quotes whole queries and records).
fn srv_cause(e: &hickory_resolver::net::NetError) -> String {
    tracing::debug!(error = %e, "DNS lookup failed");
    if e.is_nx_domain() {
        "the name does not exist".to_owned()
    } else if e.is_no_records_found() {
        "no such DNS record".to_owned()
    } else {
        reach::dns_cause(&e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Port
// ---------------------------------------------------------------------------------------------

/// One connected deployment: a driver [`Client`] (cheap to clone, shares its pools).
#[derive(Debug, Clone)]
pub struct DriverPort {
    client: Client,
    txn_numbers: Arc<TxnNumbers>,
    guard: Arc<Guard>,
}

/// The outbound policy for the servers the driver finds by itself: the members a replica set
/// names in `hello` (and SRV targets). The driver offers no hook to veto a server before it
/// connects, so a refused member is recorded the moment its monitor opens and every later
/// operation on this client fails with `TargetNotAllowed`. Network-level egress rules remain
/// the way to stop the monitor's own connection attempt.
#[derive(Debug)]
struct Guard {
    policy: TargetPolicy,
    /// The connection string's hosts, normalized (`host`, port): not re-checked.
    seeds: Vec<(String, u16)>,
    discovered: Mutex<Vec<String>>,
    refused: Mutex<Option<String>>,
    /// Why servers did not answer their checks.
    reach: Reachability,
}

impl Guard {
    fn new(policy: TargetPolicy, uri: &MongoUri) -> PortResult<Self> {
        let seeds = match uri.scheme() {
            Scheme::Standard => uri
                .hosts()
                .iter()
                .map(|h| split_host(h).map(|(name, port)| (name.to_ascii_lowercase(), port)))
                .collect::<PortResult<_>>()?,
            // SRV targets are other names: they are checked like any discovered server.
            Scheme::Srv => Vec::new(),
        };
        Ok(Guard {
            policy,
            seeds,
            discovered: Mutex::new(Vec::new()),
            refused: Mutex::new(None),
            reach: Reachability::default(),
        })
    }

    fn refuse(&self, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_none() {
            tracing::warn!(reason = %why, "a MongoDB cluster advertised a server the outbound policy refuses");
            *refused = Some(why);
        }
    }

    /// The driver opened a monitor for `address`.
    fn opened(self: &Arc<Self>, address: &ServerAddress) {
        let Some((name, port, shown)) = tcp_address(address) else {
            self.refuse("the cluster advertises a Unix domain socket member".to_owned());
            return;
        };
        {
            let mut seen = self
                .discovered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !seen.contains(&shown) {
                seen.push(shown.clone());
            }
        }
        if self.policy == TargetPolicy::AllowPrivate || self.seeds.contains(&(name.clone(), port)) {
            return;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            if let Err(why) = self.policy.check(ip) {
                self.refuse(format!("the cluster advertises the member {shown}, {why}"));
            }
            return;
        }
        // A name: resolve it off the driver's event path.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refuse(format!(
                "the cluster advertises the member {shown}, which could not be checked"
            ));
            return;
        };
        let guard = self.clone();
        runtime.spawn(async move {
            match tokio::net::lookup_host((name.as_str(), port)).await {
                Ok(addrs) => {
                    for addr in addrs {
                        if let Err(why) = guard.policy.check(addr.ip()) {
                            guard.refuse(format!(
                                "the cluster advertises the member {shown}, which resolves to {}, {why}",
                                addr.ip()
                            ));
                            return;
                        }
                    }
                }
                Err(_) => guard.refuse(format!(
                    "the cluster advertises the member {shown}, which does not resolve"
                )),
            }
        });
    }

    /// A server's check failed (it could not be reached, or did not answer in time).
    fn check_failed(&self, address: &ServerAddress, failure: &DriverError) {
        if let Some((name, port, shown)) = tcp_address(address) {
            let seed = self.seeds.contains(&(name, port));
            self.reach.failed(shown, seed, failure);
        }
    }

    fn check_answered(&self, address: &ServerAddress) {
        if let Some((_, _, shown)) = tcp_address(address) {
            self.reach.answered(&shown);
        }
    }

    /// [`classify`], with what the server checks saw when no server could be selected: "the
    /// cluster could not be reached" says nothing; "connection refused at host:port" does.
    fn classify(&self, err: DriverError) -> PortError {
        let selection = matches!(err.kind.as_ref(), DriverErrorKind::ServerSelection { .. });
        let mut error = classify(err);
        if selection && let Some(why) = self.reach.explain() {
            error.message = why;
        }
        error
    }

    fn check(&self) -> PortResult<()> {
        match &*self.refused.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(why) => Err(PortError::new(ErrorKind::TargetNotAllowed, why.clone())),
            None => Ok(()),
        }
    }
}

/// `(name, port, "name:port")` of a TCP server address: the name lowercase without IPv6
/// brackets, the default port written out, IPv6 shown in brackets. `None` for a Unix socket.
fn tcp_address(address: &ServerAddress) -> Option<(String, u16, String)> {
    let ServerAddress::Tcp { host, port } = address else {
        return None;
    };
    let port = port.unwrap_or(DEFAULT_PORT);
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let shown = if name.contains(':') {
        format!("[{name}]:{port}")
    } else {
        format!("{name}:{port}")
    };
    Some((name, port, shown))
}

impl DriverPort {
    pub fn new(client: Client) -> Self {
        let guard = Guard {
            policy: TargetPolicy::AllowPrivate,
            seeds: Vec::new(),
            discovered: Mutex::new(Vec::new()),
            refused: Mutex::new(None),
            reach: Reachability::default(),
        };
        Self::with_guard(client, Arc::new(guard))
    }

    fn with_guard(client: Client, guard: Arc<Guard>) -> Self {
        DriverPort {
            client,
            txn_numbers: Arc::default(),
            guard,
        }
    }

    fn collection(&self, db: &str, collection: &str) -> Collection<Document> {
        self.client.database(db).collection(collection)
    }
}

#[async_trait]
impl MongoPort for DriverPort {
    fn servers(&self) -> Vec<String> {
        self.guard
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn ping(&self) -> PortResult<()> {
        self.guard.check()?;
        self.client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(())
    }

    async fn list_database_names(&self) -> PortResult<Vec<String>> {
        self.guard.check()?;
        // `authorizedDatabases` lets a user without the cluster-wide `listDatabases` action
        // (a plain readWrite user) see the databases it has privileges on.
        self.client
            .list_database_names()
            .authorized_databases(true)
            .await
            .map_err(|e| self.guard.classify(e))
    }

    async fn list_collections(&self, db: &str) -> PortResult<Vec<CollectionInfo>> {
        self.guard.check()?;
        // Read as plain documents rather than the driver's `CollectionSpecification`: that struct
        // fails to deserialize on options it does not model, and we need only four fields.
        let docs: Vec<Document> = self
            .client
            .database(db)
            .list_collections()
            .await
            .map_err(|e| self.guard.classify(e))?
            .with_type::<Document>()
            .try_collect()
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(docs.iter().filter_map(parse_collection_info).collect())
    }

    async fn privileges(&self) -> PortResult<Vec<Privilege>> {
        self.guard.check()?;
        let reply = self
            .client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1, "showPrivileges": true })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(parse_privileges(&reply))
    }

    async fn create_collection(&self, db: &str, name: &str) -> PortResult<bool> {
        self.guard.check()?;
        match self.client.database(db).create_collection(name).await {
            Ok(()) => Ok(true),
            Err(err) if command_code(&err) == Some(NAMESPACE_EXISTS) => Ok(false),
            Err(err) => Err(self.guard.classify(err)),
        }
    }

    async fn enable_pre_and_post_images(&self, db: &str, collection: &str) -> PortResult<()> {
        self.guard.check()?;
        self.client
            .database(db)
            .run_command(doc! {
                "collMod": collection,
                "changeStreamPreAndPostImages": { "enabled": true },
            })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(())
    }

    /// `{_id: {$gt: after}}` would only match `_id`s of `after`'s BSON type (type bracketing),
    /// so the scan walks the `_id` index instead: `min` is an inclusive index bound in MongoDB's
    /// cross-type order, and the one document equal to `after` is dropped afterwards.
    async fn scan(
        &self,
        db: &str,
        collection: &str,
        after: Option<&Bson>,
        batch_size: u32,
    ) -> PortResult<Vec<Document>> {
        self.guard.check()?;
        if batch_size == 0 {
            // `limit: 0` means "no limit" to the server.
            return Ok(Vec::new());
        }
        let fetch = match after {
            Some(_) => batch_size.saturating_add(1),
            None => batch_size,
        };
        let coll = self.collection(db, collection);
        let mut find = coll
            .find(Document::new())
            .sort(doc! { "_id": 1 })
            .hint(Hint::Keys(doc! { "_id": 1 }))
            .batch_size(fetch)
            .limit(i64::from(fetch));
        if let Some(after) = after {
            find = find.min(doc! { "_id": after.clone() });
        }
        let docs: Vec<Document> = find
            .await
            .map_err(|e| self.guard.classify(e))?
            .try_collect()
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(trim_scan_batch(docs, after, batch_size))
    }

    async fn estimated_count(&self, db: &str, collection: &str) -> PortResult<u64> {
        self.guard.check()?;
        self.collection(db, collection)
            .estimated_document_count()
            .await
            .map_err(|e| self.guard.classify(e))
    }

    async fn watch(
        &self,
        db: &str,
        collection: &str,
        start: StreamStart,
    ) -> PortResult<Box<dyn ChangeStream>> {
        self.guard.check()?;
        let coll = self.collection(db, collection);
        let watch = coll
            .watch()
            .full_document(FullDocumentType::Required)
            .full_document_before_change(FullDocumentBeforeChangeType::Required);
        let watch = match start {
            StreamStart::Now => watch,
            StreamStart::After(token) => watch.start_after(to_driver_token(&token)?),
            StreamStart::AtOperationTime(ts) => watch.start_at_operation_time(ts),
        };
        let stream = watch.await.map_err(|e| self.guard.classify(e))?;
        Ok(Box::new(DriverStream {
            inner: stream,
            guard: self.guard.clone(),
        }))
    }

    async fn start_session(&self) -> PortResult<Box<dyn WriteSession>> {
        self.guard.check()?;
        let session = self
            .client
            .start_session()
            .await
            .map_err(|e| self.guard.classify(e))?;
        let id = SessionId::from_lsid(session.id()).ok_or_else(|| {
            PortError::new(ErrorKind::Other, "the driver's session id has no UUID")
        })?;
        let txn_number = self.txn_numbers.last(&id);
        Ok(Box::new(DriverSession {
            guard: self.guard.clone(),
            session,
            client: self.client.clone(),
            id,
            txn_number,
            txn_numbers: Arc::clone(&self.txn_numbers),
            in_transaction: false,
        }))
    }
}

/// The server's code of a command error (`ok: 0` reply).
fn command_code(err: &DriverError) -> Option<i32> {
    match err.kind.as_ref() {
        DriverErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// One `listCollections` entry. `None` for entries of a type this port does not know.
fn parse_collection_info(doc: &Document) -> Option<CollectionInfo> {
    let name = doc.get_str("name").ok()?.to_owned();
    let kind = match doc.get("type") {
        // Servers before 3.4 did not send a type; everything was a collection.
        None => CollectionKind::Collection,
        Some(Bson::String(kind)) => match kind.as_str() {
            "collection" => CollectionKind::Collection,
            "view" => CollectionKind::View,
            "timeseries" => CollectionKind::Timeseries,
            _ => return None,
        },
        Some(_) => return None,
    };
    let options = doc.get_document("options").ok();
    let option = |key: &str| options.and_then(|o| o.get(key));
    let capped = matches!(option("capped"), Some(Bson::Boolean(true)));
    let pre_and_post_images = matches!(
        option("changeStreamPreAndPostImages"),
        Some(Bson::Document(images)) if matches!(images.get("enabled"), Some(Bson::Boolean(true)))
    );
    // `collMod` with `validator: {}` is how validation is switched off: an empty validator
    // validates nothing.
    let validator = match option("validator") {
        Some(Bson::Document(validator)) if !validator.is_empty() => Some(validator.clone()),
        _ => None,
    };
    Some(CollectionInfo {
        name,
        kind,
        capped,
        pre_and_post_images,
        validator,
    })
}

/// `authInfo.authenticatedUserPrivileges` of a `connectionStatus` reply. Entries on resources
/// this port does not model (such as `system_buckets`) are left out: they grant nothing the
/// checks ask about.
fn parse_privileges(reply: &Document) -> Vec<Privilege> {
    let Ok(list) = reply
        .get_document("authInfo")
        .and_then(|info| info.get_array("authenticatedUserPrivileges"))
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| match entry {
            Bson::Document(entry) => parse_privilege(entry),
            _ => None,
        })
        .collect()
}

fn parse_privilege(entry: &Document) -> Option<Privilege> {
    let resource = parse_resource(entry.get_document("resource").ok()?)?;
    let actions: BTreeSet<String> = entry
        .get_array("actions")
        .ok()?
        .iter()
        .filter_map(Bson::as_str)
        .map(str::to_owned)
        .collect();
    Some(Privilege { resource, actions })
}

fn parse_resource(resource: &Document) -> Option<Resource> {
    if matches!(resource.get("anyResource"), Some(Bson::Boolean(true))) {
        return Some(Resource::AnyResource);
    }
    if matches!(resource.get("cluster"), Some(Bson::Boolean(true))) {
        return Some(Resource::Cluster);
    }
    let db = resource.get_str("db").ok()?;
    let collection = resource.get_str("collection").ok()?;
    Some(Resource::Namespace {
        db: db.to_owned(),
        collection: collection.to_owned(),
    })
}

/// Drops the document equal to `after` (the inclusive `min` bound) and anything past
/// `batch_size`.
fn trim_scan_batch(
    mut docs: Vec<Document>,
    after: Option<&Bson>,
    batch_size: u32,
) -> Vec<Document> {
    if let Some(after) = after {
        let first_is_after = docs
            .first()
            .and_then(|doc| doc.get("_id"))
            .is_some_and(|id| same_id(id, after));
        if first_is_after {
            docs.remove(0);
        }
    }
    docs.truncate(usize::try_from(batch_size).unwrap_or(usize::MAX));
    docs
}

/// Whether two `_id`s are equal the way the `_id` index sees them: numbers compare by value
/// across types (`1`, `1L` and `1.0` are one key) and NaN equals NaN.
fn same_id(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Bson::Double(d), other) | (other, Bson::Double(d)) => {
            integer(other).is_some_and(|i| integer_equals_double(i, *d))
        }
        _ => match (integer(a), integer(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    }
}

/// Exact comparison: converting the integer to `f64` would round above 2^53.
fn integer_equals_double(i: i64, d: f64) -> bool {
    // 2^63 is exactly representable; every integral double in [-2^63, 2^63) fits in an i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    d.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&d) && d as i64 == i
}

// ---------------------------------------------------------------------------------------------
// Resume tokens
// ---------------------------------------------------------------------------------------------

/// The driver's token as a document. The driver's `ResumeToken` has no accessor, only serde;
/// serializing it through the raw (binary) serializer copies its bytes as they are, so the token
/// keeps every BSON type exactly.
fn from_driver_token(token: &DriverResumeToken) -> PortResult<ResumeToken> {
    let raw = bson::serialize_to_raw_document_buf(token).map_err(token_error)?;
    let doc = Document::try_from(raw).map_err(token_error)?;
    Ok(ResumeToken(doc))
}

/// Our token as the driver's, through the same raw path as the driver itself reads `_id`.
fn to_driver_token(token: &ResumeToken) -> PortResult<DriverResumeToken> {
    let raw = RawDocumentBuf::try_from(&token.0).map_err(token_error)?;
    bson::deserialize_from_slice(raw.as_bytes()).map_err(token_error)
}

fn token_error(err: bson::error::Error) -> PortError {
    PortError::new(
        ErrorKind::Other,
        format!("cannot convert a change stream resume token: {err}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Change streams
// ---------------------------------------------------------------------------------------------

/// A collection change stream on the driver's stream. Iterated only through `next_if_any`, never
/// as a `futures::Stream`: the driver's `resume_token` and `is_alive` panic while a `Stream`
/// poll is in flight, and `next_if_any` never leaves one behind.
struct DriverStream {
    inner: DriverChangeStream<ChangeStreamEvent<Document>>,
    guard: Arc<Guard>,
}

#[async_trait]
impl ChangeStream for DriverStream {
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>> {
        self.guard.check()?;
        match self
            .inner
            .next_if_any()
            .await
            .map_err(|e| self.guard.classify(e))?
        {
            Some(event) => convert_event(event).map(Some),
            // An empty batch: the stream's token has moved to the postBatchResumeToken.
            None if self.inner.is_alive() => Ok(None),
            // The server closed the cursor (after an invalidate event): without this the caller
            // would spin on empty answers forever.
            None => Err(PortError::new(
                ErrorKind::Other,
                "the server closed the change stream",
            )),
        }
    }

    fn resume_token(&self) -> Option<ResumeToken> {
        let token = self.inner.resume_token()?;
        match from_driver_token(&token) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err, "the change stream's resume token is not a document");
                None
            }
        }
    }
}

fn convert_event(event: ChangeStreamEvent<Document>) -> PortResult<ChangeEvent> {
    let token = from_driver_token(&event.id)?;
    let cluster_time = event.cluster_time.ok_or_else(|| {
        PortError::new(
            ErrorKind::Other,
            "a change event arrived without a clusterTime",
        )
    })?;
    Ok(ChangeEvent {
        token,
        cluster_time,
        operation: operation_type(&event.operation_type),
        collection: event.ns.and_then(|ns| ns.coll).unwrap_or_default(),
        document_key: event.document_key,
        full_document: event.full_document,
        full_document_before_change: event.full_document_before_change,
        lsid: event.lsid.as_ref().and_then(SessionId::from_lsid),
        txn_number: event.txn_number,
    })
}

fn operation_type(op: &DriverOperationType) -> OperationType {
    match op {
        DriverOperationType::Insert => OperationType::Insert,
        DriverOperationType::Update => OperationType::Update,
        DriverOperationType::Replace => OperationType::Replace,
        DriverOperationType::Delete => OperationType::Delete,
        DriverOperationType::Drop => OperationType::Drop,
        DriverOperationType::Rename => OperationType::Rename,
        DriverOperationType::DropDatabase => OperationType::DropDatabase,
        DriverOperationType::Invalidate => OperationType::Invalidate,
        DriverOperationType::Other(name) => OperationType::Other(name.clone()),
        // Variants a later driver adds: its serde name is the server's `operationType`.
        other => OperationType::Other(match bson::serialize_to_bson(other) {
            Ok(Bson::String(name)) => name,
            _ => format!("{other:?}"),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Write sessions
// ---------------------------------------------------------------------------------------------

/// The last transaction number used on each server session of one client.
///
/// The driver keeps `txnNumber` private, and it pools server sessions: a new `ClientSession` can
/// get a server session (same lsid) whose number an earlier `ClientSession` already advanced.
/// The number only moves when a transaction starts (this adapter never runs retryable writes,
/// which would also advance it), so recording it at every `start_transaction` and reading it back
/// when a session is handed out again keeps our count equal to the server's. Entries of server
/// sessions the pool has discarded stay behind; there are as many as sessions were ever created,
/// a few dozen bytes each.
#[derive(Debug, Default)]
struct TxnNumbers(Mutex<HashMap<SessionId, i64>>);

impl TxnNumbers {
    fn last(&self, id: &SessionId) -> i64 {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(id).copied().unwrap_or(0)
    }

    fn record(&self, id: &SessionId, txn_number: i64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(id.clone(), txn_number);
    }
}

struct DriverSession {
    guard: Arc<Guard>,
    session: ClientSession,
    client: Client,
    id: SessionId,
    /// The number of the latest transaction started on this server session.
    txn_number: i64,
    txn_numbers: Arc<TxnNumbers>,
    /// A transaction was started and neither committed nor aborted yet: only true between calls
    /// when a `commit` future was dropped midway.
    in_transaction: bool,
}

impl DriverSession {
    /// Aborts a transaction a cancelled `commit` left open; starting another would fail.
    async fn abort_leftover(&mut self) {
        if self.in_transaction {
            self.abort().await;
        }
    }

    /// Best effort: the server aborts a transaction that failed on its own, and drops an
    /// abandoned one after `transactionLifetimeLimitSeconds`.
    async fn abort(&mut self) {
        if let Err(err) = self.session.abort_transaction().await {
            tracing::debug!(error = %classify(err), "abortTransaction failed");
        }
        self.in_transaction = false;
    }

    async fn start(&mut self) -> PortResult<()> {
        self.session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await
            .map_err(|e| self.guard.classify(e))?;
        self.in_transaction = true;
        self.txn_number += 1;
        self.txn_numbers.record(&self.id, self.txn_number);
        Ok(())
    }

    /// `commitTransaction`, sent again while the outcome is unknown (a network error or a
    /// write-concern timeout on the commit itself).
    async fn commit_with_retry(&mut self) -> PortResult<()> {
        let mut attempt = 0;
        let result = loop {
            match self.session.commit_transaction().await {
                Ok(()) => break Ok(()),
                Err(err)
                    if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && attempt < COMMIT_RETRIES =>
                {
                    attempt += 1;
                }
                Err(err) => {
                    let transient = err.contains_label(TRANSIENT_TRANSACTION_ERROR);
                    let unknown = err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT);
                    let mut error = classify(err);
                    if unknown {
                        error.kind = ErrorKind::CommitOutcomeUnknown;
                    } else if transient {
                        error.kind = ErrorKind::TransientTransaction;
                    }
                    break Err(error);
                }
            }
        };
        // After a commit attempt the session is no longer in a transaction, whatever the outcome.
        self.in_transaction = false;
        result
    }
}

#[async_trait]
impl WriteSession for DriverSession {
    fn id(&self) -> &SessionId {
        &self.id
    }

    async fn commit(&mut self, db: &str, ops: &[WriteOp]) -> Result<CommitOutcome, TxnError> {
        self.guard.check()?;
        self.abort_leftover().await;
        self.start().await?;
        let database = self.client.database(db);
        let mut outcome = CommitOutcome {
            txn_number: self.txn_number,
            matched: 0,
            upserted: 0,
            deleted: 0,
            inserted: 0,
        };
        for (index, op) in ops.iter().enumerate() {
            if let Err(err) = apply(&database, &mut self.session, op, &mut outcome).await {
                self.abort().await;
                let error = classify_op_error(err);
                // Only a per-document error is the operation's own fault; a write conflict or a
                // dropped connection would have failed whichever operation was running.
                let op_index = (error.class() == ErrorClass::Document).then_some(index);
                return Err(TxnError { op_index, error });
            }
        }
        self.commit_with_retry().await?;
        Ok(outcome)
    }
}

/// Runs one operation inside the session's transaction and counts its effect.
async fn apply(
    database: &Database,
    session: &mut ClientSession,
    op: &WriteOp,
    outcome: &mut CommitOutcome,
) -> mongodb::error::Result<()> {
    let coll = database.collection::<Document>(op.collection());
    match op {
        WriteOp::Upsert {
            filter,
            replacement,
            ..
        } => {
            let result = coll
                .replace_one(filter.clone(), replacement)
                .upsert(true)
                .session(&mut *session)
                .await?;
            outcome.matched += result.matched_count;
            if result.upserted_id.is_some() {
                outcome.upserted += 1;
            }
        }
        WriteOp::Update {
            filter,
            update,
            upsert,
            ..
        } => {
            let result = coll
                .update_one(filter.clone(), update.clone())
                .upsert(*upsert)
                .session(&mut *session)
                .await?;
            outcome.matched += result.matched_count;
            if result.upserted_id.is_some() {
                outcome.upserted += 1;
            }
        }
        WriteOp::Delete { filter, .. } => {
            let result = coll
                .delete_one(filter.clone())
                .session(&mut *session)
                .await?;
            outcome.deleted += result.deleted_count;
        }
        WriteOp::Insert { document, .. } => {
            coll.insert_one(document).session(&mut *session).await?;
            outcome.inserted += 1;
        }
    }
    Ok(())
}

/// Like [`classify`], except that a document the driver cannot encode (a key with a NUL byte)
/// is that document's fault.
fn classify_op_error(err: DriverError) -> PortError {
    match err.kind.as_ref() {
        // Refused by the driver before sending: this operation's input (a document over 16 MiB,
        // an empty update), not the connection.
        DriverErrorKind::InvalidArgument { message, .. } => {
            let kind = if message.contains("within") || message.contains("size") {
                ErrorKind::DocumentTooLarge
            } else {
                ErrorKind::InvalidDocument
            };
            PortError::new(kind, message.clone())
        }
        DriverErrorKind::Bson(e) => PortError::new(
            ErrorKind::InvalidDocument,
            format!("the document cannot be encoded as BSON: {e}"),
        ),
        _ => classify(err),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A driver error as a port error: the server's code when the server answered, the driver's
/// error kind otherwise, then the server's error labels where the code alone says "permanent".
///
/// Messages are the server's `errmsg` or the driver's description of the failure; neither holds
/// the connection string.
pub fn classify(err: DriverError) -> PortError {
    let error = match err.kind.as_ref() {
        DriverErrorKind::Authentication { message, .. } => {
            PortError::new(ErrorKind::Authentication, message.clone())
        }
        DriverErrorKind::Command(e) => PortError::server(e.code, e.message.clone()),
        DriverErrorKind::Write(WriteFailure::WriteError(e)) => {
            PortError::server(e.code, e.message.clone())
        }
        DriverErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
            PortError::server(e.code, e.message.clone())
        }
        DriverErrorKind::InsertMany(e) => insert_many_error(e),
        DriverErrorKind::BulkWrite(e) => bulk_write_error(e),
        // The driver's text lists every server it knows, including members the cluster itself
        // advertises; a tenant must not learn from it which internal addresses answer.
        DriverErrorKind::ServerSelection { .. } => {
            tracing::debug!(error = %err, "server selection failed");
            PortError::new(
                ErrorKind::Network,
                "no server of the cluster could be selected within the server selection timeout",
            )
        }
        // Its text names the member and the cause (refused, timed out): the same leak.
        DriverErrorKind::ConnectionPoolCleared { .. } => {
            tracing::debug!(error = %err, "connection pool cleared");
            PortError::new(
                ErrorKind::Network,
                "the connection to a server of the cluster was lost",
            )
        }
        DriverErrorKind::Io(e) => PortError::new(ErrorKind::Network, reach::io_cause(e)),
        // Its text can be the resolver's dump of the query and the records it found.
        DriverErrorKind::DnsResolve { message, .. } => PortError::new(
            ErrorKind::Network,
            format!("the DNS lookup failed: {}", reach::dns_cause(message)),
        ),
        // A standalone server (no sessions, no transactions) or one too old for the request.
        kind @ (DriverErrorKind::SessionsNotSupported
        | DriverErrorKind::IncompatibleServer { .. }
        | DriverErrorKind::Transaction { .. }) => {
            PortError::new(ErrorKind::Unsupported, kind.to_string())
        }
        kind => PortError::new(ErrorKind::Other, kind.to_string()),
    };
    apply_labels(error, |label| err.contains_label(label))
}

/// Error labels decide what the code alone did not: a code we do not know (or know as
/// permanent) still means "retry" when the server labels it so.
fn apply_labels(mut error: PortError, has_label: impl Fn(&str) -> bool) -> PortError {
    if error.is_transient() {
        return error;
    }
    if has_label(TRANSIENT_TRANSACTION_ERROR) {
        error.kind = ErrorKind::TransientTransaction;
    } else if has_label(RETRYABLE_WRITE_ERROR) {
        error.kind = ErrorKind::NotPrimary;
    } else if has_label(SYSTEM_OVERLOADED_ERROR) {
        error.kind = ErrorKind::Throttled;
    }
    error
}

/// The first write error (by operation index), else the write-concern error.
fn insert_many_error(e: &InsertManyError) -> PortError {
    let first = e
        .write_errors
        .iter()
        .flatten()
        .min_by_key(|w| w.index)
        .map(|w| PortError::server(w.code, w.message.clone()));
    first
        .or_else(|| {
            e.write_concern_error
                .as_ref()
                .map(|w| PortError::server(w.code, w.message.clone()))
        })
        .unwrap_or_else(|| PortError::new(ErrorKind::Other, "insertMany failed"))
}

/// The first write error (by operation index), else the first write-concern error.
fn bulk_write_error(e: &BulkWriteError) -> PortError {
    let first = e
        .write_errors
        .iter()
        .min_by_key(|(index, _)| **index)
        .map(|(_, w)| PortError::server(w.code, w.message.clone()));
    first
        .or_else(|| {
            e.write_concern_errors
                .first()
                .map(|w| PortError::server(w.code, w.message.clone()))
        })
        .unwrap_or_else(|| PortError::new(ErrorKind::Other, "bulkWrite failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(seeds: &str) -> Arc<Guard> {
        let uri = MongoUri::parse(seeds).expect("a connection string");
        Arc::new(Guard::new(TargetPolicy::PublicOnly, &uri).expect("seeds parse"))
    }

    fn tcp(host: &str, port: u16) -> ServerAddress {
        ServerAddress::Tcp {
            host: host.to_owned(),
            port: Some(port),
        }
    }

    #[test]
    fn a_member_at_a_refused_address_stops_every_operation() {
        let g = guard("mongodb://8.8.8.8:27017,db.example.com/");
        g.opened(&tcp("8.8.8.8", 27017));
        g.opened(&tcp("DB.example.com", 27017));
        g.opened(&tcp("52.1.2.3", 27017));
        assert!(g.check().is_ok());
        g.opened(&tcp("169.254.169.254", 80));
        let err = g.check().expect_err("refused");
        assert_eq!(err.kind, ErrorKind::TargetNotAllowed);
        assert!(err.message.contains("169.254.169.254:80"), "{err}");
        let ipv6 = guard("mongodb://8.8.8.8/");
        ipv6.opened(&tcp("fd00:ec2::254", 27017));
        assert!(
            ipv6.check()
                .unwrap_err()
                .message
                .contains("[fd00:ec2::254]:27017")
        );
    }

    #[tokio::test]
    async fn a_member_name_is_resolved_and_checked() {
        let g = guard("mongodb://8.8.8.8/");
        g.opened(&tcp("localhost", 27017));
        // The lookup runs off the driver's event path; wait for its verdict.
        for _ in 0..200 {
            if g.check().is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(g.check().unwrap_err().kind, ErrorKind::TargetNotAllowed);
        let open = Arc::new(
            Guard::new(
                TargetPolicy::AllowPrivate,
                &MongoUri::parse("mongodb://h/").unwrap(),
            )
            .unwrap(),
        );
        open.opened(&tcp("127.0.0.1", 27017));
        assert!(open.check().is_ok());
    }
    use mongodb::error::{CommandError, WriteConcernError, WriteError};

    fn command_error(code: i32, message: &str) -> DriverError {
        let e: CommandError = bson::deserialize_from_document(doc! {
            "code": code, "codeName": "X", "errmsg": message,
        })
        .expect("command error");
        DriverError::from(DriverErrorKind::Command(e))
    }

    fn write_error(code: i32, message: &str) -> WriteError {
        bson::deserialize_from_document(doc! { "code": code, "errmsg": message })
            .expect("write error")
    }

    #[test]
    fn command_errors_are_classified_by_code() {
        let e = classify(command_error(112, "WriteConflict"));
        assert_eq!(e.kind, ErrorKind::TransientTransaction);
        assert_eq!(e.code, Some(112));
        assert_eq!(e.message, "WriteConflict");
        assert_eq!(
            classify(command_error(13, "no")).kind,
            ErrorKind::Unauthorized
        );
        assert_eq!(classify(command_error(99999, "?")).kind, ErrorKind::Other);
    }

    #[test]
    fn write_errors_are_classified_by_code() {
        let dup = DriverError::from(DriverErrorKind::Write(WriteFailure::WriteError(
            write_error(11000, "E11000 duplicate key"),
        )));
        let e = classify(dup);
        assert_eq!(e.kind, ErrorKind::DuplicateKey);
        assert_eq!(e.class(), ErrorClass::Document);
    }

    #[test]
    fn write_concern_error_labels_override_unknown_codes() {
        let wce: WriteConcernError = bson::deserialize_from_document(doc! {
            "code": 100, "codeName": "UnsatisfiableWriteConcern", "errmsg": "not enough data-bearing nodes",
            "errorLabels": ["RetryableWriteError"],
        })
        .expect("write concern error");
        let err = DriverError::from(DriverErrorKind::Write(WriteFailure::WriteConcernError(wce)));
        assert!(err.contains_label(RETRYABLE_WRITE_ERROR));
        let e = classify(err);
        assert_eq!(e.kind, ErrorKind::NotPrimary);
        assert_eq!(e.code, Some(100));
    }

    #[test]
    fn insert_many_and_bulk_write_use_the_first_write_error() {
        let im: InsertManyError = bson::deserialize_from_document(doc! {
            "writeErrors": [
                { "index": 3, "code": 11000, "errmsg": "dup" },
                { "index": 1, "code": 121, "errmsg": "Document failed validation" },
            ],
        })
        .expect("insert many error");
        let e = classify(DriverError::from(DriverErrorKind::InsertMany(im)));
        assert_eq!(e.kind, ErrorKind::SchemaValidation);

        let mut bw = BulkWriteError::default();
        bw.write_errors.insert(5, write_error(11000, "dup"));
        bw.write_errors.insert(2, write_error(10334, "too large"));
        let e = classify(DriverError::from(DriverErrorKind::BulkWrite(bw)));
        assert_eq!(e.kind, ErrorKind::DocumentTooLarge);
    }

    #[test]
    fn driver_side_errors_are_classified_by_kind() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let e = classify(DriverError::from(DriverErrorKind::Io(Arc::new(io))));
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.is_transient());
        assert_eq!(e.code, None);

        let e = classify(DriverError::from(DriverErrorKind::SessionsNotSupported));
        assert_eq!(e.kind, ErrorKind::Unsupported);
        let e = classify(DriverError::from(DriverErrorKind::Shutdown));
        assert_eq!(e.kind, ErrorKind::Other);
    }

    #[test]
    fn labels_apply_only_where_the_code_is_not_transient() {
        let transient = |l: &str| l == TRANSIENT_TRANSACTION_ERROR;
        let retryable = |l: &str| l == RETRYABLE_WRITE_ERROR;
        let overloaded = |l: &str| l == SYSTEM_OVERLOADED_ERROR;
        let none = |_: &str| false;

        let e = apply_labels(PortError::server(251, "NoSuchTransaction"), retryable);
        assert_eq!(e.kind, ErrorKind::TransientTransaction);
        let e = apply_labels(PortError::server(189, "stepdown"), transient);
        assert_eq!(e.kind, ErrorKind::NotPrimary);
        let e = apply_labels(PortError::server(99999, "?"), transient);
        assert_eq!(e.kind, ErrorKind::TransientTransaction);
        let e = apply_labels(PortError::server(99999, "?"), retryable);
        assert_eq!(e.kind, ErrorKind::NotPrimary);
        let e = apply_labels(PortError::server(99999, "?"), overloaded);
        assert_eq!(e.kind, ErrorKind::Throttled);
        let e = apply_labels(PortError::server(99999, "?"), none);
        assert_eq!(e.kind, ErrorKind::Other);
        assert_eq!(e.code, Some(99999));
    }

    #[test]
    fn unencodable_documents_are_the_documents_fault() {
        let bson_error = RawDocumentBuf::try_from(&doc! { "a\0b": 1 }).expect_err("NUL in key");
        let e = classify_op_error(DriverError::from(DriverErrorKind::Bson(bson_error)));
        assert_eq!(e.kind, ErrorKind::InvalidDocument);
        assert_eq!(e.class(), ErrorClass::Document);
        // Everything else is classified as usual.
        let e = classify_op_error(command_error(11000, "dup"));
        assert_eq!(e.kind, ErrorKind::DuplicateKey);
    }

    #[test]
    fn resume_tokens_round_trip_through_the_driver_type() {
        let ours = ResumeToken(doc! {
            "_data": "8263A1B2C3000000012B0229296E04",
            "extra": { "n": 1_i64, "b": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2, 3] } },
        });
        let driver = to_driver_token(&ours).expect("to driver");
        let back = from_driver_token(&driver).expect("from driver");
        assert_eq!(back, ours);
    }

    #[test]
    fn change_events_convert() {
        let lsid = doc! {
            "id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] },
            "uid": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 32] },
        };
        let raw = RawDocumentBuf::try_from(&doc! {
            "_id": { "_data": "82ABCDEF" },
            "operationType": "update",
            "clusterTime": bson::Timestamp { time: 10, increment: 2 },
            "ns": { "db": "shop", "coll": "orders" },
            "documentKey": { "_id": 5 },
            "fullDocument": { "_id": 5, "qty": 2 },
            "fullDocumentBeforeChange": { "_id": 5, "qty": 1 },
            "lsid": lsid,
            "txnNumber": 4_i64,
            "updateDescription": { "updatedFields": { "qty": 2 }, "removedFields": [] },
        })
        .expect("raw");
        let event: ChangeStreamEvent<Document> =
            bson::deserialize_from_slice(raw.as_bytes()).expect("event");
        let event = convert_event(event).expect("convert");
        assert_eq!(event.token, ResumeToken(doc! { "_data": "82ABCDEF" }));
        assert_eq!(event.operation, OperationType::Update);
        assert_eq!(event.collection, "orders");
        assert_eq!(
            event.cluster_time,
            bson::Timestamp {
                time: 10,
                increment: 2
            }
        );
        assert_eq!(event.document_key, Some(doc! { "_id": 5 }));
        assert_eq!(
            event.full_document_before_change,
            Some(doc! { "_id": 5, "qty": 1 })
        );
        assert_eq!(event.lsid, Some(SessionId(vec![7; 16])));
        assert_eq!(event.txn_number, Some(4));
    }

    #[test]
    fn scan_batches_drop_the_min_bound_and_extra_documents() {
        let docs = vec![doc! { "_id": 1 }, doc! { "_id": 2 }, doc! { "_id": 3 }];
        let out = trim_scan_batch(docs.clone(), Some(&Bson::Int32(1)), 2);
        assert_eq!(out, vec![doc! { "_id": 2 }, doc! { "_id": 3 }]);
        // `after` was deleted meanwhile: the first document is already past it.
        let out = trim_scan_batch(docs.clone(), Some(&Bson::Int32(0)), 2);
        assert_eq!(out, vec![doc! { "_id": 1 }, doc! { "_id": 2 }]);
        let out = trim_scan_batch(docs, None, 5);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn ids_compare_like_the_id_index() {
        assert!(same_id(&Bson::Int32(1), &Bson::Int64(1)));
        assert!(same_id(&Bson::Int64(1), &Bson::Double(1.0)));
        assert!(same_id(&Bson::Double(f64::NAN), &Bson::Double(f64::NAN)));
        assert!(!same_id(&Bson::Int64(1), &Bson::Double(1.5)));
        assert!(!same_id(
            &Bson::Int64((1 << 53) + 1),
            &Bson::Double(9_007_199_254_740_992.0)
        ));
        assert!(!same_id(&Bson::Int32(1), &Bson::String("1".into())));
        assert!(same_id(
            &Bson::String("a".into()),
            &Bson::String("a".into())
        ));
    }

    #[test]
    fn collection_infos_parse() {
        let info = parse_collection_info(&doc! {
            "name": "orders",
            "type": "collection",
            "options": {
                "capped": true,
                "changeStreamPreAndPostImages": { "enabled": true },
                "validator": { "$jsonSchema": { "required": ["sku"] } },
            },
            "info": { "readOnly": false },
        })
        .expect("info");
        assert_eq!(info.name, "orders");
        assert_eq!(info.kind, CollectionKind::Collection);
        assert!(info.capped);
        assert!(info.pre_and_post_images);
        assert!(info.validator.is_some());

        let view = parse_collection_info(&doc! { "name": "v", "type": "view", "options": {} })
            .expect("view");
        assert_eq!(view.kind, CollectionKind::View);
        assert!(!view.capped);
        assert!(!view.pre_and_post_images);
        assert!(view.validator.is_none());

        let off = parse_collection_info(&doc! {
            "name": "t", "type": "timeseries",
            "options": { "validator": {}, "changeStreamPreAndPostImages": { "enabled": false } },
        })
        .expect("timeseries");
        assert_eq!(off.kind, CollectionKind::Timeseries);
        assert!(!off.pre_and_post_images);
        assert!(off.validator.is_none());

        assert!(parse_collection_info(&doc! { "name": "x", "type": "somethingNew" }).is_none());
    }

    #[test]
    fn privileges_parse() {
        let reply = doc! {
            "authInfo": {
                "authenticatedUsers": [{ "user": "app", "db": "admin" }],
                "authenticatedUserPrivileges": [
                    { "resource": { "db": "shop", "collection": "" }, "actions": ["find", "insert"] },
                    { "resource": { "cluster": true }, "actions": ["listDatabases"] },
                    { "resource": { "anyResource": true }, "actions": ["anyAction"] },
                    { "resource": { "db": "shop", "system_buckets": "" }, "actions": ["find"] },
                ],
            },
            "ok": 1,
        };
        let privileges = parse_privileges(&reply);
        assert_eq!(privileges.len(), 3);
        assert_eq!(
            privileges[0],
            Privilege {
                resource: Resource::Namespace {
                    db: "shop".into(),
                    collection: String::new()
                },
                actions: ["find".to_owned(), "insert".to_owned()]
                    .into_iter()
                    .collect(),
            }
        );
        assert_eq!(privileges[1].resource, Resource::Cluster);
        assert_eq!(privileges[2].resource, Resource::AnyResource);
        assert!(parse_privileges(&doc! { "ok": 1 }).is_empty());
    }

    #[test]
    fn hosts_split() {
        assert_eq!(
            split_host("db.example.net").expect("plain"),
            ("db.example.net", 27017)
        );
        assert_eq!(split_host("db:27018").expect("port"), ("db", 27018));
        assert_eq!(split_host("[::1]").expect("v6"), ("::1", 27017));
        assert_eq!(split_host("[::1]:27019").expect("v6 port"), ("::1", 27019));
        assert_eq!(split_host("10.0.0.1:1").expect("v4"), ("10.0.0.1", 1));
        assert_eq!(
            split_host("%2Ftmp%2Fmongodb-27017.sock")
                .expect_err("socket")
                .kind,
            ErrorKind::Unsupported
        );
    }

    #[tokio::test]
    async fn ip_literals_resolve_without_dns() {
        let uri = MongoUri::parse("mongodb://u:secret@10.1.2.3:27017,[::1],10.1.2.3:27018/")
            .expect("uri");
        let ips = DriverConnector.resolve(&uri).await.expect("resolve");
        assert_eq!(
            ips,
            vec![
                "10.1.2.3".parse::<IpAddr>().expect("v4"),
                "::1".parse().expect("v6")
            ]
        );
    }
}
