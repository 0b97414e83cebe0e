//! `hello` (and the legacy `isMaster`): the replica set as a driver discovers it (or a standalone
//! server, see `Simulator::set_standalone`), awaitable `hello` for streaming monitors, and the
//! mechanisms and speculative start of authentication.

use std::time::Duration;

use bson::{Bson, DateTime, Document, doc};

use super::dispatch::{Ctx, millis};
use super::errors::{CommandError, CommandResult};
use super::message::MAX_MESSAGE_BYTES;
use super::scram::{Conversation, Mechanism};

/// MongoDB 8.0's wire version.
pub(crate) const MAX_WIRE_VERSION: i32 = 25;
pub(crate) const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;
pub(crate) const MAX_WRITE_BATCH_SIZE: i32 = 100_000;

pub(crate) async fn hello(ctx: &mut Ctx<'_>) -> CommandResult {
    let cmd = ctx.cmd;
    // An awaitable hello: answer when the topology changes, or after maxAwaitTimeMS.
    if let Ok(version) = cmd.body.get_document("topologyVersion") {
        let max_await = millis(cmd, "maxAwaitTimeMS")?.ok_or_else(|| {
            CommandError::new(9, "topologyVersion must be provided with maxAwaitTimeMS")
        })?;
        let same_process = version.get_object_id("processId").ok() == Some(ctx.shared.process_id);
        let counter = version.get_i64("counter").unwrap_or(-1);
        // Created before the counter is read, so a change right after the read still wakes it.
        let changed = ctx.shared.topology_changed.notified();
        if same_process && counter == ctx.shared.topology_counter() {
            let _ = tokio::time::timeout(max_await.min(Duration::from_secs(60)), changed).await;
        }
    }
    let legacy = cmd.name != "hello";
    let shared = ctx.shared;
    let (time, members) = {
        let state = shared.sim.lock();
        (state.clock, state.members.clone())
    };
    // A standalone `mongod` says nothing of a replica set: no set name, hosts, primary,
    // election or replication progress (drivers then see a standalone server).
    let standalone = shared.sim.standalone() || shared.sim.mongos();
    let mut reply = doc! {
        "topologyVersion": {
            "processId": shared.process_id,
            "counter": shared.topology_counter(),
        },
    };
    // A router names no replica set either, and says what it is.
    if shared.sim.mongos() {
        reply.insert("msg", "isdbgrid");
    }
    if !standalone {
        let mut hosts = vec![Bson::String(shared.me.clone())];
        hosts.extend(members.into_iter().map(Bson::String));
        reply.extend(doc! {
            "hosts": hosts,
            "setName": shared.replica_set.clone(),
            "setVersion": 1,
        });
    }
    // During an election (`Simulator::hold_election`) this member is a secondary that knows
    // of no primary.
    let primary = shared.is_primary();
    if legacy {
        reply.insert("ismaster", primary);
    } else {
        reply.insert("isWritablePrimary", primary);
    }
    let now = DateTime::now();
    if !standalone {
        reply.insert("secondary", !primary);
        if primary {
            reply.insert("primary", shared.me.clone());
        }
        reply.insert("me", shared.me.clone());
        if primary {
            reply.insert("electionId", shared.election_id());
        }
        let term = shared.term();
        reply.insert(
            "lastWrite",
            doc! {
                "opTime": {"ts": time, "t": term},
                "lastWriteDate": now,
                "majorityOpTime": {"ts": time, "t": term},
                "majorityWriteDate": now,
            },
        );
    }
    reply.extend(doc! {
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "maxMessageSizeBytes": i32::try_from(MAX_MESSAGE_BYTES).unwrap_or(i32::MAX),
        "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
        "localTime": now,
        // A standalone server has logical sessions too; only transactions need a replica set.
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": ctx.conn.id,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": false,
    });
    if cmd.flag("helloOk") {
        reply.insert("helloOk", true);
    }
    if let Ok(user) = cmd.body.get_str("saslSupportedMechs") {
        // "<db>.<user>": the mechanisms that user can authenticate with.
        let name = user.split_once('.').map_or(user, |(_, name)| name);
        if shared.sim.password_of(name).is_some() {
            reply.insert(
                "saslSupportedMechs",
                vec![Mechanism::Sha1.name(), Mechanism::Sha256.name()],
            );
        }
    }
    if let Ok(start) = cmd.body.get_document("speculativeAuthenticate")
        && let Some(answer) = speculative(ctx, start)
    {
        reply.insert("speculativeAuthenticate", answer);
    }
    Ok(reply)
}

/// The first step of a SASL conversation started inside `hello`. A failure leaves it out of the
/// reply: the client then authenticates the ordinary way and hears why.
fn speculative(ctx: &mut Ctx<'_>, start: &Document) -> Option<Document> {
    let mechanism = Mechanism::parse(start.get_str("mechanism").ok()?)?;
    let payload = match start.get("payload")? {
        Bson::Binary(binary) => binary.bytes.clone(),
        _ => return None,
    };
    let skip = start
        .get_document("options")
        .ok()
        .and_then(|o| o.get_bool("skipEmptyExchange").ok())
        .unwrap_or(false);
    let sim = ctx.shared.sim.clone();
    let (conversation, server_first) =
        Conversation::start(mechanism, &payload, skip, &ctx.shared.scram, |name| {
            sim.password_of(name)
        })
        .ok()?;
    ctx.conn.conversation = Some(conversation);
    Some(doc! {
        "conversationId": 1,
        "done": false,
        "payload": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: server_first },
    })
}
