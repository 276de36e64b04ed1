//! TLS servers: a standalone server and an ensemble open a secure client port with generated
//! certificates; a client with the generated files works over it; one trusting another CA, or
//! presenting no certificate, is refused.

mod common;

use std::time::Duration;

use common::{persistent, soon};
use zkstate_testing::tls::TestCa;
use zkstate_testing::{four_letter_word, TlsFiles, ZkCluster, ZkServer};
use zookeeper_client::{Client, TlsOptions};

/// Connects over TLS with `tls`, failing eagerly (every host tried once) and within [`common::SOON`].
async fn tls_connect(connect: &str, tls: TlsOptions) -> Result<Client, zookeeper_client::Error> {
    soon(
        &format!("a TLS connect to {connect} to end"),
        Client::connector()
            .with_session_timeout(Duration::from_secs(5))
            .with_fail_eagerly()
            .with_tls(tls)
            .secure_connect(connect),
    )
    .await
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn check_pem_files(files: &TlsFiles) {
    assert!(read(files.ca()).starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(read(files.client_cert()).starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(read(files.client_key()).starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_serves_clients_with_the_generated_files() {
    let mut server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let tls_port = server.tls_port().expect("a TLS port");
    assert_ne!(tls_port, server.port());
    let tls_connect_string = server.tls_connect_string().expect("a TLS connect string");
    assert_eq!(tls_connect_string, format!("127.0.0.1:{tls_port}"));
    let files = server.tls_files().expect("TLS files").clone();
    check_pem_files(&files);

    // The plain port still answers `srvr` (readiness checks use it).
    let srvr = four_letter_word(&server.connect_string(), "srvr")
        .await
        .expect("srvr");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");

    let client = tls_connect(
        &tls_connect_string,
        files.client_options().expect("options"),
    )
    .await
    .expect("a TLS session with the generated files");
    client
        .create("/over-tls", b"secret", &persistent())
        .await
        .expect("create over TLS");
    let (data, _) = client.get_data("/over-tls").await.expect("get over TLS");
    assert_eq!(data, b"secret");
    drop(client);

    // The `tcp+tls://` form of the connect string works too, with a second client certificate
    // issued by the server's CA.
    let more = server
        .tls_ca()
        .expect("the CA")
        .issue_client()
        .expect("issue");
    let tls = TlsOptions::new()
        .with_pem_ca(&read(files.ca()))
        .and_then(|tls| tls.with_pem_identity(more.cert_pem(), more.key_pem()))
        .expect("options");
    let client = soon(
        "a tcp+tls:// connect",
        Client::connector()
            .with_fail_eagerly()
            .with_tls(tls)
            .connect(&format!("tcp+tls://{tls_connect_string}")),
    )
    .await
    .expect("a TLS session via tcp+tls://");
    let (data, _) = client.get_data("/over-tls").await.expect("get over TLS");
    assert_eq!(data, b"secret");
    drop(client);

    // Data written over TLS is the same data plain clients see.
    let plain = common::connect(&server.connect_string(), Duration::from_secs(5)).await;
    let (data, _) = plain.get_data("/over-tls").await.expect("get over plain");
    assert_eq!(data, b"secret");
    drop(plain);

    // A restart keeps the TLS port and the certificates.
    server.restart().await.expect("restart");
    assert_eq!(server.tls_port(), Some(tls_port));
    let client = tls_connect(
        &tls_connect_string,
        files.client_options().expect("options"),
    )
    .await
    .expect("a TLS session after restart");
    let (data, _) = client
        .get_data("/over-tls")
        .await
        .expect("get after restart");
    assert_eq!(data, b"secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_refuses_wrong_ca_and_missing_certificate() {
    let server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let connect = server.tls_connect_string().expect("a TLS connect string");
    let files = server.tls_files().expect("TLS files");

    // The client trusts another CA: it refuses the server's certificate.
    let stranger = TestCa::new().expect("another CA");
    assert_ne!(
        stranger.name(),
        server.tls_ca().expect("the server's CA").name()
    );
    let other = stranger.client_files().expect("files of another CA");
    check_pem_files(&other);
    let tls = TlsOptions::new()
        .with_pem_ca(&read(other.ca()))
        .and_then(|tls| {
            tls.with_pem_identity(&read(files.client_cert()), &read(files.client_key()))
        })
        .expect("options");
    let refused = tls_connect(&connect, tls).await;
    assert!(refused.is_err(), "a client trusting another CA connected");

    // The client presents a certificate from another CA: the server refuses it.
    let tls = TlsOptions::new()
        .with_pem_ca(&read(files.ca()))
        .and_then(|tls| {
            tls.with_pem_identity(&read(other.client_cert()), &read(other.client_key()))
        })
        .expect("options");
    assert!(
        tls_connect(&connect, tls).await.is_err(),
        "a client certificate of another CA was accepted"
    );

    // No client certificate at all: `ssl.clientAuth` defaults to `need`.
    let tls = TlsOptions::new()
        .with_pem_ca(&read(files.ca()))
        .expect("options");
    assert!(
        tls_connect(&connect, tls).await.is_err(),
        "a client without a certificate was accepted"
    );

    // The right files still work afterwards.
    tls_connect(&connect, files.client_options().expect("options"))
        .await
        .expect("a TLS session with the right files");

    // The files of `client_files` live as long as their `TlsFiles`.
    let dir = other.ca().parent().expect("a directory").to_path_buf();
    drop(other);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ensemble_serves_on_every_node() {
    let cluster = ZkCluster::start_tls(3).await.expect("TLS ensemble");
    let connect = cluster.tls_connect_string().expect("a TLS connect string");
    let ports: Vec<u16> = (0..3)
        .map(|i| cluster.node_tls_port(i).expect("a TLS port"))
        .collect();
    let expected: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(connect, expected.join(","));
    let files = cluster.tls_files().expect("TLS files");
    check_pem_files(files);

    let writer = tls_connect(&connect, files.client_options().expect("options"))
        .await
        .expect("a TLS session with the ensemble");
    writer
        .create("/ensemble-tls", b"quorum", &persistent())
        .await
        .expect("create over TLS");
    // Every node serves TLS on its own port and has the write (sync first: a follower may lag).
    for (i, addr) in expected.iter().enumerate() {
        let client = tls_connect(addr, files.client_options().expect("options"))
            .await
            .unwrap_or_else(|e| panic!("a TLS session with node {i}: {e}"));
        client.sync("/ensemble-tls").await.expect("sync");
        let (data, _) = client.get_data("/ensemble-tls").await.expect("get");
        assert_eq!(data, b"quorum", "node {i}");
    }
    assert!(ZkCluster::start(1)
        .await
        .expect("plain ensemble")
        .tls_connect_string()
        .is_none());
}
