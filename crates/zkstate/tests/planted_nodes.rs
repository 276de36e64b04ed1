//! Nodes planted by another client cannot stall the fleet: a persistent node in the lock queue is
//! reported at once (not waited on) and `unlock` removes it without touching live contenders; a
//! persistent listener record is no instance and never counted by rollouts.

mod common;

use std::time::Duration;

use common::{connect, raw_client, shared_server, unique_dir};
use serde_json::json;
use zkstate::{Error, StateOptions, ZkState};
use zookeeper_client::{Acls, CreateMode};

/// A name like a contender's, with a sequence lower than any the server will give.
const PLANTED: &str = "_c_00000000-0000-0000-0000-000000000000-lock-0000000000";

#[tokio::test]
async fn a_persistent_lock_node_is_reported_at_once_and_unlock_removes_only_it() {
    let server = shared_server().await;
    let dir = unique_dir("planted-lock");
    let conn = connect(&server.connect_string()).await;
    // A lock timeout far beyond the test's own bounds: the refusal cannot be a timeout.
    let options = StateOptions::default().with_lock_timeout(Duration::from_secs(600));
    let state = ZkState::with_options(&conn, &dir, json!({"n": 0}), options)
        .await
        .expect("state");
    state
        .update(|v| v["n"] = json!(1))
        .await
        .expect("a first write");

    let raw = raw_client(&server.connect_string()).await;
    let planted = format!("{dir}/lock/{PLANTED}");
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create(&planted, b"", &persistent).await.expect("plant");
    // Planted with a child, so that it cannot be deleted as it is.
    raw.create(&format!("{planted}/inside"), b"", &persistent)
        .await
        .expect("plant below");
    // A live contender of another client, ephemeral, queued after any of ours: never touched.
    let live = format!("{dir}/lock/_c_11111111-1111-1111-1111-111111111111-lock-9999999999");
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    raw.create(&live, b"", &ephemeral).await.expect("live node");
    // Another tool's node in the directory, not named like a contender: it blocks nothing.
    let other = format!("{dir}/lock/leases");
    raw.create(&other, b"", &persistent)
        .await
        .expect("other node");

    let refused =
        tokio::time::timeout(Duration::from_secs(30), state.update(|v| v["n"] = json!(2)))
            .await
            .expect("answered, not waited on");
    match refused {
        Err(Error::LockNotHeld { path }) => assert_eq!(path, planted),
        other => panic!("expected LockNotHeld naming the planted node, got {other:?}"),
    }
    let (data, stat) = raw.get_data(&format!("{dir}/payload")).await.expect("read");
    assert_eq!(
        (
            serde_json::from_slice::<serde_json::Value>(&data).expect("json"),
            stat.version
        ),
        (json!({"n": 1}), 1),
        "nothing written"
    );

    let removed = zkstate::unlock(&conn, &dir).await.expect("unlock");
    assert_eq!(removed, vec![planted.clone()]);
    assert!(
        raw.check_stat(&live).await.expect("stat").is_some(),
        "the live node stays"
    );
    assert_eq!(
        zkstate::unlock(&conn, &dir).await.expect("again"),
        Vec::<String>::new()
    );

    let version = state
        .update(|v| v["n"] = json!(2))
        .await
        .expect("writes work again");
    assert_eq!(version, 2);
    state.close().await;
}

#[tokio::test]
async fn unlock_of_a_state_without_a_lock_directory_removes_nothing() {
    let server = shared_server().await;
    let dir = unique_dir("unlock-nothing");
    let conn = connect(&server.connect_string()).await;
    assert_eq!(
        zkstate::unlock(&conn, &dir).await.expect("unlock"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_persistent_listener_record_is_listed_as_planted_and_never_counted() {
    let server = shared_server().await;
    let dir = unique_dir("planted-record");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!([1])).await.expect("state");
    let raw = raw_client(&server.connect_string()).await;
    let record = format!("{dir}/listeners/ghost");
    let body = br#"{"id":"ghost","hostname":"nowhere","pid":1,"started_at_ms":1}"#;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    raw.create(&record, body, &persistent).await.expect("plant");

    let listed = zkstate::list_listeners(&conn, &dir).await.expect("list");
    let ghost = listed.iter().find(|l| l.id == "ghost").expect("listed");
    assert!(ghost.planted);
    let ours = listed
        .iter()
        .find(|l| l.id == state.id())
        .expect("our record");
    assert!(!ours.planted);

    let version = state.version();
    let rollout = state
        .wait_rollout(version, Duration::from_secs(30))
        .await
        .expect("complete");
    assert_eq!(
        rollout.total, 1,
        "only the live instance counts: {rollout:?}"
    );
    let outside = zkstate::rollout(&conn, &dir, None).await.expect("rollout");
    assert!(outside.is_complete(), "{outside:?}");
    assert!(outside.pending.iter().all(|l| l.id != "ghost"));
    state.close().await;
}

#[tokio::test]
async fn history_nodes_planted_by_another_client_neither_block_writes_nor_mislead_readers() {
    let server = shared_server().await;
    let dir = unique_dir("planted-history");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, json!({"n": 0}))
        .await
        .expect("state");
    state.update(|v| v["n"] = json!(1)).await.expect("v1");
    let raw = raw_client(&server.connect_string()).await;
    let (_, stat) = raw
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("payload");
    // A node named as the next write's entry will be (its size too) holding no entry, one of
    // another incarnation, and one not named as an entry.
    let history = format!("{dir}/history");
    let next = zkstate_next_entry(&state, stat.czxid).await;
    let planted = [
        next.clone(),
        format!("0000000000-{:016x}-5", stat.czxid as u64 + 1),
        "README".to_string(),
    ];
    let create = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for name in &planted {
        raw.create(&format!("{history}/{name}"), b"junk", &create)
            .await
            .expect("plant");
    }
    let version = state
        .update(|v| v["n"] = json!(2))
        .await
        .expect("v2 is written");
    assert_eq!(version, 2);
    let items = state.history(10).await.expect("history");
    let versions: Vec<i32> = items
        .iter()
        .filter_map(|item| match item {
            zkstate::history::HistoryItem::Version(e) => Some(e.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, vec![2, 1]);
    assert_eq!(state.value_at(1).await.expect("v1"), json!({"n": 1}));
    let left = raw.list_children(&history).await.expect("list");
    assert!(
        left.contains(&"README".to_string()),
        "a name that is not an entry is not ours"
    );
    assert!(
        !left.contains(&planted[1]),
        "another incarnation's entry is removed"
    );
    state.close().await;
    conn.close().await;
}

/// The name the next write's entry will have: what the plan of a one-field change makes.
async fn zkstate_next_entry(state: &ZkState<serde_json::Value>, czxid: i64) -> String {
    // The entry of version 1 changed the same field the same way: the next one has its size.
    let items = state.history(1).await.expect("history");
    let Some(zkstate::history::HistoryItem::Version(entry)) = items.first() else {
        panic!("no entry");
    };
    format!(
        "{:010}-{:016x}-{}",
        entry.version + 1,
        czxid as u64,
        entry.bytes
    )
}
