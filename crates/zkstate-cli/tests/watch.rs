//! `zkstate watch`: changes made by another `zkstate` process and by a raw client, in both
//! forms; payload errors on stderr; SIGTERM and SIGINT end it with exit 0, and so does a
//! closed stdout.

mod common;

use std::process::Stdio;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn human_lines_for_changes_by_another_process() {
    let zk = shared_zk().await;
    let dir = unique_dir("watch-human");
    create_state(
        &zk,
        &dir,
        r#"{"globs":["systemd*","rsync*"],"name":"a","x":1}"#,
    )
    .await;
    let mut watch = Running::watch(&zk, &dir, &[]).await;

    run(
        &zk,
        &[
            "set",
            &dir,
            r#"{"globs":["systemd*","rsync*","firefox*"],"name":"a","x":1}"#,
        ],
    )
    .await
    .success();
    assert_eq!(
        watch.stdout_lines(1).await,
        vec![r#"+ .globs[2] "firefox*""#],
        "{}",
        watch.transcript()
    );
    run(
        &zk,
        &[
            "set",
            &dir,
            r#"{"globs":["systemd*","rsync*","firefox*"],"name":"b"}"#,
        ],
    )
    .await
    .success();
    assert_eq!(
        watch.stdout_lines(2).await,
        vec![r#"~ .name "a" -> "b""#, "- .x 1"],
        "{}",
        watch.transcript()
    );
    watch.kill().await;
}

#[tokio::test]
async fn json_lines_for_changes_by_a_raw_client() {
    let zk = shared_zk().await;
    let dir = unique_dir("watch-json");
    create_state(&zk, &dir, r#"{"name":"a","list":[1]}"#).await;
    let mut watch = Running::watch(&zk, &dir, &["--json"]).await;

    // Bypasses zkstate's lock entirely: the watch sees it all the same.
    let path = format!("{dir}/payload");
    let version = raw_set(&zk, &path, br#"{"name":"b","list":[1,{"k":null}]}"#).await;
    let mut lines = watch.stdout_lines(2).await;
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!(
                r#"{{"version":{version},"op":"added","path":["list",1],"value":{{"k":null}}}}"#
            ),
            format!(
                r#"{{"version":{version},"op":"modified","path":["name"],"old":"a","new":"b"}}"#
            ),
        ],
        "{}",
        watch.transcript()
    );
    let version = raw_set(&zk, &path, br#"{"name":"b"}"#).await;
    assert_eq!(
        watch.stdout_lines(1).await,
        vec![format!(
            r#"{{"version":{version},"op":"removed","path":["list"],"value":[1,{{"k":null}}]}}"#
        )],
        "{}",
        watch.transcript()
    );
    watch.kill().await;
}

#[tokio::test]
async fn a_bad_payload_is_reported_on_stderr_and_recovers() {
    let zk = shared_zk().await;
    let dir = unique_dir("watch-bad-payload");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let mut watch = Running::watch(&zk, &dir, &[]).await;
    let path = format!("{dir}/payload");
    raw_set(&zk, &path, b"not json").await;
    let line = watch
        .line_where(Stream::Stderr, |line| line.contains("does not decode"))
        .await;
    assert!(line.starts_with("zkstate: "), "{}", watch.transcript());
    raw_set(&zk, &path, br#"{"a":2}"#).await;
    assert_eq!(
        watch.stdout_lines(1).await,
        vec!["~ .a 1 -> 2"],
        "{}",
        watch.transcript()
    );
    watch.kill().await;
}

#[tokio::test]
async fn sigterm_and_sigint_exit_0_and_leave_no_listener() {
    let zk = shared_zk().await;
    for signal in ["TERM", "INT"] {
        let dir = unique_dir("watch-signal");
        create_state(&zk, &dir, "1").await;
        let mut watch = Running::watch(&zk, &dir, &[]).await;
        wait_listeners(&zk, &dir, 1).await;
        watch.signal(signal).await;
        let code = watch.wait().await;
        watch.drain().await;
        assert_eq!(code, 0, "SIG{signal}\n{}", watch.transcript());
        let listeners = run(&zk, &["listeners", "--json", &dir]).await;
        listeners.success();
        assert_eq!(listeners.json(), serde_json::json!([]), "{listeners}");
    }
}

#[tokio::test]
async fn a_closed_stdout_ends_the_watch_with_exit_0() {
    let zk = shared_zk().await;
    let dir = unique_dir("watch-pipe");
    create_state(&zk, &dir, "0").await;
    let mut cmd = command(&["--zk", &zk, "watch", &dir]);
    cmd.stderr(Stdio::null());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot run zkstate: {err}"),
    };
    let Some(stdout) = child.stdout.take() else {
        panic!("no stdout");
    };
    let mut reader = BufReader::new(stdout).lines();
    // Like `zkstate watch | head -1`: read one change, then go away. Writes are repeated until
    // the watch has subscribed (it prints nothing before).
    let mut n = 0;
    let first = loop {
        n += 1;
        run(&zk, &["set", &dir, &n.to_string()]).await.success();
        match tokio::time::timeout(std::time::Duration::from_secs(2), reader.next_line()).await {
            Ok(Ok(Some(line))) => break line,
            Ok(other) => panic!("watch output ended: {other:?}"),
            Err(_) if n < 30 => continue,
            Err(_) => panic!("no change printed after {n} writes"),
        }
    };
    assert!(first.starts_with("~ . "), "{first}");
    drop(reader);
    run(&zk, &["set", &dir, "\"last\""]).await.success();
    let status = tokio::time::timeout(SOON, child.wait()).await;
    match status {
        Ok(Ok(status)) => assert_eq!(status.code(), Some(0), "{status:?}"),
        other => panic!("watch did not exit after its stdout closed: {other:?}"),
    }
}

#[tokio::test]
async fn watch_of_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("watch-missing");
    run(&zk, &["watch", &dir])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}
