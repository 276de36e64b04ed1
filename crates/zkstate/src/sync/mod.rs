//! Keeping the local copy current: one owned task per state.
//!
//! The task is a loop over sessions. For each session of the connection it
//!
//! 1. registers this instance under `<dir>/listeners` (once per session: the record is ephemeral),
//! 2. arms a persistent watch on the payload, then re-reads it and emits the diff from the last
//!    known value (so a change made while this instance was cut off, or while it had no session,
//!    still arrives as a change),
//! 3. then reacts to watch events (re-read and apply), to `SyncConnected` after a disconnection
//!    (re-read: persistent watches can lose events across reconnects, ZOOKEEPER-4698), and to a
//!    jittered periodic check that compares the payload's `mzxid` with the local copy's.
//!
//! When the session expires it waits for the connection's next session and starts over.

mod fetch;
mod staleness;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use zookeeper_client::{AddWatchMode, Client, EventType, SessionState};

pub(crate) use self::fetch::fetch_and_apply;
pub(crate) use self::staleness::watch_staleness;
use crate::connection::{ConnectionState, SessionSlot};
use crate::error::Error;
use crate::state::listeners::{self, Listener};
use crate::state::store::Store;

/// The pause before serving a session again after a transient failure.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Errors after which the session cannot serve any request again.
trait SessionOver {
    fn is_session_over(&self) -> bool;
}

impl SessionOver for zookeeper_client::Error {
    fn is_session_over(&self) -> bool {
        use zookeeper_client::Error::*;
        matches!(self, SessionExpired | ClientClosed | AuthFailed | NoHosts)
    }
}

/// Where the sync loop is, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No usable session: waiting for the connection to open one.
    WaitingForSession,
    /// A session: watching the payload.
    Watching,
}

/// Runs `fut` unless cancelled first.
pub(crate) async fn unless_cancelled<F: std::future::Future>(
    cancel: &CancellationToken,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        out = fut => Some(out),
    }
}

fn jittered(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    rand::thread_rng().gen_range(min..=max)
}

/// How serving one session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionEnd {
    /// The state is closing.
    Cancelled,
    /// The session is over (expired or closed): wait for the connection's next one.
    Over,
    /// A transient failure (the link dropped while arming the watch): serve the same session
    /// again once it is connected.
    Retry,
}

/// Waits for a connected session of generation `min` or newer.
async fn next_session(slot: &mut watch::Receiver<SessionSlot>, min: u64) -> Option<(Client, u64)> {
    loop {
        {
            let current = slot.borrow_and_update();
            match (&current.client, current.state) {
                (_, ConnectionState::Closed) => return None,
                (Some(client), ConnectionState::Connected) if current.generation >= min => {
                    return Some((client.clone(), current.generation))
                }
                _ => {}
            }
        }
        slot.changed().await.ok()?;
    }
}

/// The sync task of one state.
pub(crate) async fn run<T>(
    store: Arc<Store<T>>,
    mut slot: watch::Receiver<SessionSlot>,
    cancel: CancellationToken,
) where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let record = Listener::this_process(&store.id);
    let listener_path = store.layout.listener(&store.id);
    let mut generation = 0;
    let mut end = SessionEnd::Over;
    let mut last_client: Option<Client> = None;
    loop {
        tracing::debug!(dir = %store.layout.dir, phase = ?Phase::WaitingForSession, "sync");
        if end == SessionEnd::Retry {
            // Not in a tight loop while the link flaps.
            let pause = tokio::time::sleep(jittered(RETRY_PAUSE, 2 * RETRY_PAUSE));
            if unless_cancelled(&cancel, pause).await.is_none() {
                break;
            }
        }
        let min = if end == SessionEnd::Retry {
            generation
        } else {
            generation + 1
        };
        let Some(Some((client, next))) =
            unless_cancelled(&cancel, next_session(&mut slot, min)).await
        else {
            break;
        };
        generation = next;
        last_client = Some(client.clone());
        tracing::debug!(dir = %store.layout.dir, phase = ?Phase::Watching, generation, "sync");
        end = watch_session(&store, &client, &record, &listener_path, &mut slot, &cancel).await;
        if end == SessionEnd::Cancelled {
            break;
        }
    }
    // Leave gracefully: remove our listener record now rather than at session close.
    if let (true, Some(client)) = (store.options.listener, last_client) {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), client.delete(&listener_path, None)).await;
    }
}

/// Serves one session until it ends.
async fn watch_session<T>(
    store: &Store<T>,
    client: &Client,
    record: &Listener,
    listener_path: &str,
    slot: &mut watch::Receiver<SessionSlot>,
    cancel: &CancellationToken,
) -> SessionEnd
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let payload = &store.layout.payload;
    // Armed before the first read, so that no write falls between the read and the watch.
    let mut watcher = match unless_cancelled(
        cancel,
        client.watch(payload, AddWatchMode::Persistent),
    )
    .await
    {
        None => return SessionEnd::Cancelled,
        Some(Ok(watcher)) => watcher,
        Some(Err(err)) if err.is_session_over() => return SessionEnd::Over,
        Some(Err(err)) => {
            tracing::debug!(dir = %store.layout.dir, error = %err, "cannot watch the payload yet; retrying");
            return SessionEnd::Retry;
        }
    };
    if store.options.listener {
        let register = listeners::register(client, listener_path, record, store.layout.acls());
        match unless_cancelled(cancel, register).await {
            None => return SessionEnd::Cancelled,
            Some(Err(err)) if err.is_session_over() => return SessionEnd::Over,
            // A read-only instance (ACLs) serves without a record rather than retrying forever.
            Some(Err(zookeeper_client::Error::NoAuth)) => {
                tracing::warn!(dir = %store.layout.dir, "no permission to register a listener record; serving without one");
            }
            Some(Err(err)) => {
                tracing::debug!(dir = %store.layout.dir, error = %err, "cannot register the listener record yet; retrying");
                return SessionEnd::Retry;
            }
            Some(Ok(())) => {}
        }
    }
    let opts = &store.options;
    let (min, max) = opts.check_interval;
    let mut resync = true;
    loop {
        if resync {
            resync = false;
            match unless_cancelled(cancel, fetch_and_apply(client, store)).await {
                None => return SessionEnd::Cancelled,
                Some(Ok(_)) => {}
                Some(Err(Error::ZooKeeper { source, .. })) if source.is_session_over() => {
                    return SessionEnd::Over
                }
                Some(Err(err)) => {
                    tracing::debug!(dir = %store.layout.dir, error = %err, "re-sync failed")
                }
            }
        }
        let check = tokio::time::sleep(jittered(min, max));
        let mut verify = false;
        let generation = slot.borrow().generation;
        tokio::select! {
            _ = cancel.cancelled() => return SessionEnd::Cancelled,
            // The container closed, or moved to another session: this one is not ours to keep.
            changed = slot.changed() => {
                let current = slot.borrow_and_update();
                if changed.is_err() || current.state == ConnectionState::Closed || current.generation != generation {
                    return SessionEnd::Over;
                }
            },
            event = watcher.changed() => match event.event_type {
                EventType::Session => match event.session_state {
                    SessionState::SyncConnected | SessionState::ConnectedReadOnly => resync = true,
                    SessionState::Disconnected => {},
                    // Terminal: the watcher must not be polled again.
                    _ => return SessionEnd::Over,
                },
                EventType::NodeDeleted => {
                    store.set_fault(Error::Missing { path: payload.clone() });
                },
                // Most likely the echo of this instance's own write, which the local copy already
                // holds: a stat tells, without downloading the payload again.
                EventType::NodeDataChanged if store.take_own_echo() => verify = true,
                _ => resync = true,
            },
            _ = check => verify = true,
        }
        if verify {
            match unless_cancelled(cancel, drifted(client, store)).await {
                None => return SessionEnd::Cancelled,
                Some(drifted) => resync = drifted,
            }
        }
    }
}

/// Compares the payload's stat with the local copy: `true` when ZooKeeper holds another write
/// (then the caller re-reads); marks the copy verified when they match.
async fn drifted<T>(client: &Client, store: &Store<T>) -> bool
where
    T: Send + Sync + 'static,
{
    let payload = &store.layout.payload;
    match client.check_stat(payload).await {
        Ok(Some(stat)) if stat.mzxid == store.stamp().mzxid && store.fault().is_none() => {
            store.mark_verified();
            false
        }
        Ok(None) => {
            store.set_fault(Error::Missing {
                path: payload.clone(),
            });
            false
        }
        Ok(Some(_)) => {
            tracing::debug!(dir = %store.layout.dir, "payload moved on; re-syncing");
            true
        }
        Err(err) => {
            tracing::debug!(dir = %store.layout.dir, error = %err, "stat of the payload failed");
            false
        }
    }
}
