//! The I/O of an update's steps: each takes one [`Next`] and makes the requests it needs, and
//! hands what they answered to the decisions of [`super::decide`]. The loop over them is
//! [`super::update`].

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zookeeper_client::{CheckWriteError, CheckWriter, Client, CreateMode, MultiWriteResult, Stat};

use super::closure::{run_closure, run_exact};
use super::decide::{self, AfterCommit, Base, Choice, Held, LockFailed, Seen};
use super::intent::Intent;
use super::lock::{self, Lock};
use super::marker::{self, committed_stats, Resolved, WriterState};
use crate::connection::Connection;
use crate::error::{within_state, Error, TryUpdateError};
use crate::history::entry::Author;
use crate::history::plan::{self, Commit, Plan};
use crate::layout::Layout;
use crate::options::StateOptions;
use crate::store::codec;
use crate::store::{Feed, InFlight, Stamp, StateRef, Store, VersionTree};

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

/// What an update works with.
pub(crate) struct Context<'a, T> {
    pub(crate) store: &'a Store<T>,
    /// What the update asks the store's writer through: refreshes, offers, its own write.
    pub(crate) feed: &'a Feed<T>,
    pub(crate) conn: &'a Connection,
    pub(crate) layout: &'a Layout,
    pub(crate) id: &'a Arc<str>,
    pub(crate) options: &'a StateOptions,
    /// What the write says of itself in the history, and a rollback's exact value.
    pub(crate) intent: &'a Intent,
}

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
    let (client, marker_version) = match with_marker(cx, marker).await {
        Ok(found) => found,
        Err(err) => return err.into(),
    };
    let history = cx.options.history.max_versions > 0;
    let ask = history && marker.history.ask_with_lock();
    let mut lock = match acquire(cx, &client, ask).await {
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
    // What ZooKeeper held when the lock was granted.
    let Some(stat) = lock.payload else {
        let path = cx.layout.payload.clone();
        return Error::Missing { path }.into();
    };
    if history && lock.history.is_none() {
        match known_history(cx, &client, marker, &stat).await {
            Ok(listing) => lock.history = Some(listing),
            Err(err) => return err.into(),
        }
    }
    catch_up(cx.feed, &mut lock, &stat).await;
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

/// A connected client, and this writer's commit marker's version in its session.
async fn with_marker<T>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
) -> Result<(Client, i32), Error> {
    let Context {
        conn,
        layout,
        id,
        options,
        ..
    } = cx;
    let client = connected(conn, layout, options.request_timeout).await?;
    let ensure = marker.ensure_marker(&client, layout, id);
    let path = layout.writer(id);
    let version = within_state("creating", &path, options.request_timeout, ensure).await?;
    Ok((client, version))
}

/// The history's listing when the lock's round trip did not carry one: as this writer's last
/// write left it when that write is still the newest, else listed now.
async fn known_history<T>(
    cx: &Context<'_, T>,
    client: &Client,
    marker: &mut WriterState,
    stat: &Stat,
) -> Result<Option<Vec<String>>, Error> {
    if let Some(listing) = marker.history.listing(stat.czxid, stat.mzxid) {
        return Ok(listing);
    }
    let history = &cx.layout.history;
    let listing = client.list_children(history);
    match within_state("listing", history, cx.options.request_timeout, async {
        listing
            .await
            .map_err(|e| Error::from_zookeeper("listing", history, e))
    })
    .await
    {
        Ok(names) => Ok(Some(names)),
        Err(Error::Missing { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The lock, within the lock timeout; with `history`, its round trip lists the history too.
async fn acquire<T>(cx: &Context<'_, T>, client: &Client, history: bool) -> Result<Lock, Error> {
    let Context {
        store,
        layout,
        id,
        options,
        ..
    } = cx;
    let asked = std::time::Instant::now();
    let fetch_after_wait = store.load().fetch_with_lock();
    let acquire = lock::acquire(client, layout, id.as_bytes(), fetch_after_wait, history);
    let acquired = match tokio::time::timeout(options.lock_timeout, acquire).await {
        Ok(Ok(lock)) => Ok(lock),
        Ok(Err(lock::LockError::ZooKeeper(e))) => {
            Err(Error::from_zookeeper("acquiring lock", &layout.lock, e))
        }
        Ok(Err(lock::LockError::Planted(path))) => Err(Error::LockNotHeld { path }),
        Err(_) => Err(Error::LockTimeout {
            path: layout.lock.clone(),
            waited: options.lock_timeout,
        }),
    };
    crate::metrics::lock_waited(&layout.dir, asked.elapsed());
    if let Ok(lock) = &acquired {
        tracing::debug!(lock = %lock.path(), waited = ?asked.elapsed(), "lock held");
    }
    acquired
}

/// A newer write than the local copy holds, of the same incarnation, is most likely the previous
/// holder's, whose watch event is on its way. Read with the lock, it is handed to the store's
/// writer; else the sync task gets the time to apply it (one fetch) before the copy is called
/// stale.
async fn catch_up<T>(feed: &Feed<T>, lock: &mut Lock, stat: &Stat) {
    let local = feed.store().stamp();
    if stat.czxid != local.czxid || stat.mzxid <= local.mzxid {
        return;
    }
    match lock.fetched.take() {
        // A payload that does not decode is the store's fault now; the base choice deals with
        // it.
        Some(bytes) => drop(feed.offer(bytes, Stamp::of(stat)).await),
        None => drop(feed.store().caught_up(stat.mzxid, CATCH_UP).await),
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
    cx.store.parse_tree_off_workers().await;
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
    (mut locked, held, at, snapshot): (Locked, Held, i32, StateRef<T>),
    f: &mut F,
) -> Next<T, E>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let written = match written(cx, snapshot, f) {
        Ok(written) => written,
        Err(err) => return Next::Done(Err(err)),
    };
    let token = marker.next_token(cx.id, locked.client.session_id().0);
    let history = match history_plan(cx, &locked, (at, held), &written) {
        Ok(history) => history,
        Err(err) => return err.into(),
    };
    let txn = match transaction(cx, &locked, (at, &token), &written.bytes, history.as_ref()) {
        Ok(txn) => txn,
        Err(err) => return err.into(),
    };
    let in_flight = cx.feed.write_started();
    let failure = match send(txn, cx.options.request_timeout).await {
        Ok(results) => {
            let planned = history.map(|plan| {
                let listed = locked.lock.history.take().flatten().unwrap_or_default();
                (listed, plan)
            });
            // The commit deleted the lock node.
            locked.lock.released();
            let done = (held, at);
            return acknowledged(cx, marker, in_flight, results, done, (written, planned)).await;
        }
        Err(failure) => failure,
    };
    drop(in_flight);
    let failed = Failed {
        locked,
        at,
        token,
        failure,
    };
    after_failure(cx, marker, base, failed).await
}

/// The closure's result, encoded.
fn written<T, E, F>(
    cx: &Context<'_, T>,
    snapshot: StateRef<T>,
    f: &mut F,
) -> Result<Written<T>, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let (value, json, base_tree) = match &cx.intent.exact {
        Some(exact) => run_exact(&snapshot, &cx.layout.payload, exact)?,
        None => run_closure(&snapshot, &cx.layout.payload, f)?,
    };
    let compression = cx.options.compression.for_payload(snapshot.is_compressed());
    let stamp = snapshot.stamp();
    drop(snapshot);
    let bytes = encode(cx, &json, compression)?;
    Ok(Written {
        value,
        json,
        bytes,
        base_tree,
        base: (stamp.version, stamp.mtime),
    })
}

/// The history's operations for this write ([`plan::plan`] over the lock's listing); `None`
/// when the state keeps no history.
///
/// # Errors
/// [`Error::PayloadTooLarge`] when even an entry without its undo patch does not fit beside the
/// payload in one request.
fn history_plan<T>(
    cx: &Context<'_, T>,
    locked: &Locked,
    (at, held): (i32, Held),
    written: &Written<T>,
) -> Result<Option<Plan>, Error> {
    let Some(listing) = &locked.lock.history else {
        return Ok(None);
    };
    // The base the closure ran on is the version written over, unless that one did not
    // decode (a repair): then its value is unknown.
    let (version, mtime) = written.base;
    let known = version == at;
    let czxid = match (held.czxid, &locked.lock.payload) {
        (0, Some(stat)) => stat.czxid,
        (czxid, _) => czxid,
    };
    let room = cx.options.max_payload.saturating_sub(written.bytes.len());
    let commit = Commit {
        old: known.then_some(&*written.base_tree.1),
        new: &written.json,
        at,
        czxid,
        at_mtime: known.then_some(mtime),
        author: author(cx),
        message: cx.intent.message.clone(),
        rollback_of: cx.intent.rollback_of,
        room,
        retention: cx.options.history,
    };
    let plan = plan::plan(listing.as_deref(), &commit);
    let entries: usize = plan.create.iter().map(|(_, data)| data.len()).sum();
    if entries > room {
        return Err(Error::PayloadTooLarge {
            path: cx.layout.payload.clone(),
            size: written.bytes.len() + entries,
            limit: cx.options.max_payload,
        });
    }
    Ok(Some(plan))
}

/// Who this write is, for its history entry.
fn author<T>(cx: &Context<'_, T>) -> Author {
    let program = &cx.options.program;
    Author {
        id: Some(cx.id.to_string()),
        host: Some(crate::listeners::host_name())
            .filter(|h| !h.is_empty())
            .map(str::to_string),
        pid: Some(std::process::id()),
        program: Some(program.name.clone()),
        program_version: program.version.clone(),
        tool: Some(cx.options.tool),
        identity: cx
            .conn
            .settings()
            .digest()
            .first()
            .map(|credential| format!("digest:{}", credential.user())),
    }
}

/// The commit's transaction: check the lock, set the payload at `at`, set the marker to
/// `token`, delete the lock; then the history's operations (create its directory, delete the
/// trimmed and stale entries, create the new ones).
fn transaction<'c, T>(
    cx: &Context<'_, T>,
    locked: &'c Locked,
    (at, token): (i32, &[u8]),
    bytes: &[u8],
    history: Option<&Plan>,
) -> Result<CheckWriter<'c>, Error> {
    let Context { layout, id, .. } = cx;
    let build = || {
        let mut txn = locked.client.new_check_writer(locked.lock.path(), None)?;
        txn.add_set_data(&layout.payload, bytes, Some(at))?;
        txn.add_set_data(&layout.writer(id), token, Some(locked.marker_version))?;
        txn.add_delete(locked.lock.path(), None)?;
        if let Some(plan) = history {
            let persistent = CreateMode::Persistent.with_acls(layout.acls());
            if plan.create_dir {
                txn.add_create(&layout.history, b"", &persistent)?;
            }
            // Deletes first: a planted node with a new entry's name goes before it is created.
            for name in &plan.delete {
                txn.add_delete(&layout.history_entry(name), None)?;
            }
            for (name, data) in &plan.create {
                txn.add_create(&layout.history_entry(name), data, &persistent)?;
            }
        }
        Ok(txn)
    };
    build().map_err(|e| Error::from_zookeeper("writing", &layout.payload, e))
}

/// Sends the commit; `Err(None)` when no answer came within `timeout`.
async fn send(
    txn: CheckWriter<'_>,
    timeout: Duration,
) -> Result<Vec<MultiWriteResult>, Option<CheckWriteError>> {
    match tokio::time::timeout(timeout, txn.commit()).await {
        Ok(result) => result.map_err(Some),
        Err(_) => Err(None),
    }
}

/// A commit that did not succeed: what it held and sent, and how it failed (`None`: no answer
/// in time).
struct Failed {
    locked: Locked,
    at: i32,
    token: Vec<u8>,
    failure: Option<CheckWriteError>,
}

/// The next step after a failed commit, by [`decide::after_commit`].
async fn after_failure<T, E>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    base: Base,
    failed: Failed,
) -> Next<T, E>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let Failed {
        locked,
        at,
        token,
        failure,
    } = failed;
    // Whatever happened to the commit, what this writer knew of the history may not hold.
    marker.history.forget();
    let layout = cx.layout;
    let source = match &failure {
        Some(
            CheckWriteError::CheckFailed { source }
            | CheckWriteError::OperationFailed { source, .. }
            | CheckWriteError::RequestFailed { source },
        ) => source.clone(),
        None => zookeeper_client::Error::Timeout,
    };
    let writing = |path: &str| Error::from_zookeeper("writing", path, source.clone());
    match decide::after_commit(failure.as_ref()) {
        AfterCommit::LockLost => start_over(writing(&layout.lock)),
        AfterCommit::HistoryMoved => start_over(writing(&layout.history)),
        AfterCommit::MarkerMoved => {
            marker.forget();
            start_over(writing(&layout.writer(cx.id)))
        }
        AfterCommit::Refused => writing(&layout.payload).into(),
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
                id: cx.id,
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
    /// The version the closure ran on and its server time (mtime).
    base: (i32, i64),
}

/// A committed write: the marker's new version is learnt and the copy takes the write before
/// the update returns.
async fn acknowledged<T, E>(
    cx: &Context<'_, T>,
    marker: &mut WriterState,
    in_flight: InFlight<'_, T>,
    results: Vec<MultiWriteResult>,
    (held, at): (Held, i32),
    (written, planned): (Written<T>, Option<(Vec<String>, Plan)>),
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
        marker.history.forget();
        drop(in_flight);
        let _ = refresh(cx).await;
        return Next::Done(Ok(at.saturating_add(1)));
    };
    marker.wrote(marker_stat.version);
    if let Some((listed, plan)) = planned {
        let created: Vec<String> = plan.create.into_iter().map(|(name, _)| name).collect();
        let stamp = (payload_stat.czxid, payload_stat.mzxid);
        marker
            .history
            .committed(stamp, &listed, &created, &plan.delete);
    }
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
        ..
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
    match within_state("reading", &cx.layout.payload, timeout, cx.feed.refresh()).await {
        Ok(stamp) => Ok(Held::of_stamp(stamp)),
        Err(Error::Decode { version, .. }) => Ok(Held { version, czxid: 0 }),
        Err(err) => Err(err),
    }
}
