//! Exclusive, version-checked, exactly-once writes.
//!
//! One update is, in order: the handle's update mutex (one update at a time per handle; the
//! caller holds it), this writer's commit marker ([`marker`], known after the first write of a
//! session), the lock ([`lock`]: create, list and a stat of the payload in one round trip when it
//! is free; after a wait, the last listing travels with a read of the payload, whose bytes are
//! offered to the store's writer, or, for large payloads, the update waits up to `CATCH_UP` for
//! the sync task to bring the previous holder's write), the base version (`decide::choose_base`:
//! the local copy when ZooKeeper holds the same write, else a refresh through the store's
//! writer), the closure on a copy and the merge that keeps what the closure's type does not know
//! (`closure`, [`crate::diff::merge`]), and one multi transaction: check the lock node, set the
//! payload at the base version, set the marker to this write's token, delete the lock node. Two
//! server writes per update (the lock node's create, the commit); the commit releases the lock.
//! A failed commit is classified by `decide::after_commit`; a lost reply is resolved through the
//! marker. The acknowledged result is handed to the store's writer, and the call returns once the
//! local copy holds it (after a lost reply resolved as landed, once a refresh was tried: if it
//! fails, the copy follows with the sync task's next read).
//!
//! Files: `decide` holds the decisions (pure, with their tables), `steps` the I/O of each step,
//! this file the loop over them ([`update`]); `closure` runs the caller's closure.

mod closure;
mod decide;
mod intent;
pub(crate) mod lock;
pub(crate) mod marker;
mod resolve;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use self::decide::Base;
pub(crate) use self::intent::Intent;
pub use self::intent::MAX_MESSAGE;
pub(crate) use self::steps::{connected, Context};

use self::closure::run_closure;
use self::marker::WriterState;
use self::steps::Next;
use crate::error::{Error, TryUpdateError};
use crate::store::{Feed, Stamp};

/// How many attempts an update makes (an external writer bumped the version, the lock was lost,
/// the reply was lost and the write did not land) before it gives up with the last error.
const MAX_ATTEMPTS: usize = 16;

/// How many times one attempt chooses its base under the lock (each re-read of the payload is a
/// new choice) before it calls the copy stale.
const MAX_CHOICES: usize = 16;

/// Runs an update; see the module documentation. One loop over [`Next`]: a new attempt takes
/// the marker and the lock, chooses the base version under it (re-reading at most
/// `MAX_CHOICES` times), commits, and either ends or starts over after a pause (at most
/// `MAX_ATTEMPTS` attempts).
pub(crate) async fn update<T, E, F>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    base: Base,
    mut f: F,
) -> Result<i32, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    if let Base::Exact(version) = base {
        if version < 0 {
            let path = cx.layout.payload.clone();
            return Err(Error::InvalidVersion { path, version }.into());
        }
    }
    let (mut attempts, mut choices) = (0, 0);
    let mut next = Next::Lock;
    loop {
        next = match next {
            Next::Lock => {
                (attempts, choices) = (attempts + 1, 0);
                // Recorded in the caller's `zkstate.update` span.
                tracing::Span::current().record("attempts", attempts);
                steps::lock(cx, marker).await
            }
            Next::Choose { locked, .. } if choices == MAX_CHOICES => {
                drop(locked);
                steps::stale(cx, expected(cx, base), None)
            }
            Next::Choose {
                locked,
                held,
                fresh,
            } => {
                choices += 1;
                steps::choose(cx, base, locked, held, fresh).await
            }
            Next::Commit {
                locked,
                held,
                at,
                snapshot,
            } => {
                let chosen = (locked, held, at, snapshot);
                steps::commit(cx, marker, base, chosen, &mut f).await
            }
            Next::StartOver { err, any_base } => {
                if !(any_base || base == Base::Latest) || attempts == MAX_ATTEMPTS {
                    return Err(TryUpdateError::State(err));
                }
                tracing::debug!(dir = %cx.layout.dir, error = %err, "update not applied; starting over");
                // Not in a tight loop while the connection replaces an expired session.
                let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 50..150);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                Next::Lock
            }
            Next::Done(outcome) => return outcome,
        };
    }
}

/// The version a `StaleWrite` names when the copy kept moving under the lock.
fn expected<T>(cx: &Context<'_, T>, base: Base) -> i32 {
    match base {
        Base::Exact(version) => version,
        Base::Local | Base::Latest => cx.store.stamp().version,
    }
}

/// An update of a local-only state ([`ZkState::empty`](crate::ZkState::empty)): same closure
/// contract, no ZooKeeper; versions count up from 0.
pub(crate) async fn update_local<T, E, F>(
    feed: &Feed<T>,
    id: &Arc<str>,
    mut f: F,
) -> Result<i32, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let store = feed.store();
    store.parse_tree_off_workers().await;
    let snapshot = store.load();
    let (value, json, base_tree) = run_closure(&snapshot, store.payload_path(), &mut f)?;
    let stamp = snapshot.stamp();
    drop(snapshot);
    let next = Stamp {
        version: stamp.version.saturating_add(1),
        mzxid: stamp.mzxid.saturating_add(1),
        ..stamp
    };
    feed.write_started()
        .acknowledge(value, json, next, None, id.clone(), base_tree)
        .await?;
    Ok(next.version)
}
