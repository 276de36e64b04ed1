//! `zkstate rollout` and `--wait-rollout`: which live instances have applied a version, from the
//! version each reports in its listener record; exit 6 naming the laggards.

mod common;

use common::*;
use zookeeper_client::{Acls, CreateMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_counts_the_instances_that_applied_a_version_and_waits_for_them() {
    let zk = shared_zk().await;
    let dir = unique_dir("rollout");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let a = Running::watch(&zk, &dir, &[]).await;
    let b = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 2).await;

    // A write, then the wait until both instances report it.
    let out = run(&zk, &["set", "--wait-rollout=30", &dir, r#"{"n":1}"#]).await;
    out.success();
    assert!(
        out.stderr.contains("version 1 applied by 2/2 instances"),
        "{out}"
    );

    let out = run(&zk, &["rollout", &dir]).await;
    out.success();
    assert_eq!(
        out.stdout.trim(),
        "version 1: 2/2 instances applied",
        "{out}"
    );
    let out = run(&zk, &["rollout", "--json", &dir]).await;
    out.success();
    let status = out.json();
    assert_eq!(status["complete"], serde_json::json!(true));
    assert_eq!(
        (status["applied"].as_u64(), status["total"].as_u64()),
        (Some(2), Some(2))
    );

    // `listeners` shows what each applied.
    let out = run(&zk, &["listeners", &dir]).await;
    out.success();
    let header = out.stdout.lines().next().unwrap_or("");
    assert!(header.ends_with("APPLIED"), "{out}");
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "one row per live instance\n{out}");
    assert!(rows.iter().all(|l| l.trim_end().ends_with(" 1")), "{out}");

    // patch and edit wait too.
    let out = run(
        &zk,
        &["patch", &dir, "--wait-rollout", "--merge", r#"{"n":2}"#],
    )
    .await;
    out.success();
    assert!(
        out.stderr.contains("version 2 applied by 2/2 instances"),
        "{out}"
    );
    a.kill().await;
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laggard_makes_rollout_exit_6_naming_it_and_what_it_holds() {
    let zk = shared_zk().await;
    let dir = unique_dir("rollout-laggard");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let live = Running::watch(&zk, &dir, &[]).await;
    // Two frozen instances: one that reports version 0 forever, one of an older zkstate that
    // reports nothing. Their records are ephemeral nodes of this session.
    let client = raw_client(&zk).await;
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    client
        .create(
            &format!("{dir}/listeners/frozen"),
            br#"{"id":"frozen","hostname":"host-a","pid":1234,"started_at_ms":1,"applied_version":0,"applied_mzxid":1}"#,
            &ephemeral,
        )
        .await
        .expect("frozen record");
    client
        .create(
            &format!("{dir}/listeners/old"),
            br#"{"id":"old","hostname":"host-b","pid":99,"started_at_ms":1}"#,
            &ephemeral,
        )
        .await
        .expect("old record");
    wait_listeners(&zk, &dir, 3).await;

    let out = run(&zk, &["set", "--wait-rollout=2", &dir, r#"{"n":1}"#]).await;
    out.expect_code(6);
    // Progress lines first, then the one error line.
    let last = out.stderr.lines().last().unwrap_or("");
    for part in [
        "zkstate: version 1 written",
        "incomplete",
        "1/3 instances applied",
        "host-a pid 1234 (on 0)",
        "host-b pid 99 (on ?)",
    ] {
        assert!(
            last.contains(part),
            "{part:?} missing from the last line\n{out}"
        );
    }
    assert_eq!(payload(&zk, &dir).await.1, 1, "the write was made");

    let out = run(&zk, &["--timeout", "1", "rollout", "--wait", &dir]).await;
    out.expect_code(6);
    let last = out.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("zkstate: rollout of") && last.contains("host-a pid 1234 (on 0)"),
        "{out}"
    );
    assert!(
        out.stdout
            .starts_with("version 1: 1/3 instances applied; waiting for "),
        "{out}"
    );
    // Without --wait: the status, exit 6 while incomplete.
    run(&zk, &["rollout", &dir]).await.expect_code(6);

    // The frozen instances go: the rollout completes.
    drop(client);
    wait_listeners(&zk, &dir, 1).await;
    run(&zk, &["rollout", "--wait", &dir]).await.success();
    // A version ZooKeeper does not hold yet is not complete.
    let out = run(&zk, &["rollout", "--version", "5", &dir]).await;
    out.expect_code(6);
    assert!(out.stdout.contains("zookeeper holds version 1"), "{out}");
    live.kill().await;
}

/// `--wait-rollout` takes the value after it as its timeout: a JSON there is a usage error, never
/// the value written, and `set DIR --wait-rollout 60` reads the JSON from stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_after_wait_rollout_is_its_timeout_never_the_json_written() {
    let zk = shared_zk().await;
    let dir = unique_dir("rollout-flag");
    create_state(&zk, &dir, r#"{"n":0}"#).await;

    let out = run(&zk, &["set", &dir, "--wait-rollout", r#"{"n":1}"#]).await;
    out.expect_code(2)
        .error_line(&["--wait-rollout", "--wait-rollout 30"]);
    let out = run(&zk, &["set", &dir, "--wait-rollout", "60"]).await;
    out.expect_code(2).error_line(&["invalid JSON in stdin"]);
    assert_eq!(
        payload(&zk, &dir).await,
        (serde_json::json!({"n": 0}), 0),
        "nothing written"
    );

    let out = run_with(
        &zk,
        &["set", &dir, "--wait-rollout", "60"],
        Some(r#"{"n":2}"#),
        &[],
    )
    .await;
    out.success();
    assert_eq!(payload(&zk, &dir).await, (serde_json::json!({"n": 2}), 1));

    // Durations as kubectl and etcdctl take them, for the wait and the global timeout.
    let out = run(
        &zk,
        &[
            "--timeout",
            "2m",
            "set",
            &dir,
            r#"{"n":3}"#,
            "--wait-rollout=20s",
        ],
    )
    .await;
    out.success();
    assert_eq!(payload(&zk, &dir).await, (serde_json::json!({"n": 3}), 2));
    run(&zk, &["--timeout", "500ms", "get", &dir])
        .await
        .success();
    run(&zk, &["--timeout", "5 parsecs", "get", &dir])
        .await
        .expect_code(2);
}

#[tokio::test]
async fn rollout_of_a_missing_state_is_exit_4_naming_the_state_directory() {
    let zk = shared_zk().await;
    let missing = unique_dir("rollout-missing");
    for args in [
        &["rollout", &missing][..],
        &["rollout", "--wait", &missing][..],
    ] {
        run(&zk, args).await.expect_code(4).error_line(&[
            "state directory",
            &missing,
            "does not exist",
        ]);
    }
}

/// No live instance: the rollout is complete (exit 0, 0/0), and a warning on stderr says that
/// there was nobody to wait for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_with_no_live_instance_is_complete_and_warns_on_stderr() {
    let zk = shared_zk().await;
    let dir = unique_dir("rollout-nobody");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let warning = format!("zkstate: warning: no live instance holds {dir}; nothing to wait for");

    for args in [
        &["rollout", &dir][..],
        &["rollout", "--wait", &dir][..],
        &["rollout", "--json", &dir][..],
    ] {
        let out = run(&zk, args).await;
        out.success();
        assert!(out.stderr.lines().any(|l| l == warning), "{out}");
    }
    let out = run(&zk, &["rollout", &dir]).await;
    assert_eq!(
        out.stdout.trim(),
        "version 0: 0/0 instances applied",
        "{out}"
    );

    let out = run(&zk, &["set", &dir, r#"{"n":1}"#, "--wait-rollout"]).await;
    out.success();
    assert!(out.stderr.lines().any(|l| l == warning), "{out}");
    assert!(
        out.stderr.contains("version 1 applied by 0/0 instances"),
        "{out}"
    );

    // With a live instance, no warning.
    let live = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 1).await;
    let out = run(&zk, &["rollout", "--wait", &dir]).await;
    out.success();
    assert!(!out.stderr.contains("warning"), "{out}");
    live.kill().await;
}
