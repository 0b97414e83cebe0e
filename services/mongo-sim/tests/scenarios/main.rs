//! The MongoDB port's scenario suite: written once against the port, run on two deployments.
//!
//! * `*_on_simulator`: the seeded simulator in process (its own port, no driver), always.
//! * `*_on_mongodb`: a MongoDB-compatible server through the official driver: the port is the
//!   shipped adapter (`DriverConnector`), the DBA and the other applications use the plain
//!   `mongodb` client. The server is the replica set `MONGODB_URI` names when it is set
//!   (MongoDB 7 or later, for `changeStreamPreAndPostImages` and `fullDocument: required`),
//!   else the simulator's wire front (`WireServer`) on 127.0.0.1, started for each test.
//!
//! The port is what the sync engine sees. The [`deployment::Deployment`] trait is everyone
//! else: the DBA who creates collections and indexes, and "another application" writing to
//! them.
//!
//! The scenarios live in modules by what they exercise: scans, change streams, write-back
//! transactions, and the preflight checks.

mod deployment;
mod helpers;
mod mongodb_server;
mod simulator_deployment;

/// Two tests per scenario: `$sim` on the simulator in process, `$real` through the driver on
/// `MONGODB_URI` or, without it, on the simulator's wire front.
macro_rules! on_both {
    ($scenario:ident, $sim:ident, $real:ident) => {
        #[tokio::test]
        async fn $sim() {
            let deployment = $crate::simulator_deployment::SimDeployment::new().await;
            $scenario(&deployment).await;
        }

        #[tokio::test]
        async fn $real() {
            let deployment =
                $crate::mongodb_server::MongoDeployment::connect(stringify!($scenario)).await;
            $scenario(&deployment).await;
            deployment.cleanup().await;
        }
    };
}

mod change_streams;
mod preflight;
mod scans;
mod write_back;
