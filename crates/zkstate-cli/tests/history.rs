//! `zkstate history`, `get --version`, `diff` and `rollback`: the worked example of the README
//! (set, a bad set, history, diff, rollback), messages, the JSON forms and every exit code.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn history_lists_each_write_with_its_author_message_and_change() {
    let zk = shared_zk().await;
    let dir = unique_dir("history-list");
    create_state(&zk, &dir, r#"{"limit":10}"#).await;
    run(
        &zk,
        &["set", &dir, r#"{"limit":20}"#, "-m", "raise the limit"],
    )
    .await
    .success();
    run(
        &zk,
        &[
            "patch",
            &dir,
            "--merge",
            r#"{"tags":["a"]}"#,
            "--message",
            "tag it",
        ],
    )
    .await
    .success();

    let out = run(&zk, &["history", &dir]).await;
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("2  20"), "{out}");
    assert!(
        lines[0].contains("zkstate") && lines[0].contains(" cli"),
        "{out}"
    );
    assert!(lines[0].contains("+1 ~0 -0 /tags"), "{out}");
    assert!(lines[0].contains("\"tag it\""), "{out}");
    assert!(
        lines[1].starts_with("1  ") && lines[1].contains("~1"),
        "{out}"
    );
    assert!(lines[1].contains("\"raise the limit\""), "{out}");

    let out = run(&zk, &["history", &dir, "--json", "--limit", "1"]).await;
    out.success();
    let array = out.json();
    let entry = &array[0];
    assert_eq!(array.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(entry["version"], 2);
    assert!(
        entry["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{out}"
    );
    assert_eq!(entry["author"]["tool"], "cli");
    assert_eq!(entry["author"]["program"], "zkstate");
    assert!(entry["author"]["pid"].is_u64() && entry["author"]["identity"].is_null());
    assert_eq!(entry["message"], "tag it");
    assert_eq!(entry["outside"], false);
    assert_eq!(entry["rollback_of"], serde_json::Value::Null);
    assert_eq!(
        (
            &entry["changes"]["added"],
            &entry["changes"]["modified"],
            &entry["changes"]["removed"]
        ),
        (&json!(1), &json!(0), &json!(0))
    );
}

#[tokio::test]
async fn a_bad_change_is_seen_diffed_and_rolled_back_in_one_command() {
    let zk = shared_zk().await;
    let dir = unique_dir("history-undo");
    create_state(&zk, &dir, r#"{"workers":4,"mode":"safe"}"#).await;
    run(
        &zk,
        &["set", &dir, r#"{"workers":0,"mode":"safe"}"#, "-m", "oops"],
    )
    .await
    .success();

    let out = run(&zk, &["get", &dir, "--version", "0"]).await;
    out.success();
    assert_eq!(out.json(), json!({"workers": 4, "mode": "safe"}));

    let out = run(&zk, &["diff", &dir, "0"]).await;
    out.success();
    assert_eq!(out.stdout, "~ .workers 4 -> 0\n", "{out}");
    let out = run(&zk, &["diff", &dir, "0", "1", "--json"]).await;
    out.success();
    assert_eq!(
        out.json(),
        json!({"version": 1, "op": "modified", "path": ["workers"], "old": 4, "new": 0})
    );

    let out = run(&zk, &["rollback", &dir, "--to", "0", "-m", "undo oops"]).await;
    out.success();
    assert_eq!(out.stderr, "version 2\n", "{out}");
    assert_eq!(
        payload(&zk, &dir).await,
        (json!({"workers": 4, "mode": "safe"}), 2)
    );
    let out = run(&zk, &["history", &dir, "--json"]).await;
    let newest = &out.json()[0];
    assert_eq!(
        (&newest["version"], &newest["rollback_of"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(newest["message"], "undo oops");
    let out = run(&zk, &["history", &dir]).await;
    assert!(
        out.stdout
            .lines()
            .next()
            .is_some_and(|l| l.contains("(rollback of 0)")),
        "{out}"
    );
}

#[tokio::test]
async fn a_version_not_kept_is_exit_4_and_a_stale_if_version_exit_3() {
    let zk = shared_zk().await;
    let dir = unique_dir("history-codes");
    create_state(&zk, &dir, "1").await;
    run(&zk, &["set", &dir, "2"]).await.success();

    run(&zk, &["get", &dir, "--version", "7"])
        .await
        .expect_code(4)
        .error_line(&["version 7", "not kept"]);
    run(&zk, &["diff", &dir, "7"]).await.expect_code(4);
    run(&zk, &["rollback", &dir, "--to", "7"])
        .await
        .expect_code(4)
        .error_line(&["version 7", "not kept"]);
    run(&zk, &["rollback", &dir, "--to", "0", "--if-version", "0"])
        .await
        .expect_code(3)
        .error_line(&["version conflict", "nothing written"]);
    assert_eq!(payload(&zk, &dir).await, (json!(2), 1), "nothing written");
    run(&zk, &["rollback", &dir, "--to", "0", "--if-version", "1"])
        .await
        .success();
    assert_eq!(payload(&zk, &dir).await, (json!(1), 2));

    let missing = unique_dir("history-missing");
    run(&zk, &["history", &missing]).await.expect_code(4);
    run(&zk, &["get", &missing, "--version", "0"])
        .await
        .expect_code(4);
    run(&zk, &["rollback", &missing, "--to", "0"])
        .await
        .expect_code(4);
    run(&zk, &["get", &dir, "--version", "-1"])
        .await
        .expect_code(2);
    run(&zk, &["get", &dir, "--version", "0", "--raw"])
        .await
        .expect_code(2);
}

#[tokio::test]
async fn an_outside_write_and_a_gap_show_in_the_history() {
    let zk = shared_zk().await;
    let dir = unique_dir("history-gap");
    create_state(&zk, &dir, "0").await;
    run(&zk, &["set", &dir, "1"]).await.success();
    let path = format!("{dir}/payload");
    raw_set(&zk, &path, b"2").await;
    raw_set(&zk, &path, b"3").await;
    run(&zk, &["set", &dir, "4"]).await.success();

    let out = run(&zk, &["history", &dir]).await;
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].starts_with("3  ") && lines[1].contains("another tool"),
        "{out}"
    );
    assert_eq!(
        lines[2], "2  (written by another tool and overwritten unseen)",
        "{out}"
    );
    assert!(lines[3].contains("(value no longer reproducible)"), "{out}");
    let out = run(&zk, &["history", &dir, "--json"]).await;
    let array = out.json();
    assert_eq!(array[1]["outside"], true);
    assert_eq!(array[2], json!({"gap": true, "from": 2, "to": 2}));
}

#[tokio::test]
async fn rm_removes_the_history_with_the_state() {
    let zk = shared_zk().await;
    let dir = unique_dir("history-rm");
    create_state(&zk, &dir, "0").await;
    run(&zk, &["set", &dir, "1"]).await.success();
    assert!(exists(&zk, &format!("{dir}/history")).await);
    run(&zk, &["rm", &dir, "--yes"]).await.success();
    assert!(!exists(&zk, &dir).await);
}
