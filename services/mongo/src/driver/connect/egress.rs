//! The egress guard: under the public-only policy every TCP connection a driver client opens
//! goes through it, so no connection to a refused address is ever opened.
//!
//! Checking a connection string's hosts before connecting is not enough on its own: DNS may
//! answer differently between the check and the driver's own lookup, and a replica set names
//! members of its own, to which the driver's monitor connects as soon as it learns of them.
//! The guard is a SOCKS5 server (CONNECT only) on 127.0.0.1 inside the process, one per driver
//! client, which the client uses as its proxy: for each connection it resolves the requested
//! name itself, checks every address against the policy, and connects to the addresses it
//! checked, or answers "connection not allowed by ruleset". The driver hands host names over
//! unresolved (the `mongodb` crate's `socks5-proxy` feature passes `ServerAddress::Tcp`'s host
//! as a SOCKS5 domain name), so there is no second lookup to disagree with the first.
//!
//! Only clients that present the guard's user name and password (random, generated when it
//! starts) are served: another program on the machine cannot use it to reach anything. The
//! handshake and the outbound connect share the connect timeout; bytes then move through
//! fixed-size buffers until either side closes.

mod relay;
mod socks;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use mongodb::options::Socks5Proxy;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout_at};

use crate::policy::TargetPolicy;
use socks::{Credentials, HandshakeError, Host, Reply};

/// Connections one guard serves at once; more are closed as they arrive. A driver client opens
/// one monitoring connection per server and at most its pool size per server besides.
const MAX_CONNECTIONS: usize = 1024;
/// After a failed `accept` (out of file descriptors, say): a pause instead of a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long one address of a name is tried before the next is tried beside it (RFC 8305's
/// connection attempt delay).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// TCP keepalive on the server connections, as the driver sets it on its own.
const KEEPALIVE_TIME: Duration = Duration::from_secs(120);

/// What the guard tells its owner about connections it did not open. Called before the
/// driver gets its answer, so the owner knows why by the time the driver reports a failure.
pub(super) trait EgressEvents: Send + Sync + 'static {
    /// `host:port` (as the driver asked for it) may not be reached.
    fn refused(&self, host: &str, port: u16, refusal: Refusal);
    /// Resolving or connecting to `host:port` failed.
    fn unreachable(&self, host: &str, port: u16, error: io::Error);
}

/// Why the policy refused a target, in the policy's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The target was a name (`why` is about an address it resolves to), not an address.
    pub(super) resolved: bool,
    /// "a loopback address", "a private address", ...
    pub(super) why: &'static str,
}

/// What the guard lets through.
#[derive(Debug, Clone)]
pub(super) struct EgressRules {
    pub(super) policy: TargetPolicy,
    /// Exact endpoints (address and port) allowed whatever the policy says of their address.
    pub(super) allowed_endpoints: Vec<SocketAddr>,
    /// Bounds the handshake and the outbound connect together.
    pub(super) connect_timeout: Duration,
}

impl EgressRules {
    fn allows(&self, address: SocketAddr) -> Result<(), &'static str> {
        let canonical = SocketAddr::new(address.ip().to_canonical(), address.port());
        let listed = self
            .allowed_endpoints
            .iter()
            .any(|e| SocketAddr::new(e.ip().to_canonical(), e.port()) == canonical);
        if listed {
            return Ok(());
        }
        self.policy.check(address.ip())
    }
}

/// A running guard. Dropping it stops it, and with it every relay it still runs.
#[derive(Debug)]
pub(super) struct EgressGuard {
    address: SocketAddr,
    shared: Arc<Shared>,
    serving: JoinHandle<()>,
}

struct Shared {
    rules: EgressRules,
    credentials: Credentials,
    events: Arc<dyn EgressEvents>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

enum Denied {
    Refused(Refusal),
    Failed(io::Error),
}

impl EgressGuard {
    /// Listens on a free port of 127.0.0.1 and serves there on the current runtime.
    pub(super) async fn start(
        rules: EgressRules,
        events: Arc<dyn EgressEvents>,
    ) -> io::Result<EgressGuard> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rules,
            credentials: Credentials::generate(),
            events,
        });
        let serving = tokio::spawn(serve(listener, shared.clone()));
        Ok(EgressGuard {
            address,
            shared,
            serving,
        })
    }

    /// The driver's proxy setting for this guard.
    pub(super) fn proxy(&self) -> Socks5Proxy {
        let credentials = &self.shared.credentials;
        Socks5Proxy::builder()
            .host(self.address.ip().to_string())
            .port(self.address.port())
            .authentication((credentials.username.clone(), credentials.password.clone()))
            .build()
    }
}

impl Drop for EgressGuard {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Accepts connections and serves each in a task of its own. The tasks belong to this one:
/// when it is aborted, they are too.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Ok(_) => tracing::warn!(
                    limit = MAX_CONNECTIONS,
                    "the egress guard is at its connection limit; closing a new connection"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the egress guard could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One driver connection: handshake, decision, connect, answer, relay.
async fn serve_connection(mut driver: TcpStream, shared: Arc<Shared>) {
    // Best effort: the driver's requests go out as soon as they are written either way.
    let _ = driver.set_nodelay(true);
    let deadline = Instant::now() + shared.rules.connect_timeout;
    let (host, port) =
        match timeout_at(deadline, socks::handshake(&mut driver, &shared.credentials)).await {
            Ok(Ok(request)) => request,
            Ok(Err(HandshakeError::Rejected(why))) => {
                tracing::warn!(reason = why, "the egress guard turned a client away");
                return;
            }
            Ok(Err(HandshakeError::Io(e))) => {
                tracing::debug!(error = %e, "an egress guard handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("an egress guard client did not finish its handshake in time");
                return;
            }
        };
    let opened = timeout_at(deadline, shared.open(&host, port))
        .await
        .unwrap_or_else(|_| {
            Err(Denied::Failed(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer within the connect timeout",
            )))
        });
    let shown = host.shown();
    let answer = match opened {
        Ok(server) => {
            if socks::reply(&mut driver, Reply::Succeeded).await.is_ok() {
                relay::relay(driver, server).await;
            }
            return;
        }
        Err(Denied::Refused(refusal)) => {
            tracing::debug!(host = %shown, port, reason = refusal.why, "the egress guard refused a connection");
            shared.events.refused(&shown, port, refusal);
            Reply::NotAllowed
        }
        Err(Denied::Failed(error)) => {
            let reply = Reply::for_error(&error);
            shared.events.unreachable(&shown, port, error);
            reply
        }
    };
    // The driver learns of the failure from the reply or from the closed connection alike.
    let _ = socks::reply(&mut driver, answer).await;
}

impl Shared {
    /// A connection to `host:port` if the policy allows every address it stands for.
    async fn open(&self, host: &Host, port: u16) -> Result<TcpStream, Denied> {
        let addresses = self.destinations(host, port).await?;
        connect_any(&addresses).await.map_err(Denied::Failed)
    }

    /// The addresses to connect to: the one given, or every address the name resolves to,
    /// each allowed. One refused address refuses the name (as the preflight check does): a
    /// name that answers with a public and a private address is not one to trust.
    async fn destinations(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, Denied> {
        let (addresses, resolved) = match host {
            Host::Ip(ip) => (vec![SocketAddr::new(*ip, port)], false),
            Host::Name(name) => {
                let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .map_err(Denied::Failed)?
                    .collect();
                (found, true)
            }
        };
        if addresses.is_empty() {
            return Err(Denied::Failed(io::Error::other(
                "failed to lookup address information: no addresses",
            )));
        }
        for address in &addresses {
            if let Err(why) = self.rules.allows(*address) {
                return Err(Denied::Refused(Refusal { resolved, why }));
            }
        }
        Ok(addresses)
    }
}

/// Connects to the first of `addresses` that answers, trying the next beside the ones still
/// pending every [`ATTEMPT_DELAY`] (a name with an unreachable IPv6 address must not spend the
/// whole connect timeout on it). The caller bounds the whole.
async fn connect_any(addresses: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut attempts: FuturesUnordered<_> = addresses
        .iter()
        .zip(0u32..)
        .map(|(address, position)| async move {
            tokio::time::sleep(ATTEMPT_DELAY.saturating_mul(position)).await;
            connect_one(*address).await
        })
        .collect();
    let mut last = None;
    while let Some(attempt) = attempts.next().await {
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")))
}

async fn connect_one(address: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_TIME);
    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    Ok(stream)
}
