//! Serving client connections. `axum::serve` gives hyper no timer, so a client could trickle a
//! header line every few seconds, or hold an idle keep-alive connection, for as long as it liked:
//! a thousand such clients kept a thousand connections open. Here every HTTP/1 connection must
//! send each request's head within `header_read_timeout` (which also ends a keep-alive connection
//! idle that long), and at most `max_connections` are served at once.
//!
//! HTTP/1.1 only: HTTP/2 without TLS (prior knowledge) would need idle limits of its own (a
//! client answering pings could hold a connection for ever); clients and load balancers speak
//! HTTP/1.1 to an api like this one.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Bounds on client connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client must send a request's whole head (request line and headers) within this time
    /// of the connection being ready for it; a keep-alive connection idle this long is closed
    /// (`EDGEBRIDGE_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one closes
    /// (`EDGEBRIDGE_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` until `stop`, then lets open requests finish (the caller bounds
/// how long it waits for that).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection task holds a receiver; `closed()` resolves when the last one ends.
    let (open_tx, _) = watch::channel(());
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let open = open_tx.subscribe();
        let stop = stop.clone();
        tokio::spawn(async move {
            // Held until the connection ends, whichever way it does.
            let _held = (slot, open);
            // hyper's header timer starts with the first byte: a client that connects and sends
            // nothing is bounded here (and shutdown does not wait for it).
            let mut byte = [0u8; 1];
            let first = tokio::select! {
                first = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut byte)) => first,
                _ = stop.cancelled() => return,
            };
            if !matches!(first, Ok(Ok(1..))) {
                return;
            }
            let io = TokioIo::new(stream);
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result, remote),
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, remote);
                }
            }
        });
    }
    drop(listener);
    open_tx.closed().await;
}

fn log_end(result: Result<(), hyper::Error>, remote: SocketAddr) {
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}
