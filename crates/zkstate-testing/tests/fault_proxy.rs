//! The fault proxy passes, blackholes, refuses, resets and delays traffic.

mod common;

use std::time::Duration;

use common::{connect, persistent, soon, wait_state, SOON};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zkstate_testing::{four_letter_word, FaultProxy, ProxyMode, ZkServer};
use zookeeper_client::SessionState;

/// Long enough that no session expires during a test (the client gives up after 7/5 of it),
/// short enough that a silent connection is noticed (after 2/5 of it).
const SESSION: Duration = Duration::from_secs(10);

/// Reads until EOF or error; `Err` only if nothing happened within `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut all = Vec::new();
    let reading = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, reading)
        .await
        .map_err(|_| ())?;
    Ok(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_through_the_proxy_reads_and_writes() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    assert_eq!(
        proxy.connect_string(),
        format!("127.0.0.1:{}", proxy.port())
    );
    assert_ne!(proxy.port(), server.port());
    assert_eq!(proxy.mode(), ProxyMode::Pass);
    assert_eq!(proxy.connection_count(), 0);

    let client = connect(&proxy.connect_string(), SESSION).await;
    soon(
        "create",
        client.create("/through-proxy", b"proxied", &persistent()),
    )
    .await
    .expect("create");
    let (data, _) = soon("get_data", client.get_data("/through-proxy"))
        .await
        .expect("get_data");
    assert_eq!(data, b"proxied");
    assert_eq!(proxy.connection_count(), 1);
    let srvr = four_letter_word(&proxy.connect_string(), "srvr")
        .await
        .expect("srvr through the proxy");
    assert!(srvr.contains("Mode: standalone"), "srvr: {srvr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_the_bytes_it_forwards_each_way() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    assert_eq!((proxy.bytes_to_clients(), proxy.bytes_to_server()), (0, 0));
    let client = connect(&proxy.connect_string(), SESSION).await;
    // The handshake went both ways.
    let (down, up) = (proxy.bytes_to_clients(), proxy.bytes_to_server());
    assert!(down > 0 && up > 0, "handshake: {down} down, {up} up");

    let data = vec![b'x'; 20_000];
    soon("create", client.create("/counted", &data, &persistent()))
        .await
        .expect("create");
    let up_after_create = proxy.bytes_to_server();
    assert!(
        up_after_create - up >= 20_000,
        "the create carried 20,000 bytes up: {} counted",
        up_after_create - up
    );
    let down_before_read = proxy.bytes_to_clients();
    let (read, _) = soon("get_data", client.get_data("/counted"))
        .await
        .expect("get_data");
    assert_eq!(read, data);
    let down_for_read = proxy.bytes_to_clients() - down_before_read;
    // The data, the stat and the reply's header: a little more than the data, never less.
    assert!(
        (20_000..21_000).contains(&down_for_read),
        "the read carried 20,000 bytes down: {down_for_read} counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_times_requests_out_and_disconnects_then_pass_recovers() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let client = connect(&proxy.connect_string(), SESSION).await;
    soon(
        "create",
        client.create("/blackhole", b"data", &persistent()),
    )
    .await
    .expect("create");
    let mut state = client.state_watcher();

    proxy.blackhole();
    assert_eq!(proxy.mode(), ProxyMode::Blackhole);
    let request = tokio::time::timeout(Duration::from_secs(1), client.get_data("/blackhole")).await;
    assert!(
        request.is_err(),
        "a request through a blackhole gets no answer: {request:?}"
    );
    wait_state(&mut state, SessionState::Disconnected).await;
    assert!(
        proxy.connection_count() >= 1,
        "the blackhole keeps connections open"
    );

    proxy.pass();
    wait_state(&mut state, SessionState::SyncConnected).await;
    let (data, _) = soon("get_data after pass", client.get_data("/blackhole"))
        .await
        .expect("get_data");
    assert_eq!(data, b"data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_new_connections_are_held_until_pass() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    proxy.blackhole();
    let mut stream = TcpStream::connect(proxy.connect_string())
        .await
        .expect("the blackhole accepts");
    stream.write_all(b"srvr").await.expect("write");
    let mut buf = [0u8; 64];
    let silent = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
    assert!(
        silent.is_err(),
        "nothing comes back through a blackhole: {silent:?}"
    );
    assert_eq!(proxy.connection_count(), 1);

    proxy.pass();
    let answer = read_until_closed(&mut stream, SOON)
        .await
        .expect("the held request goes through");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("Mode: standalone"), "answer: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_drops_connections_and_new_ones_until_pass() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let client = connect(&proxy.connect_string(), SESSION).await;
    soon("create", client.create("/refuse", b"data", &persistent()))
        .await
        .expect("create");
    let mut state = client.state_watcher();

    proxy.refuse();
    assert_eq!(proxy.mode(), ProxyMode::Refuse);
    wait_state(&mut state, SessionState::Disconnected).await;
    // A new connection is accepted then reset at once, without an answer (the reset may even
    // arrive before `connect` returns).
    if let Ok(mut stream) = TcpStream::connect(proxy.connect_string()).await {
        let _ = stream.write_all(b"srvr").await;
        let answer = read_until_closed(&mut stream, SOON)
            .await
            .expect("a refused connection closes");
        assert!(answer.is_empty(), "no answer through a refusing proxy");
    }
    assert!(four_letter_word(&proxy.connect_string(), "srvr")
        .await
        .is_err());

    proxy.pass();
    wait_state(&mut state, SessionState::SyncConnected).await;
    let (data, _) = soon("get_data after pass", client.get_data("/refuse"))
        .await
        .expect("get_data");
    assert_eq!(data, b"data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_closes_current_connections_once_and_keeps_passing() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    // A connection that the server keeps open: a half-written four-letter word.
    let mut stream = TcpStream::connect(proxy.connect_string())
        .await
        .expect("connect");
    stream.write_all(b"sr").await.expect("write");
    soon("connection counted", async {
        while proxy.connection_count() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    proxy.reset();
    let answer = read_until_closed(&mut stream, SOON)
        .await
        .expect("reset closes the connection");
    assert!(answer.is_empty());
    assert_eq!(proxy.mode(), ProxyMode::Pass, "reset keeps the mode");
    let srvr = four_letter_word(&proxy.connect_string(), "srvr")
        .await
        .expect("new connections pass");
    assert!(srvr.contains("Mode: standalone"), "srvr: {srvr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_traffic_but_still_delivers_it_in_order() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    proxy.set_latency(Duration::from_millis(150));
    let client = connect(&proxy.connect_string(), SESSION).await;
    for i in 0..5u8 {
        soon(
            "create",
            client.create(&format!("/latency-{i}"), &[i], &persistent()),
        )
        .await
        .expect("create");
    }
    // Pipelined requests come back in order and intact.
    let reads: Vec<_> = (0..5u8)
        .map(|i| client.get_data(&format!("/latency-{i}")))
        .collect();
    for (i, read) in reads.into_iter().enumerate() {
        let (data, _) = soon("get_data", read).await.expect("get_data");
        assert_eq!(data, vec![i as u8]);
    }
    proxy.set_latency(Duration::ZERO);
    soon("get_data", client.get_data("/latency-0"))
        .await
        .expect("get_data without latency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_stops_it() {
    let server = ZkServer::start().await.expect("server");
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let addr = proxy.connect_string();
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(b"sr").await.expect("write");
    drop(proxy);
    read_until_closed(&mut stream, SOON)
        .await
        .expect("open connections close");
    soon("listener closed", async {
        while TcpStream::connect(&addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
