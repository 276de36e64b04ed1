//! A standalone server starts, serves, survives kill and restart with its data and port,
//! stops gracefully, and leaves no JVM behind once dropped.

mod common;

use std::time::Duration;

use common::{connect, jvm_alive, jvm_gone_within, persistent, soon};
use zkstate_testing::{four_letter_word, ZkServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_server_serves_a_client() {
    let server = ZkServer::start().await.expect("server");
    assert_eq!(
        server.connect_string(),
        format!("127.0.0.1:{}", server.port())
    );
    let pid = server.pid().expect("a running server has a pid");
    assert!(jvm_alive(pid), "JVM {pid} runs");
    let srvr = four_letter_word(&server.connect_string(), "srvr")
        .await
        .expect("srvr");
    assert!(srvr.contains("Mode: standalone"), "srvr: {srvr}");

    let client = connect(&server.connect_string(), Duration::from_secs(10)).await;
    soon("create", client.create("/started", b"yes", &persistent()))
        .await
        .expect("create");
    let (data, _) = soon("get_data", client.get_data("/started"))
        .await
        .expect("get_data");
    assert_eq!(data, b"yes");
    assert!(
        server.log_tail(50).contains("binding to port"),
        "log: {}",
        server.log_tail(50)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_then_restart_keeps_the_data_and_the_port() {
    let mut server = ZkServer::start().await.expect("server");
    let port = server.port();
    {
        let client = connect(&server.connect_string(), Duration::from_secs(10)).await;
        soon(
            "create",
            client.create("/survivor", b"still here", &persistent()),
        )
        .await
        .expect("create");
    }
    let pid = server.pid().expect("pid");

    server.kill();
    assert_eq!(server.pid(), None, "a killed server has no pid");
    assert!(!jvm_alive(pid), "kill() reaps the JVM synchronously");
    assert!(
        four_letter_word(&server.connect_string(), "srvr")
            .await
            .is_err(),
        "nothing listens any more"
    );

    server.restart().await.expect("restart");
    assert_eq!(server.port(), port, "same port after restart");
    let new_pid = server.pid().expect("restarted server has a pid");
    assert_ne!(new_pid, pid);
    let client = connect(&server.connect_string(), Duration::from_secs(10)).await;
    let (data, _) = soon("get_data", client.get_data("/survivor"))
        .await
        .expect("node survives kill + restart");
    assert_eq!(data, b"still here");
    assert!(
        server.data_dir().join("version-2").is_dir(),
        "data lives in data_dir()"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_graceful_and_restart_serves_again() {
    let mut server = ZkServer::start().await.expect("server");
    let pid = server.pid().expect("pid");
    server.stop().await.expect("stop");
    assert_eq!(server.pid(), None);
    assert!(!jvm_alive(pid), "stop() waits for the JVM and reaps it");
    server
        .stop()
        .await
        .expect("stopping a stopped server does nothing");
    assert!(
        four_letter_word(&server.connect_string(), "srvr")
            .await
            .is_err(),
        "nothing listens any more"
    );

    server.restart().await.expect("restart");
    let srvr = four_letter_word(&server.connect_string(), "srvr")
        .await
        .expect("srvr");
    assert!(srvr.contains("Mode: standalone"), "srvr: {srvr}");
    // restart() of a running server stops it first.
    let before = server.pid().expect("pid");
    server.restart().await.expect("restart while running");
    assert!(!jvm_alive(before));
    assert!(server.pid().is_some_and(|p| p != before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_kills_the_jvm_and_removes_the_data_dir() {
    let server = ZkServer::start().await.expect("server");
    let pid = server.pid().expect("pid");
    let data_dir = server.data_dir().to_path_buf();
    assert!(data_dir.is_dir());
    drop(server);
    assert!(
        jvm_gone_within(pid, Duration::from_secs(5)).await,
        "JVM {pid} survives the drop"
    );
    assert!(!data_dir.exists(), "{} is removed", data_dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_settings_reach_the_server() {
    let server = ZkServer::builder()
        .with_tick_time(Duration::from_millis(100))
        .with_max_session_timeout(Duration::from_secs(7))
        .with_config("maxClientCnxns", "17")
        .start()
        .await
        .expect("server");
    let conf = four_letter_word(&server.connect_string(), "conf")
        .await
        .expect("conf");
    assert!(conf.contains("tickTime=100"), "conf: {conf}");
    assert!(conf.contains("minSessionTimeout=200"), "conf: {conf}");
    assert!(conf.contains("maxSessionTimeout=7000"), "conf: {conf}");
    assert!(conf.contains("maxClientCnxns=17"), "conf: {conf}");
    // The server grants short sessions.
    let client = connect(&server.connect_string(), Duration::from_millis(500)).await;
    assert!(
        client.session_timeout() <= Duration::from_secs(1),
        "granted {:?}",
        client.session_timeout()
    );
}
