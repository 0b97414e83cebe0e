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

/// Makes the rest of the transaction read tables in index order, whatever the statistics say.
///
/// For the change feed: a page is the next `limit` rows after a position, in primary-key order.
/// With statistics from before a bulk load (a new app, an initial sync minutes old that
/// autovacuum has not analyzed yet) the planner believes the table holds a row or two, and a
/// bitmap scan plus a sort reads every change after the position for every page: 30-40 ms a page
/// after a 50,000-document copy instead of under 1 ms, and more the larger the copy.
///
/// JIT is off too: a plan step these settings disable (a sort of a page's 500 rows) is costed
/// at 10^10, far above JIT's threshold, and compiling the query then takes 150 ms or more.
pub async fn read_in_index_order(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<()> {
    use sqlx::Executor as _;
    // A statement without arguments goes as one simple query: one round trip for all four.
    (&mut **tx)
        .execute(
            "set local enable_seqscan = off; set local enable_bitmapscan = off;
             set local enable_sort = off; set local jit = off",
        )
        .await?;
    Ok(())
}
