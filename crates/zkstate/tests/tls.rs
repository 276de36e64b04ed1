//! TLS to ZooKeeper's secure client port: a full ZkState round trip over TLS (standalone and
//! ensemble), and the errors of a client that trusts another CA, of unusable TLS files, and of a
//! `zookeeper+tls://` URL without a CA.

mod common;

use std::time::{Duration, Instant};

use common::{init_tracing, next_batch, soon, unique_dir};
use serde::{Deserialize, Serialize};
use zkstate::connection::settings::Target;
use zkstate::{Change, ConnectError, Connection, Settings, TlsSettings, ZkState};
use zkstate_testing::tls::TestCa;
use zkstate_testing::{TlsFiles, ZkCluster, ZkServer};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Config {
    name: String,
    replicas: u32,
    tags: Vec<String>,
}

/// TLS settings trusting the CA of `files` and presenting their client certificate.
fn tls_settings(files: &TlsFiles) -> TlsSettings {
    TlsSettings::new(files.ca()).with_identity(files.client_cert(), files.client_key())
}

fn settings(tls: TlsSettings) -> Settings {
    Settings::default()
        .with_session_timeout(Duration::from_secs(4))
        .with_connect_timeout(Duration::from_secs(20))
        .with_tls(tls)
}

async fn connect(url: &str, settings: Settings) -> Connection {
    match Connection::connect(url, settings).await {
        Ok(conn) => conn,
        Err(err) => panic!("connect to {url}: {err}"),
    }
}

/// Two instances on two TLS sessions share a state: new, update, the other sees the change
/// through subscribe, and c_read.
async fn round_trip(url_a: &str, url_b: &str, settings: Settings) {
    let dir = unique_dir("tls");
    let a = connect(url_a, settings.clone()).await;
    let b = connect(url_b, settings).await;
    assert!(a.is_tls() && b.is_tls());
    assert_ne!(a.session_id(), b.session_id(), "two sessions");

    let initial = Config {
        name: "web".into(),
        replicas: 1,
        tags: vec!["blue".into()],
    };
    let state_a = ZkState::new(&a, &dir, initial.clone())
        .await
        .expect("new state over TLS");
    let state_b = ZkState::new(&b, &dir, Config::default())
        .await
        .expect("second instance over TLS");
    assert_eq!(*state_b.read().expect("adopted"), initial);
    let mut changes = state_b.subscribe();

    let version = soon(
        "an update over TLS",
        state_a.update(|c| {
            c.replicas = 3;
            c.tags.push("green".into());
        }),
    )
    .await
    .expect("update over TLS");

    let batch = next_batch(&mut changes).await;
    assert_eq!(batch.version, version);
    assert!(
        batch
            .changes
            .iter()
            .any(|change| matches!(change, Change::Modified { .. })),
        "{batch:?}"
    );
    assert!(
        batch
            .changes
            .iter()
            .any(|change| matches!(change, Change::Added { .. })),
        "{batch:?}"
    );
    let expected = Config {
        name: "web".into(),
        replicas: 3,
        tags: vec!["blue".into(), "green".into()],
    };
    assert_eq!(*state_b.c_read().await.expect("c_read over TLS"), expected);
    assert_eq!(*state_a.c_read().await.expect("c_read over TLS"), expected);

    state_a.close().await;
    state_b.close().await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trip_over_tls() {
    init_tracing();
    let server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let tls_port = server.tls_port().expect("a TLS port");
    let files = server.tls_files().expect("TLS files");
    // One instance asks for TLS in the URL; the other gets it from the settings alone.
    round_trip(
        &format!("zookeeper+tls://127.0.0.1:{tls_port}/base"),
        &format!("zookeeper://127.0.0.1:{tls_port}/base"),
        settings(tls_settings(files)),
    )
    .await;

    // Without TLS the secure port gives no session: what went through above was TLS.
    let plain = Settings::default().with_connect_timeout(Duration::from_secs(1));
    match Connection::connect(&format!("zookeeper://127.0.0.1:{tls_port}/base"), plain).await {
        Err(ConnectError::Unreachable { .. }) => {}
        other => panic!("a plain client on the TLS port: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_trusting_another_ca_is_refused_with_a_clear_error() {
    init_tracing();
    let server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let tls_port = server.tls_port().expect("a TLS port");
    let files = server.tls_files().expect("TLS files");
    // The right client certificate, but the CA of a stranger: the server's certificate fails.
    let stranger = TestCa::new()
        .and_then(|ca| ca.client_files())
        .expect("files of another CA");
    let tls =
        TlsSettings::new(stranger.ca()).with_identity(files.client_cert(), files.client_key());
    let connect_timeout = Duration::from_secs(2);
    let settings = Settings::default()
        .with_session_timeout(Duration::from_secs(4))
        .with_connect_timeout(connect_timeout)
        .with_tls(tls);
    let url = format!("zookeeper+tls://127.0.0.1:{tls_port}/base");
    let started = Instant::now();
    let refused = Connection::connect(&url, settings).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < connect_timeout + Duration::from_secs(3),
        "refused after {elapsed:?}"
    );
    let err = match refused {
        Err(err) => err,
        Ok(conn) => panic!("a client trusting another CA connected: {conn:?}"),
    };
    match &err {
        ConnectError::TlsUnreachable {
            servers,
            waited,
            ca,
        } => {
            assert_eq!(servers, &format!("127.0.0.1:{tls_port}"));
            assert_eq!(*waited, connect_timeout);
            assert_eq!(ca, stranger.ca());
        }
        other => panic!("expected TlsUnreachable, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("TLS")
            && message.contains("CA")
            && message.contains(&stranger.ca().display().to_string()),
        "{message}"
    );

    // The same server with the right CA works, so the refusal was the CA's doing.
    let conn = connect(&url, settings_for(files)).await;
    assert!(conn.is_tls());
    conn.close().await;
}

fn settings_for(files: &TlsFiles) -> Settings {
    settings(tls_settings(files))
}

#[tokio::test]
async fn unusable_tls_settings_fail_at_once_naming_the_file() {
    // No server needed: nothing is sent before the files are read.
    let dir = std::env::temp_dir().join(format!("zkstate-tls-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let missing = dir.join("missing-ca.pem");
    let started = Instant::now();
    match Connection::connect(
        "zookeeper://127.0.0.1:1/x",
        Settings::default().with_tls(TlsSettings::new(&missing)),
    )
    .await
    {
        Err(ConnectError::Tls { message }) => {
            assert!(message.contains("missing-ca.pem"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // A CA file that is fine, a key file that is not PEM.
    let ca = TestCa::new()
        .and_then(|ca| ca.client_files())
        .expect("files");
    let bad_key = dir.join("bad-key.pem");
    std::fs::write(&bad_key, "not a key\n").expect("write");
    match Connection::start(
        "zookeeper+tls://127.0.0.1:1/x",
        Settings::default()
            .with_tls(TlsSettings::new(ca.ca()).with_identity(ca.client_cert(), &bad_key)),
    ) {
        Err(ConnectError::Tls { message }) => {
            assert!(message.contains("bad-key.pem"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    // `start_target` cannot fail: its container reports the error when waited on.
    let target = Target {
        servers: "127.0.0.1:1".into(),
        path: "/".into(),
    };
    let conn = Connection::start_target(
        target,
        Settings::default().with_tls(TlsSettings::new(&missing)),
    );
    match conn.wait_connected(Duration::from_secs(30)).await {
        Err(ConnectError::Tls { message }) => {
            assert!(message.contains("missing-ca.pem"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    conn.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_url_without_a_ca_is_refused() {
    // Unless the environment of the test run sets one.
    if std::env::var_os("ZOOKEEPER_TLS_CA").is_some() {
        return;
    }
    match Connection::start("zookeeper+tls://127.0.0.1:1/x", Settings::default()) {
        Err(ConnectError::Tls { message }) => {
            assert!(
                message.contains("tls_ca") && message.contains("ZOOKEEPER_TLS_CA"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trip_over_tls_on_an_ensemble() {
    init_tracing();
    let cluster = ZkCluster::start_tls(3).await.expect("TLS ensemble");
    let connect_string = cluster.tls_connect_string().expect("TLS connect string");
    let files = cluster.tls_files().expect("TLS files");
    // The second instance talks to one node only, so the change crosses the ensemble.
    let node = cluster.node_tls_port(2).expect("a TLS port");
    round_trip(
        &format!("zookeeper+tls://{connect_string}/ensemble"),
        &format!("zookeeper+tls://127.0.0.1:{node}/ensemble"),
        settings(tls_settings(files)),
    )
    .await;
}
