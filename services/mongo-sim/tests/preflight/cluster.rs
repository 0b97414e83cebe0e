//! The cluster under test, and how the preflight checks reach it: the simulator's own port in
//! process, or the shipped driver adapter over the simulator's wire front.

use std::sync::Arc;

use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{CollectionInfo, ConnectOptions, MongoConnector, MongoPort};
use edgebridge_mongo::preflight::{self, PreflightOptions, PreflightReport, PreflightRequest};
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};

/// The cluster's host in process. It resolves to a public address so the default policy
/// (public only) lets it through; the simulator never sends traffic anywhere.
pub(crate) const HOST: &str = "cluster0.example.com";
const PUBLIC_IP: &str = "52.20.0.10";
pub(crate) const DB: &str = "shop";

/// A reachable cluster with `shop.orders` ready to sync: a simulator, and its wire front when
/// the checks go through the driver.
pub(crate) struct Cluster {
    /// The test's handle: the DBA, the other applications, the faults.
    pub(crate) sim: Simulator,
    /// Closes its connections when dropped: lives as long as the test.
    wire: Option<WireServer>,
}

impl Cluster {
    /// Reached through the simulator's own port (`sim.connector()`).
    pub(crate) fn in_process() -> Cluster {
        Cluster {
            sim: simulator(),
            wire: None,
        }
    }

    /// Reached through `DriverConnector` over a wire front on the same kind of simulator.
    pub(crate) async fn through_the_driver() -> Cluster {
        let sim = simulator();
        let wire = WireServer::start(sim.clone(), WireOptions::default())
            .await
            .expect("the wire front starts");
        Cluster {
            sim,
            wire: Some(wire),
        }
    }

    /// Reached through the simulator's own port, which also resolves host names itself.
    pub(crate) fn is_in_process(&self) -> bool {
        self.wire.is_none()
    }

    /// The connection string without credentials.
    pub(crate) fn uri(&self) -> String {
        match &self.wire {
            None => format!("mongodb://{HOST}/"),
            Some(wire) => wire.uri(),
        }
    }

    /// The connection string as a standalone server is reached: without `replicaSet` (with
    /// it, the driver would find no member of that set and never select the server).
    pub(crate) fn standalone_uri(&self) -> String {
        match &self.wire {
            None => format!("mongodb://{HOST}/"),
            Some(wire) => format!("mongodb://{}/", wire.address()),
        }
    }

    /// The connection string with `user` and `password` as a `mongos` is reached: without
    /// `replicaSet` (a router belongs to no replica set).
    pub(crate) fn router_uri_as(&self, user: &str, password: &str) -> String {
        match &self.wire {
            None => format!("mongodb://{user}:{password}@{HOST}/"),
            Some(wire) => format!("mongodb://{user}:{password}@{}/", wire.address()),
        }
    }

    /// The connection string with `user` and `password`.
    pub(crate) fn uri_as(&self, user: &str, password: &str) -> String {
        match &self.wire {
            None => format!("mongodb://{user}:{password}@{HOST}/"),
            Some(wire) => wire.uri_with_credentials(user, password),
        }
    }

    /// The host as the connection string, and so the failure messages, name it.
    pub(crate) fn host(&self) -> String {
        match &self.wire {
            None => HOST.to_owned(),
            Some(wire) => wire.address().to_string(),
        }
    }

    /// The host name without a port (to build connection strings of its own).
    pub(crate) fn host_name(&self) -> String {
        match &self.wire {
            None => HOST.to_owned(),
            Some(wire) => wire.address().ip().to_string(),
        }
    }

    pub(crate) fn connector(&self) -> Box<dyn MongoConnector> {
        match &self.wire {
            None => Box::new(self.sim.connector()),
            Some(_) => Box::new(DriverConnector),
        }
    }

    /// The operator's defaults (public targets only) in process. The wire front listens on
    /// 127.0.0.1, which only `AllowPrivate` lets through.
    pub(crate) fn options(&self) -> PreflightOptions {
        PreflightOptions {
            policy: self.policy(),
            ..Default::default()
        }
    }

    fn policy(&self) -> TargetPolicy {
        match &self.wire {
            None => TargetPolicy::PublicOnly,
            Some(_) => TargetPolicy::AllowPrivate,
        }
    }

    pub(crate) async fn run(&self, request: &PreflightRequest) -> PreflightReport {
        self.run_with(request, &self.options()).await
    }

    pub(crate) async fn run_with(
        &self,
        request: &PreflightRequest,
        options: &PreflightOptions,
    ) -> PreflightReport {
        preflight::run(self.connector().as_ref(), request, options).await
    }

    /// A port as the user in `uri`, to look at what preflight left behind.
    pub(crate) async fn port_as(&self, uri: &str) -> Arc<dyn MongoPort> {
        let options = ConnectOptions {
            policy: self.policy(),
            ..ConnectOptions::default()
        };
        self.connector()
            .connect(
                &MongoUri::parse(uri).expect("the connection string parses"),
                &options,
            )
            .await
            .expect("the cluster connects")
    }

    pub(crate) async fn collection_infos(&self, uri: &str) -> Vec<CollectionInfo> {
        self.port_as(uri)
            .await
            .list_collections(DB)
            .await
            .expect("list collections")
    }

    pub(crate) async fn collection_names(&self, uri: &str) -> Vec<String> {
        self.collection_infos(uri)
            .await
            .into_iter()
            .map(|c| c.name)
            .collect()
    }
}

fn simulator() -> Simulator {
    let sim = Simulator::new(3);
    sim.add_host(HOST, &[PUBLIC_IP.parse().expect("an IP address")]);
    sim.create_collection(DB, "orders", CollectionOptions::ready());
    sim
}

pub(crate) fn request(uri: &str, collections: &[&str]) -> PreflightRequest {
    PreflightRequest {
        connection_string: uri.to_owned(),
        database: DB.to_owned(),
        collections: collections.iter().map(|c| (*c).to_owned()).collect(),
        id_fields: Default::default(),
        auto_configure: false,
    }
}
