//! The seeded simulator in process: its own port, the test's writes through its handle.

use std::sync::Arc;

use async_trait::async_trait;
use bson::{Bson, Document};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector, MongoPort};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};

use crate::deployment::{Deployment, Polls};

const SIM_HOST: &str = "sim.example.net";
const SIM_URI: &str = "mongodb://sim.example.net/";

pub(crate) struct SimDeployment {
    sim: Simulator,
    port: Arc<dyn MongoPort>,
}

impl SimDeployment {
    pub(crate) async fn new() -> Self {
        let sim = Simulator::new(42);
        sim.add_host(SIM_HOST, &["203.0.113.10".parse().expect("an IP address")]);
        let port = sim
            .connector()
            .connect(
                &MongoUri::parse(SIM_URI).expect("the simulator's connection string parses"),
                &ConnectOptions::default(),
            )
            .await
            .expect("the simulator connects");
        SimDeployment { sim, port }
    }
}

#[async_trait]
impl Deployment for SimDeployment {
    fn port(&self) -> Arc<dyn MongoPort> {
        Arc::clone(&self.port)
    }

    fn connector(&self) -> Arc<dyn MongoConnector> {
        Arc::new(self.sim.connector())
    }

    fn connection_string(&self) -> String {
        SIM_URI.to_owned()
    }

    fn db(&self) -> &str {
        "app"
    }

    fn polls(&self) -> Polls {
        Polls {
            max: 3,
            pause: None,
        }
    }

    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions) {
        self.sim.drop_collection(db, coll);
        self.sim.create_collection(db, coll, options);
    }

    async fn unique_index(&self, db: &str, coll: &str, field: &str) {
        self.sim.create_unique_index(db, coll, field);
    }

    async fn insert(&self, db: &str, coll: &str, document: Document) {
        self.sim
            .insert(db, coll, document)
            .expect("another application's insert succeeds");
    }

    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document) {
        self.sim
            .update(db, coll, &id, set)
            .expect("another application's update succeeds");
    }

    async fn delete(&self, db: &str, coll: &str, id: Bson) {
        self.sim
            .delete(db, coll, &id)
            .expect("another application's delete succeeds");
    }
}
