//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, CreateOptions, SessionState, StateWatcher};

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const SOON: Duration = Duration::from_secs(30);

/// Options to create a plain persistent node.
pub fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// Options to create an ephemeral node.
pub fn ephemeral() -> CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

/// Connects a client to `connect` with the given session timeout, failing the test after
/// [`SOON`].
pub async fn connect(connect: &str, session_timeout: Duration) -> Client {
    let connecting = Client::connector()
        .with_session_timeout(session_timeout)
        .connect(connect);
    match tokio::time::timeout(SOON, connecting).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => panic!("cannot connect to {connect}: {err}"),
        Err(_) => panic!("cannot connect to {connect} within {SOON:?}"),
    }
}

/// Runs `future` with a deadline of [`SOON`], failing the test with `what` when it passes.
pub async fn soon<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(SOON, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not happen within {SOON:?}"),
    }
}

/// Waits (at most [`SOON`]) until `watcher` reports `wanted`.
pub async fn wait_state(watcher: &mut StateWatcher, wanted: SessionState) {
    soon(&format!("session state {wanted}"), async {
        loop {
            let state = watcher.state();
            if state == wanted {
                return;
            }
            assert!(
                !state.is_terminated(),
                "session ended in {state} while waiting for {wanted}"
            );
            watcher.changed().await;
        }
    })
    .await
}

/// Whether the process `pid` exists, is not a zombie, and is one of our JVMs (guards against
/// pid reuse).
pub fn jvm_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the command name, which is in parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z" | "X" | "x")) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("zkstate.testing"))
        .unwrap_or(false)
}

/// Waits (at most `within`) until the JVM `pid` is gone; returns whether it is.
pub async fn jvm_gone_within(pid: u32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while jvm_alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
