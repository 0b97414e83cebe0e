//! How a seed's api and workers reach its MongoDB: the simulator's port in the same process, or
//! the official driver (`DriverConnector`) over TCP to the simulator's wire front.

use crate::helpers::PASSWORD;
use crate::{HOST, QUIESCENCE, TRANSACTION_LIFETIME, USER};
use edgebridge_api::mongo::driver::DriverConnector;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::mongo::port::MongoConnector;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_mongo_sim::Simulator;
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use std::sync::Arc;
use std::time::Duration;

/// Which MongoDB port the suite runs through (`EDGEBRIDGE_SIM_PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// The simulator's port, called in process (`in-process`, the default).
    InProcess,
    /// The driver adapter against the simulator's wire front on 127.0.0.1 (`wire`).
    Wire,
}

impl Port {
    pub(crate) fn from_env() -> Port {
        match std::env::var("EDGEBRIDGE_SIM_PORT").as_deref() {
            Err(_) | Ok("" | "in-process") => Port::InProcess,
            Ok("wire") => Port::Wire,
            Ok(other) => panic!("EDGEBRIDGE_SIM_PORT must be in-process or wire, not {other:?}"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Port::InProcess => "in-process",
            Port::Wire => "wire",
        }
    }

    /// The MongoDB access the api is given (it checks connectors; workers have their own).
    pub(crate) fn api_connector(self) -> Arc<dyn MongoConnector> {
        match self {
            Port::InProcess => Arc::new(Simulator::new(0).connector()),
            Port::Wire => Arc::new(DriverConnector),
        }
    }

    /// The outbound policy for this port: the wire front listens on 127.0.0.1, which only
    /// `AllowPrivate` reaches (as a self-hosted deployment's MongoDB next door).
    pub(crate) fn preflight(self) -> PreflightOptions {
        let mut options = PreflightOptions::default();
        if self == Port::Wire {
            options.policy = TargetPolicy::AllowPrivate;
            options.connect.policy = TargetPolicy::AllowPrivate;
        }
        options
    }
}

/// One seed's cluster as its connector reaches it.
pub(crate) struct Cluster {
    pub(crate) connection_string: String,
    pub(crate) mongo: Arc<dyn MongoConnector>,
    pub(crate) preflight: PreflightOptions,
    /// How long the seed may take to go quiet.
    pub(crate) quiescence: Duration,
    /// Serves the wire front while the seed runs; dropping it closes its connections.
    _server: Option<WireServer>,
}

impl Cluster {
    pub(crate) async fn start(sim: &Simulator, port: Port) -> Result<Cluster, String> {
        let preflight = port.preflight();
        match port {
            Port::InProcess => Ok(Cluster {
                connection_string: format!("mongodb+srv://{USER}:{PASSWORD}@{HOST}/"),
                mongo: Arc::new(sim.connector()),
                preflight,
                quiescence: QUIESCENCE,
                _server: None,
            }),
            Port::Wire => {
                let server = WireServer::start(sim.clone(), WireOptions::default())
                    .await
                    .map_err(|e| format!("the wire front did not start: {e}"))?;
                Ok(Cluster {
                    connection_string: server.uri_with_credentials(USER, PASSWORD),
                    mongo: Arc::new(DriverConnector),
                    preflight,
                    quiescence: QUIESCENCE + TRANSACTION_LIFETIME,
                    _server: Some(server),
                })
            }
        }
    }
}
