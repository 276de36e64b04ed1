//! The three read strengths: c_read is current, read() goes Stale when ZooKeeper is away, d_read
//! always answers.

mod common;

use std::time::Duration;

use common::{connect, eventually, fast_settings, raw_client, shared_server, unique_dir};
use zkstate::{Connection, Error, StateOptions, ZkState};
use zkstate_testing::ZkServer;

#[tokio::test]
async fn c_read_sees_a_write_made_by_another_session_just_before() {
    let server = shared_server().await;
    let dir = unique_dir("c-read");
    let conn = connect(&server.connect_string()).await;
    // A periodic check far away, so only c_read itself can bring the new value in time.
    let options = StateOptions::default()
        .with_check_interval(Duration::from_secs(60), Duration::from_secs(60));
    let state = ZkState::with_options(&conn, &dir, 1u32, options)
        .await
        .expect("state");
    let actor = raw_client(&server.connect_string()).await;
    for n in 2..50u32 {
        actor
            .set_data(&format!("{dir}/payload"), n.to_string().as_bytes(), None)
            .await
            .expect("write");
        assert_eq!(*state.c_read().await.expect("c_read"), n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_is_stale_after_max_staleness_while_the_server_is_down_and_recovers() {
    common::init_tracing();
    let mut server = ZkServer::start().await.expect("server");
    let settings = fast_settings().with_session_timeout(Duration::from_secs(30));
    let conn = Connection::connect(
        &format!("zookeeper://{}", server.connect_string()),
        settings,
    )
    .await
    .expect("connect");
    let options = StateOptions::default()
        .with_max_staleness(Duration::from_secs(2))
        .with_check_interval(Duration::from_millis(200), Duration::from_millis(400))
        .with_request_timeout(Duration::from_secs(2));
    let state = ZkState::with_options(&conn, "/stale", "up".to_string(), options)
        .await
        .expect("state");
    assert_eq!(*state.read().expect("fresh"), "up");

    server.stop().await.expect("stop");
    eventually("read() to report Stale", || async {
        matches!(state.read(), Err(Error::Stale { .. }))
    })
    .await;
    assert_eq!(*state.d_read(), "up", "d_read answers whatever the age");
    assert!(
        matches!(state.c_read().await, Err(Error::Timeout { .. })),
        "c_read cannot be current without ZooKeeper"
    );

    server.restart().await.expect("restart");
    eventually("read() to recover", || async { state.read().is_ok() }).await;
    assert_eq!(*state.c_read().await.expect("c_read after recovery"), "up");
}
