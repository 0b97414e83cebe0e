//! The wire front: the simulator behind a TCP socket speaking MongoDB's wire protocol, answering
//! as a MongoDB 8.0 replica-set primary, so the official driver (and `mongosh`, pymongo, Compass)
//! can run against it.
//!
//! It serves the same [`Simulator`] the in-process port does: what a test does through the
//! simulator's handle (other applications' writes, faults, users) is what wire clients see.
//! Faults show the way a real server shows them: a dropped connection closes the socket midway
//! through a reply, a stepdown answers `NotWritablePrimary` and changes the `topologyVersion`,
//! a slow server answers late.
//!
//! Modules: framing (`message`), one task per connection (`connection`), the command table
//! (`dispatch`), `hello` and the topology (`hello`), elections and write acknowledgement
//! (`elections`, `replication`), authentication (`scram`), and the commands
//! by kind: server and catalog (`admin`, `catalog`), reads and cursors (`find`, `cursors`,
//! `query`), writes and transactions (`writes`, `txn`), change streams (`changes`, their batches
//! `change_batches`, events `change_events` and large events' fragments `event_fragments`).

mod admin;
mod catalog;
mod change_batches;
mod change_events;
mod changes;
mod connection;
mod cursors;
mod dispatch;
mod elections;
mod errors;
mod event_fragments;
mod find;
mod hello;
mod message;
mod query;
mod replication;
mod scram;
mod txn;
mod writes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bson::oid::ObjectId;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::simulator::Simulator;

/// How the wire front listens and answers.
#[derive(Debug, Clone)]
pub struct WireOptions {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Every reply is delayed by this much: the network round trip of a real cluster.
    pub round_trip: Duration,
    /// Plus a random delay up to this much (seeded by the simulator's seed).
    pub jitter: Duration,
    /// The replica set's name (`setName` in `hello`).
    pub replica_set: String,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            round_trip: Duration::ZERO,
            jitter: Duration::ZERO,
            replica_set: "rs0".to_owned(),
        }
    }
}

/// What every connection of one wire front shares.
pub(crate) struct Shared {
    pub(crate) sim: Simulator,
    pub(crate) replica_set: String,
    /// This server's `host:port`, as `hello` names it.
    pub(crate) me: String,
    pub(crate) process_id: ObjectId,
    /// The replica set's election term: each election held makes a new one (and a new
    /// `electionId`).
    term: AtomicI64,
    /// Stepped down for an election not yet over (see `elections`).
    stepped_down: AtomicBool,
    topology_counter: AtomicI64,
    pub(crate) topology_changed: Notify,
    round_trip_nanos: AtomicU64,
    jitter_nanos: AtomicU64,
    rng: Mutex<u64>,
    pub(crate) cursors: Mutex<cursors::Cursors>,
    pub(crate) sessions: Mutex<txn::Sessions>,
    pub(crate) scram: scram::ScramCache,
    next_connection_id: AtomicI64,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn topology_counter(&self) -> i64 {
        self.topology_counter.load(Ordering::SeqCst)
    }

    /// A stepdown and re-election: clients learn of it through the new `topologyVersion`.
    pub(crate) fn change_topology(&self) {
        self.topology_counter.fetch_add(1, Ordering::SeqCst);
        self.topology_changed.notify_waiters();
    }

    pub(crate) fn next_connection_id(&self) -> i64 {
        self.next_connection_id.fetch_add(1, Ordering::SeqCst)
    }

    /// How long to hold the next reply: the round trip plus jitter.
    pub(crate) fn reply_delay(&self) -> Duration {
        let base = Duration::from_nanos(self.round_trip_nanos.load(Ordering::Relaxed));
        let jitter = self.jitter_nanos.load(Ordering::Relaxed);
        if jitter == 0 {
            return base;
        }
        let mut rng = lock(&self.rng);
        // splitmix64, as the engine's.
        *rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        base + Duration::from_nanos(z % jitter)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running wire front. Dropping it stops accepting and closes its connections.
pub struct WireServer {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl WireServer {
    /// Listens on `options.bind` and serves `sim` until dropped.
    pub async fn start(sim: Simulator, options: WireOptions) -> std::io::Result<WireServer> {
        let listener = TcpListener::bind(options.bind).await?;
        let address = listener.local_addr()?;
        let seed = sim.seed();
        let shared = Arc::new(Shared {
            me: address.to_string(),
            replica_set: options.replica_set,
            process_id: object_id(seed, 1),
            term: AtomicI64::new(1),
            stepped_down: AtomicBool::new(false),
            topology_counter: AtomicI64::new(0),
            topology_changed: Notify::new(),
            round_trip_nanos: AtomicU64::new(nanos(options.round_trip)),
            jitter_nanos: AtomicU64::new(nanos(options.jitter)),
            rng: Mutex::new(seed ^ 0x5EED),
            cursors: Mutex::new(cursors::Cursors::default()),
            sessions: Mutex::new(txn::Sessions::default()),
            scram: scram::ScramCache::new(),
            next_connection_id: AtomicI64::new(1),
            shutdown: CancellationToken::new(),
            sim,
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tokio::spawn(elections::follow(Arc::clone(&shared)));
        Ok(WireServer { address, shared })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A connection string for this server, without credentials.
    pub fn uri(&self) -> String {
        format!(
            "mongodb://{}/?replicaSet={}",
            self.address, self.shared.replica_set
        )
    }

    /// A connection string for this server with a user's credentials (percent-encoded).
    pub fn uri_with_credentials(&self, user: &str, password: &str) -> String {
        format!(
            "mongodb://{}:{}@{}/?replicaSet={}",
            encode(user),
            encode(password),
            self.address,
            self.shared.replica_set
        )
    }

    /// Changes the round-trip time for replies from now on.
    pub fn set_round_trip(&self, round_trip: Duration) {
        self.shared
            .round_trip_nanos
            .store(nanos(round_trip), Ordering::Relaxed);
    }
}

impl Drop for WireServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A deterministic ObjectId under the seed.
fn object_id(seed: u64, n: u8) -> ObjectId {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[11] = n;
    ObjectId::from_bytes(bytes)
}

/// RFC 3986 percent-encoding of a connection string's user or password.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, _)) => {
                let _ = socket.set_nodelay(true);
                tokio::spawn(connection::serve(socket, Arc::clone(&shared)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "the wire front could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
