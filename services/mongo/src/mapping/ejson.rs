//! EJSON mode: every value is stored on the edge as canonical Extended JSON and parsed back
//! exactly (relaxed forms written by devices, such as plain numbers, are accepted too).

use bson::Bson;
use serde_json::Value;

use super::{Diagnostic, MAX_DEPTH};

/// Nesting depth, without recursion (the input may come from anyone).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(members) => stack.extend(members.values().map(|m| (m, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Paths of field names starting with `$` below `doc`: Extended JSON would read such a
/// sub-document (`{"$oid": ...}`) back as a different type.
pub fn dollar_fields(doc: &bson::Document, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (name, value) in doc {
        path.push(name.clone());
        if name.starts_with('$') {
            out.push(path.clone());
        }
        match value {
            Bson::Document(inner) => dollar_fields(inner, path, out),
            Bson::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Bson::Document(inner) = item {
                        path.push(i.to_string());
                        dollar_fields(inner, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// The counter tag of a value in Extended JSON (`int`, `long` or `double`).
pub fn number_tag(value: &Value) -> Option<&'static str> {
    match Bson::try_from(value.clone()).ok()? {
        Bson::Int32(_) => Some("int"),
        Bson::Int64(_) => Some("long"),
        Bson::Double(_) => Some("double"),
        _ => None,
    }
}

pub fn to_bson(value: &Value, path: &[String]) -> Result<Bson, Diagnostic> {
    if depth(value) > MAX_DEPTH {
        return Err(Diagnostic::new(
            "too_deep",
            path,
            format!("the document nests more than {MAX_DEPTH} levels"),
        ));
    }
    Bson::try_from(value.clone()).map_err(|e| {
        Diagnostic::new(
            "invalid_ejson",
            path,
            format!("the value is not valid Extended JSON: {e}"),
        )
    })
}

/// A number in canonical or relaxed Extended JSON (`{"$numberInt": "5"}`, `5`, ...).
pub fn number(value: &Value) -> Option<f64> {
    match Bson::try_from(value.clone()).ok()? {
        Bson::Int32(i) => Some(f64::from(i)),
        Bson::Int64(i) => Some(i as f64),
        Bson::Double(f) => Some(f),
        _ => None,
    }
}
