//! [`Store`]: a reader of the local copy. It never waits to read, and it cannot change the copy
//! nor ask the writer to (that is a [`Feed`](super::Feed)'s).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::bound::{Bound, Verified};
use super::changes::{SnapshotSource, StateEvent};
use super::copy;
use super::shared::{lock, Shared};
use super::snapshot::{Stamp, StateRef};
use crate::error::Error;

/// A reader of the local copy. Cheap to clone.
pub(crate) struct Store<T> {
    pub(super) shared: Arc<Shared<T>>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Store {
            shared: self.shared.clone(),
        }
    }
}

impl<T> AsRef<Verified> for Store<T> {
    fn as_ref(&self) -> &Verified {
        &self.shared.verified
    }
}

impl<T> Store<T> {
    pub(super) fn of(shared: Arc<Shared<T>>) -> Store<T> {
        Store { shared }
    }

    pub(crate) fn dir(&self) -> &str {
        &self.shared.dir
    }

    pub(crate) fn payload_path(&self) -> &str {
        &self.shared.payload
    }

    /// The local copy, whatever its age.
    pub(crate) fn load(&self) -> StateRef<T> {
        StateRef::new(self.shared.local.load())
    }

    pub(crate) fn stamp(&self) -> Stamp {
        self.shared.local.load().stamp
    }

    /// Parses the copy's tree on the blocking pool if it is needed there: when it is a large
    /// text not parsed yet (a copy reached by diffing texts), which an update merges into.
    pub(crate) async fn parse_tree_off_workers(&self) {
        let json = self.shared.local.load().json.clone();
        copy::parse_tree_off_workers(json).await;
    }

    /// The bounded-stale read: two flag loads and one pointer load, no clock.
    pub(crate) fn read(&self, bound: &Bound) -> Result<StateRef<T>, Error> {
        if bound.is_stale() {
            return Err(Error::Stale {
                dir: self.shared.dir.clone(),
                max_staleness: bound.max_staleness,
            });
        }
        if self.shared.faulty.load(Ordering::Acquire) {
            if let Some(fault) = self.shared.fault.load().as_ref() {
                return Err(Error::clone(fault));
            }
        }
        Ok(self.load())
    }

    /// A staleness bound for one reader, verified as of the copy's last verification.
    pub(crate) fn bound(&self, max_staleness: Duration) -> Arc<Bound> {
        let bound = Arc::new(Bound::new(max_staleness));
        let mut bounds = lock(&self.shared.bounds);
        bounds.retain(|b| b.strong_count() > 0);
        bounds.push(Arc::downgrade(&bound));
        drop(bounds);
        // The watchdog recomputes its deadline with the new bound.
        self.shared.verified.wake();
        bound
    }

    /// The live staleness bounds.
    pub(crate) fn bounds(&self) -> Vec<Arc<Bound>> {
        lock(&self.shared.bounds)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(crate) fn verified_at(&self) -> Instant {
        self.shared.verified.at()
    }

    /// The session the copy was last verified in.
    pub(crate) fn verified_session(&self) -> i64 {
        self.shared.verified.session()
    }

    /// Waits until the copy holds the write `mzxid` or a later one, at most `timeout`; whether it
    /// does.
    pub(crate) async fn caught_up(&self, mzxid: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let applied = self.shared.applied.notified();
            tokio::pin!(applied);
            // Registered before the check, so that no publish falls between the two.
            applied.as_mut().enable();
            if self.stamp().mzxid >= mzxid {
                return true;
            }
            if tokio::time::timeout_at(deadline, applied).await.is_err() {
                return self.stamp().mzxid >= mzxid;
            }
        }
    }

    /// Completes when the copy is verified or a bound is added.
    pub(crate) async fn verification(&self) {
        self.shared.verified.woken().await;
    }

    pub(crate) fn fault(&self) -> Option<Error> {
        self.shared.fault.load().as_deref().cloned()
    }

    pub(crate) fn subscribe_raw(&self) -> broadcast::Receiver<StateEvent> {
        lock(&self.shared.events).subscribe()
    }

    /// The lagging subscribers' source of snapshots.
    pub(crate) fn snapshot_source(&self) -> Weak<dyn SnapshotSource>
    where
        T: Send + Sync + 'static,
    {
        let source: Arc<dyn SnapshotSource> = self.shared.clone();
        Arc::downgrade(&source)
    }
}
