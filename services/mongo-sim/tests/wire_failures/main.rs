//! The wire front on the failure paths, with the official driver as the client (and a raw
//! OP_MSG client where the driver cannot say what a test needs): transactions replaced on their
//! session, change events too large for a reply, a standalone server, an election with no
//! primary for a while, and a replica set whose majority cannot acknowledge.

mod elections;
mod large_events;
mod majority;
mod transactions;

use std::net::SocketAddr;
use std::time::Duration;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_mongo_sim::{Simulator, WireOptions, WireServer};
use mongodb::Client;
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) async fn start(sim: &Simulator) -> WireServer {
    WireServer::start(sim.clone(), WireOptions::default())
        .await
        .expect("the wire front listens")
}

pub(crate) async fn client(uri: &str, selection_timeout: Duration) -> Client {
    let mut options = ClientOptions::parse(uri).await.expect("the URI parses");
    options.server_selection_timeout = Some(selection_timeout);
    options.connect_timeout = Some(Duration::from_secs(5));
    Client::with_options(options).expect("a client")
}

pub(crate) fn server_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

/// One connection speaking OP_MSG directly: for what the driver will not send (a second
/// transaction on a session whose first is still open, a command without read preference while
/// no member is primary).
pub(crate) struct RawConnection {
    socket: TcpStream,
    next_id: i32,
}

impl RawConnection {
    pub(crate) async fn open(address: SocketAddr) -> Self {
        RawConnection {
            socket: TcpStream::connect(address).await.expect("connects"),
            next_id: 1,
        }
    }

    pub(crate) async fn run(&mut self, body: Document) -> Document {
        let mut payload = Vec::new();
        payload.extend_from_slice(&0u32.to_le_bytes());
        payload.push(0);
        body.to_writer(&mut payload).expect("serialises");
        let mut message = Vec::new();
        message.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
        message.extend_from_slice(&self.next_id.to_le_bytes());
        message.extend_from_slice(&0i32.to_le_bytes());
        message.extend_from_slice(&2013i32.to_le_bytes());
        message.extend_from_slice(&payload);
        self.next_id += 1;
        self.socket.write_all(&message).await.expect("sends");
        let mut header = [0u8; 16];
        self.socket.read_exact(&mut header).await.expect("a reply");
        let length = i32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; length - 16];
        self.socket
            .read_exact(&mut rest)
            .await
            .expect("the reply's body");
        // Flag bits, then a kind-0 section.
        assert_eq!(rest[4], 0, "a body section");
        Document::from_reader(&rest[5..]).expect("a document")
    }
}

pub(crate) fn lsid(n: u8) -> Document {
    doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: vec![n; 16] }}
}

pub(crate) fn code(reply: &Document) -> Option<i32> {
    reply.get_i32("code").ok()
}

/// A binary field of `bytes` bytes.
pub(crate) fn payload(bytes: usize) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![0x5A; bytes],
    })
}
