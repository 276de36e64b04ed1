//! Helpers shared by the integration tests: servers, connections, raw clients, waiting.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use zkstate::{Connection, ConnectionEvent, ConnectionState, Settings, StateEvent};
use zkstate_testing::{four_letter_word, ZkCluster, ZkServer};

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const SOON: Duration = Duration::from_secs(30);

/// One server shared by the tests of a binary that do not stop it; each test works in its own
/// directory (see [`unique_dir`]).
pub async fn shared_server() -> &'static ZkServer {
    init_tracing();
    match zkstate_testing::shared_server().await {
        Ok(server) => server,
        Err(err) => panic!("cannot start ZooKeeper: {err}"),
    }
}

/// Logs to the test's captured output, filtered by `RUST_LOG` (default: warnings).
pub fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A directory name no other test uses.
pub fn unique_dir(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/t/{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Short sessions so that expiry tests run quickly.
pub fn fast_settings() -> Settings {
    Settings::default()
        .with_session_timeout(Duration::from_secs(2))
        .with_connect_timeout(Duration::from_secs(20))
}

pub async fn connect(servers: &str) -> Connection {
    let url = format!("zookeeper://{servers}");
    match Connection::connect(&url, fast_settings()).await {
        Ok(conn) => conn,
        Err(err) => panic!("connect to {url}: {err}"),
    }
}

/// A raw zookeeper-client session: the "external actor".
pub async fn raw_client(servers: &str) -> zookeeper_client::Client {
    match zookeeper_client::Client::connect(servers).await {
        Ok(client) => client,
        Err(err) => panic!("raw connect to {servers}: {err}"),
    }
}

/// Awaits `fut` for at most [`SOON`], naming what was awaited on failure.
pub async fn soon<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(SOON, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {SOON:?} waiting for {what}"),
    }
}

/// The next event of a stream, within [`SOON`].
pub async fn next<S: Stream + Unpin>(what: &str, stream: &mut S) -> S::Item {
    match soon(what, stream.next()).await {
        Some(item) => item,
        None => panic!("stream ended while waiting for {what}"),
    }
}

/// The next `Changed` batch, skipping nothing else silently: any other event fails the test.
pub async fn next_batch<S: Stream<Item = StateEvent> + Unpin>(
    stream: &mut S,
) -> std::sync::Arc<zkstate::ChangeBatch> {
    match next("a change batch", stream).await {
        StateEvent::Changed(batch) => batch,
        other => panic!("expected a change batch, got {other:?}"),
    }
}

/// Waits until a connection event in state `state` arrives; returns it and the states seen before it.
pub async fn wait_state<S: Stream<Item = ConnectionEvent> + Unpin>(
    events: &mut S,
    state: ConnectionState,
) -> (ConnectionEvent, Vec<ConnectionState>) {
    let mut seen = Vec::new();
    loop {
        let event = next(&format!("connection state {state}"), events).await;
        if event.state == state {
            return (event, seen);
        }
        seen.push(event.state);
    }
}

/// Polls `check` every 50 ms until it returns true, within [`SOON`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    soon(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// The index of the ensemble node that serves `session` (from the `cons` admin command).
pub async fn serving_node(cluster: &ZkCluster, session: i64) -> Option<usize> {
    let sid = format!("sid={session:#x}");
    for i in 0..cluster.len() {
        if let Ok(cons) = four_letter_word(&cluster.node_connect_string(i), "cons").await {
            if cons.contains(&sid) {
                return Some(i);
            }
        }
    }
    None
}

/// Deletes `path` and everything under it, children first; again from the top when a node
/// appeared under one being deleted (a live instance writing meanwhile).
pub async fn remove_tree(client: &zookeeper_client::Client, path: &str) {
    'again: for _ in 0..10 {
        let mut stack = vec![path.to_string()];
        let mut order = Vec::new();
        while let Some(node) = stack.pop() {
            if let Ok(children) = client.list_children(&node).await {
                stack.extend(children.into_iter().map(|c| format!("{node}/{c}")));
            }
            order.push(node);
        }
        for node in order.into_iter().rev() {
            match client.delete(&node, None).await {
                Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
                Err(zookeeper_client::Error::NotEmpty) => continue 'again,
                Err(err) => panic!("delete {node}: {err}"),
            }
        }
        return;
    }
    panic!("{path} kept growing children while being removed");
}
