//! `zkstate` over TLS: `get` through `--tls-ca/--tls-cert/--tls-key` and through
//! `ZOOKEEPER_TLS_*`; a server whose certificate another CA signed is refused (exit 5); bad TLS
//! options are usage errors (exit 2).

mod common;

use common::*;
use serde_json::json;
use zkstate_testing::tls::TestCa;
use zkstate_testing::ZkServer;

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_over_tls() {
    let server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let files = server.tls_files().expect("TLS files");
    let (ca, cert, key) = (
        path(files.ca()),
        path(files.client_cert()),
        path(files.client_key()),
    );
    let zk = format!(
        "zookeeper+tls://{}",
        server.tls_connect_string().expect("TLS connect string")
    );
    let tls_args = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    let dir = unique_dir("tls-get");

    // Written over TLS, read back over TLS with the options.
    let mut args = tls_args.to_vec();
    args.extend(["set", "--create", &dir, r#"{"name":"secure","n":[1,2]}"#]);
    run(&zk, &args).await.success();
    let mut args = tls_args.to_vec();
    args.extend(["get", &dir]);
    let out = run(&zk, &args).await;
    out.success();
    assert_eq!(out.json(), json!({"name": "secure", "n": [1, 2]}), "{out}");

    // The same through the environment, and with a plain `zookeeper://` URL: the CA turns TLS on.
    let plain_url = format!(
        "zookeeper://{}",
        server.tls_connect_string().expect("TLS connect string")
    );
    let env = [
        ("ZOOKEEPER_TLS_CA", ca.as_str()),
        ("ZOOKEEPER_TLS_CERT", cert.as_str()),
        ("ZOOKEEPER_TLS_KEY", key.as_str()),
    ];
    let out = run_with(&plain_url, &["get", "--raw", &dir], None, &env).await;
    out.success();
    assert_eq!(out.json(), json!({"name": "secure", "n": [1, 2]}), "{out}");

    // The plain port serves the same data to a plain client.
    let out = run(&server.connect_string(), &["get", "--raw", &dir]).await;
    out.success();
    assert_eq!(out.json(), json!({"name": "secure", "n": [1, 2]}), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_another_ca_is_refused() {
    let server = ZkServer::builder()
        .with_tls()
        .start()
        .await
        .expect("TLS server");
    let files = server.tls_files().expect("TLS files");
    let stranger = TestCa::new()
        .and_then(|ca| ca.client_files())
        .expect("files of another CA");
    let zk = format!(
        "zookeeper+tls://{}",
        server.tls_connect_string().expect("TLS connect string")
    );
    let (ca, cert, key) = (
        path(stranger.ca()),
        path(files.client_cert()),
        path(files.client_key()),
    );
    let out = run(
        &zk,
        &[
            "--timeout",
            "2",
            "--tls-ca",
            &ca,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "get",
            "/anything",
        ],
    )
    .await;
    out.expect_code(5).error_line(&["TLS", "CA", &ca]);
}

#[tokio::test]
async fn bad_tls_options_are_usage_errors() {
    // Nothing is contacted: the options are checked, and the files read, first.
    let zk = "zookeeper+tls://127.0.0.1:1";
    let ca = TestCa::new()
        .and_then(|ca| ca.client_files())
        .expect("files");
    let (ca_path, cert, key) = (path(ca.ca()), path(ca.client_cert()), path(ca.client_key()));

    let out = run(
        zk,
        &["--tls-ca", &ca_path, "--tls-cert", &cert, "get", "/x"],
    )
    .await;
    out.expect_code(2).error_line(&["--tls-cert", "--tls-key"]);

    let out = run(zk, &["--tls-cert", &cert, "--tls-key", &key, "get", "/x"]).await;
    out.expect_code(2).error_line(&["--tls-ca"]);

    let missing = format!("{ca_path}.missing");
    let out = run(zk, &["--tls-ca", &missing, "get", "/x"]).await;
    out.expect_code(2).error_line(&[&missing]);

    // A zookeeper+tls:// URL without a CA: the CLI's own flag is named.
    let out = run(zk, &["get", "/x"]).await;
    out.expect_code(2)
        .error_line(&["zookeeper+tls://", "--tls-ca"]);

    // Half of the pair from the environment.
    let out = run_with(
        "127.0.0.1:1",
        &["get", "/x"],
        None,
        &[("ZOOKEEPER_TLS_CA", &ca_path), ("ZOOKEEPER_TLS_KEY", &key)],
    )
    .await;
    out.expect_code(2).error_line(&["ZOOKEEPER_TLS_KEY"]);
}
