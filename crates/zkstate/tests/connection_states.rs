//! Connection states against real failures: a restarted server, a forced expiry, a partition.

mod common;

use std::time::Duration;

use common::{connect, eventually, fast_settings, wait_state};
use zkstate::{Connection, ConnectionState};
use zkstate_testing::{expire_session, FaultProxy, ZkServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restarted_within_session_timeout_resumes_the_same_session() {
    let mut server = ZkServer::start().await.expect("server");
    // A session long enough to outlive the restart.
    let settings = fast_settings().with_session_timeout(Duration::from_secs(20));
    let conn = Connection::connect(
        &format!("zookeeper://{}", server.connect_string()),
        settings,
    )
    .await
    .expect("connect");
    let session = conn.session_id().expect("session");
    let mut events = conn.subscribe();

    server.stop().await.expect("stop");
    let (suspended, _) = wait_state(&mut events, ConnectionState::Suspended).await;
    assert!(!suspended.new_session);
    server.restart().await.expect("restart");

    let (connected, seen) = wait_state(&mut events, ConnectionState::Connected).await;
    assert!(
        !connected.new_session,
        "the session must survive a restart within its timeout"
    );
    assert_eq!(connected.session_id, Some(session));
    assert!(
        !seen.contains(&ConnectionState::Lost),
        "no Lost expected, saw {seen:?}"
    );
    assert_eq!(conn.state(), ConnectionState::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_is_lost_then_replaced_without_any_call() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let conn = connect(&proxy.connect_string()).await;
    let old = conn.client().expect("client");
    let mut events = conn.subscribe();

    expire_session(&proxy, &server.connect_string(), old.session())
        .await
        .expect("expire");

    let (lost, _) = wait_state(&mut events, ConnectionState::Lost).await;
    assert_eq!(lost.session_id, None);
    let (connected, _) = wait_state(&mut events, ConnectionState::Connected).await;
    assert!(connected.new_session);
    assert_ne!(
        connected.session_id,
        Some(old.session_id().0),
        "a new session, not the expired one"
    );
    assert_eq!(connected.generation, lost.generation + 1);
    // The new session works.
    conn.client()
        .expect("client")
        .list_children("/")
        .await
        .expect("request on the new session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_suspends_then_loses_the_session_then_reconnects_when_traffic_flows() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let conn = connect(&proxy.connect_string()).await;
    let first = conn.session_id().expect("session");
    let mut events = conn.subscribe();

    proxy.blackhole();
    wait_state(&mut events, ConnectionState::Suspended).await;
    // Past the session timeout (2 s) the session is gone.
    wait_state(&mut events, ConnectionState::Lost).await;
    proxy.pass();
    let (connected, _) = wait_state(&mut events, ConnectionState::Connected).await;
    assert!(connected.new_session);
    assert_ne!(connected.session_id, Some(first));
}

#[tokio::test]
async fn close_reports_closed_and_ends_the_stream() {
    let server = ZkServer::start().await.expect("server");
    let conn = connect(&server.connect_string()).await;
    let mut events = conn.subscribe();
    conn.close().await;
    assert_eq!(conn.state(), ConnectionState::Closed);
    let (closed, _) = wait_state(&mut events, ConnectionState::Closed).await;
    assert_eq!(closed.state, ConnectionState::Closed);
    assert!(futures::StreamExt::next(&mut events).await.is_none());
    assert!(conn.client().is_none());
}

#[tokio::test]
async fn started_container_is_lost_until_its_first_session() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    proxy.refuse();
    let conn = Connection::start(
        &format!("zookeeper://{}", proxy.connect_string()),
        fast_settings(),
    )
    .expect("start");
    let mut events = conn.subscribe();
    // Proof that the container tried (and was refused) before the state is checked.
    eventually("two refused connection attempts", || async {
        proxy.accepted_count() >= 2
    })
    .await;
    assert_eq!(conn.state(), ConnectionState::Lost);
    proxy.pass();
    let (connected, _) = wait_state(&mut events, ConnectionState::Connected).await;
    assert!(connected.new_session);
    assert_eq!(connected.generation, 1);
}
