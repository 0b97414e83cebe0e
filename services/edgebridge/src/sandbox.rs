//! The sandbox MongoDB of `all --dev`: the simulator's wire front on 127.0.0.1, in memory, with
//! a sample collection (`shop.products`) that any MongoDB client can change; the demo connector
//! a fresh database gets (made through the api itself, as a user would); and, at every later
//! start, what becomes of the connectors that point at a sandbox.
//!
//! Never started outside `--dev`: the flags are refused without it, and `api` has none.

use anyhow::{Context, bail};
use bson::doc;
use clap::Args;
use edgebridge_api::connectors::model::DesiredState;
use edgebridge_api::connectors::repo;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::mongo::port::{Privilege, Resource};
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use uuid::Uuid;

/// The port the sandbox takes unless told otherwise: beside a local mongod's 27017.
pub const DEFAULT_PORT: u16 = 27018;
/// The sandbox's one user (every privilege, like `root`).
pub const USER: &str = "sandbox";
/// The replica set's name: with the user and 127.0.0.1, what marks a connection string as the
/// sandbox's.
pub const REPLICA_SET: &str = "sandbox";
pub const DATABASE: &str = "shop";
pub const COLLECTION: &str = "products";
/// The demo connector's name (the README's "Try it" finds it by this name).
pub const DEMO_CONNECTOR: &str = "shop";
/// Overrides the sandbox password kept in the dev keys file.
pub const PASSWORD_ENV: &str = "EDGEBRIDGE_SANDBOX_PASSWORD";
/// The simulator's seed: the same tokens and ids at every start.
const SEED: u64 = 27018;

/// The sample collection: `_id`, name, category, price, stock.
const SAMPLE: [(&str, &str, f64, i32); 20] = [
    ("mug", "kitchen", 7.5, 120),
    ("tee", "apparel", 19.0, 80),
    ("cap", "apparel", 12.0, 45),
    ("notebook", "stationery", 4.25, 300),
    ("pen", "stationery", 1.5, 1000),
    ("tote", "bags", 9.0, 60),
    ("bottle", "kitchen", 14.0, 75),
    ("hoodie", "apparel", 39.0, 30),
    ("sticker", "stationery", 0.5, 2000),
    ("lanyard", "accessories", 3.0, 150),
    ("socks", "apparel", 8.0, 90),
    ("backpack", "bags", 49.0, 20),
    ("coaster", "kitchen", 2.5, 400),
    ("poster", "decor", 6.0, 110),
    ("keychain", "accessories", 2.0, 500),
    ("beanie", "apparel", 15.0, 40),
    ("apron", "kitchen", 18.0, 25),
    ("pin", "accessories", 1.0, 800),
    ("umbrella", "accessories", 22.0, 15),
    ("blanket", "decor", 35.0, 10),
];

/// The sandbox's flags (`all` only).
#[derive(Args, Clone)]
pub struct SandboxArgs {
    /// With --dev: do not start the sandbox MongoDB (connectors pointing at it are paused).
    #[arg(long)]
    no_sandbox: bool,
    /// With --dev: the sandbox MongoDB's port on 127.0.0.1 (0: any free port). Default 27018,
    /// or a free port when 27018 is taken.
    #[arg(long, env = "EDGEBRIDGE_SANDBOX_PORT")]
    sandbox_port: Option<u16>,
}

/// What `all` does about the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxSetting {
    /// `--dev --no-sandbox`.
    Off,
    /// `--dev`: on this port, or on [`DEFAULT_PORT`] (a free one if taken).
    On(Option<u16>),
}

impl SandboxArgs {
    /// `None` without `--dev` (then any sandbox flag is an error: the sandbox never runs
    /// outside development mode).
    pub fn setting(&self, dev: bool) -> anyhow::Result<Option<SandboxSetting>> {
        if !dev {
            if self.no_sandbox || self.sandbox_port.is_some() {
                bail!(
                    "--no-sandbox, --sandbox-port and EDGEBRIDGE_SANDBOX_PORT apply only with --dev: the sandbox MongoDB never runs outside development mode"
                );
            }
            return Ok(None);
        }
        Ok(Some(if self.no_sandbox {
            SandboxSetting::Off
        } else {
            SandboxSetting::On(self.sandbox_port)
        }))
    }
}

/// The running sandbox: stops accepting and closes its connections when dropped.
pub struct Sandbox {
    server: WireServer,
    password: SecretString,
    /// 27018 was taken, so another port was chosen.
    moved: bool,
}

impl Sandbox {
    /// Seeds the sample collection and listens on 127.0.0.1. `policy` is the one connectors
    /// get: it must allow loopback addresses, or no connector could reach the sandbox.
    pub async fn start(
        port: Option<u16>,
        password: SecretString,
        policy: TargetPolicy,
    ) -> anyhow::Result<Sandbox> {
        if policy != TargetPolicy::AllowPrivate {
            bail!(
                "the sandbox MongoDB listens on 127.0.0.1, which EDGEBRIDGE_TARGET_POLICY=public-only forbids connectors to reach: unset it (--dev allows private addresses) or add --no-sandbox"
            );
        }
        let sim = Simulator::new(SEED);
        sim.create_collection(DATABASE, COLLECTION, CollectionOptions::ready());
        for document in sample_documents() {
            sim.insert(DATABASE, COLLECTION, document)
                .map_err(|e| anyhow::anyhow!("seeding the sandbox: {e}"))?;
        }
        sim.add_user(SimUser {
            name: USER.to_owned(),
            password: password.expose_secret().to_owned(),
            privileges: vec![Privilege {
                resource: Resource::AnyResource,
                actions: ["anyAction".to_owned()].into(),
            }],
        });
        let options = |port: u16| WireOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            replica_set: REPLICA_SET.to_owned(),
            ..WireOptions::default()
        };
        let failed = |port: u16| {
            format!(
                "starting the sandbox MongoDB on 127.0.0.1:{port}: choose another port with --sandbox-port (EDGEBRIDGE_SANDBOX_PORT), or skip it with --no-sandbox"
            )
        };
        let (server, moved) = match port {
            Some(port) => (
                WireServer::start(sim, options(port))
                    .await
                    .with_context(|| failed(port))?,
                false,
            ),
            None => match WireServer::start(sim.clone(), options(DEFAULT_PORT)).await {
                Ok(server) => (server, false),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    let server = WireServer::start(sim, options(0))
                        .await
                        .with_context(|| failed(0))?;
                    tracing::warn!(
                        port = server.address().port(),
                        "port {DEFAULT_PORT} is taken; the sandbox MongoDB listens on another"
                    );
                    (server, true)
                }
                Err(e) => return Err(e).with_context(|| failed(DEFAULT_PORT)),
            },
        };
        tracing::info!(address = %server.address(), "sandbox MongoDB listening (in memory)");
        Ok(Sandbox {
            server,
            password,
            moved,
        })
    }

    pub fn port(&self) -> u16 {
        self.server.address().port()
    }

    /// The connection string with the sandbox user's credentials.
    pub fn uri(&self) -> String {
        self.server
            .uri_with_credentials(USER, self.password.expose_secret())
    }

    /// The banner's lines about the sandbox.
    pub fn banner_lines(&self) -> Vec<String> {
        let mut lines = vec![
            "Sandbox:    sandbox MongoDB (in memory, not persisted), on 127.0.0.1 only; --no-sandbox skips it".to_owned(),
            format!(
                "            MONGO='{}'   (mongosh, pymongo, Compass)",
                self.uri()
            ),
            format!(
                "            `{DATABASE}.{COLLECTION}` holds {} sample documents, the same at every start",
                SAMPLE.len()
            ),
        ];
        if self.moved {
            lines.push(format!(
                "            Port {DEFAULT_PORT} is taken, so it listens on {}: connectors made for {DEFAULT_PORT} are paused (--sandbox-port fixes the port)",
                self.port()
            ));
        }
        lines
    }
}

/// The sandbox password: EDGEBRIDGE_SANDBOX_PASSWORD, else one generated once and kept in the
/// dev keys file, so the URI and the connection strings saved with it stay valid across
/// restarts.
pub fn password(dev_keys: &mut crate::dev::DevKeys) -> anyhow::Result<SecretString> {
    if let Some(password) = std::env::var(PASSWORD_ENV)
        .ok()
        .filter(|p| !p.trim().is_empty())
    {
        return Ok(SecretString::from(password.trim().to_owned()));
    }
    let kept = dev_keys.entry(PASSWORD_ENV, || Uuid::new_v4().simple().to_string())?;
    Ok(SecretString::from(kept))
}

fn sample_documents() -> impl Iterator<Item = bson::Document> {
    SAMPLE
        .iter()
        .enumerate()
        .map(|(i, (name, category, price, stock))| {
            doc! {
                "_id": format!("p{:02}", i + 1),
                "name": *name,
                "category": *category,
                "price": *price,
                "stock": *stock,
            }
        })
}

/// The demo connector's spec: the sample collection, copied, then synced both ways.
fn demo_spec(uri: &str) -> Value {
    json!({
        "name": DEMO_CONNECTOR,
        "description": "Demo (created by --dev): the sandbox MongoDB's shop.products, synced both ways",
        "connectionString": uri,
        "database": DATABASE,
        "autoConfigure": true,
        "onHistoryLost": "resync",
        "collections": {COLLECTION: {"fields": ["_id"], "initialSync": true}},
    })
}

/// Creates the demo connector through the api at `api_url` (`POST /v1/apps/{app}/connectors`,
/// as any client would). Returns its id.
pub async fn create_demo(
    api_url: &str,
    key: &SecretString,
    app_id: Uuid,
    uri: &str,
) -> anyhow::Result<Uuid> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(format!("{api_url}/v1/apps/{app_id}/connectors"))
        .bearer_auth(key.expose_secret())
        .json(&demo_spec(uri))
        .send()
        .await
        .context("sending the request")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the api answered {status}: {}",
            body["detail"].as_str().unwrap_or("no detail")
        );
    }
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("the api's answer has no connector id")
}

/// What start-up did with a connector pointing at a sandbox.
pub struct SandboxConnector {
    pub name: String,
    pub app_id: Uuid,
    pub connector_id: Uuid,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// It points at this start's sandbox, whose data is new: its collections are copied again
    /// (a resync), now if it runs, when resumed if paused.
    Recopied { paused: bool },
    /// Its sandbox is not running (another port, or none): paused rather than left to fail.
    Paused { port: u16 },
}

impl SandboxConnector {
    pub fn banner_line(&self) -> String {
        let (name, id, app) = (&self.name, self.connector_id, self.app_id);
        match self.outcome {
            Outcome::Recopied { paused: false } => format!(
                "Connector `{name}` ({id}) copies its collections again from the new sandbox (a resync)"
            ),
            Outcome::Recopied { paused: true } => format!(
                "Connector `{name}` ({id}) is paused; resumed, it copies its collections again: POST /v1/apps/{app}/connectors/{id}/resume"
            ),
            Outcome::Paused { port } => format!(
                "Paused connector `{name}` ({id}): no sandbox runs on its port {port} now; with one there (--sandbox-port {port}), resume it: POST /v1/apps/{app}/connectors/{id}/resume"
            ),
        }
    }
}

/// The port of a sandbox connection string in its redacted form
/// (`mongodb://sandbox:****@127.0.0.1:PORT/?replicaSet=sandbox`), `None` for any other.
fn sandbox_port_of(redacted: &str) -> Option<u16> {
    let rest = redacted.strip_prefix("mongodb://")?;
    let (user, rest) = rest.split_once('@')?;
    if user.split(':').next() != Some(USER) {
        return None;
    }
    let (host, rest) = rest.split_once('/')?;
    let port = host.strip_prefix("127.0.0.1:")?.parse().ok()?;
    let options = rest.split_once('?').map_or("", |(_, options)| options);
    options
        .split('&')
        .any(|o| o == format!("replicaSet={REPLICA_SET}"))
        .then_some(port)
}

/// At a start over a database that already has organizations: the connectors pointing at a
/// sandbox hold stream positions in a sandbox that no longer exists (it lived in memory). Those
/// pointing at this start's sandbox copy their collections again (as `POST .../resync` does):
/// the edge then matches the new sandbox, and nothing fails on a stale position. Running ones
/// pointing at a sandbox that is not running are paused (as `POST .../pause` does) instead of
/// failing.
pub async fn reconcile(
    pool: &PgPool,
    sandbox: Option<&Sandbox>,
) -> anyhow::Result<Vec<SandboxConnector>> {
    let rows: Vec<(Uuid, Uuid, Uuid, String, String, String)> = sqlx::query_as(
        "select org_id, app_id, connector_id, name, connection_redacted, desired_state
         from connectors where connection_redacted like 'mongodb://sandbox:%'
         order by created_at",
    )
    .fetch_all(pool)
    .await
    .context("listing the connectors that point at a sandbox")?;
    let mut done = Vec::new();
    for (org_id, app_id, connector_id, name, redacted, desired) in rows {
        let Some(port) = sandbox_port_of(&redacted) else {
            continue;
        };
        let paused = desired == DesiredState::Paused.as_str();
        let outcome = match sandbox {
            Some(sandbox) if sandbox.port() == port => {
                recopy(pool, org_id, app_id, connector_id).await?;
                Outcome::Recopied { paused }
            }
            _ if paused => continue,
            _ => {
                repo::set_desired_state(pool, org_id, app_id, connector_id, DesiredState::Paused)
                    .await
                    .with_context(|| format!("pausing connector {connector_id}"))?;
                Outcome::Paused { port }
            }
        };
        done.push(SandboxConnector {
            name,
            app_id,
            connector_id,
            outcome,
        });
    }
    Ok(done)
}

/// Requests a new copy of each of the connector's collections, as `POST .../resync` does.
async fn recopy(
    pool: &PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> anyhow::Result<()> {
    let context = || format!("requesting a new copy for connector {connector_id}");
    let mut tx = edgebridge_api::db::begin(pool)
        .await
        .with_context(context)?;
    let row = repo::lock(&mut tx, org_id, app_id, connector_id)
        .await
        .with_context(context)?;
    for collection in row.collections.0.keys() {
        repo::request_resync(&mut tx, connector_id, collection)
            .await
            .with_context(context)?;
    }
    tx.commit().await.with_context(context)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sandbox_connection_string_names_a_sandbox_port() {
        let port = |s| sandbox_port_of(s);
        assert_eq!(
            port("mongodb://sandbox:****@127.0.0.1:27018/?replicaSet=sandbox"),
            Some(27018)
        );
        assert_eq!(
            port("mongodb://sandbox:****@127.0.0.1:4000/?appName=x&replicaSet=sandbox"),
            Some(4000)
        );
        assert_eq!(
            port("mongodb://sandbox:****@127.0.0.1:27018/?replicaSet=rs0"),
            None
        );
        assert_eq!(
            port("mongodb://other:****@127.0.0.1:27018/?replicaSet=sandbox"),
            None
        );
        assert_eq!(
            port("mongodb://sandbox:****@db.example.net:27018/?replicaSet=sandbox"),
            None
        );
        assert_eq!(
            port("mongodb://sandbox:****@127.0.0.1:27018,127.0.0.1:27019/?replicaSet=sandbox"),
            None
        );
        assert_eq!(port("mongodb://127.0.0.1:27018/?replicaSet=sandbox"), None);
    }

    #[test]
    fn the_sample_documents_are_p01_to_p20_as_the_readme_says() {
        let ids: Vec<String> = sample_documents()
            .map(|d| d.get_str("_id").unwrap().to_owned())
            .collect();
        let readme: Vec<String> = (1..=20).map(|i| format!("p{i:02}")).collect();
        assert_eq!(ids, readme);
        let mug = sample_documents().next().unwrap();
        assert_eq!(
            mug,
            doc! {"_id": "p01", "name": "mug", "category": "kitchen", "price": 7.5, "stock": 120}
        );
    }

    #[test]
    fn sandbox_flags_without_dev_are_refused() {
        let args = |no_sandbox, sandbox_port| SandboxArgs {
            no_sandbox,
            sandbox_port,
        };
        assert!(args(true, None).setting(false).is_err());
        assert!(args(false, Some(27018)).setting(false).is_err());
        assert_eq!(args(false, None).setting(false).unwrap(), None);
        assert_eq!(
            args(false, None).setting(true).unwrap(),
            Some(SandboxSetting::On(None))
        );
        assert_eq!(
            args(true, Some(1)).setting(true).unwrap(),
            Some(SandboxSetting::Off)
        );
    }
}
