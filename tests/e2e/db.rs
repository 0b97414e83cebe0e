//! The api's database helpers under cancellation.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Polls `future` at most `polls` times, letting the runtime drive I/O between polls, then
/// drops it: a caller that went away (a disconnected client, a timeout) at that point.
async fn cancel_after<F: Future>(future: F, polls: usize) {
    let mut future = pin!(future);
    for _ in 0..polls {
        let ready =
            std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_ready())).await;
        if ready {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// A transaction whose `begin` is abandoned while `BEGIN` is in flight must not leave its pooled
/// connection inside a transaction: the next statement on that connection that fails would
/// otherwise poison it, and every later query would answer "current transaction is aborted".
/// This is what once made DQL reads answer 500 and a scheduler tick fail under the convergence
/// suite. One connection in the pool, so every step reuses the abandoned one.
#[sqlx::test(migrations = false)]
async fn a_begin_abandoned_in_flight_leaves_no_transaction_behind(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(connect)
        .await
        .unwrap();
    for polls in 0..40 {
        for _ in 0..5 {
            cancel_after(edgebridge_api::db::begin(&pool), polls).await;
            let failed = sqlx::query("select 1 / 0").execute(&pool).await;
            assert!(failed.is_err(), "division by zero fails");
            // Inside a leaked transaction the failure above aborted it, and this fails too.
            sqlx::query("select 1")
                .execute(&pool)
                .await
                .unwrap_or_else(|e| {
                    panic!("the pooled connection is poisoned after {polls} polls: {e}")
                });
        }
    }
    // The helper still begins and commits normally.
    let mut tx = edgebridge_api::db::begin(&pool).await.unwrap();
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(one, 1);
}
