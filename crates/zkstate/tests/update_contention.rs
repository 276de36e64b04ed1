//! Exclusive writes: StaleWrite against an external writer, and 8 concurrent updaters that lose
//! nothing.

mod common;

use common::{connect, raw_client, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use zkstate::{Error, ZkState};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Counter {
    n: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_fails_with_stale_write_after_an_external_writer_bumped_the_version_and_a_retry_works(
) {
    let server = shared_server().await;
    let dir = unique_dir("stale");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, Counter::default())
        .await
        .expect("state");
    let actor = raw_client(&server.connect_string()).await;
    let payload = format!("{dir}/payload");

    // The external write lands after the update took its base (inside the closure), so the local
    // copy is certainly behind when the write is sent.
    let err = state
        .update(|c| {
            c.n = 100;
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(actor.set_data(
                    &payload,
                    br#"{"n":7}"#,
                    None,
                ))
            })
            .expect("external write");
        })
        .await
        .expect_err("the local copy was stale");
    assert_eq!(
        err,
        Error::StaleWrite {
            path: payload.clone(),
            local: 0,
            remote: Some(1)
        }
    );
    // Nothing of ours was written, and the local copy was refreshed.
    let (data, _) = actor.get_data(&payload).await.expect("read");
    assert_eq!(data, br#"{"n":7}"#);
    assert_eq!(state.d_read().n, 7);

    let version = state
        .update(|c| c.n += 1)
        .await
        .expect("retry after refresh");
    assert_eq!(version, 2);
    assert_eq!(state.c_read().await.expect("c_read").n, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_updaters_on_two_sessions_count_exactly_two_thousand() {
    let server = shared_server().await;
    let dir = unique_dir("counter");
    let conn_a = connect(&server.connect_string()).await;
    let conn_b = connect(&server.connect_string()).await;
    let a = ZkState::new(&conn_a, &dir, Counter::default())
        .await
        .expect("a");
    let b = ZkState::new(&conn_b, &dir, Counter::default())
        .await
        .expect("b");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let state = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            for _ in 0..250 {
                state
                    .update_latest(|c| c.n += 1)
                    .await
                    .expect("update_latest");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("updater task");
    }
    assert_eq!(a.c_read().await.expect("c_read").n, 2_000);
    assert_eq!(b.c_read().await.expect("c_read").n, 2_000);
}
