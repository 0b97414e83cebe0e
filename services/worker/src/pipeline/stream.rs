//! The change stream: batches of events read while earlier ones are applied, and each event mapped to an edge write.

use super::readahead::{Next, ReadAhead};
use super::{Pipeline, Scope, cluster_time, doc_of, settle_while, upsert};
use crate::pipeline::PipelineError;
use bson::Document;
use bson::Timestamp;
use edgebridge_domain::fleet::TraceDirection;
use edgebridge_domain::fleet::{CollectionCheckpoint, CollectionPhase, EdgeWrite};
use edgebridge_mongo::mapping::{edge_id, to_edge};
use edgebridge_mongo::port::{ChangeEvent, OperationType, ResumeToken, StreamStart};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use std::time::Instant;

impl Pipeline {
    pub(super) async fn stream(
        &self,
        scope: &Scope<'_>,
        mut checkpoint: CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        let start = match checkpoint
            .resume_token
            .clone()
            .and_then(ResumeToken::from_json)
        {
            Some(token) => StreamStart::After(token),
            None => StreamStart::Now,
        };
        let watched = self
            .port
            .watch(&self.database, &self.collection, start)
            .await?;
        let mut stream = ReadAhead::start(watched, self.settings.idle_pause);
        self.update(|p| {
            p.phase = Some(CollectionPhase::Streaming);
            p.last_answer = Some(Instant::now());
        });
        let mut last_checkpoint = Instant::now();
        // Batches are applied while the next is read and mapped, up to `apply_in_flight` at
        // once. They may commit in any order, so a batch sharing a document with one in flight
        // waits for it, and one sent while another is in flight carries the position of what is
        // applied already, not its own (a restart replays at most the batches in flight).
        let depth = self.settings.apply_in_flight.max(1);
        let mut applying = FuturesOrdered::new();
        // The documents of the batches in flight (disjoint sets).
        let mut busy: HashSet<String> = HashSet::new();
        let mut settled = checkpoint.clone();
        // The position the last batch sent carries.
        let mut carried = checkpoint.resume_token.clone();
        // The cluster time of each batch in flight's last event, in order (they finish in any
        // order, but are taken in order): what counts as applied for the lag.
        let mut times: VecDeque<Option<Timestamp>> = VecDeque::new();
        let outcome: Result<(), PipelineError> = async {
            loop {
                let batch = settle_while(
                    self.read_batch(&mut stream, scope),
                    &mut applying,
                    |(cp, keys): (CollectionCheckpoint, HashSet<String>)| {
                        settled = cp;
                        busy.retain(|k| !keys.contains(k));
                        self.applied_through(times.pop_front().flatten());
                    },
                )
                .await??;
                if let Some(first) = batch.first_time {
                    self.update(|p| {
                        if !p.behind {
                            p.behind = true;
                            p.pending_from = Some(cluster_time(first));
                        }
                    });
                }
                // Never replace a stored position with none.
                let token = stream
                    .resume_token()
                    .map(|t| t.to_json())
                    .or_else(|| checkpoint.resume_token.clone());
                if batch.dropped {
                    // What came before it is applied; then this collection stops (a restart
                    // would replay the drop forever).
                    while let Some(done) = applying.next().await {
                        done?;
                        self.applied_through(times.pop_front().flatten());
                    }
                    checkpoint.resume_token = token;
                    self.apply(batch.writes, &checkpoint).await?;
                    return Err(PipelineError::Collection {
                        code: "collection_dropped",
                        message: format!(
                            "Collection {} was dropped or renamed in MongoDB; its stream ended.",
                            self.collection
                        ),
                        remediation: "Recreate the collection and resync it, or remove it from the connector.",
                    });
                }
                let moved = token != checkpoint.resume_token;
                if !batch.writes.is_empty()
                    || (moved && last_checkpoint.elapsed() >= self.settings.idle_checkpoint)
                {
                    checkpoint.resume_token = token;
                    let keys: HashSet<String> = batch.writes.iter().map(doc_of).collect();
                    while !applying.is_empty()
                        && (applying.len() >= depth || !keys.is_disjoint(&busy))
                    {
                        if let Some(done) = applying.next().await {
                            let (cp, done_keys): (CollectionCheckpoint, HashSet<String>) = done?;
                            settled = cp;
                            busy.retain(|k| !done_keys.contains(k));
                            self.applied_through(times.pop_front().flatten());
                        }
                    }
                    let with = if applying.is_empty() {
                        checkpoint.clone()
                    } else {
                        settled.clone()
                    };
                    carried = with.resume_token.clone();
                    busy.extend(keys.iter().cloned());
                    let after_batch = checkpoint.clone();
                    let writes = batch.writes;
                    times.push_back(batch.last_time);
                    applying.push_back(async move {
                        self.apply(writes, &with).await.map(|()| (after_batch, keys))
                    });
                    last_checkpoint = Instant::now();
                } else if let Some(last) = times.back_mut() {
                    // Nothing to apply (filtered out): passed once the batches before it are.
                    *last = (*last).max(batch.last_time);
                } else {
                    self.applied_through(batch.last_time);
                }
                if batch.idle {
                    while let Some(done) = applying.next().await {
                        settled = done?.0;
                        self.applied_through(times.pop_front().flatten());
                    }
                    busy.clear();
                    if carried != checkpoint.resume_token {
                        // The last batch carried an earlier position: the stream's own goes now.
                        self.apply(Vec::new(), &checkpoint).await?;
                        carried = checkpoint.resume_token.clone();
                    }
                    // Everything read is applied and the stream has nothing more: caught up.
                    self.update(|p| {
                        p.behind = false;
                        p.pending_from = None;
                        p.last_synced_at = Some(chrono::Utc::now());
                    });
                    // No pause here: the reader paces an idle stream (the server's awaitable
                    // `getMore`, or `idle_pause` between the port's immediate answers).
                }
            }
        }
        .await;
        // The batches still in flight finish (or fail) first: none outlives this pipeline.
        while applying.next().await.is_some() {}
        outcome
    }

    /// Reads and maps up to a batch of events: what arrives within the linger time after the
    /// first, or until the stream answers empty.
    async fn read_batch(
        &self,
        stream: &mut ReadAhead,
        scope: &Scope<'_>,
    ) -> Result<Batch, PipelineError> {
        let mut batch = Batch::default();
        let mut first: Option<Instant> = None;
        while batch.writes.len() < self.settings.stream_batch {
            let wait = first.map(|t| self.settings.stream_linger.saturating_sub(t.elapsed()));
            if wait.is_some_and(|w| w.is_zero()) {
                break;
            }
            match stream.next(wait).await? {
                Next::Event(event)
                    if matches!(
                        event.operation,
                        OperationType::Drop
                            | OperationType::Rename
                            | OperationType::DropDatabase
                            | OperationType::Invalidate
                    ) =>
                {
                    batch.dropped = true;
                    return Ok(batch);
                }
                Next::Event(event) => {
                    first.get_or_insert_with(Instant::now);
                    batch.first_time.get_or_insert(event.cluster_time);
                    batch.last_time = Some(event.cluster_time);
                    if let Some(write) = self.map_event(&event, scope, &mut batch.writes) {
                        if self.diag.active() {
                            self.trace_change(&event, &write);
                        }
                        batch.writes.push(write);
                    }
                }
                Next::Idle => {
                    batch.idle = true;
                    self.answered();
                    return Ok(batch);
                }
                Next::Nothing => break,
            }
        }
        self.answered();
        Ok(batch)
    }

    /// The edge write of a change event; `None` for events that change nothing here (and for
    /// documents that cannot be mapped, which are reported).
    fn map_event(
        &self,
        change: &ChangeEvent,
        scope: &Scope<'_>,
        out: &mut Vec<EdgeWrite>,
    ) -> Option<EdgeWrite> {
        let config = scope.config;
        let echo = change.lsid.as_ref().is_some_and(|lsid| {
            self.sessions
                .read()
                .map(|s| s.contains(lsid))
                .unwrap_or(false)
        });
        if echo {
            return self.map_echo(change, scope);
        }
        match &change.operation {
            OperationType::Insert | OperationType::Replace | OperationType::Update => {
                let doc = change.full_document.as_ref()?;
                if !scope.wants(doc) {
                    // Outside the filter (now): if it was synced, it leaves the edge.
                    let source = change.full_document_before_change.as_ref().unwrap_or(doc);
                    if change.operation == OperationType::Insert {
                        return None;
                    }
                    return match edge_id(source, config) {
                        Ok((id, _)) => Some(EdgeWrite::Delete { id }),
                        Err(_) => None,
                    };
                }
                // An update's pre-image says what changed, if the document was synced before.
                let before = (change.operation == OperationType::Update)
                    .then_some(change.full_document_before_change.as_ref())
                    .flatten()
                    .filter(|b| scope.wants(b))
                    .and_then(|b| to_edge(b, config).ok());
                match to_edge(doc, config) {
                    // The mapped id changed: the old edge document goes, the new one is whole.
                    Ok(edge) if before.as_ref().is_some_and(|b| b.key != edge.key) => {
                        if let Some(old) = before {
                            out.push(EdgeWrite::Delete { id: old.id });
                        }
                        Some(upsert(edge, None))
                    }
                    Ok(edge) => Some(upsert(edge, before)),
                    Err(rejected) => {
                        self.note_rejected(&rejected);
                        None
                    }
                }
            }
            OperationType::Delete => {
                // The edge id comes from the pre-image (mapped by non-`_id` fields), or from the
                // document key when `_id` is the id.
                let source: &Document = change
                    .full_document_before_change
                    .as_ref()
                    .or(change.document_key.as_ref())?;
                match edge_id(source, config) {
                    Ok((id, _)) => Some(EdgeWrite::Delete { id }),
                    Err(rejected) => {
                        self.note_rejected(&rejected);
                        None
                    }
                }
            }
            // Handled by the stream loop (the collection stops).
            OperationType::Drop
            | OperationType::Rename
            | OperationType::DropDatabase
            | OperationType::Invalidate => None,
            OperationType::Other(_) => None,
        }
    }
}

impl Pipeline {
    /// An event of the connector's own write-back: what MongoDB now holds, to check against the
    /// edge. A document outside the filter, or that cannot be mapped, is not checked (the edge
    /// wrote it; it does not come back).
    fn map_echo(&self, change: &ChangeEvent, scope: &Scope<'_>) -> Option<EdgeWrite> {
        match &change.operation {
            OperationType::Insert | OperationType::Replace | OperationType::Update => {
                let doc = change.full_document.as_ref()?;
                if !scope.wants(doc) {
                    return None;
                }
                let edge = to_edge(doc, scope.config).ok()?;
                Some(EdgeWrite::Verify {
                    id: edge.id,
                    body: Some(edge.body),
                    counters: edge.counters,
                })
            }
            OperationType::Delete => {
                let source = change
                    .full_document_before_change
                    .as_ref()
                    .or(change.document_key.as_ref())?;
                let (id, _) = edge_id(source, scope.config).ok()?;
                Some(EdgeWrite::Verify {
                    id,
                    body: None,
                    counters: Vec::new(),
                })
            }
            _ => None,
        }
    }
}

/// Events read from the stream, mapped.
#[derive(Default)]
struct Batch {
    writes: Vec<EdgeWrite>,
    /// The stream answered empty: nothing more for now.
    idle: bool,
    /// The collection was dropped, renamed or invalidated (after `writes`).
    dropped: bool,
    /// The cluster times of its first and last events.
    first_time: Option<Timestamp>,
    last_time: Option<Timestamp>,
}

impl Pipeline {
    /// The events up to `last` are applied (or needed nothing): a change at most 2 s old
    /// (cluster time counts whole seconds) also means the collection is up to date, which a
    /// stream that is never idle under a steady load shows this way.
    fn applied_through(&self, last: Option<Timestamp>) {
        let Some(last) = last else { return };
        let at = cluster_time(last);
        let now = chrono::Utc::now();
        self.update(|p| {
            p.last_event_at = Some(p.last_event_at.map_or(at, |t| t.max(at)));
            if now - at <= chrono::TimeDelta::seconds(2) {
                p.last_synced_at = Some(now);
            }
        });
    }

    /// The trace step of a change read (an echo's, or the change's with the fields it changed).
    fn trace_change(&self, change: &ChangeEvent, write: &EdgeWrite) {
        let step = match write {
            EdgeWrite::Verify { .. } => "echo",
            _ => "mongo_change",
        };
        let detail = || {
            let operation = match &change.operation {
                OperationType::Insert => "insert",
                OperationType::Replace => "replace",
                OperationType::Update => "update",
                OperationType::Delete => "delete",
                _ => "other",
            };
            let token = change.token.0.get_str("_data").unwrap_or_default();
            let time = json!({"t": change.cluster_time.time, "i": change.cluster_time.increment});
            match write {
                EdgeWrite::Verify { .. } => json!({
                    "operation": operation,
                    "clusterTime": time,
                    "resumeToken": token,
                    "txnNumber": change.txn_number,
                    "outcome": "recognised as the write-back's own write: checked against the edge, not applied",
                }),
                EdgeWrite::Delete { .. } => json!({
                    "operation": operation, "clusterTime": time, "resumeToken": token,
                    "edgeWrite": "delete",
                }),
                EdgeWrite::Upsert { .. } => {
                    let fields: Option<Vec<&str>> = change
                        .full_document_before_change
                        .as_ref()
                        .zip(change.full_document.as_ref())
                        .map(|(before, after)| changed_fields(before, after));
                    json!({
                        "operation": operation,
                        "clusterTime": time,
                        "resumeToken": token,
                        "edgeWrite": "upsert",
                        "fieldsChanged": fields,
                    })
                }
            }
        };
        self.diag.step(
            &self.collection,
            write.id(),
            TraceDirection::MongoToEdge,
            step,
            detail,
        );
    }
}

/// The top-level fields that differ between two versions of a document.
fn changed_fields<'a>(before: &'a Document, after: &'a Document) -> Vec<&'a str> {
    let mut out: Vec<&str> = after
        .iter()
        .filter(|(k, v)| before.get(k.as_str()) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    out.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(k.as_str()))
            .map(String::as_str),
    );
    out
}
