//! The change feed: ordered, durable, resumable; long polls wake on Postgres notifications.

use super::model::{ChangeOut, ChangesPage, ChangesParams};
use super::repo;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use edgebridge_edge::ids::id_from_key;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const CHANNEL: &str = "edgebridge_store_changes";
const MAX_WAIT_SECS: u32 = 30;
const MAX_LIMIT: u32 = 1000;
/// Long polls re-check at least this often: a change can become readable without a
/// notification (when an older transaction ends).
const RECHECK: Duration = Duration::from_millis(250);

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
                continue;
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    message = listener.recv() => match message {
                        Ok(n) => {
                            if let Ok(app) = n.payload().parse::<Uuid>() {
                                signal.wake_local(app);
                            }
                        }
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
    let mut wake = state.store_notifications.subscribe();
    let mut cursor = after;
    loop {
        // In index order whatever the statistics say (see `read_in_index_order`).
        let mut tx = crate::db::begin(&state.pool).await?;
        crate::db::read_in_index_order(&mut tx).await?;
        let rows = repo::changes_after(
            &mut *tx,
            app_id,
            (&cursor.0, cursor.1),
            collections.as_deref(),
            i64::from(limit),
            params.exclude_origin.as_deref(),
        )
        .await?;
        tx.commit().await?;
        let full_page = rows.last().is_some_and(|r| r.page_rows == i64::from(limit));
        if let Some(last) = rows.last() {
            cursor = (last.tx_id.clone(), last.change_id);
        }
        let changes: Vec<ChangeOut> = rows
            .into_iter()
            .filter(|r| params.exclude_origin.is_none() || r.origin != params.exclude_origin)
            .map(|r| {
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
            })
            .collect::<Result<_>>()?;
        let now = tokio::time::Instant::now();
        if !changes.is_empty() || now >= deadline || full_page {
            return Ok(ChangesPage {
                changes,
                next_cursor: Some(encode_cursor(&cursor.0, cursor.1)),
            });
        }
        // Nothing (new) yet: wait for a notification for this app, a re-check tick, or the end.
        let until = deadline.min(now + RECHECK);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                message = wake.recv() => match message {
                    Ok(app) if app == app_id => break,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep_until(until).await;
                        break;
                    }
                },
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
