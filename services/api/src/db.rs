//! Database helpers shared by every part of the api.

use sqlx::{PgPool, Postgres, Transaction};

/// Begins a transaction on a pooled connection, safe against cancellation.
///
/// `Pool::begin` of sqlx 0.8 is not cancel-safe on Postgres: a future dropped while `BEGIN`
/// is in flight (a client that disconnects mid-request, a timeout, an aborted task) leaves the
/// session inside a transaction sqlx does not track, the pool hands that connection out again,
/// and from the first failed statement on every query on it fails with "current transaction is
/// aborted" (transact-rs/sqlx#4393). Running `begin` on its own task lets it finish whatever
/// happens to the caller; a transaction nobody receives is dropped there, and that drop queues
/// its `ROLLBACK` the way every begun transaction's drop does.
pub async fn begin(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let pool = pool.clone();
    #[allow(clippy::disallowed_methods)] // the one place the raw begin is allowed
    let task = tokio::spawn(async move { pool.begin().await });
    match task.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Err(sqlx::Error::Io(std::io::Error::other(join))),
    }
}
