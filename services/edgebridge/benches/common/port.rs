//! The MongoDB a bench's worker syncs with: the simulator's port called in process, or the
//! driver adapter (the official `mongodb` crate) over TCP to the simulator's wire front, each
//! reply delayed by a chosen round-trip time.

use edgebridge_api::mongo::driver::DriverConnector;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::mongo::port::MongoConnector;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_mongo_sim::Simulator;
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use std::sync::Arc;
use std::time::Duration;

/// The host name the in-process simulator resolves (the wire front is on 127.0.0.1).
const HOST: &str = "cluster0.example.net";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    InProcess,
    Wire { round_trip: Duration },
}

impl Port {
    /// For tables: `in-process`, `wire 10 ms`.
    pub fn label(self) -> String {
        match self {
            Port::InProcess => "in-process".to_owned(),
            Port::Wire { round_trip } => format!("wire {} ms", round_trip.as_millis()),
        }
    }

    /// Before each `name: value unit` line: nothing in process (the figures keep their names),
    /// `wire_10ms.` through the wire front.
    pub fn prefix(self) -> String {
        match self {
            Port::InProcess => String::new(),
            Port::Wire { round_trip } => format!("wire_{}ms.", round_trip.as_millis()),
        }
    }

    /// The outbound policy for this port: the wire front listens on 127.0.0.1, which only
    /// `AllowPrivate` reaches.
    pub fn preflight(self) -> PreflightOptions {
        let mut options = PreflightOptions::default();
        if let Port::Wire { .. } = self {
            options.policy = TargetPolicy::AllowPrivate;
            options.connect.policy = TargetPolicy::AllowPrivate;
        }
        options
    }

    /// What the api is given to check connectors with.
    pub fn api_connector(self, sim: &Simulator) -> Arc<dyn MongoConnector> {
        match self {
            Port::InProcess => Arc::new(sim.connector()),
            Port::Wire { .. } => Arc::new(DriverConnector),
        }
    }

    /// Makes `sim` reachable through this port for `user` (already added to `sim`). Call it
    /// inside the runtime the bench's worker runs on (the wire front's tasks run there).
    pub async fn attach(
        self,
        sim: &Simulator,
        user: &str,
        password: &str,
    ) -> std::io::Result<Cluster> {
        match self {
            Port::InProcess => {
                sim.add_host(HOST, &["52.10.20.30".parse().expect("an IP address")]);
                Ok(Cluster {
                    connection_string: format!("mongodb+srv://{user}:{password}@{HOST}/"),
                    mongo: Arc::new(sim.connector()),
                    preflight: self.preflight(),
                    _server: None,
                })
            }
            Port::Wire { round_trip } => {
                let options = WireOptions {
                    round_trip,
                    ..WireOptions::default()
                };
                let server = WireServer::start(sim.clone(), options).await?;
                Ok(Cluster {
                    connection_string: server.uri_with_credentials(user, password),
                    mongo: Arc::new(DriverConnector),
                    preflight: self.preflight(),
                    _server: Some(server),
                })
            }
        }
    }
}

/// A simulated cluster as a worker reaches it.
pub struct Cluster {
    pub connection_string: String,
    pub mongo: Arc<dyn MongoConnector>,
    pub preflight: PreflightOptions,
    /// Serves the wire front until dropped.
    _server: Option<WireServer>,
}
