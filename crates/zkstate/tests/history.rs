//! The history of a state (`zkstate::history`): one entry per committed version, written in the
//! write's transaction; who wrote it and why; values reproduced as they were; outside writes and
//! gaps; retention at both limits; rollbacks through the exactly-once write.

mod common;

use common::{connect, raw_client, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zkstate::history::{HistoryEntry, HistoryItem};
use zkstate::{Error, StateOptions, Tool, ZkState};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Limits {
    max: u32,
    tags: Vec<String>,
}

fn entries(items: &[HistoryItem]) -> Vec<&HistoryEntry> {
    items
        .iter()
        .filter_map(|item| match item {
            HistoryItem::Version(entry) => Some(entry),
            _ => None,
        })
        .collect()
}

fn versions(items: &[HistoryItem]) -> Vec<i32> {
    entries(items).iter().map(|e| e.version).collect()
}

async fn children(servers: &str, path: &str) -> Vec<String> {
    let raw = raw_client(servers).await;
    raw.list_children(path).await.expect("list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_recorded_with_its_author_message_and_change() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("history-writes");
    let options = StateOptions::default().with_program("limits-svc", Some("1.2.3".into()));
    let state = ZkState::with_options(&conn, &dir, Limits::default(), options)
        .await
        .expect("state");
    state.update(|l| l.max = 5).await.expect("update");
    state
        .with_message("room for the batch")
        .update_latest(|l| l.tags.push("batch".into()))
        .await
        .expect("update_latest");

    let history = state.history(10).await.expect("history");
    assert_eq!(
        versions(&history),
        vec![2, 1],
        "newest first, one per write"
    );
    let newest = entries(&history)[0];
    assert_eq!(newest.message.as_deref(), Some("room for the batch"));
    assert_eq!(newest.author.id.as_deref(), Some(state.id()));
    assert_eq!(newest.author.pid, Some(std::process::id()));
    assert_eq!(newest.author.program.as_deref(), Some("limits-svc"));
    assert_eq!(newest.author.program_version.as_deref(), Some("1.2.3"));
    assert_eq!(newest.author.tool, Some(Tool::Library));
    assert!(!newest.outside && newest.reproducible);
    let changes = newest.changes.as_ref().expect("a summary");
    assert_eq!(
        (changes.added, changes.modified, changes.removed),
        (1, 0, 0)
    );
    assert_eq!(changes.paths, vec!["/tags/0".to_string()]);
    assert!(newest.time_ms > 1_700_000_000_000, "the server's clock");

    for (version, expected) in [
        (0, json!({"max": 0, "tags": []})),
        (1, json!({"max": 5, "tags": []})),
        (2, json!({"max": 5, "tags": ["batch"]})),
    ] {
        let value = zkstate::value_at(&conn, &dir, version)
            .await
            .expect("value");
        assert_eq!(value, expected, "version {version}");
    }
    match zkstate::value_at(&conn, &dir, 9).await {
        Err(Error::NotKept { version: 9, .. }) => {}
        other => panic!("expected NotKept, got {other:?}"),
    }
    state.close().await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contending_writers_leave_one_entry_per_version_each_reproducible() {
    let server = shared_server().await;
    let dir = unique_dir("history-contention");
    let (a, b) = (
        connect(&server.connect_string()).await,
        connect(&server.connect_string()).await,
    );
    let sa = ZkState::new(&a, &dir, Limits::default()).await.expect("a");
    let sb = ZkState::new(&b, &dir, Limits::default()).await.expect("b");
    let writes = |state: ZkState<Limits>, name: &'static str| async move {
        for i in 0..15 {
            state
                .update_latest(|l| l.tags.push(format!("{name}{i}")))
                .await
                .expect("update");
        }
        state
    };
    let (sa, sb) = tokio::join!(writes(sa, "a"), writes(sb, "b"));

    let history = sa.history(100).await.expect("history");
    assert_eq!(versions(&history), (1..=30).rev().collect::<Vec<_>>());
    // Each version holds one more tag than the one before it, the tags of the current value.
    let current = sa.c_read().await.expect("c_read").tags.clone();
    for version in 0..=30 {
        let value: Limits =
            serde_json::from_value(sa.value_at(version).await.expect("value")).expect("fits");
        assert_eq!(value.tags, current[..version as usize], "version {version}");
    }
    sa.close().await;
    sb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_write_is_recorded_by_the_next_zkstate_write_and_a_gap_is_labelled() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("history-outside");
    let state = ZkState::new(&conn, &dir, json!({"n": 0}))
        .await
        .expect("state");
    state.update(|v| v["n"] = json!(1)).await.expect("update");

    // Another tool writes versions 2 and 3 straight to the payload.
    let raw = raw_client(&server.connect_string()).await;
    let payload = format!("{dir}/payload");
    raw.set_data(&payload, br#"{"n":2}"#, Some(1))
        .await
        .expect("v2");
    raw.set_data(&payload, br#"{"n":3,"raw":true}"#, Some(2))
        .await
        .expect("v3");
    let version = state
        .update_latest(|v| v["n"] = json!(4))
        .await
        .expect("update");
    assert_eq!(version, 4);

    let history = state.history(10).await.expect("history");
    match &history[..] {
        [HistoryItem::Version(four), HistoryItem::Version(three), HistoryItem::Gap { from: 2, to: 2 }, HistoryItem::Version(one)] =>
        {
            assert_eq!((four.version, three.version, one.version), (4, 3, 1));
            assert!(three.outside && three.author.id.is_none());
            assert!(four.reproducible && three.reproducible);
            assert!(!one.reproducible, "version 2 overwrote it unseen");
        }
        other => panic!("unexpected history {other:#?}"),
    }
    let three = zkstate::value_at(&conn, &dir, 3).await.expect("value of 3");
    assert_eq!(
        three,
        json!({"n": 3, "raw": true}),
        "the outside version, as it was"
    );
    match zkstate::value_at(&conn, &dir, 1).await {
        Err(Error::NotKept {
            version: 1, reason, ..
        }) => assert!(reason.contains("another tool")),
        other => panic!("expected NotKept, got {other:?}"),
    }
    state.close().await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_bounds_the_history_by_count_and_by_size_over_many_writes() {
    let server = shared_server().await;
    let servers = server.connect_string();
    let conn = connect(&servers).await;

    let by_count = unique_dir("history-count");
    let options = StateOptions::default().with_history(5, 1 << 20);
    let state = ZkState::with_options(&conn, &by_count, 0u64, options)
        .await
        .expect("state");
    let mut most = 0;
    for _ in 0..1000 {
        state.update(|n| *n += 1).await.expect("update");
        most = most.max(state.history(100).await.expect("history").len());
    }
    let history = state.history(100).await.expect("history");
    assert_eq!(versions(&history), vec![1000, 999, 998, 997, 996]);
    assert_eq!(most, 5, "never more than 5 entries");
    assert_eq!(
        children(&servers, &format!("{by_count}/history"))
            .await
            .len(),
        5
    );
    assert_eq!(
        state.value_at(995).await.expect("the oldest base"),
        json!(995)
    );
    state.close().await;

    let by_size = unique_dir("history-size");
    let options = StateOptions::default().with_history(100, 2_000);
    let state = ZkState::with_options(&conn, &by_size, json!({"s": ""}), options)
        .await
        .expect("state");
    for i in 0..40 {
        state
            .update(|v| v["s"] = json!(format!("{i:0>100}")))
            .await
            .expect("update");
    }
    let history = state.history(100).await.expect("history");
    let bytes: usize = entries(&history).iter().map(|e| e.bytes).sum();
    assert!(bytes <= 2_000, "{bytes} bytes kept");
    assert!(
        history.len() >= 2 && history.len() < 40,
        "{} kept",
        history.len()
    );
    state.close().await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_restores_the_exact_json_as_a_new_version() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("history-rollback");
    // Version 1 carries a field that `Limits` does not know; a rollback to it restores it.
    let raw_state = ZkState::new(&conn, &dir, json!({"max": 1, "tags": [], "extra": "v1"}))
        .await
        .expect("state");
    raw_state.update(|v| v["max"] = json!(2)).await.expect("v1");
    let typed = ZkState::new(&conn, &dir, Limits::default())
        .await
        .expect("typed");
    typed
        .update_latest(|l| l.max = 99)
        .await
        .expect("bad change, v2");
    let version = typed
        .with_message("undo the bad change")
        .rollback_to(1)
        .await
        .expect("rollback");
    assert_eq!(version, 3);
    let stored = zkstate::value_at(&conn, &dir, 3).await.expect("value");
    assert_eq!(stored, json!({"max": 2, "tags": [], "extra": "v1"}));
    assert_eq!(typed.c_read().await.expect("c_read").max, 2);
    let history = typed.history(1).await.expect("history");
    let newest = entries(&history)[0];
    assert_eq!((newest.version, newest.rollback_of), (3, Some(1)));
    assert_eq!(newest.message.as_deref(), Some("undo the bad change"));

    // A compare-and-set rollback at a version ZooKeeper does not hold writes nothing.
    match typed.with_message("late").rollback_to_at(0, 2).await {
        Err(Error::StaleWrite { .. }) => {}
        other => panic!("expected StaleWrite, got {other:?}"),
    }
    match typed.rollback_to(77).await {
        Err(Error::NotKept { version: 77, .. }) => {}
        other => panic!("expected NotKept, got {other:?}"),
    }
    assert_eq!(typed.c_read().await.expect("c_read").max, 2);
    assert_eq!(
        versions(&typed.history(10).await.expect("history")),
        vec![3, 2, 1]
    );
    typed.close().await;
    raw_state.close().await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollbacks_under_contention_are_each_applied_once() {
    let server = shared_server().await;
    let dir = unique_dir("history-rollback-contention");
    let (a, b) = (
        connect(&server.connect_string()).await,
        connect(&server.connect_string()).await,
    );
    let sa = ZkState::new(&a, &dir, 0u64).await.expect("a");
    let sb = ZkState::new(&b, &dir, 0u64).await.expect("b");
    sa.update(|n| *n = 10).await.expect("v1");
    let bumps = async {
        for _ in 0..10 {
            sa.update_latest(|n| *n += 1).await.expect("bump");
        }
    };
    let rollbacks = async {
        let mut written = Vec::new();
        for _ in 0..5 {
            written.push(sb.rollback_to(1).await.expect("rollback"));
        }
        written
    };
    let ((), written) = tokio::join!(bumps, rollbacks);
    let history = sa.history(100).await.expect("history");
    assert_eq!(versions(&history), (1..=16).rev().collect::<Vec<_>>());
    let rollbacks: Vec<i32> = entries(&history)
        .iter()
        .filter(|e| e.rollback_of == Some(1))
        .map(|e| e.version)
        .collect();
    let mut expected = written.clone();
    expected.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(rollbacks, expected, "one entry per acknowledged rollback");
    for version in written {
        assert_eq!(sa.value_at(version).await.expect("value"), json!(10));
    }
    sa.close().await;
    sb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_made_without_history_starts_one_at_its_first_write() {
    let server = shared_server().await;
    let servers = server.connect_string();
    let conn = connect(&servers).await;
    let dir = unique_dir("history-old-state");
    let off = StateOptions::default().with_history(0, 0);
    let old = ZkState::with_options(&conn, &dir, 1u64, off)
        .await
        .expect("state");
    old.update(|n| *n = 2).await.expect("write without history");
    assert!(!children(&servers, &dir)
        .await
        .contains(&"history".to_string()));
    assert!(old.history(10).await.expect("no history yet").is_empty());
    old.close().await;

    let new = ZkState::new(&conn, &dir, 0u64).await.expect("state");
    assert_eq!(*new.read().expect("read"), 2);
    new.update(|n| *n = 3)
        .await
        .expect("first write with history");
    let history = new.history(10).await.expect("history");
    assert_eq!(versions(&history), vec![2]);
    assert_eq!(new.value_at(1).await.expect("its base"), json!(2));
    new.close().await;
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_an_earlier_incarnation_are_removed_and_never_read() {
    let server = shared_server().await;
    let servers = server.connect_string();
    let conn = connect(&servers).await;
    let dir = unique_dir("history-incarnation");
    let state = ZkState::new(&conn, &dir, json!("a")).await.expect("state");
    state.update(|v| *v = json!("b")).await.expect("v1");
    state.close().await;
    // Another tool deletes the payload and creates it again: versions start over at 0.
    let raw = raw_client(&servers).await;
    let payload = format!("{dir}/payload");
    raw.delete(&payload, None).await.expect("delete");
    let create =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.create(&payload, br#""c""#, &create)
        .await
        .expect("create");
    assert!(zkstate::read_history(&conn, &dir, 10)
        .await
        .expect("history")
        .is_empty());

    let state = ZkState::new(&conn, &dir, json!("x")).await.expect("state");
    state
        .update_latest(|v| *v = json!("d"))
        .await
        .expect("v1 again");
    let history = state.history(10).await.expect("history");
    assert_eq!(versions(&history), vec![1]);
    assert_eq!(state.value_at(0).await.expect("value"), json!("c"));
    assert_eq!(children(&servers, &format!("{dir}/history")).await.len(), 1);
    state.close().await;
    conn.close().await;
}
