//! Change streams on the driver's stream, and resume tokens between the driver's type and ours.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document, RawDocumentBuf};
use mongodb::change_stream::ChangeStream as DriverChangeStream;
use mongodb::change_stream::event::{
    ChangeStreamEvent, OperationType as DriverOperationType, ResumeToken as DriverResumeToken,
};

use super::connect::Guard;
use crate::error::{ErrorKind, PortError};
use crate::port::{ChangeEvent, ChangeStream, OperationType, PortResult, ResumeToken, SessionId};

/// The driver's token as a document. The driver's `ResumeToken` has no accessor, only serde;
/// serializing it through the raw (binary) serializer copies its bytes as they are, so the token
/// keeps every BSON type exactly.
pub(super) fn from_driver_token(token: &DriverResumeToken) -> PortResult<ResumeToken> {
    let raw = bson::serialize_to_raw_document_buf(token).map_err(token_error)?;
    let doc = Document::try_from(raw).map_err(token_error)?;
    Ok(ResumeToken(doc))
}

/// Our token as the driver's, through the same raw path as the driver itself reads `_id`.
pub(super) fn to_driver_token(token: &ResumeToken) -> PortResult<DriverResumeToken> {
    let raw = RawDocumentBuf::try_from(&token.0).map_err(token_error)?;
    bson::deserialize_from_slice(raw.as_bytes()).map_err(token_error)
}

fn token_error(err: bson::error::Error) -> PortError {
    PortError::new(
        ErrorKind::Other,
        format!("cannot convert a change stream resume token: {err}"),
    )
}

/// Most fragments one split event may have (each under 16 MiB: an event of a document with its
/// pre- and post-image takes at most three).
const MAX_FRAGMENTS: i32 = 8;

/// A collection change stream on the driver's stream. Iterated only through `next_if_any`, never
/// as a `futures::Stream`: the driver's `resume_token` and `is_alive` panic while a `Stream`
/// poll is in flight, and `next_if_any` never leaves one behind.
///
/// Events are read as raw documents: an event over 16 MiB comes split into fragments
/// (`$changeStreamSplitLargeEvent`, each with a `splitEvent: {fragment, of}`), which the typed
/// event cannot hold. The fragments are joined back into one event, and while only some of them
/// are here the stream's position stays before the event: resuming from a fragment's token would
/// start in the middle of it.
pub(super) struct DriverStream {
    pub(super) inner: DriverChangeStream<RawDocumentBuf>,
    pub(super) guard: Arc<Guard>,
    /// The longest a `getMore` waits for news, and the deadline of one read beyond it.
    pub(super) deadline: Duration,
    /// The fragments of a split event read so far.
    pub(super) fragments: Vec<Document>,
    /// The position before the split event being joined.
    pub(super) before_split: Option<DriverResumeToken>,
}

impl DriverStream {
    pub(super) fn new(
        inner: DriverChangeStream<RawDocumentBuf>,
        guard: Arc<Guard>,
        deadline: Duration,
    ) -> Self {
        DriverStream {
            inner,
            guard,
            deadline,
            fragments: Vec::new(),
            before_split: None,
        }
    }

    /// Takes one fragment; the whole event once its last fragment is here.
    fn join(&mut self, fragment: Document, split: &Document) -> PortResult<Option<Document>> {
        let number = split_number(split.get("fragment"));
        let of = split_number(split.get("of"));
        let broken = |why: &str| {
            PortError::new(
                ErrorKind::Other,
                format!("a split change event could not be joined: {why}"),
            )
        };
        if !(1..=MAX_FRAGMENTS).contains(&of) || !(1..=of).contains(&number) {
            return Err(broken(&format!("fragment {number} of {of}")));
        }
        if number as usize != self.fragments.len() + 1 {
            return Err(broken(&format!(
                "fragment {number} came after {} fragment(s)",
                self.fragments.len()
            )));
        }
        self.fragments.push(fragment);
        if number < of {
            return Ok(None);
        }
        // The event's position is its last fragment's: resuming there goes on after the event.
        let mut event = Document::new();
        for mut part in self.fragments.drain(..) {
            part.remove("splitEvent");
            event.extend(part);
        }
        self.before_split = None;
        Ok(Some(event))
    }
}

fn split_number(value: Option<&Bson>) -> i32 {
    match value {
        Some(Bson::Int32(n)) => *n,
        Some(Bson::Int64(n)) => i32::try_from(*n).unwrap_or(-1),
        _ => -1,
    }
}

#[async_trait]
impl ChangeStream for DriverStream {
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>> {
        loop {
            self.guard.check()?;
            if self.fragments.is_empty() {
                self.before_split = self.inner.resume_token();
            }
            let read = tokio::time::timeout(self.deadline, self.inner.next_if_any()).await;
            let answer = match read {
                Ok(answer) => answer.map_err(|e| self.guard.classify(e))?,
                Err(_) => {
                    return Err(PortError::new(
                        ErrorKind::Timeout,
                        format!(
                            "MongoDB did not answer the change stream's getMore within {} s",
                            self.deadline.as_secs()
                        ),
                    ));
                }
            };
            let Some(raw) = answer else {
                if self.inner.is_alive() {
                    // An empty batch: the stream's token has moved to the postBatchResumeToken.
                    return Ok(None);
                }
                // The server closed the cursor (after an invalidate event): without this the
                // caller would spin on empty answers forever.
                return Err(PortError::new(
                    ErrorKind::Other,
                    "the server closed the change stream",
                ));
            };
            let unreadable = |e: bson::error::Error| {
                PortError::new(
                    ErrorKind::Other,
                    format!("a change event could not be read: {e}"),
                )
            };
            // Most events are whole: read straight from their bytes. A fragment is taken apart
            // as a document and joined with the others.
            let event: ChangeStreamEvent<Document> = match raw.get("splitEvent") {
                Ok(Some(_)) => {
                    let fragment = Document::try_from(raw).map_err(unreadable)?;
                    let split = fragment
                        .get_document("splitEvent")
                        .cloned()
                        .unwrap_or_default();
                    match self.join(fragment, &split)? {
                        Some(event) => {
                            bson::deserialize_from_document(event).map_err(unreadable)?
                        }
                        None => continue,
                    }
                }
                _ if !self.fragments.is_empty() => {
                    return Err(PortError::new(
                        ErrorKind::Other,
                        "a split change event could not be joined: an event came between its fragments",
                    ));
                }
                _ => bson::deserialize_from_slice(raw.as_bytes()).map_err(unreadable)?,
            };
            return convert_event(event).map(Some);
        }
    }

    fn resume_token(&self) -> Option<ResumeToken> {
        let token = if self.fragments.is_empty() {
            self.inner.resume_token()?
        } else {
            self.before_split.clone()?
        };
        match from_driver_token(&token) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err, "the change stream's resume token is not a document");
                None
            }
        }
    }

    fn awaits(&self) -> bool {
        true
    }
}

pub(super) fn convert_event(event: ChangeStreamEvent<Document>) -> PortResult<ChangeEvent> {
    let token = from_driver_token(&event.id)?;
    let cluster_time = event.cluster_time.ok_or_else(|| {
        PortError::new(
            ErrorKind::Other,
            "a change event arrived without a clusterTime",
        )
    })?;
    Ok(ChangeEvent {
        token,
        cluster_time,
        operation: operation_type(&event.operation_type),
        collection: event.ns.and_then(|ns| ns.coll).unwrap_or_default(),
        document_key: event.document_key,
        full_document: event.full_document,
        full_document_before_change: event.full_document_before_change,
        lsid: event.lsid.as_ref().and_then(SessionId::from_lsid),
        txn_number: event.txn_number,
    })
}

fn operation_type(op: &DriverOperationType) -> OperationType {
    match op {
        DriverOperationType::Insert => OperationType::Insert,
        DriverOperationType::Update => OperationType::Update,
        DriverOperationType::Replace => OperationType::Replace,
        DriverOperationType::Delete => OperationType::Delete,
        DriverOperationType::Drop => OperationType::Drop,
        DriverOperationType::Rename => OperationType::Rename,
        DriverOperationType::DropDatabase => OperationType::DropDatabase,
        DriverOperationType::Invalidate => OperationType::Invalidate,
        DriverOperationType::Other(name) => OperationType::Other(name.clone()),
        // Variants a later driver adds: its serde name is the server's `operationType`.
        other => OperationType::Other(match bson::serialize_to_bson(other) {
            Ok(Bson::String(name)) => name,
            _ => format!("{other:?}"),
        }),
    }
}
