//! `expire_session` makes the server expire a live client's session.

mod common;

use std::time::Duration;

use common::{connect, ephemeral, soon, wait_state, SOON};
use zkstate_testing::{expire_session, FaultProxy, ProxyMode, ZkServer};
use zookeeper_client::{Error, SessionState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_is_reported_and_its_ephemeral_node_is_gone() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let victim = connect(&proxy.connect_string(), Duration::from_secs(2)).await;
    soon("create", victim.create("/victim", b"", &ephemeral()))
        .await
        .expect("create");
    let mut state = victim.state_watcher();

    expire_session(&proxy, &server.connect_string(), victim.session())
        .await
        .expect("expire");
    assert_eq!(proxy.mode(), ProxyMode::Pass, "the proxy passes again");

    tokio::time::timeout(
        Duration::from_secs(20),
        wait_state(&mut state, SessionState::Expired),
    )
    .await
    .expect("Expired within 20 s");
    let after = soon("get_data", victim.get_data("/victim")).await;
    assert!(matches!(after, Err(Error::SessionExpired)), "{after:?}");

    let observer = connect(&server.connect_string(), Duration::from_secs(10)).await;
    let stat = soon("check_stat", observer.check_stat("/victim"))
        .await
        .expect("check_stat");
    assert!(
        stat.is_none(),
        "the ephemeral node of the expired session is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_keeps_a_blackholed_proxy_blackholed_until_pass() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let victim = connect(&proxy.connect_string(), Duration::from_secs(10)).await;
    let mut state = victim.state_watcher();
    proxy.blackhole();

    expire_session(&proxy, &server.connect_string(), victim.session())
        .await
        .expect("expire");
    assert_eq!(
        proxy.mode(),
        ProxyMode::Blackhole,
        "the previous mode is restored"
    );

    proxy.pass();
    let expired = async {
        loop {
            match state.state() {
                SessionState::Expired => return,
                other => assert!(!other.is_terminated(), "ended in {other}"),
            }
            state.changed().await;
        }
    };
    tokio::time::timeout(SOON, expired)
        .await
        .expect("Expired once traffic passes");
}
