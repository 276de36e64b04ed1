//! The write lock: Curator's `InterProcessMutex` layout and waiting rule, taken in one round trip
//! when it is free.
//!
//! A contender creates an ephemeral-sequential node `<dir>/lock/_c_<uuid>-lock-<sequence>` and
//! lists `<dir>/lock`; the lowest sequence holds the lock; any other watches the node just before
//! its own and lists again when that one goes (Curator's `StandardLockInternalsDriver`, and
//! zookeeper-client's `Client::lock` with `LockPrefix::new_curator`: the three exclude each other).
//! Here the create, the listing and a stat of the payload are sent together (requests on one
//! session are served in order), so a free lock costs one round trip, and the holder learns
//! which write of the payload it holds the lock over without another. Every listing after a wait
//! is pipelined with a read of the payload too: its stat, or (for small payloads) its bytes,
//! which the update hands to the store's writer (the previous holder most likely just wrote it).
//!
//! When the state keeps a history, the listing of `<dir>/history` travels with the create and
//! with every listing after a wait, so that the holder knows the history as the previous holder
//! left it without another round trip.
//!
//! The lock is released by the commit itself (the delete of the lock node is part of the write's
//! transaction), or, when no commit happens, by a background delete when the [`Lock`] drops. A
//! contender dropped before its create was answered finds its node by its uuid and deletes it in
//! the background: no lock node outlives its contender by more than a round trip while a tokio
//! runtime runs (one dropped outside a runtime goes with its session).

use std::future::Future;

use zookeeper_client::{Client, CreateMode, Stat};

use crate::layout::{Layout, LOCK_NAME};

/// A held lock. Dropped without [`Lock::released`], it deletes its node in the background.
#[derive(Debug)]
pub(crate) struct Lock {
    client: Client,
    path: String,
    /// The payload's stat as of the acquisition (`None`: no payload).
    pub(crate) payload: Option<Stat>,
    /// The payload's bytes as of the acquisition, when the contender had to wait and asked for
    /// them (see [`acquire`]).
    pub(crate) fetched: Option<Vec<u8>>,
    /// The history directory's listing as of the acquisition, when asked for (`Some(None)`: no
    /// history directory).
    pub(crate) history: Option<Option<Vec<String>>>,
    released: bool,
}

impl Lock {
    /// The lock node.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The commit deleted the lock node: nothing left to release.
    pub(crate) fn released(mut self) {
        self.released = true;
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.released {
            let (client, path) = (self.client.clone(), std::mem::take(&mut self.path));
            spawn_cleanup(async move { delete(&client, &path).await });
        }
    }
}

/// Deletes a lock node, again after each connection loss (a request in flight when the link
/// dropped; the next one waits for the reconnection): a lock node left behind would hold every
/// other contender until this session ends, which may be never.
async fn delete(client: &Client, path: &str) {
    loop {
        match client.delete(path, None).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => return,
            Err(zookeeper_client::Error::ConnectionLoss) => continue,
            // The session is over: its ephemeral nodes went with it.
            Err(err) => {
                tracing::debug!(%path, error = %err, "lock node left to the session's end");
                return;
            }
        }
    }
}

/// Runs `cleanup` on the current runtime, if there is one (a lock dropped outside a runtime
/// leaves its node to the session's end).
fn spawn_cleanup(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(cleanup);
    }
}

/// Deletes the node of a contender that was dropped while creating it: found by its uuid.
struct Contending {
    client: Client,
    dir: String,
    /// `_c_<uuid>-`: unique to this contender.
    marker: String,
    armed: bool,
}

impl Drop for Contending {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (client, dir, marker) = (
            self.client.clone(),
            std::mem::take(&mut self.dir),
            std::mem::take(&mut self.marker),
        );
        spawn_cleanup(async move {
            let children = loop {
                match client.list_children(&dir).await {
                    Ok(children) => break children,
                    Err(zookeeper_client::Error::ConnectionLoss) => continue,
                    Err(_) => return,
                }
            };
            for child in children.iter().filter(|c| c.starts_with(&marker)) {
                delete(&client, &format!("{dir}/{child}")).await;
            }
        });
    }
}

pub(crate) use crate::layout::lock_sequence as sequence;

/// Contenders in lock order (lowest sequence first); names that are not lock nodes are ignored.
fn in_order(children: &[String]) -> Vec<(u64, &str)> {
    let mut nodes: Vec<(u64, &str)> = children
        .iter()
        .filter_map(|c| sequence(c).map(|s| (s, c.as_str())))
        .collect();
    nodes.sort_unstable();
    nodes
}

/// Where a contender stands: holds the lock, or must wait for this predecessor.
#[derive(Debug, PartialEq, Eq)]
enum Standing<'a> {
    Holds,
    After(&'a str),
    /// Our node is not in the listing (deleted under us).
    Gone,
}

/// Where our node stands in a listing of the lock directory, by Curator's rule:
///
/// | Our node in the listing          | Standing                          |
/// |----------------------------------|-----------------------------------|
/// | absent                           | `Gone`                            |
/// | the lowest sequence              | `Holds`                           |
/// | any other                        | `After` the node just before ours |
fn standing<'a>(children: &'a [String], ours: &str) -> Standing<'a> {
    let nodes = in_order(children);
    match nodes.iter().position(|(_, name)| *name == ours) {
        None => Standing::Gone,
        Some(0) => Standing::Holds,
        Some(i) => Standing::After(nodes[i - 1].1),
    }
}

/// What a contender does after the answer to its create (`T`: the node's sequence number).
#[derive(Debug, PartialEq, Eq)]
enum AfterCreate<T> {
    /// The node exists: its name holds this sequence number.
    Created(T),
    /// The lock directory is gone: make it, then create again.
    MakeDir,
    /// The create may have landed: look for our node by its uuid.
    Find,
    Fail(zookeeper_client::Error),
}

/// The decision on the answer to a contender's create:
///
/// | The create's answer      | Next                                             |
/// |--------------------------|--------------------------------------------------|
/// | `Ok(sequence)`           | `Created(sequence)`                              |
/// | `NoNode`                 | `MakeDir`                                        |
/// | `ConnectionLoss`         | `Find`                                           |
/// | any other error          | `Fail` with it                                   |
fn after_create<T>(created: Result<T, zookeeper_client::Error>) -> AfterCreate<T> {
    match created {
        Ok(sequence) => AfterCreate::Created(sequence),
        Err(zookeeper_client::Error::NoNode) => AfterCreate::MakeDir,
        Err(zookeeper_client::Error::ConnectionLoss) => AfterCreate::Find,
        Err(err) => AfterCreate::Fail(err),
    }
}

/// A contender's node as created: its name, and what the create's round trip brought along.
struct Created {
    /// `_c_<uuid>-lock-<sequence>`, without the directory.
    name: String,
    /// The lock directory's listing.
    children: Vec<String>,
    /// The payload's stat (`None`: no payload).
    payload: Option<Stat>,
    /// The history's listing, when asked for.
    history: Option<Option<Vec<String>>>,
}

/// The history directory's listing, asked now (so that it is served in order with the requests
/// made before it), or nothing when not `asked`. `Some(None)`: no history directory.
fn list_history<'a>(
    client: &'a Client,
    layout: &'a Layout,
    asked: bool,
) -> impl Future<Output = Result<Option<Option<Vec<String>>>, zookeeper_client::Error>> + 'a {
    let listing = asked.then(|| client.list_children(&layout.history));
    async move {
        let Some(listing) = listing else {
            return Ok(None);
        };
        match listing.await {
            Ok(names) => Ok(Some(Some(names))),
            Err(zookeeper_client::Error::NoNode) => Ok(Some(None)),
            Err(err) => Err(err),
        }
    }
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    ZooKeeper(zookeeper_client::Error),
    /// The node ahead of ours, at this path, is persistent: no session holds it, so it would
    /// block every contender for ever (another client planted it).
    Planted(String),
}

impl From<zookeeper_client::Error> for LockError {
    fn from(err: zookeeper_client::Error) -> Self {
        LockError::ZooKeeper(err)
    }
}

/// Takes the lock of `layout`, as Curator's `InterProcessMutex` would. No deadline: the caller
/// puts one (dropping this future deletes the node in the background). With `fetch_after_wait`,
/// a contender that waited reads the payload (not only its stat) with its last listing; with
/// `history`, every listing travels with one of the history directory.
///
/// # Errors
/// The client's errors; `RuntimeInconsistent` when our node vanished while waiting (the lock
/// directory was deleted by an outside actor); [`LockError::Planted`] when the node ahead of
/// ours is persistent.
pub(crate) async fn acquire(
    client: &Client,
    layout: &Layout,
    data: &[u8],
    fetch_after_wait: bool,
    history: bool,
) -> Result<Lock, LockError> {
    let marker = format!("_c_{}-", uuid::Uuid::new_v4());
    let mut contending = Contending {
        client: client.clone(),
        dir: layout.lock.clone(),
        marker: marker.clone(),
        armed: true,
    };
    let created = create(client, layout, &marker, data, history).await?;
    // From here on the node's name is known: a drop deletes it through the `Lock`.
    contending.armed = false;
    let mut lock = Lock {
        client: client.clone(),
        path: format!("{}/{}", layout.lock, created.name),
        payload: created.payload,
        fetched: None,
        history: created.history,
        released: false,
    };
    let mut children = created.children;
    loop {
        match standing(&children, &created.name) {
            Standing::Holds => return Ok(lock),
            Standing::Gone => {
                lock.released = true;
                return Err(zookeeper_client::Error::RuntimeInconsistent.into());
            }
            Standing::After(predecessor) => {
                wait_for(client, layout, &lock.path, predecessor).await?;
            }
        }
        children = list_again(client, layout, &mut lock, (fetch_after_wait, history)).await?;
    }
}

/// Creates the contender's node named by `marker`: the create, the listing and the stat in one
/// round trip (served in this order), again until the node is known to exist.
async fn create(
    client: &Client,
    layout: &Layout,
    marker: &str,
    data: &[u8],
    history: bool,
) -> Result<Created, zookeeper_client::Error> {
    let prefix = format!("{}/{marker}{LOCK_NAME}", layout.lock);
    let options = CreateMode::EphemeralSequential.with_acls(layout.acls());
    loop {
        let create = client.create(&prefix, data, &options);
        let list = client.list_children(&layout.lock);
        let stat = client.check_stat(&layout.payload);
        let listed_history = list_history(client, layout, history);
        let (created, listed, stat, listed_history) =
            futures::join!(create, list, stat, listed_history);
        match after_create(created.map(|(_, sequence)| sequence)) {
            AfterCreate::Created(sequence) => {
                return Ok(Created {
                    name: format!("{marker}{LOCK_NAME}{sequence}"),
                    children: listed?,
                    payload: stat?,
                    history: listed_history?,
                });
            }
            AfterCreate::MakeDir => make_lock_dir(client, layout).await?,
            AfterCreate::Find => {
                if let Some(created) = find(client, layout, marker, history).await? {
                    return Ok(created);
                }
            }
            AfterCreate::Fail(err) => return Err(err),
        }
    }
}

/// Makes the lock directory again (an outside actor removed it), but not its parents: a state
/// removed under a live handle (`zkstate rm`) is not brought back by its next update (`NoNode`
/// then reaches the caller).
async fn make_lock_dir(client: &Client, layout: &Layout) -> Result<(), zookeeper_client::Error> {
    let dirs = CreateMode::Persistent.with_acls(layout.acls());
    match client.create(&layout.lock, b"", &dirs).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Looks for the node of the contender named by `marker` after a create whose answer was lost:
/// our uuid finds it (the listing and the stat travel together). `None`: the create did not land.
async fn find(
    client: &Client,
    layout: &Layout,
    marker: &str,
    history: bool,
) -> Result<Option<Created>, zookeeper_client::Error> {
    let list = client.list_children(&layout.lock);
    let stat = client.check_stat(&layout.payload);
    let listed_history = list_history(client, layout, history);
    let (children, stat, listed_history) = futures::join!(list, stat, listed_history);
    let children = children?;
    match children.iter().find(|c| c.starts_with(marker)) {
        Some(name) => Ok(Some(Created {
            name: name.clone(),
            children,
            payload: stat?,
            history: listed_history?,
        })),
        None => Ok(None),
    }
}

/// Waits until the node just before ours (`lock`), `predecessor`, changes or goes. A persistent
/// predecessor is no contender (every contender's node is ephemeral): it would never go, so it is
/// reported at once.
async fn wait_for(
    client: &Client,
    layout: &Layout,
    lock: &str,
    predecessor: &str,
) -> Result<(), LockError> {
    let path = format!("{}/{predecessor}", layout.lock);
    tracing::debug!(%lock, %predecessor, "waiting for the lock");
    // The stat only: a planted predecessor's data could be large.
    match client.check_and_watch_stat(&path).await {
        Ok((Some(stat), _)) if stat.ephemeral_owner == 0 => Err(LockError::Planted(path)),
        Ok((Some(_), watcher)) => {
            watcher.changed().await;
            Ok(())
        }
        // Gone already: list again.
        Ok((None, _)) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Lists the lock directory after a wait, and records in `lock` what the payload is now.
///
/// The previous holder most likely just wrote the payload: with small payloads
/// (`fetch_after_wait`), read it in the same round trip, so that the update need not wait for
/// this instance's own watch to bring it.
async fn list_again(
    client: &Client,
    layout: &Layout,
    lock: &mut Lock,
    (fetch_after_wait, history): (bool, bool),
) -> Result<Vec<String>, zookeeper_client::Error> {
    let list = client.list_children(&layout.lock);
    if !fetch_after_wait {
        let stat = client.check_stat(&layout.payload);
        let listed_history = list_history(client, layout, history);
        let (listed, stat, listed_history) = futures::join!(list, stat, listed_history);
        let children = listed?;
        lock.payload = stat?;
        lock.history = listed_history?;
        return Ok(children);
    }
    let read = client.get_data(&layout.payload);
    let listed_history = list_history(client, layout, history);
    let (listed, read, listed_history) = futures::join!(list, read, listed_history);
    let children = listed?;
    lock.history = listed_history?;
    match read {
        Ok((data, stat)) => {
            lock.payload = Some(stat);
            lock.fetched = Some(data);
        }
        Err(zookeeper_client::Error::NoNode) => {
            lock.payload = None;
            lock.fetched = None;
        }
        Err(err) => return Err(err),
    }
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_lowest_sequence_holds_whatever_the_uuid() {
        let children = names(&[
            "_c_bbb-lock-0000000012",
            "_c_aaa-lock-0000000010",
            "_c_ccc-lock-0000000011",
        ]);
        assert_eq!(
            standing(&children, "_c_aaa-lock-0000000010"),
            Standing::Holds
        );
        assert_eq!(
            standing(&children, "_c_bbb-lock-0000000012"),
            Standing::After("_c_ccc-lock-0000000011")
        );
        assert_eq!(
            standing(&children, "_c_ccc-lock-0000000011"),
            Standing::After("_c_aaa-lock-0000000010")
        );
        assert_eq!(
            standing(&children, "_c_ddd-lock-0000000013"),
            Standing::Gone
        );
    }

    #[test]
    fn nodes_that_are_not_lock_nodes_are_ignored() {
        let children = names(&["leases", "_c_aaa-lock-0000000002", "x-lock-zz"]);
        assert_eq!(
            standing(&children, "_c_aaa-lock-0000000002"),
            Standing::Holds
        );
        assert_eq!(sequence("_c_1-lock-0000000007"), Some(7));
        assert_eq!(sequence("nothing"), None);
    }

    #[test]
    fn a_created_node_is_known_by_its_sequence() {
        assert_eq!(after_create::<u64>(Ok(7)), AfterCreate::Created(7));
    }

    #[test]
    fn a_missing_lock_directory_is_made_again() {
        let answer = Err(zookeeper_client::Error::NoNode);
        assert_eq!(after_create::<u64>(answer), AfterCreate::MakeDir);
    }

    #[test]
    fn a_create_whose_answer_was_lost_is_looked_for() {
        let answer = Err(zookeeper_client::Error::ConnectionLoss);
        assert_eq!(after_create::<u64>(answer), AfterCreate::Find);
    }

    #[test]
    fn any_other_error_of_the_create_fails_the_acquisition() {
        for err in [
            zookeeper_client::Error::SessionExpired,
            zookeeper_client::Error::NoAuth,
            zookeeper_client::Error::NoChildrenForEphemerals,
        ] {
            assert_eq!(
                after_create::<u64>(Err(err.clone())),
                AfterCreate::Fail(err)
            );
        }
    }
}
