//! The worker's side of the internal API. One client per worker, shared by its supervisors; the
//! worker JWT it sends is the latest one a heartbeat returned.

use edgebridge_domain::fleet::{
    ApplyRequest, ApplyResponse, CollectionCheckpoint, ConnectorAssignmentSpec, ConnectorReport,
    FeedPage, HeartbeatRequest, HeartbeatResponse, RegisterRequest, ReportAnswer, WorkerCredential,
    WriteBackPosition, paths,
};
use edgebridge_domain::unsynced::{self, UnsyncedAnswer, UnsyncedReport};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connector is not this worker's at that epoch any more: stop it.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The worker is no longer registered (lease ran out, replaced, deregistered), or its token
    /// is no longer accepted: stop everything and register again.
    #[error("worker expired: {0}")]
    Expired(String),
    /// The api refused the worker token.
    #[error("the api refused the worker credential: {0}")]
    Unauthorized(String),
    /// The api could not be reached or failed; try again later.
    #[error("api unavailable: {0}")]
    Unavailable(String),
    /// The api refused the request's content (a bug on one side).
    #[error("request refused: {0}")]
    Refused(String),
    /// The request body was larger than the api takes: send less at once.
    #[error("request too large: {0}")]
    TooLarge(String),
    /// The api cannot open the connector's stored connection string (the key it was saved
    /// under is gone): nothing runs until a user replaces it.
    #[error("connection string unavailable: {0}")]
    SecretUnavailable(String),
}

/// The problem code of a connector whose stored connection string the api cannot open.
pub const SECRET_UNAVAILABLE: &str = "connection_string_unavailable";

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    worker_token: Arc<SecretString>,
    session: Arc<RwLock<Option<Session>>>,
    metrics: crate::metrics::WorkerMetrics,
}

#[derive(Clone)]
struct Session {
    worker_id: Uuid,
    access_token: String,
}

/// The status, code and detail of a refusal.
async fn problem(res: reqwest::Response) -> (String, String) {
    let status = res.status();
    match res.json::<serde_json::Value>().await {
        Ok(body) => {
            let code = body["code"].as_str().unwrap_or("").to_owned();
            let text = format!("{status} {code}: {}", body["detail"].as_str().unwrap_or(""));
            (code, text)
        }
        Err(_) => (String::new(), status.to_string()),
    }
}

async fn classify(res: reqwest::Response) -> ClientError {
    let status = res.status();
    let (code, text) = problem(res).await;
    if code == SECRET_UNAVAILABLE {
        return ClientError::SecretUnavailable(text);
    }
    match status {
        StatusCode::CONFLICT => ClientError::Fenced(text),
        StatusCode::PAYLOAD_TOO_LARGE => ClientError::TooLarge(text),
        StatusCode::GONE | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ClientError::Expired(text)
        }
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            ClientError::Unavailable(text)
        }
        _ => ClientError::Refused(text),
    }
}

fn unavailable(e: reqwest::Error) -> ClientError {
    // Without the URL: it may carry nothing secret, but the message stays short.
    ClientError::Unavailable(e.without_url().to_string())
}

impl ApiClient {
    pub fn new(base: &str, worker_token: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            worker_token: Arc::new(worker_token),
            session: Arc::new(RwLock::new(None)),
            metrics: Default::default(),
        })
    }

    /// Counts this client's calls in `metrics` (the worker's, served on `/metrics`).
    pub fn with_metrics(mut self, metrics: crate::metrics::WorkerMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn session(&self) -> ClientResult<Session> {
        self.session
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| ClientError::Expired("not registered".into()))
    }

    fn remember(&self, credential: &WorkerCredential) {
        if let Ok(mut s) = self.session.write() {
            *s = Some(Session {
                worker_id: credential.worker_id,
                access_token: credential.access_token.clone(),
            });
        }
    }

    /// The id this client is registered under.
    pub fn worker_id(&self) -> Option<Uuid> {
        self.session().ok().map(|s| s.worker_id)
    }

    pub async fn register(&self, request: &RegisterRequest) -> ClientResult<WorkerCredential> {
        let request = self
            .http
            .post(format!("{}{}", self.base, paths::REGISTER))
            .bearer_auth(self.worker_token.expose_secret())
            .json(request);
        let res = self.execute(request).await?;
        if res.status() != StatusCode::CREATED {
            return Err(match classify(res).await {
                ClientError::Expired(t) => ClientError::Unauthorized(t),
                // The name is held by a live worker: retry, it may be our crashed predecessor.
                ClientError::Fenced(t) => ClientError::Unavailable(t),
                other => other,
            });
        }
        let credential: WorkerCredential = res.json().await.map_err(unavailable)?;
        self.remember(&credential);
        Ok(credential)
    }

    /// A request on the worker's own routes, with its JWT; `path` gets the worker id.
    fn authed(
        &self,
        method: reqwest::Method,
        path: impl FnOnce(Uuid) -> String,
    ) -> ClientResult<reqwest::RequestBuilder> {
        let s = self.session()?;
        Ok(self
            .http
            .request(method, format!("{}{}", self.base, path(s.worker_id)))
            .bearer_auth(s.access_token))
    }

    /// Every call to the api goes through here: timed and counted by endpoint.
    async fn execute(&self, request: reqwest::RequestBuilder) -> ClientResult<reqwest::Response> {
        let (http, request) = request.build_split();
        let request = request.map_err(unavailable)?;
        let (method, path) = (request.method().clone(), request.url().path().to_owned());
        let started = std::time::Instant::now();
        let res = http.execute(request).await;
        let status = res.as_ref().ok().map(|r| r.status().as_u16());
        self.metrics
            .observe_call(&method, &path, status, started.elapsed());
        res.map_err(unavailable)
    }

    /// Sends it; a non-success status becomes its [`ClientError`].
    async fn send(&self, request: reqwest::RequestBuilder) -> ClientResult<reqwest::Response> {
        let res = self.execute(request).await?;
        if !res.status().is_success() {
            return Err(classify(res).await);
        }
        Ok(res)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> ClientResult<T> {
        self.send(request).await?.json().await.map_err(unavailable)
    }

    pub async fn heartbeat(
        &self,
        draining: bool,
        timeout: Duration,
    ) -> ClientResult<HeartbeatResponse> {
        let request = self
            .authed(reqwest::Method::POST, paths::heartbeat)?
            .timeout(timeout)
            .json(&HeartbeatRequest { draining });
        let answer: HeartbeatResponse = self.json(request).await?;
        self.remember(&answer.credential);
        Ok(answer)
    }

    pub async fn connector(
        &self,
        connector_id: Uuid,
        epoch: i64,
    ) -> ClientResult<ConnectorAssignmentSpec> {
        let request = self
            .authed(reqwest::Method::GET, |w| paths::connector(w, connector_id))?
            .query(&[("epoch", epoch)]);
        self.json(request).await
    }

    pub async fn report(
        &self,
        connector_id: Uuid,
        report: &ConnectorReport,
    ) -> ClientResult<ReportAnswer> {
        let request = self
            .authed(reqwest::Method::POST, |w| paths::report(w, connector_id))?
            .json(report);
        let res = self.send(request).await?;
        if res.status() == StatusCode::NO_CONTENT {
            return Ok(ReportAnswer::default());
        }
        res.json().await.map_err(unavailable)
    }

    /// Applies mapped writes to the edge store and moves the collection's checkpoint past them.
    pub async fn apply(
        &self,
        connector_id: Uuid,
        request: &ApplyRequest,
    ) -> ClientResult<ApplyResponse> {
        let request = self
            .authed(reqwest::Method::POST, |w| paths::apply(w, connector_id))?
            .json(request);
        self.json(request).await
    }

    /// Where each collection's pipeline is to resume.
    pub async fn checkpoints(
        &self,
        connector_id: Uuid,
        epoch: i64,
    ) -> ClientResult<BTreeMap<String, CollectionCheckpoint>> {
        let request = self
            .authed(reqwest::Method::GET, |w| {
                paths::checkpoints(w, connector_id)
            })?
            .query(&[("epoch", epoch)]);
        self.json(request).await
    }

    /// The edge-store changes to write back (the connector's own writes left out).
    pub async fn changes(
        &self,
        connector_id: Uuid,
        epoch: i64,
        after: Option<&str>,
        limit: u32,
        wait_secs: u32,
    ) -> ClientResult<FeedPage> {
        let mut request = self
            .authed(reqwest::Method::GET, |w| paths::changes(w, connector_id))?
            .query(&[
                ("epoch", epoch.to_string()),
                ("limit", limit.to_string()),
                ("wait", wait_secs.to_string()),
            ]);
        // A long poll: it may take its whole wait before the api answers.
        request = request.timeout(Duration::from_secs(u64::from(wait_secs) + 30));
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        self.json(request).await
    }

    /// How far the write-back has taken the feed.
    pub async fn write_back_position(
        &self,
        connector_id: Uuid,
        epoch: i64,
    ) -> ClientResult<WriteBackPosition> {
        let request = self
            .authed(reqwest::Method::GET, |w| paths::write_back(w, connector_id))?
            .query(&[("epoch", epoch)]);
        self.json(request).await
    }

    /// Saves the write-back's position (after a commit to MongoDB).
    pub async fn save_write_back_position(
        &self,
        connector_id: Uuid,
        position: &WriteBackPosition,
    ) -> ClientResult<()> {
        let request = self
            .authed(reqwest::Method::PUT, |w| paths::write_back(w, connector_id))?
            .json(position);
        self.send(request).await.map(drop)
    }

    /// Reports what changed in the connector's unsynced-document records (or, reconciling, all
    /// of them); answers with the discards users asked for.
    pub async fn report_unsynced(
        &self,
        connector_id: Uuid,
        report: &UnsyncedReport,
    ) -> ClientResult<UnsyncedAnswer> {
        let request = self
            .authed(reqwest::Method::POST, |w| unsynced::path(w, connector_id))?
            .json(report);
        self.json(request).await
    }

    /// The discards of unsynced-document records users asked for.
    pub async fn unsynced_discards(
        &self,
        connector_id: Uuid,
        epoch: i64,
    ) -> ClientResult<UnsyncedAnswer> {
        let request = self
            .authed(reqwest::Method::GET, |w| unsynced::path(w, connector_id))?
            .query(&[("epoch", epoch)]);
        self.json(request).await
    }

    pub async fn deregister(&self) -> ClientResult<()> {
        self.send(self.authed(reqwest::Method::POST, paths::deregister)?)
            .await?;
        self.forget();
        Ok(())
    }

    /// Forgets the registration (after the api said the worker expired).
    pub fn forget(&self) {
        if let Ok(mut session) = self.session.write() {
            *session = None;
        }
    }
}
