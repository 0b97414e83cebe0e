//! The write-back of a document MongoDB holds values of that the edge never carried (binary,
//! JavaScript code, Min/MaxKey, dates out of range: [`MongoDocument::preserve`]) as one update
//! pipeline, `[{$replaceWith: <the edge document>}]`, in which each kept value is read from the
//! document MongoDB holds at that moment (`$$ROOT`).
//!
//! Writing the edge document whole, rather than `$set` field by field, is what lets a field the
//! edge deleted go from MongoDB too, and what keeps an array an array when the document was
//! deleted in MongoDB meanwhile (an upsert starts from the filter's equality fields, and the
//! pipeline builds the whole document from them).

use bson::{Bson, Document, doc};

use super::{Diagnostic, MongoDocument};

/// The deepest expression sent. MongoDB refuses a command nested beyond 200 levels
/// (`BSONDepth::kDefaultMaxAllowableDepth`); the `update` command, its statement, the pipeline
/// and the stage take five of them, and the rest is margin.
pub const MAX_EXPRESSION_DEPTH: usize = 180;

/// The variable a guarded read binds to the container it reads from.
const PARENT: &str = "parent";

/// One step from a container to a member: a field of an object, or an element of an array.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

impl MongoDocument {
    /// The update that writes [`MongoDocument::document`] in place of what MongoDB holds while
    /// keeping the [`MongoDocument::preserve`] values MongoDB holds: a pipeline of one
    /// `$replaceWith` (MongoDB 5.0+ for `$getField`) whose expression is the edge document,
    /// each value as `{$literal: ...}`, except where a kept value sits: there the value is read
    /// from `$$ROOT`, and the objects and arrays above it are built member by member.
    ///
    /// A kept value missing from `$$ROOT` (the document was deleted, or changed by someone
    /// else) leaves its field out, or `null` in an array, where it keeps its position. A kept
    /// field the edge holds nothing for goes last in its object. A container the edge deleted
    /// or replaced with a scalar takes its kept values with it. Send it with `upsert`: on a
    /// missing document MongoDB runs the pipeline on the filter's equality fields, so the ID
    /// fields come out as the edge has them; `_id`, when the mapping builds the edge `_id` from
    /// other fields, is read from `$$ROOT` too (MongoDB keeps it, or generates one on insert).
    ///
    /// Refused (`field_not_addressable`) when an object holding a kept value, or the document
    /// itself, has a field name an expression object cannot hold (empty, with a `.`, or
    /// starting with `$`), and (`too_deep`) when a kept value sits too deep for the reads to
    /// stay under MongoDB's nesting limit: writing the whole document would drop those values.
    pub fn merge_update(&self) -> Result<Vec<Document>, Diagnostic> {
        let mut root = Document::new();
        if !self.document.contains_key("_id") {
            // Read back as it is, so an unchanged document compares equal and the update is a
            // no-op (MongoDB writes no oplog entry then).
            root.insert("_id", read(&[Step::Field("_id")]));
        }
        let built = object_expression(&self.document, &mut Vec::new(), &[], &self.preserve)?;
        root.extend(built);
        let depth = depth(&Bson::Document(root.clone()));
        if depth > MAX_EXPRESSION_DEPTH {
            return Err(Diagnostic {
                code: "too_deep",
                path: String::new(),
                message: format!(
                    "MongoDB holds values of types the edge does not carry nested so deep in this document that the update keeping them would be {depth} levels deep (the most is {MAX_EXPRESSION_DEPTH}); writing the whole document would drop those values"
                ),
            });
        }
        Ok(vec![doc! {"$replaceWith": root}])
    }
}

/// The edge document a merge update writes, kept values left out (`null` in arrays): what a
/// writer records of a document MongoDB refused. `None` for a pipeline not built by
/// [`MongoDocument::merge_update`].
pub fn carried_document(pipeline: &[Document]) -> Option<Document> {
    let [stage] = pipeline else { return None };
    match carried(stage.get("$replaceWith")?)? {
        Bson::Document(document) => Some(document),
        _ => None,
    }
}

fn carried(expression: &Bson) -> Option<Bson> {
    match expression {
        Bson::Document(d) => match d.keys().next() {
            Some(op) if op == "$literal" => d.get("$literal").cloned(),
            // A read of a kept value.
            Some(op) if op.starts_with('$') => None,
            _ => Some(Bson::Document(
                d.iter()
                    .filter_map(|(name, member)| Some((name.clone(), carried(member)?)))
                    .collect(),
            )),
        },
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .map(|item| carried(item).unwrap_or(Bson::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The expression of an object: its members in order, then the kept fields it lacks.
fn object_expression<'a>(
    members: &'a Document,
    path: &mut Vec<String>,
    steps: &[Step<'a>],
    preserve: &'a [Vec<String>],
) -> Result<Document, Diagnostic> {
    let mut out = Document::new();
    for (name, member) in members {
        path.push(name.clone());
        let step = Step::Field(name);
        let member = checked_name(name, path)
            .and_then(|()| expression(member, path, &[steps, &[step]].concat(), preserve));
        path.pop();
        out.insert(name.clone(), member?);
    }
    let lacking = preserve.iter().filter(|p| {
        p.len() == path.len() + 1 && p.starts_with(path) && !members.contains_key(&p[path.len()])
    });
    for kept in lacking {
        let name = kept[path.len()].as_str();
        checked_name(name, kept)?;
        out.insert(name, read(&[steps, &[Step::Field(name)]].concat()));
    }
    Ok(out)
}

/// The expression of the value at `path` (reached from `$$ROOT` by `steps`).
fn expression<'a>(
    value: &'a Bson,
    path: &mut Vec<String>,
    steps: &[Step<'a>],
    preserve: &'a [Vec<String>],
) -> Result<Bson, Diagnostic> {
    if preserve.iter().any(|p| p == path) {
        return Ok(read(steps));
    }
    let below = preserve
        .iter()
        .any(|p| p.len() > path.len() && p.starts_with(path));
    match value {
        Bson::Document(members) if below => {
            object_expression(members, path, steps, preserve).map(Bson::Document)
        }
        Bson::Array(items) if below => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let item = expression(item, path, &[steps, &[Step::Index(i)]].concat(), preserve);
                path.pop();
                out.push(item?);
            }
            Ok(Bson::Array(out))
        }
        // Nothing kept inside, or the edge replaced the container with a scalar: its value.
        _ => Ok(doc! {"$literal": value.clone()}.into()),
    }
}

/// Whether an expression object can hold the field name (MongoDB refuses empty names, dots and
/// a leading `$` there; `$getField` and `$literal` take any name).
fn checked_name(name: &str, path: &[String]) -> Result<(), Diagnostic> {
    if !name.is_empty() && !name.contains('.') && !name.starts_with('$') {
        return Ok(());
    }
    Err(Diagnostic::new(
        "field_not_addressable",
        path,
        "MongoDB holds values of types the edge does not carry in this document, and a field on the way to them (or at its top level) has a name an update expression cannot hold (empty, with a `.`, or starting with `$`); writing the whole document would drop those values",
    ))
}

/// Reads the value `steps` lead to in `$$ROOT`. Each step after the first checks what it reads
/// from is still an object (an array), so a container another writer changed or removed gives
/// a missing value rather than an error or a `null`.
fn read(steps: &[Step<'_>]) -> Bson {
    let mut expression: Option<Bson> = None;
    for step in steps {
        let from = match expression {
            None => "$$ROOT".to_owned(),
            Some(_) => format!("$${PARENT}"),
        };
        let (kind, access) = match *step {
            Step::Field(name) => (
                "object",
                doc! {"$getField": {"field": {"$literal": name}, "input": from}},
            ),
            Step::Index(index) => (
                "array",
                doc! {"$arrayElemAt": [from, i32::try_from(index).unwrap_or(i32::MAX)]},
            ),
        };
        expression = Some(match expression {
            None => access.into(),
            Some(container) => doc! {"$let": {
                "vars": {PARENT: container},
                "in": {"$cond": {
                    "if": {"$eq": [{"$type": format!("$${PARENT}")}, kind]},
                    "then": access,
                    "else": "$$REMOVE",
                }},
            }}
            .into(),
        });
    }
    expression.unwrap_or_else(|| Bson::String("$$ROOT".to_owned()))
}

/// Nesting levels of a value (a scalar is one).
fn depth(value: &Bson) -> usize {
    match value {
        Bson::Document(d) => 1 + d.values().map(depth).max().unwrap_or(0),
        Bson::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
