//! One task per client connection: read a request, run it, hold the reply for the configured
//! round trip, write it. A dropped-connection fault closes the socket partway through a reply.

use std::sync::Arc;

use bson::Document;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::Shared;
use super::dispatch::{self, Command, Ctx};
use super::errors::CommandError;
use super::message::{self, Request};
use super::scram;

/// What the server knows of one connection.
pub(crate) struct Conn {
    pub(crate) id: i64,
    /// The authenticated user, once a SASL conversation finished.
    pub(crate) user: Option<String>,
    /// A SASL conversation in progress (`saslStart` or a speculative start in `hello`).
    pub(crate) conversation: Option<scram::Conversation>,
}

pub(crate) async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let (mut reader, mut writer) = socket.into_split();
    let mut conn = Conn {
        id: shared.next_connection_id(),
        user: None,
        conversation: None,
    };
    let mut next_id: i32 = 1;
    loop {
        if !shared.sim.reachable() {
            // A cluster that is down or firewalled: the connection goes away unanswered.
            return;
        }
        let request = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            request = message::read_request(&mut reader) => request,
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "the wire front closes a connection on a bad message");
                return;
            }
        };
        // A client that asks for no answer (`moreToCome`, as with unacknowledged writes) gets
        // none.
        let silent =
            matches!(&request, Request::Msg { flags, .. } if flags & message::MORE_TO_COME != 0);
        let (response_to, legacy, command) = match into_command(request) {
            Ok(parts) => parts,
            Err((response_to, legacy, error)) => {
                if silent {
                    continue;
                }
                let reply = error.to_document();
                if write_reply(&mut writer, &shared, next_id, response_to, legacy, &reply)
                    .await
                    .is_err()
                {
                    return;
                }
                next_id = next_id.wrapping_add(1);
                continue;
            }
        };
        let mut ctx = Ctx {
            shared: &shared,
            conn: &mut conn,
            cmd: &command,
            drop_reply: false,
        };
        let reply = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            reply = dispatch::run(&mut ctx) => reply,
        };
        if ctx.drop_reply {
            // Part of a header, then nothing: the client reads an unexpected end of stream.
            let _ = writer.write_all(&[0x10, 0, 0, 0, 0, 0]).await;
            let _ = writer.shutdown().await;
            return;
        }
        if silent {
            continue;
        }
        if write_reply(&mut writer, &shared, next_id, response_to, legacy, &reply)
            .await
            .is_err()
        {
            return;
        }
        next_id = next_id.wrapping_add(1);
    }
}

async fn write_reply(
    writer: &mut OwnedWriteHalf,
    shared: &Shared,
    request_id: i32,
    response_to: i32,
    legacy: bool,
    reply: &Document,
) -> std::io::Result<()> {
    let delay = shared.reply_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let bytes = if legacy {
        message::encode_reply(request_id, response_to, reply)
    } else {
        message::encode_msg(request_id, response_to, false, reply)
    };
    writer.write_all(&bytes).await
}

type Refused = (i32, bool, CommandError);

/// The request as a command: its name, database, body and document sequences.
fn into_command(request: Request) -> Result<(i32, bool, Command), Refused> {
    match request {
        Request::Msg {
            request_id,
            body,
            sequences,
            ..
        } => {
            let Some(name) = body.keys().next().cloned() else {
                return Err((
                    request_id,
                    false,
                    CommandError::new(59, "no command name in an empty document"),
                ));
            };
            let Ok(db) = body.get_str("$db").map(str::to_owned) else {
                return Err((
                    request_id,
                    false,
                    CommandError::new(40571, "OP_MSG requests require a $db argument"),
                ));
            };
            Ok((
                request_id,
                false,
                Command {
                    name,
                    db,
                    body,
                    sequences,
                },
            ))
        }
        Request::Query {
            request_id,
            collection,
            query,
        } => {
            let Some(db) = collection.strip_suffix(".$cmd") else {
                return Err((
                    request_id,
                    true,
                    CommandError::new(
                        5739101,
                        "OP_QUERY is no longer supported except for commands on <db>.$cmd",
                    ),
                ));
            };
            let Some(name) = query.keys().next().cloned() else {
                return Err((
                    request_id,
                    true,
                    CommandError::new(59, "no command name in an empty document"),
                ));
            };
            // Only the handshake may use OP_QUERY, as with MongoDB 6.0 and later.
            let handshake = matches!(
                name.to_ascii_lowercase().as_str(),
                "ismaster" | "hello" | "saslstart" | "saslcontinue" | "buildinfo" | "ping"
            );
            if !handshake {
                return Err((
                    request_id,
                    true,
                    CommandError::new(
                        352,
                        format!(
                            "Unsupported OP_QUERY command: {name}. The client driver may require an upgrade."
                        ),
                    ),
                ));
            }
            Ok((
                request_id,
                true,
                Command {
                    name,
                    db: db.to_owned(),
                    body: query,
                    sequences: Vec::new(),
                },
            ))
        }
    }
}
