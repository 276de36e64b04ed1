//! A node planted in a state's lock queue: writes fail at once naming it and the command that
//! removes it; `zkstate unlock` removes it (and only such nodes) and writes work again. A planted
//! listener record is shown apart and never counted by `rollout`.

mod common;

use common::*;

const PLANTED: &str = "_c_00000000-0000-0000-0000-000000000000-lock-0000000000";

#[tokio::test]
async fn a_planted_lock_node_fails_writes_at_once_and_unlock_removes_it() {
    let zk = shared_zk().await;
    let dir = unique_dir("unlock");
    create_state(&zk, &dir, r#"{"n":1}"#).await;
    let planted = format!("{dir}/lock/{PLANTED}");
    raw_create(&zk, &planted, b"").await;

    // --timeout far beyond the test's own bound: the refusal is not a lock timeout.
    run(&zk, &["--timeout", "300", "set", &dir, r#"{"n":2}"#])
        .await
        .expect_code(1)
        .error_line(&[&format!(
            "lock node {planted} is not held by a live session; remove it with: zkstate unlock {dir}"
        )]);
    assert_eq!(payload(&zk, &dir).await, (serde_json::json!({"n": 1}), 0));

    let unlocked = run(&zk, &["unlock", &dir]).await;
    unlocked.success();
    assert_eq!(unlocked.stdout, format!("{planted}\n"), "{unlocked}");
    let again = run(&zk, &["unlock", &dir]).await;
    again.success();
    assert_eq!(again.stdout, "", "nothing left to remove\n{again}");

    run(&zk, &["set", &dir, r#"{"n":2}"#]).await.success();
    assert_eq!(payload(&zk, &dir).await, (serde_json::json!({"n": 2}), 1));
}

#[tokio::test]
async fn a_planted_listener_record_is_marked_and_not_counted() {
    let zk = shared_zk().await;
    let dir = unique_dir("planted-listener");
    create_state(&zk, &dir, "[1]").await;
    raw_mkdir(&zk, &format!("{dir}/listeners")).await;
    let body = br#"{"id":"ghost","hostname":"nowhere","pid":1,"started_at_ms":1}"#;
    raw_create(&zk, &format!("{dir}/listeners/ghost"), body).await;

    let listed = run(&zk, &["listeners", &dir]).await;
    listed.success();
    assert!(
        listed
            .stdout
            .contains("ghost (planted: no session holds it)"),
        "{listed}"
    );
    let json = run(&zk, &["listeners", &dir, "--json"]).await;
    json.success();
    assert_eq!(json.json()[0]["planted"], true, "{json}");

    let rollout = run(&zk, &["rollout", &dir, "--json"]).await;
    rollout.success();
    let status = rollout.json();
    assert_eq!(status["total"], 0, "{rollout}");
    assert_eq!(status["complete"], true, "{rollout}");
}
