//! Exclusive, version-checked, exactly-once writes.
//!
//! One update is, in order: the handle's update mutex (one update at a time per handle; the
//! caller holds it), this writer's commit marker ([`marker`], known after the first write of a
//! session), the lock ([`lock`]: create, list and a stat of the payload in one round trip when it
//! is free; after a wait, the last listing travels with a read of the payload, whose bytes are
//! offered to the store's writer, or, for large payloads, the update waits up to `CATCH_UP` for
//! the sync task to bring the previous holder's write), the base value (the local copy, when
//! the stat says ZooKeeper holds the same write; else a refresh through the store's writer), the closure on a copy, the merge that keeps what
//! the closure's type does not know ([`crate::diff::merge`]), and one multi transaction: check the
//! lock node, set the payload at the base version, set the marker to this write's token, delete
//! the lock node. Two server writes per update (the lock node's create, the commit); the commit
//! releases the lock. The acknowledged result is handed to the store's writer, and the call
//! returns once the local copy holds it (after a lost reply resolved as landed, once a refresh
//! was tried: if it fails, the copy follows with the sync task's next read).

pub(crate) mod lock;
pub(crate) mod marker;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zookeeper_client::CheckWriteError;

use self::marker::{committed_stats, Resolved, WriterState};
use crate::connection::Connection;
use crate::error::{within_state, Error, TryUpdateError};
use crate::layout::Layout;
use crate::options::StateOptions;
use crate::store::codec;
use crate::store::{Stamp, StateRef, Store, VersionTree};

/// How many times an update starts over after a write that was not applied (an external writer
/// bumped the version, the lock was lost, the reply was lost and the write did not land) before
/// it gives up with the last error.
const MAX_ATTEMPTS: usize = 16;

/// How long an update waits, holding the lock, for the local copy to catch up with a write that
/// ZooKeeper already holds, before it calls the copy stale (`update`) or reads it (`update_latest`).
const CATCH_UP: Duration = Duration::from_millis(100);

/// Waits for a connected client, mapping the connection's errors to the state's.
pub(crate) async fn connected(
    conn: &Connection,
    layout: &Layout,
    timeout: Duration,
) -> Result<zookeeper_client::Client, Error> {
    conn.wait_connected(timeout).await.map_err(|err| match err {
        crate::ConnectError::Closed => Error::Closed {
            dir: layout.dir.clone(),
        },
        _ => Error::timeout("connecting for", &layout.dir, timeout),
    })
}

/// Which base an update starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    /// The local copy; another write in ZooKeeper is a `StaleWrite`.
    Local,
    /// What ZooKeeper holds under the lock; only writers that bypass the lock make it retry.
    Latest,
    /// Exactly this payload version (compare-and-set); any other is a `StaleWrite`.
    Exact(i32),
}

/// What an update works with.
pub(crate) struct Context<'a, T> {
    pub(crate) store: &'a Store<T>,
    pub(crate) conn: &'a Connection,
    pub(crate) layout: &'a Layout,
    pub(crate) id: &'a Arc<str>,
    pub(crate) options: &'a StateOptions,
}

/// Why one attempt did not apply its write.
enum NotApplied<E> {
    /// Final: return this to the caller.
    Fail(TryUpdateError<E>),
    /// Try again with a fresh base (re-reading update only), remembering why.
    Retry(Error),
    /// Try again whatever the base: our own bookkeeping (the marker) was off; nothing was applied.
    Again(Error),
}

impl<E> From<Error> for NotApplied<E> {
    fn from(err: Error) -> Self {
        NotApplied::Fail(TryUpdateError::State(err))
    }
}

/// Runs an update; see the module documentation.
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
            return Err(Error::InvalidVersion {
                path: cx.layout.payload.clone(),
                version,
            }
            .into());
        }
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        // Recorded in the caller's `zkstate.update` span.
        tracing::Span::current().record("attempts", attempts);
        let err = match attempt(cx, marker, base, &mut f).await {
            Ok(version) => return Ok(version),
            Err(NotApplied::Fail(err)) => return Err(err),
            Err(NotApplied::Retry(err)) if base != Base::Latest => {
                return Err(TryUpdateError::State(err))
            }
            Err(NotApplied::Retry(err) | NotApplied::Again(err)) => err,
        };
        if attempts == MAX_ATTEMPTS {
            return Err(TryUpdateError::State(err));
        }
        tracing::debug!(dir = %cx.layout.dir, error = %err, "update not applied; starting over");
        // Not in a tight loop while the connection replaces an expired session.
        let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 50..150);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// What ZooKeeper holds, as far as the update knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    version: i32,
    czxid: i64,
}

impl Held {
    fn of_stamp(stamp: Stamp) -> Held {
        Held {
            version: stamp.version,
            czxid: stamp.czxid,
        }
    }
}

/// The version of a payload that does not decode, when that is the store's fault.
fn bad_version<T>(store: &Store<T>) -> Option<i32> {
    match store.fault() {
        Some(Error::Decode { version, .. }) => Some(version),
        _ => None,
    }
}

/// Asks the store's writer to read the payload again; what ZooKeeper holds then. A payload that
/// does not decode is held at its version (its incarnation unknown: `czxid` 0).
async fn refresh<T>(cx: &Context<'_, T>) -> Result<Held, Error> {
    let timeout = cx.options.request_timeout;
    match within_state("reading", &cx.layout.payload, timeout, cx.store.refresh()).await {
        Ok(stamp) => Ok(Held::of_stamp(stamp)),
        Err(Error::Decode { version, .. }) => Ok(Held { version, czxid: 0 }),
        Err(err) => Err(err),
    }
}

async fn attempt<T, E, F>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    base: Base,
    f: &mut F,
) -> Result<i32, NotApplied<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let Context {
        store,
        conn,
        layout,
        id,
        options,
    } = cx;
    let client = connected(conn, layout, options.request_timeout).await?;
    let marker_path = layout.writer(id);
    let marker_version = within_state(
        "creating",
        &marker_path,
        options.request_timeout,
        marker.ensure_marker(&client, layout, id),
    )
    .await?;

    let asked = std::time::Instant::now();
    // Reading the payload after a wait costs its size; small ones only.
    let small = store.load().size() < crate::store::BIG;
    let acquired = crate::error::within(
        "acquiring lock",
        &layout.lock,
        options.lock_timeout,
        lock::acquire(&client, layout, id.as_bytes(), small),
    )
    .await;
    crate::metrics::lock_waited(&layout.dir, asked.elapsed());
    let mut lock = match acquired {
        Ok(lock) => lock,
        // Our session expired, or our node vanished (the lock directory was removed): nothing
        // was written; again with the next session.
        Err(
            err @ Error::ZooKeeper {
                source:
                    zookeeper_client::Error::SessionExpired
                    | zookeeper_client::Error::RuntimeInconsistent,
                ..
            },
        ) => return Err(NotApplied::Again(err)),
        Err(err) => return Err(err.into()),
    };
    tracing::debug!(lock = %lock.path(), waited = ?asked.elapsed(), "lock held");
    // What ZooKeeper held when the lock was granted.
    let Some(stat) = lock.payload else {
        return Err(Error::Missing {
            path: layout.payload.clone(),
        }
        .into());
    };
    let mut held = Held {
        version: stat.version,
        czxid: stat.czxid,
    };

    // A newer write than the local copy holds, of the same incarnation, is most likely the
    // previous holder's, whose watch event is on its way. Read with the lock, it is handed to the
    // store's writer; else the sync task gets the time to apply it (one fetch) before the copy
    // is called stale.
    let local = store.stamp();
    if stat.czxid == local.czxid && stat.mzxid > local.mzxid {
        match lock.fetched.take() {
            Some(bytes) => {
                // A payload that does not decode is the store's fault now; the base choice below
                // deals with it.
                let _ = store.offer(bytes, Stamp::of(&stat)).await;
            }
            None => {
                store.caught_up(stat.mzxid, CATCH_UP).await;
            }
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        store.prepare_tree().await;
        let snapshot = store.load();
        let local = Held::of_stamp(snapshot.stamp());
        // The version to write at, or why not yet.
        let base_version = match base {
            Base::Local | Base::Latest if held == local => local.version,
            // ZooKeeper holds a payload that does not decode: the re-reading update writes over
            // it, at its version, from the last good value.
            Base::Latest if bad_version(store) == Some(held.version) => held.version,
            Base::Latest => {
                drop(snapshot);
                held = refresh(cx).await?;
                continue;
            }
            Base::Local => {
                drop(snapshot);
                // Another write, or another incarnation of the payload at the same version.
                let remote = refresh(cx).await.ok().map(|h| h.version);
                return Err(stale(cx, local.version, remote.or(Some(held.version))));
            }
            Base::Exact(version) if held.version != version => {
                drop(snapshot);
                let remote = refresh(cx).await.ok().map(|h| h.version);
                return Err(stale(cx, version, remote.or(Some(held.version))));
            }
            Base::Exact(version) if held == local => version,
            // ZooKeeper holds the compared version, and it does not decode: the compare-and-set
            // holds, and writes over it from the last good value (as `Latest` does).
            Base::Exact(version) if bad_version(store) == Some(version) => version,
            Base::Exact(version) => {
                // Our copy is of another write than the one the caller compares against: read it.
                drop(snapshot);
                held = refresh(cx).await?;
                if held.version != version {
                    return Err(stale(cx, version, Some(held.version)));
                }
                continue;
            }
        };

        let payload = &layout.payload;
        let (value, json, base_tree) =
            run_closure(&snapshot, payload, f).map_err(NotApplied::Fail)?;
        let compression = options.compression.for_payload(snapshot.is_compressed());
        drop(snapshot);
        let bytes = codec::encode(&json, compression).map_err(|message| Error::Encode {
            path: payload.clone(),
            message,
        })?;
        if bytes.len() > options.max_payload {
            return Err(Error::PayloadTooLarge {
                path: payload.clone(),
                size: bytes.len(),
                limit: options.max_payload,
            }
            .into());
        }

        let token = marker.next_token(id, client.session_id().0);
        let mut txn = client
            .new_check_writer(lock.path(), None)
            .map_err(|e| Error::from_zookeeper("writing", payload, e))?;
        txn.add_set_data(payload, &bytes, Some(base_version))
            .and_then(|()| txn.add_set_data(&marker_path, &token, Some(marker_version)))
            .and_then(|()| txn.add_delete(lock.path(), None))
            .map_err(|e| Error::from_zookeeper("writing", payload, e))?;
        let in_flight = store.write_started();
        let outcome = tokio::time::timeout(options.request_timeout, txn.commit()).await;
        let failure = match outcome {
            Ok(Ok(results)) => {
                // The commit deleted the lock node.
                lock.released();
                let Some((payload_stat, marker_stat)) = committed_stats(results) else {
                    // Committed, so applied, but the server's answer lacks the new stats (never
                    // seen): learn the marker again, and let the sync task bring the copy.
                    tracing::error!(%payload, "a committed write's answer has no stats");
                    marker.forget();
                    drop(in_flight);
                    let _ = refresh(cx).await;
                    return Ok(base_version.saturating_add(1));
                };
                marker.wrote(marker_stat.version);
                if held.czxid != 0 && payload_stat.czxid != held.czxid {
                    // Deleted and re-created by an outside actor within the round trip
                    // between the lock's stat and the commit: the one race a version check
                    // cannot see.
                    tracing::error!(%payload, "wrote over a payload re-created during the update");
                }
                let stamp = Stamp::of(&payload_stat);
                tracing::debug!(dir = %layout.dir, version = payload_stat.version, "committed");
                // A closed state cannot show it, but the write was applied all the same.
                let _ = in_flight
                    .acknowledge(value, json, stamp, Some(bytes), (*id).clone(), base_tree)
                    .await;
                return Ok(payload_stat.version);
            }
            Ok(Err(failure)) => Some(failure),
            Err(_) => None,
        };
        drop(in_flight);
        return match failure {
            // The lock node is gone (our session expired, or an outside actor removed it): the
            // transaction failed as a whole.
            Some(CheckWriteError::CheckFailed { source }) => Err(NotApplied::Again(
                Error::from_zookeeper("writing", &layout.lock, source),
            )),
            Some(CheckWriteError::OperationFailed {
                index: 0,
                source: zookeeper_client::Error::BadVersion,
            }) => {
                // A writer that bypasses the lock wrote between the lock's stat and the commit.
                held = refresh(cx).await?;
                if base == Base::Latest {
                    continue;
                }
                let expected = match base {
                    Base::Exact(version) => version,
                    _ => base_version,
                };
                Err(stale(cx, expected, Some(held.version)))
            }
            Some(CheckWriteError::OperationFailed { index: 1, source }) => {
                // Our marker changed or vanished (a reaper, an operator): learn it again.
                marker.forget();
                Err(NotApplied::Again(Error::from_zookeeper(
                    "writing",
                    &marker_path,
                    source,
                )))
            }
            Some(CheckWriteError::OperationFailed { source, .. }) => {
                Err(Error::from_zookeeper("writing", payload, source).into())
            }
            Some(CheckWriteError::RequestFailed { source }) if no_data_change(&source) => {
                Err(Error::from_zookeeper("writing", payload, source).into())
            }
            // The reply was lost: find out whether the write landed before answering.
            Some(CheckWriteError::RequestFailed { .. }) | None => {
                // If the write did not land, releasing the lock also fences it (its check fails).
                drop(lock);
                tracing::info!(dir = %layout.dir, "reply to a write lost; resolving it through the commit marker");
                let deadline = options.marker_grace / 2;
                let pending = marker::Pending {
                    layout,
                    id,
                    token: &token,
                    version: marker_version,
                };
                let resolved = marker.resolve(&client, conn, pending, deadline).await?;
                tracing::info!(dir = %layout.dir, outcome = ?resolved, "write resolved");
                match resolved {
                    Resolved::Landed => {
                        // Our write made version base+1; later writes may already exist.
                        let _ = refresh(cx).await;
                        Ok(base_version.saturating_add(1))
                    }
                    Resolved::NotApplied => Err(NotApplied::Retry(Error::from_zookeeper(
                        "writing",
                        payload,
                        zookeeper_client::Error::ConnectionLoss,
                    ))),
                }
            }
        };
    }
    let expected = match base {
        Base::Exact(version) => version,
        Base::Local | Base::Latest => store.stamp().version,
    };
    Err(stale(cx, expected, None))
}

fn stale<E>(cx: &Context<'_, impl Sized>, local: i32, remote: Option<i32>) -> NotApplied<E> {
    NotApplied::Retry(Error::StaleWrite {
        path: cx.layout.payload.clone(),
        local,
        remote,
    })
}

/// Errors that the server answered for the whole request: nothing was applied.
fn no_data_change(err: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error::*;
    matches!(
        err,
        NoNode
            | NoAuth
            | BadVersion
            | NodeExists
            | NotEmpty
            | InvalidAcl
            | BadArguments(_)
            | MarshallingError
    )
}

/// Runs the closure on a copy of the snapshot's value, and returns the new value with the JSON to
/// store: the stored JSON with what the closure changed ([`crate::diff::merge`]: fields that `T`
/// does not know are kept). A panic in the closure is an error, and nothing is written.
///
/// Also returns the stored JSON's tree with the version it is of (its mzxid): a copy that keeps a
/// small payload's text parses it here, and the write's diff reuses it rather than parsing again.
fn run_closure<T, E, F>(
    snapshot: &StateRef<T>,
    path: &str,
    f: &mut F,
) -> Result<(T, Value, VersionTree), TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let encode = |e: serde_json::Error| Error::Encode {
        path: path.to_string(),
        message: e.to_string(),
    };
    // A small payload's tree is not kept with the version (`json_tree`): an update that does not
    // write (an aborted closure, a stale version) must not leave it behind in an idle copy.
    let stored = snapshot.json_tree();
    // `T` as every copy decodes it: a value read from the copy and the closure's start agree.
    let mut value = snapshot
        .decode_again(&stored)
        .map_err(|reason| Error::Decode {
            path: path.to_string(),
            version: snapshot.version(),
            reason,
        })?;
    let before = serde_json::to_value(&value).map_err(encode)?;
    match catch_unwind(AssertUnwindSafe(|| f(&mut value))) {
        Err(_) => {
            return Err(Error::UpdatePanicked {
                path: path.to_string(),
            }
            .into())
        }
        Ok(Err(err)) => return Err(TryUpdateError::Aborted(err)),
        Ok(Ok(())) => {}
    }
    let after = serde_json::to_value(&value).map_err(encode)?;
    // Nothing unknown to keep: the closure's JSON is the payload (no copy of the tree).
    let json = if before == *stored {
        after
    } else {
        crate::diff::merge(&stored, &before, &after)
    };
    Ok((value, json, (snapshot.stamp().mzxid, stored)))
}

/// An update of a local-only state ([`ZkState::empty`](crate::ZkState::empty)): same closure
/// contract, no ZooKeeper; versions count up from 0.
pub(crate) async fn update_local<T, E, F>(
    store: &Store<T>,
    id: &Arc<str>,
    mut f: F,
) -> Result<i32, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    store.prepare_tree().await;
    let snapshot = store.load();
    let (value, json, base_tree) = run_closure(&snapshot, store.payload_path(), &mut f)?;
    let stamp = snapshot.stamp();
    drop(snapshot);
    let next = Stamp {
        version: stamp.version.saturating_add(1),
        mzxid: stamp.mzxid.saturating_add(1),
        ..stamp
    };
    store
        .write_started()
        .acknowledge(value, json, next, None, id.clone(), base_tree)
        .await?;
    Ok(next.version)
}
