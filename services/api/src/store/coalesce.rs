//! Group commit for inserts: optimistic inserts of new documents that arrive while another one
//! for the same app, collection and writer is being written wait for it, then go to Postgres
//! together in one statement and one commit. Each request still gets its own all-or-nothing
//! answer: when a shared statement finds any `_id` taken, nothing of it is written and every
//! request in it retries alone.

use super::repo::{self, DocRows};
use crate::error::{ApiError, Result};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use uuid::Uuid;

/// What one shared statement writes: documents and change rows of one app, collection and writer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub collection: String,
    pub origin: Option<String>,
    pub actor: String,
}

/// How a request fared in a shared statement.
pub enum Outcome {
    Written,
    /// Refused while alone in its statement: an `_id` is taken (or the app is not the caller's).
    Refused,
    /// Refused with others: says nothing about this request, which gets its rows back to retry
    /// alone.
    RefusedShared(DocRows),
}

struct Pending {
    rows: DocRows,
    reply: oneshot::Sender<std::result::Result<Outcome, String>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    flushing: bool,
}

/// Most documents one shared statement carries.
const MAX_BATCH_ROWS: usize = 2000;

#[derive(Clone, Default)]
pub struct InsertBatcher {
    queues: Arc<Mutex<HashMap<BatchKey, Queue>>>,
}

impl InsertBatcher {
    /// Writes `rows` as part of the next shared statement for `key`.
    pub async fn insert(&self, pool: &PgPool, key: BatchKey, rows: DocRows) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        let start_flusher = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(key.clone()).or_default();
            queue.pending.push(Pending { rows, reply });
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start_flusher {
            tokio::spawn(self.clone().flush(pool.clone(), key));
        }
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(ApiError::Internal(anyhow::anyhow!(
                "shared insert failed: {e}"
            ))),
            Err(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "shared insert was dropped"
            ))),
        }
    }

    /// Writes queued requests, one statement at a time, until the queue is empty.
    async fn flush(self, pool: PgPool, key: BatchKey) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                let Some(queue) = queues.get_mut(&key) else {
                    return;
                };
                if queue.pending.is_empty() {
                    queues.remove(&key);
                    return;
                }
                let mut rows = 0;
                let take = queue
                    .pending
                    .iter()
                    .take_while(|p| {
                        rows += p.rows.len();
                        rows <= MAX_BATCH_ROWS
                    })
                    .count()
                    .max(1);
                queue.pending.drain(..take).collect::<Vec<_>>()
            };
            let mut all = DocRows::default();
            for p in &batch {
                all.extend_from(&p.rows);
            }
            let all = all.sorted_by_key();
            let result = repo::insert_fresh(
                &pool,
                key.org_id,
                key.app_id,
                &key.collection,
                &all,
                key.origin.as_deref(),
                &key.actor,
            )
            .await;
            let alone = batch.len() == 1;
            for p in batch {
                let answer = match &result {
                    Ok(true) => Ok(Outcome::Written),
                    Ok(false) if alone => Ok(Outcome::Refused),
                    Ok(false) => Ok(Outcome::RefusedShared(p.rows)),
                    Err(e) => Err(format!("{e:#}")),
                };
                let _ = p.reply.send(answer);
            }
        }
    }
}
