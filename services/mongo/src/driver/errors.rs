//! Error classification: driver errors as port errors, by server code, driver error kind and the
//! server's error labels.

use mongodb::error::{
    BulkWriteError, Error as DriverError, ErrorKind as DriverErrorKind, InsertManyError,
    RETRYABLE_WRITE_ERROR, SYSTEM_OVERLOADED_ERROR, TRANSIENT_TRANSACTION_ERROR, WriteFailure,
};

use crate::error::{ErrorKind, PortError};
use crate::reach;

/// IllegalOperation.
const ILLEGAL_OPERATION: i32 = 20;

const TXN_NUMBERS_REFUSED: &str = "Transaction numbers are only allowed on a replica set member \
or mongos: this MongoDB is a standalone server, without transactions or change streams";

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
        // The driver replaces the server's text for `txnNumber` on a standalone server with
        // advice about retryable writes that does not apply to transactions: say what it is.
        DriverErrorKind::Command(e)
            if e.code == ILLEGAL_OPERATION && e.message.contains("retryWrites=false") =>
        {
            PortError::server(e.code, TXN_NUMBERS_REFUSED)
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

#[cfg(test)]
mod tests {
    use bson::doc;
    use mongodb::error::{CommandError, WriteConcernError, WriteError};

    use super::*;
    use crate::error::ErrorClass;

    fn command(code: i32) -> DriverError {
        let e: CommandError = bson::deserialize_from_document(doc! {
            "code": code, "codeName": "X", "errmsg": "x",
        })
        .expect("a command error");
        DriverError::from(DriverErrorKind::Command(e))
    }

    fn write(code: i32) -> DriverError {
        let e: WriteError = bson::deserialize_from_document(doc! { "code": code, "errmsg": "x" })
            .expect("a write error");
        DriverError::from(DriverErrorKind::Write(WriteFailure::WriteError(e)))
    }

    /// A transaction past its lifetime, or too large, comes back as a command error (with the
    /// transaction's label when the server adds one): still "shrink and retry".
    #[test]
    fn a_batch_too_large_stays_batch_too_large_whatever_its_labels() {
        for code in [290, 388, 257, 10334] {
            let e = classify(command(code));
            assert_eq!(e.kind, ErrorKind::BatchTooLarge, "code {code}");
            assert_eq!(e.code, Some(code));
            let labelled = apply_labels(e, |label| label == TRANSIENT_TRANSACTION_ERROR);
            assert_eq!(labelled.kind, ErrorKind::BatchTooLarge, "code {code}");
        }
        let mut bulk = BulkWriteError::default();
        let too_large: WriteError =
            bson::deserialize_from_document(doc! { "code": 10334, "errmsg": "x" })
                .expect("a write error");
        bulk.write_errors.insert(0, too_large);
        assert_eq!(
            classify(DriverError::from(DriverErrorKind::BulkWrite(bulk))).kind,
            ErrorKind::BatchTooLarge
        );
    }

    /// A statement's own fault as a write error is that document's: the write-back records it
    /// as unsynced (the adapter names the statement's index) and goes on.
    #[test]
    fn a_document_s_write_errors_are_per_document() {
        for code in [17420, 17419, 28, 66, 2, 14, 40] {
            let e = classify(write(code));
            assert_eq!(e.class(), ErrorClass::Document, "code {code}: {e:?}");
        }
    }

    #[test]
    fn a_change_stream_that_cannot_resume_is_history_lost() {
        for code in [260, 280] {
            assert_eq!(
                classify(command(code)).kind,
                ErrorKind::HistoryLost,
                "code {code}"
            );
        }
    }

    /// A rate limit as a write concern error (or any error): retried.
    #[test]
    fn rate_limits_are_retried() {
        for code in [462, 449] {
            let wce: WriteConcernError = bson::deserialize_from_document(doc! {
                "code": code, "codeName": "X", "errmsg": "x",
            })
            .expect("a write concern error");
            let e = classify(DriverError::from(DriverErrorKind::Write(
                WriteFailure::WriteConcernError(wce),
            )));
            assert_eq!(e.kind, ErrorKind::Throttled, "code {code}");
        }
    }

    /// A standalone server refuses `txnNumber` with 20 IllegalOperation, whose text the driver
    /// replaces with advice for retryable writes: the port says what it is.
    #[test]
    fn illegal_operation_is_unsupported_and_says_why() {
        let e = classify(command(20));
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(e.class(), ErrorClass::Permanent);
        let rewritten: CommandError = bson::deserialize_from_document(doc! {
            "code": 20, "codeName": "IllegalOperation",
            "errmsg": "This MongoDB deployment does not support retryable writes. Please add retryWrites=false to your connection string.",
        })
        .expect("a command error");
        let e = classify(DriverError::from(DriverErrorKind::Command(rewritten)));
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(e.code, Some(20));
        assert!(e.message.contains("standalone server"), "{e:?}");
        assert!(!e.message.contains("retryWrites"), "{e:?}");
    }
}
