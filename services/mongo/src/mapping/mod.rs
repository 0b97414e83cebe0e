//! MongoDB document <-> edge document.
//!
//! * **IDs**: `["_id"]` keeps the `_id` (refusing null, arrays and objects); one field makes that
//!   field's value the edge `_id`; several make an object of them. A document whose ID cannot be
//!   formed is [`Rejected`] with its MongoDB `_id`, never a panic.
//! * **Types**, native mode ([`native`]): the natural JSON form of each BSON value, plus a sparse
//!   *type tree* recording what JSON cannot say (a date, an int64, an ObjectId, ...), kept in the
//!   edge document's metadata slot so the way back restores the original types.
//! * **EJSON mode** ([`ejson`]): canonical Extended JSON both ways, exact.
//! * **Counters**: settable-counter paths come out of the body as counter resets.
//! * **Kept values**: what the edge cannot carry stays in MongoDB through the write-back's update
//!   pipeline ([`merge`]).

pub mod ejson;
pub mod merge;
pub mod native;

use bson::{Bson, Document};
use edgebridge_domain::spec::{CollectionMapping, IdMapping, SyncMode};
use edgebridge_edge::ids::document_key;
use serde::Serialize;
use serde_json::{Map, Value};

/// Nesting beyond this is refused (MongoDB itself stops at 100 levels).
pub const MAX_DEPTH: usize = 100;

/// Which MongoDB fields make the edge `_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdFields {
    MatchId,
    Single(String),
    Composite(Vec<String>),
}

/// How one collection is mapped: the parts of a [`CollectionMapping`] the mapping needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    pub id: IdFields,
    pub mode: SyncMode,
    /// Settable-counter paths, split at dots.
    pub counters: Vec<Vec<String>>,
}

impl MappingConfig {
    pub fn from_spec(mapping: &CollectionMapping) -> Self {
        let id = match mapping.id_mapping() {
            IdMapping::MatchId => IdFields::MatchId,
            IdMapping::SingleField(field) => IdFields::Single(field.to_owned()),
            IdMapping::Composite(fields) => IdFields::Composite(fields.to_vec()),
        };
        MappingConfig {
            id,
            mode: mapping.mode,
            counters: mapping
                .settable_counters
                .iter()
                .map(|path| path.split('.').map(str::to_owned).collect())
                .collect(),
        }
    }

    /// The MongoDB fields that identify a document.
    pub fn id_fields(&self) -> Vec<&str> {
        match &self.id {
            IdFields::MatchId => vec!["_id"],
            IdFields::Single(field) => vec![field.as_str()],
            IdFields::Composite(fields) => fields.iter().map(String::as_str).collect(),
        }
    }
}

/// Something worth telling the user about one document (a field dropped, a type not restored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable: `unsupported_type`, `type_not_restored`, `counter_not_number`, ...
    pub code: &'static str,
    /// Dotted path of the field (array elements by index); empty for the whole document.
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(code: &'static str, path: &[String], message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            path: path.join("."),
            message: message.into(),
        }
    }
}

/// A document that is not synced, and why. `mongo_id` is the MongoDB `_id` as canonical
/// Extended JSON (when the document had one), so the user can find it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    #[serde(rename = "mongoId")]
    pub mongo_id: Option<Box<Value>>,
    #[serde(flatten)]
    pub diagnostic: Diagnostic,
}

/// A MongoDB document as the edge stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDocument {
    /// The edge `_id`.
    pub id: Value,
    /// Its canonical key (the edge store's identity for it).
    pub key: String,
    /// The fields, `_id` first, settable counters taken out.
    pub body: Map<String, Value>,
    /// Native mode: the type tree for the metadata slot (`None` when nothing needs recording).
    pub types: Option<Value>,
    /// Settable counters present in the document: reset to these values.
    pub counters: Vec<(Vec<String>, f64)>,
    pub warnings: Vec<Diagnostic>,
}

/// An edge document as MongoDB stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct MongoDocument {
    /// Selects the document in MongoDB by the mapped fields.
    pub filter: Document,
    /// The whole document (without `_id` unless the mapping is `["_id"]`), for a replace.
    pub document: Document,
    /// Fields MongoDB holds that were never replicated (unsupported types), as path segments: a
    /// writer must keep them rather than replace them away ([`MongoDocument::merge_update`]).
    pub preserve: Vec<Vec<String>>,
    pub warnings: Vec<Diagnostic>,
}

/// Converts the number at `path` in `doc` to the counter type `tag` (`int`, `long`, `double`).
fn restore_number(doc: &mut Document, path: &[String], tag: &str) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for name in parents {
        match current.get_mut(name) {
            Some(Bson::Document(inner)) => current = inner,
            _ => return,
        }
    }
    let Some(value) = current.get_mut(last) else {
        return;
    };
    let number = match value {
        Bson::Int32(i) => f64::from(*i),
        Bson::Int64(i) => *i as f64,
        Bson::Double(f) => *f,
        _ => return,
    };
    let integral = number.fract() == 0.0 && number.abs() < 9.2e18;
    *value = match tag {
        "int" if integral && i32::try_from(number as i64).is_ok() => Bson::Int32(number as i32),
        "int" | "long" if integral => Bson::Int64(number as i64),
        _ => Bson::Double(number),
    };
}

fn mongo_id_of(doc: &Document) -> Option<Box<Value>> {
    doc.get("_id")
        .map(|id| Box::new(id.clone().into_canonical_extjson()))
}

fn reject(doc: &Document, code: &'static str, path: &str, message: String) -> Rejected {
    Rejected {
        mongo_id: mongo_id_of(doc),
        diagnostic: Diagnostic {
            code,
            path: path.to_owned(),
            message,
        },
    }
}

/// The edge `_id` of a MongoDB document (from the document itself, or from a pre-image for a
/// delete), with its canonical key.
pub fn edge_id(doc: &Document, config: &MappingConfig) -> Result<(Value, String), Rejected> {
    let id = match &config.id {
        IdFields::MatchId => id_value(doc, "_id", config.mode, true)?,
        IdFields::Single(field) => id_value(doc, field, config.mode, false)?,
        IdFields::Composite(fields) => {
            let mut members = Map::new();
            for field in fields {
                members.insert(field.clone(), id_value(doc, field, config.mode, false)?);
            }
            Value::Object(members)
        }
    };
    let key = document_key(&id).map_err(|e| {
        reject(
            doc,
            "id_value_forbidden",
            &config.id_fields().join(","),
            format!("the edge `_id` {id} is not usable: {e}"),
        )
    })?;
    Ok((id, key))
}

fn id_value(
    doc: &Document,
    field: &str,
    mode: SyncMode,
    match_id: bool,
) -> Result<Value, Rejected> {
    let value = doc.get(field).ok_or_else(|| {
        reject(
            doc,
            "id_field_missing",
            field,
            format!("the ID field `{field}` is missing, so the document has no edge `_id`"),
        )
    })?;
    let forbidden = match value {
        Bson::Null => Some("null"),
        Bson::Array(_) => Some("an array"),
        Bson::Document(_) if match_id => Some("an object"),
        Bson::Boolean(_) => Some("a boolean"),
        _ => None,
    };
    if let Some(what) = forbidden {
        return Err(reject(
            doc,
            "id_value_forbidden",
            field,
            format!(
                "the ID field `{field}` is {what}; an edge `_id` must be a string, a number or an object of those"
            ),
        ));
    }
    match mode {
        SyncMode::Ejson => Ok(value.clone().into_canonical_extjson()),
        SyncMode::Json => native::id_to_json(value).ok_or_else(|| {
            reject(
                doc,
                "id_value_forbidden",
                field,
                format!(
                    "the ID field `{field}` holds a {} value, which has no edge form",
                    native::type_name(value)
                ),
            )
        }),
    }
}

/// MongoDB -> edge.
pub fn to_edge(doc: &Document, config: &MappingConfig) -> Result<EdgeDocument, Rejected> {
    let (id, key) = edge_id(doc, config)?;
    let mut warnings = Vec::new();
    let mut body = Map::new();
    body.insert("_id".to_owned(), id.clone());
    let mut types = Map::new();
    for (name, value) in doc {
        if name == "_id" && config.id != IdFields::MatchId {
            // The edge `_id` comes from other fields; MongoDB's own `_id` stays in MongoDB.
            continue;
        }
        let mut path = vec![name.clone()];
        let mapped = match config.mode {
            SyncMode::Ejson => Some(value.clone().into_canonical_extjson()),
            SyncMode::Json => native::to_json(value, &mut path, &mut types, &mut warnings, 1)
                .map_err(|d| Rejected {
                    mongo_id: mongo_id_of(doc),
                    diagnostic: d,
                })?,
        };
        if name == "_id" {
            continue; // already `id`
        }
        if let Some(mapped) = mapped {
            body.insert(name.clone(), mapped);
        }
    }
    if config.mode == SyncMode::Ejson {
        let mut dollar = Vec::new();
        ejson::dollar_fields(doc, &mut Vec::new(), &mut dollar);
        for path in dollar {
            warnings.push(Diagnostic::new(
                "dollar_prefixed_field",
                &path,
                "a field name starting with `$` reads as an Extended JSON type marker; written back from the edge, this sub-document may change type",
            ));
        }
    }
    let counters = take_counters(&mut body, &mut types, config, &mut warnings);
    let types = (!types.is_empty()).then_some(Value::Object(types));
    Ok(EdgeDocument {
        id,
        key,
        body,
        types,
        counters,
        warnings,
    })
}

/// Moves settable counters out of the body. Each keeps an exact type tag (in both modes), so its
/// value (a float on the edge) comes back as the type it was. Counters sit in objects, never in
/// arrays.
fn take_counters(
    body: &mut Map<String, Value>,
    types: &mut Map<String, Value>,
    config: &MappingConfig,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<(Vec<String>, f64)> {
    let mut counters = Vec::new();
    for path in &config.counters {
        let Some(value) = native::get_object_path(body, path) else {
            continue;
        };
        let number = match config.mode {
            SyncMode::Json => value.as_f64(),
            SyncMode::Ejson => ejson::number(value),
        };
        let Some(number) = number.filter(|n| n.is_finite()) else {
            warnings.push(Diagnostic::new(
                "counter_not_number",
                path,
                "a settable counter field holds no finite number; it is synced as a plain value",
            ));
            continue;
        };
        let tag = match config.mode {
            SyncMode::Json => native::get_tag(types, path)
                .map(str::to_owned)
                .unwrap_or_else(|| (if value.is_i64() { "int" } else { "double" }).to_owned()),
            SyncMode::Ejson => ejson::number_tag(value).unwrap_or("double").to_owned(),
        };
        native::set_tag(types, path, &tag);
        native::remove_path(body, path);
        counters.push((path.clone(), number));
    }
    counters
}

/// Edge -> MongoDB. `body` is the edge document's visible view (counters as plain numbers),
/// `types` the type tree from its metadata slot.
pub fn to_mongo(
    body: &Map<String, Value>,
    types: Option<&Value>,
    config: &MappingConfig,
) -> Result<MongoDocument, Diagnostic> {
    let empty = Map::new();
    let types = types.and_then(Value::as_object).unwrap_or(&empty);
    let id = body.get("_id").ok_or_else(|| {
        Diagnostic::new("id_field_missing", &[], "the edge document has no `_id`")
    })?;
    let mut warnings = Vec::new();
    let mut preserve = Vec::new();
    let mut document = Document::new();
    let mut filter = Document::new();

    let convert = |value: &Value, path: &[String], warnings: &mut Vec<Diagnostic>| match config.mode
    {
        SyncMode::Json => native::to_bson(
            value,
            native::tag_at(types, path),
            &mut path.to_vec(),
            warnings,
            1,
        ),
        SyncMode::Ejson => ejson::to_bson(value, path),
    };

    // The ID fields come from the edge `_id`, which cannot change.
    let id_members: Vec<(String, Value)> = match &config.id {
        IdFields::MatchId => vec![("_id".to_owned(), id.clone())],
        IdFields::Single(field) => vec![(field.clone(), id.clone())],
        IdFields::Composite(fields) => {
            let members = id.as_object().ok_or_else(|| {
                Diagnostic::new(
                    "id_value_forbidden",
                    &["_id".to_owned()],
                    format!("the mapping builds `_id` from {fields:?}, so it must be an object of those fields"),
                )
            })?;
            let mut out = Vec::new();
            for field in fields {
                let value = members.get(field).ok_or_else(|| {
                    Diagnostic::new(
                        "id_field_missing",
                        &["_id".to_owned(), field.clone()],
                        format!("the edge `_id` lacks the ID field `{field}`"),
                    )
                })?;
                out.push((field.clone(), value.clone()));
            }
            out
        }
    };
    for (field, value) in &id_members {
        let path = vec![field.clone()];
        let bson = convert(value, &path, &mut warnings)?;
        if let Some(body_value) = body.get(field)
            && field != "_id"
            && body_value != value
        {
            warnings.push(Diagnostic::new(
                "id_field_changed",
                &path,
                format!("`{field}` differs from the edge `_id`; the `_id`'s value is written"),
            ));
        }
        filter.insert(field.clone(), bson.clone());
        document.insert(field.clone(), bson);
    }

    for (name, value) in body {
        if name == "_id" || document.contains_key(name) {
            continue;
        }
        let path = vec![name.clone()];
        document.insert(name.clone(), convert(value, &path, &mut warnings)?);
    }
    match config.mode {
        SyncMode::Json => {
            native::dropped_paths(types, body, &mut Vec::new(), &mut preserve);
            let mut resized = Vec::new();
            native::resized_arrays(types, body, &mut Vec::new(), &mut resized);
            for array in resized {
                let before = preserve.len();
                preserve.retain(|p| !p.starts_with(&array));
                if preserve.len() != before {
                    warnings.push(Diagnostic::new(
                        "unsupported_value_lost",
                        &array,
                        "the array changed length on the edge, so values in it the edge never held (unsupported types) are replaced with it",
                    ));
                }
            }
        }
        // Counters come back from the edge as plain numbers: give them their type again.
        SyncMode::Ejson => {
            for path in &config.counters {
                if let Some(tag) = native::get_tag(types, path) {
                    restore_number(&mut document, path, tag);
                }
            }
        }
    }
    Ok(MongoDocument {
        filter,
        document,
        preserve,
        warnings,
    })
}

#[cfg(test)]
mod tests;
