//! Write sessions through the in-process port.

use async_trait::async_trait;
use edgebridge_mongo::port::{
    CommitOutcome, OperationType, SessionId, TxnError, WriteOp, WriteSession, allows,
};
use edgebridge_mongo::{ErrorClass, ErrorKind, PortError};

use crate::faults::too_large_for_cache;
use crate::port::{SimPort, not_primary};
use crate::writes::{record, selects, undo, write};

pub(crate) struct SimSession {
    pub(crate) port: SimPort,
    pub(crate) id: SessionId,
    pub(crate) txn_number: i64,
}

#[async_trait]
impl WriteSession for SimSession {
    fn id(&self) -> &SessionId {
        &self.id
    }

    async fn commit(&mut self, db: &str, ops: &[WriteOp]) -> Result<CommitOutcome, TxnError> {
        let privileges = self
            .port
            .begin(format!("commitTransaction {db} ({} ops)", ops.len()))
            .await?;
        let mut state = self.port.sim.lock();
        if state.faults.step_down > 0 {
            state.faults.step_down -= 1;
            return Err(not_primary().into());
        }
        self.txn_number += 1;
        let txn_number = self.txn_number;
        // All or nothing: an operation that fails undoes the ones before it (each change
        // carries the document as it was, and collections the writes created are dropped).
        let db_existed = state.databases.contains_key(db);
        let created: Vec<String> = ops
            .iter()
            .map(|op| op.collection().to_owned())
            .filter(|name| {
                !state
                    .databases
                    .get(db)
                    .is_some_and(|d| d.contains_key(name))
            })
            .collect();
        let mut changes = Vec::new();
        let mut outcome = CommitOutcome {
            txn_number,
            matched: 0,
            upserted: 0,
            deleted: 0,
            inserted: 0,
        };
        for (index, op) in ops.iter().enumerate() {
            let action = match op {
                WriteOp::Upsert { .. } | WriteOp::Update { .. } => "update",
                WriteOp::Delete { .. } => "remove",
                WriteOp::Insert { .. } => "insert",
            };
            if let Some(privileges) = &privileges
                && !allows(privileges, action, db, Some(op.collection()))
            {
                undo(&mut state, db, &changes, &created, db_existed);
                // Not one document's fault: like the driver, no operation index.
                return Err(TxnError {
                    op_index: None,
                    error: PortError::server(
                        13,
                        format!(
                            "not authorized on {db} to execute `{action}` on {}",
                            op.collection()
                        ),
                    ),
                });
            }
            // Matched counts a document the write selects whether or not it changes it, as
            // MongoDB's `n` does.
            let matched = selects(&state, db, op);
            match write(&mut state, db, op) {
                Ok(change) => {
                    match (&change, op) {
                        (Some(c), WriteOp::Upsert { .. } | WriteOp::Update { .. })
                            if c.operation == OperationType::Insert =>
                        {
                            outcome.upserted += 1
                        }
                        (_, WriteOp::Upsert { .. } | WriteOp::Update { .. }) if matched => {
                            outcome.matched += 1
                        }
                        (Some(_), WriteOp::Delete { .. }) => outcome.deleted += 1,
                        (Some(_), WriteOp::Insert { .. }) => outcome.inserted += 1,
                        _ => {}
                    }
                    changes.push(change);
                }
                Err(error) => {
                    undo(&mut state, db, &changes, &created, db_existed);
                    let op_index = (error.class() == ErrorClass::Document).then_some(index);
                    return Err(TxnError { op_index, error });
                }
            }
        }
        if let Some((code, message)) = too_large_for_cache(&state.faults, changes.len()) {
            undo(&mut state, db, &changes, &created, db_existed);
            return Err(PortError::server(code, message).into());
        }
        for change in changes {
            record(&mut state, db, change, Some(&self.id), Some(txn_number));
        }
        if state.faults.commit_unknown > 0 {
            state.faults.commit_unknown -= 1;
            return Err(PortError::new(
                ErrorKind::CommitOutcomeUnknown,
                "the commit's answer was lost (simulated); the transaction may have been applied",
            )
            .into());
        }
        Ok(outcome)
    }
}
