//! The oplog window and resume tokens.

use super::*;

// ---------------------------------------------------------------------------------------------
// Oplog window
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resuming_from_before_the_oplog_window_is_history_lost() {
    let sim = simulator(1);
    sim.set_oplog_capacity(5);
    let port = connect(&sim).await;
    let token = watch(port.as_ref(), StreamStart::Now)
        .await
        .resume_token()
        .expect("a freshly opened stream has a resume token");

    insert_many(&sim, 0..10);

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(token)).await);
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
    assert_eq!(
        err.class(),
        ErrorClass::Permanent,
        "lost history needs a new initial sync, not a retry"
    );
}

#[tokio::test]
async fn a_token_whose_own_event_rolled_off_is_history_lost_even_if_the_next_is_kept() {
    let sim = simulator(1);
    sim.set_oplog_capacity(3);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..3);
    let first = next_event(stream.as_mut()).await;
    // One more write pushes the first event out; the second is still in the window.
    insert_many(&sim, 3..4);

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(first.token)).await);
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
    // The token of an event still in the window resumes.
    let second = next_event(stream.as_mut()).await;
    let mut resumed = watch(port.as_ref(), StreamStart::After(second.token)).await;
    assert_eq!(key_id(&next_event(resumed.as_mut()).await), Bson::Int32(2));
}

#[tokio::test]
async fn an_open_stream_that_falls_behind_the_oplog_window_fails_with_history_lost() {
    let sim = simulator(1);
    sim.set_oplog_capacity(5);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;

    insert_many(&sim, 0..10);

    let err = stream
        .next()
        .await
        .expect_err("the stream's position rolled off the oplog");
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
}

#[tokio::test]
async fn a_stream_started_at_an_operation_time_includes_the_event_at_that_time() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..3);
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(next_event(stream.as_mut()).await);
    }

    let mut at = watch(
        port.as_ref(),
        StreamStart::AtOperationTime(events[1].cluster_time),
    )
    .await;

    assert_eq!(key_id(&next_event(at.as_mut()).await), Bson::Int32(1));
    assert_eq!(key_id(&next_event(at.as_mut()).await), Bson::Int32(2));
    assert_no_more_events(at.as_mut()).await;
}

// ---------------------------------------------------------------------------------------------
// Resume tokens
// ---------------------------------------------------------------------------------------------

/// The token of the first event after inserting `_id: 0` into a fresh simulator.
async fn first_event_token(sim: &Simulator) -> ResumeToken {
    let port = connect(sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(sim, 0..1);
    next_event(stream.as_mut()).await.token
}

#[tokio::test]
async fn a_token_from_another_deployment_is_rejected() {
    let ours = simulator(1);
    let theirs = simulator(2);
    first_event_token(&ours).await;
    let foreign = first_event_token(&theirs).await;
    let port = connect(&ours).await;

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(foreign)).await);
    assert_eq!(
        err.code,
        Some(260),
        "refused as InvalidResumeToken: {err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn a_forged_token_is_rejected() {
    let sim = simulator(1);
    let genuine = first_event_token(&sim).await;
    let data = genuine
        .0
        .get_str("_data")
        .expect("the token has _data")
        .to_owned();
    let last = data.chars().last().expect("a non-empty token");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &data[..data.len() - 1]);
    let port = connect(&sim).await;

    for forged in [
        ResumeToken(doc! { "_data": tampered }),
        ResumeToken(doc! { "_data": "82DEADBEEF" }),
        ResumeToken(doc! { "something": "else" }),
    ] {
        let err = watch_error(
            port.watch(DB, COLL, StreamStart::After(forged.clone()))
                .await,
        );
        assert_eq!(err.class(), ErrorClass::Permanent, "{forged:?}: {err:?}");
    }
}

#[tokio::test]
async fn a_token_stored_as_json_resumes_the_stream() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..2);
    let first = next_event(stream.as_mut()).await;

    let stored = first.token.to_json().to_string();
    let restored = ResumeToken::from_json(serde_json::from_str(&stored).expect("valid JSON"))
        .expect("a stored token reads back");
    assert_eq!(restored, first.token);

    let mut resumed = watch(port.as_ref(), StreamStart::After(restored)).await;
    assert_eq!(key_id(&next_event(resumed.as_mut()).await), Bson::Int32(1));
}
