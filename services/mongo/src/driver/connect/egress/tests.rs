//! The egress guard's protocol, decisions and relay, with a SOCKS5 client written out byte by
//! byte and real sockets on loopback. (Through the driver: mongo-sim's `tests/egress.rs`.)

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::socks::{Host, Reply};
use super::{EgressEvents, EgressGuard, EgressRules, Refusal};
use crate::policy::TargetPolicy;

/// What the guard reported, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EgressEvents for Recorder {
    fn refused(&self, host: &str, port: u16, refusal: Refusal) {
        let Refusal { resolved, why } = refusal;
        self.push(format!("refused {host}:{port} resolved={resolved} {why}"));
    }

    fn unreachable(&self, host: &str, port: u16, error: io::Error) {
        self.push(format!("unreachable {host}:{port} {:?}", error.kind()));
    }
}

impl Recorder {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A listener that counts the connections it accepts and keeps them open.
struct Target {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    streams: tokio::sync::mpsc::UnboundedReceiver<TcpStream>,
}

async fn target() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (send, streams) = tokio::sync::mpsc::unbounded_channel();
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = send.send(stream);
        }
    });
    Target {
        address,
        accepted,
        streams,
    }
}

async fn guard(allowed: &[SocketAddr], timeout: Duration) -> (EgressGuard, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let rules = EgressRules {
        policy: TargetPolicy::PublicOnly,
        allowed_endpoints: allowed.to_vec(),
        connect_timeout: timeout,
    };
    let guard = EgressGuard::start(rules, recorder.clone()).await.unwrap();
    (guard, recorder)
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// The guard's address and credentials, as the driver gets them.
fn proxy(guard: &EgressGuard) -> (String, String, String) {
    let proxy = guard.proxy();
    let (user, password) = proxy.authentication.clone().unwrap();
    let address = format!("{}:{}", proxy.host, proxy.port.unwrap());
    (address, user, password)
}

/// Greets with `methods` and, if the guard picks username/password, authenticates: the bytes
/// each step answered.
async fn authenticate(
    guard: &EgressGuard,
    methods: &[u8],
    password: Option<&str>,
) -> (TcpStream, Vec<u8>) {
    let (address, user, real_password) = proxy(guard);
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut greeting = vec![5, methods.len() as u8];
    greeting.extend_from_slice(methods);
    stream.write_all(&greeting).await.unwrap();
    let mut chosen = [0u8; 2];
    stream.read_exact(&mut chosen).await.unwrap();
    let mut answers = chosen.to_vec();
    if chosen == [5, 2] {
        let password = password.unwrap_or(&real_password);
        let mut auth = vec![1, user.len() as u8];
        auth.extend_from_slice(user.as_bytes());
        auth.push(password.len() as u8);
        auth.extend_from_slice(password.as_bytes());
        stream.write_all(&auth).await.unwrap();
        let mut status = [0u8; 2];
        stream.read_exact(&mut status).await.unwrap();
        answers.extend_from_slice(&status);
    }
    (stream, answers)
}

/// Asks for `host:port` (a name, or an address) and returns the reply code.
async fn request(stream: &mut TcpStream, host: &Host, port: u16) -> u8 {
    let mut request = vec![5, 1, 0];
    match host {
        Host::Ip(std::net::IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Host::Ip(std::net::IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Host::Name(name) => {
            request.extend_from_slice(&[3, name.len() as u8]);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.unwrap();
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        reply[2..],
        [0, 1, 0, 0, 0, 0, 0, 0],
        "the bound address is never shown"
    );
    reply[1]
}

/// Reads until the guard closes the connection.
async fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
        .await
        .expect("the guard closes the connection");
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");
}

fn ip(address: SocketAddr) -> Host {
    Host::Ip(address.ip())
}

#[tokio::test]
async fn a_client_without_the_credentials_is_turned_away_before_any_connection() {
    let target = target().await;
    let (guard, recorder) = guard(&[target.address], TIMEOUT).await;

    let (mut no_auth, answers) = authenticate(&guard, &[0], None).await;
    assert_eq!(answers, [5, 0xff], "only username/password is acceptable");
    assert_closed(&mut no_auth).await;

    let (mut wrong, answers) = authenticate(&guard, &[0, 2], Some("guessed")).await;
    assert_eq!(answers, [5, 2, 1, 1], "the password is refused");
    assert_closed(&mut wrong).await;

    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
    assert!(recorder.lines().is_empty(), "{:?}", recorder.lines());
}

#[tokio::test]
async fn a_refused_target_is_answered_not_allowed_and_never_connected() {
    let target = target().await;
    let (guard, recorder) = guard(&[], TIMEOUT).await;

    let (mut by_address, answers) = authenticate(&guard, &[0, 2], None).await;
    assert_eq!(answers, [5, 2, 1, 0]);
    let code = request(&mut by_address, &ip(target.address), target.address.port()).await;
    assert_eq!(code, Reply::NotAllowed as u8);
    assert_closed(&mut by_address).await;

    let (mut by_name, _) = authenticate(&guard, &[0, 2], None).await;
    let localhost = Host::Name("localhost".to_owned());
    let code = request(&mut by_name, &localhost, target.address.port()).await;
    assert_eq!(code, Reply::NotAllowed as u8);
    assert_closed(&mut by_name).await;

    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
    let port = target.address.port();
    assert_eq!(
        recorder.lines(),
        [
            format!("refused 127.0.0.1:{port} resolved=false a loopback address"),
            format!("refused localhost:{port} resolved=true a loopback address"),
        ]
    );
}

#[tokio::test]
async fn an_allowed_target_is_relayed_both_ways_until_either_side_closes() {
    let mut target = target().await;
    let (guard, recorder) = guard(&[target.address], TIMEOUT).await;
    let port = target.address.port();

    // The server closes: the driver's side ends after everything the server sent.
    let (mut driver, _) = authenticate(&guard, &[0, 2], None).await;
    assert_eq!(request(&mut driver, &ip(target.address), port).await, 0);
    let mut server = target.streams.recv().await.unwrap();
    driver.write_all(b"hello").await.unwrap();
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).await.unwrap();
    assert_eq!(&hello, b"hello");
    // More than the relay's buffer, so it crosses in several reads.
    let big: Vec<u8> = (0..super::relay::RELAY_BUFFER * 5 + 17)
        .map(|i| (i % 251) as u8)
        .collect();
    server.write_all(&big).await.unwrap();
    drop(server);
    let mut received = Vec::new();
    driver.read_to_end(&mut received).await.unwrap();
    assert!(received == big, "{} of {} bytes", received.len(), big.len());

    // The driver closes: the server's side ends.
    let (mut driver, _) = authenticate(&guard, &[0, 2], None).await;
    assert_eq!(request(&mut driver, &ip(target.address), port).await, 0);
    let mut server = target.streams.recv().await.unwrap();
    drop(driver);
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());

    assert_eq!(target.accepted.load(Ordering::SeqCst), 2);
    assert!(recorder.lines().is_empty(), "{:?}", recorder.lines());
}

#[tokio::test]
async fn a_failed_connection_is_answered_with_its_cause() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (guard, recorder) = guard(&[closed], TIMEOUT).await;
    let (mut driver, _) = authenticate(&guard, &[0, 2], None).await;
    let code = request(&mut driver, &ip(closed), closed.port()).await;
    assert_eq!(code, Reply::ConnectionRefused as u8);
    assert_eq!(
        recorder.lines(),
        [format!(
            "unreachable 127.0.0.1:{} ConnectionRefused",
            closed.port()
        )]
    );
}

#[tokio::test]
async fn a_client_that_stops_mid_handshake_is_dropped_at_the_connect_timeout() {
    let (guard, _) = guard(&[], Duration::from_millis(200)).await;
    let (address, _, _) = proxy(&guard);
    let mut silent = TcpStream::connect(address).await.unwrap();
    silent.write_all(&[5, 1]).await.unwrap();
    assert_closed(&mut silent).await;
}

#[tokio::test]
async fn a_stopped_guard_accepts_nothing() {
    let (guard, _) = guard(&[], TIMEOUT).await;
    let (address, _, _) = proxy(&guard);
    drop(guard);
    // The listener goes with the aborted task; connecting is refused from then on.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the guard still listens after it was dropped");
}
