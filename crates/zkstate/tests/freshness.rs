//! How fresh is the local copy, and did the fleet apply a version: `freshness()`, `read()`'s
//! staleness bound derived from `max_staleness`, `rollout()` and `wait_rollout()`.

mod common;

use std::time::{Duration, Instant};

use common::{connect, eventually, raw_client, shared_server, unique_dir};
use serde_json::json;
use zkstate::{ConnectionState, Error, StateOptions, ZkState};
use zkstate_testing::ZkServer;

#[tokio::test]
async fn freshness_says_what_the_copy_holds_when_and_in_which_session_it_was_verified() {
    let server = shared_server().await;
    let dir = unique_dir("freshness");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!({"a": 1}))
        .await
        .expect("state");
    state.update(|v| v["a"] = json!(2)).await.expect("update");
    let raw = raw_client(&server.connect_string()).await;
    let (_, stat) = raw.get_data(&format!("{dir}/payload")).await.expect("read");
    let fresh = state.freshness();
    assert_eq!(
        (fresh.version, fresh.mzxid, fresh.czxid),
        (stat.version, stat.mzxid, stat.czxid)
    );
    assert_eq!(fresh.verified_in_session, conn.session_id());
    assert_eq!(fresh.connection, ConnectionState::Connected);
    assert!(!fresh.stale);
    assert!(fresh.verified_ago < Duration::from_secs(30));
    state.close().await;
    assert!(
        state.freshness().stale,
        "nothing verifies a closed handle's copy"
    );
}

/// A `max_staleness` shorter than the default check interval (`with_max_staleness(3 s)`): the
/// periodic check runs at least every third of `max_staleness`, so that reads on a healthy
/// server never find the copy stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_max_staleness_never_reports_stale_on_a_healthy_connection() {
    let server = shared_server().await;
    let dir = unique_dir("short-staleness");
    let conn = connect(&server.connect_string()).await;
    let options = StateOptions::default().with_max_staleness(Duration::from_secs(3));
    let state = ZkState::with_options(&conn, &dir, json!(0), options)
        .await
        .expect("state");
    let first = state.freshness().verified_ago;
    let mut stale = 0;
    for _ in 0..51 {
        if matches!(state.read(), Err(Error::Stale { .. })) {
            stale += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Proof that the check ran meanwhile: the copy was verified within the last second or so,
    // long after it opened 10 s ago.
    assert!(
        state.freshness().verified_ago < Duration::from_millis(1500),
        "no verification since {:?} ago (first {first:?})",
        state.freshness().verified_ago
    );
    assert_eq!(stale, 0, "reads reported Stale on a healthy connection");
    state.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_reports_stale_within_max_staleness_and_one_check_of_the_server_going_away() {
    let mut server = ZkServer::start().await.expect("server");
    let dir = unique_dir("stale-bound");
    let conn = connect(&server.connect_string()).await;
    let max = Duration::from_secs(3);
    let options = StateOptions::default().with_max_staleness(max);
    let state = ZkState::with_options(&conn, &dir, json!(0), options.clone())
        .await
        .expect("state");
    let (_, check_max) = options.effective_check_interval();
    assert!(state.read().is_ok());
    server.stop().await.expect("stop");
    let stopped = Instant::now();
    eventually("read() to report Stale", || async {
        matches!(state.read(), Err(Error::Stale { .. }))
    })
    .await;
    let took = stopped.elapsed();
    // The bound, with room for a loaded machine's scheduling.
    let bound = max + check_max + Duration::from_secs(3);
    assert!(took <= bound, "Stale after {took:?}, bound {bound:?}");
    assert!(state.freshness().stale);
    assert!(state.d_read().is_number(), "d_read still answers");
    state.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_counts_instances_that_applied_the_version_and_wait_rollout_waits_for_them() {
    let server = shared_server().await;
    let dir = unique_dir("rollout");
    // Three instances in three processes (three connections), reporting every 100 ms.
    let options = StateOptions::default().with_report_interval(Some(Duration::from_millis(100)));
    let mut states = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let conn = connect(&server.connect_string()).await;
        states.push(
            ZkState::with_options(&conn, &dir, json!({"n": 0}), options.clone())
                .await
                .expect("state"),
        );
        conns.push(conn);
    }
    let version = states[0]
        .update(|v| v["n"] = json!(1))
        .await
        .expect("update");
    let done = states[1]
        .wait_rollout(version, Duration::from_secs(30))
        .await
        .expect("every instance applies it");
    assert_eq!((done.applied, done.total, done.target), (3, 3, version));
    assert!(done.is_complete() && done.pending.is_empty());
    let status = states[2].rollout().await.expect("rollout");
    assert_eq!(
        (status.version, status.applied, status.total),
        (version, 3, 3)
    );
    for listener in states[0].listeners().await.expect("listeners") {
        assert_eq!(listener.applied_version, Some(version));
        assert!(listener.reported_at_ms.is_some());
    }

    // An instance with reporting off cannot be counted as applied: the wait times out.
    let silent_conn = connect(&server.connect_string()).await;
    let silent = ZkState::with_options(
        &silent_conn,
        &dir,
        json!({"n": 0}),
        StateOptions::default().with_report_interval(None),
    )
    .await
    .expect("silent instance");
    eventually("the silent instance to be listed", || async {
        states[0].listeners().await.is_ok_and(|l| l.len() == 4)
    })
    .await;
    let err = states[0]
        .wait_rollout(version, Duration::from_millis(500))
        .await
        .expect_err("the silent instance never reports");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let status = states[0].rollout().await.expect("rollout");
    assert_eq!((status.applied, status.total), (3, 4));
    assert_eq!(status.pending.len(), 1);
    assert_eq!(status.pending[0].id, silent.id());
    assert_eq!(status.pending[0].applied_version, None);
    silent.close().await;
    for state in states {
        state.close().await;
    }
}
