//! Commit markers: how a write whose reply was lost is resolved exactly once.
//!
//! Every write of the payload is one multi transaction: check the lock node, set the payload at
//! the version the update read, and set `<dir>/writers/<id>` (this instance's marker) to a token
//! unique to this write, at the marker version this instance last saw. When the reply is lost
//! (connection loss, timeout, expiry), the marker tells the outcome once we reach ZooKeeper again:
//!
//! * the marker holds our token: the write landed;
//! * it does not, and still has the version we wrote against: we *fence* it by setting it to
//!   another value at that version. If the fence succeeds, our in-flight write can never land
//!   (its marker version check will fail), so it was not applied. If the fence fails with
//!   `BadVersion`, our write landed in between: read again.
//!
//! Only this instance writes its marker, so no other writer can confuse the two cases.

use zookeeper_client::{Client, CreateMode};

use crate::connection::Connection;
use crate::error::Error;
use crate::state::layout::Layout;
use crate::state::store::Store;

/// What this instance knows of its marker. Guarded by the state's update mutex.
#[derive(Debug, Default)]
pub(crate) struct WriterState {
    /// The marker's version as of our last write or fence; `None` until first needed.
    pub(crate) marker_version: Option<i32>,
    counter: u64,
}

/// The outcome of a write whose reply was lost.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Landed,
    NotApplied,
}

impl WriterState {
    pub(crate) fn next_token(&mut self, id: &str) -> Vec<u8> {
        self.counter += 1;
        format!("{{\"writer\":\"{id}\",\"write\":{}}}", self.counter).into_bytes()
    }

    /// Makes sure the marker exists and its version is known.
    pub(crate) async fn ensure_marker(
        &mut self,
        client: &Client,
        layout: &Layout,
        id: &str,
    ) -> Result<i32, Error> {
        if let Some(version) = self.marker_version {
            return Ok(version);
        }
        let path = layout.writer(id);
        let options = CreateMode::Persistent.with_acls(layout.acls());
        let version = loop {
            match client.create(&path, b"", &options).await {
                Ok((stat, _)) if stat.version >= 0 => break stat.version,
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {
                    match client.check_stat(&path).await {
                        Ok(Some(stat)) => break stat.version,
                        Ok(None) => continue,
                        Err(err) => return Err(Error::zk("reading", &path, err)),
                    }
                }
                Err(zookeeper_client::Error::NoNode) => {
                    let dir_options = CreateMode::Persistent.with_acls(layout.acls());
                    match client.mkdir(&layout.writers, &dir_options).await {
                        Ok(()) | Err(zookeeper_client::Error::NodeExists) => continue,
                        Err(err) => return Err(Error::zk("creating", &layout.writers, err)),
                    }
                }
                Err(err) => return Err(Error::zk("creating", &path, err)),
            }
        };
        self.marker_version = Some(version);
        Ok(version)
    }

    /// Finds out whether the write that set the marker to `token` (at `version`) landed.
    /// Waits for the connection as long as it takes: an unresolved outcome never reaches the user.
    ///
    /// # Errors
    /// [`Error::Closed`] only when the write's own session is over and the connection was
    /// closed, so that no session is left to ask.
    pub(crate) async fn resolve<T>(
        &mut self,
        own: &Client,
        conn: &Connection,
        store: &Store<T>,
        token: &[u8],
        version: i32,
    ) -> Result<Resolved, Error>
    where
        T: Send + Sync + 'static,
    {
        let layout = &store.layout;
        let request_timeout = store.options.request_timeout;
        let path = layout.writer(&store.id);
        loop {
            // The write's own session first, while it lives: it answers even after the
            // container was closed. Once it is over, a new session of the container.
            let client = if !own.state().is_terminated() {
                own.clone()
            } else {
                match conn.wait_connected(request_timeout).await {
                    Ok(client) => client,
                    // No session left to ask: the one case the outcome cannot be learned.
                    Err(crate::ConnectError::Closed) => {
                        return Err(Error::Closed {
                            dir: layout.dir.clone(),
                        })
                    }
                    Err(_) => continue,
                }
            };
            let sync = client.sync(&path);
            let read = client.get_data(&path);
            let outcome =
                tokio::time::timeout(request_timeout, async { (sync.await, read.await) }).await;
            let (data, stat) = match outcome {
                Ok((_, Ok(found))) => found,
                Ok((_, Err(zookeeper_client::Error::NoNode))) => {
                    // An operator removed our marker (close() waits for updates in flight, so we
                    // did not): the write cannot land any more (its version check fails on a
                    // missing node). Do not remove the markers of live instances.
                    self.marker_version = None;
                    return Ok(Resolved::NotApplied);
                }
                Ok((_, Err(err))) => {
                    tracing::debug!(%path, error = %err, "resolving a write: marker read failed; retrying");
                    continue;
                }
                Err(_) => continue,
            };
            if data == token {
                self.marker_version = Some(stat.version);
                return Ok(Resolved::Landed);
            }
            if stat.version != version {
                self.marker_version = Some(stat.version);
                return Ok(Resolved::NotApplied);
            }
            let fence = client.set_data(&path, b"{\"fenced\":true}", Some(version));
            match tokio::time::timeout(request_timeout, fence).await {
                Ok(Ok(stat)) => {
                    self.marker_version = Some(stat.version);
                    return Ok(Resolved::NotApplied);
                }
                // Our write landed meanwhile, or the fence's own reply was lost: read again.
                Ok(Err(_)) | Err(_) => continue,
            }
        }
    }
}
