//! `zkstate watch` carries on through a server restart: it reports the connection states on
//! stderr, and a change made after the restart is printed.

mod common;

use common::*;
use zkstate_testing::ZkServer;

#[tokio::test]
async fn watch_survives_a_server_restart() {
    // Its own server: this test stops it.
    let mut server = match ZkServer::start().await {
        Ok(server) => server,
        Err(err) => panic!("cannot start ZooKeeper: {err}"),
    };
    let zk = server.connect_string();
    let dir = unique_dir("watch-restart");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let mut watch = Running::watch(&zk, &dir, &["--json"]).await;

    run(&zk, &["set", &dir, r#"{"n":1}"#]).await.success();
    assert_eq!(
        watch.stdout_lines(1).await,
        vec![r#"{"version":1,"op":"modified","path":["n"],"old":0,"new":1}"#],
        "{}",
        watch.transcript()
    );

    if let Err(err) = server.stop().await {
        panic!("cannot stop ZooKeeper: {err}");
    }
    watch
        .line_where(Stream::Stderr, |line| {
            line == "zkstate: connection SUSPENDED"
        })
        .await;
    if let Err(err) = server.restart().await {
        panic!("cannot restart ZooKeeper: {err}\n{}", server.log_tail(50));
    }

    // Made as soon as the server is back, maybe before the watch has reconnected: it arrives
    // either way, through the watch or through the re-sync.
    let version = raw_set(&zk, &format!("{dir}/payload"), br#"{"n":2}"#).await;
    let line = watch.line_where(Stream::Stdout, |_| true).await;
    assert_eq!(
        line,
        format!(r#"{{"version":{version},"op":"modified","path":["n"],"old":1,"new":2}}"#),
        "{}",
        watch.transcript()
    );
    let reconnected = |(s, l): &(Stream, String)| {
        *s == Stream::Stderr && l.starts_with("zkstate: connection CONNECTED")
    };
    if !watch.seen.iter().any(reconnected) {
        watch
            .line_where(Stream::Stderr, |l| {
                l.starts_with("zkstate: connection CONNECTED")
            })
            .await;
    }
    watch.kill().await;
}
