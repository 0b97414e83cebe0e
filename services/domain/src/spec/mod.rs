//! The connector specification: what users write (DESIGN §3), how it is validated (every violation
//! reported at once), and the normalized form with defaults filled in.

use crate::connection_string::MongoUri;
use crate::names::{check_database_name, check_resource_name};
use crate::violation::{Pointer, Violation, Violations};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
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

/// Where the user wants the connector to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    #[default]
    Running,
    Paused,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(DesiredState::Running),
            "paused" => Some(DesiredState::Paused),
            _ => None,
        }
    }
}

/// A validated request body: the settings, the connection string and the desired state if
/// they were given.
#[derive(Debug, Clone)]
pub struct ConnectorDraft {
    pub spec: ConnectorSpec,
    pub connection_string: Option<MongoUri>,
    pub desired_state: Option<DesiredState>,
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
    "desiredState",
];
/// Output-only members of the connector a GET answers: a client may send them back unchanged
/// (get, modify, put), and they are ignored.
pub const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "status",
    "statusDetail",
    "health",
    "assignedWorker",
    "collectionStatus",
    "lag",
    "lastSyncedAt",
    "totals",
    "throughput",
    "resumePoint",
    "counters",
    "lastError",
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
    let desired_state = match obj.get("desiredState") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if DesiredState::parse(s).is_some() => DesiredState::parse(s),
        Some(_) => {
            out.add(
                &root.push("desiredState"),
                "must be \"running\" (start syncing, the default) or \"paused\" (save it without running it)",
            );
            None
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
        desired_state,
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
            match MongoUri::parse_checked(s) {
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

mod collection;

pub use collection::parse_collection_mapping;
use collection::parse_collections;

#[cfg(test)]
mod tests;
