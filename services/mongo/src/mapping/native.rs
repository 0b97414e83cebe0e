//! Native mode: BSON values as their natural JSON, with a sparse type tree for what JSON loses.
//!
//! The type tree mirrors the document: an object member (or an array index, as a string) maps to
//! either a tag string for that value or a subtree for a container. Tags:
//!
//! | tag | BSON type | edge value |
//! | --- | --- | --- |
//! | `objectId` | ObjectId | 24 hex digits |
//! | `date` | date | ISO-8601 UTC with milliseconds |
//! | `long` | int64 | integer |
//! | `int` | int32 (only on counters, whose edge value is a float) | number |
//! | `double` | double (NaN/±Infinity as strings) | number |
//! | `decimal` | decimal128 | string |
//! | `timestamp:<i>` | timestamp (increment `i`) | number: seconds since the epoch |
//! | `regex` | regular expression | `{"$regularExpression": {"pattern", "options"}}` |
//! | `dropped:<type>` | a type the edge cannot hold (binary, javascript, ...): not replicated | absent (`null` in arrays; the array's subtree then also records its `length`) |
//!
//! int32, string, boolean, null, objects and arrays need no tag. Every double is tagged, so a
//! price edited from 2.5 to 3 on the edge stays a double.

use std::str::FromStr;

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Decimal128, Document, Regex, Timestamp};
use chrono::{Datelike, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Number, Value};

use super::{Diagnostic, MAX_DEPTH};

pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Array(_) => "array",
        Bson::Document(_) => "object",
        Bson::Boolean(_) => "boolean",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Timestamp(_) => "timestamp",
        Bson::Binary(_) => "binary",
        Bson::ObjectId(_) => "objectId",
        Bson::DateTime(_) => "date",
        Bson::Symbol(_) => "symbol",
        Bson::Decimal128(_) => "decimal",
        Bson::Undefined => "undefined",
        Bson::MaxKey => "maxKey",
        Bson::MinKey => "minKey",
        Bson::DbPointer(_) => "dbPointer",
    }
}

/// A date as ISO-8601 UTC with milliseconds; `None` outside years 0-9999 (no ISO-8601 form
/// every client parses).
pub fn format_date(date: DateTime) -> Option<String> {
    let at = Utc.timestamp_millis_opt(date.timestamp_millis()).single()?;
    (0..=9999)
        .contains(&at.year())
        .then(|| at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn parse_date(text: &str) -> Option<DateTime> {
    let at = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(DateTime::from_millis(at.timestamp_millis()))
}

fn float(value: f64) -> Value {
    match Number::from_f64(value) {
        Some(n) => Value::Number(n),
        None if value.is_nan() => Value::String("NaN".to_owned()),
        None if value > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// The edge form of an ID value: scalars and objects of them; `None` for what cannot be an ID.
pub fn id_to_json(value: &Bson) -> Option<Value> {
    Some(match value {
        Bson::String(s) => Value::String(s.clone()),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) if f.is_finite() => float(*f),
        Bson::ObjectId(oid) => Value::String(oid.to_hex()),
        Bson::DateTime(date) => Value::String(format_date(*date)?),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        // A timestamp's number drops its increment: two IDs could become one. Not an ID.
        Bson::Document(doc) if !doc.is_empty() => {
            let mut members = Map::new();
            for (name, value) in doc {
                members.insert(name.clone(), id_to_json(value)?);
            }
            Value::Object(members)
        }
        _ => return None,
    })
}

/// One BSON value to JSON. Tags go into `types` (the document's root tree) at `path`;
/// `Ok(None)`: the value is not replicated (reported in `warnings`).
pub fn to_json(
    value: &Bson,
    path: &mut Vec<String>,
    types: &mut Map<String, Value>,
    warnings: &mut Vec<Diagnostic>,
    depth: usize,
) -> Result<Option<Value>, Diagnostic> {
    if depth > MAX_DEPTH {
        return Err(Diagnostic::new(
            "too_deep",
            path,
            format!("the document nests more than {MAX_DEPTH} levels"),
        ));
    }
    let (json, tag): (Value, Option<String>) = match value {
        Bson::Null => (Value::Null, None),
        Bson::Boolean(b) => (Value::Bool(*b), None),
        Bson::String(s) => (Value::String(s.clone()), None),
        Bson::Int32(i) => (Value::from(*i), None),
        Bson::Int64(i) => (Value::from(*i), Some("long".to_owned())),
        Bson::Double(f) => (float(*f), Some("double".to_owned())),
        Bson::ObjectId(oid) => (Value::String(oid.to_hex()), Some("objectId".to_owned())),
        Bson::Decimal128(d) => (Value::String(d.to_string()), Some("decimal".to_owned())),
        Bson::Timestamp(ts) => (
            Value::from(ts.time),
            Some(format!("timestamp:{}", ts.increment)),
        ),
        Bson::RegularExpression(regex) => (
            serde_json::json!({"$regularExpression": {
                "pattern": regex.pattern.as_str(),
                "options": regex.options.as_str(),
            }}),
            Some("regex".to_owned()),
        ),
        Bson::DateTime(date) => match format_date(*date) {
            Some(text) => (Value::String(text), Some("date".to_owned())),
            None => {
                return Ok(drop_value(
                    value,
                    path,
                    types,
                    warnings,
                    "a date outside years 0-9999",
                ));
            }
        },
        Bson::Document(doc) => {
            let mut members = Map::new();
            for (name, member) in doc {
                path.push(name.clone());
                let mapped = to_json(member, path, types, warnings, depth + 1);
                path.pop();
                if let Some(mapped) = mapped? {
                    members.insert(name.clone(), mapped);
                }
            }
            (Value::Object(members), None)
        }
        Bson::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut dropped = false;
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                // An element that is not replicated keeps its place as null, so indexes hold.
                let mapped = to_json(item, path, types, warnings, depth + 1);
                path.pop();
                let mapped = mapped?;
                dropped |= mapped.is_none();
                out.push(mapped.unwrap_or(Value::Null));
            }
            if dropped {
                // Kept elements can be written around only while the array keeps its length.
                set_length(types, path, items.len());
            }
            (Value::Array(out), None)
        }
        other => {
            let what = format!("a {} value", type_name(other));
            return Ok(drop_value(value, path, types, warnings, &what));
        }
    };
    if let Some(tag) = tag {
        set_tag(types, path, &tag);
    }
    Ok(Some(json))
}

fn drop_value(
    value: &Bson,
    path: &[String],
    types: &mut Map<String, Value>,
    warnings: &mut Vec<Diagnostic>,
    what: &str,
) -> Option<Value> {
    set_tag(types, path, &format!("dropped:{}", type_name(value)));
    warnings.push(Diagnostic::new(
        "unsupported_type",
        path,
        format!("{what} has no edge form and is not replicated; MongoDB keeps it"),
    ));
    None
}

/// One JSON value back to BSON, restoring the tagged type where the value still fits it.
pub fn to_bson(
    value: &Value,
    tag: Option<&Value>,
    path: &mut Vec<String>,
    warnings: &mut Vec<Diagnostic>,
    depth: usize,
) -> Result<Bson, Diagnostic> {
    if depth > MAX_DEPTH {
        return Err(Diagnostic::new(
            "too_deep",
            path,
            format!("the document nests more than {MAX_DEPTH} levels"),
        ));
    }
    if let Some(Value::String(tag)) = tag {
        if let Some(restored) = restore(value, tag) {
            return Ok(restored);
        }
        if !tag.starts_with("dropped:") {
            warnings.push(Diagnostic::new(
                "type_not_restored",
                path,
                format!("the value no longer fits its MongoDB type `{tag}`; written as its natural JSON type"),
            ));
        }
    }
    let subtree = tag.and_then(Value::as_object);
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::String(s) => Bson::String(s.clone()),
        Value::Number(n) => natural_number(n),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let key = index.to_string();
                let tag = subtree.and_then(|t| t.get(&key));
                path.push(key);
                let converted = to_bson(item, tag, path, warnings, depth + 1);
                path.pop();
                out.push(converted?);
            }
            Bson::Array(out)
        }
        Value::Object(members) => {
            let mut doc = Document::new();
            for (name, member) in members {
                path.push(name.clone());
                if name.contains('\0') {
                    return Err(Diagnostic::new(
                        "invalid_field_name",
                        path,
                        "MongoDB field names cannot contain the NUL character",
                    ));
                }
                let tag = subtree.and_then(|t| t.get(name));
                let converted = to_bson(member, tag, path, warnings, depth + 1);
                path.pop();
                doc.insert(name.clone(), converted?);
            }
            Bson::Document(doc)
        }
    })
}

/// JSON integers as int32 when they fit, else int64; other numbers as doubles.
fn natural_number(n: &Number) -> Bson {
    match n.as_i64() {
        Some(i) => match i32::try_from(i) {
            Ok(small) => Bson::Int32(small),
            Err(_) => Bson::Int64(i),
        },
        None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn integral(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
        }),
        _ => None,
    }
}

/// The tagged BSON value, or `None` when `value` no longer fits `tag`.
fn restore(value: &Value, tag: &str) -> Option<Bson> {
    match tag {
        "objectId" => ObjectId::parse_str(value.as_str()?)
            .ok()
            .map(Bson::ObjectId),
        "date" => parse_date(value.as_str()?).map(Bson::DateTime),
        "long" => integral(value).map(Bson::Int64),
        "int" => {
            let i = integral(value)?;
            Some(i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32))
        }
        "double" => match value {
            Value::Number(n) => n.as_f64().map(Bson::Double),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(Bson::Double(f64::NAN)),
                "Infinity" => Some(Bson::Double(f64::INFINITY)),
                "-Infinity" => Some(Bson::Double(f64::NEG_INFINITY)),
                _ => None,
            },
            _ => None,
        },
        "decimal" => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Decimal128::from_str(&text).ok().map(Bson::Decimal128)
        }
        "regex" => {
            let inner = value.as_object()?.get("$regularExpression")?.as_object()?;
            if value.as_object()?.len() != 1 {
                return None;
            }
            let pattern = inner.get("pattern")?.as_str()?.to_owned();
            let mut options: Vec<char> = inner.get("options")?.as_str()?.chars().collect();
            options.sort_unstable();
            let options: String = options.into_iter().collect();
            Some(Bson::RegularExpression(Regex {
                pattern: pattern.try_into().ok()?,
                options: options.try_into().ok()?,
            }))
        }
        _ => {
            let increment = tag.strip_prefix("timestamp:")?.parse::<u32>().ok()?;
            let time = u32::try_from(integral(value)?).ok()?;
            Some(Bson::Timestamp(Timestamp { time, increment }))
        }
    }
}

/// The value at `path` through objects only (no array indexes).
pub fn get_object_path<'v>(doc: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (head, rest) = path.split_first()?;
    let mut current = doc.get(head)?;
    for name in rest {
        current = current.as_object()?.get(name)?;
    }
    Some(current)
}

pub fn get_path<'v>(doc: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (head, rest) = path.split_first()?;
    let mut current = doc.get(head)?;
    for name in rest {
        current = match current {
            Value::Object(members) => members.get(name)?,
            Value::Array(items) => items.get(name.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

pub fn remove_path(doc: &mut Map<String, Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for name in parents {
        match current.get_mut(name) {
            Some(Value::Object(members)) => current = members,
            _ => return,
        }
    }
    current.remove(last);
}

/// The tag or subtree at `path` in the root type tree.
pub fn tag_at<'t>(types: &'t Map<String, Value>, path: &[String]) -> Option<&'t Value> {
    let (head, rest) = path.split_first()?;
    let mut current = types.get(head)?;
    for name in rest {
        current = current.as_object()?.get(name)?;
    }
    Some(current)
}

pub fn get_tag<'t>(types: &'t Map<String, Value>, path: &[String]) -> Option<&'t str> {
    tag_at(types, path)?.as_str()
}

pub fn set_tag(types: &mut Map<String, Value>, path: &[String], tag: &str) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    subtree_mut(types, parents).insert(last.clone(), Value::String(tag.to_owned()));
}

/// Records an array's length in its subtree (key `length`, beside the index keys).
fn set_length(types: &mut Map<String, Value>, path: &[String], length: usize) {
    subtree_mut(types, path).insert("length".to_owned(), Value::from(length));
}

/// The subtree at `path`, created on the way (a tag standing where a subtree is needed is
/// replaced by one).
fn subtree_mut<'t>(
    types: &'t mut Map<String, Value>,
    path: &[String],
) -> &'t mut Map<String, Value> {
    let mut current = types;
    for name in path {
        let entry = current
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = match entry {
            Value::Object(members) => members,
            _ => unreachable!("made an object just above"),
        };
    }
    current
}

/// Arrays holding values the edge never saw whose length changed on the edge (or that are no
/// longer arrays): their kept elements can no longer be written around.
pub fn resized_arrays(
    types: &Map<String, Value>,
    body: &Map<String, Value>,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    for (name, tag) in types {
        let Value::Object(children) = tag else {
            continue;
        };
        prefix.push(name.clone());
        if let Some(length) = children.get("length").and_then(Value::as_u64) {
            let same = get_path(body, prefix)
                .and_then(Value::as_array)
                .is_some_and(|items| items.len() as u64 == length);
            if !same {
                out.push(prefix.clone());
            }
        }
        resized_arrays(children, body, prefix, out);
        prefix.pop();
    }
}

/// Paths tagged `dropped:*` that the edge document does not hold: values MongoDB has and the
/// edge never saw.
pub fn dropped_paths(
    types: &Map<String, Value>,
    body: &Map<String, Value>,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    for (name, tag) in types {
        prefix.push(name.clone());
        match tag {
            Value::String(t) if t.starts_with("dropped:") => {
                let held = get_path(body, prefix).is_some_and(|v| !v.is_null());
                if !held {
                    out.push(prefix.clone());
                }
            }
            Value::Object(children) => dropped_paths(children, body, prefix, out),
            _ => {}
        }
        prefix.pop();
    }
}
