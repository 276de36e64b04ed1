//! Other tools touch the tree: a write never lands on a value it did not read, a negative version
//! is refused, a deleted and re-created state gets its records back, and a handler that holds its
//! own state does not keep it open.

mod common;

use std::time::Duration;

use common::{connect, eventually, raw_client, remove_tree, shared_server, soon, unique_dir};
use serde_json::{json, Value};
use zkstate::{Error, StateEvent, StateOptions, ZkState};
use zkstate_testing::FaultProxy;

fn payload_of(dir: &str) -> String {
    format!("{dir}/payload")
}

async fn stored(client: &zookeeper_client::Client, dir: &str) -> (Value, zookeeper_client::Stat) {
    let (data, stat) = client.get_data(&payload_of(dir)).await.expect("read");
    (serde_json::from_slice(&data).expect("json"), stat)
}

#[tokio::test]
async fn a_negative_version_is_invalid_input_and_nothing_is_written() {
    let server = shared_server().await;
    let dir = unique_dir("negative-version");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!({"a": 1}))
        .await
        .expect("state");
    for version in [-1, -2, i32::MIN] {
        let err = state
            .replace_at(version, json!({"a": 2}))
            .await
            .expect_err("a negative version is refused");
        assert!(
            matches!(err, Error::InvalidVersion { version: v, .. } if v == version),
            "{err:?}"
        );
    }
    let raw = raw_client(&server.connect_string()).await;
    let (value, stat) = stored(&raw, &dir).await;
    assert_eq!(
        (value, stat.version),
        (json!({"a": 1}), 0),
        "nothing written"
    );
    // A local-only state refuses it too.
    let local = ZkState::empty(json!(1)).expect("empty");
    assert!(matches!(
        local.replace_at(-1, json!(2)).await,
        Err(Error::InvalidVersion { .. })
    ));
    state.close().await;
}

/// The payload deleted and re-created by an outside actor, and written until its version is the
/// one this instance last saw, while this instance was cut off: the instance's update does not
/// land on the new incarnation as if it were the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_based_on_an_old_incarnation_never_overwrites_the_new_one() {
    let server = shared_server().await;
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let dir = unique_dir("incarnation");
    let conn = connect(&proxy.connect_string()).await;
    let options = StateOptions::default().with_listener_record(false);
    let state = ZkState::<Value>::with_options(&conn, &dir, json!({"who": "old"}), options)
        .await
        .expect("state");
    for i in 0..2 {
        state.update(|v| v["n"] = json!(i)).await.expect("update");
    }
    assert_eq!(state.version(), 2);
    let old_czxid = state.freshness().czxid;

    // Cut off (briefly: the session stays), the actor replaces the payload by a new incarnation
    // at the same version.
    proxy.blackhole();
    let raw = raw_client(&server.connect_string()).await;
    raw.delete(&payload_of(&dir), None).await.expect("delete");
    raw.create(
        &payload_of(&dir),
        br#"{"who":"new"}"#,
        &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
    )
    .await
    .expect("re-create");
    for i in 0..2 {
        let body = format!(r#"{{"who":"new","m":{i}}}"#);
        raw.set_data(&payload_of(&dir), body.as_bytes(), None)
            .await
            .expect("write the new incarnation");
    }
    let (_, stat) = stored(&raw, &dir).await;
    assert_eq!(
        stat.version, 2,
        "the new incarnation is at the version the instance saw"
    );
    assert_ne!(stat.czxid, old_czxid);
    proxy.pass();

    // The update that started from the old incarnation fails as stale, or (when the sync task
    // had caught up first) runs on the new value: either way the new value is its base.
    let result = state.update(|v| v["touched"] = json!(true)).await;
    match result {
        Err(Error::StaleWrite { local, remote, .. }) => {
            assert_eq!((local, remote), (2, Some(2)));
            let (value, _) = stored(&raw, &dir).await;
            assert_eq!(value, json!({"who": "new", "m": 1}), "nothing written");
        }
        Ok(_) => {}
        Err(err) => panic!("unexpected error: {err}"),
    }
    // The re-reading update starts from the new incarnation.
    state
        .update_latest(|v| v["touched"] = json!(true))
        .await
        .expect("update_latest");
    let (value, stat) = stored(&raw, &dir).await;
    assert_eq!(
        value["who"],
        json!("new"),
        "the new incarnation was not overwritten"
    );
    assert_eq!(value["m"], json!(1));
    assert_eq!(value["touched"], json!(true));
    assert!(
        value.get("n").is_none(),
        "nothing of the old incarnation came back"
    );
    assert_eq!(state.freshness().czxid, stat.czxid);
    state.close().await;
}

#[tokio::test]
async fn a_handler_holding_a_weak_handle_stops_with_the_last_handle() {
    let server = shared_server().await;
    let dir = unique_dir("weak-handler");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!(0)).await.expect("state");
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let weak = state.downgrade();
    state.update_handler(move |event| {
        if let StateEvent::Changed(batch) = event {
            // The handler reaches its own state without keeping it open.
            let version = weak.upgrade().map(|s| s.version());
            let _ = seen_tx.send((batch.version, version));
        }
    });
    state.update(|v| *v = json!(1)).await.expect("update");
    let (batch, through_weak) = soon("the handler to run", seen.recv())
        .await
        .expect("an event");
    assert_eq!((batch, through_weak), (1, Some(1)));

    // Dropping the last handle stops the handler task: its sender is dropped with it.
    let raw = raw_client(&server.connect_string()).await;
    let record = format!("{dir}/listeners/{}", state.id());
    drop(state);
    assert_eq!(
        soon("the handler to stop", seen.recv()).await,
        None,
        "the handler task ended"
    );
    eventually("the listener record to go", || async {
        matches!(raw.check_stat(&record).await, Ok(None))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_deleted_and_recreated_gets_its_listener_records_back_in_the_same_session() {
    let server = shared_server().await;
    let dir = unique_dir("recreated-dir");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!({"v": 1}))
        .await
        .expect("state");
    let session = conn.session_id();
    eventually("the record to exist", || async {
        matches!(state.listeners().await.as_deref(), Ok([_]))
    })
    .await;
    let mut changes = state.subscribe();

    // An operator removes the whole state (zkCli.sh deleteall), then another tool re-creates
    // the directory and a payload, without the layout's other nodes.
    let raw = raw_client(&server.connect_string()).await;
    delete_all(&raw, &dir).await;
    let listeners_err = state.listeners().await.expect_err("no listeners node");
    assert!(
        matches!(&listeners_err, Error::Missing { path } if path == &format!("{dir}/listeners")),
        "the error names the listeners node: {listeners_err:?}"
    );
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.create(&dir, b"", &open)
        .await
        .expect("re-create the dir");
    raw.create(&payload_of(&dir), br#"{"v":2}"#, &open)
        .await
        .expect("re-create the payload");

    // The instance sees the new payload and registers its record again.
    loop {
        match common::next("the new payload", &mut changes).await {
            StateEvent::Changed(batch) if batch.value() == &json!({"v": 2}) => break,
            _ => continue,
        }
    }
    eventually("the record to come back", || async {
        matches!(state.listeners().await.as_deref(), Ok([l]) if l.id == state.id())
    })
    .await;
    assert_eq!(conn.session_id(), session, "no new session was needed");
    // Updates work on the re-created state (the lock and writers nodes come back as needed).
    state
        .update_latest(|v| v["v"] = json!(3))
        .await
        .expect("update after re-creation");
    let (value, _) = stored(&raw, &dir).await;
    assert_eq!(value, json!({"v": 3}));
    state.close().await;
    tokio::time::sleep(Duration::ZERO).await;
}

async fn delete_all(client: &zookeeper_client::Client, dir: &str) {
    // Deepest first; ephemeral nodes of live sessions included.
    let mut nodes = vec![dir.to_string()];
    let mut i = 0;
    while i < nodes.len() {
        let node = nodes[i].clone();
        if let Ok(children) = client.list_children(&node).await {
            nodes.extend(children.into_iter().map(|c| format!("{node}/{c}")));
        }
        i += 1;
    }
    for node in nodes.iter().rev() {
        match client.delete(node, None).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
            Err(err) => panic!("delete {node}: {err}"),
        }
    }
}

#[tokio::test]
async fn an_update_after_the_state_was_removed_fails_and_does_not_bring_the_directory_back() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("removed");
    let state = ZkState::new(&conn, &dir, json!({"n": 0}))
        .await
        .expect("state");
    state
        .update(|v| v["n"] = json!(1))
        .await
        .expect("a first write: lock and marker exist");
    let raw = raw_client(&server.connect_string()).await;
    // What `zkstate rm` does: every node under the directory, then the directory.
    remove_tree(&raw, &dir).await;
    assert!(raw.check_stat(&dir).await.expect("stat").is_none());

    let result = state.update_latest(|v| v["n"] = json!(2)).await;
    assert!(
        matches!(result, Err(Error::Missing { .. })),
        "expected Missing, got {result:?}"
    );
    assert!(
        raw.check_stat(&dir).await.expect("stat").is_none(),
        "the update re-created the removed directory"
    );
}
