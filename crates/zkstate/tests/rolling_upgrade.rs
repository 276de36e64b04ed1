//! Two versions of an application side by side during a rollout: version 1's `T` does not know
//! the fields version 2 added, and neither loses the other's fields however their updates
//! interleave.

mod common;

use std::collections::BTreeMap;

use common::{connect, raw_client, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zkstate::{StateOptions, ZkState};

/// Version 1 of the application's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct V1 {
    globs: Vec<String>,
    limits: LimitsV1,
    hosts: Vec<HostV1>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct LimitsV1 {
    cpu: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct HostV1 {
    name: String,
}

/// Version 2 added fields at the top, in a nested object and in array elements, each with
/// `#[serde(default)]` so that version 2 reads version 1's payloads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct V2 {
    globs: Vec<String>,
    #[serde(default)]
    interval_s: u32,
    limits: LimitsV2,
    hosts: Vec<HostV2>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct LimitsV2 {
    cpu: u32,
    #[serde(default)]
    memory_mb: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct HostV2 {
    name: String,
    #[serde(default)]
    weight: u32,
}

fn options() -> StateOptions {
    StateOptions::default().with_listener_record(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_and_a_new_version_updating_alternately_lose_no_field_of_either() {
    let server = shared_server().await;
    let dir = unique_dir("rolling");
    // Two processes in a fleet: two connections.
    let old_conn = connect(&server.connect_string()).await;
    let new_conn = connect(&server.connect_string()).await;
    let new = ZkState::with_options(&new_conn, &dir, V2::default(), options())
        .await
        .expect("new version");
    let old = ZkState::with_options(&old_conn, &dir, V1::default(), options())
        .await
        .expect("old version");

    // The new version sets what only it knows.
    new.update_latest(|s| {
        s.interval_s = 5;
        s.limits.memory_mb = 512;
        s.labels.insert("team".into(), "infra".into());
        s.hosts.push(HostV2 {
            name: "a".into(),
            weight: 3,
        });
    })
    .await
    .expect("new update");

    for round in 0..10u32 {
        // The old version changes what it knows: a glob, a nested field, an element beside
        // elements that carry fields it does not know.
        old.update_latest(|s| {
            s.globs.push(format!("old-{round}*"));
            s.limits.cpu = round;
            s.hosts.push(HostV1 {
                name: format!("old-{round}"),
            });
        })
        .await
        .expect("old update");
        new.update_latest(|s| {
            s.interval_s += 1;
            s.globs.push(format!("new-{round}*"));
            s.hosts[0].weight += 1;
        })
        .await
        .expect("new update");
    }

    let raw = raw_client(&server.connect_string()).await;
    let (data, _) = raw
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("read the payload");
    let stored: Value = serde_json::from_slice(&data).expect("json");
    let stored: V2 = serde_json::from_value(stored).expect("the new version reads it");
    assert_eq!(
        stored.interval_s, 15,
        "new-only top-level field kept across old updates"
    );
    assert_eq!(stored.limits.memory_mb, 512, "new-only nested field kept");
    assert_eq!(stored.limits.cpu, 9, "old version's nested change applied");
    assert_eq!(stored.labels.get("team").map(String::as_str), Some("infra"));
    assert_eq!(stored.hosts.len(), 11);
    assert_eq!(
        stored.hosts[0],
        HostV2 {
            name: "a".into(),
            weight: 13
        },
        "the element with a new-only field kept it while the old version appended after it"
    );
    assert!(stored.hosts[1..].iter().all(|h| h.weight == 0));
    assert_eq!(
        stored.globs.len(),
        20,
        "every glob of both versions, none lost"
    );
    for round in 0..10 {
        assert!(stored.globs.contains(&format!("old-{round}*")));
        assert!(stored.globs.contains(&format!("new-{round}*")));
    }
    // What each version reads is its own view of the same payload.
    assert_eq!(old.read().expect("old read").limits.cpu, 9);
    assert_eq!(new.read().expect("new read").interval_s, 15);
    old.close().await;
    new.close().await;
}

#[tokio::test]
async fn update_and_replace_at_keep_unknown_fields_and_the_documented_conflict_rule_holds() {
    let server = shared_server().await;
    let dir = unique_dir("rolling-rule");
    let conn = connect(&server.connect_string()).await;
    let raw = raw_client(&server.connect_string()).await;
    let payload = format!("{dir}/payload");
    let initial = json!({
        "globs": ["systemd*"],
        "interval_s": 5,
        "limits": {"cpu": 1, "memory_mb": 256},
        "hosts": [{"name": "a", "weight": 2}]
    });
    let state = ZkState::<Value>::with_options(&conn, &dir, initial.clone(), options())
        .await
        .expect("state");
    state.close().await;

    #[derive(Debug, Serialize, Deserialize)]
    struct Old {
        globs: Vec<String>,
        limits: Option<LimitsV1>,
        hosts: Vec<HostV1>,
    }
    let old = ZkState::with_options(
        &conn,
        &dir,
        Old {
            globs: vec![],
            limits: None,
            hosts: vec![],
        },
        options(),
    )
    .await
    .expect("old");
    // The rolling-upgrade case: a version that knows only `globs` pushes a glob; the fields it
    // does not know must come through its update unchanged.
    old.update(|s| s.globs.push("rsync*".into()))
        .await
        .expect("update");
    let stored: Value =
        serde_json::from_slice(&raw.get_data(&payload).await.expect("read").0).expect("json");
    assert_eq!(
        stored,
        json!({
            "globs": ["systemd*", "rsync*"],
            "interval_s": 5,
            "limits": {"cpu": 1, "memory_mb": 256},
            "hosts": [{"name": "a", "weight": 2}]
        })
    );

    // An object replaced by another object keeps its unknown keys.
    let version = old.version();
    old.replace_at(
        version,
        Old {
            globs: vec!["x*".into()],
            limits: Some(LimitsV1 { cpu: 8 }),
            hosts: vec![HostV1 { name: "b".into() }],
        },
    )
    .await
    .expect("replace_at");
    let stored: Value =
        serde_json::from_slice(&raw.get_data(&payload).await.expect("read").0).expect("json");
    assert_eq!(stored["limits"], json!({"cpu": 8, "memory_mb": 256}));
    assert_eq!(stored["hosts"], json!([{"name": "b", "weight": 2}]));
    assert_eq!(stored["interval_s"], json!(5));

    // An object the closure removes (here: replaced by null) goes with its unknown keys: the
    // documented rule.
    old.update(|s| s.limits = None).await.expect("update");
    let stored: Value =
        serde_json::from_slice(&raw.get_data(&payload).await.expect("read").0).expect("json");
    assert_eq!(stored["limits"], Value::Null);
    assert_eq!(stored["interval_s"], json!(5), "the rest stays");
    old.close().await;
}
