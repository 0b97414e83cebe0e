//! Edgebridge's domain model, free of I/O: connector specs and their validation, MongoDB
//! connection strings and their redaction, naming rules, and reconfiguration plans.

pub mod connection_string;
pub mod filter;
pub mod fleet;
pub mod merge_patch;
pub mod names;
pub mod plan;
pub mod schedule;
pub mod spec;
pub mod unsynced;
pub mod violation;

pub use connection_string::{MongoUri, redact};
pub use merge_patch::merge_patch;
pub use plan::{ReconfigurationPlan, plan_reconfiguration};
pub use spec::{
    CollectionMapping, ConnectorDraft, ConnectorSpec, DesiredState, OnHistoryLost, SecretRule,
    SyncMode, parse_collection_mapping, parse_connector,
};
pub use violation::Violation;
