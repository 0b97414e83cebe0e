//! Applying a batch to the edge store through the api, with the checkpoint after it.

use super::{Pipeline, event};
use crate::client::ClientError;
use crate::pipeline::PipelineError;
use edgebridge_domain::fleet::{
    ApplyRequest, CollectionCheckpoint, EdgeWrite, ReportedEvent, TraceDirection,
};
use std::time::Duration;

impl Pipeline {
    /// Applies writes and the checkpoint after them (retrying what the api could not take). A
    /// batch too large for the api goes in halves: the first with the checkpoint from before
    /// the batch (applying it again after a crash is harmless), the second with the new one.
    pub(super) async fn apply(
        &self,
        writes: Vec<EdgeWrite>,
        checkpoint: &CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        let mut pending = vec![(writes, checkpoint.clone())];
        while let Some((writes, checkpoint)) = pending.pop() {
            if let Some((first, second)) = self.apply_once(writes, checkpoint).await? {
                // Second half last: it carries the new checkpoint.
                pending.push(second);
                pending.push(first);
            }
        }
        Ok(())
    }

    /// One request; `Some(halves)` when it was too large and can be split.
    #[allow(clippy::type_complexity)]
    async fn apply_once(
        &self,
        writes: Vec<EdgeWrite>,
        checkpoint: CollectionCheckpoint,
    ) -> Result<
        Option<(
            (Vec<EdgeWrite>, CollectionCheckpoint),
            (Vec<EdgeWrite>, CollectionCheckpoint),
        )>,
        PipelineError,
    > {
        let request = ApplyRequest {
            epoch: self.epoch,
            collection: self.collection.clone(),
            writes,
            checkpoint,
        };
        let mut wait = Duration::from_millis(100);
        let answer = loop {
            match self.client.apply(self.connector_id, &request).await {
                Ok(answer) => break answer,
                Err(ClientError::TooLarge(why)) if request.writes.len() > 1 => {
                    tracing::debug!(%why, writes = request.writes.len(), "batch too large; splitting");
                    let ApplyRequest {
                        mut writes,
                        checkpoint,
                        ..
                    } = request;
                    let second = writes.split_off(writes.len() / 2);
                    let before = self.last_checkpoint(&checkpoint);
                    return Ok(Some(((writes, before), (second, checkpoint))));
                }
                Err(ClientError::TooLarge(_)) if request.writes.len() == 1 => {
                    // One document alone is too large: without its pre-image if it has one
                    // (the whole post-image is written then), else it is skipped and reported;
                    // the checkpoint moves on either way.
                    let mut request = request;
                    let write = request.writes.pop().expect("one write");
                    let checkpoint = request.checkpoint;
                    let id = write.id().clone();
                    if let EdgeWrite::Upsert {
                        id,
                        body,
                        counters,
                        types,
                        before: Some(_),
                    } = write
                    {
                        let lighter = EdgeWrite::Upsert {
                            id,
                            body,
                            counters,
                            types,
                            before: None,
                        };
                        return Ok(Some((
                            (Vec::new(), self.last_checkpoint(&checkpoint)),
                            (vec![lighter], checkpoint),
                        )));
                    }
                    let message = format!(
                        "The document {id} of {} is larger than the api takes in one request; it was not synced.",
                        self.collection
                    );
                    self.update(|p| {
                        p.skipped += 1;
                        p.events.push(event(
                            edgebridge_domain::fleet::EventLevel::Warn,
                            "document_too_large",
                            message,
                        ));
                    });
                    return Ok(Some((
                        (Vec::new(), self.last_checkpoint(&checkpoint)),
                        (Vec::new(), checkpoint),
                    )));
                }
                Err(ClientError::Unavailable(why)) if wait < Duration::from_secs(30) => {
                    tracing::warn!(connector_id = %self.connector_id, collection = %self.collection, %why, "apply failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if self.diag.active() {
            for w in &answer.skipped {
                self.diag.step(
                    &self.collection,
                    &w.id,
                    TraceDirection::MongoToEdge,
                    "edge_refused",
                    || serde_json::json!({"code": w.code, "message": w.message}),
                );
            }
            for id in &answer.requeued {
                self.diag.step(
                    &self.collection,
                    id,
                    TraceDirection::MongoToEdge,
                    "edge_merged",
                    || serde_json::json!({"outcome": "after this write the edge reads otherwise than MongoDB holds the document (merged with an edge edit, or an echo that differs): the edge's state is queued back to MongoDB"}),
                );
            }
        }
        let skipped = answer.skipped.len() as u64;
        let applied = answer.changed as u64;
        let notes: Vec<ReportedEvent> = answer
            .skipped
            .iter()
            .take(20)
            .map(|w| {
                event(
                    edgebridge_domain::fleet::EventLevel::Warn,
                    &w.code,
                    format!(
                        "The edge store refused the document {}: {}",
                        w.id, w.message
                    ),
                )
            })
            .collect();
        self.update(|p| {
            // A copy's writes are counted as copied, not as changes.
            if p.phase == Some(edgebridge_domain::fleet::CollectionPhase::Streaming) {
                p.applied += applied;
            }
            p.skipped += skipped;
            p.events.extend(notes);
        });
        if let Ok(mut last) = self.last.lock() {
            *last = Some(request.checkpoint);
        }
        Ok(None)
    }
}
