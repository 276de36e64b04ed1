//! Exit 2: usage errors and invalid input, each reported on one line; bad JSON names the line
//! and column. Nothing is written.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn bad_json_argument_names_line_and_column() {
    let zk = shared_zk().await;
    let dir = unique_dir("bad-json-arg");
    create_state(&zk, &dir, r#"{"keep":true}"#).await;
    run(&zk, &["set", &dir, r#"{"a": tru}"#])
        .await
        .expect_code(2)
        .error_line(&["invalid JSON", "line 1, column 10"]);
    assert_eq!(payload(&zk, &dir).await, (json!({"keep": true}), 0));
}

#[tokio::test]
async fn bad_json_on_stdin_names_line_and_column() {
    let zk = shared_zk().await;
    let dir = unique_dir("bad-json-stdin");
    create_state(&zk, &dir, "1").await;
    run_with(
        &zk,
        &["set", &dir],
        Some("{\n  \"a\": 1,\n  \"b\": ]\n}\n"),
        &[],
    )
    .await
    .expect_code(2)
    .error_line(&["invalid JSON in stdin", "line 3, column 8"]);
    assert_eq!(payload(&zk, &dir).await, (json!(1), 0));
}

#[tokio::test]
async fn bad_json_is_exit_2_even_before_connecting() {
    // Parsing comes first: no server is needed to reject bad input.
    run_args(
        &["--zk", "127.0.0.1:1", "--timeout", "1", "set", "/x", "{"],
        None,
        &[],
    )
    .await
    .expect_code(2)
    .error_line(&["invalid JSON", "line 1, column 1"]);
}

#[tokio::test]
async fn usage_errors_are_exit_2_on_one_line() {
    run_args(&["frobnicate"], None, &[])
        .await
        .expect_code(2)
        .error_line(&["frobnicate", "usage: zkstate"]);
    run_args(&["get"], None, &[])
        .await
        .expect_code(2)
        .error_line(&["<DIR>"]);
    run_args(&["--timeout", "soon", "get", "/x"], None, &[])
        .await
        .expect_code(2)
        .error_line(&["--timeout", "soon"]);
    // patch needs exactly one of --merge and --json-patch.
    run_args(&["patch", "/x"], None, &[])
        .await
        .expect_code(2)
        .error_line(&["--merge"]);
    run_args(
        &["patch", "/x", "--merge", "{}", "--json-patch", "[]"],
        None,
        &[],
    )
    .await
    .expect_code(2)
    .error_line(&["cannot be used with"]);
}

#[tokio::test]
async fn a_bad_url_is_exit_2() {
    run_args(&["--zk", "zookeeper://h:notaport/x", "get", "a"], None, &[])
        .await
        .expect_code(2)
        .error_line(&["url"]);
}

#[tokio::test]
async fn a_bad_dir_is_exit_2() {
    let zk = shared_zk().await;
    run(&zk, &["get", "/a//b"])
        .await
        .expect_code(2)
        .error_line(&["/a//b"]);
}

#[tokio::test]
async fn help_documents_the_exit_codes() {
    let out = run_args(&["--help"], None, &[]).await;
    out.success();
    for line in [
        "0  success",
        "1  any other runtime error",
        "2  usage error or invalid input",
        "3  version conflict",
        "4  not found",
        "5  ZooKeeper unreachable",
        "6  rollout incomplete",
    ] {
        assert!(out.stdout.contains(line), "{line:?} missing\n{out}");
    }
}

#[tokio::test]
async fn every_command_refuses_unknown_flags_and_garbage_arguments_with_exit_2() {
    for command in [
        "get",
        "set",
        "patch",
        "edit",
        "watch",
        "listeners",
        "ls",
        "rm",
    ] {
        run_args(&[command, "--no-such-flag", "/x"], None, &[])
            .await
            .expect_code(2)
            .error_line(&["--no-such-flag"]);
        run_args(&[command, "/x", "{", "\u{1}garbage", "]]"], None, &[])
            .await
            .expect_code(2)
            .error_line(&["unexpected argument"]);
    }
}

#[tokio::test]
async fn garbage_json_in_every_json_argument_is_exit_2_with_line_and_column() {
    for args in [
        &["set", "/x", "{\"a\": tru}"][..],
        &["patch", "/x", "--merge", "{\"a\": tru}"][..],
        &["patch", "/x", "--json-patch", "[{\"op\": }]"][..],
    ] {
        run_args(args, None, &[])
            .await
            .expect_code(2)
            .error_line(&["line 1", "column"]);
    }
}

#[tokio::test]
async fn bare_zkstate_prints_the_help_on_stderr_and_exits_2() {
    let out = run_args(&[], None, &[]).await;
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("Usage: zkstate"), "{out}");
    assert!(out.stderr.contains("\nCommands:\n"), "{out}");
    assert!(out.stderr.contains("Exit codes:"), "{out}");
    assert!(
        out.stderr.lines().count() > 20,
        "the whole help, not one line\n{out}"
    );
}

#[tokio::test]
async fn completions_and_the_man_page_are_generated_without_zookeeper() {
    for (shell, marker) in [
        ("bash", "_zkstate()"),
        ("zsh", "#compdef zkstate"),
        ("fish", "complete -c zkstate"),
    ] {
        let out = run_args(&["completions", shell], None, &[]).await;
        out.success();
        assert!(out.stdout.contains(marker), "{shell}\n{out}");
        assert!(out.stdout.contains("rollback"), "every subcommand\n{out}");
    }
    let out = run_args(&["man"], None, &[]).await;
    out.success();
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH zkstate"),
        "{out}"
    );
    assert!(out.stdout.contains("history"), "{out}");
    run_args(&["completions", "tcsh"], None, &[])
        .await
        .expect_code(2);
}
