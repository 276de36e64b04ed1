//! `--auth` and `--acl`: a creator-only state refuses a CLI without the credentials with one
//! clear line and a non-zero exit, and serves the one with them.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_creator_only_state_refuses_the_cli_without_credentials() {
    let zk = shared_zk().await;
    let dir = unique_dir("acl");
    let owner = ["--auth", "alice:secret", "--acl", "creator-only"];
    let mut args = owner.to_vec();
    args.extend(["set", "--create", &dir, r#"{"globs":["a*"]}"#]);
    run(&zk, &args).await.success();

    let out = run(&zk, &["get", &dir]).await;
    assert_ne!(out.code, 0, "{out}");
    out.error_line(&["permission denied"]);
    let out = run(&zk, &["set", &dir, r#"{"globs":[]}"#]).await;
    assert_ne!(out.code, 0, "{out}");
    out.error_line(&["permission denied"]);

    let out = run(&zk, &["--auth", "alice:secret", "get", &dir]).await;
    out.success();
    assert_eq!(out.json(), json!({"globs": ["a*"]}));
}

#[tokio::test]
async fn a_policy_naming_the_creator_without_credentials_is_a_usage_error() {
    let zk = shared_zk().await;
    let dir = unique_dir("acl-usage");
    let out = run(
        &zk,
        &["--acl", "creator-only", "set", "--create", &dir, "1"],
    )
    .await;
    out.expect_code(2);
    let out = run(&zk, &["--acl", "everyone", "get", &dir]).await;
    out.expect_code(2);
}
