//! What the replica set's state means for a command, as a real member answers it.
//!
//! During an election (`Simulator::hold_election`) this member is a secondary: writes and
//! commits fail with 10107 `NotWritablePrimary`, reads whose read preference wants the primary
//! with 13435 `NotPrimaryNoSecondaryOk`, each with the `topologyVersion` (as MongoDB 4.4+ sends
//! on state-change errors) and the labels a driver retries by.
//!
//! While the majority is unavailable (`Simulator::set_majority_unavailable`), a write whose
//! write concern needs a majority is applied, but its answer waits for the acknowledgement:
//! until `wtimeout`, then with `writeConcernError` 64, or without one until the majority is
//! back.

use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use tokio::time::Instant;

use super::dispatch::{Command, Ctx, integer};
use super::errors::{CommandError, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR, code_name};

/// Commands only a primary runs.
fn writes(name: &str) -> bool {
    matches!(
        name,
        "insert"
            | "update"
            | "delete"
            | "findAndModify"
            | "create"
            | "collMod"
            | "drop"
            | "dropDatabase"
            | "createIndexes"
            | "commitTransaction"
            | "abortTransaction"
    )
}

/// Reads a secondary serves only when the client's read preference allows it (`getMore`,
/// `killCursors` and the handshake it serves always).
fn secondary_reads(name: &str) -> bool {
    matches!(
        name,
        "find"
            | "count"
            | "distinct"
            | "aggregate"
            | "listCollections"
            | "listIndexes"
            | "listDatabases"
    )
}

/// Whether the read preference sent with the command lets a secondary answer (drivers send
/// `$readPreference` only when it is not `primary`).
fn secondary_ok(cmd: &Command) -> bool {
    cmd.body
        .get_document("$readPreference")
        .ok()
        .and_then(|pref| pref.get_str("mode").ok())
        .is_some_and(|mode| mode != "primary")
}

/// Refuses the command as a secondary would, when no member is primary.
pub(crate) fn require_primary(ctx: &Ctx<'_>) -> Result<(), CommandError> {
    let cmd = ctx.cmd;
    let name = cmd.name.as_str();
    let refused = writes(name) || (secondary_reads(name) && !secondary_ok(cmd));
    if !refused || ctx.shared.is_primary() {
        return Ok(());
    }
    let mut error = if writes(name) {
        CommandError::new(10107, "not primary")
    } else {
        CommandError::new(13435, "not primary and secondaryOk=false")
    };
    error.extra = Some(Box::new(doc! {
        "topologyVersion": {
            "processId": ctx.shared.process_id,
            "counter": ctx.shared.topology_counter(),
        }
    }));
    let in_transaction = matches!(cmd.body.get("autocommit"), Some(Bson::Boolean(false)));
    let ends_transaction = matches!(name, "commitTransaction" | "abortTransaction");
    if in_transaction && !ends_transaction {
        error = error.label(TRANSIENT_TRANSACTION_ERROR);
    } else if writes(name) && (ends_transaction || cmd.body.contains_key("txnNumber")) {
        error = error.label(RETRYABLE_WRITE_ERROR);
    }
    Err(error)
}

/// The write concern's `w` needs more than the primary: `"majority"` or 2 and up (a
/// primary-secondary-arbiter set has two data-bearing members).
fn needs_majority(write_concern: &Document) -> bool {
    match write_concern.get("w") {
        Some(Bson::String(w)) => w == "majority",
        Some(w) => integer(w).is_some_and(|n| n >= 2),
        None => false,
    }
}

/// Holds a successful write's answer until a majority acknowledges it, when the majority is
/// unavailable; adds `writeConcernError` when `wtimeout` passes first.
pub(crate) async fn acknowledge(ctx: &Ctx<'_>, reply: &mut Document) {
    let cmd = ctx.cmd;
    if !writes(&cmd.name) || ctx.drop_reply {
        return;
    }
    let Ok(write_concern) = cmd.body.get_document("writeConcern") else {
        return;
    };
    if !needs_majority(write_concern) {
        return;
    }
    // `wtimeout: 0` (or none) waits for ever.
    let wtimeout = write_concern
        .get("wtimeout")
        .and_then(integer)
        .filter(|ms| *ms > 0);
    let deadline =
        wtimeout.map(|ms| Instant::now() + Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
    loop {
        let restored = Arc::clone(&ctx.shared.sim.lock().faults.majority_restored);
        // Created before the flag is read, so clearing it right after still wakes it.
        let notified = restored.notified();
        if !ctx.shared.sim.lock().faults.majority_unavailable {
            return;
        }
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(deadline) => {
                        reply.insert("writeConcernError", timed_out(write_concern));
                        return;
                    }
                }
            }
            None => notified.await,
        }
    }
}

/// `writeConcernError` for a write concern not satisfied within `wtimeout`.
fn timed_out(write_concern: &Document) -> Document {
    let mut asked = write_concern.clone();
    asked.insert("provenance", "clientSupplied");
    doc! {
        "code": 64,
        "codeName": code_name(64),
        "errmsg": "waiting for replication timed out",
        "errInfo": {"wtimeout": true, "writeConcern": asked},
    }
}
