//! `zkstate set`: from an argument and from stdin, `--create`, a missing state,
//! `--if-version`.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn set_create_makes_the_layout() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-create");
    let out = run(&zk, &["set", "--create", &dir, r#"{"a":1}"#]).await;
    out.success();
    assert_eq!(out.stderr, "version 0\n", "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
    for node in ["listeners", "lock", "writers"] {
        assert!(exists(&zk, &format!("{dir}/{node}")).await, "{node}");
    }
    // --create on an existing state writes as usual.
    let out = run(&zk, &["set", "--create", &dir, r#"{"a":2}"#]).await;
    out.success();
    assert_eq!(out.stderr, "version 1\n", "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 2}), 1));
}

#[tokio::test]
async fn set_replaces_the_whole_payload() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-replace");
    create_state(&zk, &dir, r#"{"a":1,"b":2}"#).await;
    let out = run(&zk, &["set", &dir, r#"{"c":[3]}"#]).await;
    out.success();
    assert_eq!(out.stderr, "version 1\n", "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!({"c": [3]}), 1));
    // A one-shot command leaves no listener record or commit marker behind.
    let client = raw_client(&zk).await;
    for node in ["listeners", "writers"] {
        let children = client.list_children(&format!("{dir}/{node}")).await;
        assert_eq!(children, Ok(vec![]), "{node}");
    }
}

#[tokio::test]
async fn set_reads_stdin_when_no_json_or_dash() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-stdin");
    create_state(&zk, &dir, "0").await;
    run_with(&zk, &["set", &dir], Some("[1, 2]\n"), &[])
        .await
        .success();
    assert_eq!(payload(&zk, &dir).await.0, json!([1, 2]));
    run_with(&zk, &["set", &dir, "-"], Some(r#"{"x": null}"#), &[])
        .await
        .success();
    assert_eq!(payload(&zk, &dir).await.0, json!({"x": null}));
}

#[tokio::test]
async fn set_on_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-missing");
    run(&zk, &["set", &dir, "1"])
        .await
        .expect_code(4)
        .error_line(&[&dir, "does not exist"]);
    assert!(
        !exists(&zk, &dir).await,
        "set without --create created {dir}"
    );
}

#[tokio::test]
async fn set_if_version_writes_at_that_version() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-if-version");
    create_state(&zk, &dir, "0").await;
    let out = run(&zk, &["set", "--if-version", "0", &dir, "1"]).await;
    out.success();
    assert_eq!(out.stderr, "version 1\n", "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!(1), 1));
}

#[tokio::test]
async fn set_if_version_conflict_is_exit_3_and_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-conflict");
    create_state(&zk, &dir, r#""first""#).await;
    run(&zk, &["set", &dir, r#""second""#]).await.success();
    run(&zk, &["set", "--if-version", "0", &dir, r#""third""#])
        .await
        .expect_code(3)
        .error_line(&[
            "version conflict",
            &dir,
            "expected version 0",
            "holds version 1",
        ]);
    assert_eq!(payload(&zk, &dir).await, (json!("second"), 1));
}

#[tokio::test]
async fn set_create_and_if_version_are_exclusive() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-exclusive");
    run(&zk, &["set", "--create", "--if-version", "0", &dir, "1"])
        .await
        .expect_code(2)
        .error_line(&["cannot be used with"]);
}

#[tokio::test]
async fn set_repairs_a_payload_that_is_not_json() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-repair");
    create_state(&zk, &dir, r#"{"ok":true}"#).await;
    raw_set(&zk, &format!("{dir}/payload"), b"{broken").await;
    run(&zk, &["set", &dir, r#"{"ok":"again"}"#])
        .await
        .success();
    let (value, _) = payload(&zk, &dir).await;
    assert_eq!(value, serde_json::json!({"ok": "again"}));
}

#[tokio::test]
async fn a_negative_if_version_is_invalid_input_and_nothing_is_written() {
    let zk = shared_zk().await;
    let dir = unique_dir("set-negative");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    for version in ["-1", "-7"] {
        run(&zk, &["set", "--if-version", version, &dir, r#"{"a":2}"#])
            .await
            .expect_code(2)
            .error_line(&["--if-version", version]);
    }
    assert_eq!(payload(&zk, &dir).await, (serde_json::json!({"a": 1}), 0));
}

/// `--timeout` bounds the wait for the state's lock too (not the library's 30 s default), and a
/// lock held by another writer all that time says so: exit 1, nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_writer_fails_after_timeout_with_exit_1_and_says_so() {
    use std::time::{Duration, Instant};

    use zookeeper_client::{Acls, LockOptions, LockPrefix};

    let zk = shared_zk().await;
    let dir = unique_dir("set-lock-held");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    // Another writer (Curator's InterProcessMutex recipe) holds the lock.
    let client = raw_client(&zk).await;
    let layout = zkstate::layout::Layout::new(&dir);
    let prefix =
        LockPrefix::new_curator(&layout.lock, zkstate::layout::LOCK_NAME).expect("a lock prefix");
    let held = client
        .lock(prefix, b"other", LockOptions::new(Acls::anyone_all()))
        .await
        .expect("the lock");

    for args in [
        &["--timeout", "2", "set", &dir, r#"{"a":2}"#][..],
        &["--timeout", "2", "patch", &dir, "--merge", r#"{"a":3}"#][..],
    ] {
        let started = Instant::now();
        let out = run(&zk, args).await;
        let took = started.elapsed();
        out.expect_code(1).error_line(&[
            &dir,
            "the state's lock is held by another writer",
            "waited 2s",
            "nothing written",
        ]);
        assert!(
            took < Duration::from_secs(20),
            "{args:?} waited {took:?}: --timeout does not bound the lock wait\n{out}"
        );
    }
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));

    // Released: the write goes through.
    drop(held);
    run(&zk, &["--timeout", "2", "set", &dir, r#"{"a":2}"#])
        .await
        .success();
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 2}), 1));
}
