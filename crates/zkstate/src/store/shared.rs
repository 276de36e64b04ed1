//! What the writer and every reader of one copy share: the copy itself, its fault, its
//! verification, the readers' staleness bounds and the change channel.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::Value;
use tokio::sync::{broadcast, Notify};

use super::bound::{Bound, Verified};
use super::changes::{SnapshotSource, StateEvent};
use super::snapshot::Snapshot;
use crate::error::Error;
use crate::options::Limits;

/// One copy, as its writer and readers see it.
pub(super) struct Shared<T> {
    pub(super) dir: String,
    pub(super) payload: String,
    pub(super) limits: Limits,
    pub(super) local: ArcSwap<Snapshot<T>>,
    /// The change channel. Locked only to send a batch and swap the copy, and to take a
    /// snapshot with a subscription.
    pub(super) events: Mutex<Events>,
    /// What is wrong with the payload in ZooKeeper now, if anything.
    pub(super) fault: ArcSwapOption<Error>,
    /// Mirrors `fault.is_some()`, so that the read path loads a flag, not a pointer.
    pub(super) faulty: AtomicBool,
    pub(super) verified: Verified,
    /// Woken whenever the copy moves to another write.
    pub(super) applied: Notify,
    pub(super) bounds: Mutex<Vec<Weak<Bound>>>,
}

/// The change channel, allocated on the first subscription (its buffer is most of what an
/// unsubscribed state would hold otherwise).
pub(super) struct Events {
    sender: Option<broadcast::Sender<StateEvent>>,
    capacity: usize,
    closed: bool,
}

impl Events {
    /// A channel of `capacity` batches (at least one), not allocated yet.
    pub(super) fn new(capacity: usize) -> Events {
        Events {
            sender: None,
            capacity: capacity.max(1),
            closed: false,
        }
    }

    /// A receiver of the batches from now on; one that ends at once when closed.
    pub(super) fn subscribe(&mut self) -> broadcast::Receiver<StateEvent> {
        if self.closed {
            return broadcast::channel(1).1;
        }
        let capacity = self.capacity;
        self.sender
            .get_or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }

    /// Sends to the subscribers, if any.
    pub(super) fn send(&self, event: StateEvent) {
        if let Some(sender) = &self.sender {
            // No receiver left is fine.
            let _ = sender.send(event);
        }
    }

    /// Ends every subscription, and every later one at once.
    pub(super) fn close(&mut self) {
        self.sender = None;
        self.closed = true;
    }
}

/// A poisoned lock only means a panic elsewhere while holding it; what these locks guard (a
/// sender, a list of weak pointers) cannot be left inconsistent.
pub(super) fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Send + Sync + 'static> SnapshotSource for Shared<T> {
    fn snapshot_and_subscribe(&self) -> (i32, Arc<Value>, broadcast::Receiver<StateEvent>) {
        // The copy and the subscription are taken together under the events lock (the writer
        // sends a batch and swaps the copy under it), so that no batch falls between them; the
        // tree is made after, from the copy taken (a text is parsed once, outside the lock).
        let (current, receiver) = {
            let mut events = lock(&self.events);
            (self.local.load_full(), events.subscribe())
        };
        (current.stamp.version, current.json.to_tree(), receiver)
    }

    fn dir(&self) -> &str {
        &self.dir
    }
}
