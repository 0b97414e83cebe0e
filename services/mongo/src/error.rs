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

    // Permanent.
    InvalidConnectionString,
    /// Authentication failed: wrong user name, password or mechanism.
    Authentication,
    /// The user lacks a privilege for this operation.
    Unauthorized,
    /// The database or collection does not exist.
    NamespaceNotFound,
    /// The resume point has rolled off the oplog.
    HistoryLost,
    /// A pre- or post-image was required but not recorded (images not enabled).
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
            | CommitOutcomeUnknown => ErrorClass::Transient,
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

    /// The kind for a server error code (see MongoDB's `error_codes.yml`), if the code alone
    /// decides it.
    pub fn from_server_code(code: i32) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match code {
            // HostUnreachable, HostNotFound, NetworkTimeout, SocketException,
            // NetworkInterfaceExceededTimeLimit
            6 | 7 | 89 | 9001 | 202 => Network,
            // MaxTimeMSExpired, ExceededTimeLimit
            50 | 262 => Timeout,
            // WriteConcernFailed (wtimeout), FailedToSatisfyReadPreference
            64 => Timeout,
            133 => Network,
            // InterruptedAtShutdown, InterruptedDueToReplStateChange, NotWritablePrimary,
            // NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, PrimarySteppedDown, ShutdownInProgress
            11600 | 11602 | 10107 | 13435 | 13436 | 189 | 91 => NotPrimary,
            // WriteConflict, LockTimeout, NoSuchTransaction
            112 | 24 | 251 => TransientTransaction,
            // RateLimitExceeded, TooManyConnections
            462 | 9002 => Throttled,
            // AuthenticationFailed
            18 => Authentication,
            // Unauthorized
            13 => Unauthorized,
            // NamespaceNotFound
            26 => NamespaceNotFound,
            // ChangeStreamHistoryLost, CappedPositionLost (resume from a rolled-off oplog point)
            286 | 136 => HistoryLost,
            // NoMatchingDocument: a required pre/post image is missing
            47 => ImagesUnavailable,
            // IllegalOperation, CommandNotSupported, InvalidOptions
            20 | 115 | 72 => Unsupported,
            // DocumentValidationFailure
            121 => SchemaValidation,
            // DuplicateKey
            11000 | 11001 => DuplicateKey,
            // BSONObjectTooLarge
            10334 | 17419 => DocumentTooLarge,
            // DollarPrefixedFieldName, EmptyFieldName, DottedFieldName, InvalidIdField
            52 | 56 | 57 | 53 => InvalidDocument,
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
        PortError {
            kind: ErrorKind::from_server_code(code).unwrap_or(ErrorKind::Other),
            code: Some(code),
            message: message.into(),
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
}
