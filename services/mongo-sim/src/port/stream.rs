//! Change streams through the in-process port.

use std::time::Duration;

use async_trait::async_trait;
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::{ChangeEvent, ChangeStream, OperationType, PortResult, ResumeToken};

use crate::port::{SimPort, dropped};

pub(crate) fn history_lost() -> PortError {
    PortError::server(
        286,
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog",
    )
}

pub(crate) struct SimStream {
    pub(crate) port: SimPort,
    pub(crate) db: String,
    pub(crate) collection: String,
    /// The last oplog sequence number this stream has moved past.
    pub(crate) position: u64,
    pub(crate) token: Option<ResumeToken>,
    /// The event delivered once already (a duplicate fault): the next delivery moves on.
    pub(crate) redelivered: Option<u64>,
}

#[async_trait]
impl ChangeStream for SimStream {
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>> {
        while self.port.sim.lock().streams_hung {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.port
            .require(
                format!("getMore {}.{}", self.db, self.collection),
                "changeStream",
                &self.db,
                Some(&self.collection),
            )
            .await?;
        let mut state = self.port.sim.lock();
        if self.position + 1 < state.first_seq() {
            return Err(history_lost());
        }
        // Sequence numbers are contiguous: start right after the stream's position.
        let skip = usize::try_from((self.position + 1).saturating_sub(state.first_seq()))
            .unwrap_or(usize::MAX);
        let found = state
            .oplog
            .iter()
            .skip(skip)
            .find(|e| e.seq > self.position && e.db == self.db && e.collection == self.collection)
            .cloned();
        let Some(entry) = found else {
            // An empty batch: the postBatchResumeToken moves to the end of the oplog.
            self.position = state.next_seq - 1;
            self.token = Some(state.token(self.position));
            return Ok(None);
        };
        if let Some(remaining) = state.faults.drop_stream.as_mut() {
            if *remaining == 0 {
                state.faults.drop_stream = None;
                return Err(dropped());
            }
            *remaining -= 1;
        }
        let needs_images = matches!(
            entry.operation,
            OperationType::Update | OperationType::Replace | OperationType::Delete
        );
        if needs_images && !entry.images {
            return Err(PortError::server(
                47,
                format!(
                    "Change stream was configured to require a pre- or post-image, but none was recorded for {}.{}: changeStreamPreAndPostImages is not enabled",
                    self.db, self.collection
                ),
            ));
        }
        let token = state.token(entry.seq);
        if state.history {
            let line = format!("delivered #{} to a stream at #{}", entry.seq, self.position);
            state.note(line);
        }
        if state.faults.duplicate_events > 0 && self.redelivered != Some(entry.seq) {
            // Delivered now and once more: the position stays before it this time.
            state.faults.duplicate_events -= 1;
            self.redelivered = Some(entry.seq);
        } else {
            self.position = entry.seq;
            self.token = Some(token.clone());
        }
        Ok(Some(ChangeEvent {
            token,
            cluster_time: entry.time,
            operation: entry.operation.clone(),
            collection: entry.collection.clone(),
            document_key: entry.key.clone(),
            full_document: entry.post.clone(),
            full_document_before_change: if needs_images {
                entry.pre.clone()
            } else {
                None
            },
            lsid: entry.lsid.clone(),
            txn_number: entry.txn_number,
        }))
    }

    fn resume_token(&self) -> Option<ResumeToken> {
        self.token.clone()
    }
}
