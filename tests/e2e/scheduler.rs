//! The scheduler's tick against the real Postgres, step by step (no sleeps: heartbeats are aged
//! by writing their timestamps). Workers are rows here; their registration API comes next.

use crate::helpers::{TestApp, id_of, own_connector_spec};
use edgebridge_api::scheduler::{self, SchedulerConfig};
use reqwest::StatusCode;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

async fn add_worker(pool: &PgPool, name: &str, capacity: i32) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("insert into workers (worker_id, name, capacity) values ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(capacity)
        .execute(pool)
        .await
        .unwrap();
    id
}

/// connector -> (worker, epoch)
async fn assignments(pool: &PgPool) -> BTreeMap<Uuid, (Option<Uuid>, i64)> {
    let rows: Vec<(Uuid, Option<Uuid>, i64)> =
        sqlx::query_as("select connector_id, assigned_worker_id, assignment_epoch from connectors")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(c, w, e)| (c, (w, e))).collect()
}

async fn create_connectors(app: &TestApp, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(id_of(
            &app.create_connector(&own_connector_spec(&format!("c{i}")))
                .await,
        ));
    }
    ids
}

#[sqlx::test(migrations = false)]
async fn running_connectors_are_spread_over_live_workers_with_epoch_one(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let connectors = create_connectors(&app, 4).await;
    let w1 = add_worker(&pool, "w1", 100).await;
    let w2 = add_worker(&pool, "w2", 100).await;
    let report = scheduler::tick(&pool, &SchedulerConfig::default())
        .await
        .unwrap();
    assert_eq!(report.moves, 4);
    let now = assignments(&pool).await;
    for c in &connectors {
        assert_eq!(now[c].1, 1, "first assignment is epoch 1");
    }
    let on = |w: Uuid| now.values().filter(|(a, _)| *a == Some(w)).count();
    assert_eq!((on(w1), on(w2)), (2, 2));
    // A second tick with nothing changed moves nothing.
    let again = scheduler::tick(&pool, &SchedulerConfig::default())
        .await
        .unwrap();
    assert_eq!(again.moves, 0);
    assert_eq!(assignments(&pool).await, now);
}

#[sqlx::test(migrations = false)]
async fn a_silent_worker_is_declared_dead_and_its_connectors_move_with_a_new_epoch(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    create_connectors(&app, 4).await;
    let w1 = add_worker(&pool, "w1", 100).await;
    let w2 = add_worker(&pool, "w2", 100).await;
    let config = SchedulerConfig::default();
    scheduler::tick(&pool, &config).await.unwrap();
    let before = assignments(&pool).await;

    // w1's last heartbeat is now older than the lease TTL (10 s); w2's is fresh.
    sqlx::query(
        "update workers set last_heartbeat_at = now() - interval '11 seconds' where worker_id = $1",
    )
    .bind(w1)
    .execute(&pool)
    .await
    .unwrap();
    let report = scheduler::tick(&pool, &config).await.unwrap();
    assert_eq!(report.dead, vec![w1]);
    let after = assignments(&pool).await;
    for (c, (worker, epoch)) in &after {
        assert_eq!(*worker, Some(w2), "everything runs on the live worker");
        let (old_worker, old_epoch) = before[c];
        if old_worker == Some(w1) {
            assert_eq!(
                *epoch,
                old_epoch + 1,
                "a moved connector's epoch grows: w1 is fenced out"
            );
        } else {
            assert_eq!(*epoch, old_epoch, "a connector that stays keeps its epoch");
        }
    }
    let state: (String,) = sqlx::query_as("select state from workers where worker_id = $1")
        .bind(w1)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state.0, "dead");
}

#[sqlx::test(migrations = false)]
async fn draining_moves_everything_and_nothing_comes_back(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    create_connectors(&app, 6).await;
    let w1 = add_worker(&pool, "w1", 100).await;
    let w2 = add_worker(&pool, "w2", 100).await;
    let config = SchedulerConfig::default();
    scheduler::tick(&pool, &config).await.unwrap();
    sqlx::query("update workers set state = 'draining' where worker_id = $1")
        .bind(w1)
        .execute(&pool)
        .await
        .unwrap();
    scheduler::tick(&pool, &config).await.unwrap();
    scheduler::tick(&pool, &config).await.unwrap();
    let after = assignments(&pool).await;
    assert!(after.values().all(|(w, _)| *w == Some(w2)), "{after:?}");
}

#[sqlx::test(migrations = false)]
async fn paused_connectors_release_their_worker_and_resume_takes_one_again(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let c = create_connectors(&app, 1).await[0];
    add_worker(&pool, "w1", 100).await;
    let config = SchedulerConfig::default();
    scheduler::tick(&pool, &config).await.unwrap();
    let path = format!("{}/pause", app.connector_path(app.app_id, c));
    assert_eq!(
        app.post(&path, &app.owner_key, &serde_json::json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    scheduler::tick(&pool, &config).await.unwrap();
    // Epoch 1 assigned; the pause fences the run (2); the tick unassigns (3).
    assert_eq!(assignments(&pool).await[&c], (None, 3));
    let path = format!("{}/resume", app.connector_path(app.app_id, c));
    assert_eq!(
        app.post(&path, &app.owner_key, &serde_json::json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    scheduler::tick(&pool, &config).await.unwrap();
    let (worker, epoch) = assignments(&pool).await[&c];
    assert!(worker.is_some());
    // The resume (4), the tick's assignment (5).
    assert_eq!(epoch, 5);
}

#[sqlx::test(migrations = false)]
async fn one_scheduler_leads_and_another_takes_over_when_its_connection_goes(pool: PgPool) {
    edgebridge_api::startup::migrate(&pool).await.unwrap();
    let leader = scheduler::try_lead(&pool)
        .await
        .unwrap()
        .expect("the first leads");
    assert!(
        scheduler::try_lead(&pool).await.unwrap().is_none(),
        "one leader at a time"
    );
    drop(leader); // the leader's process dies: its connection closes
    let mut next = None;
    for _ in 0..100 {
        // The server notices the closed connection asynchronously.
        next = scheduler::try_lead(&pool).await.unwrap();
        if next.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(next.is_some(), "another scheduler takes over");
}

/// The real `edgebridge scheduler` binary: two run, one leads and assigns; after SIGKILLs the
/// lead passes on (at the latest to a third process once both are gone) and assigning goes on.
#[sqlx::test(migrations = false)]
async fn scheduler_processes_fail_over(
    pool_options: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    let url = crate::helpers::database_url(&connect);
    let pool = pool_options.connect_with(connect).await.unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    add_worker(&pool, "w1", 1000).await;
    let spawn = || -> Child {
        Command::new(env!("CARGO_BIN_EXE_edgebridge"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("EDGEBRIDGE_SCHEDULER_TICK_MS", "50")
            .env("EDGEBRIDGE_LOG_FORMAT", "json")
            .arg("scheduler")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = spawn();
    let mut second = spawn();

    // Waits (bounded) until every connector has a worker.
    async fn all_assigned(pool: &PgPool, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (assigned,): (i64,) = sqlx::query_as(
                "select count(*) from connectors where assigned_worker_id is not null",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if assigned as usize == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{assigned} of {count} assigned after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    create_connectors(&app, 2).await;
    all_assigned(&pool, 2).await;
    // SIGKILL (no clean unlock) one, then the other: whichever led, a survivor or a newcomer
    // must take the lead and keep assigning. The leader's lock goes with its connection.
    first.kill().unwrap();
    first.wait().unwrap();
    create_connectors_named(&app, "after-first", 1).await;
    all_assigned(&pool, 3).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let mut third = spawn();
    create_connectors_named(&app, "after-second", 1).await;
    all_assigned(&pool, 4).await;
    third.kill().unwrap();
    third.wait().unwrap();
}

async fn create_connectors_named(app: &TestApp, prefix: &str, n: usize) {
    for i in 0..n {
        app.create_connector(&own_connector_spec(&format!("{prefix}-{i}")))
            .await;
    }
}
