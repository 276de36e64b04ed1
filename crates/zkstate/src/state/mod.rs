//! The state handle: [`ZkState`], its reads, writes and change stream. The facade over the
//! shared core (`core.rs`: store, sync task), the write path (`crate::write`) and the fleet views
//! (`fleet.rs`: listeners, rollout).

mod core;
pub(crate) mod fleet;
pub(crate) mod history;
mod unlock;
pub(crate) mod writes;

pub use self::unlock::unlock;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::core::{adopt, connected, create_dirs, create_layout, existing, Core};
use crate::connection::{Connection, ConnectionState};
use crate::error::{within, within_state, Error, TryUpdateError};
use crate::layout::Layout;
use crate::listeners::Listener;
use crate::options::StateOptions;
use crate::store::changes::{Changes, StateEvent};
use crate::store::codec;
use crate::store::{Bound, Json, Snapshot, Stamp, StateRef};
use crate::sync::records::Entry;
use crate::write::marker::WriterState;
use crate::write::{self, Base};

/// One handle's own part: what is not shared with the other instances of the state.
struct Instance<T> {
    core: Arc<Core<T>>,
    id: Arc<str>,
    options: StateOptions,
    bound: Arc<Bound>,
    /// The update mutex, and what this instance knows of its commit marker.
    writer: Mutex<WriterState>,
    /// Ends this instance's handler tasks and change streams.
    cancel: CancellationToken,
    tasks: TaskTracker,
    closed: AtomicBool,
}

impl<T> Drop for Instance<T> {
    fn drop(&mut self) {
        self.cancel.cancel();
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Dropped without close(): the sync task deletes the record; the marker goes in the
        // background (or, with no runtime left, by the reaper after the grace period).
        self.bound.close();
        drop(self.core.records.leave(&self.id));
        let mut marker = std::mem::take(self.writer.get_mut());
        if let (Some(conn), true) = (&self.core.conn, marker.has_marker()) {
            if let (Some(client), Ok(runtime)) =
                (conn.client(), tokio::runtime::Handle::try_current())
            {
                let (layout, id) = (self.core.layout.clone(), self.id.clone());
                runtime.spawn(async move { marker.remove(&client, &layout, &id).await });
            }
        }
        self.core.leave();
    }
}

/// A typed value shared by every instance of an application through ZooKeeper.
///
/// The value lives at `<dir>/payload` as JSON. Each instance keeps a local copy, kept current
/// by a persistent watch, a jittered periodic check and a re-sync after every reconnection.
/// Instances of one state opened on one [`Connection`] share that copy (one watch, one fetch and
/// one decode per change) and keep their own id, listener record and options. Cloning is cheap;
/// the background tasks stop when [`close`](Self::close) is called or the last clone is dropped.
pub struct ZkState<T> {
    inner: Arc<Instance<T>>,
}

impl<T> Clone for ZkState<T> {
    fn clone(&self) -> Self {
        ZkState {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for ZkState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkState")
            .field("dir", &self.inner.core.layout.dir)
            .field("id", &self.inner.id)
            .finish()
    }
}

/// A handle that does not keep the state open: what an [`update_handler`](ZkState::update_handler)
/// closure should hold to reach its own state. See [`ZkState::downgrade`].
pub struct WeakState<T> {
    inner: Weak<Instance<T>>,
}

impl<T> Clone for WeakState<T> {
    fn clone(&self) -> Self {
        WeakState {
            inner: self.inner.clone(),
        }
    }
}

impl<T> WeakState<T> {
    /// The state, if a handle of it is still open.
    pub fn upgrade(&self) -> Option<ZkState<T>> {
        self.inner.upgrade().map(|inner| ZkState { inner })
    }
}

impl<T> std::fmt::Debug for WeakState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakState").finish_non_exhaustive()
    }
}

fn new_id() -> Arc<str> {
    uuid::Uuid::new_v4().simple().to_string().into()
}

/// How fresh a handle's local copy is, without a round trip: see [`ZkState::freshness`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Freshness {
    /// The payload version of the local copy.
    pub version: i32,
    /// The zxid of the write the copy holds.
    pub mzxid: i64,
    /// The zxid that created the payload (its incarnation: a payload deleted and re-created has
    /// another).
    pub czxid: i64,
    /// How long ago the copy was last verified equal to ZooKeeper's.
    pub verified_ago: Duration,
    /// The ZooKeeper session it was verified in (`None` for a local-only state).
    pub verified_in_session: Option<i64>,
    /// The connection's state now.
    pub connection: ConnectionState,
    /// Whether `read()` reports [`Error::Stale`] now.
    pub stale: bool,
}

impl<T> ZkState<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Opens the state at `dir` (relative to the connection's base path, or absolute), creating
    /// the layout with `initial` as the payload when absent.
    ///
    /// When a payload already exists it is adopted and `initial` is discarded; nothing is
    /// emitted for the adoption (there can be no subscriber yet): the first value you read is the
    /// adopted one, and changes are emitted from there on. When this state is already open on
    /// `conn` (same directory and type, and the same event buffer, decompression cap and marker
    /// grace), the new instance shares its local copy and opens without a round trip.
    ///
    /// When the existing payload does not decode as `T` (an outside writer broke it), the state
    /// still opens: `initial` stands in for the local copy at the bad payload's version,
    /// [`read`](Self::read) and subscribers report [`Error::Decode`] until a valid payload
    /// arrives, and an [`update_latest`](Self::update_latest) writes over the bad payload.
    ///
    /// # Errors
    /// [`Error::InvalidDir`] for a bad path; [`Error::Encode`] or [`Error::PayloadTooLarge`] for
    /// a bad `initial`; [`Error::PermissionDenied`], [`Error::Timeout`] and [`Error::ZooKeeper`]
    /// from ZooKeeper.
    pub async fn new(conn: &Connection, dir: &str, initial: T) -> Result<ZkState<T>, Error> {
        Self::with_options(conn, dir, initial, StateOptions::default()).await
    }

    /// [`new`](Self::new) with options.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub async fn with_options(
        conn: &Connection,
        dir: &str,
        initial: T,
        options: StateOptions,
    ) -> Result<ZkState<T>, Error> {
        let layout = Layout::new(&conn.resolve_dir(dir)?).with_acl(conn.settings().acl_policy());
        if let Some(core) = existing::<T>(conn, &layout, &options) {
            return Ok(Self::instance(core, options));
        }
        let json = serde_json::to_value(&initial).map_err(|e| Error::Encode {
            path: layout.payload.clone(),
            message: e.to_string(),
        })?;
        let bytes = codec::encode(&json, options.compression).map_err(|message| Error::Encode {
            path: layout.payload.clone(),
            message,
        })?;
        let timeout = options.request_timeout;
        let client = connected(conn, &layout, timeout).await?;
        if bytes.len() > options.max_payload {
            // Too large to create: fine only if there is a payload to adopt (its encoding, not
            // `initial`'s, decides how it is written).
            let exists = within(
                "reading",
                &layout.payload,
                timeout,
                client.check_stat(&layout.payload),
            )
            .await?;
            if exists.is_none() {
                return Err(Error::PayloadTooLarge {
                    path: layout.payload.clone(),
                    size: bytes.len(),
                    limit: options.max_payload,
                });
            }
            within_state(
                "creating",
                &layout.dir,
                timeout,
                create_dirs(&client, &layout, layout.acls()),
            )
            .await?;
        } else {
            within_state(
                "creating",
                &layout.dir,
                timeout,
                create_layout(&client, &layout, &bytes, layout.acls()),
            )
            .await?;
        }
        let (core, fault) = adopt(conn, &client, layout, &options, Some((initial, json))).await?;
        let state = Self::instance(core, options);
        if let Some(fault) = fault {
            tracing::warn!(dir = %state.dir(), error = %fault, "opened over a payload that does not decode");
        }
        Ok(state)
    }

    /// Waits for a payload to appear at `dir` (with a watch, not by polling), then opens it.
    /// `None` waits as long as it takes.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no payload appeared within `timeout`; [`Error::Decode`] when it
    /// does not decode as `T`; others as [`new`](Self::new).
    pub async fn expect(
        conn: &Connection,
        dir: &str,
        timeout: Option<Duration>,
    ) -> Result<ZkState<T>, Error> {
        Self::expect_with_options(conn, dir, timeout, StateOptions::default()).await
    }

    /// [`expect`](Self::expect) with options.
    ///
    /// # Errors
    /// As [`expect`](Self::expect).
    pub async fn expect_with_options(
        conn: &Connection,
        dir: &str,
        timeout: Option<Duration>,
        options: StateOptions,
    ) -> Result<ZkState<T>, Error> {
        let layout = Layout::new(&conn.resolve_dir(dir)?).with_acl(conn.settings().acl_policy());
        if let Some(core) = existing::<T>(conn, &layout, &options) {
            // An open state over a payload that does not decode holds a stand-in: not for expect.
            if let Some(fault @ Error::Decode { .. }) = core.store.fault() {
                return Err(fault);
            }
            return Ok(Self::instance(core, options));
        }
        let wait = async {
            loop {
                let client = connected(conn, &layout, options.request_timeout).await?;
                match client.check_and_watch_stat(&layout.payload).await {
                    Ok((Some(_), _)) => return Ok(client),
                    Ok((None, watcher)) => {
                        watcher.changed().await;
                    }
                    Err(err @ zookeeper_client::Error::NoAuth) => {
                        return Err(Error::from_zookeeper("watching", &layout.payload, err))
                    }
                    Err(err) => {
                        tracing::debug!(path = %layout.payload, error = %err, "waiting for payload");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        };
        let client = match timeout {
            None => wait.await?,
            Some(limit) => within_state("waiting for", &layout.payload, limit, wait).await?,
        };
        let created = within_state(
            "creating",
            &layout.dir,
            options.request_timeout,
            create_dirs(&client, &layout, layout.acls()),
        )
        .await;
        // A reader without the right to create what is missing still reads.
        if let Err(err @ (Error::Timeout { .. } | Error::Closed { .. })) = created {
            return Err(err);
        }
        let (core, _) = adopt(conn, &client, layout, &options, None).await?;
        Ok(Self::instance(core, options))
    }

    /// A new instance on `core`, which already counts it (a new core counts its first instance,
    /// [`existing`] joins one).
    fn instance(core: Arc<Core<T>>, options: StateOptions) -> ZkState<T> {
        let id = new_id();
        core.records.join(Entry {
            id: id.clone(),
            record: options.listener.then(|| Listener::this_process(&id)),
            check: options.effective_check_interval(),
            report: options.report_interval,
        });
        let bound = core.store.bound(options.max_staleness);
        let cancel = core.cancel.child_token();
        ZkState {
            inner: Arc::new(Instance {
                core,
                id,
                options,
                bound,
                writer: Mutex::new(WriterState::default()),
                cancel,
                tasks: TaskTracker::new(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// A local-only state with the same API and no ZooKeeper: for tests and offline use.
    /// Reads are never stale, `c_read` returns the local copy, updates apply locally (versions
    /// count from 0) and emit changes as usual; `listeners` is empty.
    ///
    /// # Errors
    /// [`Error::Encode`] when `initial` does not serialise to JSON.
    pub fn empty(initial: T) -> Result<ZkState<T>, Error> {
        let layout = Layout::new("/");
        let json = serde_json::to_value(&initial).map_err(|e| Error::Encode {
            path: layout.payload.clone(),
            message: e.to_string(),
        })?;
        let first = Snapshot {
            value: initial,
            json: Arc::new(Json::of_tree(Arc::new(json))),
            stamp: Stamp::local(),
            compressed: false,
            size: 0,
        };
        let options = StateOptions::default().with_max_staleness(Duration::MAX);
        let core = self::core::start(None, layout, &options, first, 0, None);
        Ok(Self::instance(core, options))
    }

    /// The local copy, if it was verified equal to ZooKeeper's within `max_staleness`
    /// (default 30 s). No await, no round trip: two flags and one pointer load.
    ///
    /// On a healthy connection it never fails with `Stale`, whatever `max_staleness` (the
    /// periodic check runs at least every third of it; see [`StateOptions`]). When the servers
    /// go away, it fails with `Stale` at most `max_staleness` plus one check interval after their
    /// last answer.
    ///
    /// # Errors
    /// [`Error::Stale`] when the copy has not been verified in time (the link is down, or the
    /// ensemble has no quorum); [`Error::Decode`] or [`Error::Missing`] while the payload in
    /// ZooKeeper is bad (the copy keeps the last good value: [`d_read`](Self::d_read) has it).
    pub fn read(&self) -> Result<StateRef<T>, Error> {
        self.inner.core.store.read(&self.inner.bound)
    }

    /// The local copy, whatever its age or the payload's condition. Never fails.
    pub fn d_read(&self) -> StateRef<T> {
        self.inner.core.store.load()
    }

    /// A value current at the time of the call: a `sync` and a stat of the payload, pipelined,
    /// compared with the local copy; when ZooKeeper holds a newer write it is fetched and applied
    /// (emitting its changes) before it is returned.
    ///
    /// # Errors
    /// [`Error::Timeout`] when ZooKeeper does not answer within the request timeout;
    /// [`Error::Decode`] or [`Error::Missing`] when the payload is bad; [`Error::Closed`].
    pub async fn c_read(&self) -> Result<StateRef<T>, Error> {
        let core = &self.inner.core;
        let store = &core.store;
        let Some(conn) = &core.conn else {
            return Ok(store.load());
        };
        let path = &core.layout.payload;
        let timeout = self.inner.options.request_timeout;
        let client = connected(conn, &core.layout, timeout).await?;
        // Both sent before either is awaited: one round trip.
        let sync = client.sync(path);
        let stat = client.check_stat(path);
        let check = async {
            let (synced, stat) = futures::join!(sync, stat);
            synced?;
            stat
        };
        match within("reading", path, timeout, check).await? {
            None => Err(Error::Missing { path: path.clone() }),
            Some(stat) if stat.mzxid == store.stamp().mzxid && store.fault().is_none() => {
                Ok(store.load())
            }
            Some(_) => {
                within_state("reading", path, timeout, core.feed.refresh()).await?;
                Ok(store.load())
            }
        }
    }

    /// Changes the value: exclusive, one update at a time in this process and across every
    /// instance (a ZooKeeper lock with Curator's InterProcessMutex layout under `<dir>/lock`).
    ///
    /// The closure runs on a copy of the local value and the result is written at the local
    /// copy's version. Returns the new version. `Ok` means the write was applied exactly once;
    /// `Err` means it was not applied (but for [`Error::OutcomeUnknown`]): when the reply to the
    /// write is lost, the outcome is resolved (through this writer's commit marker) before the
    /// call returns.
    ///
    /// **An update changes only what the closure changed.** Fields of the stored JSON that `T`
    /// does not know (written by a newer version of the application) are kept, at any depth;
    /// see [`diff::merge`](crate::diff::merge) for the rule where the closure's change meets
    /// them (an object replaced by another object keeps its unknown keys; one removed or replaced
    /// by a non-object loses them). Events and [`read`](Self::read) show what `T` decodes.
    ///
    /// # Errors
    /// [`Error::StaleWrite`] when ZooKeeper holds another write than the local copy (another
    /// version, or the payload deleted and re-created): the copy is refreshed, so a retry works;
    /// [`update_latest`](Self::update_latest) never fails this way because of other zkstate
    /// writers; [`Error::UpdatePanicked`] when the closure panicked; [`Error::PayloadTooLarge`],
    /// [`Error::Encode`]; [`Error::LockTimeout`] when another writer held the lock for the
    /// whole lock timeout; [`Error::Timeout`] when ZooKeeper did not answer in time;
    /// [`Error::PermissionDenied`]; [`Error::OutcomeUnknown`]; [`Error::Closed`].
    ///
    /// # Cancellation safety
    /// Dropping the future before it completes leaves the outcome unknown to you (the lock is
    /// released either way). Let it complete to get the exactly-once answer.
    pub async fn update<F>(&self, mut f: F) -> Result<i32, Error>
    where
        F: FnMut(&mut T),
    {
        infallible(
            self.write(&write::Intent::default(), Base::Local, |value: &mut T| {
                f(value);
                Ok::<(), std::convert::Infallible>(())
            })
            .await,
        )
    }

    /// [`update`](Self::update) with a closure that may refuse: when it returns `Err`, nothing is
    /// written and the lock is released.
    ///
    /// # Errors
    /// [`TryUpdateError::Aborted`] with the closure's error; [`TryUpdateError::State`] as
    /// [`update`](Self::update).
    pub async fn try_update<E, F>(&self, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        self.write(&write::Intent::default(), Base::Local, f).await
    }

    /// The everyday update for counters and lists: under the lock it runs the closure on what
    /// ZooKeeper holds (the local copy when it is current, else a fresh read), so it never fails
    /// with `StaleWrite` because of another zkstate writer. An external writer that bypasses the
    /// lock makes it start over (the closure then runs again, on the newer value). When
    /// ZooKeeper holds a payload that does not decode, it runs the closure on the last good value
    /// and writes over the bad payload: the repair. Same exactly-once contract and the same rule
    /// for unknown fields as [`update`](Self::update).
    ///
    /// # Errors
    /// As [`update`](Self::update), except `StaleWrite`, which it returns only after repeated
    /// interference by writers that bypass the lock.
    pub async fn update_latest<F>(&self, mut f: F) -> Result<i32, Error>
    where
        F: FnMut(&mut T),
    {
        infallible(
            self.write(&write::Intent::default(), Base::Latest, |value: &mut T| {
                f(value);
                Ok::<(), std::convert::Infallible>(())
            })
            .await,
        )
    }

    /// [`update_latest`](Self::update_latest) with a closure that may refuse.
    ///
    /// # Errors
    /// As [`try_update`](Self::try_update).
    pub async fn try_update_latest<E, F>(&self, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        self.write(&write::Intent::default(), Base::Latest, f).await
    }

    /// Compare-and-set: writes `value` under the lock only if ZooKeeper holds payload version
    /// `version` (what an operator tool does after showing a value to a person). Returns the new
    /// version. Same exactly-once contract as [`update`](Self::update); fields that `T` does not
    /// know are kept.
    ///
    /// # Errors
    /// [`Error::InvalidVersion`] for a negative `version` (nothing is sent: ZooKeeper's `-1`
    /// would make it a blind write); [`Error::StaleWrite`] when ZooKeeper holds another version;
    /// others as [`update`](Self::update).
    pub async fn replace_at(&self, version: i32, value: T) -> Result<i32, Error> {
        if version < 0 {
            return Err(Error::InvalidVersion {
                path: self.inner.core.layout.payload.clone(),
                version,
            });
        }
        let mut value = Some(value);
        infallible(
            self.write(
                &write::Intent::default(),
                Base::Exact(version),
                |slot: &mut T| {
                    if let Some(new) = value.take() {
                        *slot = new;
                    }
                    Ok::<(), std::convert::Infallible>(())
                },
            )
            .await,
        )
    }

    pub(super) async fn write<E, F>(
        &self,
        intent: &write::Intent,
        base: Base,
        f: F,
    ) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "zkstate.update",
            dir = %self.dir(),
            attempts = tracing::field::Empty,
            version = tracing::field::Empty,
        );
        let result = self
            .write_once(intent, base, f)
            .instrument(span.clone())
            .await;
        if let Ok(version) = &result {
            span.record("version", version);
        }
        let outcome = match &result {
            Ok(_) => "ok",
            Err(TryUpdateError::Aborted(_)) => "aborted",
            Err(TryUpdateError::State(err)) => crate::metrics::outcome_of(err),
        };
        crate::metrics::update_done(self.dir(), outcome, started.elapsed());
        result
    }

    async fn write_once<E, F>(
        &self,
        intent: &write::Intent,
        base: Base,
        f: F,
    ) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        let inner = &*self.inner;
        let core = &*inner.core;
        let mut marker = inner.writer.lock().await;
        // Checked under the update mutex: close() takes it too, so no write starts after it.
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed {
                dir: core.layout.dir.clone(),
            }
            .into());
        }
        match &core.conn {
            Some(conn) => {
                let cx = write::Context {
                    store: &core.store,
                    feed: &core.feed,
                    conn,
                    layout: &core.layout,
                    id: &inner.id,
                    options: &inner.options,
                    intent,
                };
                write::update(&cx, &mut marker, base, f).await
            }
            None => match base {
                Base::Exact(version) if version != core.store.stamp().version => {
                    Err(Error::StaleWrite {
                        path: core.layout.payload.clone(),
                        local: version,
                        remote: Some(core.store.stamp().version),
                    }
                    .into())
                }
                _ => write::update_local(&core.feed, &inner.id, f).await,
            },
        }
    }

    /// A stream of every change, local or remote, in the order of the writes (their zxids). See
    /// [`Changes`] for the bounded buffer and what a subscriber that falls behind receives. The
    /// stream ends when this handle is closed or dropped.
    pub fn subscribe(&self) -> Changes {
        let store = &self.inner.core.store;
        Changes::new(
            store.subscribe_raw(),
            store.snapshot_source(),
            self.inner.id.clone(),
            self.inner.cancel.clone(),
        )
    }

    /// Runs `handler` for every event of [`subscribe`](Self::subscribe), on a task that this
    /// handle owns: it stops when the handle is closed or its last clone dropped.
    ///
    /// A handler that needs its own state must hold a [`WeakState`] ([`downgrade`](Self::downgrade)),
    /// not a clone: a clone inside the handler would keep the handle, and so the handler, alive
    /// until [`close`](Self::close) is called.
    pub fn update_handler<F>(&self, mut handler: F)
    where
        F: FnMut(StateEvent) + Send + 'static,
    {
        let mut changes = self.subscribe();
        self.inner.tasks.spawn(async move {
            while let Some(event) = changes.next().await {
                handler(event);
            }
        });
    }

    /// A handle that does not keep the state open.
    pub fn downgrade(&self) -> WeakState<T> {
        WeakState {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The live instances of this state: one record per instance, from the ephemeral nodes under
    /// `<dir>/listeners`.
    ///
    /// # Errors
    /// [`Error::Missing`] naming the listeners node when it does not exist; [`Error::Timeout`],
    /// [`Error::PermissionDenied`], [`Error::ZooKeeper`].
    pub async fn listeners(&self) -> Result<Vec<Listener>, Error> {
        let core = &self.inner.core;
        let Some(conn) = &core.conn else {
            return Ok(Vec::new());
        };
        fleet::listeners_of(conn, &core.layout, self.inner.options.request_timeout).await
    }

    /// Which live instances have applied the payload ZooKeeper holds now, and what the others
    /// hold. One round trip for the payload's stat and the listing, one for the records.
    ///
    /// # Errors
    /// As [`listeners`](Self::listeners); [`Error::Missing`] when the payload does not exist.
    pub async fn rollout(&self) -> Result<fleet::Rollout, Error> {
        let core = &self.inner.core;
        let Some(conn) = &core.conn else {
            let stamp = core.store.stamp();
            return Ok(fleet::Rollout::local(stamp.version, stamp.mzxid));
        };
        fleet::rollout_of(conn, &core.layout, self.inner.options.request_timeout, None).await
    }

    /// Waits until every live instance has applied payload `version` or a later write of the
    /// same incarnation (with watches on the records, not by polling); returns the last status.
    ///
    /// # Errors
    /// [`Error::Timeout`] when some instance has not within `timeout` (the error names the
    /// listeners node; [`rollout`](Self::rollout) names the laggards); others as
    /// [`rollout`](Self::rollout).
    pub async fn wait_rollout(
        &self,
        version: i32,
        timeout: Duration,
    ) -> Result<fleet::Rollout, Error> {
        let core = &self.inner.core;
        let Some(conn) = &core.conn else {
            return self.rollout().await;
        };
        fleet::wait_rollout(conn, &core.layout, Some(version), timeout, |_| {}).await
    }

    /// This instance's id: the name of its record under `<dir>/listeners`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The state directory (absolute).
    pub fn dir(&self) -> &str {
        &self.inner.core.layout.dir
    }

    /// The payload version of the local copy.
    pub fn version(&self) -> i32 {
        self.inner.core.store.stamp().version
    }

    /// How fresh the local copy is: what it holds, when it was last verified, in which session,
    /// and the connection's state now. No round trip.
    pub fn freshness(&self) -> Freshness {
        let core = &self.inner.core;
        let store = &core.store;
        let stamp = store.stamp();
        let session = store.verified_session();
        Freshness {
            version: stamp.version,
            mzxid: stamp.mzxid,
            czxid: stamp.czxid,
            verified_ago: tokio::time::Instant::now()
                .saturating_duration_since(store.verified_at()),
            verified_in_session: (session != 0).then_some(session),
            connection: core
                .conn
                .as_ref()
                .map_or(ConnectionState::Connected, Connection::state),
            stale: self.inner.bound.is_stale(),
        }
    }

    /// Stops this handle (for every clone): waits for an update in flight to finish, ends its
    /// handler tasks and change streams, removes its listener record and commit marker; the
    /// shared tasks stop with the state's last handle. Idempotent. Later writes fail with
    /// [`Error::Closed`]; `read()` returns [`Error::Stale`] (nothing verifies the copy for this
    /// handle any more) and `d_read()` the last local copy.
    pub async fn close(&self) {
        let inner = &*self.inner;
        // Waits for an update in flight (and the resolution of a lost reply): its commit marker
        // must outlive it.
        let mut marker = inner.writer.lock().await;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Everything from here runs to its end even if this call is dropped: the bookkeeping
        // now, the deletes in a task of their own (else a `close()` cancelled at an await would
        // leave the record, the marker and the core behind, and `Drop` would find it closed).
        inner.cancel.cancel();
        inner.tasks.close();
        inner.bound.close();
        // Deleted by the sync task; it answers once done (or gone).
        let left = inner.core.records.leave(&inner.id);
        let marker = std::mem::take(&mut *marker);
        let last = inner.core.leave();
        let cleanup = leave(
            inner.core.clone(),
            inner.id.clone(),
            inner.tasks.clone(),
            left,
            marker,
            last,
        );
        let _ = tokio::spawn(cleanup).await;
    }
}

/// What leaving a state awaits: the handle's tasks, its listener record's delete, its commit
/// marker's removal, and, for the last instance, the shared core's tasks.
async fn leave<T>(
    core: Arc<Core<T>>,
    id: Arc<str>,
    tasks: TaskTracker,
    left: tokio::sync::oneshot::Receiver<()>,
    mut marker: WriterState,
    last: bool,
) where
    T: Send + Sync + 'static,
{
    tasks.wait().await;
    let _ = left.await;
    if let Some(client) = core.conn.as_ref().and_then(Connection::client) {
        marker.remove(&client, &core.layout, &id).await;
    }
    if last {
        core.close().await;
    }
}

pub(super) fn infallible<T>(
    result: Result<T, TryUpdateError<std::convert::Infallible>>,
) -> Result<T, Error> {
    result.map_err(|err| match err {
        TryUpdateError::State(err) => err,
        TryUpdateError::Aborted(never) => match never {},
    })
}
