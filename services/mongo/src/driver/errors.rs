//! Error classification: driver errors as port errors, by server code, driver error kind and the
//! server's error labels.

use mongodb::error::{
    BulkWriteError, Error as DriverError, ErrorKind as DriverErrorKind, InsertManyError,
    RETRYABLE_WRITE_ERROR, SYSTEM_OVERLOADED_ERROR, TRANSIENT_TRANSACTION_ERROR, WriteFailure,
};

use crate::error::{ErrorKind, PortError};
use crate::reach;

/// A driver error as a port error: the server's code when the server answered, the driver's
/// error kind otherwise, then the server's error labels where the code alone says "permanent".
///
/// Messages are the server's `errmsg` or the driver's description of the failure; neither holds
/// the connection string.
pub fn classify(err: DriverError) -> PortError {
    let error = match err.kind.as_ref() {
        DriverErrorKind::Authentication { message, .. } => {
            PortError::new(ErrorKind::Authentication, message.clone())
        }
        DriverErrorKind::Command(e) => PortError::server(e.code, e.message.clone()),
        DriverErrorKind::Write(WriteFailure::WriteError(e)) => {
            PortError::server(e.code, e.message.clone())
        }
        DriverErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
            PortError::server(e.code, e.message.clone())
        }
        DriverErrorKind::InsertMany(e) => insert_many_error(e),
        DriverErrorKind::BulkWrite(e) => bulk_write_error(e),
        // The driver's text lists every server it knows, including members the cluster itself
        // advertises; a tenant must not learn from it which internal addresses answer.
        DriverErrorKind::ServerSelection { .. } => {
            tracing::debug!(error = %err, "server selection failed");
            PortError::new(
                ErrorKind::Network,
                "no server of the cluster could be selected within the server selection timeout",
            )
        }
        // Its text names the member and the cause (refused, timed out): the same leak.
        DriverErrorKind::ConnectionPoolCleared { .. } => {
            tracing::debug!(error = %err, "connection pool cleared");
            PortError::new(
                ErrorKind::Network,
                "the connection to a server of the cluster was lost",
            )
        }
        DriverErrorKind::Io(e) => PortError::new(ErrorKind::Network, reach::io_cause(e)),
        // Its text can be the resolver's dump of the query and the records it found.
        DriverErrorKind::DnsResolve { message, .. } => PortError::new(
            ErrorKind::Network,
            format!("the DNS lookup failed: {}", reach::dns_cause(message)),
        ),
        // A standalone server (no sessions, no transactions) or one too old for the request.
        kind @ (DriverErrorKind::SessionsNotSupported
        | DriverErrorKind::IncompatibleServer { .. }
        | DriverErrorKind::Transaction { .. }) => {
            PortError::new(ErrorKind::Unsupported, kind.to_string())
        }
        kind => PortError::new(ErrorKind::Other, kind.to_string()),
    };
    apply_labels(error, |label| err.contains_label(label))
}

/// Error labels decide what the code alone did not: a code we do not know (or know as
/// permanent) still means "retry" when the server labels it so.
pub(super) fn apply_labels(mut error: PortError, has_label: impl Fn(&str) -> bool) -> PortError {
    if error.is_transient() {
        return error;
    }
    if has_label(TRANSIENT_TRANSACTION_ERROR) {
        error.kind = ErrorKind::TransientTransaction;
    } else if has_label(RETRYABLE_WRITE_ERROR) {
        error.kind = ErrorKind::NotPrimary;
    } else if has_label(SYSTEM_OVERLOADED_ERROR) {
        error.kind = ErrorKind::Throttled;
    }
    error
}

/// The first write error (by operation index), else the write-concern error.
fn insert_many_error(e: &InsertManyError) -> PortError {
    let first = e
        .write_errors
        .iter()
        .flatten()
        .min_by_key(|w| w.index)
        .map(|w| PortError::server(w.code, w.message.clone()));
    first
        .or_else(|| {
            e.write_concern_error
                .as_ref()
                .map(|w| PortError::server(w.code, w.message.clone()))
        })
        .unwrap_or_else(|| PortError::new(ErrorKind::Other, "insertMany failed"))
}

/// The first write error (by operation index), else the first write-concern error.
fn bulk_write_error(e: &BulkWriteError) -> PortError {
    let first = e
        .write_errors
        .iter()
        .min_by_key(|(index, _)| **index)
        .map(|(_, w)| PortError::server(w.code, w.message.clone()));
    first
        .or_else(|| {
            e.write_concern_errors
                .first()
                .map(|w| PortError::server(w.code, w.message.clone()))
        })
        .unwrap_or_else(|| PortError::new(ErrorKind::Other, "bulkWrite failed"))
}
