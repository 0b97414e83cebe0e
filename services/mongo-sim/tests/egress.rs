//! The egress guard through the driver adapter: under the public-only policy every connection
//! the driver opens goes through the guard, which resolves, checks and connects in one step,
//! so no TCP connection to a refused address is ever opened: not to a member the cluster
//! advertises, not to what a name resolves to when the driver connects. The refused targets
//! here are listeners of the test's own on loopback, which count what they accept.
//!
//! Loopback is refused under public-only; the wire front listens on it too, so the tests that
//! need a reachable cluster name its exact address and port as allowed
//! (`DriverConnector::connect_allowing`): the listener next to it, on another port, stays
//! refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bson::{Bson, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector, MongoPort, StreamStart, WriteOp};
use edgebridge_mongo::{ErrorKind, PortError};
use edgebridge_mongo_sim::{CollectionOptions, Simulator, WireOptions, WireServer};
use tokio::net::TcpListener;
use tokio::time::Instant;

const DB: &str = "shop";
/// A bound on how long the driver takes to do what the test waits for, not a measurement.
const DEADLINE: Duration = Duration::from_secs(20);

/// A TCP listener on loopback that counts the connections it accepts and closes each at once
/// (so a driver's check of it fails fast and is tried again).
struct Listener {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    async fn on(address: &str) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Ok(Listener { address, accepted })
    }

    async fn start() -> Listener {
        Listener::on("127.0.0.1:0").await.expect("a loopback port")
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn public_only() -> ConnectOptions {
    ConnectOptions {
        policy: TargetPolicy::PublicOnly,
        server_selection_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    }
}

async fn cluster() -> (Simulator, WireServer) {
    let sim = Simulator::new(7);
    sim.create_collection(DB, "orders", CollectionOptions::ready());
    let wire = WireServer::start(sim.clone(), WireOptions::default())
        .await
        .expect("the wire front starts");
    (sim, wire)
}

/// Pings until the ping fails with `TargetNotAllowed` (the guard's verdict arrives beside the
/// driver's operations) and returns that error.
async fn refusal(port: &dyn MongoPort) -> PortError {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match port.ping().await {
            Err(e) if e.kind == ErrorKind::TargetNotAllowed => return e,
            other if Instant::now() < deadline => {
                tracing::debug!(?other, "not refused yet");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("no refusal within {DEADLINE:?}; the last ping: {other:?}"),
        }
    }
}

fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T, PortError>) {
    match result {
        Err(e) => assert_eq!(e.kind, ErrorKind::TargetNotAllowed, "{what}: {e:?}"),
        Ok(v) => panic!("{what} succeeded: {v:?}"),
    }
}

/// The cluster advertises two members beyond its seed, both on loopback: one at an endpoint the
/// caller allowed, one refused. The driver's monitors open both at once; by the time the
/// allowed one has been connected to twice, the refused one has had as many chances, and not
/// one connection reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advertised_member_at_a_refused_address_is_never_connected() {
    let (sim, wire) = cluster().await;
    let refused = Listener::start().await;
    let allowed = Listener::start().await;
    sim.advertise_member(&refused.address.to_string());
    sim.advertise_member(&allowed.address.to_string());
    // The shortest check interval the driver accepts, so the members are checked again soon.
    let uri = MongoUri::parse(&format!("{}&heartbeatFrequencyMS=500", wire.uri()))
        .expect("the wire front's connection string parses");
    let port = DriverConnector
        .connect_allowing(&uri, &public_only(), &[wire.address(), allowed.address])
        .await
        .expect("connecting is lazy");

    let error = refusal(port.as_ref()).await;
    let deadline = Instant::now() + DEADLINE;
    while allowed.accepted() < 2 {
        assert!(
            Instant::now() < deadline,
            "the driver did not check the allowed member twice within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(
        refused.accepted(),
        0,
        "connections reached the refused member {}",
        refused.address
    );
    assert_eq!(
        error.message,
        format!(
            "the cluster advertises the member {}, a loopback address",
            refused.address
        )
    );
    assert_refused("listDatabases", port.list_database_names().await);
    assert_refused("a scan", port.scan(DB, "orders", None, 10).await);
    assert_refused(
        "watch",
        port.watch(DB, "orders", StreamStart::Now).await.map(|_| ()),
    );
    assert_refused("a session", port.start_session().await.map(|_| ()));
    assert_eq!(refused.accepted(), 0);
}

/// DNS may answer the driver differently from the check before it: the guard resolves the
/// name itself when the driver connects, and connects only to what it checked. `localhost`
/// stands for a name whose answer turned to loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_refused_address_is_never_connected() {
    let listener = Listener::start().await;
    let port_number = listener.address.port();
    // `localhost` may resolve to ::1 first: listen there too where the machine has IPv6.
    let v6 = Listener::on(&format!("[::1]:{port_number}")).await.ok();
    let uri = MongoUri::parse(&format!(
        "mongodb://app:s3cret@localhost:{port_number}/?directConnection=true"
    ))
    .expect("a connection string");
    let port = DriverConnector
        .connect(&uri, &public_only())
        .await
        .expect("connecting is lazy");

    let error = refusal(port.as_ref()).await;

    let accepted = listener.accepted() + v6.as_ref().map_or(0, Listener::accepted);
    assert_eq!(accepted, 0, "connections reached localhost:{port_number}");
    assert_eq!(
        error.message,
        format!("localhost:{port_number} resolves to a loopback address"),
        "the host is named, the address it resolved to is not"
    );
    assert!(!error.message.contains("127.0.0.1") && !error.message.contains("s3cret"));
}

/// The connection string's own hosts are checked as they are connected to, addresses too:
/// nothing assumes a check made before (preflight's) still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_at_a_refused_address_is_never_connected() {
    let listener = Listener::start().await;
    let uri = MongoUri::parse(&format!(
        "mongodb://{}/?directConnection=true",
        listener.address
    ))
    .expect("a connection string");
    let port = DriverConnector
        .connect(&uri, &public_only())
        .await
        .expect("connecting is lazy");

    let error = refusal(port.as_ref()).await;

    assert_eq!(listener.accepted(), 0);
    assert_eq!(
        error.message,
        format!("{} is a loopback address", listener.address)
    );
}

/// An allowed cluster works through the guard as it does directly: commands, a scan whose
/// reply is many times the guard's relay buffer, a change stream, a write transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_cluster_works_through_the_guard() {
    let (sim, wire) = cluster().await;
    let big = "x".repeat(2 * 1024 * 1024);
    sim.insert(DB, "orders", doc! {"_id": 1, "note": big.as_str()})
        .expect("a seeded document");
    let uri = MongoUri::parse(&wire.uri()).expect("the wire front's connection string parses");
    let port = DriverConnector
        .connect_allowing(&uri, &public_only(), &[wire.address()])
        .await
        .expect("connecting is lazy");

    port.ping().await.expect("ping through the guard");
    let names: Vec<String> = port
        .list_collections(DB)
        .await
        .expect("listCollections")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["orders"]);
    let batch = port.scan(DB, "orders", None, 10).await.expect("a scan");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].get_str("note").ok().map(str::len), Some(big.len()));

    let mut stream = port
        .watch(DB, "orders", StreamStart::Now)
        .await
        .expect("a change stream");
    sim.insert(DB, "orders", doc! {"_id": 2, "note": "new"})
        .expect("a second document");
    // `None` is an empty batch (nothing happened yet): ask again.
    let event = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(event) = stream.next().await.expect("the stream") {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives");
    assert_eq!(
        event.document_key.and_then(|k| k.get("_id").cloned()),
        Some(Bson::Int32(2))
    );
    let mut session = port.start_session().await.expect("a write session");
    let insert = WriteOp::Insert {
        collection: "orders".to_owned(),
        document: doc! {"_id": 3, "note": "written back"},
    };
    session
        .commit(DB, &[insert])
        .await
        .expect("a transaction through the guard");
    assert!(sim.find(DB, "orders", &Bson::Int32(3)).is_some());
    assert_eq!(port.servers(), [wire.address().to_string()]);
}

/// A connection string's own proxy would take the connections past the guard: refused under
/// public-only, before any connection.
#[tokio::test]
async fn a_proxy_of_the_connection_string_s_own_is_refused() {
    let listener = Listener::start().await;
    let uri = MongoUri::parse(&format!(
        "mongodb://db.example.com/?proxyHost=127.0.0.1&proxyPort={}",
        listener.address.port()
    ))
    .expect("a connection string");
    let error = match DriverConnector.connect(&uri, &public_only()).await {
        Err(e) => e,
        Ok(port) => panic!("connected; ping: {:?}", port.ping().await),
    };
    assert_eq!(error.kind, ErrorKind::TargetNotAllowed, "{error:?}");
    assert!(error.message.contains("proxyHost"), "{error:?}");
    assert_eq!(listener.accepted(), 0);
}

/// Behind the guard the driver sees only SOCKS5 reply codes; the adapter still says what
/// happened, as it does without the guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_behind_the_guard_says_why() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address")
    };
    let uri = MongoUri::parse(&format!("mongodb://{closed}/?directConnection=true"))
        .expect("a connection string");
    let port = DriverConnector
        .connect_allowing(&uri, &public_only(), &[closed])
        .await
        .expect("connecting is lazy");
    let error = port.ping().await.expect_err("nothing listens");
    assert_eq!(error.kind, ErrorKind::Network);
    assert_eq!(error.message, format!("connection refused at {closed}"));
}
