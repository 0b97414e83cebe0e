//! A transaction's operations as write commands: each run of consecutive operations on one
//! collection that map to the same command (`update` for upserts and updates, `delete`,
//! `insert`) becomes one multi-statement command, in the operations' order, bounded in
//! statements and bytes. Everything is encoded before anything is sent, so an operation the
//! server would refuse for its size or shape is that operation's error without a round trip.

use bson::raw::{CStr, cstr};
use bson::{Document, RawArrayBuf, RawDocumentBuf, rawdoc};
use mongodb::error::{Error as DriverError, ErrorKind as DriverErrorKind};

use super::classify_op_error;
use crate::error::{ErrorKind, PortError};
use crate::port::{TxnError, UpdateModification, WriteOp};

/// MongoDB's `maxBsonObjectSize`: no document may be larger.
pub(super) const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The largest statement sent: the server reads a command's body up to 16 MiB + 16 KiB
/// (`BSONObjMaxInternalSize`), and a statement that goes alone shares the body with the
/// command's own fields (`lsid`, `txnNumber`, `$clusterTime`, `readConcern`, `$db`: well under
/// 4 KiB).
const MAX_STATEMENT_BYTES: usize = MAX_DOCUMENT_BYTES + 12 * 1024;

/// Statements per command. The server takes up to 100,000 (`maxWriteBatchSize`); a thousand
/// keeps a reply's `upserted` list and one command's work small while a write-back batch still
/// goes out in one command.
pub(super) const MAX_STATEMENTS: usize = 1_000;

/// Encoded statements per command: far below the 48 MB message limit and below the command
/// body's 16 MiB (`run_command` sends one body, not document sequences). A statement larger
/// than this goes alone.
pub(super) const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;

/// The write command an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CommandKind {
    /// `update` with `updates: [{q, u, upsert, multi: false}]`: upserts (a replacement `u`) and
    /// updates (an operator document or a pipeline `u`).
    Update,
    /// `delete` with `deletes: [{q, limit: 1}]`.
    Delete,
    /// `insert` with `documents`.
    Insert,
}

impl CommandKind {
    fn of(op: &WriteOp) -> Self {
        match op {
            WriteOp::Upsert { .. } | WriteOp::Update { .. } => CommandKind::Update,
            WriteOp::Delete { .. } => CommandKind::Delete,
            WriteOp::Insert { .. } => CommandKind::Insert,
        }
    }

    /// The command's name and the field holding its statements.
    fn fields(self) -> (&'static CStr, &'static CStr) {
        match self {
            CommandKind::Update => (cstr!("update"), cstr!("updates")),
            CommandKind::Delete => (cstr!("delete"), cstr!("deletes")),
            CommandKind::Insert => (cstr!("insert"), cstr!("documents")),
        }
    }
}

/// One write command of a transaction: statement `i` is the transaction's operation
/// `first + i`.
#[derive(Debug)]
pub(super) struct WriteCommand {
    pub(super) kind: CommandKind,
    pub(super) first: usize,
    pub(super) statements: usize,
    /// `{update: <collection>, updates: [...], ordered: true}` and the like.
    pub(super) body: RawDocumentBuf,
}

/// A run being collected: the commands' statements so far.
struct Run<'a> {
    kind: CommandKind,
    collection: &'a str,
    first: usize,
    statements: RawArrayBuf,
    count: usize,
    bytes: usize,
}

impl Run<'_> {
    fn takes(&self, kind: CommandKind, collection: &str, bytes: usize) -> bool {
        self.kind == kind
            && self.collection == collection
            && self.count < MAX_STATEMENTS
            && self.bytes + bytes <= MAX_COMMAND_BYTES
    }

    fn finish(self) -> WriteCommand {
        let (name, field) = self.kind.fields();
        let mut body = RawDocumentBuf::new();
        body.append(name, self.collection);
        body.append(field, self.statements);
        body.append(cstr!("ordered"), true);
        WriteCommand {
            kind: self.kind,
            first: self.first,
            statements: self.count,
            body,
        }
    }
}

/// The commands that run `ops` in order. The first operation that cannot be sent (too large,
/// not encodable, an update without operators) is the error, named by its index.
pub(super) fn plan(ops: &[WriteOp]) -> Result<Vec<WriteCommand>, TxnError> {
    let mut commands = Vec::new();
    let mut run: Option<Run<'_>> = None;
    for (index, op) in ops.iter().enumerate() {
        let statement = statement(op).map_err(|error| TxnError {
            op_index: Some(index),
            error,
        })?;
        let kind = CommandKind::of(op);
        let collection = op.collection();
        // The statement's entry in the array: type byte, decimal index, NUL, then the document.
        let bytes = statement.as_bytes().len() + 12;
        if let Some(current) = run.take_if(|r| !r.takes(kind, collection, bytes)) {
            commands.push(current.finish());
        }
        let current = run.get_or_insert_with(|| Run {
            kind,
            collection,
            first: index,
            statements: RawArrayBuf::new(),
            count: 0,
            bytes: 0,
        });
        current.statements.push(statement);
        current.count += 1;
        current.bytes += bytes;
    }
    commands.extend(run.map(Run::finish));
    Ok(commands)
}

/// One operation as its command's statement, checked as the driver's single-document methods
/// check it (and as the server would refuse it).
fn statement(op: &WriteOp) -> Result<RawDocumentBuf, PortError> {
    let statement = match op {
        WriteOp::Upsert {
            filter,
            replacement,
            ..
        } => {
            if first_key(replacement).is_some_and(|k| k.starts_with('$')) {
                return Err(invalid(
                    "the replacement document starts with an update operator ($-prefixed field)",
                ));
            }
            rawdoc! {
                "q": encode(filter)?,
                "u": document(replacement)?,
                "upsert": true,
                "multi": false,
            }
        }
        WriteOp::Update {
            filter,
            update,
            upsert,
            ..
        } => {
            let mut statement = rawdoc! { "q": encode(filter)? };
            match update {
                UpdateModification::Operators(operators) => {
                    match first_key(operators) {
                        None => return Err(invalid("the update document is empty")),
                        Some(k) if !k.starts_with('$') => {
                            return Err(invalid(
                                "the update document must only contain update operators ($set, $unset)",
                            ));
                        }
                        Some(_) => {}
                    }
                    statement.append(cstr!("u"), document(operators)?);
                }
                UpdateModification::Pipeline(stages) => {
                    statement.append(cstr!("u"), pipeline(stages)?);
                }
            }
            statement.append(cstr!("upsert"), *upsert);
            statement.append(cstr!("multi"), false);
            statement
        }
        WriteOp::Delete { filter, .. } => rawdoc! { "q": encode(filter)?, "limit": 1 },
        WriteOp::Insert { document: d, .. } => document(d)?,
    };
    let size = statement.as_bytes().len();
    if size > MAX_STATEMENT_BYTES {
        return Err(too_large("operation", size));
    }
    Ok(statement)
}

fn first_key(document: &Document) -> Option<&str> {
    document.keys().next().map(String::as_str)
}

fn invalid(message: &str) -> PortError {
    PortError::new(ErrorKind::InvalidDocument, message)
}

/// A document the statement carries whole (a replacement, an update, an insert): at most
/// MongoDB's 16 MiB.
fn document(document: &Document) -> Result<RawDocumentBuf, PortError> {
    let raw = encode(document)?;
    let size = raw.as_bytes().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large("document", size));
    }
    Ok(raw)
}

/// An update pipeline as the statement's `u` array. It counts in the statement's bytes (bounded
/// by [`MAX_STATEMENT_BYTES`], and by the command's in a run): a merge update carries the whole
/// document it writes, plus its expressions.
fn pipeline(stages: &[Document]) -> Result<RawArrayBuf, PortError> {
    let mut array = RawArrayBuf::new();
    for stage in stages {
        if stage.len() != 1 || first_key(stage).is_none_or(|k| !k.starts_with('$')) {
            return Err(invalid(
                "each stage of an update pipeline must be one `$`-named stage",
            ));
        }
        array.push(encode(stage)?);
    }
    Ok(array)
}

/// BSON bytes; a document BSON cannot hold (a key with a NUL byte) is the document's fault.
fn encode(document: &Document) -> Result<RawDocumentBuf, PortError> {
    RawDocumentBuf::try_from(document)
        .map_err(|e| classify_op_error(DriverError::from(DriverErrorKind::Bson(e))))
}

fn too_large(what: &str, size: usize) -> PortError {
    PortError::new(
        ErrorKind::DocumentTooLarge,
        format!(
            "the {what} is {size} bytes, over MongoDB's limit of {MAX_DOCUMENT_BYTES} bytes \
             (16 MiB): it cannot be written until it is made smaller"
        ),
    )
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    use super::*;

    fn merge(id: i32, payload: usize) -> WriteOp {
        WriteOp::Update {
            collection: "items".to_owned(),
            filter: doc! {"_id": id},
            update: UpdateModification::Pipeline(vec![doc! {"$replaceWith": {
                "_id": {"$literal": id},
                "payload": {"$literal": "x".repeat(payload)},
                "blob": {"$getField": {"field": {"$literal": "blob"}, "input": "$$ROOT"}},
            }}]),
            upsert: true,
        }
    }

    #[test]
    fn a_pipeline_goes_as_the_statements_u_array() {
        let commands = plan(&[merge(1, 3)]).expect("plans");
        let body = Document::try_from(commands[0].body.as_ref()).expect("decodes");
        let statement = body.get_array("updates").expect("updates")[0]
            .as_document()
            .expect("a statement")
            .clone();
        let Some(Bson::Array(u)) = statement.get("u") else {
            panic!("u is not an array: {statement}");
        };
        assert_eq!(u.len(), 1);
        assert_eq!(statement.get("upsert"), Some(&Bson::Boolean(true)));
    }

    #[test]
    fn a_pipelines_bytes_count_in_its_command_and_its_statement() {
        // Two 5 MiB pipelines do not share an 8 MiB command.
        let big = 5 * 1024 * 1024;
        let commands = plan(&[merge(1, big), merge(2, big)]).expect("plans");
        assert_eq!(commands.len(), 2);
        // One over the statement limit fails at its own index before anything is sent.
        let err = plan(&[merge(1, 3), merge(2, MAX_STATEMENT_BYTES)]).expect_err("too large");
        assert_eq!(err.op_index, Some(1));
        assert_eq!(err.error.kind, ErrorKind::DocumentTooLarge);
    }

    #[test]
    fn a_stage_that_is_not_one_named_stage_is_the_operations_fault() {
        let op = WriteOp::Update {
            collection: "items".to_owned(),
            filter: doc! {"_id": 1},
            update: UpdateModification::Pipeline(vec![doc! {"a": 1}]),
            upsert: false,
        };
        let err = plan(&[op]).expect_err("refused");
        assert_eq!(err.op_index, Some(0));
        assert_eq!(err.error.kind, ErrorKind::InvalidDocument);
    }
}
