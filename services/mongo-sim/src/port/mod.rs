//! The simulator behind the MongoDB port in process: [`SimConnector`] and [`SimPort`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document};
use edgebridge_domain::connection_string::{MongoUri, Scheme};
use edgebridge_mongo::port::{
    ChangeStream, CollectionInfo, CollectionKind, ConnectOptions, IndexInfo, MongoConnector,
    MongoPort, PortResult, Privilege, Resource, SessionId, StreamStart, Topology, WriteSession,
    allows,
};
use edgebridge_mongo::{ErrorKind, PortError};

use crate::faults::take_queued;
use crate::order::Key;
use crate::port::session::SimSession;
use crate::port::stream::{SimStream, history_lost};
use crate::simulator::Simulator;
use crate::state::{Collection, CollectionOptions};

mod indexes;
mod oplog;
pub(crate) mod session;
pub(crate) mod stream;

/// Resolves and connects to the [`Simulator`].
#[derive(Clone)]
pub struct SimConnector {
    pub(crate) sim: Simulator,
}

pub(crate) fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[async_trait]
impl MongoConnector for SimConnector {
    async fn resolve(&self, uri: &MongoUri) -> PortResult<Vec<IpAddr>> {
        let state = self.sim.lock();
        let mut out = Vec::new();
        for host in uri.hosts() {
            let name = host_name(host);
            if let Ok(ip) = name.parse::<IpAddr>() {
                out.push(ip);
                continue;
            }
            let lookup = match uri.scheme() {
                Scheme::Srv => format!("_mongodb._tcp.{name}"),
                Scheme::Standard => name.to_owned(),
            };
            let found = state
                .hosts
                .get(&lookup.to_ascii_lowercase())
                .or_else(|| state.hosts.get(&name.to_ascii_lowercase()))
                .ok_or_else(|| {
                    PortError::new(
                        ErrorKind::Network,
                        format!("could not resolve host `{name}`"),
                    )
                })?;
            out.extend(found.iter().copied());
        }
        Ok(out)
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
        let known = {
            let state = self.sim.lock();
            uri.hosts().iter().any(|h| {
                let name = host_name(h);
                name.parse::<IpAddr>().is_ok()
                    || state.hosts.contains_key(&name.to_ascii_lowercase())
            })
        };
        Ok(Arc::new(SimPort {
            sim: self.sim.clone(),
            seeds: uri.hosts().to_vec(),
            user: uri.username().map(str::to_owned),
            password: uri.password(),
            known_host: known,
            timeout: options.server_selection_timeout,
        }))
    }
}

/// One client connection to the simulator.
pub struct SimPort {
    pub(crate) sim: Simulator,
    pub(crate) seeds: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) known_host: bool,
    pub(crate) timeout: Duration,
}

impl SimPort {
    /// Every operation starts here: faults, reachability, authentication. Returns the user's
    /// privileges (`None`: access control off).
    async fn begin(&self, what: String) -> PortResult<Option<Vec<Privilege>>> {
        let delay = {
            let mut state = self.sim.lock();
            state.note(what);
            take_queued(&mut state.faults);
            let mut delay = None;
            if let Some((count, d)) = state.faults.slow.as_mut() {
                delay = Some(*d);
                *count -= 1;
                if *count == 0 {
                    state.faults.slow = None;
                }
            }
            delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.sim.lock();
        if !self.known_host || !state.reachable {
            return Err(PortError::new(
                ErrorKind::Network,
                format!(
                    "server selection timed out after {} ms: no reachable server",
                    self.timeout.as_millis()
                ),
            ));
        }
        if state.faults.drop_connection > 0 {
            state.faults.drop_connection -= 1;
            take_queued(&mut state.faults);
            return Err(dropped());
        }
        let ppm = state.faults.random_drop_ppm;
        if ppm > 0 && state.random() % 1_000_000 < u64::from(ppm) {
            return Err(dropped());
        }
        if state.users.is_empty() {
            return Ok(None);
        }
        let user = state.users.iter().find(|u| {
            Some(&u.name) == self.user.as_ref() && Some(&u.password) == self.password.as_ref()
        });
        match user {
            Some(user) => Ok(Some(user.privileges.clone())),
            None => Err(PortError::server(18, "Authentication failed.")),
        }
    }

    async fn require(
        &self,
        what: String,
        action: &str,
        db: &str,
        coll: Option<&str>,
    ) -> PortResult<()> {
        match self.begin(what).await? {
            Some(privileges) if !allows(&privileges, action, db, coll) => Err(PortError::server(
                13,
                format!(
                    "not authorized on {db} to execute command requiring `{action}`{}",
                    coll.map(|c| format!(" on collection {c}"))
                        .unwrap_or_default()
                ),
            )),
            _ => Ok(()),
        }
    }
}

pub(crate) fn dropped() -> PortError {
    PortError::new(
        ErrorKind::Network,
        "connection closed by peer (simulated network drop)",
    )
}

pub(crate) fn not_primary() -> PortError {
    PortError::server(10107, "not primary (simulated stepdown)")
}

#[async_trait]
impl MongoPort for SimPort {
    fn servers(&self) -> Vec<String> {
        let mut servers = self.seeds.clone();
        if self.known_host {
            servers.extend(self.sim.lock().members.iter().cloned());
        }
        servers
    }

    async fn ping(&self) -> PortResult<()> {
        self.begin("ping".into()).await.map(|_| ())
    }

    async fn list_database_names(&self) -> PortResult<Vec<String>> {
        let privileges = self.begin("listDatabases".into()).await?;
        let state = self.sim.lock();
        let all: Vec<String> = state.databases.keys().cloned().collect();
        let Some(privileges) = privileges else {
            return Ok(all);
        };
        // The driver adapter asks with `authorizedDatabases: true`: MongoDB then lists the
        // databases the user holds privileges on (all of them for a privilege on any
        // database), possibly none, and never refuses.
        if privileges.iter().any(|p| {
            matches!(&p.resource, Resource::Namespace { db, .. } if db.is_empty())
                || p.resource == Resource::AnyResource
        }) {
            return Ok(all);
        }
        let authorized: BTreeSet<String> = privileges
            .iter()
            .filter_map(|p| match &p.resource {
                Resource::Namespace { db, .. } if !db.is_empty() => Some(db.clone()),
                _ => None,
            })
            .collect();
        Ok(all.into_iter().filter(|d| authorized.contains(d)).collect())
    }

    async fn list_collections(&self, db: &str) -> PortResult<Vec<CollectionInfo>> {
        self.require(format!("listCollections {db}"), "listCollections", db, None)
            .await?;
        let state = self.sim.lock();
        Ok(state
            .databases
            .get(db)
            .map(|colls| {
                colls
                    .iter()
                    .map(|(name, c)| CollectionInfo {
                        name: name.clone(),
                        kind: CollectionKind::Collection,
                        capped: c.options.capped,
                        pre_and_post_images: c.options.pre_and_post_images,
                        validator: c.options.validator.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn privileges(&self) -> PortResult<Vec<Privilege>> {
        Ok(self
            .begin("connectionStatus".into())
            .await?
            .unwrap_or_else(|| {
                vec![Privilege {
                    resource: Resource::AnyResource,
                    actions: ["anyAction".to_owned()].into_iter().collect(),
                }]
            }))
    }

    async fn topology(&self) -> PortResult<Topology> {
        self.begin("hello".into()).await?;
        Ok(if self.sim.mongos() {
            Topology::Sharded
        } else if self.sim.standalone() {
            Topology::Standalone
        } else {
            Topology::ReplicaSet {
                name: "rs0".to_owned(),
            }
        })
    }

    /// Looks first, as the driver adapter does (MongoDB 7.0+ answers `create` on an existing
    /// collection with ok): an existing collection needs `listCollections`, not
    /// `createCollection`.
    async fn create_collection(&self, db: &str, name: &str) -> PortResult<bool> {
        self.require(format!("listCollections {db}"), "listCollections", db, None)
            .await?;
        if self.sim.collection_exists(db, name) {
            return Ok(false);
        }
        self.require(
            format!("create {db}.{name}"),
            "createCollection",
            db,
            Some(name),
        )
        .await?;
        let mut state = self.sim.lock();
        let colls = state.databases.entry(db.to_owned()).or_default();
        if colls.contains_key(name) {
            return Ok(false);
        }
        colls.insert(
            name.to_owned(),
            Collection::new(CollectionOptions::default()),
        );
        Ok(true)
    }

    async fn enable_pre_and_post_images(&self, db: &str, collection: &str) -> PortResult<()> {
        self.require(
            format!("collMod {db}.{collection}"),
            "collMod",
            db,
            Some(collection),
        )
        .await?;
        self.sim
            .lock()
            .collection(db, collection)?
            .options
            .pre_and_post_images = true;
        Ok(())
    }

    async fn list_indexes(&self, db: &str, collection: &str) -> PortResult<Vec<IndexInfo>> {
        indexes::list(self, db, collection).await
    }

    async fn create_index(
        &self,
        db: &str,
        collection: &str,
        keys: &[String],
        unique: bool,
    ) -> PortResult<()> {
        indexes::create(self, db, collection, keys, unique).await
    }

    async fn scan(
        &self,
        db: &str,
        collection: &str,
        after: Option<&Bson>,
        batch_size: u32,
    ) -> PortResult<Vec<Document>> {
        self.require(
            format!("scan {db}.{collection}"),
            "find",
            db,
            Some(collection),
        )
        .await?;
        let mut state = self.sim.lock();
        let docs: Vec<Document> = match state.databases.get(db).and_then(|d| d.get(collection)) {
            None => Vec::new(),
            Some(coll) => {
                let range = match after {
                    Some(after) => coll.docs.range((
                        std::ops::Bound::Excluded(Key(after.clone())),
                        std::ops::Bound::Unbounded,
                    )),
                    None => coll.docs.range(..),
                };
                range
                    .take(batch_size.max(1) as usize)
                    .map(|(_, d)| d.clone())
                    .collect()
            }
        };
        if let Some(after_docs) = state.faults.drop_scan.take() {
            if (after_docs as usize) < docs.len() {
                return Err(dropped());
            }
            // The batch ended before the drop point: the fault waits for the next scan.
            state.faults.drop_scan = Some(after_docs - docs.len() as u32);
        }
        Ok(docs)
    }

    async fn estimated_count(&self, db: &str, collection: &str) -> PortResult<u64> {
        self.require(
            format!("count {db}.{collection}"),
            "find",
            db,
            Some(collection),
        )
        .await?;
        let state = self.sim.lock();
        Ok(state
            .databases
            .get(db)
            .and_then(|d| d.get(collection))
            .map_or(0, |c| c.docs.len() as u64))
    }

    async fn oplog_start(&self) -> PortResult<Option<bson::Timestamp>> {
        self.oplog_start_quietly()
    }

    async fn watch(
        &self,
        db: &str,
        collection: &str,
        start: StreamStart,
    ) -> PortResult<Box<dyn ChangeStream>> {
        self.require(
            format!("watch {db}.{collection}"),
            "changeStream",
            db,
            Some(collection),
        )
        .await?;
        let state = self.sim.lock();
        let position = match &start {
            StreamStart::Now => state.next_seq - 1,
            StreamStart::After(token) => {
                let seq = state.seq_of(token)?;
                // Like MongoDB, the token's own entry must still be in the oplog.
                if state.truncated_through > 0 && seq <= state.truncated_through {
                    return Err(history_lost());
                }
                seq
            }
            StreamStart::AtOperationTime(time) => {
                let first = state.oplog.front();
                if first
                    .is_some_and(|e| (e.time.time, e.time.increment) > (time.time, time.increment))
                    && state.first_seq() > 1
                {
                    return Err(history_lost());
                }
                state
                    .oplog
                    .iter()
                    .take_while(|e| (e.time.time, e.time.increment) < (time.time, time.increment))
                    .last()
                    .map_or(state.first_seq() - 1, |e| e.seq)
            }
        };
        let token = match start {
            StreamStart::After(token) => Some(token),
            _ => Some(state.token(position)),
        };
        Ok(Box::new(SimStream {
            port: SimPort {
                sim: self.sim.clone(),
                seeds: self.seeds.clone(),
                user: self.user.clone(),
                password: self.password.clone(),
                known_host: self.known_host,
                timeout: self.timeout,
            },
            db: db.to_owned(),
            collection: collection.to_owned(),
            position,
            token,
            redelivered: None,
        }))
    }

    async fn start_session(&self) -> PortResult<Box<dyn WriteSession>> {
        self.begin("startSession".into()).await?;
        let mut state = self.sim.lock();
        state.sessions_started += 1;
        let mut bytes = state.random().to_be_bytes().to_vec();
        bytes.extend(state.random().to_be_bytes());
        // A version-4 UUID, like the driver's.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Ok(Box::new(SimSession {
            port: SimPort {
                sim: self.sim.clone(),
                seeds: self.seeds.clone(),
                user: self.user.clone(),
                password: self.password.clone(),
                known_host: self.known_host,
                timeout: self.timeout,
            },
            id: SessionId(bytes),
            txn_number: 0,
        }))
    }
}
