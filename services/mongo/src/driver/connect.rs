//! Client building: resolving a connection string's hosts and opening a driver client, whose
//! connections go through the egress guard (`egress`) under the public-only policy, with the
//! guard's verdicts and the servers' failures kept for its operations (`guard`).

mod egress;
mod guard;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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
use mongodb::options::ClientOptions;

use super::DriverPort;
use super::errors::classify;
use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{ConnectOptions, MongoConnector, MongoPort, PortResult};
use crate::reach;
use egress::{EgressGuard, EgressRules};
pub(super) use guard::Guard;

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
        self.connect_allowing(uri, options, &[]).await
    }
}

impl DriverConnector {
    /// [`MongoConnector::connect`], and the egress guard also lets `endpoints` through: exact
    /// addresses and ports, whatever the policy says of their addresses. The trait's `connect`
    /// allows none; tests use this to have an allowed server next to a refused one on the same
    /// loopback interface.
    pub async fn connect_allowing(
        &self,
        uri: &MongoUri,
        options: &ConnectOptions,
        endpoints: &[SocketAddr],
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
        let guard = Arc::new(Guard::new(options.policy, uri)?.allowing(endpoints));
        let egress = match options.policy {
            // The operator allows every address: a guard would only copy every byte once more.
            // The driver resolves and connects by itself, and honours a `proxyHost` option.
            TargetPolicy::AllowPrivate => None,
            TargetPolicy::PublicOnly => {
                Some(route_through_guard(&mut client_options, options, endpoints, &guard).await?)
            }
        };
        let watcher = Watcher {
            guard: guard.clone(),
            _egress: egress,
        };
        client_options.sdam_event_handler =
            Some(EventHandler::callback(move |event| watcher.observe(event)));
        let client = Client::with_options(client_options).map_err(classify)?;
        let mut port = DriverPort::with_guard(client, guard);
        port.commit_wtimeout = options.commit_wtimeout;
        Ok(Arc::new(port))
    }
}

/// Starts an egress guard for one client and makes it the client's proxy.
async fn route_through_guard(
    client_options: &mut ClientOptions,
    options: &ConnectOptions,
    endpoints: &[SocketAddr],
    guard: &Arc<Guard>,
) -> PortResult<EgressGuard> {
    if client_options.socks5_proxy.is_some() {
        return Err(PortError::new(
            ErrorKind::TargetNotAllowed,
            "the connection string's proxyHost option routes connections through a proxy of its own, which this deployment does not allow; remove the proxy options",
        ));
    }
    let rules = EgressRules {
        policy: options.policy,
        allowed_endpoints: endpoints.to_vec(),
        connect_timeout: options.connect_timeout,
    };
    let egress = EgressGuard::start(rules, guard.clone())
        .await
        .map_err(|e| {
            PortError::new(
                ErrorKind::Network,
                format!("cannot start the egress guard on 127.0.0.1: {e}"),
            )
        })?;
    client_options.socks5_proxy = Some(egress.proxy());
    Ok(egress)
}

/// The client's topology events, and the egress guard its connections go through. The driver
/// holds its event handler until the client and its server monitors are gone (a monitor
/// notices within a heartbeat interval of the client's drop), so the guard serves exactly as
/// long as the driver may still open connections, and stops then.
struct Watcher {
    guard: Arc<Guard>,
    _egress: Option<EgressGuard>,
}

impl Watcher {
    fn observe(&self, event: SdamEvent) {
        match event {
            SdamEvent::ServerOpening(opening) => self.guard.opened(&opening.address),
            // Kept to say why, should server selection time out.
            SdamEvent::ServerHeartbeatFailed(failed) => self
                .guard
                .check_failed(&failed.server_address, &failed.failure),
            SdamEvent::ServerHeartbeatSucceeded(answered) => {
                self.guard.check_answered(&answered.server_address)
            }
            _ => {}
        }
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
