//! `zkstate stat DIR`: the payload's version, zxids, sizes and compression, the live instances,
//! who holds the lock, the markers and the history, as lines and as JSON.

mod common;

use common::*;
use serde_json::json;
use zookeeper_client::{Acls, CreateMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_describes_a_state_and_who_holds_its_lock() {
    let zk = shared_zk().await;
    let dir = unique_dir("stat");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    run(&zk, &["set", &dir, r#"{"a":2}"#]).await.success();
    let watch = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 1).await;

    let out = run(&zk, &["stat", &dir]).await;
    out.success();
    assert!(out.stdout.contains("version    1\n"), "{out}");
    assert!(
        out.stdout
            .contains("payload    7 bytes stored (plain JSON), 7 bytes as JSON"),
        "{out}"
    );
    assert!(out.stdout.contains("instances  1 live"), "{out}");
    assert!(out.stdout.contains("lock       free"), "{out}");
    assert!(out.stdout.contains("history    1 entries"), "{out}");

    // A contender holds the lock (as a Curator client would: its id as the node's data).
    let raw = raw_client(&zk).await;
    let node = format!("{dir}/lock/_c_00000000-0000-0000-0000-000000000001-lock-");
    let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    raw.create(&node, b"some-writer", &ephemeral)
        .await
        .expect("a lock node");
    let out = run(&zk, &["stat", &dir, "--json"]).await;
    out.success();
    let found = out.json();
    assert_eq!(found["version"], 1);
    assert_eq!(found["stored_bytes"], 7);
    assert_eq!(found["json_bytes"], 7);
    assert_eq!(found["compression"], "none");
    assert_eq!(found["instances"], 1);
    assert_eq!(found["lock"]["holder"]["id"], "some-writer");
    assert_eq!(found["lock"]["contenders"], 1);
    assert_eq!(found["history"], 1);
    assert!(
        found["mtime"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{out}"
    );
    let out = run(&zk, &["stat", &dir]).await;
    assert!(
        out.stdout
            .contains("lock       held by some-writer (no listener record) since"),
        "{out}"
    );
    watch.kill().await;
}

#[tokio::test]
async fn stat_of_a_compressed_state_gives_both_sizes_and_of_a_missing_one_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("stat-zstd");
    let value = json!({"hosts": (0..2000).map(|i| format!("host-{i}")).collect::<Vec<_>>()});
    let text = value.to_string();
    run_with(
        &zk,
        &["set", "--create", "--compress", &dir, "-"],
        Some(&text),
        &[],
    )
    .await
    .success();
    let out = run(&zk, &["stat", &dir, "--json"]).await;
    out.success();
    let found = out.json();
    assert_eq!(found["compression"], "zstd");
    assert_eq!(found["json_bytes"], text.len());
    assert!(
        found["stored_bytes"]
            .as_u64()
            .is_some_and(|n| (n as usize) < text.len() / 2),
        "{out}"
    );

    run(&zk, &["stat", &unique_dir("stat-missing")])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}
