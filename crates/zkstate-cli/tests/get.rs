//! `zkstate get`: pretty, raw, with its stat; a missing state; a payload that is not JSON.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn get_prints_the_payload_pretty() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-pretty");
    create_state(&zk, &dir, r#"{"name":"a","list":[1,2]}"#).await;
    let out = run(&zk, &["get", &dir]).await;
    out.success();
    assert_eq!(out.json(), json!({"name": "a", "list": [1, 2]}), "{out}");
    assert!(
        out.stdout.contains("\n  \"list\": [\n"),
        "not pretty\n{out}"
    );
    assert!(out.stderr.is_empty(), "{out}");
}

#[tokio::test]
async fn get_raw_prints_the_stored_bytes() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-raw");
    create_state(&zk, &dir, r#"{ "b": 1, "a": [true] }"#).await;
    let out = run(&zk, &["get", "--raw", &dir]).await;
    out.success();
    assert_eq!(out.stdout, "{\"a\":[true],\"b\":1}\n", "{out}");
}

#[tokio::test]
async fn get_stat_prints_version_and_time_on_stderr() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-stat");
    create_state(&zk, &dir, "1").await;
    run(&zk, &["set", &dir, "2"]).await.success();
    let out = run(&zk, &["get", "--stat", &dir]).await;
    out.success();
    assert_eq!(out.stdout, "2\n", "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "version 1", "{out}");
    let time = lines[1].strip_prefix("modified ").unwrap_or("");
    // 2024-03-01T12:00:00.123Z
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{out}"
    );
}

#[tokio::test]
async fn get_of_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-missing");
    run(&zk, &["get", &dir])
        .await
        .expect_code(4)
        .error_line(&[&dir, "does not exist"]);
}

#[tokio::test]
async fn get_of_a_payload_that_is_not_json() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-bad");
    create_state(&zk, &dir, "{}").await;
    raw_set(&zk, &format!("{dir}/payload"), b"not json {").await;
    run(&zk, &["get", &dir]).await.expect_code(1).error_line(&[
        "does not decode",
        "line 1",
        "--raw",
    ]);
    let out = run(&zk, &["get", "--raw", &dir]).await;
    out.success();
    assert_eq!(out.stdout, "not json {\n", "{out}");
}

#[tokio::test]
async fn relative_dirs_resolve_under_the_url_path() {
    let zk = shared_zk().await;
    let dir = unique_dir("get-rel");
    create_state(&zk, &format!("{dir}/inner"), r#""x""#).await;
    let url = format!("zookeeper://{zk}{dir}");
    let out = run_args(&["--zk", &url, "get", "inner"], None, &[]).await;
    out.success();
    assert_eq!(out.stdout, "\"x\"\n", "{out}");
    // ZOOKEEPER_SERVERS is the default for --zk.
    let out = run_args(
        &["get", &format!("{dir}/inner")],
        None,
        &[("ZOOKEEPER_SERVERS", &zk)],
    )
    .await;
    out.success();
    assert_eq!(out.stdout, "\"x\"\n", "{out}");
}

/// `get` of a node that is not a state says what it is, and how to read it.
#[tokio::test]
async fn get_of_a_plain_znode_or_a_payload_node_says_what_it_is() {
    let zk = shared_zk().await;
    let base = unique_dir("get-plain");
    let state = format!("{base}/s");
    create_state(&zk, &state, r#"{"a":1}"#).await;
    raw_set(&zk, &base, b"plain data").await;

    run(&zk, &["get", &base]).await.expect_code(4).error_line(&[
        "is a plain znode",
        "zkstate ls",
        "--raw-node",
    ]);
    let out = run(&zk, &["get", "--raw-node", &base]).await;
    out.success();
    assert_eq!(out.stdout, "plain data\n", "{out}");
    run(&zk, &["get", &format!("{state}/payload")])
        .await
        .expect_code(4)
        .error_line(&["is the payload node of the state", &state]);
    run(&zk, &["get", "--raw-node", &format!("{base}/missing")])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}

/// Settings in the wrong place are named with where they belong.
#[tokio::test]
async fn a_url_in_zookeeper_servers_and_tls_without_a_ca_say_where_things_go() {
    let zk = shared_zk().await;
    let url = format!("zookeeper://{zk}");
    run_args(&["ls"], None, &[("ZOOKEEPER_SERVERS", &url)])
        .await
        .expect_code(2)
        .error_line(&["ZOOKEEPER_SERVERS holds a url", "servers only", "--zk"]);
    run_args(
        &["--zk", &format!("zookeeper+tls://{zk}/x"), "ls"],
        None,
        &[],
    )
    .await
    .expect_code(2)
    .error_line(&["zookeeper+tls://", "--tls-ca"]);
}
