//! The connector specification: what users write (DESIGN §3), how it is validated (every violation
//! reported at once), and the normalized form with defaults filled in.

use crate::connection_string::MongoUri;
use crate::filter::validate_filter;
use crate::names::{check_collection_name, check_database_name, check_resource_name};
use crate::violation::{Pointer, Violation, Violations};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

pub const MAX_COLLECTIONS: usize = 100;
pub const MAX_ID_FIELDS: usize = 16;
pub const MAX_COUNTERS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// How a collection's documents are written to the edge store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Native JSON mapping of BSON types (ObjectId as hex string, dates as ISO-8601 ...).
    #[default]
    Json,
    /// Canonical Extended JSON, mapped back to BSON exactly. Requires `dqlStrictMode: false`.
    Ejson,
}

/// How a MongoDB document's identity becomes the edge document's `_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMapping<'a> {
    /// `fields: ["_id"]`: the same `_id` on both sides.
    MatchId,
    /// One other top-level field becomes the edge `_id`.
    SingleField(&'a str),
    /// Several fields: the edge `_id` is an object of them.
    Composite(&'a [String]),
}

/// One synced collection, normalized (defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionMapping {
    /// Top-level MongoDB fields that identify a document: `["_id"]` to match IDs, one other field,
    /// or several for a composite edge ID. The fields must be present and never change.
    #[schema(example = json!(["_id"]))]
    pub fields: Vec<String>,
    /// Copy the existing documents when the collection is added or its ID mapping changes.
    pub initial_sync: bool,
    /// `json` (native mapping) or `ejson` (canonical Extended JSON).
    pub mode: SyncMode,
    /// Strict mode: nested objects are whole values. Non-strict merges them per field.
    pub dql_strict_mode: bool,
    /// Only documents matching this MongoDB query document are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"deleted": false}))]
    pub filter: Option<Map<String, Value>>,
    /// Numeric fields (dotted paths) synced as settable counters: incremented on the edge,
    /// set from MongoDB.
    #[serde(default)]
    pub settable_counters: Vec<String>,
}

impl CollectionMapping {
    pub fn id_mapping(&self) -> IdMapping<'_> {
        match self.fields.as_slice() {
            [only] if only == "_id" => IdMapping::MatchId,
            [only] => IdMapping::SingleField(only),
            many => IdMapping::Composite(many),
        }
    }
}

/// A connector's settings except its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorSpec {
    pub name: String,
    pub description: String,
    pub database: String,
    pub collections: BTreeMap<String, CollectionMapping>,
    /// Let the connector enable change stream pre- and post-images itself (`collMod`) where they
    /// are off, when its user may.
    pub auto_configure: bool,
    /// What a collection's pipeline does when its resume point has rolled off the oplog.
    pub on_history_lost: OnHistoryLost,
}

/// What to do when a change stream cannot resume because its history is gone from the oplog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnHistoryLost {
    /// Stop the collection with `resume_point_lost` (the default): someone decides.
    #[default]
    Fail,
    /// Copy the collection again (a new initial sync), and say so in the diagnostics.
    Resync,
}

impl OnHistoryLost {
    pub fn as_str(self) -> &'static str {
        match self {
            OnHistoryLost::Fail => "fail",
            OnHistoryLost::Resync => "resync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fail" => Some(OnHistoryLost::Fail),
            "resync" => Some(OnHistoryLost::Resync),
            _ => None,
        }
    }
}

/// A validated request body: the settings, and the connection string if one was given.
#[derive(Debug, Clone)]
pub struct ConnectorDraft {
    pub spec: ConnectorSpec,
    pub connection_string: Option<MongoUri>,
}

/// Whether the body must carry `connectionString` (on create) or may leave it out (on replace,
/// keeping the stored secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRule {
    Required,
    Optional,
}

const TOP_LEVEL: &[&str] = &[
    "name",
    "description",
    "connectionString",
    "database",
    "collections",
    "autoConfigure",
    "onHistoryLost",
];
/// Output-only members a client may send back unchanged after a GET: ignored.
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "status",
    "desiredState",
    "statusDetail",
    "createdAt",
    "updatedAt",
    "version",
];
const COLLECTION_KEYS: &[&str] = &[
    "fields",
    "initialSync",
    "mode",
    "dqlStrictMode",
    "filter",
    "settableCounters",
    "dittoTypes",
];

fn unknown_member(out: &mut Violations, at: &Pointer, key: &str, allowed: &[&str]) {
    out.add(
        &at.push(key),
        format!(
            "unknown field `{key}`; expected one of: {}",
            allowed.join(", ")
        ),
    );
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expect_string<'v>(v: &'v Value, at: &Pointer, out: &mut Violations) -> Option<&'v str> {
    match v {
        Value::String(s) => Some(s),
        other => {
            out.add(at, format!("must be a string, not {}", type_name(other)));
            None
        }
    }
}

fn optional_bool(
    obj: &Map<String, Value>,
    key: &str,
    default: bool,
    at: &Pointer,
    out: &mut Violations,
) -> bool {
    match obj.get(key) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            out.add(
                &at.push(key),
                format!("must be true or false, not {}", type_name(other)),
            );
            default
        }
    }
}

/// Validates a connector request body, reporting every violation, and normalizes it.
pub fn parse_connector(body: &Value, secret: SecretRule) -> Result<ConnectorDraft, Vec<Violation>> {
    let root = Pointer::root();
    let mut out = Violations::new();
    let Value::Object(obj) = body else {
        out.add(
            &root,
            format!("must be a JSON object, not {}", type_name(body)),
        );
        return Err(out.into_vec());
    };
    for key in obj.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) && !READ_ONLY.contains(&key.as_str()) {
            unknown_member(&mut out, &root, key, TOP_LEVEL);
        }
    }

    let name = match obj.get("name") {
        None | Some(Value::Null) => {
            out.add(
                &root.push("name"),
                "is required: give the connector a name such as \"retail\"",
            );
            String::new()
        }
        Some(v) => match expect_string(v, &root.push("name"), &mut out) {
            Some(s) => {
                if let Err(e) = check_resource_name(s) {
                    out.add(&root.push("name"), e);
                }
                s.to_owned()
            }
            None => String::new(),
        },
    };

    let description = match obj.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(v) => match expect_string(v, &root.push("description"), &mut out) {
            Some(s) if s.chars().count() > MAX_DESCRIPTION_CHARS => {
                out.add(
                    &root.push("description"),
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                );
                String::new()
            }
            Some(s) => s.to_owned(),
            None => String::new(),
        },
    };

    let connection_string =
        parse_connection_string(obj.get("connectionString"), secret, &root, &mut out);

    let database = match obj.get("database") {
        None | Some(Value::Null) => {
            out.add(
                &root.push("database"),
                "is required: name the MongoDB database to sync",
            );
            None
        }
        Some(v) => expect_string(v, &root.push("database"), &mut out).and_then(|s| {
            match check_database_name(s) {
                Ok(()) => Some(s.to_owned()),
                Err(e) => {
                    out.add(&root.push("database"), e);
                    None
                }
            }
        }),
    };

    let collections = parse_collections(
        obj.get("collections"),
        database.as_deref().unwrap_or(""),
        &root,
        &mut out,
    );
    let auto_configure = optional_bool(obj, "autoConfigure", false, &root, &mut out);
    let on_history_lost = match obj.get("onHistoryLost") {
        None | Some(Value::Null) => OnHistoryLost::default(),
        Some(Value::String(s)) if OnHistoryLost::parse(s).is_some() => {
            OnHistoryLost::parse(s).unwrap_or_default()
        }
        Some(_) => {
            out.add(
                &root.push("onHistoryLost"),
                "must be \"fail\" (stop the collection, the default) or \"resync\" (copy it again)",
            );
            OnHistoryLost::default()
        }
    };

    out.finish(ConnectorDraft {
        spec: ConnectorSpec {
            name,
            description,
            database: database.unwrap_or_default(),
            collections,
            auto_configure,
            on_history_lost,
        },
        connection_string,
    })
}

fn parse_connection_string(
    value: Option<&Value>,
    secret: SecretRule,
    root: &Pointer,
    out: &mut Violations,
) -> Option<MongoUri> {
    let at = root.push("connectionString");
    match value {
        None | Some(Value::Null) => {
            if secret == SecretRule::Required {
                out.add(
                    &at,
                    "is required: give the MongoDB connection string, e.g. mongodb+srv://user:password@cluster0.example.net/",
                );
            }
            None
        }
        Some(v) => {
            let s = expect_string(v, &at, out)?;
            match MongoUri::parse(s) {
                Ok(uri) => Some(uri),
                Err(e) => {
                    out.add(
                        &at,
                        format!("is not a valid MongoDB connection string: {e}"),
                    );
                    None
                }
            }
        }
    }
}

fn parse_collections(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(body: Value) -> Vec<String> {
        match parse_connector(&body, SecretRule::Required) {
            Ok(_) => Vec::new(),
            Err(v) => v.into_iter().map(|v| v.path).collect(),
        }
    }

    fn valid() -> Value {
        json!({
            "name": "retail",
            "connectionString": "mongodb+srv://user:pass@cluster.example.net/",
            "database": "retail-demo",
            "collections": {
                "tasks": {"fields": ["_id"], "initialSync": true, "mode": "ejson", "dqlStrictMode": false},
                "users": {"fields": ["userId"]},
                "orders": {"fields": ["orderId", "storeId"], "filter": {"deleted": false},
                           "settableCounters": ["quantity", "order.qty"], "dqlStrictMode": false}
            }
        })
    }

    #[test]
    fn design_example_is_valid_and_defaults_are_filled() {
        let draft = parse_connector(&valid(), SecretRule::Required).unwrap();
        let users = &draft.spec.collections["users"];
        assert!(!users.initial_sync);
        assert_eq!(users.mode, SyncMode::Json);
        assert!(users.dql_strict_mode);
        assert_eq!(users.id_mapping(), IdMapping::SingleField("userId"));
        assert_eq!(
            draft.spec.collections["tasks"].id_mapping(),
            IdMapping::MatchId
        );
        assert!(
            matches!(draft.spec.collections["orders"].id_mapping(), IdMapping::Composite(f) if f.len() == 2)
        );
        assert_eq!(draft.spec.description, "");
    }

    #[test]
    fn reference_spelling_of_settable_counters_is_accepted() {
        let mut body = valid();
        body["collections"]["inventory"] = json!({
            "fields": ["_id"], "dqlStrictMode": false, "dittoTypes": {"settableCounters": ["quantity"]}
        });
        let draft = parse_connector(&body, SecretRule::Required).unwrap();
        assert_eq!(
            draft.spec.collections["inventory"].settable_counters,
            ["quantity"]
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let body = json!({
            "name": "bad name",
            "connectionString": "http://x",
            "database": "admin",
            "colour": 1,
            "collections": {
                "system.users": {"fields": ["_id"]},
                "a": {"fields": ["_id", "x"], "mode": "bson"},
                "b": {"fields": ["x.y", "x.y"], "mode": "ejson"},
                "c": {"fields": [], "settableCounters": ["c..d", "n"], "filter": 3},
                "d": {"fields": ["k"], "settableCounters": ["k"], "dqlStrictMode": false},
                "e": "nope"
            }
        });
        let got = paths(body);
        for expected in [
            "/name",
            "/connectionString",
            "/database",
            "/colour",
            "/collections/system.users",
            "/collections/a/fields/0",
            "/collections/a/mode",
            "/collections/b/fields/0",
            "/collections/b/fields/1",
            "/collections/b/dqlStrictMode",
            "/collections/c/fields",
            "/collections/c/settableCounters/0",
            "/collections/c/filter",
            "/collections/c/dqlStrictMode",
            "/collections/d/settableCounters/0",
            "/collections/e",
        ] {
            assert!(
                got.contains(&expected.to_string()),
                "missing {expected} in {got:?}"
            );
        }
    }

    #[test]
    fn connection_string_required_only_when_asked() {
        let mut body = valid();
        body.as_object_mut().unwrap().remove("connectionString");
        assert_eq!(paths(body.clone()), ["/connectionString"]);
        let draft = parse_connector(&body, SecretRule::Optional).unwrap();
        assert!(draft.connection_string.is_none());
    }

    #[test]
    fn read_only_members_are_ignored_but_typos_are_not() {
        let mut body = valid();
        body["id"] = json!("x");
        body["status"] = json!("running");
        assert!(paths(body.clone()).is_empty());
        body["databse"] = json!("x");
        assert_eq!(paths(body), ["/databse"]);
    }

    #[test]
    fn counters_given_twice_or_nested_in_each_other_are_refused() {
        let mut body = valid();
        body["collections"]["orders"]["dittoTypes"] = json!({"settableCounters": ["a"]});
        assert_eq!(
            paths(body),
            ["/collections/orders/dittoTypes/settableCounters"]
        );
        let mut body = valid();
        body["collections"]["orders"]["settableCounters"] = json!(["a", "a.b"]);
        assert_eq!(
            paths(body.clone()),
            ["/collections/orders/settableCounters/1"]
        );
        // Nothing under `_id` can be a counter, whatever the ID fields are.
        body["collections"]["orders"]["settableCounters"] = json!(["_id.a", "ok"]);
        assert_eq!(paths(body), ["/collections/orders/settableCounters/0"]);
    }

    #[test]
    fn empty_collections_and_non_object_body() {
        let mut body = valid();
        body["collections"] = json!({});
        assert_eq!(paths(body), ["/collections"]);
        assert_eq!(paths(json!([1])), [""]);
    }

    #[test]
    fn normalized_output_uses_canonical_spelling() {
        let mut body = valid();
        body["collections"] = json!({"inv": {"fields": ["_id"], "dqlStrictMode": false, "dittoTypes": {"settableCounters": ["q"]}}});
        let draft = parse_connector(&body, SecretRule::Required).unwrap();
        let out = serde_json::to_value(&draft.spec.collections["inv"]).unwrap();
        assert_eq!(
            out,
            json!({"fields": ["_id"], "initialSync": false, "mode": "json", "dqlStrictMode": false, "settableCounters": ["q"]})
        );
    }
}
