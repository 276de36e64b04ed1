//! States larger than ZooKeeper's 1 MB node limit as JSON: stored as a zstd frame, read by every
//! instance whatever it writes; bad frames are typed errors and the last good value is kept.

mod common;

use common::{connect, next, next_batch, raw_client, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use zkstate::{Compression, DecodeError, Error, StateEvent, StateOptions, ZkState};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Host {
    id: u32,
    name: String,
    rack: String,
    tags: Vec<String>,
    enabled: bool,
}

/// About 5 MB of JSON that compresses well below 1 MB.
fn inventory() -> Vec<Host> {
    (0..50_000)
        .map(|id| Host {
            id,
            name: format!("host-{id:06}.example.internal"),
            rack: format!("rack-{:03}", id % 200),
            tags: vec!["linux".into(), format!("zone-{}", id % 3)],
            enabled: id % 7 != 0,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_mb_state_works_end_to_end_compressed() {
    let server = shared_server().await;
    let dir = unique_dir("compressed");
    let hosts = inventory();
    let plain = serde_json::to_vec(&hosts).expect("json").len();
    assert!(plain > 5_000_000, "{plain} bytes of JSON");

    let conn_a = connect(&server.connect_string()).await;
    let a = ZkState::with_options(
        &conn_a,
        &dir,
        hosts.clone(),
        StateOptions::default().with_compression(Compression::ZSTD),
    )
    .await
    .expect("a 5 MB state, compressed");
    // Another process, default options: it reads the frame, and keeps it a frame when it writes.
    let conn_b = connect(&server.connect_string()).await;
    let b = ZkState::<Vec<Host>>::new(&conn_b, &dir, Vec::new())
        .await
        .expect("b");
    assert_eq!(b.read().expect("read").len(), 50_000);
    let mut b_changes = b.subscribe();

    a.update(|hosts| hosts[12_345].enabled = false)
        .await
        .expect("update a");
    let batch = next_batch(&mut b_changes).await;
    assert_eq!(batch.changes.len(), 1, "{:?}", batch.changes);
    assert_eq!(batch.changes[0].path().to_string(), "[12345].enabled");
    b.update_latest(|hosts| hosts.push(hosts[0].clone()))
        .await
        .expect("update b");

    let raw = raw_client(&server.connect_string()).await;
    let (data, _) = raw.get_data(&format!("{dir}/payload")).await.expect("read");
    assert!(zkstate::is_compressed(&data), "still a zstd frame");
    assert!(data.len() < 1_000_000, "{} bytes stored", data.len());
    let stored: Vec<Host> = zkstate::decode_payload(&data).expect("decodes");
    assert_eq!(stored.len(), 50_001);
    assert!(!stored[12_345].enabled);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn bad_frames_are_typed_errors_and_the_last_good_value_is_kept() {
    let server = shared_server().await;
    let dir = unique_dir("bad-frames");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::<Vec<u32>>::with_options(
        &conn,
        &dir,
        vec![1, 2, 3],
        StateOptions::default().with_max_decompressed(1 << 20),
    )
    .await
    .expect("state");
    let mut changes = state.subscribe();
    let raw = raw_client(&server.connect_string()).await;
    let payload = format!("{dir}/payload");

    let good =
        zkstate::encode_payload(&serde_json::json!([4, 5, 6]), Compression::ZSTD).expect("encode");
    raw.set_data(&payload, &good[..good.len() - 3], None)
        .await
        .expect("a truncated frame");
    match next("the truncated frame's error", &mut changes).await {
        StateEvent::Error(Error::Decode {
            reason: DecodeError::Frame(_),
            ..
        }) => {}
        other => panic!("expected a frame error, got {other:?}"),
    }
    assert!(matches!(state.read(), Err(Error::Decode { .. })));
    assert_eq!(*state.d_read(), vec![1, 2, 3], "the last good value");

    // A bomb: 64 MiB of spaces in a few KB; the cap is 1 MiB. Made on a thread of its own: its
    // seconds of work (in a debug build) must not starve the clients of this runtime.
    let bomb = tokio::task::spawn_blocking(|| {
        let spaces = serde_json::Value::String(" ".repeat(64 << 20));
        zkstate::encode_payload(&spaces, Compression::ZSTD).expect("encode")
    })
    .await
    .expect("the bomb's thread");
    assert!(bomb.len() < 100_000);
    raw.set_data(&payload, &bomb, None).await.expect("a bomb");
    match next("the bomb's error", &mut changes).await {
        StateEvent::Error(Error::Decode {
            reason: DecodeError::TooLarge { limit },
            ..
        }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected a too-large error, got {other:?}"),
    }
    assert_eq!(*state.d_read(), vec![1, 2, 3]);

    // A good frame: recovered.
    raw.set_data(&payload, &good, None)
        .await
        .expect("a good frame");
    let batch = next_batch(&mut changes).await;
    assert_eq!(batch.value(), &serde_json::json!([4, 5, 6]));
    assert_eq!(*state.read().expect("recovered"), vec![4, 5, 6]);
    state.close().await;
}
