//! Change streams on the driver's stream, and resume tokens between the driver's type and ours.

use std::sync::Arc;

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

/// A collection change stream on the driver's stream. Iterated only through `next_if_any`, never
/// as a `futures::Stream`: the driver's `resume_token` and `is_alive` panic while a `Stream`
/// poll is in flight, and `next_if_any` never leaves one behind.
pub(super) struct DriverStream {
    pub(super) inner: DriverChangeStream<ChangeStreamEvent<Document>>,
    pub(super) guard: Arc<Guard>,
}

#[async_trait]
impl ChangeStream for DriverStream {
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>> {
        self.guard.check()?;
        match self
            .inner
            .next_if_any()
            .await
            .map_err(|e| self.guard.classify(e))?
        {
            Some(event) => convert_event(event).map(Some),
            // An empty batch: the stream's token has moved to the postBatchResumeToken.
            None if self.inner.is_alive() => Ok(None),
            // The server closed the cursor (after an invalidate event): without this the caller
            // would spin on empty answers forever.
            None => Err(PortError::new(
                ErrorKind::Other,
                "the server closed the change stream",
            )),
        }
    }

    fn resume_token(&self) -> Option<ResumeToken> {
        let token = self.inner.resume_token()?;
        match from_driver_token(&token) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err, "the change stream's resume token is not a document");
                None
            }
        }
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
