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
