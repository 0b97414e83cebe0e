//! The change feed: ordered, durable, resumable; long polls wake on Postgres notifications.

use super::feed_query;
use super::model::{ChangeOut, ChangesPage, ChangesParams};
use super::repo;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use edgebridge_edge::ids::id_from_key;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const CHANNEL: &str = "edgebridge_store_changes";
const MAX_WAIT_SECS: u32 = 30;
const MAX_LIMIT: u32 = 1000;
/// Wakes every long poll (the listener reconnected, so notifications may have been missed).
const WAKE_ALL: Uuid = Uuid::nil();

fn encode_cursor(tx_id: &str, change_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tx_id}:{change_id}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(String, i64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (tx, change) = text.split_once(':')?;
    tx.parse::<u64>().ok()?;
    Some((tx.to_owned(), change.parse().ok()?))
}

/// Wakes this process's long polls at once, and every other api process through a NOTIFY that
/// a background task sends for many writes together.
#[derive(Clone)]
pub struct ChangeSignal {
    local: broadcast::Sender<Uuid>,
    remote: mpsc::UnboundedSender<Uuid>,
}

impl ChangeSignal {
    pub fn new(pool: PgPool, shutdown: CancellationToken) -> Self {
        let (local, _) = broadcast::channel(1024);
        let (remote, mut pending) = mpsc::unbounded_channel::<Uuid>();
        tokio::spawn(async move {
            loop {
                let first = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    app = pending.recv() => match app { Some(a) => a, None => return },
                };
                // Gather what else arrived meanwhile, then notify once per app.
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut apps = vec![first];
                while let Ok(a) = pending.try_recv() {
                    apps.push(a);
                }
                apps.sort();
                apps.dedup();
                if let Err(e) = repo::notify_apps(&pool, &apps).await {
                    tracing::warn!(error = %e, "could not notify other api processes of store changes");
                }
            }
        });
        Self { local, remote }
    }

    /// Called after a write committed.
    pub fn changed(&self, app: Uuid) {
        let _ = self.local.send(app);
        let _ = self.remote.send(app);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.local.subscribe()
    }

    /// For the listener: wakes local readers only (the change came from another process, or
    /// from this one, whose readers were already woken; waking twice is harmless).
    fn wake_local(&self, app: Uuid) {
        let _ = self.local.send(app);
    }
}

/// Forwards `NOTIFY edgebridge_store_changes '<app id>'` to waiting readers until shutdown.
pub fn spawn_listener(pool: PgPool, signal: ChangeSignal, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "change-feed listener cannot connect; long polls fall back to re-checking");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    }
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "change-feed listener cannot LISTEN");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                }
            }
            // Whatever was notified while not listening: every poll reads once more.
            signal.wake_local(WAKE_ALL);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    message = listener.try_recv() => match message {
                        Ok(Some(n)) => {
                            if let Ok(app) = n.payload().parse::<Uuid>() {
                                signal.wake_local(app);
                            }
                        }
                        // The connection dropped and comes back at the next call: whatever was
                        // notified meanwhile is lost, so every poll reads once more.
                        Ok(None) => signal.wake_local(WAKE_ALL),
                        Err(e) => {
                            tracing::warn!(error = %e, "change-feed listener lost its connection; reconnecting");
                            break;
                        }
                    }
                }
            }
        }
    });
}

/// A window of the feed reads at most this many changes per requested change (and at least
/// [`MIN_SCAN`]): with a filter that keeps few of them, a page still ends quickly, and the cursor
/// moves past what it read.
const SCAN_PER_LIMIT: i64 = 10;
const MIN_SCAN: i64 = 1_000;
/// One request reads at most this many windows before it answers (an empty page with a moved
/// cursor when nothing matched), so its database work is bounded whatever the filter.
const MAX_WINDOWS: usize = 8;
/// While a change is committed but not yet listable (an older transaction still runs), a long
/// poll re-checks after this, doubling up to [`PENDING_RECHECK_MAX`]. Otherwise it waits for a
/// notification only.
const PENDING_RECHECK_MIN: Duration = Duration::from_millis(20);
const PENDING_RECHECK_MAX: Duration = Duration::from_secs(1);

pub async fn read(state: &AppState, app_id: Uuid, params: ChangesParams) -> Result<ChangesPage> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let wait = params.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/wait",
            format!("`wait` must be at most {MAX_WAIT_SECS} seconds"),
        ));
    }
    let after = match params.after.as_deref() {
        None | Some("") => ("0".to_owned(), 0),
        Some(c) => decode_cursor(c).ok_or_else(|| {
            ApiError::bad_field(
                "invalid_cursor",
                "/after",
                "`after` is not a cursor this API returned; pass `nextCursor` unchanged",
            )
        })?,
    };
    let collections: Option<Vec<String>> = params.collections.as_deref().map(|c| {
        c.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let scan = (i64::from(limit) * SCAN_PER_LIMIT).max(MIN_SCAN);
    let waited = Duration::from_secs(u64::from(wait)).min(state.feed_max_wait);
    let deadline = tokio::time::Instant::now() + waited;
    // Subscribed before the first read: a change committed after it wakes this poll.
    let mut wake = state.store_notifications.subscribe();
    let mut cursor = after;
    let mut windows = 0;
    let mut recheck = PENDING_RECHECK_MIN;
    loop {
        // In index order whatever the statistics say (see `read_in_index_order`).
        let mut tx = crate::db::begin(&state.pool).await?;
        crate::db::read_in_index_order(&mut tx).await?;
        let window = feed_query::read_window(
            &mut *tx,
            app_id,
            (&cursor.0, cursor.1),
            collections.as_deref(),
            params.exclude_origin.as_deref(),
            i64::from(limit),
            scan,
        )
        .await?;
        tx.commit().await?;
        windows += 1;
        if let Some(position) = window.position(limit as usize) {
            cursor = position;
        }
        let more_now = window.changes.len() >= limit as usize || window.scanned >= scan;
        let changes = window
            .changes
            .into_iter()
            .map(change_out)
            .collect::<Result<Vec<_>>>()?;
        if changes.is_empty() && more_now && windows < MAX_WINDOWS {
            // The window was full of changes this reader leaves out: read on at once.
            tokio::task::yield_now().await;
            continue;
        }
        let now = tokio::time::Instant::now();
        if !changes.is_empty() || now >= deadline || more_now {
            return Ok(ChangesPage {
                changes,
                next_cursor: Some(encode_cursor(&cursor.0, cursor.1)),
            });
        }
        // Nothing (new) yet: wait for a notification for this app, or the end. Only while a
        // committed change waits on an older transaction is there a timed re-check.
        let until = if window.pending {
            let until = deadline.min(now + recheck);
            recheck = (recheck * 2).min(PENDING_RECHECK_MAX);
            until
        } else {
            recheck = PENDING_RECHECK_MIN;
            deadline
        };
        wait_for_change(&mut wake, app_id, until).await;
        windows = 0;
    }
}

/// Returns when `app_id` (or every app: [`WAKE_ALL`]) is notified, or at `until`.
async fn wait_for_change(
    wake: &mut broadcast::Receiver<Uuid>,
    app_id: Uuid,
    until: tokio::time::Instant,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return,
            message = wake.recv() => match message {
                Ok(app) if app == app_id || app == WAKE_ALL => return,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    tokio::time::sleep_until(until).await;
                    return;
                }
            },
        }
    }
}

fn change_out(r: feed_query::ChangeRow) -> Result<ChangeOut> {
    let document = r
        .value
        .as_deref()
        .map(serde_json::from_slice)
        .transpose()
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(ChangeOut {
        cursor: encode_cursor(&r.tx_id, r.change_id),
        collection: r.collection,
        document_id: id_from_key(&r.doc_key),
        deleted: document.is_none(),
        document,
        origin: r.origin,
        actor: r.actor,
        committed_at: r.committed_at,
    })
}

/// Bounds on change-feed long polls (`wait` > 0), so a tenant cannot hold an unbounded number of
/// requests (and the database work of their re-checks).
#[derive(Debug, Clone, Copy)]
pub struct FeedLimits {
    /// Long polls one API key may have open at once (`EDGEBRIDGE_FEED_LONG_POLLS_PER_KEY`).
    pub long_polls_per_key: usize,
    /// Long polls open at once on one app, all keys together
    /// (`EDGEBRIDGE_FEED_LONG_POLLS_PER_APP`).
    pub long_polls_per_app: usize,
}

impl Default for FeedLimits {
    fn default() -> Self {
        Self {
            long_polls_per_key: 16,
            long_polls_per_app: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    Key(Uuid),
    App(Uuid),
}

/// The long polls open in this process, per key and per app.
#[derive(Clone)]
pub struct LongPolls {
    limits: FeedLimits,
    open: Arc<Mutex<HashMap<Holder, usize>>>,
}

/// An open long poll's place; given back when dropped (the request ended or was cancelled).
pub struct LongPollSlot {
    open: Arc<Mutex<HashMap<Holder, usize>>>,
    holders: [Holder; 2],
}

impl LongPolls {
    pub fn new(limits: FeedLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// A place for one more long poll of `key` on `app`, or 429 `too_many_long_polls`.
    pub fn acquire(&self, key: Uuid, app: Uuid) -> Result<LongPollSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let keys = open.get(&Holder::Key(key)).copied().unwrap_or(0);
        let apps = open.get(&Holder::App(app)).copied().unwrap_or(0);
        let refusal = if keys >= self.limits.long_polls_per_key {
            Some(format!(
                "this API key already has {keys} change-feed long polls open (the limit, \
                 EDGEBRIDGE_FEED_LONG_POLLS_PER_KEY); close one, or read with `wait=0`"
            ))
        } else if apps >= self.limits.long_polls_per_app {
            Some(format!(
                "this app already has {apps} change-feed long polls open (the limit, \
                 EDGEBRIDGE_FEED_LONG_POLLS_PER_APP); close one, or read with `wait=0`"
            ))
        } else {
            None
        };
        if let Some(detail) = refusal {
            return Err(ApiError::Other {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_long_polls",
                detail,
            });
        }
        *open.entry(Holder::Key(key)).or_default() += 1;
        *open.entry(Holder::App(app)).or_default() += 1;
        Ok(LongPollSlot {
            open: self.open.clone(),
            holders: [Holder::Key(key), Holder::App(app)],
        })
    }
}

impl Drop for LongPollSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for holder in self.holders {
            if let Some(n) = open.get_mut(&holder) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&holder);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("123", 45);
        assert_eq!(decode_cursor(&c), Some(("123".to_owned(), 45)));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:1")), None);
    }
}
