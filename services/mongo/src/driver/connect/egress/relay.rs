//! Moving bytes between the driver's connection and the server's, both ways.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::ReadHalf;

/// Bytes read from one side before they are written to the other: the most a connection
/// holds in the guard per direction. Large enough that a 16 MiB batch crosses in few calls.
pub(super) const RELAY_BUFFER: usize = 64 * 1024;

/// Relays until either side closes its connection or fails; then both are closed. (MongoDB
/// does not half-close: a connection whose peer stopped sending is done.)
pub(super) async fn relay(mut driver: TcpStream, mut server: TcpStream) {
    let (mut driver_read, mut driver_write) = driver.split();
    let (mut server_read, mut server_write) = server.split();
    let ended = tokio::select! {
        ended = pump(&mut driver_read, &mut server_write, |read| acknowledge_at_once(read.as_ref())) => ended,
        ended = pump(&mut server_read, &mut driver_write, |_| {}) => ended,
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "an egress relay ended with an error");
    }
}

/// Copies `from` to `to` until `from` ends (`Ok`) or either fails; `after_read` runs after
/// each read.
async fn pump<W>(
    from: &mut ReadHalf<'_>,
    to: &mut W,
    after_read: impl Fn(&ReadHalf<'_>),
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; RELAY_BUFFER];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        after_read(from);
        to.write_all(&buffer[..read]).await?;
    }
}

/// Acknowledges what the driver sent without the usual delay. The driver's end of its
/// connection to the guard is the SOCKS client's socket, with Nagle's algorithm on: a message
/// the driver writes in two parts (its 8 KiB write buffer spills) holds back its second part
/// until the first is acknowledged, and a delayed acknowledgement holds that for 40 ms (Linux),
/// once per message between 8 and 64 KiB: a write-back batch. Quick acknowledgement is not
/// permanent on Linux, so it is asked for again after every read.
fn acknowledge_at_once(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_quickack(true) {
        tracing::debug!(error = %e, "cannot set TCP_QUICKACK on an egress connection");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}
