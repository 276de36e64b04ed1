//! `zkstate listeners`: the live instances of a state, as a table and as JSON.

mod common;

use common::*;

#[tokio::test]
async fn listeners_shows_each_running_watch() {
    let zk = shared_zk().await;
    let dir = unique_dir("listeners");
    create_state(&zk, &dir, "{}").await;

    let out = run(&zk, &["listeners", &dir]).await;
    out.success();
    assert_eq!(out.stdout, "ID  HOST  PID  STARTED  APPLIED\n", "{out}");

    let first = Running::watch(&zk, &dir, &[]).await;
    let second = Running::watch(&zk, &dir, &[]).await;
    let pids = [first.pid(), second.pid()];
    wait_listeners(&zk, &dir, 2).await;

    let out = run(&zk, &["listeners", "--json", &dir]).await;
    out.success();
    let records = out.json();
    let Some(records) = records.as_array() else {
        panic!("not an array\n{out}");
    };
    assert_eq!(records.len(), 2, "{out}");
    let mut seen_pids: Vec<u64> = records.iter().filter_map(|r| r["pid"].as_u64()).collect();
    seen_pids.sort();
    let mut expected: Vec<u64> = pids.iter().map(|&p| u64::from(p)).collect();
    expected.sort();
    assert_eq!(seen_pids, expected, "{out}");
    for record in records {
        let started = record["started_at"].as_str().unwrap_or("");
        assert!(
            started.len() == 24 && started.ends_with('Z'),
            "not RFC 3339 UTC: {started}\n{out}"
        );
        assert!(
            record["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{out}"
        );
        assert!(record["hostname"].as_str().is_some(), "{out}");
    }

    let out = run(&zk, &["listeners", &dir]).await;
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("ID "), "{out}");
    for pid in pids {
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.split_whitespace().nth(2) == Some(&pid.to_string())),
            "pid {pid} missing\n{out}"
        );
    }
    first.kill().await;
    second.kill().await;
}

#[tokio::test]
async fn listeners_of_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("listeners-missing");
    run(&zk, &["listeners", &dir])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}
