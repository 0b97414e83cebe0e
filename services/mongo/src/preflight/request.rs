//! What a run is asked to check, and the operator's limits and policy for it.

use std::collections::BTreeMap;
use std::time::Duration;

use edgebridge_domain::CollectionMapping;

use crate::policy::TargetPolicy;
use crate::port::ConnectOptions;

/// What to check. `Debug` never shows the connection string (it holds the password).
#[derive(Clone)]
pub struct PreflightRequest {
    /// The connection string as given (it may not parse: that is the first check).
    pub connection_string: String,
    pub database: String,
    pub collections: Vec<String>,
    /// Each collection's ID fields (its mapping's `fields`): the write-back upserts by them.
    /// A collection missing here is keyed by `_id`. See [`PreflightRequest::id_fields_of`].
    pub id_fields: BTreeMap<String, Vec<String>>,
    /// Enable pre- and post-images where missing (needs `collMod`), and create the unique index
    /// on ID fields other than `_id` (needs `createIndex`).
    pub auto_configure: bool,
}

impl PreflightRequest {
    /// The ID fields of each collection of a connector's mappings.
    pub fn id_fields_of(
        mappings: &BTreeMap<String, CollectionMapping>,
    ) -> BTreeMap<String, Vec<String>> {
        mappings
            .iter()
            .map(|(name, mapping)| (name.clone(), mapping.fields.clone()))
            .collect()
    }
}

/// Limits and policy set by the operator.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    pub policy: TargetPolicy,
    pub connect: ConnectOptions,
    /// Bound on each step after connecting (listing, creating).
    pub step_timeout: Duration,
    /// Bound on the whole run (keep it under the API's request timeout): checks not reached by
    /// then are reported, not lost.
    pub total_timeout: Duration,
}

impl std::fmt::Debug for PreflightRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreflightRequest")
            .field(
                "connection_string",
                &edgebridge_domain::redact(&self.connection_string),
            )
            .field("database", &self.database)
            .field("collections", &self.collections)
            .field("id_fields", &self.id_fields)
            .field("auto_configure", &self.auto_configure)
            .finish()
    }
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            policy: TargetPolicy::PublicOnly,
            connect: ConnectOptions::default(),
            step_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(25),
        }
    }
}
