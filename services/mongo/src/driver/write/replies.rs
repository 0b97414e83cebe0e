//! A write command's reply: its counts added to the transaction's outcome, its first write
//! error traced back to the operation it came from, and a failed command classified like any
//! driver error.

use bson::{Bson, Document};
use mongodb::error::Error as DriverError;

use super::classify_op_error;
use super::commands::{CommandKind, WriteCommand};
use crate::driver::errors::apply_labels;
use crate::error::{ErrorClass, PortError};
use crate::port::{CommitOutcome, TxnError};

/// Where a command's statements sit in the transaction (kept when its body is sent).
#[derive(Debug, Clone, Copy)]
pub(super) struct Statements {
    pub(super) kind: CommandKind,
    pub(super) first: usize,
    pub(super) count: usize,
}

impl From<&WriteCommand> for Statements {
    fn from(command: &WriteCommand) -> Self {
        Statements {
            kind: command.kind,
            first: command.first,
            count: command.statements,
        }
    }
}

/// Adds what an `ok: 1` reply did to `outcome`, or returns its first write error (inside a
/// transaction the server stops at the first failing statement and aborts the transaction).
pub(super) fn read_reply(
    sent: Statements,
    reply: &Document,
    outcome: &mut CommitOutcome,
) -> Result<(), TxnError> {
    if let Some(error) = first_write_error(sent, reply) {
        return Err(error);
    }
    if let Ok(wce) = reply.get_document("writeConcernError") {
        // Not sent inside a transaction (its write concern is the commit's); read all the same.
        return Err(TxnError {
            op_index: None,
            error: server_error(wce, reply),
        });
    }
    let n = count(reply.get("n"));
    match sent.kind {
        CommandKind::Update => {
            let upserted = reply
                .get_array("upserted")
                .map_or(0, |u| u64::try_from(u.len()).unwrap_or(u64::MAX));
            outcome.upserted += upserted;
            // `n` counts matched and upserted documents.
            outcome.matched += n.saturating_sub(upserted);
        }
        CommandKind::Delete => outcome.deleted += n,
        CommandKind::Insert => outcome.inserted += n,
    }
    Ok(())
}

/// The write error with the lowest statement index, as the operation it names. A per-document
/// error (schema validation, duplicate key) is that operation's fault; anything else (a write
/// conflict) would have failed whichever statement was running.
fn first_write_error(sent: Statements, reply: &Document) -> Option<TxnError> {
    let (index, entry) = reply
        .get_array("writeErrors")
        .ok()?
        .iter()
        .filter_map(|e| match e {
            Bson::Document(d) => Some((number(d.get("index")), d)),
            _ => None,
        })
        .min_by_key(|(index, _)| index.unwrap_or(i64::MAX))?;
    let error = server_error(entry, reply);
    let op_index = index
        .and_then(|i| usize::try_from(i).ok())
        .filter(|i| *i < sent.count && error.class() == ErrorClass::Document)
        .map(|i| sent.first + i);
    Some(TxnError { op_index, error })
}

/// `{code, errmsg}` of a write error or write-concern error, with the reply's error labels
/// deciding what the code alone does not.
fn server_error(entry: &Document, reply: &Document) -> PortError {
    let code = number(entry.get("code"))
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(0);
    let message = entry.get_str("errmsg").unwrap_or("the write failed");
    let labels: Vec<&str> = reply
        .get_array("errorLabels")
        .map(|l| l.iter().filter_map(Bson::as_str).collect())
        .unwrap_or_default();
    apply_labels(PortError::server(code, message), |label| {
        labels.contains(&label)
    })
}

/// A command that failed as a whole (`ok: 0`, a dropped connection): classified like the
/// driver's single-document writes were, its error labels included. Only a command of one
/// statement can blame an operation; a per-document code on a longer one names none.
pub(super) fn command_error(sent: Statements, err: DriverError) -> TxnError {
    let error = classify_op_error(err);
    let op_index = (error.class() == ErrorClass::Document && sent.count == 1).then_some(sent.first);
    TxnError { op_index, error }
}

/// A reply's number (the server sends int32; read any numeric type).
fn number(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        // Integral by construction: a count or an index.
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

/// A count from a reply: 0 when missing or negative.
fn count(value: Option<&Bson>) -> u64 {
    number(value).map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use bson::doc;
    use mongodb::error::{CommandError, ErrorKind as DriverErrorKind};

    use super::*;
    use crate::error::ErrorKind;

    fn sent(kind: CommandKind, first: usize, count: usize) -> Statements {
        Statements { kind, first, count }
    }

    fn outcome() -> CommitOutcome {
        CommitOutcome {
            txn_number: 1,
            matched: 0,
            upserted: 0,
            deleted: 0,
            inserted: 0,
        }
    }

    #[test]
    fn counts_come_from_n_and_upserted() {
        let mut out = outcome();
        let reply = doc! {
            "n": 5, "nModified": 2,
            "upserted": [{"index": 0, "_id": 1}, {"index": 3, "_id": 2}],
            "ok": 1.0,
        };
        read_reply(sent(CommandKind::Update, 0, 5), &reply, &mut out).expect("no error");
        let reply = doc! {"n": 4_i64, "ok": 1.0};
        read_reply(sent(CommandKind::Delete, 5, 6), &reply, &mut out).expect("no error");
        read_reply(sent(CommandKind::Insert, 11, 4), &reply, &mut out).expect("no error");
        assert_eq!(
            (out.matched, out.upserted, out.deleted, out.inserted),
            (3, 2, 4, 4)
        );
    }

    #[test]
    fn the_lowest_write_error_names_its_operation() {
        let reply = doc! {
            "n": 2,
            "writeErrors": [
                {"index": 4, "code": 11000, "errmsg": "E11000 duplicate key"},
                {"index": 2, "code": 121, "errmsg": "Document failed validation"},
            ],
            "ok": 1.0,
        };
        let err = read_reply(sent(CommandKind::Update, 10, 5), &reply, &mut outcome())
            .expect_err("a write error");
        assert_eq!(err.op_index, Some(12));
        assert_eq!(err.error.kind, ErrorKind::SchemaValidation);
        assert_eq!(err.error.code, Some(121));
        assert_eq!(err.error.message, "Document failed validation");
    }

    #[test]
    fn a_write_error_that_is_no_documents_fault_names_none() {
        let conflict = doc! {
            "n": 0,
            "writeErrors": [{"index": 0, "code": 112, "errmsg": "WriteConflict"}],
            "ok": 1.0,
        };
        let err = read_reply(sent(CommandKind::Update, 3, 2), &conflict, &mut outcome())
            .expect_err("a write error");
        assert_eq!(err.op_index, None);
        assert_eq!(err.error.kind, ErrorKind::TransientTransaction);

        // The reply's labels decide what an unknown code does not.
        let labelled = doc! {
            "n": 0,
            "writeErrors": [{"index": 1, "code": 99999, "errmsg": "?"}],
            "errorLabels": ["TransientTransactionError"],
            "ok": 1.0,
        };
        let err = read_reply(sent(CommandKind::Delete, 0, 2), &labelled, &mut outcome())
            .expect_err("a write error");
        assert_eq!(
            (err.op_index, err.error.kind),
            (None, ErrorKind::TransientTransaction)
        );

        // An index outside the command names no operation.
        let stray = doc! {
            "n": 0,
            "writeErrors": [{"index": 7, "code": 11000, "errmsg": "dup"}],
            "ok": 1.0,
        };
        let err = read_reply(sent(CommandKind::Insert, 0, 2), &stray, &mut outcome())
            .expect_err("a write error");
        assert_eq!(
            (err.op_index, err.error.kind),
            (None, ErrorKind::DuplicateKey)
        );
    }

    #[test]
    fn a_failed_command_blames_an_operation_only_when_it_carried_one() {
        let failed = || {
            let e: CommandError = bson::deserialize_from_document(doc! {
                "code": 121, "codeName": "DocumentValidationFailure", "errmsg": "failed",
            })
            .expect("a command error");
            DriverError::from(DriverErrorKind::Command(e))
        };
        let one = command_error(sent(CommandKind::Update, 7, 1), failed());
        assert_eq!(
            (one.op_index, one.error.kind),
            (Some(7), ErrorKind::SchemaValidation)
        );
        let many = command_error(sent(CommandKind::Update, 7, 3), failed());
        assert_eq!(many.op_index, None);
    }
}
