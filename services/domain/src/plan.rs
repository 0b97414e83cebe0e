//! What a reconfiguration will do (DESIGN §3): a per-collection diff between the stored spec and
//! the new one, shown to the user before (dry run) or when it is applied.

use crate::connection_string::MongoUri;
use crate::spec::{CollectionMapping, ConnectorSpec};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What happens to one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CollectionAction {
    /// Copy the collection's existing documents, then stream changes.
    InitialSync,
    /// Stream changes from now on, without copying existing documents.
    StartStreaming,
    /// Keep streaming; the new settings apply to changes from now on.
    ApplySettings,
    /// Stop syncing the collection. Data on both sides is kept.
    Stop,
    /// Nothing changes for this collection.
    None,
}

/// Why a collection is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChangeReason {
    CollectionAdded,
    CollectionRemoved,
    DatabaseChanged,
    IdMappingChanged,
    InitialSyncToggled,
    ModeChanged,
    DqlStrictModeChanged,
    FilterChanged,
    SettableCountersChanged,
}

/// The plan for one collection.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionChange {
    #[schema(example = "orders")]
    pub collection: String,
    pub action: CollectionAction,
    pub reasons: Vec<ChangeReason>,
    /// A sentence for people.
    pub description: String,
}

/// What happens to the MongoDB connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionAction {
    /// The connection string is unchanged.
    Unchanged,
    /// Reconnect with the new connection string and resume every stream from its stored resume
    /// token: no change is missed.
    ReconnectAndResume,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconfigurationPlan {
    pub connection: ConnectionAction,
    /// One entry per collection in the old or new spec, in name order.
    pub collections: Vec<CollectionChange>,
    /// Notes that need the user's attention (e.g. the hosts changed).
    pub warnings: Vec<String>,
}

impl ReconfigurationPlan {
    /// True when applying the plan changes nothing in the running sync.
    pub fn is_noop(&self) -> bool {
        self.connection == ConnectionAction::Unchanged
            && self
                .collections
                .iter()
                .all(|c| c.action == CollectionAction::None)
    }
}

fn start(name: &str, mapping: &CollectionMapping, reason: ChangeReason) -> CollectionChange {
    let (action, description) = if mapping.initial_sync {
        (
            CollectionAction::InitialSync,
            format!("`{name}`: copy the existing documents, then stream changes"),
        )
    } else {
        (
            CollectionAction::StartStreaming,
            format!(
                "`{name}`: stream changes from now on (initialSync is off, existing documents are not copied)"
            ),
        )
    };
    CollectionChange {
        collection: name.to_owned(),
        action,
        reasons: vec![reason],
        description,
    }
}

fn compare(name: &str, old: &CollectionMapping, new: &CollectionMapping) -> CollectionChange {
    let mut reasons = Vec::new();
    if old.fields != new.fields {
        reasons.push(ChangeReason::IdMappingChanged);
    }
    if old.mode != new.mode {
        reasons.push(ChangeReason::ModeChanged);
    }
    if old.dql_strict_mode != new.dql_strict_mode {
        reasons.push(ChangeReason::DqlStrictModeChanged);
    }
    // Key order matters to MongoDB's exact embedded-document matches, so compare the text.
    let filter_text = |m: &CollectionMapping| {
        m.filter
            .as_ref()
            .map(|f| Value::Object(f.clone()).to_string())
    };
    if filter_text(old) != filter_text(new) {
        reasons.push(ChangeReason::FilterChanged);
    }
    let counters = |m: &CollectionMapping| {
        let mut c = m.settable_counters.clone();
        c.sort();
        c
    };
    if counters(old) != counters(new) {
        reasons.push(ChangeReason::SettableCountersChanged);
    }
    let toggled = old.initial_sync != new.initial_sync;

    let (action, description) = if reasons.contains(&ChangeReason::IdMappingChanged) {
        if new.initial_sync {
            (
                CollectionAction::InitialSync,
                format!(
                    "`{name}`: the ID mapping changed, so the documents are copied again under the new IDs; edge documents stored under the old IDs are kept (delete them if unwanted)"
                ),
            )
        } else {
            (
                CollectionAction::ApplySettings,
                format!(
                    "`{name}`: changes from now on use the new ID mapping; existing edge documents keep their old IDs (enable initialSync to copy under the new IDs)"
                ),
            )
        }
    } else if !reasons.is_empty() {
        (
            CollectionAction::ApplySettings,
            format!(
                "`{name}`: the new settings apply to changes from now on; existing edge documents are not rewritten"
            ),
        )
    } else if toggled {
        (
            CollectionAction::None,
            format!(
                "`{name}`: toggling initialSync alone starts no copy; it takes effect when the collection is added again or its ID mapping changes"
            ),
        )
    } else {
        (CollectionAction::None, format!("`{name}`: unchanged"))
    };
    if toggled {
        reasons.push(ChangeReason::InitialSyncToggled);
    }
    CollectionChange {
        collection: name.to_owned(),
        action,
        reasons,
        description,
    }
}

/// Plans the move from `old` to `new`. `old_uri`/`new_uri` are the stored and the requested
/// connection strings; `new_uri` is `None` when the request keeps the stored one.
pub fn plan_reconfiguration(
    old: &ConnectorSpec,
    new: &ConnectorSpec,
    old_uri: Option<&MongoUri>,
    new_uri: Option<&MongoUri>,
) -> ReconfigurationPlan {
    let mut warnings = Vec::new();
    let connection = match (old_uri, new_uri) {
        (Some(old), Some(new)) if old.expose() != new.expose() => {
            if !old.same_hosts(new) {
                warnings.push(
                    "the connection string names other hosts: if they are a different cluster, the stored resume points will not be found there and the connector will fail with a lost-history error"
                        .to_owned(),
                );
            }
            ConnectionAction::ReconnectAndResume
        }
        (None, Some(_)) => ConnectionAction::ReconnectAndResume,
        _ => ConnectionAction::Unchanged,
    };

    let database_changed = old.database != new.database;
    if database_changed {
        warnings.push(format!(
            "the database changes from `{}` to `{}`: every collection is synced from the new database; edge documents from the old one are kept",
            old.database, new.database
        ));
    }

    let mut names: Vec<&String> = old
        .collections
        .keys()
        .chain(new.collections.keys())
        .collect();
    names.sort();
    names.dedup();
    let collections = names
        .into_iter()
        .map(|name| match (old.collections.get(name), new.collections.get(name)) {
            (Some(_), Some(n)) if database_changed => start(name, n, ChangeReason::DatabaseChanged),
            (Some(o), Some(n)) => compare(name, o, n),
            (None, Some(n)) => start(name, n, ChangeReason::CollectionAdded),
            (Some(_), None) => CollectionChange {
                collection: name.clone(),
                action: CollectionAction::Stop,
                reasons: vec![ChangeReason::CollectionRemoved],
                description: format!(
                    "`{name}`: stop syncing; documents already in MongoDB and in the edge store are kept"
                ),
            },
            (None, None) => unreachable!("name comes from one of the two maps"),
        })
        .collect();

    ReconfigurationPlan {
        connection,
        collections,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{SecretRule, parse_connector};
    use serde_json::{Value, json};

    fn spec(collections: Value) -> ConnectorSpec {
        parse_connector(
            &json!({"name": "c", "database": "db", "collections": collections}),
            SecretRule::Optional,
        )
        .unwrap()
        .spec
    }

    fn action_of(plan: &ReconfigurationPlan, name: &str) -> (CollectionAction, Vec<ChangeReason>) {
        let c = plan
            .collections
            .iter()
            .find(|c| c.collection == name)
            .unwrap();
        (c.action, c.reasons.clone())
    }

    #[test]
    fn added_removed_and_toggled() {
        let old = spec(json!({"a": {"fields": ["_id"]}, "b": {"fields": ["_id"]}}));
        let new = spec(
            json!({"a": {"fields": ["_id"], "initialSync": true}, "c": {"fields": ["_id"], "initialSync": true}, "d": {"fields": ["_id"]}}),
        );
        let plan = plan_reconfiguration(&old, &new, None, None);
        assert_eq!(
            action_of(&plan, "a"),
            (
                CollectionAction::None,
                vec![ChangeReason::InitialSyncToggled]
            )
        );
        assert_eq!(
            action_of(&plan, "b"),
            (
                CollectionAction::Stop,
                vec![ChangeReason::CollectionRemoved]
            )
        );
        assert_eq!(
            action_of(&plan, "c"),
            (
                CollectionAction::InitialSync,
                vec![ChangeReason::CollectionAdded]
            )
        );
        assert_eq!(
            action_of(&plan, "d"),
            (
                CollectionAction::StartStreaming,
                vec![ChangeReason::CollectionAdded]
            )
        );
        assert_eq!(plan.connection, ConnectionAction::Unchanged);
    }

    #[test]
    fn id_mapping_change_resyncs_only_with_initial_sync() {
        let old =
            spec(json!({"a": {"fields": ["_id"], "initialSync": true}, "b": {"fields": ["_id"]}}));
        let new =
            spec(json!({"a": {"fields": ["k"], "initialSync": true}, "b": {"fields": ["k"]}}));
        let plan = plan_reconfiguration(&old, &new, None, None);
        assert_eq!(
            action_of(&plan, "a"),
            (
                CollectionAction::InitialSync,
                vec![ChangeReason::IdMappingChanged]
            )
        );
        assert_eq!(
            action_of(&plan, "b"),
            (
                CollectionAction::ApplySettings,
                vec![ChangeReason::IdMappingChanged]
            )
        );
    }

    #[test]
    fn credentials_change_reconnects_and_warns_on_new_hosts() {
        let s = spec(json!({"a": {"fields": ["_id"]}}));
        let old = MongoUri::parse("mongodb+srv://u:old@c.example.net/").unwrap();
        let new = MongoUri::parse("mongodb+srv://u:new@c.example.net/").unwrap();
        let other = MongoUri::parse("mongodb+srv://u:new@d.example.net/").unwrap();
        let plan = plan_reconfiguration(&s, &s, Some(&old), Some(&new));
        assert_eq!(plan.connection, ConnectionAction::ReconnectAndResume);
        assert!(plan.warnings.is_empty());
        assert!(!plan.is_noop());
        let plan = plan_reconfiguration(&s, &s, Some(&old), Some(&other));
        assert_eq!(plan.warnings.len(), 1);
        let plan = plan_reconfiguration(&s, &s, Some(&old), Some(&old.clone()));
        assert!(plan.is_noop());
    }

    #[test]
    fn settings_changes_apply_going_forward() {
        let old = spec(json!({"a": {"fields": ["_id"]}}));
        let new =
            spec(json!({"a": {"fields": ["_id"], "dqlStrictMode": false, "filter": {"x": 1}}}));
        let plan = plan_reconfiguration(&old, &new, None, None);
        assert_eq!(
            action_of(&plan, "a"),
            (
                CollectionAction::ApplySettings,
                vec![
                    ChangeReason::DqlStrictModeChanged,
                    ChangeReason::FilterChanged
                ]
            )
        );
    }

    #[test]
    fn database_change_restarts_every_collection() {
        let old = spec(json!({"a": {"fields": ["_id"]}}));
        let mut new = old.clone();
        new.database = "other".into();
        let plan = plan_reconfiguration(&old, &new, None, None);
        assert_eq!(
            action_of(&plan, "a"),
            (
                CollectionAction::StartStreaming,
                vec![ChangeReason::DatabaseChanged]
            )
        );
        assert_eq!(plan.warnings.len(), 1);
    }
}
