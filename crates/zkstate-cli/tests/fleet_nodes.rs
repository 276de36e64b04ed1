//! No node accumulates in ZooKeeper: 40 short-lived writer processes against one state, some
//! killed with SIGKILL mid-flight, some exiting without `close()`, some dropping their handle,
//! some closing, some CLI writes. Once their sessions are over, `writers/`, `lock/` and
//! `listeners/` hold no node of a dead writer: the live instance's reaper removed the markers
//! of the writers that did not.
//!
//! A custom harness (`harness = false`): the writers are this test binary run again with
//! `ZKSTATE_FLEET_WRITER=<mode>`, so that they are real processes with real sessions.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{raw_client, run, BIN};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use zkstate::{Connection, Settings, StateOptions, ZkState};
use zkstate_testing::ZkServer;

const WRITER: &str = "ZKSTATE_FLEET_WRITER";
const URL: &str = "ZKSTATE_FLEET_URL";
const DIR: &str = "ZKSTATE_FLEET_DIR";
/// Short sessions (the server's tick is 500 ms), so that a crashed writer's session ends soon.
const SESSION: Duration = Duration::from_secs(2);
const UPDATES: usize = 3;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => panic!("runtime: {err}"),
    };
    match std::env::var(WRITER) {
        Ok(mode) => runtime.block_on(writer(&mode)),
        Err(_) => {
            runtime.block_on(no_dead_writer_leaves_a_node_after_its_session_is_over());
            println!("test no_dead_writer_leaves_a_node_after_its_session_is_over ... ok");
        }
    }
}

fn settings() -> Settings {
    Settings::default()
        .with_session_timeout(SESSION)
        .with_connect_timeout(Duration::from_secs(20))
}

/// One writer process: a few updates, then the end its mode says.
async fn writer(mode: &str) {
    let (url, dir) = match (std::env::var(URL), std::env::var(DIR)) {
        (Ok(url), Ok(dir)) => (url, dir),
        _ => panic!("a writer needs {URL} and {DIR}"),
    };
    let conn = Connection::connect(&url, settings())
        .await
        .expect("writer connects");
    let state = ZkState::with_options(&conn, &dir, json!({"log": []}), StateOptions::default())
        .await
        .expect("writer opens the state");
    for i in 0..UPDATES {
        state
            .update_latest(|v| {
                if let Some(log) = v["log"].as_array_mut() {
                    log.push(json!(format!("{}-{i}", std::process::id())));
                }
            })
            .await
            .expect("writer update");
    }
    println!("ready");
    match mode {
        // Killed by the parent with SIGKILL while it waits here.
        "kill" => std::future::pending::<()>().await,
        // A crash: no close, no destructor.
        "exit" => std::process::exit(0),
        // The handle dropped instead of closed, then a normal exit.
        "drop" => {
            drop(state);
            drop(conn);
        }
        _ => {
            state.close().await;
            conn.close().await;
        }
    }
}

async fn spawn_writer(url: &str, dir: &str, mode: &str) -> tokio::process::Child {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .env(WRITER, mode)
        .env(URL, url)
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a writer");
    // Wait for its updates to be acknowledged.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"),
        "writer ({mode}) did not get ready: {ready:?}"
    );
    child
}

/// The children of `path`, or none when it does not exist.
async fn children(client: &zookeeper_client::Client, path: &str) -> Vec<String> {
    match client.list_children(path).await {
        Ok(children) => children,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(err) => panic!("list {path}: {err}"),
    }
}

async fn no_dead_writer_leaves_a_node_after_its_session_is_over() {
    let server = ZkServer::builder()
        .with_tick_time(Duration::from_millis(500))
        .start()
        .await
        .expect("server");
    let zk = server.connect_string();
    let dir = format!("/fleet-nodes-{}", std::process::id());
    let url = format!("zookeeper://{zk}");
    run(&zk, &["set", "--create", &dir, r#"{"log": []}"#])
        .await
        .success();

    // The one instance that stays: its reaper removes what the dead leave.
    let conn = Connection::connect(&url, settings())
        .await
        .expect("connect");
    let observer = ZkState::<Value>::with_options(
        &conn,
        &dir,
        json!({"log": []}),
        StateOptions::default().with_marker_grace(Duration::from_secs(2)),
    )
    .await
    .expect("observer");

    let modes: Vec<&str> = std::iter::repeat_n("kill", 13)
        .chain(std::iter::repeat_n("exit", 9))
        .chain(std::iter::repeat_n("drop", 6))
        .chain(std::iter::repeat_n("close", 6))
        .chain(std::iter::repeat_n("cli", 6))
        .collect();
    assert_eq!(modes.len(), 40);
    let (mut killed, mut cli) = (0, 0);
    // Every marker seen as soon as each writer is ready (its updates acknowledged, so its marker
    // written): a writer that then dies keeps its `alive` child for its 2 s session, and the
    // reaper waits the 2 s grace after that, so no marker can be reaped before it is seen.
    let raw = raw_client(&zk).await;
    let mut markers_seen = std::collections::BTreeSet::new();
    let started = Instant::now();
    for batch in modes.chunks(8) {
        let mut running = Vec::new();
        for mode in batch {
            if *mode == "cli" {
                let entry = format!(r#"[{{"op":"add","path":"/log/-","value":"cli-{cli}"}}]"#);
                let out = common::command(&["--zk", &zk, "patch", &dir, "--json-patch", &entry])
                    .output()
                    .await
                    .expect("zkstate patch");
                assert!(out.status.success(), "{BIN} patch failed: {out:?}");
                cli += 1;
                continue;
            }
            running.push((*mode, spawn_writer(&url, &dir, mode).await));
            markers_seen.extend(children(&raw, &format!("{dir}/writers")).await);
        }
        for (mode, mut child) in running {
            if mode == "kill" {
                child.kill().await.expect("SIGKILL");
                killed += 1;
            }
            let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
                .await
                .expect("writer exits")
                .expect("wait");
            assert!(
                mode == "kill" || status.success(),
                "writer ({mode}): {status}"
            );
        }
    }

    // Every acknowledged update is there, once.
    let (data, _) = raw
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("payload");
    let log: Value = serde_json::from_slice(&data).expect("json");
    assert_eq!(
        log["log"].as_array().map(Vec::len),
        Some(34 * UPDATES + 6),
        "every writer's updates, once"
    );
    let markers_after_writers = children(&raw, &format!("{dir}/writers")).await.len();
    // The 13 killed and 9 exited writers cannot remove their markers: these at least existed,
    // so that their absence below is the reaper's work.
    assert!(
        markers_seen.len() >= 22,
        "only {} markers seen after the writers ({markers_seen:?}): the dead writers' markers \
         were never there to reap",
        markers_seen.len()
    );

    // After the dead writers' sessions end (2 s) and the grace (2 s) passes twice in the reaper's
    // scans, only the observer is left.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let writers = children(&raw, &format!("{dir}/writers")).await;
        let locks = children(&raw, &format!("{dir}/lock")).await;
        let listeners = children(&raw, &format!("{dir}/listeners")).await;
        let left: Vec<&String> = markers_seen
            .iter()
            .filter(|m| writers.contains(m))
            .collect();
        if writers.is_empty() && locks.is_empty() && listeners == [observer.id().to_string()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodes of dead writers remain: writers {writers:?} ({} of those seen), lock {locks:?}, \
             listeners {listeners:?}",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "fleet nodes: 40 writers ({killed} killed with SIGKILL, 9 exited without close, 6 dropped, \
         6 closed, {cli} CLI patches), {} markers seen while they ran, \
         {markers_after_writers} left when all were gone, 0 after {:.1} s",
        markers_seen.len(),
        started.elapsed().as_secs_f64()
    );
    observer.close().await;
    conn.close().await;
}
