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
//! The lock is released by the commit itself (the delete of the lock node is part of the write's
//! transaction), or, when no commit happens, by a background delete when the [`Lock`] drops. A
//! contender dropped before its create was answered finds its node by its uuid and deletes it in
//! the background: no lock node outlives its contender by more than a round trip while a tokio
//! runtime runs (one dropped outside a runtime goes with its session).

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

/// The sequence number of a Curator lock node name, if it is one.
fn sequence(name: &str) -> Option<u64> {
    let at = name.rfind(LOCK_NAME)?;
    name[at + LOCK_NAME.len()..].parse().ok()
}

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

fn standing<'a>(children: &'a [String], ours: &str) -> Standing<'a> {
    let nodes = in_order(children);
    match nodes.iter().position(|(_, name)| *name == ours) {
        None => Standing::Gone,
        Some(0) => Standing::Holds,
        Some(i) => Standing::After(nodes[i - 1].1),
    }
}

/// Takes the lock of `layout`, as Curator's `InterProcessMutex` would. No deadline: the caller
/// puts one (dropping this future deletes the node in the background). With `fetch_after_wait`,
/// a contender that waited reads the payload (not only its stat) with its last listing.
///
/// # Errors
/// The client's errors; `RuntimeInconsistent` when our node vanished while waiting (the lock
/// directory was deleted by an outside actor).
pub(crate) async fn acquire(
    client: &Client,
    layout: &Layout,
    data: &[u8],
    fetch_after_wait: bool,
) -> Result<Lock, zookeeper_client::Error> {
    let marker = format!("_c_{}-", uuid::Uuid::new_v4());
    let prefix = format!("{}/{marker}{LOCK_NAME}", layout.lock);
    let options = CreateMode::EphemeralSequential.with_acls(layout.acls());
    let mut contending = Contending {
        client: client.clone(),
        dir: layout.lock.clone(),
        marker: marker.clone(),
        armed: true,
    };
    // Create, list and stat in one round trip (served in this order).
    let (created, listed, stat) = loop {
        let create = client.create(&prefix, data, &options);
        let list = client.list_children(&layout.lock);
        let stat = client.check_stat(&layout.payload);
        let (created, listed, stat) = futures::join!(create, list, stat);
        match created {
            Err(zookeeper_client::Error::NoNode) => {
                // The lock directory is gone (an outside actor removed it): make it again, but
                // not its parents: a state removed under a live handle (`zkstate rm`) is not
                // brought back by its next update (`NoNode` then reaches the caller).
                let dirs = CreateMode::Persistent.with_acls(layout.acls());
                match client.create(&layout.lock, b"", &dirs).await {
                    Ok(_) | Err(zookeeper_client::Error::NodeExists) => continue,
                    Err(err) => return Err(err),
                }
            }
            Err(zookeeper_client::Error::ConnectionLoss) => {
                // The create may have landed: our uuid finds it (the listing and the stat travel
                // together).
                let list = client.list_children(&layout.lock);
                let stat = client.check_stat(&layout.payload);
                let (children, stat) = futures::join!(list, stat);
                let children = children?;
                match children.iter().find(|c| c.starts_with(&marker)) {
                    Some(name) => {
                        let name = name.clone();
                        break (name, children, stat?);
                    }
                    None => continue,
                }
            }
            Err(err) => return Err(err),
            Ok((_, sequence)) => {
                let name = format!("{marker}{LOCK_NAME}{sequence}");
                break (name, listed?, stat?);
            }
        }
    };
    // From here on the node's name is known: a drop deletes it through the `Lock`.
    contending.armed = false;
    let mut lock = Lock {
        client: client.clone(),
        path: format!("{}/{created}", layout.lock),
        payload: stat,
        fetched: None,
        released: false,
    };
    let mut children = listed;
    loop {
        match standing(&children, &created) {
            Standing::Holds => return Ok(lock),
            Standing::Gone => {
                lock.released = true;
                return Err(zookeeper_client::Error::RuntimeInconsistent);
            }
            Standing::After(predecessor) => {
                let path = format!("{}/{predecessor}", layout.lock);
                tracing::debug!(lock = %lock.path, %predecessor, "waiting for the lock");
                match client.get_and_watch_data(&path).await {
                    Ok((_, _, watcher)) => {
                        watcher.changed().await;
                    }
                    // Gone already: list again.
                    Err(zookeeper_client::Error::NoNode) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        // The previous holder most likely just wrote the payload: with small payloads, read it
        // in the same round trip, so that the update need not wait for this instance's own
        // watch to bring it.
        let list = client.list_children(&layout.lock);
        if fetch_after_wait {
            let read = client.get_data(&layout.payload);
            let (listed, read) = futures::join!(list, read);
            children = listed?;
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
        } else {
            let stat = client.check_stat(&layout.payload);
            let (listed, stat) = futures::join!(list, stat);
            children = listed?;
            lock.payload = stat?;
        }
    }
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
}
