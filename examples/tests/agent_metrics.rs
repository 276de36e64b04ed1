//! The example agent serves zkstate's metrics as Prometheus text: started with `--metrics`, it is
//! scraped over HTTP after it applied a change.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use zkstate_testing::ZkServer;

const AGENT: &str = env!("CARGO_BIN_EXE_process_monitor");

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the agent");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_serves_prometheus_text_with_zkstate_series() {
    let server = ZkServer::start().await.expect("server");
    let url = format!("zookeeper://{}/agents", server.connect_string());
    let addr = format!("127.0.0.1:{}", free_port());
    let mut agent = Command::new(AGENT)
        .args([
            "--zk",
            &url,
            "--dir",
            "metrics-test",
            "--name",
            "a",
            "--metrics",
            &addr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the agent");
    let mut lines = BufReader::new(agent.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("[a] watching") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the agent did not start watching");

    // A change by another instance: the agent applies it.
    let conn = zkstate::Connection::connect(&url, zkstate::Settings::default())
        .await
        .expect("connect");
    let state = zkstate::ZkState::<Vec<String>>::expect(&conn, "metrics-test", None)
        .await
        .expect("open");
    state
        .update(|globs| globs.push("firefox*".into()))
        .await
        .expect("update");
    let applied = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("change -> version 1") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(applied, Ok(true), "the agent did not apply the change");

    let response = scrape(&addr).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for series in [
        "zkstate_sessions_total",
        "zkstate_connection_state",
        "zkstate_changes_applied_total",
        "zkstate_last_verified_timestamp_seconds",
    ] {
        assert!(
            response.contains(series),
            "{series} missing from:\n{response}"
        );
    }
    assert!(
        response
            .lines()
            .any(|l| l.starts_with("zkstate_changes_applied_total")
                && l.contains("origin=\"remote\"")
                && l.ends_with(" 1")),
        "the remote change counted once:\n{response}"
    );
    state.close().await;
    conn.close().await;
    agent.kill().await.expect("stop the agent");
}
