//! A webhook receiver on 127.0.0.1 (port 0): records every request, answers the statuses it is
//! told in order (then the last one again), optionally slowly, and counts how many requests it
//! holds at once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

#[derive(Default)]
struct Inner {
    seen: Mutex<Vec<Received>>,
    statuses: Mutex<VecDeque<u16>>,
    delay: Duration,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:<port>/hook`
    pub url: String,
    pub port: u16,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let running = inner.running.fetch_add(1, Ordering::SeqCst) + 1;
    inner.most_running.fetch_max(running, Ordering::SeqCst);
    inner.seen.lock().unwrap().push(Received { headers, body });
    if !inner.delay.is_zero() {
        tokio::time::sleep(inner.delay).await;
    }
    let status = {
        let mut statuses = inner.statuses.lock().unwrap();
        if statuses.len() > 1 {
            statuses.pop_front().unwrap()
        } else {
            statuses.front().copied().unwrap_or(200)
        }
    };
    inner.running.fetch_sub(1, Ordering::SeqCst);
    (
        StatusCode::from_u16(status).unwrap(),
        format!("receiver answered {status}"),
    )
}

impl Receiver {
    /// A receiver answering `statuses` in order, then the last one for every later request.
    pub async fn start(statuses: &[u16], delay: Duration) -> Self {
        let inner = Arc::new(Inner {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            delay,
            ..Inner::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            inner,
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
        }
    }

    /// Every later request is answered `status`.
    pub fn answer(&self, status: u16) {
        *self.inner.statuses.lock().unwrap() = VecDeque::from([status]);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// The most requests it held at once.
    pub fn most_at_once(&self) -> usize {
        self.inner.most_running.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until it has received `count` requests, calling `step` between looks
    /// (e.g. a dispatcher pass).
    pub async fn wait_for<F, Fut>(&self, count: usize, within: Duration, mut step: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future,
    {
        let deadline = Instant::now() + within;
        while self.received().len() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} requests received within {within:?}",
                self.received().len()
            );
            step().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
