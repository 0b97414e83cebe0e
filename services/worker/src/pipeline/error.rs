//! What ends a pipeline (or the write-back), and the api calls retried while it is unavailable.

use crate::client::ClientError;
use edgebridge_mongo::error::{ErrorClass, ErrorKind, PortError};
use std::time::Duration;
use uuid::Uuid;

/// Codes of failures that pass by themselves (the cluster or the api unavailable for a while):
/// the supervisor restarts the pipeline from its checkpoint and rides them out for a window.
pub const TRANSIENT_CODES: [&str; 2] = ["mongodb_unavailable", "edge_store_unavailable"];

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The api refused the epoch: the connector is someone else's now.
    #[error("fenced")]
    Fenced,
    /// This collection cannot be synced as configured (the others go on).
    #[error("{code}: {message}")]
    Collection {
        code: &'static str,
        message: String,
        remediation: &'static str,
    },
    /// The collection's change stream cannot go on from where it is: its history rolled off
    /// the oplog, MongoDB refuses its resume token or the stream, a required pre-image is
    /// missing, or an event is too large to deliver. Retrying at the same position can never
    /// pass; `onHistoryLost` decides between a resync and failing the collection.
    #[error("{code}: {message}")]
    HistoryLost {
        code: &'static str,
        message: String,
        remediation: &'static str,
    },
    /// Anything else: the supervisor restarts the pipeline (or the write-back) from its
    /// checkpoint after a backoff; the same error at the same position a few times stops it.
    #[error("{code}: {message}")]
    Failed {
        code: &'static str,
        message: String,
        remediation: &'static str,
    },
}

/// Why a stream cannot go on, by the server's code: (code, remediation).
fn history_lost(e: &PortError) -> (&'static str, &'static str) {
    match (e.kind, e.code) {
        (ErrorKind::ImagesUnavailable, _) => (
            "pre_image_missing",
            "MongoDB holds no pre-image for a change the connector must read: pre- and post-images were turned off for a while, or expired (expireAfterSeconds) before the connector read them. Keep changeStreamPreAndPostImages enabled with an expiry longer than the connector's longest lag, then resync the collection (POST .../collections/{name}/resync), or set onHistoryLost to resync.",
        ),
        (ErrorKind::BatchTooLarge, _) => (
            "change_event_too_large",
            "A change event of this collection is larger than MongoDB can deliver (16 MiB, even split into fragments). Resync the collection (POST .../collections/{name}/resync) to copy its current state and stream on from there, or set onHistoryLost to resync; keep documents well under 16 MiB.",
        ),
        (_, Some(260)) => (
            "resume_token_invalid",
            "MongoDB refuses the collection's stored stream position: the collection was dropped and recreated since, or the connection string now leads to another deployment. Resync the collection (POST .../collections/{name}/resync), or set onHistoryLost to resync.",
        ),
        (_, Some(280)) => (
            "change_stream_fatal",
            "MongoDB will not resume this collection's change stream. Resync the collection (POST .../collections/{name}/resync), or set onHistoryLost to resync.",
        ),
        _ => (
            "resume_point_lost",
            "The oplog no longer holds where this collection stopped. Resync it (POST .../collections/{name}/resync), or set onHistoryLost to resync; consider a larger oplog.",
        ),
    }
}

impl From<PortError> for PipelineError {
    fn from(e: PortError) -> Self {
        if matches!(
            e.kind,
            ErrorKind::HistoryLost | ErrorKind::ImagesUnavailable | ErrorKind::BatchTooLarge
        ) {
            let (code, remediation) = history_lost(&e);
            return PipelineError::HistoryLost {
                code,
                message: e.to_string(),
                remediation,
            };
        }
        let (code, remediation) = match e.kind {
            ErrorKind::Unauthorized | ErrorKind::Authentication => (
                "not_authorized",
                "Grant the connector's database user find and changeStream on the collection.",
            ),
            ErrorKind::NamespaceNotFound => (
                "collection_not_found",
                "Recreate the collection in MongoDB, or remove it from the connector.",
            ),
            _ if e.class() == ErrorClass::Transient => (
                "mongodb_unavailable",
                "None needed if it passes: the connector retries by itself.",
            ),
            _ => (
                "mongodb_error",
                "Check the error; the connector retries by itself.",
            ),
        };
        PipelineError::Failed {
            code,
            message: e.to_string(),
            remediation,
        }
    }
}

impl From<ClientError> for PipelineError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Fenced(_) | ClientError::Expired(_) => PipelineError::Fenced,
            other => PipelineError::Failed {
                code: "edge_store_unavailable",
                message: other.to_string(),
                remediation: "None needed if it passes: the connector retries by itself.",
            },
        }
    }
}

/// Calls the api until it answers, retrying while it is unavailable (100 ms, doubling, about
/// 50 s in all); any other error ends it.
pub(crate) async fn while_unavailable<T, Fut>(
    connector_id: Uuid,
    what: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<T, PipelineError>
where
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(ClientError::Unavailable(why)) if wait < Duration::from_secs(30) => {
                tracing::warn!(%connector_id, %why, "{what} failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
