//! The state handle: [`ZkState`], its reads, writes and change stream.

pub(crate) mod changes;
pub(crate) mod layout;
pub(crate) mod listeners;
pub(crate) mod options;
pub(crate) mod store;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zookeeper_client::{Acls, Client, CreateMode};

use self::changes::{Changes, SnapshotSource, StateEvent};
use self::layout::Layout;
use self::listeners::Listener;
use self::options::StateOptions;
use self::store::{decode, Snapshot, Stamp, StateRef, Store};
use crate::connection::Connection;
use crate::error::{Error, TryUpdateError};
use crate::write::marker::WriterState;
use crate::write::{self, Base};

/// What the handles own; dropping the last handle stops every task of the state.
struct Owner<T> {
    store: Arc<Store<T>>,
    conn: Option<Connection>,
    writer: Mutex<WriterState>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl<T> Drop for Owner<T> {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A typed value shared by every instance of an application through ZooKeeper.
///
/// The value lives at `<dir>/payload` as plain JSON. Each instance keeps a local copy, kept current
/// by a persistent watch, a jittered periodic check and a re-sync after every reconnection.
/// Cloning is cheap; the background tasks stop when [`close`](Self::close) is called or the last
/// clone is dropped.
pub struct ZkState<T> {
    owner: Arc<Owner<T>>,
}

impl<T> Clone for ZkState<T> {
    fn clone(&self) -> Self {
        ZkState {
            owner: self.owner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for ZkState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkState")
            .field("dir", &self.owner.store.layout.dir)
            .field("id", &self.owner.store.id)
            .finish()
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
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
    /// adopted one, and changes are emitted from there on.
    ///
    /// When the existing payload does not decode as `T` (an outside writer broke it), the state
    /// still opens: `initial` stands in for the local copy at the bad payload's version,
    /// [`read`](Self::read) and subscribers report [`Error::Decode`] until a valid payload
    /// arrives, and an [`update`](Self::update) writes over the bad payload.
    ///
    /// # Errors
    /// [`Error::InvalidDir`] for a bad path; [`Error::Encode`] or [`Error::PayloadTooLarge`] for a bad `initial`;
    /// [`Error::PermissionDenied`], [`Error::Timeout`] and [`Error::ZooKeeper`] from ZooKeeper.
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
        let json = serde_json::to_value(&initial).map_err(|e| Error::Encode {
            path: layout.payload.clone(),
            message: e.to_string(),
        })?;
        // Serialising a Value cannot fail: its map keys are strings.
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        if bytes.len() > options.max_payload {
            return Err(Error::PayloadTooLarge {
                path: layout.payload.clone(),
                size: bytes.len(),
                limit: options.max_payload,
            });
        }
        let timeout = options.request_timeout;
        let client = connected(conn, &layout, timeout).await?;
        let created = tokio::time::timeout(
            timeout,
            create_layout(&client, &layout, &bytes, layout.acls()),
        )
        .await;
        match created {
            Err(_) => {
                return Err(Error::Timeout {
                    op: "creating",
                    path: layout.dir.clone(),
                    waited: timeout,
                })
            }
            Ok(result) => result?,
        }
        Self::adopt(conn, &client, layout, options, Some((initial, json))).await
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
        let wait = async {
            loop {
                let client = connected(conn, &layout, options.request_timeout).await?;
                match client.check_and_watch_stat(&layout.payload).await {
                    Ok((Some(_), _)) => return Ok(client),
                    Ok((None, watcher)) => {
                        watcher.changed().await;
                    }
                    Err(err @ zookeeper_client::Error::NoAuth) => {
                        return Err(Error::zk("watching", &layout.payload, err))
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
            Some(limit) => {
                tokio::time::timeout(limit, wait)
                    .await
                    .map_err(|_| Error::Timeout {
                        op: "waiting for",
                        path: layout.payload.clone(),
                        waited: limit,
                    })??
            }
        };
        let created = tokio::time::timeout(
            options.request_timeout,
            create_dirs(&client, &layout, layout.acls()),
        )
        .await;
        if let Ok(Err(err)) = created {
            return Err(err);
        }
        Self::adopt(conn, &client, layout, options, None).await
    }

    async fn adopt(
        conn: &Connection,
        client: &Client,
        layout: Layout,
        options: StateOptions,
        stand_in: Option<(T, serde_json::Value)>,
    ) -> Result<ZkState<T>, Error> {
        let timeout = options.request_timeout;
        let read = tokio::time::timeout(timeout, client.get_data(&layout.payload))
            .await
            .map_err(|_| Error::Timeout {
                op: "reading",
                path: layout.payload.clone(),
                waited: timeout,
            })?;
        let (data, stat) = read.map_err(|e| Error::zk("reading", &layout.payload, e))?;
        let (decoded, fault) = match (decode::<T>(&data), stand_in) {
            (Ok(decoded), _) => (decoded, None),
            (Err(message), stand_in) => {
                let fault = Error::Decode {
                    path: layout.payload.clone(),
                    version: stat.version,
                    message,
                };
                match stand_in {
                    // The state opens on `initial`, at the bad payload's version, so that an
                    // update can write over it; read() reports the fault meanwhile.
                    Some(stand_in) => (stand_in, Some(fault)),
                    None => return Err(fault),
                }
            }
        };
        let first = Snapshot {
            value: decoded.0,
            json: Arc::new(decoded.1),
            stamp: Stamp::of(&stat),
        };
        let store = Arc::new(Store::new(layout, new_id(), options, first));
        store.mark_verified();
        if let Some(fault) = fault {
            store.set_fault(fault);
        }
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(crate::sync::run(
            store.clone(),
            conn.watch_slot(),
            cancel.clone(),
        ));
        tasks.spawn(crate::sync::watch_staleness(store.clone(), cancel.clone()));
        let owner = Owner {
            store,
            conn: Some(conn.clone()),
            writer: Mutex::new(WriterState::default()),
            cancel,
            tasks,
        };
        Ok(ZkState {
            owner: Arc::new(owner),
        })
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
            json: Arc::new(json),
            stamp: Stamp {
                version: 0,
                mzxid: 0,
                mtime: 0,
            },
        };
        let store = Arc::new(Store::new(layout, new_id(), StateOptions::default(), first));
        let owner = Owner {
            store,
            conn: None,
            writer: Mutex::new(WriterState::default()),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        owner.tasks.close();
        Ok(ZkState {
            owner: Arc::new(owner),
        })
    }

    /// The local copy, if it was verified equal to ZooKeeper's within `max_staleness`
    /// (default 30 s). No await, no round trip: one flag and one pointer load.
    ///
    /// # Errors
    /// [`Error::Stale`] when the copy has not been verified in time (the link is down, or the
    /// ensemble has no quorum); [`Error::Decode`] or [`Error::Missing`] while the payload in
    /// ZooKeeper is bad (the copy keeps the last good value: [`d_read`](Self::d_read) has it).
    pub fn read(&self) -> Result<StateRef<T>, Error> {
        self.owner.store.read()
    }

    /// The local copy, whatever its age or the payload's condition. Never fails.
    pub fn d_read(&self) -> StateRef<T> {
        self.owner.store.load()
    }

    /// A value current at the time of the call: a `sync` and a stat of the payload, pipelined,
    /// compared with the local copy; when ZooKeeper holds a newer write it is fetched and applied
    /// (emitting its changes) before it is returned.
    ///
    /// # Errors
    /// [`Error::Timeout`] when ZooKeeper does not answer within the request timeout;
    /// [`Error::Decode`] or [`Error::Missing`] when the payload is bad; [`Error::Closed`].
    pub async fn c_read(&self) -> Result<StateRef<T>, Error> {
        let store = &self.owner.store;
        let Some(conn) = &self.owner.conn else {
            return Ok(store.load());
        };
        let path = &store.layout.payload;
        let timeout = store.options.request_timeout;
        let client = connected(conn, &store.layout, timeout).await?;
        let check = async {
            // Both sent before either is awaited: one round trip.
            let sync = client.sync(path);
            let stat = client.check_stat(path);
            let (synced, stat) = futures::join!(sync, stat);
            synced.map_err(|e| Error::zk("syncing", path, e))?;
            stat.map_err(|e| Error::zk("reading", path, e))
        };
        let stat = tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| Error::Timeout {
                op: "reading",
                path: path.clone(),
                waited: timeout,
            })??;
        match stat {
            None => {
                let fault = Error::Missing { path: path.clone() };
                store.set_fault(fault.clone());
                Err(fault)
            }
            Some(stat) if stat.mzxid == store.stamp().mzxid && store.fault().is_none() => {
                store.mark_verified();
                Ok(store.load())
            }
            Some(_) => {
                tokio::time::timeout(timeout, crate::sync::fetch_and_apply(&client, store))
                    .await
                    .map_err(|_| Error::Timeout {
                        op: "reading",
                        path: path.clone(),
                        waited: timeout,
                    })??;
                Ok(store.load())
            }
        }
    }

    /// Changes the value: exclusive, one update at a time in this process and across every
    /// instance (a ZooKeeper lock with Curator's InterProcessMutex layout under `<dir>/lock`).
    ///
    /// The closure runs on a copy of the local value and the result is written at the local
    /// copy's version. Returns the new version. `Ok` means the write was applied exactly once;
    /// `Err` means it was not applied: when the reply to the write is lost, the outcome is
    /// resolved (through this writer's commit marker) before the call returns.
    ///
    /// # Errors
    /// [`Error::StaleWrite`] when ZooKeeper holds another version than the local copy (the copy
    /// is refreshed, so a retry works; [`update_latest`](Self::update_latest) never fails this
    /// way because of other zkstate writers); [`Error::UpdatePanicked`] when the closure
    /// panicked; [`Error::PayloadTooLarge`], [`Error::Encode`]; [`Error::Timeout`] when the lock
    /// or ZooKeeper could not be had in time; [`Error::PermissionDenied`]; [`Error::Closed`].
    ///
    /// # Cancellation safety
    /// Dropping the future before it completes leaves the outcome unknown to you (the lock is
    /// released either way). Let it complete to get the exactly-once answer.
    pub async fn update<F>(&self, mut f: F) -> Result<i32, Error>
    where
        F: FnMut(&mut T),
    {
        self.write(Base::Local, |value: &mut T| {
            f(value);
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map_err(|err| match err {
            TryUpdateError::State(err) => err,
            TryUpdateError::Aborted(never) => match never {},
        })
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
        self.write(Base::Local, f).await
    }

    /// The everyday update for counters and lists: under the lock it re-reads the payload and
    /// runs the closure on that, so it never fails with `StaleWrite` because of another zkstate
    /// writer. An external writer that bypasses the lock makes it start over (the closure then
    /// runs again, on the newer value). When ZooKeeper holds a payload that does not decode, it
    /// runs the closure on the last good value and writes over the bad payload: the repair. Same exactly-once contract as [`update`](Self::update).
    ///
    /// # Errors
    /// As [`update`](Self::update), except `StaleWrite`, which it returns only after repeated
    /// interference by writers that bypass the lock.
    pub async fn update_latest<F>(&self, mut f: F) -> Result<i32, Error>
    where
        F: FnMut(&mut T),
    {
        self.write(Base::Latest, |value: &mut T| {
            f(value);
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map_err(|err| match err {
            TryUpdateError::State(err) => err,
            TryUpdateError::Aborted(never) => match never {},
        })
    }

    /// [`update_latest`](Self::update_latest) with a closure that may refuse.
    ///
    /// # Errors
    /// As [`try_update`](Self::try_update).
    pub async fn try_update_latest<E, F>(&self, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        self.write(Base::Latest, f).await
    }

    /// Compare-and-set: writes `value` under the lock only if ZooKeeper holds payload version
    /// `version` (what an operator tool does after showing a value to a person). Returns the new
    /// version. Same exactly-once contract as [`update`](Self::update).
    ///
    /// # Errors
    /// [`Error::StaleWrite`] when ZooKeeper holds another version; others as
    /// [`update`](Self::update).
    pub async fn replace_at(&self, version: i32, value: T) -> Result<i32, Error> {
        let mut value = Some(value);
        self.write(Base::Exact(version), |slot: &mut T| {
            if let Some(new) = value.take() {
                *slot = new;
            }
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map_err(|err| match err {
            TryUpdateError::State(err) => err,
            TryUpdateError::Aborted(never) => match never {},
        })
    }

    async fn write<E, F>(&self, base: Base, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        let store = &self.owner.store;
        let mut writer = self.owner.writer.lock().await;
        // Checked under the update mutex: close() takes it too, so no write starts after it.
        if self.owner.cancel.is_cancelled() {
            return Err(Error::Closed {
                dir: store.layout.dir.clone(),
            }
            .into());
        }
        match &self.owner.conn {
            Some(conn) => write::update(store, conn, &mut writer, base, f).await,
            None => write::update_local(store, f),
        }
    }

    /// A stream of every change, local or remote, in the order of the writes (their zxids). See [`Changes`] for the
    /// bounded buffer and what a subscriber that falls behind receives.
    pub fn subscribe(&self) -> Changes {
        let source: Arc<dyn SnapshotSource> = self.owner.store.clone();
        Changes::new(self.owner.store.subscribe_raw(), Arc::downgrade(&source))
    }

    /// Runs `handler` for every event of [`subscribe`](Self::subscribe), on a task that this
    /// state owns: it stops when the state is closed or dropped. The seed's `update_handler`.
    pub fn update_handler<F>(&self, mut handler: F)
    where
        F: FnMut(StateEvent) + Send + 'static,
    {
        let mut changes = self.subscribe();
        let cancel = self.owner.cancel.clone();
        self.owner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    event = changes.next() => match event {
                        Some(event) => handler(event),
                        None => return,
                    },
                }
            }
        });
    }

    /// The live instances of this state: one record per instance, from the ephemeral nodes under
    /// `<dir>/listeners`.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::PermissionDenied`], [`Error::ZooKeeper`].
    pub async fn listeners(&self) -> Result<Vec<Listener>, Error> {
        let store = &self.owner.store;
        let Some(conn) = &self.owner.conn else {
            return Ok(Vec::new());
        };
        let timeout = store.options.request_timeout;
        let client = connected(conn, &store.layout, timeout).await?;
        tokio::time::timeout(timeout, listeners::list(&client, &store.layout.listeners))
            .await
            .map_err(|_| Error::Timeout {
                op: "listing",
                path: store.layout.listeners.clone(),
                waited: timeout,
            })?
            .map_err(|e| Error::zk("listing", &store.layout.listeners, e))
    }

    /// This instance's id: the name of its record under `<dir>/listeners`.
    pub fn id(&self) -> &str {
        &self.owner.store.id
    }

    /// The state directory (absolute).
    pub fn dir(&self) -> &str {
        &self.owner.store.layout.dir
    }

    /// The payload version of the local copy.
    pub fn version(&self) -> i32 {
        self.owner.store.stamp().version
    }

    /// Stops every task of this state (for every clone) and waits until they have finished;
    /// waits for an update in flight to finish; removes this instance's listener record and
    /// commit marker. Idempotent. Later writes fail with [`Error::Closed`]; `read()` returns
    /// [`Error::Stale`] (nothing verifies the copy any more) and `d_read()` the last local copy.
    pub async fn close(&self) {
        let owner = &self.owner;
        owner.cancel.cancel();
        // Waits for an update in flight (and the resolution of a lost reply): its commit marker
        // must outlive it.
        let writer = owner.writer.lock().await;
        owner.tasks.close();
        owner.tasks.wait().await;
        // Nobody verifies the copy any more: read() says so, d_read() still answers.
        owner.store.mark_closed();
        owner.store.close_events();
        if let (Some(client), Some(version)) = (
            owner.conn.as_ref().and_then(Connection::client),
            writer.marker_version,
        ) {
            let marker = owner.store.layout.writer(&owner.store.id);
            let delete = client.delete(&marker, Some(version));
            let _ = tokio::time::timeout(Duration::from_secs(2), delete).await;
        }
    }
}

/// The live instances of the state at `dir` (resolved as [`Connection::resolve_dir`]), without
/// opening it: what an operator tool lists.
///
/// # Errors
/// [`Error::InvalidDir`], [`Error::Missing`] when `dir` has no listeners node,
/// [`Error::Timeout`], [`Error::PermissionDenied`], [`Error::ZooKeeper`].
pub async fn list_listeners(conn: &Connection, dir: &str) -> Result<Vec<Listener>, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?).with_acl(conn.settings().acl_policy());
    let timeout = conn.settings().connect_timeout();
    let client = connected(conn, &layout, timeout).await?;
    tokio::time::timeout(timeout, listeners::list(&client, &layout.listeners))
        .await
        .map_err(|_| Error::Timeout {
            op: "listing",
            path: layout.listeners.clone(),
            waited: timeout,
        })?
        .map_err(|e| Error::zk("listing", &layout.listeners, e))
}

/// Waits for a connected client, mapping the connection's errors to the state's.
async fn connected(conn: &Connection, layout: &Layout, timeout: Duration) -> Result<Client, Error> {
    conn.wait_connected(timeout).await.map_err(|err| match err {
        crate::ConnectError::Closed => Error::Closed {
            dir: layout.dir.clone(),
        },
        _ => Error::Timeout {
            op: "connecting for",
            path: layout.dir.clone(),
            waited: timeout,
        },
    })
}

/// Creates `dir`, `listeners`, `lock` and `writers` when absent, with `acls`; ancestors above
/// `dir` are created open (ZooKeeper's default), since other applications share them.
///
/// Existence is checked first (all four stats pipelined): ZooKeeper checks a create's
/// permission before it reports `NodeExists`, so a session without write rights must not try to
/// create what is already there.
async fn create_dirs(client: &Client, layout: &Layout, acls: Acls<'_>) -> Result<(), Error> {
    let dirs = [
        &layout.dir,
        &layout.listeners,
        &layout.lock,
        &layout.writers,
    ];
    let stats: Vec<_> = dirs.iter().map(|dir| client.check_stat(dir)).collect();
    let mut missing = Vec::new();
    for (dir, stat) in dirs.into_iter().zip(stats) {
        match stat.await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(dir),
            Err(err) => return Err(Error::zk("reading", dir, err)),
        }
    }
    let options = CreateMode::Persistent.with_acls(acls);
    for dir in missing {
        if dir == &layout.dir {
            if let Some((parent, _)) = dir
                .rsplit_once('/')
                .filter(|(parent, _)| !parent.is_empty())
            {
                let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
                match client.mkdir(parent, &open).await {
                    Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
                    Err(err) => return Err(Error::zk("creating", parent, err)),
                }
            }
        }
        match client.create(dir, &[], &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(err) => return Err(Error::zk("creating", dir, err)),
        }
    }
    Ok(())
}

/// Creates the layout; the payload only when absent (an existing one is adopted).
async fn create_layout(
    client: &Client,
    layout: &Layout,
    initial: &[u8],
    acls: Acls<'_>,
) -> Result<(), Error> {
    create_dirs(client, layout, acls).await?;
    let options = CreateMode::Persistent.with_acls(acls);
    match client.create(&layout.payload, initial, &options).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
        Err(err) => Err(Error::zk("creating", &layout.payload, err)),
    }
}
