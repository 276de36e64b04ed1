//! A change made while an instance was cut off still arrives as a change, on the same session
//! and on a new one; read() goes Stale during a partition and serves fresh values after it heals;
//! a subscriber that falls behind is told so and given a snapshot, without slowing syncing.

mod common;

use std::time::Duration;

use common::{connect, eventually, fast_settings, next, next_batch, raw_client, unique_dir};
use serde_json::json;
use zkstate::{Change, Connection, Error, StateEvent, StateOptions, ZkState};
use zkstate_testing::{expire_session, FaultProxy, ZkServer};

async fn via_proxy(server: &ZkServer, session: Duration) -> (FaultProxy, Connection) {
    common::init_tracing();
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let settings = fast_settings().with_session_timeout(session);
    let conn = Connection::connect(&format!("zookeeper://{}", proxy.connect_string()), settings)
        .await
        .expect("connect");
    (proxy, conn)
}

fn options() -> StateOptions {
    StateOptions::default()
        .with_max_staleness(Duration::from_secs(2))
        .with_check_interval(Duration::from_millis(200), Duration::from_millis(400))
        .with_request_timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_during_a_partition_arrives_as_one_diff_and_read_is_stale_meanwhile() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("partition");
    // A session that outlives the partition: the same session resumes.
    let (proxy, conn) = via_proxy(&server, Duration::from_secs(20)).await;
    let session = conn.session_id();
    let state = ZkState::with_options(&conn, &dir, json!({"a": 1, "b": 2}), options())
        .await
        .expect("state");
    let mut changes = state.subscribe();

    proxy.blackhole();
    let actor = raw_client(&server.connect_string()).await;
    let payload = format!("{dir}/payload");
    actor
        .set_data(&payload, br#"{"a":1,"b":3}"#, None)
        .await
        .expect("write 1");
    actor
        .set_data(&payload, br#"{"a":1,"b":3,"c":4}"#, None)
        .await
        .expect("write 2");
    eventually("read() to report Stale", || async {
        matches!(state.read(), Err(Error::Stale { .. }))
    })
    .await;

    proxy.pass();
    // Both writes happened while cut off: one batch covers the whole gap.
    let batch = next_batch(&mut changes).await;
    assert_eq!(batch.version, 2);
    assert_eq!(batch.changes.len(), 2, "{:?}", batch.changes);
    assert!(batch
        .changes
        .iter()
        .any(|c| matches!(c, Change::Modified { new, .. } if *new == json!(3))));
    assert!(batch
        .changes
        .iter()
        .any(|c| matches!(c, Change::Added { value, .. } if *value == json!(4))));
    eventually("read() to serve fresh values", || async {
        state.read().is_ok()
    })
    .await;
    assert_eq!(
        *state.read().expect("fresh"),
        json!({"a": 1, "b": 3, "c": 4})
    );
    assert_eq!(conn.session_id(), session, "the same session resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_session_expired_arrives_on_the_new_session() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("expired");
    let (proxy, conn) = via_proxy(&server, Duration::from_secs(2)).await;
    let state = ZkState::with_options(&conn, &dir, json!([1]), options())
        .await
        .expect("state");
    let mut changes = state.subscribe();
    let old_session = conn.session_id();

    // Expire the session, with a write landing while the instance has none.
    proxy.refuse();
    let actor = raw_client(&server.connect_string()).await;
    actor
        .set_data(&format!("{dir}/payload"), b"[1,2]", None)
        .await
        .expect("write");
    expire_session(
        &proxy,
        &server.connect_string(),
        conn.client().expect("client").session(),
    )
    .await
    .expect("expire");
    proxy.pass();

    let batch = next_batch(&mut changes).await;
    assert_eq!(
        batch.changes,
        vec![Change::Added {
            path: [1usize].into_iter().map(Into::into).collect(),
            value: json!(2)
        }]
    );
    assert_ne!(conn.session_id(), old_session, "a new session");
    // The instance is listed again on its new session.
    let id = state.id().to_string();
    eventually("the listener record on the new session", || async {
        state
            .listeners()
            .await
            .map(|l| l.iter().any(|l| l.id == id))
            .unwrap_or(false)
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_lagged_with_a_snapshot_and_syncing_goes_on() {
    let server = common::shared_server().await;
    let dir = unique_dir("lagged");
    let conn = connect(&server.connect_string()).await;
    let options = StateOptions::default().with_event_buffer(4);
    let state = ZkState::with_options(&conn, &dir, 0u32, options)
        .await
        .expect("state");
    let mut slow = state.subscribe();
    for n in 1..=20u32 {
        state
            .update(|v| *v = n)
            .await
            .expect("update, never blocked by the slow subscriber");
    }
    match next("the lag notice", &mut slow).await {
        StateEvent::Lagged {
            missed,
            version,
            value,
        } => {
            assert!(missed >= 16, "missed {missed}");
            assert_eq!(
                (version, &*value),
                (20, &json!(20)),
                "the snapshot is the current value"
            );
        }
        other => panic!("expected Lagged, got {other:?}"),
    }
    // After the snapshot, only newer batches follow.
    state.update(|v| *v = 21).await.expect("update");
    let batch = next_batch(&mut slow).await;
    assert_eq!(batch.version, 21);
}
