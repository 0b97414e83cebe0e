//! The client's record of the outbound policy's verdicts: what the egress guard refused, the
//! members the cluster advertises (checked again as the driver opens them), and why servers did
//! not answer. Once something was refused, every operation on the client fails with
//! `TargetNotAllowed`: a connector does not run against a cluster that leads outside the policy.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use edgebridge_domain::connection_string::{MongoUri, Scheme};
use mongodb::error::{Error as DriverError, ErrorKind as DriverErrorKind};
use mongodb::options::ServerAddress;

use super::egress::{EgressEvents, Refusal};
use super::{DEFAULT_PORT, split_host};
use crate::driver::errors::classify;
use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::PortResult;
use crate::reach::Reachability;

/// The second line behind the egress guard (which stops the connections themselves): the
/// driver reports each server it opens a monitor for, and a member the policy refuses is
/// recorded at once, before any connection, so every later operation fails. Under
/// `AllowPrivate` there is no egress guard and nothing is refused.
#[derive(Debug)]
pub(in crate::driver) struct Guard {
    pub(in crate::driver) policy: TargetPolicy,
    /// Servers this second line does not check: the connection string's hosts, normalized
    /// (`host`, port) (the egress guard checks them when it connects), and the endpoints the
    /// caller allowed explicitly.
    pub(in crate::driver) seeds: Vec<(String, u16)>,
    pub(in crate::driver) discovered: Mutex<Vec<String>>,
    pub(in crate::driver) refused: Mutex<Option<String>>,
    /// Why servers did not answer their checks.
    pub(in crate::driver) reach: Reachability,
}

impl Guard {
    pub(in crate::driver) fn new(policy: TargetPolicy, uri: &MongoUri) -> PortResult<Self> {
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

    /// Adds endpoints the policy lets through although their addresses are refused.
    pub(super) fn allowing(mut self, endpoints: &[SocketAddr]) -> Self {
        for endpoint in endpoints {
            let seed = (endpoint.ip().to_string(), endpoint.port());
            if !self.seeds.contains(&seed) {
                self.seeds.push(seed);
            }
        }
        self
    }

    fn refuse(&self, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_none() {
            tracing::warn!(reason = %why, "a MongoDB connection was refused by the outbound policy");
            *refused = Some(why);
        }
    }

    fn is_seed(&self, name: &str, port: u16) -> bool {
        self.seeds.iter().any(|(n, p)| n == name && *p == port)
    }

    /// The driver opened a monitor for `address`.
    pub(in crate::driver) fn opened(self: &Arc<Self>, address: &ServerAddress) {
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
        if self.policy == TargetPolicy::AllowPrivate || self.is_seed(&name, port) {
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
                        let allowed = guard.is_seed(&addr.ip().to_string(), addr.port());
                        if let (false, Err(why)) = (allowed, guard.policy.check(addr.ip())) {
                            // Which address is not said: the policy's words are enough to act
                            // on, and a tenant learns nothing about the operator's DNS.
                            guard.refuse(format!(
                                "the cluster advertises the member {shown}, which resolves to {why}"
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
    pub(super) fn check_failed(&self, address: &ServerAddress, failure: &DriverError) {
        // Through the egress guard the driver sees only the proxy's reply code; the guard
        // has already recorded the real cause (see `unreachable`) or the refusal.
        if matches!(failure.kind.as_ref(), DriverErrorKind::ProxyConnect { .. }) {
            return;
        }
        if let Some((name, port, shown)) = tcp_address(address) {
            let seed = self.is_seed(&name, port);
            self.reach.failed(shown, seed, failure);
        }
    }

    pub(super) fn check_answered(&self, address: &ServerAddress) {
        if let Some((_, _, shown)) = tcp_address(address) {
            self.reach.answered(&shown);
        }
    }

    /// [`classify`], with what the server checks saw when no server could be selected: "the
    /// cluster could not be reached" says nothing; "connection refused at host:port" does.
    /// A refusal by the policy explains every failure that follows it.
    pub(in crate::driver) fn classify(&self, err: DriverError) -> PortError {
        if let Err(refused) = self.check() {
            return refused;
        }
        let proxy = matches!(err.kind.as_ref(), DriverErrorKind::ProxyConnect { .. });
        let selection = matches!(err.kind.as_ref(), DriverErrorKind::ServerSelection { .. });
        if proxy {
            // A pooled connection the egress guard could not open: the cause is in `reach`.
            tracing::debug!(error = %err, "a connection through the egress guard failed");
            let why = self.reach.explain().unwrap_or_else(|| {
                "a connection to a server of the cluster could not be opened".to_owned()
            });
            return PortError::new(ErrorKind::Network, why);
        }
        let mut error = classify(err);
        if selection && let Some(why) = self.reach.explain() {
            error.message = why;
        }
        error
    }

    pub(in crate::driver) fn check(&self) -> PortResult<()> {
        match &*self.refused.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(why) => Err(PortError::new(ErrorKind::TargetNotAllowed, why.clone())),
            None => Ok(()),
        }
    }
}

impl EgressEvents for Guard {
    fn refused(&self, host: &str, port: u16, refusal: Refusal) {
        let Some((name, port, shown)) = tcp_address(&ServerAddress::Tcp {
            host: host.to_owned(),
            port: Some(port),
        }) else {
            return;
        };
        let Refusal { resolved, why } = refusal;
        // The address a name resolved to is not said (see `opened`).
        let message = match (self.is_seed(&name, port), resolved) {
            (true, false) => format!("{shown} is {why}"),
            (true, true) => format!("{shown} resolves to {why}"),
            (false, false) => format!("the cluster advertises the member {shown}, {why}"),
            (false, true) => {
                format!("the cluster advertises the member {shown}, which resolves to {why}")
            }
        };
        self.refuse(message);
    }

    fn unreachable(&self, host: &str, port: u16, error: io::Error) {
        let address = ServerAddress::Tcp {
            host: host.to_owned(),
            port: Some(port),
        };
        if let Some((name, port, shown)) = tcp_address(&address) {
            let seed = self.is_seed(&name, port);
            let failure = DriverError::from(DriverErrorKind::Io(Arc::new(error)));
            self.reach.failed(shown, seed, &failure);
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
