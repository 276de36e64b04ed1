//! The change stream: what subscribers receive, and what happens when they fall behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::Stream;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::json::Json;
use crate::diff::Change;
use crate::error::Error;

/// Where a change batch came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// An update made through this state handle.
    Local,
    /// A write by another instance or an external actor, seen through a watch, a periodic check,
    /// a consistent read, or a re-sync after a reconnect or a new session.
    Remote,
}

/// The changes that moved the local copy to one version.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChangeBatch {
    /// The payload version the local copy moves to.
    pub version: i32,
    /// The zxid of the write that made it (orders batches across deletion and re-creation).
    pub mzxid: i64,
    /// Every change, in an order that [`diff::apply`](crate::diff::apply) can replay. Never empty.
    pub changes: Vec<Change>,
    /// The whole value after this batch: see [`ChangeBatch::value`].
    value: Arc<Json>,
    /// Who made it, as seen by the handle that subscribed.
    pub origin: Origin,
    /// The stored payload's size in bytes (compressed, for a zstd frame).
    pub size: usize,
    /// When the write was made, by the ZooKeeper server's clock, in milliseconds since the Unix
    /// epoch (0 for a local-only state).
    pub mtime_ms: i64,
    /// The instance whose update made it, for a local write: instances of one state opened on
    /// one connection share their local copy and their change buffer, and each sees the others'
    /// updates as [`Origin::Remote`].
    pub(crate) written_by: Option<Arc<str>>,
    /// The same batch as [`Origin::Remote`], for the subscribers of the other instances: made
    /// once, by the first of them, however many there are.
    as_remote: RemoteTwin,
}

/// A lazily made copy of a local batch, marked remote. Not part of a batch's identity: equal and
/// invisible in `Debug` whether made or not.
#[derive(Clone, Default)]
struct RemoteTwin(Arc<std::sync::OnceLock<Arc<ChangeBatch>>>);

impl PartialEq for RemoteTwin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for RemoteTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl ChangeBatch {
    pub(crate) fn new(
        (version, mzxid, mtime_ms): (i32, i64, i64),
        changes: Vec<Change>,
        value: Arc<Json>,
        size: usize,
        written_by: Option<Arc<str>>,
    ) -> ChangeBatch {
        let origin = match written_by {
            Some(_) => Origin::Local,
            None => Origin::Remote,
        };
        ChangeBatch {
            version,
            mzxid,
            changes,
            value,
            origin,
            size,
            mtime_ms,
            written_by,
            as_remote: RemoteTwin::default(),
        }
    }

    /// The whole value after this batch, as JSON. Changes are emitted before the local copy is
    /// replaced, so a handler that needs the new value takes it from here rather than from
    /// `d_read()`.
    ///
    /// When the batch was found by diffing texts (a payload written by zkstate, of which a small
    /// part changed), the first call parses the value from the payload's text on the caller's
    /// thread: microseconds for a kilobyte, milliseconds for a megabyte (for a large state, call
    /// it off the async workers, or work from `changes` alone). A large payload's parsed value
    /// is shared by every subscriber and the local copy.
    pub fn value(&self) -> &Value {
        self.value.tree()
    }

    /// Whether this batch's value is the local copy's JSON itself (a large payload diffed as
    /// text).
    #[cfg(test)]
    pub(crate) fn shares(&self, json: &Arc<Json>) -> bool {
        Arc::ptr_eq(&self.value, json)
    }
}

/// One item of a change stream.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StateEvent {
    /// The local copy changed. Batches arrive in version order, each one covering the whole
    /// difference from the previous batch (several remote writes seen at once are coalesced).
    Changed(Arc<ChangeBatch>),
    /// This subscriber fell more than the event buffer behind and missed `missed` batches. `value`
    /// is the local copy now, at `version`; batches that follow start after it.
    Lagged {
        /// How many batches were dropped for this subscriber.
        missed: u64,
        /// The current version.
        version: i32,
        /// The current value as JSON: shared with the local copy when it holds the tree (no deep
        /// clone); a small payload, held as its text, is parsed.
        value: Arc<Value>,
    },
    /// The payload in ZooKeeper went bad (not JSON, wrong shape, deleted). The local copy keeps
    /// the last good value; a later `Changed` means it recovered.
    Error(Error),
}

/// Something that can hand out the current snapshot to a lagging subscriber.
pub(crate) trait SnapshotSource: Send + Sync {
    /// The current version and value, and a receiver of exactly the batches after it.
    fn snapshot_and_subscribe(&self) -> (i32, Arc<Value>, broadcast::Receiver<StateEvent>);

    /// The state directory, for metrics.
    fn dir(&self) -> &str;
}

/// The stream returned by [`ZkState::subscribe`](crate::ZkState::subscribe).
///
/// Bounded: a subscriber that falls behind by more than the event buffer
/// ([`StateOptions::with_event_buffer`](crate::StateOptions::with_event_buffer)) gets one
/// [`StateEvent::Lagged`] with a fresh snapshot instead of the batches it missed; syncing never
/// waits for subscribers. The stream ends when the handle that subscribed is closed or dropped.
pub struct Changes {
    inner: BroadcastStream<StateEvent>,
    source: Weak<dyn SnapshotSource>,
    /// The subscribing instance: another instance's local write is `Remote` to it.
    id: Arc<str>,
    /// Completes when the subscribing handle is closed or dropped.
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Changes {
    pub(crate) fn new(
        receiver: broadcast::Receiver<StateEvent>,
        source: Weak<dyn SnapshotSource>,
        id: Arc<str>,
        closed: CancellationToken,
    ) -> Changes {
        Changes {
            inner: BroadcastStream::new(receiver),
            source,
            id,
            closed: Box::pin(closed.cancelled_owned()),
        }
    }

    /// The batch as this subscriber sees it: a sibling instance's write is remote to it.
    fn seen_by_self(&self, batch: Arc<ChangeBatch>) -> Arc<ChangeBatch> {
        match &batch.written_by {
            Some(writer) if **writer != *self.id => batch
                .as_remote
                .0
                .get_or_init(|| {
                    let mut theirs = ChangeBatch::clone(&batch);
                    theirs.origin = Origin::Remote;
                    theirs.as_remote = RemoteTwin::default();
                    Arc::new(theirs)
                })
                .clone(),
            _ => batch,
        }
    }
}

impl Stream for Changes {
    type Item = StateEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StateEvent>> {
        if self.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(StateEvent::Changed(batch)))) => {
                Poll::Ready(Some(StateEvent::Changed(self.seen_by_self(batch))))
            }
            Poll::Ready(Some(Ok(event))) => Poll::Ready(Some(event)),
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                let Some(source) = self.source.upgrade() else {
                    return Poll::Ready(None);
                };
                // Start over from the snapshot: what is still buffered is older than it.
                crate::metrics::lagged(source.dir());
                let (version, value, receiver) = source.snapshot_and_subscribe();
                self.inner = BroadcastStream::new(receiver);
                Poll::Ready(Some(StateEvent::Lagged {
                    missed,
                    version,
                    value,
                }))
            }
        }
    }
}
