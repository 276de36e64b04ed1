//! `zkstate patch`: a merge patch (RFC 7396) and a JSON patch (RFC 6902) each produce the
//! expected payload and change lines, here and in a running `watch`; patches that do not apply
//! are exit 2 and write nothing; a patch that changes nothing writes nothing.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn merge_patch_produces_payload_and_change_lines() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-merge");
    create_state(&zk, &dir, r#"{"name":"a","x":1,"keep":[1]}"#).await;
    let mut watch = Running::watch(&zk, &dir, &[]).await;

    let out = run(
        &zk,
        &[
            "patch",
            &dir,
            "--merge",
            r#"{"name":"b","x":null,"new":{"k":true}}"#,
        ],
    )
    .await;
    out.success();
    assert_eq!(
        payload(&zk, &dir).await,
        (json!({"name": "b", "keep": [1], "new": {"k": true}}), 1)
    );
    let expected = vec![
        r#"~ .name "a" -> "b""#.to_string(),
        r#"+ .new {"k":true}"#.to_string(),
        "- .x 1".to_string(),
    ];
    // In the diff's order: keys sorted.
    let printed: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    assert_eq!(printed, expected, "{out}");
    assert_eq!(out.stderr, "version 1\n", "{out}");

    let watched = watch.stdout_lines(3).await;
    assert_eq!(watched, expected, "{}", watch.transcript());
    watch.kill().await;
}

#[tokio::test]
async fn json_patch_produces_payload_and_change_lines() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-json");
    create_state(&zk, &dir, r#"["systemd*","rsync*"]"#).await;
    let mut watch = Running::watch(&zk, &dir, &["--json"]).await;

    let ops = r#"[{"op":"test","path":"/0","value":"systemd*"},{"op":"add","path":"/-","value":"firefox*"}]"#;
    let out = run(&zk, &["patch", &dir, "--json-patch", ops]).await;
    out.success();
    assert_eq!(
        payload(&zk, &dir).await,
        (json!(["systemd*", "rsync*", "firefox*"]), 1)
    );
    assert_eq!(out.stdout, "+ [2] \"firefox*\"\n", "{out}");

    let watched = watch.stdout_lines(1).await;
    assert_eq!(
        watched,
        vec![r#"{"version":1,"op":"added","path":[2],"value":"firefox*"}"#.to_string()],
        "{}",
        watch.transcript()
    );
    watch.kill().await;

    // patch --json prints the same JSON lines as watch --json.
    let ops = r#"[{"op":"replace","path":"/1","value":"rsync"}]"#;
    let out = run(&zk, &["patch", "--json", &dir, "--json-patch", ops]).await;
    out.success();
    assert_eq!(
        out.stdout,
        "{\"version\":2,\"op\":\"modified\",\"path\":[1],\"old\":\"rsync*\",\"new\":\"rsync\"}\n",
        "{out}"
    );
}

#[tokio::test]
async fn a_failing_test_op_is_exit_2_and_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-test-fails");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let ops = r#"[{"op":"test","path":"/a","value":2},{"op":"replace","path":"/a","value":3}]"#;
    run(&zk, &["patch", &dir, "--json-patch", ops])
        .await
        .expect_code(2)
        .error_line(&["patch does not apply", "/a", "nothing written"]);
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
}

#[tokio::test]
async fn a_missing_path_is_exit_2_and_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-missing-path");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let ops = r#"[{"op":"remove","path":"/nope"}]"#;
    run(&zk, &["patch", &dir, "--json-patch", ops])
        .await
        .expect_code(2)
        .error_line(&["patch does not apply", "/nope"]);
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
}

#[tokio::test]
async fn an_invalid_json_patch_is_exit_2() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-invalid");
    create_state(&zk, &dir, "{}").await;
    run(&zk, &["patch", &dir, "--json-patch", r#"[{"op":"frob"}]"#])
        .await
        .expect_code(2)
        .error_line(&["invalid JSON patch"]);
    run(&zk, &["patch", &dir, "--merge", "{"])
        .await
        .expect_code(2)
        .error_line(&["invalid JSON in --merge", "line 1, column 1"]);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-noop");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let out = run(&zk, &["patch", &dir, "--merge", r#"{"a":1}"#]).await;
    out.success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "unchanged at version 0\n", "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
}

#[tokio::test]
async fn patch_on_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("patch-missing");
    run(&zk, &["patch", &dir, "--merge", "{}"])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}
