//! The CLI with a state larger than ZooKeeper's 1 MB limit as JSON, stored as a zstd frame:
//! `set --create --compress`, `get`, `patch`, `edit` and `watch` read it, and the writes keep it
//! compressed.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::{json, Value};

fn big_state() -> Value {
    let hosts: Vec<Value> = (0..55_000)
        .map(|id| {
            json!({
                "id": id,
                "name": format!("host-{id:06}.example.internal"),
                "rack": format!("rack-{:03}", id % 200),
                "tags": ["linux", format!("zone-{}", id % 3)],
            })
        })
        .collect();
    json!({"mode": "a", "hosts": hosts})
}

async fn stored(zk: &str, dir: &str) -> (Vec<u8>, i32) {
    let client = raw_client(zk).await;
    let (data, stat) = client
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("read the payload");
    (data, stat.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_mb_compressed_state_through_every_command() {
    let zk = shared_zk().await;
    let dir = unique_dir("compressed");
    let value = big_state();
    let text = value.to_string();
    assert!(text.len() > 5_000_000, "{} bytes", text.len());

    run_with(
        &zk,
        &["set", "--create", "--compress", &dir, "-"],
        Some(&text),
        &[],
    )
    .await
    .success();
    let (data, _) = stored(&zk, &dir).await;
    assert!(zkstate::is_compressed(&data));
    assert!(data.len() < 1_000_000, "{} bytes stored", data.len());

    // get prints the JSON, decompressed.
    let out = run(&zk, &["get", &dir]).await;
    out.success();
    assert_eq!(out.json(), value);

    // watch sees patch's change; patch keeps the frame.
    let mut watch = Running::watch(&zk, &dir, &[]).await;
    run(&zk, &["patch", &dir, "--merge", r#"{"mode":"b"}"#])
        .await
        .success();
    let line = watch
        .line_where(Stream::Stdout, |l| l.contains(".mode"))
        .await;
    assert_eq!(line, r#"~ .mode "a" -> "b""#);
    let (data, version) = stored(&zk, &dir).await;
    assert!(zkstate::is_compressed(&data), "patch kept the frame");
    assert_eq!(version, 1);

    // edit too.
    let tmp = tempfile::tempdir().expect("tmp");
    let script = tmp.path().join("ed.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\nsed -i 's/\"mode\": \"b\"/\"mode\": \"c\"/' \"$1\"\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = script.display().to_string();
    run_with(&zk, &["edit", &dir], None, &[("EDITOR", &script)])
        .await
        .success();
    let (data, version) = stored(&zk, &dir).await;
    assert!(zkstate::is_compressed(&data), "edit kept the frame");
    assert_eq!(version, 2);
    let now: Value = zkstate::decode_payload(&data).expect("decodes");
    assert_eq!(now["mode"], json!("c"));
    assert_eq!(now["hosts"], value["hosts"], "the rest untouched");
    watch.kill().await;
}

/// A payload over the size guard is refused before anything is sent, and the message says how
/// to store it anyway.
#[tokio::test]
async fn a_payload_over_the_size_guard_suggests_compress() {
    let zk = shared_zk().await;
    let dir = unique_dir("too-large");
    create_state(&zk, &dir, "{}").await;
    let names: Vec<String> = (0..60_000)
        .map(|i| format!("host-{i:06}.example"))
        .collect();
    let text = serde_json::to_string(&json!({ "hosts": names })).expect("json");
    assert!(text.len() > 1_100_000);
    run_with(&zk, &["set", &dir, "-"], Some(&text), &[])
        .await
        .expect_code(2)
        .error_line(&["over the", "--compress", "nothing written"]);
    assert_eq!(stored(&zk, &dir).await.1, 0, "nothing written");
    run_with(&zk, &["set", "--compress", &dir, "-"], Some(&text), &[])
        .await
        .success();
}
