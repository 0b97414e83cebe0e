//! `TestApp`: the real api on port 0 over a fresh database per test, with typed request helpers.

use crate::conformance::send_checked;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use edgebridge_api::auth::jwt::JwtKeys;
use edgebridge_api::crypto::Keyring;
use edgebridge_api::{ApiConfig, Application, api_keys};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const PASSWORD: &str = "s3cr3t-Pa55word";

/// `keyid:base64` for a deterministic test key.
pub fn key_entry(id: &str, byte: u8) -> String {
    format!("{id}:{}", STANDARD.encode([byte; 32]))
}

pub fn test_keyring() -> Keyring {
    Keyring::parse(&key_entry("k1", 1)).unwrap()
}

pub fn test_jwt() -> JwtKeys {
    JwtKeys::parse_keys(&key_entry("j1", 9)).unwrap()
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        edgebridge_api::telemetry::init(edgebridge_api::telemetry::LogFormat::Text);
    }
}

/// A Postgres URL for the test's database (trust auth, as on the CI machine).
pub fn database_url(opts: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("postgres")
    )
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub org_id: Uuid,
    pub owner_key: String,
    pub app_id: Uuid,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn connector_spec(name: &str) -> Value {
    json!({
        "name": name,
        "description": "store data for the retail app",
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/?retryWrites=true"),
        "database": "retail-demo",
        "collections": {
            "tasks": {"fields": ["_id"], "initialSync": true, "mode": "ejson", "dqlStrictMode": false},
            "users": {"fields": ["userId"]},
            "orders": {"fields": ["orderId", "storeId"], "initialSync": true, "filter": {"deleted": false},
                       "settableCounters": ["quantity", "order.qty"], "dqlStrictMode": false}
        }
    })
}

/// `connector_spec(name)` with its collections renamed `{collection}-{name}`: an edge collection
/// has one connector per app, so several connectors in one app each need their own.
pub fn own_connector_spec(name: &str) -> Value {
    let mut spec = connector_spec(name);
    let collections = spec["collections"].as_object().cloned().unwrap_or_default();
    spec["collections"] = collections
        .into_iter()
        .map(|(collection, settings)| (format!("{collection}-{name}"), settings))
        .collect::<serde_json::Map<_, _>>()
        .into();
    spec
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, |_| {}).await
    }

    /// Starts the api with the test keys (and any changes `configure` makes), then creates an
    /// organization with an owner key and one app.
    pub async fn spawn_with(pool: PgPool, configure: impl FnOnce(&mut ApiConfig)) -> Self {
        init_logs();
        let mut config = ApiConfig::new("127.0.0.1:0".parse().unwrap(), test_keyring(), test_jwt());
        config.rate_limit_per_sec = 0;
        // Alerts are evaluated where a test asks for it (by a cycle, or by setting an interval):
        // other tests' connectors would otherwise fire alerts into their event lists.
        config.fleet.alert_interval = std::time::Duration::ZERO;
        configure(&mut config);
        let shutdown = CancellationToken::new();
        let app = Application::build(config, pool.clone(), shutdown.clone())
            .await
            .expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let mut test = Self {
            address,
            client: reqwest::Client::new(),
            pool,
            org_id: Uuid::nil(),
            owner_key: String::new(),
            app_id: Uuid::nil(),
            shutdown,
        };
        let org_name = format!("acme-{}", &Uuid::now_v7().simple().to_string()[20..]);
        let (org_id, owner_key) = test.create_org(&org_name).await;
        test.org_id = org_id;
        test.owner_key = owner_key.clone();
        test.app_id = test.create_app(&owner_key, "retail").await;
        test
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        send_checked(self.request(Method::GET, path, key)).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        send_checked(self.request(Method::POST, path, key).json(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Response {
        send_checked(self.request(Method::PUT, path, key).json(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Response {
        send_checked(
            self.request(Method::PATCH, path, key)
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Response {
        send_checked(self.request(Method::DELETE, path, key)).await
    }

    /// An organization with its owner key, created the way `edgebridge org create` does.
    pub async fn create_org(&self, name: &str) -> (Uuid, String) {
        let (org_id, _, key) = api_keys::create_organization(&self.pool, name)
            .await
            .unwrap();
        (org_id, key.expose_secret().to_owned())
    }

    pub async fn create_app(&self, key: &str, name: &str) -> Uuid {
        let res = self.post("/v1/apps", key, &json!({"name": name})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create app");
        id_of(&res.json::<Value>().await.unwrap())
    }

    /// A new API key with `role`, optionally limited to `app`.
    pub async fn create_key(&self, key: &str, role: &str, app: Option<Uuid>) -> String {
        let res = self
            .post(
                "/v1/api-keys",
                key,
                &json!({"name": format!("{role} key"), "role": role, "appId": app}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create key");
        res.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn connectors_path(&self, app: Uuid) -> String {
        format!("/v1/apps/{app}/connectors")
    }

    pub fn connector_path(&self, app: Uuid, connector: Uuid) -> String {
        format!("/v1/apps/{app}/connectors/{connector}")
    }

    /// Creates a connector in the default app and returns its JSON.
    /// Ages workers' heartbeats and ends their leases, as if they had died (`None`: all of
    /// them): no sleeping for a lease to run out.
    pub async fn silence_workers(&self, worker: Option<Uuid>) {
        sqlx::query(
            "update workers set last_heartbeat_at = now() - interval '1 hour',
                 lease_expires_at = now() - interval '1 second'
             where $1::uuid is null or worker_id = $1",
        )
        .bind(worker)
        .execute(&self.pool)
        .await
        .expect("workers silenced");
    }

    pub async fn create_connector(&self, spec: &Value) -> Value {
        let res = self
            .post(&self.connectors_path(self.app_id), &self.owner_key, spec)
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "create connector: {body}");
        body
    }
}

pub fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    let actual = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "status of {body}");
    assert_eq!(
        content_type, "application/problem+json",
        "content type of {body}"
    );
    assert_eq!(body["code"], code, "code of {body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// The JSON pointers of a validation problem.
pub fn error_paths(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["path"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
