//! Credentials and ACLs: a creator-only state refuses a CLI without the credentials with one
//! clear line and a non-zero exit, and serves the one with them; credentials come from
//! `--auth-file` (a private file only), `ZOOKEEPER_AUTH_FILE` and `ZOOKEEPER_AUTH`, in that order,
//! never from a URL, and no error shows one.

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

/// A file only its owner may read, holding `text`.
fn auth_file(dir: &std::path::Path, name: &str, text: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the auth file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path.display().to_string()
}

#[track_caller]
fn assert_not_shown(out: &Output, secret: &str) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "{secret:?} shown\n{out}"
    );
}

#[tokio::test]
async fn credentials_come_from_an_auth_file_before_the_variables() {
    let zk = shared_zk().await;
    let dir = unique_dir("auth-file");
    let owner = ["--auth", "alice:secret", "--acl", "creator-only"];
    let mut args = owner.to_vec();
    args.extend(["set", "--create", &dir, "1"]);
    run(&zk, &args).await.success();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let alice = auth_file(tmp.path(), "alice", "alice:secret\n", 0o600);
    let bob = auth_file(tmp.path(), "bob", "\nbob:wrong\r\n", 0o400);

    // The file alone, by flag or variable.
    run(&zk, &["--auth-file", &alice, "get", &dir])
        .await
        .success();
    run_with(
        &zk,
        &["get", &dir],
        None,
        &[("ZOOKEEPER_AUTH_FILE", &alice)],
    )
    .await
    .success();
    // --auth-file > ZOOKEEPER_AUTH_FILE > ZOOKEEPER_AUTH: only the first is sent.
    let env = [
        ("ZOOKEEPER_AUTH_FILE", alice.as_str()),
        ("ZOOKEEPER_AUTH", "bob:wrong"),
    ];
    run_with(&zk, &["get", &dir], None, &env).await.success();
    let out = run_with(&zk, &["--auth-file", &bob, "get", &dir], None, &env).await;
    out.expect_code(1).error_line(&["permission denied"]);
    let env = [
        ("ZOOKEEPER_AUTH_FILE", bob.as_str()),
        ("ZOOKEEPER_AUTH", "alice:secret"),
    ];
    let out = run_with(&zk, &["get", &dir], None, &env).await;
    out.expect_code(1).error_line(&["permission denied"]);
    // --auth on the command line goes first, but not together with --auth-file.
    run_with(&zk, &["--auth", "alice:secret", "get", &dir], None, &env)
        .await
        .success();
    run(
        &zk,
        &["--auth", "alice:secret", "--auth-file", &alice, "get", &dir],
    )
    .await
    .expect_code(2)
    .error_line(&["--auth-file"]);
}

#[tokio::test]
async fn an_auth_file_that_group_or_others_may_open_is_refused_naming_it_and_its_mode() {
    let zk = shared_zk().await;
    let dir = unique_dir("auth-file-mode");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    for mode in [0o640, 0o604, 0o620, 0o602] {
        let file = auth_file(
            tmp.path(),
            &format!("auth-{mode:o}"),
            "alice:s3cret\n",
            mode,
        );
        let shown = format!("{mode:04o}");
        for out in [
            run(&zk, &["--auth-file", &file, "get", &dir]).await,
            run_with(&zk, &["get", &dir], None, &[("ZOOKEEPER_AUTH_FILE", &file)]).await,
        ] {
            out.expect_code(2)
                .error_line(&[&format!("auth file {file}"), &shown, "chmod 600"]);
            assert_not_shown(&out, "s3cret");
        }
    }
    // A line that is no credential: named by its number, never quoted.
    let file = auth_file(tmp.path(), "bad", "alice:ok\nnocolon-s3cret\n", 0o600);
    let out = run(&zk, &["--auth-file", &file, "get", &dir]).await;
    out.expect_code(2)
        .error_line(&[&file, "line 2", "expected `user:password`"]);
    assert_not_shown(&out, "s3cret");
    let out = run(
        &zk,
        &[
            "--auth-file",
            &tmp.path().join("none").display().to_string(),
            "get",
            &dir,
        ],
    )
    .await;
    out.expect_code(2).error_line(&["cannot read auth file"]);
    // A bad --auth or ZOOKEEPER_AUTH is not echoed either.
    let out = run(&zk, &["--auth", ":s3cret", "get", &dir]).await;
    out.expect_code(2)
        .error_line(&["bad --auth", "the user is empty"]);
    assert_not_shown(&out, "s3cret");
    let out = run_with(&zk, &["get", &dir], None, &[("ZOOKEEPER_AUTH", ":s3cret")]).await;
    out.expect_code(2)
        .error_line(&["bad ZOOKEEPER_AUTH", "the user is empty"]);
    assert_not_shown(&out, "s3cret");
}

#[tokio::test]
async fn a_credential_in_the_url_or_the_servers_is_refused_and_never_echoed() {
    let zk = shared_zk().await;
    let dir = unique_dir("auth-in-url");
    for url in [
        format!("zookeeper://alice:s3cret@{zk}{dir}"),
        format!("zookeeper+tls://alice:s3cret@{zk}"),
        format!("alice:s3cret@{zk}"),
        format!("zookeeper://alice:s3/cret@{zk}"),
    ] {
        let out = run_args(&["--zk", &url, "get", &dir], None, &[]).await;
        out.expect_code(2).error_line(&[
            "--zk holds a credential",
            "credentials go in ZOOKEEPER_AUTH or --auth-file",
        ]);
        assert_not_shown(&out, "s3cret");
        assert_not_shown(&out, "s3/cret");
    }
    let servers = format!("alice:s3cret@{zk}");
    let out = run_args(&["get", &dir], None, &[("ZOOKEEPER_SERVERS", &servers)]).await;
    out.expect_code(2).error_line(&[
        "ZOOKEEPER_SERVERS holds a credential",
        "credentials go in ZOOKEEPER_AUTH or --auth-file",
    ]);
    assert_not_shown(&out, "s3cret");
    // An `@` in a node name is no credential.
    let url = format!("zookeeper://{zk}{dir}/user@host");
    run_args(&["--zk", &url, "ls"], None, &[])
        .await
        .expect_code(4)
        .error_line(&["user@host", "does not exist"]);
}
