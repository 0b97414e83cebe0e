//! The command table: authentication and privileges, the simulator's faults, the command itself,
//! then `$clusterTime` and `operationTime` on the reply.

use std::time::Duration;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, Timestamp, doc};
use edgebridge_mongo::port::{Privilege, Resource, SessionId, allows};

use super::connection::Conn;
use super::errors::{CommandError, CommandResult};
use super::{Shared, admin, catalog, changes, cursors, find, hello, replication, txn, writes};
use crate::faults::take_queued;

/// One command as the client sent it.
pub(crate) struct Command {
    /// The first key of the body, as sent (`hello`, `isMaster`, `find`, ...).
    pub(crate) name: String,
    /// `$db`.
    pub(crate) db: String,
    pub(crate) body: Document,
    /// OP_MSG document sequences (`documents`, `updates`, `deletes`).
    pub(crate) sequences: Vec<(String, Vec<Document>)>,
}

impl Command {
    /// The collection a command names in its first field (`{find: "orders"}`).
    pub(crate) fn collection(&self) -> Result<String, CommandError> {
        match self.body.get(&self.name) {
            Some(Bson::String(name)) if !name.is_empty() => Ok(name.clone()),
            Some(Bson::String(_)) => Err(CommandError::new(73, "Invalid namespace specified")),
            _ => Err(CommandError::new(
                73,
                format!(
                    "collection name has invalid type {}",
                    type_name(self.body.get(&self.name))
                ),
            )),
        }
    }

    /// An array of documents given in the body or as a document sequence.
    pub(crate) fn documents(&self, field: &str) -> Result<Vec<Document>, CommandError> {
        if let Some((_, docs)) = self.sequences.iter().find(|(name, _)| name == field) {
            return Ok(docs.clone());
        }
        match self.body.get(field) {
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Bson::Document(doc) => Ok(doc.clone()),
                    other => Err(CommandError::type_mismatch(format!(
                        "BSON field '{}.{field}' is the wrong type '{}', expected type 'object'",
                        self.name,
                        type_name(Some(other))
                    ))),
                })
                .collect(),
            None => Err(CommandError::new(
                40414,
                format!(
                    "BSON field '{}.{field}' is missing but a required field",
                    self.name
                ),
            )),
            Some(other) => Err(CommandError::type_mismatch(format!(
                "BSON field '{}.{field}' is the wrong type '{}', expected type 'array'",
                self.name,
                type_name(Some(other))
            ))),
        }
    }

    /// The logical session (`lsid.id`), when the command runs in one.
    pub(crate) fn session(&self) -> Option<SessionId> {
        SessionId::from_lsid(self.body.get_document("lsid").ok()?)
    }

    /// A non-negative integer option, with MongoDB's number types.
    pub(crate) fn int(&self, field: &str) -> Result<Option<i64>, CommandError> {
        match self.body.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(value) => integer(value).map(Some).ok_or_else(|| {
                CommandError::type_mismatch(format!(
                    "BSON field '{}.{field}' is the wrong type '{}', expected a number",
                    self.name,
                    type_name(Some(value))
                ))
            }),
        }
    }

    pub(crate) fn flag(&self, field: &str) -> bool {
        match self.body.get(field) {
            Some(Bson::Boolean(b)) => *b,
            Some(value) => integer(value).is_some_and(|i| i != 0),
            None => false,
        }
    }
}

pub(crate) fn integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        _ => None,
    }
}

/// MongoDB's name of a value's type, as its error messages use.
pub(crate) fn type_name(value: Option<&Bson>) -> &'static str {
    match value {
        None => "missing",
        Some(Bson::Double(_)) => "double",
        Some(Bson::String(_)) => "string",
        Some(Bson::Document(_)) => "object",
        Some(Bson::Array(_)) => "array",
        Some(Bson::Binary(_)) => "binData",
        Some(Bson::ObjectId(_)) => "objectId",
        Some(Bson::Boolean(_)) => "bool",
        Some(Bson::DateTime(_)) => "date",
        Some(Bson::Null) => "null",
        Some(Bson::RegularExpression(_)) => "regex",
        Some(Bson::Int32(_)) => "int",
        Some(Bson::Timestamp(_)) => "timestamp",
        Some(Bson::Int64(_)) => "long",
        Some(Bson::Decimal128(_)) => "decimal",
        Some(_) => "unknown",
    }
}

/// A command being run on one connection.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) conn: &'a mut Conn,
    pub(crate) cmd: &'a Command,
    /// Set by a fault: close the connection instead of answering.
    pub(crate) drop_reply: bool,
}

impl Ctx<'_> {
    /// The authenticated user's privileges; `None` when access control is off.
    pub(crate) fn privileges(&self) -> Option<Vec<Privilege>> {
        let state = self.shared.sim.lock();
        if state.users.is_empty() {
            return None;
        }
        let name = self.conn.user.as_deref()?;
        Some(
            state
                .users
                .iter()
                .find(|u| u.name == name)
                .map(|u| u.privileges.clone())
                .unwrap_or_default(),
        )
    }

    /// Refuses the command unless the user may do `action` on `db`.`collection`.
    pub(crate) fn require(
        &self,
        action: &str,
        db: &str,
        collection: Option<&str>,
    ) -> Result<(), CommandError> {
        match self.privileges() {
            Some(privileges) if !allows(&privileges, action, db, collection) => {
                Err(CommandError::new(
                    13,
                    format!(
                        "not authorized on {db} to execute command {{ {}: {} }}",
                        self.cmd.name,
                        self.cmd
                            .body
                            .get(&self.cmd.name)
                            .map_or_else(|| "1".to_owned(), ToString::to_string)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Commands that need no authentication, as on MongoDB.
fn open_to_all(name: &str) -> bool {
    matches!(
        name,
        "hello"
            | "isMaster"
            | "ismaster"
            | "saslStart"
            | "saslContinue"
            | "ping"
            | "buildInfo"
            | "buildinfo"
            | "endSessions"
    )
}

/// Commands the simulator's faults do not touch: the handshake, monitoring and cleanup (a
/// fault stands for what the application's own operations run into).
fn exempt_from_faults(name: &str) -> bool {
    matches!(
        name,
        "hello"
            | "isMaster"
            | "ismaster"
            | "saslStart"
            | "saslContinue"
            | "buildInfo"
            | "buildinfo"
            | "endSessions"
            | "killCursors"
            | "abortTransaction"
    )
}

/// Runs the command and returns the reply to send (an error reply on failure).
pub(crate) async fn run(ctx: &mut Ctx<'_>) -> Document {
    let mut reply = match execute(ctx).await {
        Ok(mut reply) => {
            if !reply.contains_key("ok") {
                reply.insert("ok", 1.0);
            }
            replication::acknowledge(ctx, &mut reply).await;
            reply
        }
        Err(error) => error.to_document(),
    };
    let time = ctx.shared.sim.lock().clock;
    reply.insert("$clusterTime", cluster_time(time));
    reply.insert("operationTime", time);
    reply
}

pub(crate) fn cluster_time(time: Timestamp) -> Document {
    doc! {
        "clusterTime": time,
        "signature": {
            "hash": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 20] },
            "keyId": 0_i64,
        },
    }
}

async fn execute(ctx: &mut Ctx<'_>) -> CommandResult {
    let name = ctx.cmd.name.clone();
    let access_control = !ctx.shared.sim.lock().users.is_empty();
    if access_control && ctx.conn.user.is_none() && !open_to_all(&name) {
        return Err(CommandError::new(
            13,
            format!("Command {name} requires authentication"),
        ));
    }
    if !exempt_from_faults(&name) {
        begin(ctx).await?;
        if ctx.drop_reply {
            return Ok(Document::new());
        }
        replication::require_primary(ctx)?;
    }
    match name.as_str() {
        "hello" | "isMaster" | "ismaster" => hello::hello(ctx).await,
        "saslStart" => admin::sasl_start(ctx),
        "saslContinue" => admin::sasl_continue(ctx),
        "ping" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(admin::build_info()),
        "connectionStatus" => Ok(admin::connection_status(ctx)),
        "endSessions" => Ok(txn::end_sessions(ctx)),
        "listDatabases" => admin::list_databases(ctx),
        "dropDatabase" => catalog::drop_database(ctx),
        "listCollections" => catalog::list_collections(ctx),
        "create" => catalog::create(ctx),
        "collMod" => catalog::coll_mod(ctx),
        "drop" => catalog::drop(ctx),
        "createIndexes" => catalog::create_indexes(ctx),
        "listIndexes" => catalog::list_indexes(ctx),
        "find" => find::find(ctx),
        "count" => find::count(ctx),
        "aggregate" => {
            if changes::is_change_stream(ctx.cmd) {
                changes::aggregate(ctx).await
            } else {
                find::aggregate(ctx)
            }
        }
        "getMore" => cursors::get_more(ctx).await,
        "killCursors" => cursors::kill_cursors(ctx),
        "insert" => writes::insert(ctx).await,
        "update" => writes::update(ctx).await,
        "delete" => writes::delete(ctx).await,
        "commitTransaction" => txn::commit(ctx),
        "abortTransaction" => txn::abort(ctx),
        other => Err(CommandError::new(59, format!("no such command: '{other}'"))),
    }
}

/// What every operation of the application meets first: the operation log, a slow server, a
/// dropped connection.
async fn begin(ctx: &mut Ctx<'_>) -> Result<(), CommandError> {
    let what = match ctx.cmd.collection() {
        Ok(collection) if ctx.cmd.name != "ping" => {
            format!("{} {}.{collection}", ctx.cmd.name, ctx.cmd.db)
        }
        _ => ctx.cmd.name.clone(),
    };
    let delay = {
        let mut state = ctx.shared.sim.lock();
        state.note(what);
        take_queued(&mut state.faults);
        let mut delay = None;
        if let Some((count, d)) = state.faults.slow.as_mut() {
            delay = Some(*d);
            *count -= 1;
            if *count == 0 {
                state.faults.slow = None;
            }
        }
        delay
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut state = ctx.shared.sim.lock();
    if state.faults.drop_connection > 0 {
        state.faults.drop_connection -= 1;
        take_queued(&mut state.faults);
        ctx.drop_reply = true;
        return Ok(());
    }
    let ppm = state.faults.random_drop_ppm;
    if ppm > 0 && state.random() % 1_000_000 < u64::from(ppm) {
        ctx.drop_reply = true;
    }
    Ok(())
}

/// `{id: UUID}` as the server puts it on change events, with the user's `uid` digest.
pub(crate) fn lsid_document(id: &SessionId) -> Document {
    doc! {
        "id": Binary { subtype: BinarySubtype::Uuid, bytes: id.0.clone() },
        "uid": Binary { subtype: BinarySubtype::Generic, bytes: vec![0; 32] },
    }
}

/// The `maxTimeMS`/`maxAwaitTimeMS` style duration option, if given.
pub(crate) fn millis(cmd: &Command, field: &str) -> Result<Option<Duration>, CommandError> {
    Ok(cmd
        .int(field)?
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
}

/// `Resource` of a privilege as `connectionStatus` shows it.
pub(crate) fn resource_document(resource: &Resource) -> Document {
    match resource {
        Resource::Cluster => doc! {"cluster": true},
        Resource::AnyResource => doc! {"anyResource": true},
        Resource::Namespace { db, collection } => doc! {"db": db, "collection": collection},
    }
}
