//! The server side of SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), only
//! as much as the driver's client uses: one `CONNECT` after authenticating. Anything else is
//! answered with the reply the RFC has for it, and the connection is closed.

use std::io;
use std::net::IpAddr;

use rand::Rng;
use rand::distributions::Alphanumeric;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VERSION: u8 = 5;
/// The version of the username/password sub-negotiation.
const AUTH_VERSION: u8 = 1;
const METHOD_PASSWORD: u8 = 2;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const AUTH_SUCCEEDED: u8 = 0;
const AUTH_FAILED: u8 = 1;
const COMMAND_CONNECT: u8 = 1;
const ADDRESS_IPV4: u8 = 1;
const ADDRESS_DOMAIN: u8 = 3;
const ADDRESS_IPV6: u8 = 4;
/// Length of the generated user name and password: 32 alphanumerics, about 190 bits each.
const SECRET_LENGTH: usize = 32;

/// The reply codes the guard sends (RFC 1928, section 6). The driver's client (fast-socks5)
/// panics on a code it does not know, so only these exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    Succeeded = 0,
    GeneralFailure = 1,
    /// "Connection not allowed by ruleset": the outbound policy refuses the target.
    NotAllowed = 2,
    NetworkUnreachable = 3,
    HostUnreachable = 4,
    ConnectionRefused = 5,
    /// Sent when the connect timeout ran out.
    TtlExpired = 6,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

impl Reply {
    /// The reply for a failed outbound connection.
    pub(super) fn for_error(error: &io::Error) -> Reply {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Reply::ConnectionRefused,
            io::ErrorKind::TimedOut => Reply::TtlExpired,
            io::ErrorKind::NetworkUnreachable => Reply::NetworkUnreachable,
            io::ErrorKind::HostUnreachable => Reply::HostUnreachable,
            _ => Reply::GeneralFailure,
        }
    }
}

/// The user name and password a client must present: generated per guard, so only the driver
/// clients it was made for (in this process) can use it.
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
}

impl Credentials {
    pub(super) fn generate() -> Credentials {
        let secret = || -> String {
            rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(SECRET_LENGTH)
                .map(char::from)
                .collect()
        };
        Credentials {
            username: secret(),
            password: secret(),
        }
    }

    /// Both compared in constant time, so the answer's timing says nothing about either.
    fn accepts(&self, username: &[u8], password: &[u8]) -> bool {
        let user_ok = self.username.as_bytes().ct_eq(username);
        let password_ok = self.password.as_bytes().ct_eq(password);
        (user_ok & password_ok).into()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

/// Where a client asks to be connected: an address, or a name the guard resolves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    /// The host as the driver named it, for messages: IPv6 in brackets.
    pub(super) fn shown(&self) -> String {
        match self {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }
}

/// Why a client's handshake ended without a request to act on.
#[derive(Debug)]
pub(super) enum HandshakeError {
    Io(io::Error),
    /// Not SOCKS5, no acceptable method, wrong credentials, or a request the guard does not
    /// serve: the client has been told where the protocol lets us.
    Rejected(&'static str),
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// Runs the handshake up to the client's `CONNECT` request: method selection (only
/// username/password is offered), the credentials, the request.
pub(super) async fn handshake<S>(
    stream: &mut S,
    credentials: &Credentials,
) -> Result<(Host, u16), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let [version, count] = read_array::<_, 2>(stream).await?;
    if version != VERSION {
        return Err(HandshakeError::Rejected("not a SOCKS5 client"));
    }
    let mut methods = vec![0u8; usize::from(count)];
    stream.read_exact(&mut methods).await?;
    if !methods.contains(&METHOD_PASSWORD) {
        stream.write_all(&[VERSION, NO_ACCEPTABLE_METHOD]).await?;
        return Err(HandshakeError::Rejected(
            "the client does not offer username/password authentication",
        ));
    }
    stream.write_all(&[VERSION, METHOD_PASSWORD]).await?;

    let [auth_version, user_length] = read_array::<_, 2>(stream).await?;
    if auth_version != AUTH_VERSION {
        return Err(HandshakeError::Rejected(
            "an unknown authentication sub-negotiation",
        ));
    }
    let username = read_vec(stream, user_length).await?;
    let [password_length] = read_array::<_, 1>(stream).await?;
    let password = read_vec(stream, password_length).await?;
    if !credentials.accepts(&username, &password) {
        stream.write_all(&[AUTH_VERSION, AUTH_FAILED]).await?;
        return Err(HandshakeError::Rejected("wrong credentials"));
    }
    stream.write_all(&[AUTH_VERSION, AUTH_SUCCEEDED]).await?;

    let [version, command, _reserved, address_type] = read_array::<_, 4>(stream).await?;
    if version != VERSION {
        return Err(HandshakeError::Rejected("not a SOCKS5 request"));
    }
    let host = match address_type {
        ADDRESS_IPV4 => Host::Ip(IpAddr::from(read_array::<_, 4>(stream).await?)),
        ADDRESS_IPV6 => Host::Ip(IpAddr::from(read_array::<_, 16>(stream).await?)),
        ADDRESS_DOMAIN => {
            let [length] = read_array::<_, 1>(stream).await?;
            let name = read_vec(stream, length).await?;
            match String::from_utf8(name) {
                Ok(name) => parse_name(name),
                Err(_) => {
                    reply(stream, Reply::GeneralFailure).await?;
                    return Err(HandshakeError::Rejected("a host name that is not UTF-8"));
                }
            }
        }
        _ => {
            reply(stream, Reply::AddressTypeNotSupported).await?;
            return Err(HandshakeError::Rejected("an unknown address type"));
        }
    };
    let port = u16::from_be_bytes(read_array(stream).await?);
    if command != COMMAND_CONNECT {
        reply(stream, Reply::CommandNotSupported).await?;
        return Err(HandshakeError::Rejected("a command other than CONNECT"));
    }
    Ok((host, port))
}

/// A requested name; an IP address written as text (`[::1]` included) is that address.
fn parse_name(name: String) -> Host {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(name.to_ascii_lowercase()),
    }
}

/// Answers the request. The bound address is always 0.0.0.0:0: the client does not use it,
/// and the guard's own outbound address is nothing a tenant needs to see.
pub(super) async fn reply<S>(stream: &mut S, reply: Reply) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    stream
        .write_all(&[VERSION, reply as u8, 0, ADDRESS_IPV4, 0, 0, 0, 0, 0, 0])
        .await
}

async fn read_array<S: AsyncRead + Unpin, const N: usize>(stream: &mut S) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}

async fn read_vec<S: AsyncRead + Unpin>(stream: &mut S, length: u8) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::from(length)];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}
