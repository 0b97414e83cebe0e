//! Errors from MongoDB, classified by what the engine should do about them: retry (transient),
//! stop and tell the user (permanent), or set one document aside and go on (per-document).

use std::fmt;

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with backoff: the same request can succeed later.
    Transient,
    /// Retrying will not help: the connector fails with a code and a remediation.
    Permanent,
    /// One document is at fault: record it as unsynced and go on with the rest.
    Document,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    // Transient.
    /// Connection refused, reset, dropped mid-batch, or no server selectable in time.
    Network,
    /// An operation exceeded its time limit.
    Timeout,
    /// The primary stepped down or this node is not (or no longer) primary.
    NotPrimary,
    /// A transaction conflict or another error labelled `TransientTransactionError`.
    TransientTransaction,
    /// The server shed load (rate limited, too many connections).
    Throttled,
    /// A commit was sent but its outcome stayed unknown after retries: the transaction may have
    /// been applied. Retrying it must not duplicate non-idempotent writes (inserts).
    CommitOutcomeUnknown,
    /// The batch was too much for the server in one transaction or message: it ran past the
    /// transaction lifetime limit, outgrew the storage engine's cache or the 16 MiB of an oplog
    /// entry or a reply. Nothing was written; the same writes in smaller batches can succeed.
    BatchTooLarge,

    // Permanent.
    InvalidConnectionString,
    /// Authentication failed: wrong user name, password or mechanism.
    Authentication,
    /// The user lacks a privilege for this operation.
    Unauthorized,
    /// The database or collection does not exist.
    NamespaceNotFound,
    /// The collection's change stream cannot resume from its position: the resume point has
    /// rolled off the oplog, or the server refuses the resume token (it belongs to a collection
    /// dropped and recreated since, or to another deployment) or the stream (a fatal change
    /// stream error). Only that collection is affected; copying it again starts a new stream.
    HistoryLost,
    /// A pre- or post-image was required but not recorded (images not enabled, or expired): the
    /// same family as [`ErrorKind::HistoryLost`], the stream cannot go past that event.
    ImagesUnavailable,
    /// The request is not valid for this deployment (standalone server, option not supported).
    Unsupported,
    /// The cluster led the client to an address the outbound policy refuses.
    TargetNotAllowed,
    /// Anything else that will not go away by retrying.
    Other,

    // Per document.
    /// The collection's validator rejected the document.
    SchemaValidation,
    /// A unique index already holds this key.
    DuplicateKey,
    /// Over MongoDB's 16 MiB document limit.
    DocumentTooLarge,
    /// A field name or value MongoDB refuses.
    InvalidDocument,
}

impl ErrorKind {
    pub fn class(self) -> ErrorClass {
        use ErrorKind::*;
        match self {
            Network | Timeout | NotPrimary | TransientTransaction | Throttled
            | CommitOutcomeUnknown | BatchTooLarge => ErrorClass::Transient,
            SchemaValidation | DuplicateKey | DocumentTooLarge | InvalidDocument => {
                ErrorClass::Document
            }
            InvalidConnectionString
            | Authentication
            | Unauthorized
            | NamespaceNotFound
            | HistoryLost
            | ImagesUnavailable
            | Unsupported
            | TargetNotAllowed
            | Other => ErrorClass::Permanent,
        }
    }

    /// The kind for a server error code (see MongoDB's `error_codes.yml`; five-digit codes are
    /// the server's assertion ids), if the code alone decides it.
    pub fn from_server_code(code: i32) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match code {
            // HostUnreachable, HostNotFound, NetworkTimeout, SocketException,
            // NetworkInterfaceExceededTimeLimit, FailedToSatisfyReadPreference
            6 | 7 | 89 | 9001 | 202 | 133 => Network,
            // MaxTimeMSExpired, ExceededTimeLimit, WriteConcernTimeout (wtimeout)
            50 | 262 | 64 => Timeout,
            // InterruptedAtShutdown, InterruptedDueToReplStateChange, NotWritablePrimary,
            // NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, PrimarySteppedDown, ShutdownInProgress
            11600 | 11602 | 10107 | 13435 | 13436 | 189 | 91 => NotPrimary,
            // WriteConflict, LockTimeout, NoSuchTransaction
            112 | 24 | 251 => TransientTransaction,
            // IngressRequestRateLimitExceeded, RateLimitExceeded (both SystemOverloadedError)
            462 | 449 => Throttled,
            // TransactionExceededLifetimeLimitSeconds, TransactionTooLargeForCache,
            // TransactionTooLarge, BSONObjectTooLarge: smaller batches get through. Also
            // Location7182500: a change event with one field too large even for a fragment of
            // `$changeStreamSplitLargeEvent`.
            290 | 388 | 257 | 10334 | 7182500 => BatchTooLarge,
            // AuthenticationFailed
            18 => Authentication,
            // Unauthorized
            13 => Unauthorized,
            // NamespaceNotFound
            26 => NamespaceNotFound,
            // The collection's stream cannot resume: ChangeStreamHistoryLost, CappedPositionLost
            // (the resume point rolled off the oplog), InvalidResumeToken (a token of a
            // collection dropped and recreated since, or of another deployment),
            // ChangeStreamFatalError (the server will not resume this stream).
            286 | 136 | 260 | 280 => HistoryLost,
            // NoMatchingDocument: a required pre/post image is missing.
            47 => ImagesUnavailable,
            // IllegalOperation (`txnNumber` on a standalone server), CommandNotSupported,
            // InvalidOptions, and "$changeStream is only supported on replica sets".
            20 | 115 | 72 | 40573 => Unsupported,
            // DocumentValidationFailure
            121 => SchemaValidation,
            // DuplicateKey
            11000 => DuplicateKey,
            // An update's result, or an upsert's new document, over 16 MiB.
            17419 | 17420 => DocumentTooLarge,
            // DollarPrefixedFieldName, EmptyFieldName, DottedFieldName, InvalidIdField; and what
            // a write makes of one document: BadValue (also "object to insert too large"),
            // TypeMismatch, PathNotViable (a field inside a scalar or array),
            // ConflictingUpdateOperators, ImmutableField (`_id` changed).
            52 | 56 | 57 | 53 | 2 | 14 | 28 | 40 | 66 => InvalidDocument,
            _ => return None,
        })
    }
}

/// An error from the MongoDB side, classified. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PortError {
    pub kind: ErrorKind,
    /// The server's error code, when the server answered.
    pub code: Option<i32>,
    pub message: String,
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} (code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl PortError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PortError {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// A server error by its code; unknown codes are permanent.
    pub fn server(code: i32, message: impl Into<String>) -> Self {
        let message = message.into();
        let kind = match code {
            // BadValue is also how an insert's own 16 MiB check answers ("object to insert too
            // large").
            2 if message.contains("too large") => ErrorKind::DocumentTooLarge,
            _ => ErrorKind::from_server_code(code).unwrap_or(ErrorKind::Other),
        };
        PortError {
            kind,
            code: Some(code),
            message,
        }
    }

    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_are_classified() {
        assert_eq!(
            PortError::server(189, "stepdown").class(),
            ErrorClass::Transient
        );
        assert_eq!(PortError::server(10107, "x").class(), ErrorClass::Transient);
        assert_eq!(PortError::server(112, "x").class(), ErrorClass::Transient);
        assert_eq!(PortError::server(18, "x").kind, ErrorKind::Authentication);
        assert_eq!(PortError::server(13, "x").class(), ErrorClass::Permanent);
        assert_eq!(PortError::server(286, "x").kind, ErrorKind::HistoryLost);
        assert_eq!(PortError::server(121, "x").class(), ErrorClass::Document);
        assert_eq!(PortError::server(11000, "x").kind, ErrorKind::DuplicateKey);
        assert_eq!(PortError::server(99999, "x").class(), ErrorClass::Permanent);
        assert_eq!(
            PortError::server(121, "Document failed validation").to_string(),
            "Document failed validation (code 121)"
        );
    }

    /// The codes that mean "too much at once": the write-back shrinks its batch and retries.
    #[test]
    fn a_batch_too_large_or_too_long_is_transient() {
        // TransactionExceededLifetimeLimitSeconds, TransactionTooLargeForCache,
        // TransactionTooLarge, BSONObjectTooLarge.
        for code in [290, 388, 257, 10334] {
            let e = PortError::server(code, "x");
            assert_eq!(e.kind, ErrorKind::BatchTooLarge, "code {code}");
            assert!(e.is_transient(), "code {code}");
        }
    }

    /// What a write makes of one document is that document's fault: recorded as unsynced, the
    /// rest of the batch goes on.
    #[test]
    fn one_document_s_faults_are_per_document() {
        for code in [17419, 17420] {
            assert_eq!(
                PortError::server(code, "x").kind,
                ErrorKind::DocumentTooLarge,
                "code {code}"
            );
        }
        // BadValue, TypeMismatch, PathNotViable, ConflictingUpdateOperators, ImmutableField.
        for code in [2, 14, 28, 40, 66] {
            let e = PortError::server(code, "x");
            assert_eq!(e.kind, ErrorKind::InvalidDocument, "code {code}");
            assert_eq!(e.class(), ErrorClass::Document, "code {code}");
        }
        let too_large = PortError::server(
            2,
            "object to insert too large. size in bytes: 16777300, max size: 16777216",
        );
        assert_eq!(too_large.kind, ErrorKind::DocumentTooLarge);
    }

    /// 462 is IngressRequestRateLimitExceeded and 449 RateLimitExceeded; 9002 and 11001 are no
    /// server's codes.
    #[test]
    fn rate_limits_are_throttling_and_codes_that_do_not_exist_are_unknown() {
        for code in [462, 449] {
            let e = PortError::server(code, "x");
            assert_eq!(e.kind, ErrorKind::Throttled, "code {code}");
            assert!(e.is_transient());
        }
        for code in [9002, 11001] {
            assert_eq!(ErrorKind::from_server_code(code), None, "code {code}");
        }
    }

    /// InvalidResumeToken and ChangeStreamFatalError end a collection's stream like history
    /// lost: that collection is resynced or fails (`onHistoryLost`), never retried as it is.
    #[test]
    fn a_stream_that_cannot_resume_is_history_lost() {
        for code in [286, 136, 260, 280] {
            let e = PortError::server(code, "x");
            assert_eq!(e.kind, ErrorKind::HistoryLost, "code {code}");
            assert_eq!(e.class(), ErrorClass::Permanent, "code {code}");
        }
        let images = PortError::server(47, "x");
        assert_eq!(images.kind, ErrorKind::ImagesUnavailable);
        assert_eq!(images.class(), ErrorClass::Permanent);
    }

    /// A standalone server: `txnNumber` refused, change streams refused.
    #[test]
    fn what_a_standalone_server_refuses_is_unsupported() {
        for code in [20, 40573] {
            assert_eq!(
                PortError::server(code, "x").kind,
                ErrorKind::Unsupported,
                "code {code}"
            );
        }
    }
}
