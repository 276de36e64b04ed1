//! close() and drop stop every task of a state; update closures that panic or refuse write
//! nothing; a local-only state behaves like the real one.

mod common;

use common::{connect, eventually, next_batch, shared_server, soon, unique_dir};
use futures::StreamExt;
use zkstate::{Error, TryUpdateError, ZkState};

#[tokio::test]
async fn close_stops_every_task_and_removes_the_listener_record() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("close");
    let state = ZkState::new(&conn, &dir, 0u32).await.expect("state");
    let other = ZkState::new(&conn, &dir, 0u32).await.expect("other");
    state.update_handler(|_| {});
    let mut changes = state.subscribe();
    eventually("both listed", || async {
        other
            .listeners()
            .await
            .map(|l| l.len() == 2)
            .unwrap_or(false)
    })
    .await;

    state.close().await;
    // The stream ends only once the state's shared store is gone, i.e. once no task holds it.
    assert!(soon("the change stream to end", changes.next())
        .await
        .is_none());
    let left: Vec<_> = other
        .listeners()
        .await
        .expect("listeners")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(left, vec![other.id().to_string()]);
    assert!(matches!(
        state.update(|n| *n += 1).await,
        Err(Error::Closed { .. })
    ));
    // Nothing verifies the copy any more: read() says so, d_read() still answers.
    assert!(matches!(state.read(), Err(Error::Stale { .. })));
    assert_eq!(*state.d_read(), 0);
}

#[tokio::test]
async fn a_close_dropped_at_its_first_await_still_removes_the_record_and_the_marker() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("close-dropped");
    let state = ZkState::new(&conn, &dir, 0u32).await.expect("state");
    state
        .update(|n| *n += 1)
        .await
        .expect("a write: the marker exists");
    let raw = common::raw_client(&server.connect_string()).await;
    let record = format!("{dir}/listeners/{}", state.id());
    let marker = format!("{dir}/writers/{}", state.id());
    eventually("the record registered", || async {
        raw.check_stat(&record).await.ok().flatten().is_some()
    })
    .await;
    assert!(raw.check_stat(&marker).await.expect("stat").is_some());

    // Polled once (it gets past its bookkeeping and waits), then dropped, as a caller's
    // timeout or select! would; the handle itself stays alive, so its Drop does not clean up.
    let mut closing = Box::pin(state.close());
    assert!(futures::poll!(&mut closing).is_pending());
    drop(closing);

    eventually("the record and the marker removed", || async {
        raw.check_stat(&record).await.ok().flatten().is_none()
            && raw.check_stat(&marker).await.ok().flatten().is_none()
    })
    .await;
    assert!(matches!(
        state.update(|n| *n += 1).await,
        Err(Error::Closed { .. })
    ));
}

#[tokio::test]
async fn dropping_the_last_handle_stops_every_task() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("drop");
    let state = ZkState::new(&conn, &dir, 0u32).await.expect("state");
    state.update_handler(|_| {});
    let mut changes = state.subscribe();
    drop(state);
    assert!(soon("the change stream to end", changes.next())
        .await
        .is_none());
}

#[tokio::test]
async fn a_panicking_closure_writes_nothing_and_releases_the_lock() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("panic");
    let state = ZkState::new(&conn, &dir, 0u32).await.expect("state");
    let err = state
        .update(|_| panic!("boom"))
        .await
        .expect_err("panicked");
    assert!(matches!(err, Error::UpdatePanicked { .. }));
    assert_eq!(state.c_read().await.expect("c_read").clone(), 0);
    // Another instance can take the lock right away.
    let other = ZkState::new(&conn, &dir, 0u32).await.expect("other");
    assert_eq!(
        soon("the next update", other.update(|n| *n = 5))
            .await
            .expect("update"),
        1
    );
}

#[tokio::test]
async fn a_refusing_closure_writes_nothing() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("refuse");
    let state = ZkState::new(&conn, &dir, 0u32).await.expect("state");
    let result = state
        .try_update(|n| {
            *n = 99;
            Err("no thanks")
        })
        .await;
    assert_eq!(result, Err(TryUpdateError::Aborted("no thanks")));
    assert_eq!(*state.c_read().await.expect("c_read"), 0);
    assert_eq!(state.version(), 0);
}

#[tokio::test]
async fn a_local_only_state_reads_updates_and_emits_changes() {
    let state = ZkState::empty(vec![1, 2]).expect("empty");
    let mut changes = state.subscribe();
    assert_eq!(state.update(|v| v.push(3)).await.expect("update"), 1);
    let batch = next_batch(&mut changes).await;
    assert_eq!(batch.changes.len(), 1);
    assert_eq!(*state.read().expect("read"), vec![1, 2, 3]);
    assert_eq!(*state.c_read().await.expect("c_read"), vec![1, 2, 3]);
    assert!(state.listeners().await.expect("listeners").is_empty());
}
