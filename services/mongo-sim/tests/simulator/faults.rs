//! Faults on demand, and determinism under a seed.

use super::*;

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_scan_dropped_mid_batch_fails_transiently_and_a_retry_returns_the_full_batch() {
    let sim = simulator(1);
    insert_many(&sim, 0..10);
    let port = connect(&sim).await;
    sim.inject(Fault::DropScan { after_docs: 3 });

    let err = port
        .scan(DB, COLL, None, 5)
        .await
        .expect_err("the connection drops after 3 of 5 documents");
    assert!(err.is_transient(), "a dropped scan is retried: {err:?}");

    let batch = port
        .scan(DB, COLL, None, 5)
        .await
        .expect("the retry succeeds");
    assert_eq!(
        ids(&batch),
        int_ids(0..5),
        "the retry returns the whole batch"
    );
}

#[tokio::test]
async fn a_dropped_stream_resumes_from_its_token_without_loss_or_duplicates() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    sim.inject(Fault::DropStream { after_events: 2 });
    insert_many(&sim, 0..5);

    let mut seen = Vec::new();
    let err = loop {
        match stream.next().await {
            Ok(Some(event)) => seen.push(key_id(&event)),
            Ok(None) => panic!("the stream ran out before the injected drop"),
            Err(e) => break e,
        }
    };
    assert!(err.is_transient(), "a dropped stream is retried: {err:?}");
    assert_eq!(seen.len(), 2, "the drop came after two events");

    let token = stream
        .resume_token()
        .expect("the stream has a resume token");
    let mut resumed = watch(port.as_ref(), StreamStart::After(token)).await;
    for _ in 2..5 {
        seen.push(key_id(&next_event(resumed.as_mut()).await));
    }
    assert_no_more_events(resumed.as_mut()).await;
    assert_eq!(seen, int_ids(0..5), "every event exactly once, in order");
}

#[tokio::test]
async fn a_stepdown_fails_the_commit_as_not_primary_and_a_retry_commits() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut session = port.start_session().await.expect("a session starts");
    sim.inject(Fault::StepDown { count: 1 });

    let err = session
        .commit(DB, &[upsert(1)])
        .await
        .expect_err("the primary stepped down");
    assert_eq!(err.error.kind, ErrorKind::NotPrimary, "{err:?}");
    assert!(err.error.is_transient());
    assert_eq!(err.op_index, None, "a stepdown is no operation's fault");
    assert!(
        sim.documents(DB, COLL).is_empty(),
        "nothing is written by a failed commit"
    );

    session
        .commit(DB, &[upsert(1)])
        .await
        .expect("the retry commits");
    assert_eq!(ids(&sim.documents(DB, COLL)), int_ids(1..2));
}

#[tokio::test]
async fn dropped_connections_fail_transiently_then_recover() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    sim.inject(Fault::DropConnection { count: 2 });

    for attempt in 1..=2 {
        let err = port.ping().await.expect_err("the connection is dropped");
        assert!(
            err.is_transient(),
            "attempt {attempt}: a dropped connection is retried: {err:?}"
        );
    }
    port.ping().await.expect("the third attempt gets through");
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_trips_the_callers_timeout() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_secs(60),
    });

    let slow = tokio::time::timeout(Duration::from_secs(5), port.ping()).await;
    assert!(slow.is_err(), "a 60 s answer does not fit a 5 s timeout");

    let next = tokio::time::timeout(Duration::from_secs(5), port.ping()).await;
    assert!(
        matches!(next, Ok(Ok(()))),
        "the next request is served promptly: {next:?}"
    );
}

#[tokio::test]
async fn a_retrying_scan_reads_every_document_once_despite_random_drops() {
    let sim = simulator(7);
    insert_many(&sim, 0..50);
    let port = connect(&sim).await;
    sim.set_random_drops(0.3);

    let mut read: Vec<Document> = Vec::new();
    let mut failures = 0;
    for _ in 0..500 {
        let after = read.last().and_then(|d| d.get("_id")).cloned();
        match port.scan(DB, COLL, after.as_ref(), 7).await {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => read.extend(batch),
            Err(e) if e.is_transient() => failures += 1,
            Err(e) => panic!("a random drop must be transient: {e:?}"),
        }
    }

    assert!(failures > 0, "with 30% drops some scans fail");
    assert_eq!(
        ids(&read),
        int_ids(0..50),
        "every document exactly once, in order"
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

/// The same operations on a fresh simulator: the tokens it hands out and the session id.
async fn run_fixed_operations(seed: u64) -> (Vec<ResumeToken>, SessionId) {
    let sim = simulator(seed);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    let mut tokens = vec![stream.resume_token().expect("an initial token")];
    let mut session = port.start_session().await.expect("a session starts");
    session
        .commit(DB, &[upsert(1)])
        .await
        .expect("the transaction commits");
    insert_many(&sim, 2..4);
    for _ in 0..3 {
        tokens.push(next_event(stream.as_mut()).await.token);
    }
    (tokens, session.id().clone())
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tokens_and_session_ids() {
    let first = run_fixed_operations(11).await;
    let second = run_fixed_operations(11).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn different_seeds_give_different_tokens_and_session_ids() {
    let (tokens_a, session_a) = run_fixed_operations(11).await;
    let (tokens_b, session_b) = run_fixed_operations(12).await;
    assert_ne!(session_a, session_b);
    for (a, b) in tokens_a.iter().zip(&tokens_b) {
        assert_ne!(a, b, "tokens of different deployments differ");
    }
}
