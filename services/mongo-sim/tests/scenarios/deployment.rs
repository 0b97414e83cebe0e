//! What a scenario runs against: the port, and the test's own hands on the deployment.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document};
use edgebridge_mongo::port::{MongoConnector, MongoPort};
use edgebridge_mongo_sim::CollectionOptions;

/// How patiently to read a change stream: a server answers an empty batch while an event is
/// still on its way (majority commit, `maxAwaitTimeMS`); the in-process simulator never does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Polls {
    /// Empty answers to accept before giving up on an event.
    pub(crate) max: u32,
    /// Pause between empty answers (none in process).
    pub(crate) pause: Option<Duration>,
}

/// The deployment under test, and the test's own hands on it (the DBA, another application).
#[async_trait]
pub(crate) trait Deployment: Send + Sync {
    /// The port, as the sync engine gets it.
    fn port(&self) -> Arc<dyn MongoPort>;
    /// The connector and connection string the preflight checks use.
    fn connector(&self) -> Arc<dyn MongoConnector>;
    fn connection_string(&self) -> String;
    /// The database this test owns.
    fn db(&self) -> &str;
    fn polls(&self) -> Polls;

    /// Drops the collection and creates it with these options.
    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions);
    async fn unique_index(&self, db: &str, coll: &str, field: &str);
    async fn insert(&self, db: &str, coll: &str, document: Document);
    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document);
    async fn delete(&self, db: &str, coll: &str, id: Bson);
}
