//! A MongoDB-compatible server through the driver: the replica set `MONGODB_URI` names, or the
//! simulator's wire front when it is not set. The port is the shipped driver adapter; the test's
//! own writes go through the plain `mongodb` client, exactly as against a real server.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use edgebridge_domain::connection_string::{MongoUri, Scheme};
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector, MongoPort};
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};

use crate::deployment::{Deployment, Polls};

/// The wire front's simulator seed (each test starts its own server).
const WIRE_SEED: u64 = 42;

/// Each test gets a database of its own, dropped when the test passes (kept for a look when it
/// fails).
pub(crate) struct MongoDeployment {
    uri: String,
    client: mongodb::Client,
    port: Arc<dyn MongoPort>,
    db: String,
    /// The simulator's wire front when `MONGODB_URI` is not set; it closes when dropped, so it
    /// lives as long as the test.
    _wire: Option<WireServer>,
}

impl MongoDeployment {
    /// Connects to `MONGODB_URI`, or starts a wire front over a fresh simulator and connects to
    /// that.
    pub(crate) async fn connect(test: &str) -> Self {
        let (uri, wire) = match std::env::var("MONGODB_URI") {
            Ok(uri) if !uri.trim().is_empty() => (uri, None),
            _ => {
                let server = WireServer::start(Simulator::new(WIRE_SEED), WireOptions::default())
                    .await
                    .expect("the simulator's wire front starts");
                (server.uri(), Some(server))
            }
        };
        let client = mongodb::Client::with_uri_str(&uri)
            .await
            .expect("the driver accepts the connection string");
        let parsed = MongoUri::parse(&uri).expect("the connection string is valid");
        // The outbound policy refuses loopback members by default: a server on this machine
        // (the wire front, a local replica set) is a self-hosted deployment.
        let policy = if on_loopback(&parsed) {
            TargetPolicy::AllowPrivate
        } else {
            TargetPolicy::default()
        };
        let options = ConnectOptions {
            policy,
            ..ConnectOptions::default()
        };
        let port = DriverConnector
            .connect(&parsed, &options)
            .await
            .expect("the driver adapter connects");
        port.ping().await.expect("the server answers ping");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let db = format!("eb_scn_{test}_{:x}{nanos:08x}", std::process::id());
        MongoDeployment {
            uri,
            client,
            port,
            db,
            _wire: wire,
        }
    }

    pub(crate) async fn cleanup(&self) {
        if let Err(e) = self.client.database(&self.db).drop().await {
            println!("could not drop test database {}: {e}", self.db);
        }
    }

    fn collection(&self, db: &str, coll: &str) -> mongodb::Collection<Document> {
        self.client.database(db).collection(coll)
    }
}

/// Every host of the connection string is this machine (`localhost` or a loopback address).
fn on_loopback(uri: &MongoUri) -> bool {
    uri.scheme() == Scheme::Standard
        && uri.hosts().iter().all(|host| {
            let name = match host.strip_prefix('[') {
                Some(rest) => rest.split(']').next().unwrap_or(rest),
                None => host
                    .rsplit_once(':')
                    .map_or(host.as_str(), |(name, _)| name),
            };
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        })
}

#[async_trait]
impl Deployment for MongoDeployment {
    fn port(&self) -> Arc<dyn MongoPort> {
        Arc::clone(&self.port)
    }

    fn connector(&self) -> Arc<dyn MongoConnector> {
        Arc::new(DriverConnector)
    }

    fn connection_string(&self) -> String {
        self.uri.clone()
    }

    fn db(&self) -> &str {
        &self.db
    }

    fn polls(&self) -> Polls {
        Polls {
            max: 30,
            pause: Some(Duration::from_millis(100)),
        }
    }

    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions) {
        self.collection(db, coll)
            .drop()
            .await
            .expect("drop the collection");
        let mut create = doc! { "create": coll };
        if options.pre_and_post_images {
            create.insert("changeStreamPreAndPostImages", doc! { "enabled": true });
        }
        if options.capped {
            create.insert("capped", true);
            create.insert("size", 1_i64 << 20);
        }
        if let Some(validator) = options.validator {
            create.insert("validator", validator);
        }
        self.client
            .database(db)
            .run_command(create)
            .await
            .expect("create the collection");
    }

    async fn unique_index(&self, db: &str, coll: &str, field: &str) {
        let index = mongodb::IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(
                mongodb::options::IndexOptions::builder()
                    .unique(true)
                    .build(),
            )
            .build();
        self.collection(db, coll)
            .create_index(index)
            .await
            .expect("create the unique index");
    }

    async fn insert(&self, db: &str, coll: &str, document: Document) {
        self.collection(db, coll)
            .insert_one(document)
            .await
            .expect("another application's insert succeeds");
    }

    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document) {
        self.collection(db, coll)
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await
            .expect("another application's update succeeds");
    }

    async fn delete(&self, db: &str, coll: &str, id: Bson) {
        self.collection(db, coll)
            .delete_one(doc! { "_id": id })
            .await
            .expect("another application's delete succeeds");
    }
}
