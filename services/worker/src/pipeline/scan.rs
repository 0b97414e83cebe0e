//! The initial copy: the collection scanned in `_id` order, batches applied while the next is read.

use super::{Pipeline, Scope, event, settle_while, upsert};
use crate::pipeline::PipelineError;
use bson::Bson;
use edgebridge_domain::fleet::{
    CheckpointPhase, CollectionCheckpoint, CollectionPhase, EventLevel,
};
use edgebridge_mongo::mapping::to_edge;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::time::{Duration, Instant};

impl Pipeline {
    pub(super) async fn scan(
        &self,
        scope: &Scope<'_>,
        checkpoint: &mut CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        self.update(|p| {
            p.phase = Some(CollectionPhase::InitialSync);
            p.last_answer = Some(Instant::now());
            p.copied = checkpoint.copied;
            p.estimated_total = checkpoint.estimated_total;
        });
        let started = Instant::now();
        let resumed = checkpoint.copied > 0 || checkpoint.scan_after.is_some();
        self.update(|p| {
            let (code, message) = if resumed {
                ("copy_resumed", format!("The copy of {} resumes after {} document(s).", self.collection, checkpoint.copied))
            } else {
                ("copy_started", format!("The copy of {} started (about {} document(s)).", self.collection, checkpoint.estimated_total.map_or_else(|| "an unknown number of".to_owned(), |n| n.to_string())))
            };
            let mut e = event(EventLevel::Info, code, message);
            e.collection = Some(self.collection.clone());
            e.context = serde_json::json!({"copied": checkpoint.copied, "estimatedTotal": checkpoint.estimated_total});
            p.events.push(e);
        });
        let mut copied_here = 0u64;
        let depth = self.settings.apply_in_flight.max(1);
        // Batches being applied, oldest first, each answering with the checkpoint after it.
        let mut applying = FuturesOrdered::new();
        // The checkpoint after the last batch whose apply, and every earlier one, finished.
        let mut settled = checkpoint.clone();
        let outcome = async {
            loop {
                let after = checkpoint
                    .scan_after
                    .clone()
                    .map(|v| {
                        Bson::try_from(v).map_err(|e| PipelineError::Failed {
                            code: "checkpoint_unreadable",
                            message: format!("the stored scan position cannot be read: {e}"),
                            remediation: "Resync the collection.",
                        })
                    })
                    .transpose()?;
                // The next batch is read while earlier ones are applied.
                let read = self.port.scan(
                    &self.database,
                    &self.collection,
                    after.as_ref(),
                    self.settings.scan_batch,
                );
                let docs = settle_while(read, &mut applying, |cp| settled = cp).await??;
                self.answered();
                let Some(last) = docs.last().and_then(|d| d.get("_id")).cloned() else {
                    break;
                };
                let full = docs.len() as u32 == self.settings.scan_batch;
                let mut writes = Vec::with_capacity(docs.len());
                for doc in docs.iter().filter(|d| scope.wants(d)) {
                    match to_edge(doc, scope.config) {
                        Ok(edge) => writes.push(upsert(edge, None)),
                        Err(rejected) => self.note_rejected(&rejected),
                    }
                }
                checkpoint.copied += docs.len() as u64;
                checkpoint.scan_after = Some(last.into_canonical_extjson());
                while applying.len() >= depth {
                    if let Some(done) = applying.next().await {
                        settled = done?;
                    }
                }
                // A batch carries its own checkpoint only when no earlier one is still being
                // applied: batches commit in any order, and a stored position must never pass a
                // batch that is not applied. Otherwise it carries the settled one (the api keeps
                // the furthest), and a restart copies at most the batches in flight again.
                let carried = if applying.is_empty() {
                    checkpoint.clone()
                } else {
                    settled.clone()
                };
                let after_batch = checkpoint.clone();
                // Counted once applied: documents written to the edge (not those left out).
                let written = writes.len() as u64;
                applying.push_back(async move {
                    self.apply(writes, &carried).await?;
                    self.update(|p| p.copied_run += written);
                    Ok(after_batch)
                });
                copied_here += docs.len() as u64;
                let copied = checkpoint.copied;
                self.update(|p| p.copied = copied);
                if !full {
                    break;
                }
                if self.settings.scan_rate > 0 {
                    let due = Duration::from_secs_f64(
                        copied_here as f64 / f64::from(self.settings.scan_rate),
                    );
                    // In steps, each counting as an answer: a slow copy is not a stalled one.
                    while let Some(wait) = due.checked_sub(started.elapsed()) {
                        let pause = tokio::time::sleep(wait.min(Duration::from_secs(1)));
                        settle_while(pause, &mut applying, |cp| settled = cp).await?;
                        self.answered();
                    }
                }
            }
            while let Some(done) = applying.next().await {
                done?;
            }
            Ok::<(), PipelineError>(())
        }
        .await;
        if let Err(e) = outcome {
            // The batches still in flight finish (or fail) first: none outlives this pipeline,
            // so a restarted one never races a late commit of this one's.
            while applying.next().await.is_some() {}
            return Err(e);
        }
        checkpoint.phase = CheckpointPhase::Streaming;
        checkpoint.scan_after = None;
        self.apply(Vec::new(), checkpoint).await?;
        let (copied, secs) = (checkpoint.copied, started.elapsed().as_secs_f64());
        self.update(|p| {
            p.last_synced_at = Some(chrono::Utc::now());
            let mut e = event(
                EventLevel::Info,
                "copy_finished",
                format!(
                    "The copy of {} finished: {copied} document(s), {secs:.1} s in this run.",
                    self.collection
                ),
            );
            e.collection = Some(self.collection.clone());
            e.context = serde_json::json!({"copied": copied, "seconds": secs, "resumed": resumed});
            p.events.push(e);
        });
        Ok(())
    }
}
