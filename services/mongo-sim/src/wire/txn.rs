//! Sessions and transactions: `lsid` + `txnNumber` + `autocommit: false` statements applied to
//! the state at once and undone on abort, their change events recorded at commit with the
//! session's id and transaction number; retryable writes answered once per `txnNumber`;
//! `commitTransaction`, `abortTransaction`, `endSessions`. A standalone server refuses every
//! `txnNumber`.
//!
//! Isolation is coarser than MongoDB's snapshot reads: other readers see a transaction's writes
//! before it commits. Writers do not: a document an open transaction wrote is locked, another
//! transaction touching it gets `WriteConflict`, and a plain write waits for it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo::port::SessionId;

use super::dispatch::Ctx;
use super::errors::{
    CommandError, CommandResult, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
};
use super::lock;
use crate::faults::too_large_for_cache;
use crate::order::Key;
use crate::state::State;
use crate::writes::{Change, record, undo};

/// How long a transaction may stay open (`transactionLifetimeLimitSeconds`).
const LIFETIME: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(crate) struct Sessions {
    map: HashMap<SessionId, SessionEntry>,
}

impl Sessions {
    /// Aborts every open transaction (the primary stepped down).
    pub(crate) fn abort_all(&mut self, state: &mut State) {
        for entry in self.map.values_mut() {
            abort_open(state, entry);
        }
    }
}

#[derive(Default)]
struct SessionEntry {
    /// The highest `txnNumber` the session has used.
    txn_number: i64,
    txn: TxnState,
    /// The last retryable write's number and reply, answered again to a retry.
    retryable: Option<(i64, Document)>,
}

#[derive(Default)]
enum TxnState {
    #[default]
    None,
    Open(OpenTxn),
    Committed,
    Aborted,
}

struct OpenTxn {
    started: Instant,
    groups: Vec<DbGroup>,
    /// The documents this transaction wrote: `(db, collection, _id)`.
    locks: Vec<(String, String, Key)>,
}

/// A transaction's writes to one database, in order.
struct DbGroup {
    db: String,
    existed: bool,
    created: Vec<String>,
    changes: Vec<Option<Change>>,
}

/// How a write statement runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    Plain,
    /// A retryable write: `lsid` and `txnNumber`, no `autocommit`.
    Retryable {
        session: SessionId,
        txn_number: i64,
    },
    Transaction {
        session: SessionId,
        txn_number: i64,
    },
}

impl Mode {
    pub(crate) fn session(&self) -> Option<&SessionId> {
        match self {
            Mode::Plain => None,
            Mode::Retryable { session, .. } | Mode::Transaction { session, .. } => Some(session),
        }
    }
}

/// The mode of the command, and for a transaction's first statement, the new transaction.
pub(crate) fn begin(ctx: &Ctx<'_>) -> Result<Mode, CommandError> {
    let cmd = ctx.cmd;
    let txn_number = match cmd.body.get("txnNumber") {
        None => return Ok(Mode::Plain),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(_) => return Err(CommandError::type_mismatch("txnNumber must be a long")),
    };
    refuse_on_standalone(ctx)?;
    let session = cmd.session().ok_or_else(|| {
        CommandError::new(50768, "Transaction number requires a session id (lsid)")
    })?;
    let in_transaction = matches!(cmd.body.get("autocommit"), Some(Bson::Boolean(false)));
    if !in_transaction {
        return Ok(Mode::Retryable {
            session,
            txn_number,
        });
    }
    let start = cmd.flag("startTransaction");
    // Sim state first, then sessions (the lock order everywhere): starting a newer transaction
    // may have to undo the older one's writes.
    let mut state = ctx.shared.sim.lock();
    let mut sessions = lock(&ctx.shared.sessions);
    let entry = sessions.map.entry(session.clone()).or_default();
    if txn_number < entry.txn_number {
        return Err(CommandError::new(
            225,
            format!(
                "Cannot start transaction {txn_number} on session because a newer transaction {} has already started",
                entry.txn_number
            ),
        ));
    }
    if start {
        if txn_number == entry.txn_number && !matches!(entry.txn, TxnState::None) {
            return Err(CommandError::new(
                251,
                format!("Given transaction number {txn_number} does not match any in-progress transactions"),
            )
            .label(TRANSIENT_TRANSACTION_ERROR));
        }
        // A newer transaction on the session aborts the one still open, as MongoDB does: its
        // writes vanish and the documents it held are free again.
        abort_open(&mut state, entry);
        entry.txn_number = txn_number;
        entry.txn = TxnState::Open(OpenTxn {
            started: Instant::now(),
            groups: Vec::new(),
            locks: Vec::new(),
        });
    } else if txn_number != entry.txn_number || !matches!(entry.txn, TxnState::Open(_)) {
        return Err(no_such_transaction(txn_number));
    }
    Ok(Mode::Transaction {
        session,
        txn_number,
    })
}

/// A standalone server has no transactions and no retryable writes: MongoDB refuses any command
/// carrying `txnNumber` before running it.
fn refuse_on_standalone(ctx: &Ctx<'_>) -> Result<(), CommandError> {
    if ctx.shared.sim.standalone() {
        return Err(CommandError::new(
            20,
            "Transaction numbers are only allowed on a replica set member or mongos",
        ));
    }
    Ok(())
}

fn no_such_transaction(txn_number: i64) -> CommandError {
    CommandError::new(
        251,
        format!("Transaction with {{ txnNumber: {txn_number} }} has been aborted."),
    )
    .label(TRANSIENT_TRANSACTION_ERROR)
}

/// A retry of a retryable write already answered: the same reply, nothing applied again.
pub(crate) fn retried(ctx: &Ctx<'_>, mode: &Mode) -> Option<Document> {
    let Mode::Retryable {
        session,
        txn_number,
    } = mode
    else {
        return None;
    };
    let sessions = lock(&ctx.shared.sessions);
    match &sessions.map.get(session)?.retryable {
        Some((n, reply)) if n == txn_number => {
            let mut reply = reply.clone();
            reply.insert("retriedStmtIds", Vec::<i32>::new());
            Some(reply)
        }
        _ => None,
    }
}

pub(crate) fn remember(ctx: &Ctx<'_>, mode: &Mode, reply: &Document) {
    if let Mode::Retryable {
        session,
        txn_number,
    } = mode
    {
        let mut sessions = lock(&ctx.shared.sessions);
        let entry = sessions.map.entry(session.clone()).or_default();
        entry.txn_number = entry.txn_number.max(*txn_number);
        entry.retryable = Some((*txn_number, reply.clone()));
    }
}

/// Whether another open transaction holds `(db, collection, id)`. Transactions past their
/// lifetime are aborted on the way.
pub(crate) fn locked_by_other(
    ctx: &Ctx<'_>,
    state: &mut State,
    mine: Option<&SessionId>,
    db: &str,
    collection: &str,
    id: &Key,
) -> bool {
    let mut sessions = lock(&ctx.shared.sessions);
    let mut expired = Vec::new();
    let mut held = false;
    for (session, entry) in &sessions.map {
        if Some(session) == mine {
            continue;
        }
        if let TxnState::Open(txn) = &entry.txn
            && txn
                .locks
                .iter()
                .any(|(d, c, k)| d == db && c == collection && k == id)
        {
            if txn.started.elapsed() > LIFETIME {
                expired.push(session.clone());
            } else {
                held = true;
            }
        }
    }
    for session in expired {
        if let Some(entry) = sessions.map.get_mut(&session) {
            abort_open(state, entry);
        }
    }
    held
}

/// Adds one statement's change to the open transaction (applied already, recorded at commit).
pub(crate) fn add_change(
    ctx: &Ctx<'_>,
    session: &SessionId,
    db: &str,
    db_existed: bool,
    created: Option<&str>,
    change: Option<Change>,
) {
    let mut sessions = lock(&ctx.shared.sessions);
    let Some(SessionEntry {
        txn: TxnState::Open(txn),
        ..
    }) = sessions.map.get_mut(session)
    else {
        return;
    };
    let index = match txn.groups.iter().position(|g| g.db == db) {
        Some(index) => index,
        None => {
            txn.groups.push(DbGroup {
                db: db.to_owned(),
                existed: db_existed,
                created: Vec::new(),
                changes: Vec::new(),
            });
            txn.groups.len() - 1
        }
    };
    let group = &mut txn.groups[index];
    if let Some(name) = created {
        group.created.push(name.to_owned());
    }
    if let Some(change) = &change
        && let Some(id) = change.key.get("_id")
    {
        txn.locks
            .push((db.to_owned(), change.collection.clone(), Key(id.clone())));
    }
    group.changes.push(change);
}

/// Undoes the session's open transaction, if it has one (a committed one stays committed).
fn abort_open(state: &mut State, entry: &mut SessionEntry) {
    if !matches!(entry.txn, TxnState::Open(_)) {
        return;
    }
    if let TxnState::Open(txn) = std::mem::replace(&mut entry.txn, TxnState::Aborted) {
        for group in txn.groups.iter().rev() {
            undo(
                state,
                &group.db,
                &group.changes,
                &group.created,
                group.existed,
            );
        }
    }
}

/// Aborts the session's open transaction (after a failed statement or a stepdown).
pub(crate) fn abort_session(ctx: &Ctx<'_>, state: &mut State, session: &SessionId) {
    let mut sessions = lock(&ctx.shared.sessions);
    if let Some(entry) = sessions.map.get_mut(session) {
        abort_open(state, entry);
    }
}

fn txn_of(ctx: &Ctx<'_>) -> Result<(SessionId, i64), CommandError> {
    if ctx.cmd.body.contains_key("txnNumber") {
        refuse_on_standalone(ctx)?;
    }
    let session = ctx.cmd.session().ok_or_else(|| {
        CommandError::new(
            50768,
            format!("{} must be run within a session", ctx.cmd.name),
        )
    })?;
    let txn_number = match ctx.cmd.body.get("txnNumber") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        _ => {
            return Err(CommandError::new(
                50768,
                format!("{} must be run within a transaction", ctx.cmd.name),
            ));
        }
    };
    Ok((session, txn_number))
}

/// A stepdown the simulator was told to cause, if one is due: the topology changes, and the
/// caller answers `NotWritablePrimary` with this error.
pub(crate) fn step_down(ctx: &Ctx<'_>, state: &mut State) -> Option<CommandError> {
    if state.faults.step_down == 0 {
        return None;
    }
    state.faults.step_down -= 1;
    ctx.shared.change_topology();
    let mut error = CommandError::new(10107, "not primary (the primary stepped down)");
    error.extra = Some(Box::new(doc! {
        "topologyVersion": {
            "processId": ctx.shared.process_id,
            "counter": ctx.shared.topology_counter(),
        }
    }));
    Some(error)
}

pub(crate) fn commit(ctx: &mut Ctx<'_>) -> CommandResult {
    let (session, txn_number) = txn_of(ctx)?;
    let mut state = ctx.shared.sim.lock();
    let mut sessions = lock(&ctx.shared.sessions);
    let Some(entry) = sessions.map.get_mut(&session) else {
        return Err(no_such_transaction(txn_number));
    };
    if txn_number < entry.txn_number {
        return Err(CommandError::new(
            225,
            format!(
                "txnNumber {txn_number} is less than last txnNumber {} seen in session",
                entry.txn_number
            ),
        ));
    }
    if txn_number > entry.txn_number {
        return Err(no_such_transaction(txn_number));
    }
    match &entry.txn {
        // Committing again is how a driver learns the outcome it missed.
        TxnState::Committed => return Ok(Document::new()),
        TxnState::Aborted | TxnState::None => return Err(no_such_transaction(txn_number)),
        TxnState::Open(_) => {}
    }
    let changed = match &entry.txn {
        TxnState::Open(txn) => txn.groups.iter().map(|g| g.changes.len()).sum(),
        _ => 0,
    };
    drop(sessions);
    if let Some(error) = step_down(ctx, &mut state) {
        abort_session(ctx, &mut state, &session);
        return Err(error.label(RETRYABLE_WRITE_ERROR));
    }
    if let Some((code, message)) = too_large_for_cache(&state.faults, changed) {
        abort_session(ctx, &mut state, &session);
        return Err(CommandError::new(code, message));
    }
    let mut sessions = lock(&ctx.shared.sessions);
    let Some(entry) = sessions.map.get_mut(&session) else {
        return Err(no_such_transaction(txn_number));
    };
    let TxnState::Open(txn) = std::mem::replace(&mut entry.txn, TxnState::Committed) else {
        return Err(no_such_transaction(txn_number));
    };
    for group in txn.groups {
        for change in group.changes {
            record(
                &mut state,
                &group.db,
                change,
                Some(&session),
                Some(txn_number),
            );
        }
    }
    if state.faults.commit_unknown > 0 {
        // Applied, but the answer is lost: the connection closes instead.
        state.faults.commit_unknown -= 1;
        ctx.drop_reply = true;
    }
    Ok(Document::new())
}

pub(crate) fn abort(ctx: &mut Ctx<'_>) -> CommandResult {
    let (session, txn_number) = txn_of(ctx)?;
    let mut state = ctx.shared.sim.lock();
    let mut sessions = lock(&ctx.shared.sessions);
    let Some(entry) = sessions.map.get_mut(&session) else {
        return Err(no_such_transaction(txn_number));
    };
    if txn_number != entry.txn_number {
        return Err(no_such_transaction(txn_number));
    }
    match entry.txn {
        TxnState::Open(_) => {
            abort_open(&mut state, entry);
            Ok(Document::new())
        }
        TxnState::Committed => Err(CommandError::new(
            256,
            "Cannot abort a transaction that has been committed",
        )),
        TxnState::Aborted | TxnState::None => Err(no_such_transaction(txn_number)),
    }
}

/// `endSessions`: the sessions' open transactions are aborted and their state forgotten.
pub(crate) fn end_sessions(ctx: &mut Ctx<'_>) -> Document {
    let ids: Vec<SessionId> = match ctx.cmd.body.get("endSessions") {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Bson::Document(lsid) => SessionId::from_lsid(lsid),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut state = ctx.shared.sim.lock();
    let mut sessions = lock(&ctx.shared.sessions);
    for id in ids {
        if let Some(mut entry) = sessions.map.remove(&id) {
            abort_open(&mut state, &mut entry);
        }
    }
    Document::new()
}
