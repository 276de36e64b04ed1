//! The I/O of an update's steps: each takes one [`Next`] and makes the requests it needs, and
//! hands what they answered to the decisions of [`super::decide`]. The loop over them is
//! [`super::update`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use zookeeper_client::{CheckWriteError, Client, MultiWriteResult};

use super::closure::run_closure;
use super::decide::{self, AfterCommit, Choice, Held, LockFailed, Seen};
use super::lock::{self, Lock};
use super::marker::{self, committed_stats, Resolved, WriterState};
use super::{connected, Base, Context, CATCH_UP};
use crate::error::{within_state, Error, TryUpdateError};
use crate::store::codec;
use crate::store::{InFlight, Stamp, StateRef, Store, VersionTree};

/// Where an update is. The variants under the lock carry it: dropping one releases it.
pub(super) enum Next<T, E> {
    /// A new attempt: the commit marker, then the lock.
    Lock,
    /// Under the lock: choose the base version from what ZooKeeper held (`fresh`: as just read
    /// again).
    Choose {
        locked: Locked,
        held: Held,
        fresh: bool,
    },
    /// Under the lock: run the closure on `snapshot` and commit at payload version `at`.
    Commit {
        locked: Locked,
        held: Held,
        at: i32,
        snapshot: StateRef<T>,
    },
    /// Nothing was applied. `any_base`: start a new attempt whatever the base (our own
    /// bookkeeping was off: the session, the lock or the marker); otherwise only a re-reading
    /// update (`Base::Latest`) starts over, and the others fail with `err`.
    StartOver { err: Error, any_base: bool },
    /// The update's outcome.
    Done(Result<i32, TryUpdateError<E>>),
}

impl<T, E> From<Error> for Next<T, E> {
    fn from(err: Error) -> Self {
        Next::Done(Err(TryUpdateError::State(err)))
    }
}

/// What an attempt holds once it has the lock.
pub(super) struct Locked {
    client: Client,
    /// The commit marker's version that the commit sets it at.
    marker_version: i32,
    lock: Lock,
}

impl Held {
    fn of_stamp(stamp: Stamp) -> Held {
        Held {
            version: stamp.version,
            czxid: stamp.czxid,
        }
    }
}

/// The commit marker, then the lock (create, list and the payload's stat in one round trip);
/// once held, gives the sync task the chance to bring a write the copy has not seen yet.
pub(super) async fn lock<T, E>(cx: &Context<'_, T>, marker: &mut WriterState) -> Next<T, E> {
    let Context {
        store,
        conn,
        layout,
        id,
        options,
    } = cx;
    let client = match connected(conn, layout, options.request_timeout).await {
        Ok(client) => client,
        Err(err) => return err.into(),
    };
    let ensure = marker.ensure_marker(&client, layout, id);
    let path = layout.writer(id);
    let marker_version =
        match within_state("creating", &path, options.request_timeout, ensure).await {
            Ok(version) => version,
            Err(err) => return err.into(),
        };
    let asked = std::time::Instant::now();
    // Reading the payload after a wait costs its size; small ones only.
    let small = store.load().size() < crate::store::BIG;
    let acquire = lock::acquire(&client, layout, id.as_bytes(), small);
    let acquired = match tokio::time::timeout(options.lock_timeout, acquire).await {
        Ok(acquired) => {
            acquired.map_err(|e| Error::from_zookeeper("acquiring lock", &layout.lock, e))
        }
        Err(_) => Err(Error::LockTimeout {
            path: layout.lock.clone(),
            waited: options.lock_timeout,
        }),
    };
    crate::metrics::lock_waited(&layout.dir, asked.elapsed());
    let mut lock = match acquired {
        Ok(lock) => lock,
        Err(err) => match decide::after_lock_failure(&err) {
            LockFailed::StartOver => {
                return Next::StartOver {
                    err,
                    any_base: true,
                }
            }
            LockFailed::Fail => return err.into(),
        },
    };
    tracing::debug!(lock = %lock.path(), waited = ?asked.elapsed(), "lock held");
    // What ZooKeeper held when the lock was granted.
    let Some(stat) = lock.payload else {
        return Error::Missing {
            path: layout.payload.clone(),
        }
        .into();
    };
    // A newer write than the local copy holds, of the same incarnation, is most likely the
    // previous holder's, whose watch event is on its way. Read with the lock, it is handed to the
    // store's writer; else the sync task gets the time to apply it (one fetch) before the copy
    // is called stale.
    let local = store.stamp();
    if stat.czxid == local.czxid && stat.mzxid > local.mzxid {
        match lock.fetched.take() {
            // A payload that does not decode is the store's fault now; the base choice deals
            // with it.
            Some(bytes) => drop(store.offer(bytes, Stamp::of(&stat)).await),
            None => drop(store.caught_up(stat.mzxid, CATCH_UP).await),
        }
    }
    let held = Held {
        version: stat.version,
        czxid: stat.czxid,
    };
    let locked = Locked {
        client,
        marker_version,
        lock,
    };
    Next::Choose {
        locked,
        held,
        fresh: false,
    }
}

/// The base choice ([`decide::choose_base`]) over the local copy as it is now, and the refresh it
/// may ask for.
pub(super) async fn choose<T, E>(
    cx: &Context<'_, T>,
    base: Base,
    locked: Locked,
    held: Held,
    fresh: bool,
) -> Next<T, E>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    cx.store.prepare_tree().await;
    let snapshot = cx.store.load();
    let seen = Seen {
        held,
        local: Held::of_stamp(snapshot.stamp()),
        bad: bad_version(cx.store),
        fresh,
    };
    match decide::choose_base(base, seen) {
        Choice::Write(at) => Next::Commit {
            locked,
            held,
            at,
            snapshot,
        },
        Choice::Refresh => {
            drop(snapshot);
            match refresh(cx).await {
                Ok(held) => Next::Choose {
                    locked,
                    held,
                    fresh: true,
                },
                Err(err) => err.into(),
            }
        }
        Choice::Stale { expected, refresh } => {
            drop((snapshot, locked));
            let remote = match refresh {
                true => self::refresh(cx).await.ok().map(|h| h.version),
                false => None,
            };
            stale(cx, expected, remote.or(Some(held.version)))
        }
    }
}

/// Runs the closure, encodes its JSON and commits it in one multi (check the lock, set the
/// payload at `at`, set the marker to this write's token, delete the lock); a failure is
/// classified by [`decide::after_commit`].
pub(super) async fn commit<T, E, F>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    base: Base,
    (locked, held, at, snapshot): (Locked, Held, i32, StateRef<T>),
    f: &mut F,
) -> Next<T, E>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let Context {
        store,
        layout,
        id,
        options,
        ..
    } = cx;
    let payload = &layout.payload;
    let (value, json, base_tree) = match run_closure(&snapshot, payload, f) {
        Ok(result) => result,
        Err(err) => return Next::Done(Err(err)),
    };
    let compression = options.compression.for_payload(snapshot.is_compressed());
    drop(snapshot);
    let bytes = match encode(cx, &json, compression) {
        Ok(bytes) => bytes,
        Err(err) => return err.into(),
    };
    let marker_path = layout.writer(id);
    let token = marker.next_token(id, locked.client.session_id().0);
    let txn = (|| {
        let mut txn = locked.client.new_check_writer(locked.lock.path(), None)?;
        txn.add_set_data(payload, &bytes, Some(at))?;
        txn.add_set_data(&marker_path, &token, Some(locked.marker_version))?;
        txn.add_delete(locked.lock.path(), None)?;
        Ok(txn)
    })();
    let txn = match txn {
        Ok(txn) => txn,
        Err(err) => return Error::from_zookeeper("writing", payload, err).into(),
    };
    let in_flight = store.write_started();
    let failure = match tokio::time::timeout(options.request_timeout, txn.commit()).await {
        Ok(Ok(results)) => {
            // The commit deleted the lock node.
            locked.lock.released();
            let written = Written {
                value,
                json,
                bytes,
                base_tree,
            };
            return acknowledged(cx, marker, in_flight, results, (held, at), written).await;
        }
        Ok(Err(failure)) => Some(failure),
        Err(_) => None,
    };
    drop(in_flight);
    let source = || match &failure {
        Some(
            CheckWriteError::CheckFailed { source }
            | CheckWriteError::OperationFailed { source, .. }
            | CheckWriteError::RequestFailed { source },
        ) => source.clone(),
        None => zookeeper_client::Error::Timeout,
    };
    match decide::after_commit(failure.as_ref()) {
        AfterCommit::LockLost => {
            start_over(Error::from_zookeeper("writing", &layout.lock, source()))
        }
        AfterCommit::MarkerMoved => {
            marker.forget();
            start_over(Error::from_zookeeper("writing", &marker_path, source()))
        }
        AfterCommit::Busy => start_over(Error::from_zookeeper("writing", payload, source())),
        AfterCommit::Refused => Error::from_zookeeper("writing", payload, source()).into(),
        AfterCommit::Bypassed => match refresh(cx).await {
            Err(err) => err.into(),
            Ok(held) => match decide::after_bypass(base, at) {
                None => Next::Choose {
                    locked,
                    held,
                    fresh: true,
                },
                Some(expected) => stale(cx, expected, Some(held.version)),
            },
        },
        AfterCommit::Lost => {
            let Locked {
                client,
                marker_version,
                lock,
            } = locked;
            // If the write did not land, releasing the lock also fences it (its check fails).
            drop(lock);
            let pending = marker::Pending {
                layout,
                id,
                token: &token,
                version: marker_version,
            };
            resolve(cx, marker, &client, pending, at).await
        }
    }
}

/// What a committed write hands to the store's writer.
struct Written<T> {
    value: T,
    json: serde_json::Value,
    bytes: Vec<u8>,
    base_tree: VersionTree,
}

/// A committed write: the marker's new version is learnt and the copy takes the write before
/// the update returns.
async fn acknowledged<T, E>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    in_flight: InFlight<'_, T>,
    results: Vec<MultiWriteResult>,
    (held, at): (Held, i32),
    written: Written<T>,
) -> Next<T, E>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let payload = &cx.layout.payload;
    let Some((payload_stat, marker_stat)) = committed_stats(results) else {
        // Committed, so applied, but the server's answer lacks the new stats (never seen): learn
        // the marker again, and let the sync task bring the copy.
        tracing::error!(%payload, "a committed write's answer has no stats");
        marker.forget();
        drop(in_flight);
        let _ = refresh(cx).await;
        return Next::Done(Ok(at.saturating_add(1)));
    };
    marker.wrote(marker_stat.version);
    if held.czxid != 0 && payload_stat.czxid != held.czxid {
        // Deleted and re-created by an outside actor within the round trip between the lock's
        // stat and the commit: the one race a version check cannot see.
        tracing::error!(%payload, "wrote over a payload re-created during the update");
    }
    tracing::debug!(dir = %cx.layout.dir, version = payload_stat.version, "committed");
    let Written {
        value,
        json,
        bytes,
        base_tree,
    } = written;
    let stamp = Stamp::of(&payload_stat);
    // A closed state cannot show it, but the write was applied all the same.
    let _ = in_flight
        .acknowledge(value, json, stamp, Some(bytes), (*cx.id).clone(), base_tree)
        .await;
    Next::Done(Ok(payload_stat.version))
}

/// A write whose reply was lost, resolved through its commit marker before the update answers.
async fn resolve<T, E>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    client: &Client,
    pending: marker::Pending<'_>,
    at: i32,
) -> Next<T, E>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let dir = &cx.layout.dir;
    tracing::info!(%dir, "reply to a write lost; resolving it through the commit marker");
    let deadline = cx.options.marker_grace / 2;
    let resolved = match marker.resolve(client, cx.conn, pending, deadline).await {
        Ok(resolved) => resolved,
        Err(err) => return err.into(),
    };
    tracing::info!(%dir, outcome = ?resolved, "write resolved");
    match resolved {
        Resolved::Landed => {
            // Our write made version at+1; later writes may already exist.
            let _ = refresh(cx).await;
            Next::Done(Ok(at.saturating_add(1)))
        }
        Resolved::NotApplied => Next::StartOver {
            err: Error::from_zookeeper(
                "writing",
                &cx.layout.payload,
                zookeeper_client::Error::ConnectionLoss,
            ),
            any_base: false,
        },
    }
}

fn encode<T>(
    cx: &Context<'_, T>,
    json: &serde_json::Value,
    compression: codec::Compression,
) -> Result<Vec<u8>, Error> {
    let path = &cx.layout.payload;
    let bytes = codec::encode(json, compression).map_err(|message| Error::Encode {
        path: path.clone(),
        message,
    })?;
    if bytes.len() > cx.options.max_payload {
        return Err(Error::PayloadTooLarge {
            path: path.clone(),
            size: bytes.len(),
            limit: cx.options.max_payload,
        });
    }
    Ok(bytes)
}

fn start_over<T, E>(err: Error) -> Next<T, E> {
    Next::StartOver {
        err,
        any_base: true,
    }
}

/// A `StaleWrite`: only a re-reading update starts over.
pub(super) fn stale<T, E>(cx: &Context<'_, T>, expected: i32, remote: Option<i32>) -> Next<T, E> {
    Next::StartOver {
        err: Error::StaleWrite {
            path: cx.layout.payload.clone(),
            local: expected,
            remote,
        },
        any_base: false,
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
