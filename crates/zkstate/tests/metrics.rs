//! The metrics the library reports, with a recorder installed: exact counts after known
//! operations. One test in this binary: the recorder is global.

mod common;

use std::collections::HashMap;

use common::{connect, next_batch, raw_client, shared_server, unique_dir};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use serde_json::json;
use zkstate::{Error, StateEvent, ZkState};

type Series = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The value of every series whose name is `name` and whose labels include `labels`, summed
/// (counters), or the count of recorded values (histograms).
fn value(snapshot: &Series, name: &str, labels: &[(&str, &str)]) -> u64 {
    let mut total = 0;
    for (key, _, _, value) in snapshot {
        if key.key().name() != name {
            continue;
        }
        let have: HashMap<&str, &str> = key.key().labels().map(|l| (l.key(), l.value())).collect();
        if !labels.iter().all(|(k, v)| have.get(k) == Some(v)) {
            continue;
        }
        total += match (key.kind(), value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => *n,
            (MetricKind::Histogram, DebugValue::Histogram(values)) => values.len() as u64,
            (MetricKind::Gauge, DebugValue::Gauge(v)) => v.into_inner() as u64,
            _ => 0,
        };
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_operations_give_exact_counts() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    let server = shared_server().await;
    let dir = unique_dir("metrics");
    let servers = server.connect_string();
    let conn_a = connect(&servers).await;
    let conn_b = connect(&servers).await;
    let a = ZkState::new(&conn_a, &dir, json!({"n": 0}))
        .await
        .expect("a");
    let b = ZkState::new(&conn_b, &dir, json!({"n": 0}))
        .await
        .expect("b");
    let mut b_changes = b.subscribe();
    let d = dir.as_str();

    // Three updates in A, each seen by B before the next: three local batches in A, three
    // remote ones in B.
    for n in 1..=3 {
        a.update(|v| v["n"] = json!(n)).await.expect("update");
        assert_eq!(next_batch(&mut b_changes).await.version, n);
    }
    // One stale write: an external write lands while A's closure runs.
    let raw = raw_client(&servers).await;
    let payload = format!("{dir}/payload");
    let err = a
        .update(|v| {
            v["n"] = json!(100);
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(raw.set_data(
                    &payload,
                    br#"{"n":7}"#,
                    None,
                ))
            })
            .expect("external write");
        })
        .await
        .expect_err("stale");
    assert!(matches!(err, Error::StaleWrite { .. }), "{err:?}");
    assert_eq!(next_batch(&mut b_changes).await.version, 4);
    // One bad payload, seen by both.
    raw.set_data(&payload, b"not json", None)
        .await
        .expect("break");
    match common::next("the fault", &mut b_changes).await {
        StateEvent::Error(Error::Decode { .. }) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
    common::eventually("A to see the fault", || async { a.read().is_err() }).await;

    // One snapshot for every assertion: taking one drains the histograms.
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        value(
            &snapshot,
            "zkstate_updates_total",
            &[("dir", d), ("outcome", "ok")]
        ),
        3
    );
    assert_eq!(
        value(
            &snapshot,
            "zkstate_updates_total",
            &[("dir", d), ("outcome", "stale_write")]
        ),
        1
    );
    assert_eq!(
        value(&snapshot, "zkstate_update_duration_seconds", &[("dir", d)]),
        4
    );
    assert_eq!(
        value(&snapshot, "zkstate_lock_wait_seconds", &[("dir", d)]),
        4
    );
    assert_eq!(
        value(
            &snapshot,
            "zkstate_changes_applied_total",
            &[("dir", d), ("origin", "local")]
        ),
        3
    );
    // B: three updates and the external write; A: the external write (its refresh).
    assert_eq!(
        value(
            &snapshot,
            "zkstate_changes_applied_total",
            &[("dir", d), ("origin", "remote")]
        ),
        5
    );
    assert_eq!(
        value(&snapshot, "zkstate_apply_delay_seconds", &[("dir", d)]),
        5
    );
    assert_eq!(
        value(
            &snapshot,
            "zkstate_payload_faults_total",
            &[("dir", d), ("kind", "json")]
        ),
        2
    );
    // Each core read the payload once when its session's watch was armed.
    assert_eq!(
        value(
            &snapshot,
            "zkstate_resyncs_total",
            &[("dir", d), ("reason", "session")]
        ),
        2
    );
    assert_eq!(
        value(
            &snapshot,
            "zkstate_sessions_total",
            &[("servers", &servers)]
        ),
        2
    );
    assert_eq!(
        value(
            &snapshot,
            "zkstate_connection_state",
            &[("servers", &servers), ("state", "connected")]
        ),
        1
    );
    assert!(
        value(
            &snapshot,
            "zkstate_last_verified_timestamp_seconds",
            &[("dir", d)]
        ) > 1_700_000_000
    );
    a.close().await;
    b.close().await;

    // A state made open by another client, adopted by a creator-only session: its directory and
    // payload grant more than the policy would (the other nodes are made by the session).
    let open_dir = unique_dir("metrics-wider-acl");
    let raw = raw_client(&servers).await;
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.mkdir(&open_dir, &open).await.expect("dir");
    raw.create(&format!("{open_dir}/payload"), b"{}", &open)
        .await
        .expect("payload");
    let settings = common::fast_settings()
        .with_acl_policy(zkstate::AclPolicy::CreatorOnly)
        .with_digest(zkstate::Credential::new("alice", "secret").expect("credential"));
    let owner = zkstate::Connection::connect(&format!("zookeeper://{servers}"), settings)
        .await
        .expect("connect");
    let adopted = ZkState::new(&owner, &open_dir, json!({}))
        .await
        .expect("adopted");
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        value(&snapshot, "zkstate_acl_wider_total", &[("dir", &open_dir)]),
        2,
        "the directory and the payload"
    );
    assert_eq!(
        value(&snapshot, "zkstate_acl_wider_total", &[("dir", d)]),
        0
    );
    adopted.close().await;
}
