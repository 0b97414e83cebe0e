//! Remediation texts for failed checks, and the code and remedy of an unexpected step failure.

use crate::error::{ErrorKind, PortError};

pub(super) const REMEDY_STRING: &str = "Correct the connection string: mongodb:// or mongodb+srv://, then \
user:password@ with special characters percent-encoded, then the hosts.";
pub(super) const REMEDY_POLICY: &str = "Use the cluster's public address. This deployment only connects to \
public addresses; a self-hosted deployment can allow private ones (EDGEBRIDGE_TARGET_POLICY=allow-private).";
pub(super) const REMEDY_OPTION: &str = "Remove the option from the connection string: authenticate with a \
database user and password, and let the cluster present a certificate from a public CA.";
pub(super) const REMEDY_PROXY: &str = "Remove proxyHost, proxyPort, proxyUsername and proxyPassword \
from the connection string: this deployment reaches clusters through its own egress guard, so the \
cluster's network access list must allow this service's outbound addresses instead.";
pub(super) const REMEDY_RESOLVE: &str = "Check the host name in the connection string; for mongodb+srv:// the \
name must have a _mongodb._tcp SRV record.";
pub(super) const REMEDY_REACH: &str = "Make sure the cluster is running, that its network access list allows \
this service's outbound addresses, and that TLS settings match the cluster.";
pub(super) const REMEDY_AUTH: &str = "Check the user name and password (and authSource) in the connection \
string; the database user must exist on the cluster.";
pub(super) const REMEDY_REPLICA_SET: &str = "Run MongoDB as a replica set; one member is \
enough: restart mongod with --replSet rs0 (or replication.replSetName in its configuration file), \
run rs.initiate() in mongosh, then add ?replicaSet=rs0 to the connection string. Atlas clusters \
are replica sets already.";
pub(super) const REMEDY_PRIVILEGES: &str = "Grant the connector's database user the readWrite role on the \
database: it covers the synced collections and the connector's __edgebridge_* metadata \
collections (on a sharded cluster, also read on config.collections).";
pub(super) const REMEDY_CONFIG_READ: &str = "Grant the connector's database user read access to \
config.collections, where a sharded cluster keeps its collections' shard metadata: in mongosh on a \
mongos, db.getSiblingDB(\"admin\").createRole({role: \"readShardMetadata\", privileges: \
[{resource: {db: \"config\", collection: \"collections\"}, actions: [\"find\"]}], roles: []}), then \
db.getSiblingDB(\"admin\").grantRolesToUser(\"<user>\", [\"readShardMetadata\"]).";
pub(super) const REMEDY_DATABASE: &str = "Create the database in MongoDB (create any collection in it), or \
correct the `database` field.";
pub(super) const REMEDY_COLLECTION: &str = "Create the collection in MongoDB with changeStreamPreAndPostImages \
enabled, or correct the collection name.";
pub(super) const REMEDY_VIEW: &str = "Sync the view's source collection instead: views and time series \
collections have no change streams with pre- and post-images.";
pub(super) const REMEDY_CAPPED: &str = "Use a collection that is not capped: copy the data into a new \
collection created with changeStreamPreAndPostImages enabled.";
pub(super) const REMEDY_SLOW: &str = "The cluster answers too slowly: check its load and the network path, \
then test again.";
const REMEDY_UNKNOWN: &str = "An unexpected error occurred; try again, and contact support with \
the connector id if it persists.";

pub(super) fn remedy_images(collection: &str) -> String {
    format!(
        "Run db.runCommand({{collMod: \"{collection}\", changeStreamPreAndPostImages: {{enabled: true}}}}), \
or set autoConfigure: true on the connector and grant its user collMod (dbAdmin role)."
    )
}

/// For a collection keyed by other fields than `_id` without a unique index on them: the
/// `createIndex` command that makes one.
pub(super) fn remedy_id_index(command: &str) -> String {
    format!(
        "Run {command} in mongosh (it fails while documents share the same values: remove the \
duplicates first), or set autoConfigure: true on the connector and grant its user createIndex \
(readWrite includes it)."
    )
}

/// When the indexes could not be listed: what to grant, and the index to make sure of.
pub(super) fn remedy_id_index_unverified(command: &str) -> String {
    format!(
        "Grant the connector's database user listIndexes on the collection (readWrite includes \
it), or make sure the index exists: {command}."
    )
}

/// A permission failure gets `code` and the privileges remedy; anything else is unexpected.
pub(super) fn denied_or_unknown(
    error: &PortError,
    code: &'static str,
) -> (&'static str, &'static str) {
    match error.kind {
        ErrorKind::Unauthorized => (code, REMEDY_PRIVILEGES),
        ErrorKind::Network | ErrorKind::Timeout | ErrorKind::NotPrimary => {
            ("cluster_unreachable", REMEDY_REACH)
        }
        _ => ("unexpected_error", REMEDY_UNKNOWN),
    }
}
