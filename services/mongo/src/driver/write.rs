//! Write-back: transactional write sessions, the transaction numbers they track, and the
//! classification of a failed operation.
//!
//! A transaction's operations go out as few write commands as their order allows ([`commands`]):
//! a batch of upserts on one collection is one `update` command, so a transaction costs a round
//! trip per command and one for the commit, not one per document. Each command's reply is read
//! back into the outcome and its write errors into the operation they name ([`replies`]).

mod commands;
mod replies;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::error::{
    Error as DriverError, ErrorKind as DriverErrorKind, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{Acknowledgment, ReadConcern, WriteConcern};
use mongodb::{Client, ClientSession, Database};

use super::connect::Guard;
use super::errors::classify;
use crate::error::{ErrorKind, PortError};
use crate::port::{CommitOutcome, PortResult, SessionId, TxnError, WriteOp, WriteSession};
use commands::{WriteCommand, plan};
use replies::{Statements, command_error, read_reply};

/// How many times a commit whose outcome is unknown (`UnknownTransactionCommitResult`) is sent
/// again before giving up. The driver already retries once on its own; commit is idempotent.
const COMMIT_RETRIES: u32 = 3;

/// The longest one transaction's commands may take besides its commits (each bounded by the
/// `wtimeout`): well under MongoDB's 60 s transaction lifetime limit is what they get anyway.
const COMMANDS_DEADLINE: Duration = Duration::from_secs(50);

/// The last transaction number used on each server session of one client.
///
/// The driver keeps `txnNumber` private, and it pools server sessions: a new `ClientSession` can
/// get a server session (same lsid) whose number an earlier `ClientSession` already advanced.
/// The number only moves when a transaction starts (this adapter never runs retryable writes,
/// which would also advance it), so recording it at every `start_transaction` and reading it back
/// when a session is handed out again keeps our count equal to the server's. Entries of server
/// sessions the pool has discarded stay behind; there are as many as sessions were ever created,
/// a few dozen bytes each.
#[derive(Debug, Default)]
pub(super) struct TxnNumbers(Mutex<HashMap<SessionId, i64>>);

impl TxnNumbers {
    pub(super) fn last(&self, id: &SessionId) -> i64 {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(id).copied().unwrap_or(0)
    }

    fn record(&self, id: &SessionId, txn_number: i64) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(id.clone(), txn_number);
    }
}

pub(super) struct DriverSession {
    pub(super) guard: Arc<Guard>,
    pub(super) session: ClientSession,
    pub(super) client: Client,
    pub(super) id: SessionId,
    /// The number of the latest transaction started on this server session.
    pub(super) txn_number: i64,
    pub(super) txn_numbers: Arc<TxnNumbers>,
    /// A transaction was started and neither committed nor aborted yet: only true between calls
    /// when a `commit` future was dropped midway.
    pub(super) in_transaction: bool,
    /// How long a commit waits for a majority (`wtimeout`). Without a limit, a set whose
    /// majority is down (primary, secondary and arbiter with the secondary gone) holds a commit
    /// forever while `ping` still passes; past it the server answers WriteConcernTimeout (64),
    /// the outcome counts as unknown and the commit is sent again, then the writer backs off.
    pub(super) commit_wtimeout: Duration,
}

impl DriverSession {
    /// Aborts a transaction a cancelled `commit` left open; starting another would fail.
    async fn abort_leftover(&mut self) {
        if self.in_transaction {
            self.abort().await;
        }
    }

    /// Best effort: the server aborts a transaction that failed on its own, and drops an
    /// abandoned one after `transactionLifetimeLimitSeconds`.
    async fn abort(&mut self) {
        if let Err(err) = self.session.abort_transaction().await {
            tracing::debug!(error = %classify(err), "abortTransaction failed");
        }
        self.in_transaction = false;
    }

    async fn start(&mut self) -> PortResult<()> {
        self.session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(
                WriteConcern::builder()
                    .w(Acknowledgment::Majority)
                    .w_timeout(self.commit_wtimeout)
                    .build(),
            )
            .await
            .map_err(|e| self.guard.classify(e))?;
        self.in_transaction = true;
        self.txn_number += 1;
        self.txn_numbers.record(&self.id, self.txn_number);
        Ok(())
    }

    /// `commitTransaction`, sent again while the outcome is unknown (a network error or a
    /// write-concern timeout on the commit itself).
    async fn commit_with_retry(&mut self) -> PortResult<()> {
        let mut attempt = 0;
        let result = loop {
            match self.session.commit_transaction().await {
                Ok(()) => break Ok(()),
                Err(err)
                    if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && attempt < COMMIT_RETRIES =>
                {
                    attempt += 1;
                }
                Err(err) => {
                    let transient = err.contains_label(TRANSIENT_TRANSACTION_ERROR);
                    let unknown = err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT);
                    let mut error = classify(err);
                    if unknown {
                        error.kind = ErrorKind::CommitOutcomeUnknown;
                    } else if transient {
                        error.kind = ErrorKind::TransientTransaction;
                    }
                    break Err(error);
                }
            }
        };
        // After a commit attempt the session is no longer in a transaction, whatever the outcome.
        self.in_transaction = false;
        result
    }
}

#[async_trait]
impl WriteSession for DriverSession {
    fn id(&self) -> &SessionId {
        &self.id
    }

    /// Bounded: a transaction stuck past its commits' `wtimeout`s and [`COMMANDS_DEADLINE`] is
    /// abandoned (the next commit aborts it first) and reported with an unknown outcome.
    async fn commit(&mut self, db: &str, ops: &[WriteOp]) -> Result<CommitOutcome, TxnError> {
        let limit = self.commit_wtimeout * (COMMIT_RETRIES + 1) + COMMANDS_DEADLINE;
        match tokio::time::timeout(limit, self.commit_in_time(db, ops)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let mut error = super::deadline::stuck(limit, "a transaction");
                // It may have been applied: the writer must not assume either way.
                error.kind = ErrorKind::CommitOutcomeUnknown;
                Err(error.into())
            }
        }
    }
}

impl DriverSession {
    async fn commit_in_time(
        &mut self,
        db: &str,
        ops: &[WriteOp],
    ) -> Result<CommitOutcome, TxnError> {
        self.guard.check()?;
        self.abort_leftover().await;
        // Encoded and checked before the transaction starts: an operation too large to send
        // fails on its own, without a round trip.
        let commands = plan(ops)?;
        self.start().await?;
        let database = self.client.database(db);
        let mut outcome = CommitOutcome {
            txn_number: self.txn_number,
            matched: 0,
            upserted: 0,
            deleted: 0,
            inserted: 0,
        };
        for command in commands {
            if let Err(error) = send(&database, &mut self.session, command, &mut outcome).await {
                self.abort().await;
                return Err(error);
            }
        }
        self.commit_with_retry().await?;
        Ok(outcome)
    }
}

/// Runs one write command inside the session's transaction (the driver adds `lsid`,
/// `txnNumber`, `autocommit`, and `startTransaction` with the read concern on the first) and
/// counts its effect.
async fn send(
    database: &Database,
    session: &mut ClientSession,
    command: WriteCommand,
    outcome: &mut CommitOutcome,
) -> Result<(), TxnError> {
    let sent = Statements::from(&command);
    match database
        .run_raw_command(command.body)
        .session(&mut *session)
        .await
    {
        Ok(reply) => read_reply(sent, &reply, outcome),
        Err(err) => Err(command_error(sent, err)),
    }
}

/// Like [`classify`], except that a document the driver cannot encode (a key with a NUL byte)
/// is that document's fault.
pub(super) fn classify_op_error(err: DriverError) -> PortError {
    match err.kind.as_ref() {
        // Refused by the driver before sending: this operation's input (a document over 16 MiB,
        // an empty update), not the connection.
        DriverErrorKind::InvalidArgument { message, .. } => {
            let kind = if message.contains("within") || message.contains("size") {
                ErrorKind::DocumentTooLarge
            } else {
                ErrorKind::InvalidDocument
            };
            PortError::new(kind, message.clone())
        }
        DriverErrorKind::Bson(e) => PortError::new(
            ErrorKind::InvalidDocument,
            format!("the document cannot be encoded as BSON: {e}"),
        ),
        _ => classify(err),
    }
}
