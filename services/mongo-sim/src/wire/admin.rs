//! Server commands: authentication (`saslStart`, `saslContinue`), `buildInfo`,
//! `connectionStatus` and `listDatabases`.

use std::collections::BTreeSet;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_mongo::port::Resource;

use super::dispatch::{Ctx, resource_document};
use super::errors::{CommandError, CommandResult};
use super::hello::{MAX_BSON_OBJECT_SIZE, MAX_WIRE_VERSION};
use super::scram::{Conversation, Mechanism, Step};

/// The one answer to every authentication failure: it never says which part was wrong.
fn authentication_failed() -> CommandError {
    CommandError::new(18, "Authentication failed.")
}

fn payload(body: &Document) -> Result<Vec<u8>, CommandError> {
    match body.get("payload") {
        Some(Bson::Binary(binary)) => Ok(binary.bytes.clone()),
        // Some clients send the payload as a string.
        Some(Bson::String(text)) => Ok(text.as_bytes().to_vec()),
        _ => Err(CommandError::new(
            40414,
            "BSON field 'saslStart.payload' is missing but a required field",
        )),
    }
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

pub(crate) fn sasl_start(ctx: &mut Ctx<'_>) -> CommandResult {
    let body = &ctx.cmd.body;
    let mechanism_name = body.get_str("mechanism").unwrap_or_default();
    let Some(mechanism) = Mechanism::parse(mechanism_name) else {
        return Err(CommandError::new(
            334,
            format!("Received authentication for mechanism {mechanism_name} which is not enabled"),
        ));
    };
    let client_first = payload(body)?;
    let skip = body
        .get_document("options")
        .ok()
        .and_then(|o| o.get_bool("skipEmptyExchange").ok())
        .unwrap_or(false);
    let sim = ctx.shared.sim.clone();
    let (conversation, server_first) =
        Conversation::start(mechanism, &client_first, skip, &ctx.shared.scram, |name| {
            sim.password_of(name)
        })
        .map_err(|why| {
            tracing::debug!(reason = %why, "SCRAM start refused");
            authentication_failed()
        })?;
    ctx.conn.conversation = Some(conversation);
    ctx.conn.user = None;
    Ok(doc! {
        "conversationId": 1,
        "done": false,
        "payload": binary(server_first),
    })
}

pub(crate) fn sasl_continue(ctx: &mut Ctx<'_>) -> CommandResult {
    let conversation_id = ctx.cmd.body.get("conversationId").cloned();
    let client = payload(&ctx.cmd.body)?;
    let Some(conversation) = ctx.conn.conversation.as_mut() else {
        return Err(CommandError::new(17, "No SASL session state found"));
    };
    let step = conversation.next(&client).map_err(|why| {
        tracing::debug!(reason = %why, "SCRAM conversation refused");
        authentication_failed()
    });
    let step = match step {
        Ok(step) => step,
        Err(error) => {
            ctx.conn.conversation = None;
            return Err(error);
        }
    };
    let (done, bytes) = match step {
        Step::Continue(bytes) => (false, bytes),
        Step::Done(bytes) => (true, bytes),
    };
    if done {
        let user = ctx
            .conn
            .conversation
            .take()
            .and_then(|c| c.user().map(str::to_owned));
        ctx.conn.user = user;
    }
    Ok(doc! {
        "conversationId": conversation_id.unwrap_or(Bson::Int32(1)),
        "done": done,
        "payload": binary(bytes),
    })
}

/// What a MongoDB 8.0 server says of itself. `edgebridgeSimulator` marks the answer as ours.
pub(crate) fn build_info() -> Document {
    doc! {
        "version": "8.0.4",
        "gitVersion": "edgebridge-simulator",
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "versionArray": [8, 0, 4, 0],
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["inMemory"],
        "maxWireVersion": MAX_WIRE_VERSION,
        "edgebridgeSimulator": true,
    }
}

pub(crate) fn connection_status(ctx: &mut Ctx<'_>) -> Document {
    let show = ctx.cmd.flag("showPrivileges");
    let mut info = match (&ctx.conn.user, ctx.privileges()) {
        (Some(user), Some(privileges)) => {
            let mut info = doc! {
                "authenticatedUsers": [{"user": user.clone(), "db": "admin"}],
                "authenticatedUserRoles": [],
            };
            if show {
                let list: Vec<Document> = privileges
                    .iter()
                    .map(|p| {
                        doc! {
                            "resource": resource_document(&p.resource),
                            "actions": p.actions.iter().cloned().collect::<Vec<_>>(),
                        }
                    })
                    .collect();
                info.insert("authenticatedUserPrivileges", list);
            }
            info
        }
        // Without access control nobody is authenticated, and nothing is listed.
        _ => doc! {"authenticatedUsers": [], "authenticatedUserRoles": []},
    };
    if show && !info.contains_key("authenticatedUserPrivileges") {
        info.insert("authenticatedUserPrivileges", Vec::<Document>::new());
    }
    doc! {"authInfo": info}
}

pub(crate) fn list_databases(ctx: &mut Ctx<'_>) -> CommandResult {
    if ctx.cmd.db != "admin" {
        return Err(CommandError::new(
            13,
            "listDatabases may only be run against the admin database.",
        ));
    }
    let name_only = ctx.cmd.flag("nameOnly");
    let authorized_only = match ctx.cmd.body.get("authorizedDatabases") {
        Some(Bson::Boolean(b)) => Some(*b),
        _ => None,
    };
    let privileges = ctx.privileges();
    let (names, sizes): (Vec<String>, Vec<usize>) = {
        let state = ctx.shared.sim.lock();
        state
            .databases
            .iter()
            .map(|(name, colls)| {
                (
                    name.clone(),
                    colls.values().map(|c| c.docs.len()).sum::<usize>(),
                )
            })
            .unzip()
    };
    let mut visible: Vec<(String, usize)> = names.into_iter().zip(sizes).collect();
    if let Some(privileges) = privileges {
        let cluster_wide = privileges.iter().any(|p| {
            p.actions.contains("listDatabases")
                && matches!(p.resource, Resource::Cluster | Resource::AnyResource)
        });
        if !cluster_wide && authorized_only == Some(false) {
            return Err(CommandError::new(
                13,
                "not authorized on admin to execute command { listDatabases: 1 }",
            ));
        }
        // Without the cluster-wide action (or when asked), the databases the user holds
        // privileges on: `authorizedDatabases`, which never refuses.
        if !cluster_wide || authorized_only == Some(true) {
            let any_db = privileges.iter().any(|p| {
                matches!(&p.resource, Resource::Namespace { db, .. } if db.is_empty())
                    || p.resource == Resource::AnyResource
            });
            if !any_db {
                let authorized: BTreeSet<String> = privileges
                    .iter()
                    .filter_map(|p| match &p.resource {
                        Resource::Namespace { db, .. } if !db.is_empty() => Some(db.clone()),
                        _ => None,
                    })
                    .collect();
                visible.retain(|(name, _)| authorized.contains(name));
            }
        }
    }
    let total: usize = visible.iter().map(|(_, n)| n * 1024).sum();
    let databases: Vec<Document> = visible
        .into_iter()
        .map(|(name, docs)| {
            if name_only {
                doc! {"name": name}
            } else {
                doc! {
                    "name": name,
                    "sizeOnDisk": i64::try_from(docs * 1024).unwrap_or(i64::MAX),
                    "empty": docs == 0,
                }
            }
        })
        .collect();
    let mut reply = doc! {"databases": databases};
    if !name_only {
        reply.insert("totalSize", i64::try_from(total).unwrap_or(i64::MAX));
        reply.insert(
            "totalSizeMb",
            i64::try_from(total >> 20).unwrap_or(i64::MAX),
        );
    }
    Ok(reply)
}
