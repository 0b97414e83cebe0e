//! Point reads share statements: while one read of an app's collection by `_id` is at Postgres,
//! the others that arrive for the same collection wait, then go together in one statement. A
//! device fleet reading documents by id costs Postgres one statement per batch instead of one per
//! request; a read that arrives alone goes at once, with no wait. Each read still sees the
//! database as of a moment after it arrived.

use super::repo::{self, ValueRow};
use crate::error::{ApiError, Result};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Reads with more keys than this go alone (they are batches already).
pub const MAX_SHARED_KEYS: usize = 16;
/// Most keys one shared statement carries.
const MAX_BATCH_KEYS: usize = 500;
/// Past this many waiting reads a collection's newcomers read alone: under overload the queue
/// neither grows without end nor makes everyone wait for one statement at a time.
const MAX_WAITING: usize = 256;

enum Role {
    /// Queued behind the read at Postgres.
    Wait(oneshot::Receiver<std::result::Result<Vec<ValueRow>, String>>),
    /// Reads now, and hands the queue on.
    Lead(Vec<String>),
    /// Reads alone (the queue is full).
    Alone(Vec<String>),
}

type Reply = oneshot::Sender<std::result::Result<Vec<ValueRow>, String>>;

struct Waiter {
    keys: Vec<String>,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    /// A read of this collection is at Postgres; newcomers queue behind it.
    busy: bool,
}

/// Frees a collection's queue when its flush task ends without emptying it.
struct Free<'a> {
    reads: &'a PointReads,
    queue_key: &'a (Uuid, String),
    done: bool,
}

impl Drop for Free<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut queues = self.reads.queues.lock().unwrap_or_else(|p| p.into_inner());
            queues.remove(self.queue_key);
        }
    }
}

/// The read that leads its collection's queue; hands it over when dropped.
struct Lead<'a> {
    reads: &'a PointReads,
    pool: &'a PgPool,
    queue_key: Option<(Uuid, String)>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if let Some(queue_key) = self.queue_key.take() {
            self.reads.hand_over(self.pool, queue_key);
        }
    }
}

#[derive(Clone, Default)]
pub struct PointReads {
    queues: Arc<Mutex<HashMap<(Uuid, String), Queue>>>,
}

impl PointReads {
    /// The visible documents of `keys` (in key order), read alone or with others'.
    pub async fn read(
        &self,
        pool: &PgPool,
        app_id: Uuid,
        collection: &str,
        keys: Vec<String>,
    ) -> Result<Vec<ValueRow>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > MAX_SHARED_KEYS {
            return repo::values_by_keys(pool, app_id, collection, &keys).await;
        }
        let queue_key = (app_id, collection.to_owned());
        let role = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(queue_key.clone()).or_default();
            if queue.busy && queue.waiting.len() >= MAX_WAITING {
                Role::Alone(keys)
            } else if queue.busy {
                let (reply, answer) = oneshot::channel();
                queue.waiting.push(Waiter { keys, reply });
                Role::Wait(answer)
            } else {
                queue.busy = true;
                Role::Lead(keys)
            }
        };
        let answer = match role {
            Role::Wait(answer) => answer,
            // The queue is full: this read goes alone, beside the shared ones.
            Role::Alone(keys) => {
                return repo::values_by_few_keys(pool, app_id, collection, &keys).await;
            }
            Role::Lead(keys) => {
                // Nobody was reading: this read goes at once, and whoever queued meanwhile
                // goes next, together. Handed over when done, or when this request is dropped
                // mid-read (a timeout, a client gone): the queue never stays busy behind a read
                // that ended.
                let _lead = Lead {
                    reads: self,
                    pool,
                    queue_key: Some(queue_key),
                };
                return repo::values_by_few_keys(pool, app_id, collection, &keys).await;
            }
        };
        match answer.await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(ApiError::Internal(anyhow::anyhow!(
                "shared read failed: {e}"
            ))),
            Err(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "shared read was dropped"
            ))),
        }
    }

    /// After a read: the queued reads of the collection go next (in a task of their own, so the
    /// reader that led answers now), or the collection is free again.
    fn hand_over(&self, pool: &PgPool, queue_key: (Uuid, String)) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = queues.get_mut(&queue_key) else {
            return;
        };
        if queue.waiting.is_empty() {
            queues.remove(&queue_key);
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(self.clone().flush(pool.clone(), queue_key));
            }
            Err(_) => {
                // No runtime (shutting down): nobody can read anymore; answer the waiters.
                queues.remove(&queue_key);
            }
        }
    }

    /// Reads the queued requests, one shared statement at a time, until none are left.
    async fn flush(self, pool: PgPool, queue_key: (Uuid, String)) {
        // Should this task end any other way than by emptying the queue (a panic, the runtime
        // shutting down), the collection is freed and its waiters answered "dropped".
        let mut free = Free {
            reads: &self,
            queue_key: &queue_key,
            done: false,
        };
        loop {
            let batch = {
                let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                let Some(queue) = queues.get_mut(&queue_key) else {
                    free.done = true;
                    return;
                };
                if queue.waiting.is_empty() {
                    queues.remove(&queue_key);
                    free.done = true;
                    return;
                }
                // Reads whose requests ended (timeout, client gone) are not read for.
                queue.waiting.retain(|w| !w.reply.is_closed());
                if queue.waiting.is_empty() {
                    queues.remove(&queue_key);
                    free.done = true;
                    return;
                }
                let mut keys = 0;
                let take = queue
                    .waiting
                    .iter()
                    .take_while(|w| {
                        keys += w.keys.len();
                        keys <= MAX_BATCH_KEYS
                    })
                    .count()
                    .max(1);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let mut keys: Vec<String> = batch.iter().flat_map(|w| w.keys.clone()).collect();
            keys.sort();
            keys.dedup();
            let (app_id, collection) = &queue_key;
            let result = repo::values_by_few_keys(&pool, *app_id, collection, &keys).await;
            for waiter in batch {
                let answer = match &result {
                    Ok(rows) => {
                        let wanted: HashSet<&String> = waiter.keys.iter().collect();
                        Ok(rows
                            .iter()
                            .filter(|r| wanted.contains(&r.doc_key))
                            .cloned()
                            .collect())
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                let _ = waiter.reply.send(answer);
            }
        }
    }
}
