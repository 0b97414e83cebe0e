//! The preflight checks: one test per failure a user can run into. Each failure must say which
//! check failed, give its stable code, name the object in its message, offer a remediation, and
//! skip the checks that depend on it.
//!
//! Every check that can happen on a real server runs twice, from one body (see [`on_both`]):
//! `…::in_process` on the simulator's own port (`sim.connector()`), and `…::through_the_driver`
//! through the shipped driver adapter (`DriverConnector`, the official `mongodb` driver)
//! against the simulator's wire front on 127.0.0.1. What only the in-process simulator can
//! stage (its DNS, slow answers under paused time) runs in process only; what only a socket can
//! show (a closed port, the driver's own guard against advertised members) runs through the
//! driver only.

mod assertions;
mod cluster;

/// Two tests from one check body `$check(&Cluster)`, in a module named after it:
/// `$check::in_process` and `$check::through_the_driver`.
macro_rules! on_both {
    ($check:ident) => {
        mod $check {
            #[tokio::test]
            async fn in_process() {
                let cluster = $crate::cluster::Cluster::in_process();
                super::$check(&cluster).await;
            }

            #[tokio::test]
            async fn through_the_driver() {
                let cluster = $crate::cluster::Cluster::through_the_driver().await;
                super::$check(&cluster).await;
            }
        }
    };
}

mod collections;
mod connection_string;
mod deployment;
mod id_index;
mod member_guard;
mod metadata;
mod privileges;
mod reaching;
mod read_preference;
mod runs;
mod sharding;
