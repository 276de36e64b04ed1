//! What the instances of one state on one connection share: one local copy, one sync task (one
//! watch, one fetch, one decode per change), one staleness watchdog, one reaper. Each instance
//! keeps its own id, listener record, staleness bound, commit marker and subscriptions.
//!
//! A connection keeps a registry of its open cores, by state directory, value type and the
//! options that shape the shared part (the change buffer's size, the decompression cap, the
//! marker grace period of the reaper). An
//! instance opened on a core that exists adopts it without a round trip; the core stops when its
//! last instance is closed or dropped.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::connection::{Connection, CoreKey};
use crate::error::{within, Error};
use crate::layout::Layout;
use crate::options::StateOptions;
use crate::store::codec;
use crate::store::{self, Feed, Json, Names, Snapshot, Stamp, Store};
use crate::sync::records::Records;
use crate::sync::{watch_staleness, Task};
pub(crate) use crate::write::connected;

/// The shared part of a state.
pub(crate) struct Core<T> {
    pub(crate) layout: Layout,
    pub(crate) store: Store<T>,
    /// The requests to the store's writer: only the write path and `c_read` use it, readers
    /// use `store`.
    pub(crate) feed: Feed<T>,
    pub(crate) conn: Option<Connection>,
    pub(crate) records: Arc<Records>,
    /// Instances open on this core.
    instances: AtomicUsize,
    key: Option<CoreKey>,
    pub(crate) cancel: CancellationToken,
    tasks: TaskTracker,
}

impl<T> Drop for Core<T> {
    fn drop(&mut self) {
        self.cancel.cancel();
        // Dropped without close(): the registry forgets it now, not at the next open.
        if let (Some(conn), Some(key)) = (&self.conn, &self.key) {
            conn.forget_core(key, self as *const Self as *const ());
        }
    }
}

impl<T> Core<T> {
    /// One more instance on this core, unless its last one already left (it is closing: the
    /// caller opens a fresh core instead).
    fn try_join(&self) -> bool {
        self.instances
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n > 0).then_some(n + 1)
            })
            .is_ok()
    }

    /// One instance less; `true` when it was the last.
    pub(crate) fn leave(&self) -> bool {
        self.instances.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Stops the core's tasks and waits for them (the sync task deletes the records left); the
    /// registry forgets it, so that the next open starts a fresh core.
    pub(crate) async fn close(&self) {
        if let (Some(conn), Some(key)) = (&self.conn, &self.key) {
            conn.forget_core(key, self as *const Self as *const ());
        }
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The registry key of a state's core.
fn key<T: 'static>(layout: &Layout, options: &StateOptions) -> CoreKey {
    CoreKey {
        dir: layout.dir.clone(),
        value_type: TypeId::of::<T>(),
        event_buffer: options.event_buffer,
        limits: options.limits,
        marker_grace: options.marker_grace,
    }
}

/// The open core of this state on `conn`, if any, joined by one more instance.
pub(crate) fn existing<T>(
    conn: &Connection,
    layout: &Layout,
    options: &StateOptions,
) -> Option<Arc<Core<T>>>
where
    T: Send + Sync + 'static,
{
    let core = conn.core(&key::<T>(layout, options))?;
    let core: Arc<dyn Any + Send + Sync> = core;
    let core = core.downcast::<Core<T>>().ok()?;
    (!core.cancel.is_cancelled() && core.try_join()).then_some(core)
}

/// Reads the payload and starts a core over it. `stand_in`: the value that stands in when the
/// payload does not decode (`ZkState::new`); without one a bad payload is an error.
pub(crate) async fn adopt<T>(
    conn: &Connection,
    client: &Client,
    layout: Layout,
    options: &StateOptions,
    stand_in: Option<(T, Value)>,
) -> Result<(Arc<Core<T>>, Option<Error>), Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let (data, stat) = within(
        "reading",
        &layout.payload,
        options.request_timeout,
        client.get_data(&layout.payload),
    )
    .await?;
    let compressed = codec::is_compressed(&data);
    let decoded = store::decode_fetched::<T>(data, options.limits).await;
    let (value, json, fault) = match (decoded, stand_in) {
        (Ok((value, json)), _) => (value, json, None),
        (Err(reason), stand_in) => {
            let fault = Error::Decode {
                path: layout.payload.clone(),
                version: stat.version,
                reason,
            };
            match stand_in {
                // The state opens on `initial`, at the bad payload's version, so that an update
                // can write over it; read() reports the fault meanwhile.
                Some((value, json)) => (value, Json::of_tree(Arc::new(json)), Some(fault)),
                None => return Err(fault),
            }
        }
    };
    let first = Snapshot {
        value,
        json: Arc::new(json),
        stamp: Stamp::of(&stat),
        compressed,
        size: usize::try_from(stat.data_length).unwrap_or(0),
    };
    let core = start(
        Some(conn),
        layout,
        options,
        first,
        client.session_id().0,
        fault.clone(),
    );
    Ok((core, fault))
}

/// Starts a core over `first`: the store, the sync task (with a connection), the staleness
/// watchdog, the reaper.
pub(crate) fn start<T>(
    conn: Option<&Connection>,
    layout: Layout,
    options: &StateOptions,
    first: Snapshot<T>,
    session: i64,
    fault: Option<Error>,
) -> Arc<Core<T>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let names = Names {
        dir: layout.dir.clone(),
        payload: layout.payload.clone(),
    };
    let first_mzxid = first.stamp.mzxid;
    let (mut writer, store) = store::new(names, options.event_buffer, options.limits, first);
    let feed = writer.feed();
    writer.mark_verified(session);
    if let Some(fault) = fault {
        // The payload does not decode: `initial` stands in (with the payload's stamp, so that an
        // update writes over it), and read() says why until another write replaces it.
        writer.set_decode_fault(fault, first_mzxid);
    }
    let records = Arc::new(Records::default());
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    match conn {
        Some(conn) => {
            let task = Box::new(Task::new(
                writer,
                layout.clone(),
                conn.watch_slot(),
                records.clone(),
                options.marker_grace,
                cancel.clone(),
            ));
            tasks.spawn(task.run());
            tasks.spawn(watch_staleness(store.clone(), cancel.clone()));
        }
        // A local-only state: its writer only applies its own updates.
        None => {
            tasks.spawn(local(writer, cancel.clone()));
        }
    }
    let key = conn.map(|_| key::<T>(&layout, options));
    let core = Arc::new(Core {
        layout,
        store,
        feed,
        conn: conn.cloned(),
        records,
        // Its first instance, about to be made by the caller.
        instances: AtomicUsize::new(1),
        key: key.clone(),
        cancel,
        tasks,
    });
    if let (Some(conn), Some(key)) = (conn, key) {
        let shared: Arc<dyn Any + Send + Sync> = core.clone();
        conn.remember_core(key, &shared);
    }
    core
}

/// The writer of a local-only state: applies updates, answers refreshes with what it holds.
async fn local<T>(mut writer: store::Writer<T>, cancel: CancellationToken)
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    loop {
        let request = tokio::select! {
            _ = cancel.cancelled() => break,
            request = writer.next_request() => request,
        };
        match request {
            store::Request::Acknowledged(ack) => writer.apply_acknowledged(ack).await,
            store::Request::Refresh(done) => {
                let _ = done.send(Ok(writer.store().stamp()));
            }
            store::Request::Offered(offer) => {
                let _ = offer
                    .done
                    .send(Ok(store::Fetched::Current(writer.store().stamp())));
            }
            store::Request::WriteStarted | store::Request::WriteAbandoned => {}
        }
    }
    writer.close();
}

/// Creates `dir`, `listeners`, `lock` and `writers` when absent, with `acls`; ancestors above
/// `dir` are created open (ZooKeeper's default), since other applications share them.
///
/// Existence is checked first (all four stats pipelined): ZooKeeper checks a create's
/// permission before it reports `NodeExists`, so a session without write rights must not try to
/// create what is already there.
pub(crate) async fn create_dirs(
    client: &Client,
    layout: &Layout,
    acls: Acls<'_>,
) -> Result<(), Error> {
    warn_of_wider_acls(client, layout).await;
    let dirs = layout.directories();
    let stats: Vec<_> = dirs.iter().map(|dir| client.check_stat(dir)).collect();
    let mut missing = Vec::new();
    for (dir, stat) in dirs.into_iter().zip(stats) {
        match stat.await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(dir),
            Err(err) => return Err(Error::from_zookeeper("reading", dir, err)),
        }
    }
    let options = CreateMode::Persistent.with_acls(acls);
    for dir in missing {
        if dir == layout.dir {
            if let Some((parent, _)) = dir
                .rsplit_once('/')
                .filter(|(parent, _)| !parent.is_empty())
            {
                let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
                match client.mkdir(parent, &open).await {
                    Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
                    Err(err) => return Err(Error::from_zookeeper("creating", parent, err)),
                }
            }
        }
        match client.create(dir, &[], &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(err) => return Err(Error::from_zookeeper("creating", dir, err)),
        }
    }
    Ok(())
}

/// An existing state is adopted whatever its ACL; with a policy that names the creator, each
/// node of the layout whose ACL grants more than the policy would ([`AclPolicy::is_exceeded_by`])
/// is reported, by a warning and `zkstate_acl_wider_total`: whoever created it can let others in.
/// The ACL reads travel together; a node that cannot be read is not reported here.
///
/// [`AclPolicy::is_exceeded_by`]: crate::AclPolicy
async fn warn_of_wider_acls(client: &Client, layout: &Layout) {
    let policy = layout.acl_policy();
    if !policy.needs_credentials() {
        return;
    }
    let mut nodes = layout.directories().to_vec();
    nodes.push(&layout.payload);
    let reads: Vec<_> = nodes.iter().map(|node| client.get_acl(node)).collect();
    for (node, read) in nodes.into_iter().zip(reads) {
        if let Ok((acl, _)) = read.await {
            if policy.is_exceeded_by(&acl) {
                tracing::warn!(%node, %policy, ?acl, "a node of the state grants more than the acl policy; adopted as it is");
                crate::metrics::acl_wider(&layout.dir);
            }
        }
    }
}

/// Creates the layout; the payload only when absent (an existing one is adopted).
pub(crate) async fn create_layout(
    client: &Client,
    layout: &Layout,
    initial: &[u8],
    acls: Acls<'_>,
) -> Result<(), Error> {
    create_dirs(client, layout, acls).await?;
    let options = CreateMode::Persistent.with_acls(acls);
    match client.create(&layout.payload, initial, &options).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
        Err(err) => Err(Error::from_zookeeper("creating", &layout.payload, err)),
    }
}
