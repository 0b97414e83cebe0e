//! Client building: resolving a connection string's hosts, opening a driver client, and the guard
//! that applies the outbound target policy to the servers the driver discovers.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use edgebridge_domain::connection_string::{MongoUri, Scheme};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{GOOGLE, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use mongodb::Client;
use mongodb::error::{Error as DriverError, ErrorKind as DriverErrorKind};
use mongodb::event::EventHandler;
use mongodb::event::sdam::SdamEvent;
use mongodb::options::{ClientOptions, ServerAddress};

use super::DriverPort;
use super::errors::classify;
use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{ConnectOptions, MongoConnector, MongoPort, PortResult};
use crate::reach::{self, Reachability};

/// MongoDB's port when a connection string names none.
const DEFAULT_PORT: u16 = 27017;

/// Opens driver clients. Stateless: each call resolves or connects from scratch.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverConnector;

#[async_trait]
impl MongoConnector for DriverConnector {
    async fn resolve(&self, uri: &MongoUri) -> PortResult<Vec<IpAddr>> {
        let groups = match uri.scheme() {
            Scheme::Standard => {
                futures_util::future::try_join_all(uri.hosts().iter().map(|h| resolve_host(h)))
                    .await?
            }
            Scheme::Srv => {
                let seed = uri.hosts().first().ok_or_else(|| {
                    PortError::new(
                        ErrorKind::InvalidConnectionString,
                        "a mongodb+srv:// connection string must name one DNS name",
                    )
                })?;
                vec![resolve_srv(seed).await?]
            }
        };
        Ok(dedup(groups.into_iter().flatten()))
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
        let mut client_options = ClientOptions::parse(uri.expose())
            .await
            .map_err(parse_error)?;
        // Ours win over the string's: the bounds are what keeps a tenant's unreachable cluster
        // from holding a preflight or a connector start for the driver's default 30 seconds.
        client_options.connect_timeout = Some(options.connect_timeout);
        client_options.server_selection_timeout = Some(options.server_selection_timeout);
        client_options.app_name = Some(options.app_name.clone());
        let guard = Arc::new(Guard::new(options.policy, uri)?);
        let watcher = guard.clone();
        client_options.sdam_event_handler = Some(EventHandler::callback(move |event| {
            match event {
                SdamEvent::ServerOpening(opening) => watcher.opened(&opening.address),
                // Kept to say why, should server selection time out.
                SdamEvent::ServerHeartbeatFailed(failed) => {
                    watcher.check_failed(&failed.server_address, &failed.failure)
                }
                SdamEvent::ServerHeartbeatSucceeded(answered) => {
                    watcher.check_answered(&answered.server_address)
                }
                _ => {}
            }
        }));
        let client = Client::with_options(client_options).map_err(classify)?;
        Ok(Arc::new(DriverPort::with_guard(client, guard)))
    }
}

/// A parse failure of the connection string. The driver's own message can quote option values
/// (some of them secret), so the invalid-argument case gets a fixed message instead.
fn parse_error(err: DriverError) -> PortError {
    match err.kind.as_ref() {
        DriverErrorKind::InvalidArgument { .. } => PortError::new(
            ErrorKind::InvalidConnectionString,
            "the MongoDB driver does not accept this connection string",
        ),
        // SRV and TXT lookups happen while parsing `mongodb+srv://` strings.
        _ => classify(err),
    }
}

fn network(message: String) -> PortError {
    PortError::new(ErrorKind::Network, message)
}

/// Removes repeated addresses, keeping the first occurrence's position.
fn dedup(ips: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for ip in ips {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// A `host[:port]` entry of a `mongodb://` host list, split into name (brackets removed from IPv6
/// literals) and port. Unix socket paths are refused: they reach the local machine and have no
/// address the outbound policy could check.
pub(super) fn split_host(host: &str) -> PortResult<(&str, u16)> {
    if host.ends_with(".sock") || host.contains('/') || host.to_ascii_lowercase().contains("%2f") {
        return Err(PortError::new(
            ErrorKind::Unsupported,
            "Unix domain socket hosts are not supported",
        ));
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']').ok_or_else(|| {
                PortError::new(
                    ErrorKind::InvalidConnectionString,
                    format!("the host {host} is missing its closing ']'"),
                )
            })?;
            (addr, after.strip_prefix(':'))
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port.parse().map_err(|_| {
            PortError::new(
                ErrorKind::InvalidConnectionString,
                format!("the host {host} has an invalid port"),
            )
        })?,
    };
    Ok((name, port))
}

/// The addresses of one `mongodb://` host: IP literals as they are, names through the system
/// resolver (the same one the driver uses when it connects).
async fn resolve_host(host: &str) -> PortResult<Vec<IpAddr>> {
    let (name, port) = split_host(host)?;
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| network(format!("could not resolve the host {name}: {e}")))?;
    let ips = dedup(addrs.map(|addr| addr.ip()));
    if ips.is_empty() {
        return Err(network(format!("the host {name} resolved to no addresses")));
    }
    Ok(ips)
}

/// A DNS resolver with the system's configuration, or public resolvers when the system's cannot
/// be read (a container without `/etc/resolv.conf`).
fn dns_resolver() -> PortResult<TokioResolver> {
    let builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the system DNS configuration; using public resolvers");
        TokioResolver::builder_with_config(
            ResolverConfig::udp_and_tcp(&GOOGLE),
            TokioRuntimeProvider::default(),
        )
    });
    builder
        .build()
        .map_err(|e| network(format!("cannot set up a DNS resolver: {e}")))
}

/// The addresses behind a `mongodb+srv://` seed name: its `_mongodb._tcp` SRV targets, each
/// resolved to A/AAAA records.
async fn resolve_srv(seed: &str) -> PortResult<Vec<IpAddr>> {
    let resolver = dns_resolver()?;
    let query = format!("_mongodb._tcp.{seed}");
    let lookup = resolver.srv_lookup(query.as_str()).await.map_err(|e| {
        network(format!(
            "the SRV lookup of {query} failed: {}",
            srv_cause(&e)
        ))
    })?;
    let targets: Vec<Name> = lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.target.clone()),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return Err(network(format!("{query} has no SRV records")));
    }
    let mut ips = Vec::new();
    for target in targets {
        let found = resolver.lookup_ip(target.clone()).await.map_err(|e| {
            network(format!(
                "could not resolve the SRV target {target}: {}",
                srv_cause(&e)
            ))
        })?;
        ips.extend(found.iter());
    }
    if ips.is_empty() {
        return Err(network(format!(
            "the SRV targets of {query} resolved to no addresses"
        )));
    }
    Ok(dedup(ips))
}

/// A resolver failure in a few words (its text quotes whole queries and records).
fn srv_cause(e: &hickory_resolver::net::NetError) -> String {
    tracing::debug!(error = %e, "DNS lookup failed");
    if e.is_nx_domain() {
        "the name does not exist".to_owned()
    } else if e.is_no_records_found() {
        "no such DNS record".to_owned()
    } else {
        reach::dns_cause(&e.to_string())
    }
}

/// The outbound policy for the servers the driver finds by itself: the members a replica set
/// names in `hello` (and SRV targets). The driver offers no hook to veto a server before it
/// connects, so a refused member is recorded the moment its monitor opens and every later
/// operation on this client fails with `TargetNotAllowed`. Network-level egress rules remain
/// the way to stop the monitor's own connection attempt.
#[derive(Debug)]
pub(super) struct Guard {
    pub(super) policy: TargetPolicy,
    /// The connection string's hosts, normalized (`host`, port): not re-checked.
    pub(super) seeds: Vec<(String, u16)>,
    pub(super) discovered: Mutex<Vec<String>>,
    pub(super) refused: Mutex<Option<String>>,
    /// Why servers did not answer their checks.
    pub(super) reach: Reachability,
}

impl Guard {
    pub(super) fn new(policy: TargetPolicy, uri: &MongoUri) -> PortResult<Self> {
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

    fn refuse(&self, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_none() {
            tracing::warn!(reason = %why, "a MongoDB cluster advertised a server the outbound policy refuses");
            *refused = Some(why);
        }
    }

    /// The driver opened a monitor for `address`.
    pub(super) fn opened(self: &Arc<Self>, address: &ServerAddress) {
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
        if self.policy == TargetPolicy::AllowPrivate || self.seeds.contains(&(name.clone(), port)) {
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
                        if let Err(why) = guard.policy.check(addr.ip()) {
                            guard.refuse(format!(
                                "the cluster advertises the member {shown}, which resolves to {}, {why}",
                                addr.ip()
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
    fn check_failed(&self, address: &ServerAddress, failure: &DriverError) {
        if let Some((name, port, shown)) = tcp_address(address) {
            let seed = self.seeds.contains(&(name, port));
            self.reach.failed(shown, seed, failure);
        }
    }

    fn check_answered(&self, address: &ServerAddress) {
        if let Some((_, _, shown)) = tcp_address(address) {
            self.reach.answered(&shown);
        }
    }

    /// [`classify`], with what the server checks saw when no server could be selected: "the
    /// cluster could not be reached" says nothing; "connection refused at host:port" does.
    pub(super) fn classify(&self, err: DriverError) -> PortError {
        let selection = matches!(err.kind.as_ref(), DriverErrorKind::ServerSelection { .. });
        let mut error = classify(err);
        if selection && let Some(why) = self.reach.explain() {
            error.message = why;
        }
        error
    }

    pub(super) fn check(&self) -> PortResult<()> {
        match &*self.refused.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(why) => Err(PortError::new(ErrorKind::TargetNotAllowed, why.clone())),
            None => Ok(()),
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
