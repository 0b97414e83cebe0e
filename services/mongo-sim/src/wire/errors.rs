//! Command errors as the server sends them: `ok: 0`, `code`, `codeName`, `errmsg` and
//! `errorLabels`, with the code names of MongoDB's error_codes.yml for the codes we answer.

use bson::{Document, doc};
use edgebridge_mongo::PortError;

pub(crate) const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
pub(crate) const RETRYABLE_WRITE_ERROR: &str = "RetryableWriteError";
pub(crate) const RESUMABLE_CHANGE_STREAM_ERROR: &str = "ResumableChangeStreamError";

/// A failed command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommandError {
    pub code: i32,
    pub errmsg: String,
    pub labels: Vec<&'static str>,
    /// Fields the server adds for some errors (`topologyVersion` on NotWritablePrimary).
    pub extra: Option<Box<Document>>,
}

pub(crate) type CommandResult = Result<Document, CommandError>;

impl CommandError {
    pub(crate) fn new(code: i32, errmsg: impl Into<String>) -> Self {
        CommandError {
            code,
            errmsg: errmsg.into(),
            labels: Vec::new(),
            extra: None,
        }
    }

    pub(crate) fn label(mut self, label: &'static str) -> Self {
        if !self.labels.contains(&label) {
            self.labels.push(label);
        }
        self
    }

    pub(crate) fn bad_value(errmsg: impl Into<String>) -> Self {
        CommandError::new(2, errmsg)
    }

    pub(crate) fn type_mismatch(errmsg: impl Into<String>) -> Self {
        CommandError::new(14, errmsg)
    }

    /// The reply document (without `$clusterTime`, which the connection adds).
    pub(crate) fn to_document(&self) -> Document {
        let mut reply = doc! {
            "ok": 0.0,
            "errmsg": self.errmsg.clone(),
            "code": self.code,
            "codeName": code_name(self.code),
        };
        if !self.labels.is_empty() {
            reply.insert("errorLabels", self.labels.clone());
        }
        if let Some(extra) = &self.extra {
            reply.extend(extra.as_ref().clone());
        }
        reply
    }

    /// A write error entry (`writeErrors[i]`) for statement `index`.
    pub(crate) fn write_error(&self, index: usize) -> Document {
        doc! {
            "index": i32::try_from(index).unwrap_or(i32::MAX),
            "code": self.code,
            "codeName": code_name(self.code),
            "errmsg": self.errmsg.clone(),
        }
    }
}

impl From<PortError> for CommandError {
    /// The engine's errors carry the server code they stand for.
    fn from(error: PortError) -> Self {
        CommandError::new(error.code.unwrap_or(8), error.message)
    }
}

/// MongoDB's name of an error code (`codeName`).
pub(crate) fn code_name(code: i32) -> String {
    let name = match code {
        1 => "InternalError",
        2 => "BadValue",
        8 => "UnknownError",
        9 => "FailedToParse",
        10 => "InvalidLength",
        11 => "UserNotFound",
        13 => "Unauthorized",
        14 => "TypeMismatch",
        17 => "ProtocolError",
        18 => "AuthenticationFailed",
        20 => "IllegalOperation",
        26 => "NamespaceNotFound",
        28 => "PathNotViable",
        40 => "ConflictingUpdateOperators",
        43 => "CursorNotFound",
        47 => "NoMatchingDocument",
        48 => "NamespaceExists",
        50 => "MaxTimeMSExpired",
        52 => "DollarPrefixedFieldName",
        56 => "EmptyFieldName",
        59 => "CommandNotFound",
        64 => "WriteConcernTimeout",
        67 => "CannotCreateIndex",
        66 => "ImmutableField",
        72 => "InvalidOptions",
        73 => "InvalidNamespace",
        85 => "IndexOptionsConflict",
        86 => "IndexKeySpecsConflict",
        96 => "OperationFailed",
        112 => "WriteConflict",
        121 => "DocumentValidationFailure",
        166 => "CommandNotSupportedOnView",
        225 => "TransactionTooOld",
        334 => "MechanismUnavailable",
        352 => "UnsupportedOpQueryCommand",
        251 => "NoSuchTransaction",
        256 => "TransactionCommitted",
        260 => "InvalidResumeToken",
        263 => "OperationNotSupportedInTransaction",
        280 => "ChangeStreamFatalError",
        286 => "ChangeStreamHistoryLost",
        10107 => "NotWritablePrimary",
        13435 => "NotPrimaryNoSecondaryOk",
        11602 => "InterruptedDueToReplStateChange",
        10334 => "BSONObjectTooLarge",
        388 => "TransactionTooLargeForCache",
        11000 => "DuplicateKey",
        other => return format!("Location{other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reply_has_the_servers_fields() {
        let error = CommandError::new(10107, "not primary").label(RETRYABLE_WRITE_ERROR);
        let reply = error.to_document();
        assert_eq!(reply.get_f64("ok").unwrap(), 0.0);
        assert_eq!(reply.get_i32("code").unwrap(), 10107);
        assert_eq!(reply.get_str("codeName").unwrap(), "NotWritablePrimary");
        assert_eq!(
            reply.get_array("errorLabels").unwrap(),
            &vec![bson::Bson::String(RETRYABLE_WRITE_ERROR.into())]
        );
        assert_eq!(code_name(40324), "Location40324");
    }
}
