//! A connector's `collections`: each collection's settings validated (ID fields, mode, strict
//! mode, filter, settable counters), every violation reported.

use super::{
    COLLECTION_KEYS, CollectionMapping, MAX_COLLECTIONS, MAX_COUNTERS, MAX_ID_FIELDS, SyncMode,
    expect_string, optional_bool, type_name, unknown_member,
};
use crate::filter::validate_filter;
use crate::names::check_collection_name;
use crate::violation::{Pointer, Violation, Violations};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn parse_collections(
    value: Option<&Value>,
    database: &str,
    root: &Pointer,
    out: &mut Violations,
) -> BTreeMap<String, CollectionMapping> {
    let at = root.push("collections");
    let mut result = BTreeMap::new();
    let map = match value {
        None | Some(Value::Null) => {
            out.add(
                &at,
                "is required: map at least one collection name to its settings, e.g. {\"tasks\": {\"fields\": [\"_id\"]}}",
            );
            return result;
        }
        Some(Value::Object(map)) => map,
        Some(other) => {
            out.add(
                &at,
                format!(
                    "must be an object keyed by collection name, not {}",
                    type_name(other)
                ),
            );
            return result;
        }
    };
    if map.is_empty() {
        out.add(&at, "must name at least one collection");
    }
    if map.len() > MAX_COLLECTIONS {
        out.add(
            &at,
            format!("may name at most {MAX_COLLECTIONS} collections per connector"),
        );
    }
    for (name, settings) in map {
        let here = at.push(name);
        if let Err(e) = check_collection_name(database, name) {
            out.add(&here, format!("collection name {e}"));
        }
        if let Some(mapping) = parse_collection(settings, &here, out) {
            result.insert(name.clone(), mapping);
        }
    }
    result
}

/// Validates one collection's settings on their own (the mapping preview), violations reported
/// under `/{member}`.
pub fn parse_collection_mapping(
    value: &Value,
    member: &str,
) -> Result<CollectionMapping, Vec<Violation>> {
    let mut out = Violations::new();
    let mapping = parse_collection(value, &Pointer::root().push(member), &mut out);
    match mapping {
        Some(mapping) if out.is_empty() => Ok(mapping),
        _ => Err(out.into_vec()),
    }
}

fn parse_collection(
    value: &Value,
    at: &Pointer,
    out: &mut Violations,
) -> Option<CollectionMapping> {
    let Value::Object(obj) = value else {
        out.add(
            at,
            format!(
                "must be an object of collection settings, not {}",
                type_name(value)
            ),
        );
        return None;
    };
    for key in obj.keys() {
        if !COLLECTION_KEYS.contains(&key.as_str()) {
            unknown_member(out, at, key, COLLECTION_KEYS);
        }
    }
    let fields = parse_fields(obj.get("fields"), at, out);
    let initial_sync = optional_bool(obj, "initialSync", false, at, out);
    let dql_strict_mode = optional_bool(obj, "dqlStrictMode", true, at, out);
    let strict_explicit = matches!(obj.get("dqlStrictMode"), Some(Value::Bool(true)));

    let mode = match obj.get("mode") {
        None | Some(Value::Null) => SyncMode::Json,
        Some(Value::String(s)) if s == "json" => SyncMode::Json,
        Some(Value::String(s)) if s == "ejson" => SyncMode::Ejson,
        Some(_) => {
            out.add(&at.push("mode"), "must be \"json\" or \"ejson\"");
            SyncMode::Json
        }
    };

    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(v) => {
            validate_filter(v, &at.push("filter"), out);
            v.as_object().cloned()
        }
    };

    let settable_counters = parse_counters(obj, &fields, at, out);

    let strict_hint = if strict_explicit {
        ""
    } else {
        " (it defaults to true)"
    };
    if mode == SyncMode::Ejson && dql_strict_mode {
        out.add(
            &at.push("dqlStrictMode"),
            format!("must be false when `mode` is \"ejson\"{strict_hint}; set \"dqlStrictMode\": false or use \"mode\": \"json\""),
        );
    }
    if !settable_counters.is_empty() && dql_strict_mode {
        out.add(
            &at.push("dqlStrictMode"),
            format!("must be false when settable counters are configured{strict_hint}; set \"dqlStrictMode\": false"),
        );
    }

    Some(CollectionMapping {
        fields,
        initial_sync,
        mode,
        dql_strict_mode,
        filter,
        settable_counters,
    })
}

fn parse_fields(value: Option<&Value>, at: &Pointer, out: &mut Violations) -> Vec<String> {
    let at = at.push("fields");
    let items = match value {
        None | Some(Value::Null) => {
            out.add(
                &at,
                "is required: [\"_id\"] to keep MongoDB's _id, or the top-level fields that identify a document",
            );
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            out.add(
                &at,
                format!("must be an array of field names, not {}", type_name(other)),
            );
            return Vec::new();
        }
    };
    if items.is_empty() {
        out.add(&at, "must name at least one field, e.g. [\"_id\"]");
    }
    if items.len() > MAX_ID_FIELDS {
        out.add(&at, format!("may name at most {MAX_ID_FIELDS} fields"));
    }
    let mut fields = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let here = at.index(i);
        let Some(field) = expect_string(item, &here, out) else {
            continue;
        };
        if field.is_empty() {
            out.add(&here, "must not be empty");
        } else if field.contains('.') {
            out.add(
                &here,
                "must be a top-level field: nested paths (with '.') cannot identify a document",
            );
        } else if field.starts_with('$') {
            out.add(&here, "must not start with '$'");
        } else if !seen.insert(field) {
            out.add(&here, format!("`{field}` is listed twice"));
        }
        fields.push(field.to_owned());
    }
    if fields.len() > 1 && fields.iter().any(|f| f == "_id") {
        let i = fields.iter().position(|f| f == "_id").unwrap_or(0);
        out.add(
            &at.index(i),
            "`_id` cannot be combined with other fields: use [\"_id\"] alone, or only other fields",
        );
    }
    fields
}

fn parse_counters(
    obj: &Map<String, Value>,
    id_fields: &[String],
    at: &Pointer,
    out: &mut Violations,
) -> Vec<String> {
    let direct = obj.get("settableCounters").filter(|v| !v.is_null());
    let nested = match obj.get("dittoTypes") {
        None | Some(Value::Null) => None,
        Some(Value::Object(types)) => {
            for key in types.keys().filter(|k| *k != "settableCounters") {
                unknown_member(out, &at.push("dittoTypes"), key, &["settableCounters"]);
            }
            types.get("settableCounters").filter(|v| !v.is_null())
        }
        Some(other) => {
            out.add(
                &at.push("dittoTypes"),
                format!("must be an object, not {}", type_name(other)),
            );
            None
        }
    };
    let (value, here) = match (direct, nested) {
        (Some(_), Some(_)) => {
            out.add(
                &at.push("dittoTypes").push("settableCounters"),
                "settable counters are given twice; keep either `settableCounters` or `dittoTypes.settableCounters`",
            );
            return Vec::new();
        }
        (Some(v), None) => (v, at.push("settableCounters")),
        (None, Some(v)) => (v, at.push("dittoTypes").push("settableCounters")),
        (None, None) => return Vec::new(),
    };
    let Value::Array(items) = value else {
        out.add(
            &here,
            format!("must be an array of field paths, not {}", type_name(value)),
        );
        return Vec::new();
    };
    if items.len() > MAX_COUNTERS {
        out.add(&here, format!("may name at most {MAX_COUNTERS} counters"));
    }
    let mut counters = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = here.index(i);
        let Some(path) = expect_string(item, &p, out) else {
            continue;
        };
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            out.add(
                &p,
                "must be a field path such as \"quantity\" or \"order.qty\" (no empty segments)",
            );
        } else if segments.iter().any(|s| s.starts_with('$')) {
            out.add(&p, "path segments must not start with '$'");
        } else if segments[0] == "_id" || id_fields.iter().any(|f| f == segments[0]) {
            out.add(
                &p,
                format!("`{path}` is part of the document ID and cannot be a counter"),
            );
        } else if !seen.insert(path) {
            out.add(&p, format!("`{path}` is listed twice"));
        }
        counters.push(path.to_owned());
    }
    // A counter cannot sit inside another counter.
    for (i, a) in counters.iter().enumerate() {
        if counters.iter().any(|b| a.starts_with(&format!("{b}."))) {
            out.add(
                &here.index(i),
                format!("`{a}` lies inside another counter; counters must be leaf numbers"),
            );
        }
    }
    counters
}
