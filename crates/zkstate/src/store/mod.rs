//! The local copy of one state: exactly one [`Writer`], any number of cheap [`Store`] readers.
//!
//! This module is a leaf: it knows the value, its stamp (version, mzxid, czxid), how payload
//! bytes decode ([`codec`]), how a new value becomes change events ([`crate::diff`]), and the
//! change channel. It knows nothing of ZooKeeper sessions, watches or locks.
//!
//! * [`new`] returns the one [`Writer`] (not `Clone`) and a [`Store`]. Only the writer replaces the
//!   local copy, raises or clears a payload fault and marks the copy verified. The sync task owns
//!   it.
//! * Everyone else holds a [`Store`]: [`Store::load`] and [`Store::read`] never wait (one flag and
//!   one pointer load). A write's acknowledged result reaches the copy through the writer: it is
//!   handed over with [`Store::acknowledge`] (see [`InFlight`]) and the call waits until the
//!   writer has applied it, so that a caller reads its own write.
//! * A snapshot holds `T` and the payload's JSON ([`Json`]): its text (a small plain payload, or
//!   canonical text, which the next change is diffed against as text), its tree, or both.
//! * Decode and diff run with no lock held; payloads of [`BIG`] bytes or more are decoded and
//!   diffed on tokio's blocking pool, and their old value is dropped there too. The one lock,
//!   around "send the batch, swap the copy" (two pointer operations), makes a lagging
//!   subscriber's snapshot and its new subscription atomic.

pub(crate) mod changes;
pub(crate) mod codec;
pub(crate) mod json;

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use futures::channel::mpsc;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{broadcast, oneshot, Notify};
use tokio::time::Instant;

use self::changes::{ChangeBatch, SnapshotSource, StateEvent};
use self::codec::DecodeError;
pub(crate) use self::json::Json;
use crate::diff;
use crate::error::Error;

/// Payloads of this many bytes or more are decoded and diffed off the async workers.
pub(crate) const BIG: usize = 64 * 1024;

/// Whether decoding `bytes` may hold a worker for milliseconds: a large payload, or a zstd frame
/// of any size (a small frame may expand up to the decompression cap).
pub(crate) fn is_big(bytes: &[u8]) -> bool {
    bytes.len() >= BIG || codec::is_compressed(bytes)
}

/// Whether getting the tree of `json` means parsing a [`BIG`] text (a copy reached by diffing
/// texts, whose tree nobody asked for yet).
fn parses_big(json: &Json) -> bool {
    json.lacks_large_tree() && json.text().is_some_and(|text| text.len() >= BIG)
}

/// Runs `work` on the blocking pool when `big`, inline otherwise; `None` when it panicked on
/// the blocking pool (a bug in `T`'s `Deserialize`, say), which must not end the sync task.
pub(crate) async fn off_worker_if<R, F>(big: bool, work: F) -> Option<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    if big {
        tokio::task::spawn_blocking(work).await.ok()
    } else {
        Some(work())
    }
}

/// Identifies one write of the payload. `mzxid` orders writes, even across deletion and
/// re-creation, where `version` restarts at 0; `czxid` names the payload's incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) version: i32,
    pub(crate) mzxid: i64,
    pub(crate) czxid: i64,
    /// The server's clock at the write, in milliseconds since the Unix epoch.
    pub(crate) mtime: i64,
}

impl Stamp {
    pub(crate) fn of(stat: &zookeeper_client::Stat) -> Stamp {
        Stamp {
            version: stat.version,
            mzxid: stat.mzxid,
            czxid: stat.czxid,
            mtime: stat.mtime,
        }
    }

    /// The stamp of a local-only state's first value.
    pub(crate) fn local() -> Stamp {
        Stamp {
            version: 0,
            mzxid: 0,
            czxid: 0,
            mtime: 0,
        }
    }
}

/// One immutable version of the local copy.
#[derive(Debug)]
pub(crate) struct Snapshot<T> {
    pub(crate) value: T,
    /// The payload as JSON, unknown fields included: what diffs and updates work on (shared with
    /// the change batch that brought it when neither parsed its tree).
    pub(crate) json: Arc<Json>,
    pub(crate) stamp: Stamp,
    /// Whether the payload was stored as a zstd frame.
    pub(crate) compressed: bool,
    /// The stored payload's size, in bytes.
    pub(crate) size: usize,
}

/// A read of the local copy: derefs to `T`. Holding it does not block syncing, but it pins this
/// version in memory: drop it soon.
pub struct StateRef<T> {
    guard: Guard<Arc<Snapshot<T>>>,
}

impl<T> StateRef<T> {
    /// The payload version this value was read at.
    pub fn version(&self) -> i32 {
        self.guard.stamp.version
    }

    /// The value as JSON, exactly as it is diffed: the whole stored payload, fields that `T`
    /// does not know included.
    ///
    /// A small payload (plain JSON under 4 KiB), and a large one reached by diffing texts, is held
    /// as its text: the first call on a version parses it on the caller's thread (microseconds
    /// for a kilobyte, milliseconds for a megabyte: for a large state, call it off the async
    /// workers), and that version keeps the tree from then on.
    pub fn json(&self) -> &Value {
        self.guard.json.tree()
    }

    /// The value as JSON, for a moment: parsed when the copy holds the text (and kept only when
    /// the text is large, see [`Json::to_tree`]).
    pub(crate) fn json_tree(&self) -> Arc<Value> {
        self.guard.json.to_tree()
    }

    /// `T` again from the stored JSON, by the rule every copy decodes with ([`Json::decode`]);
    /// `tree` is this version's tree, from [`json_tree`](Self::json_tree).
    pub(crate) fn decode_again(&self, tree: &Value) -> Result<T, DecodeError>
    where
        T: DeserializeOwned,
    {
        self.guard.json.decode(Some(tree))
    }

    pub(crate) fn stamp(&self) -> Stamp {
        self.guard.stamp
    }

    /// Whether the payload this value came from is stored compressed (a zstd frame).
    pub(crate) fn is_compressed(&self) -> bool {
        self.guard.compressed
    }

    /// The stored payload's size, in bytes.
    pub(crate) fn size(&self) -> usize {
        self.guard.size
    }
}

impl<T> Deref for StateRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for StateRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateRef")
            .field("version", &self.version())
            .field("value", &self.guard.value)
            .finish()
    }
}

/// How stale one reader accepts the copy to be: each handle of a state has one, and the
/// staleness watchdog raises its flag, so that `read()` loads a flag rather than a clock.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) max_staleness: Duration,
    stale: AtomicBool,
    closed: AtomicBool,
}

impl Bound {
    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// After close: nothing verifies the copy for this reader any more.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Raises the flag unless a verification happened after `verified`: a verification racing
    /// with the watchdog must not leave the flag up. Returns whether the flag went up.
    pub(crate) fn mark_stale_since<T>(&self, store: &Store<T>, verified: Instant) -> bool {
        if self.stale.swap(true, Ordering::SeqCst) {
            return false;
        }
        if store.verified_at() != verified && !self.closed.load(Ordering::SeqCst) {
            self.stale.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn verified(&self) {
        if !self.closed.load(Ordering::SeqCst) {
            self.stale.store(false, Ordering::SeqCst);
        }
    }
}

/// When the copy was last verified equal to ZooKeeper's, and in which session.
struct Verified {
    epoch: Instant,
    /// Nanoseconds since `epoch`.
    at: AtomicU64,
    session: AtomicI64,
    notify: Notify,
}

/// A version's JSON tree, with the version's mzxid.
pub(crate) type VersionTree = (i64, Arc<Value>);

/// A write acknowledged by ZooKeeper, handed to the writer.
pub(crate) struct Acknowledged<T> {
    pub(crate) value: T,
    pub(crate) json: Value,
    /// The bytes written (`None` for a local-only state): see [`Json::written`].
    pub(crate) stored: Option<Vec<u8>>,
    /// The tree of the version the write was made from (by its mzxid), parsed by the update:
    /// the diff uses it when the copy still holds that version.
    pub(crate) base: VersionTree,
    pub(crate) stamp: Stamp,
    /// The encoded size, to decide where the diff runs.
    pub(crate) size: usize,
    /// Whether it was stored compressed.
    pub(crate) compressed: bool,
    /// The instance that wrote it.
    pub(crate) writer: Arc<str>,
    pub(crate) done: oneshot::Sender<()>,
}

/// A payload read by an update under the lock, handed to the writer.
pub(crate) struct Offered {
    pub(crate) bytes: Vec<u8>,
    pub(crate) stamp: Stamp,
    pub(crate) done: oneshot::Sender<Result<Fetched, Error>>,
}

/// What the writer is asked to do. Only the writer's owner (the sync task) receives these.
pub(crate) enum Request<T> {
    /// A local write is about to be sent: its watch event will come back.
    WriteStarted,
    /// A local write was acknowledged: apply it, then answer. Boxed: every message of the inbox
    /// is as large as its largest kind.
    Acknowledged(Box<Acknowledged<T>>),
    /// A local write ended without an acknowledgement (refused, or its outcome resolved).
    WriteAbandoned,
    /// Read the payload again and answer with the stamp the copy holds afterwards, or the fault.
    Refresh(oneshot::Sender<Result<Stamp, Error>>),
    /// A payload a write read under the lock: apply it as a fetched one, then answer.
    Offered(Box<Offered>),
}

struct Shared<T> {
    dir: String,
    payload: String,
    max_decompressed: usize,
    local: ArcSwap<Snapshot<T>>,
    /// The change channel. Locked only to send a batch and swap the copy, and to take a
    /// snapshot with a subscription.
    events: Mutex<Events>,
    /// What is wrong with the payload in ZooKeeper now, if anything.
    fault: ArcSwapOption<Error>,
    /// Mirrors `fault.is_some()`, so that the read path loads a flag, not a pointer.
    faulty: AtomicBool,
    verified: Verified,
    /// Woken whenever the copy moves to another write.
    applied: Notify,
    bounds: Mutex<Vec<Weak<Bound>>>,
    requests: mpsc::UnboundedSender<Request<T>>,
}

/// The change channel, allocated on the first subscription (its buffer is most of what an
/// unsubscribed state would hold otherwise).
struct Events {
    sender: Option<broadcast::Sender<StateEvent>>,
    capacity: usize,
    closed: bool,
}

impl Events {
    /// A receiver of the batches from now on; one that ends at once when closed.
    fn subscribe(&mut self) -> broadcast::Receiver<StateEvent> {
        if self.closed {
            return broadcast::channel(1).1;
        }
        let capacity = self.capacity;
        self.sender
            .get_or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe()
    }

    /// Sends to the subscribers, if any.
    fn send(&self, event: StateEvent) {
        if let Some(sender) = &self.sender {
            // No receiver left is fine.
            let _ = sender.send(event);
        }
    }
}

/// A poisoned lock only means a panic elsewhere while holding it; what these locks guard (a
/// sender, a list of weak pointers) cannot be left inconsistent.
fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A reader of the local copy. Cheap to clone.
pub(crate) struct Store<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Store {
            shared: self.shared.clone(),
        }
    }
}

/// The one writer of the local copy. Not `Clone`: whoever owns it (the sync task) is the only
/// code that changes the copy.
pub(crate) struct Writer<T> {
    shared: Arc<Shared<T>>,
    inbox: mpsc::UnboundedReceiver<Request<T>>,
    /// The bytes of the current payload when it is [`BIG`] and the copy does not keep them as its
    /// text: identical bytes skip decode and diff.
    last_big: Option<Vec<u8>>,
    /// The write (mzxid) that the current fault is about, when it is a payload that does not
    /// decode: fetching that write again tells nothing new, and the copy (or the stand-in opened
    /// over it) must not be taken for it.
    fault_at: Option<i64>,
}

/// Where the copy lives, for error messages.
pub(crate) struct Names {
    pub(crate) dir: String,
    pub(crate) payload: String,
}

/// A new local copy holding `first`: its writer and a reader.
pub(crate) fn new<T>(
    names: Names,
    event_buffer: usize,
    max_decompressed: usize,
    first: Snapshot<T>,
) -> (Writer<T>, Store<T>) {
    // futures' channel, not tokio's: tokio's allocates a block of 32 slots up front (1 KiB with
    // its channel), and most copies are idle most of their life.
    let (requests, inbox) = mpsc::unbounded();
    let shared = Arc::new(Shared {
        dir: names.dir,
        payload: names.payload,
        max_decompressed,
        local: ArcSwap::from_pointee(first),
        events: Mutex::new(Events {
            sender: None,
            capacity: event_buffer.max(1),
            closed: false,
        }),
        fault: ArcSwapOption::empty(),
        faulty: AtomicBool::new(false),
        verified: Verified {
            epoch: Instant::now(),
            at: AtomicU64::new(0),
            session: AtomicI64::new(0),
            notify: Notify::new(),
        },
        applied: Notify::new(),
        bounds: Mutex::new(Vec::new()),
        requests,
    });
    let writer = Writer {
        shared: shared.clone(),
        inbox,
        last_big: None,
        fault_at: None,
    };
    (writer, Store { shared })
}

impl<T> Store<T> {
    pub(crate) fn dir(&self) -> &str {
        &self.shared.dir
    }

    pub(crate) fn payload_path(&self) -> &str {
        &self.shared.payload
    }

    /// The local copy, whatever its age.
    pub(crate) fn load(&self) -> StateRef<T> {
        StateRef {
            guard: self.shared.local.load(),
        }
    }

    pub(crate) fn stamp(&self) -> Stamp {
        self.shared.local.load().stamp
    }

    /// Parses the copy's tree on the blocking pool when it is large and not parsed yet (a copy
    /// reached by diffing texts): an update merges into it, and a worker must not spend
    /// milliseconds on it.
    pub(crate) async fn prepare_tree(&self) {
        let json = self.shared.local.load().json.clone();
        if json.lacks_large_tree() {
            let _ = tokio::task::spawn_blocking(move || drop(json.to_tree())).await;
        }
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
        let bound = Arc::new(Bound {
            max_staleness,
            stale: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let mut bounds = lock(&self.shared.bounds);
        bounds.retain(|b| b.strong_count() > 0);
        bounds.push(Arc::downgrade(&bound));
        drop(bounds);
        // The watchdog recomputes its deadline with the new bound.
        self.shared.verified.notify.notify_one();
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
        let nanos = self.shared.verified.at.load(Ordering::SeqCst);
        self.shared.verified.epoch + Duration::from_nanos(nanos)
    }

    /// The session the copy was last verified in.
    pub(crate) fn verified_session(&self) -> i64 {
        self.shared.verified.session.load(Ordering::SeqCst)
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
        self.shared.verified.notify.notified().await;
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

    fn send(&self, request: Request<T>) -> Result<(), Error> {
        self.shared
            .requests
            .unbounded_send(request)
            .map_err(|_| Error::Closed {
                dir: self.shared.dir.clone(),
            })
    }

    /// Asks the writer to read the payload again; answers with the stamp the copy holds
    /// afterwards, or the payload's fault.
    ///
    /// # Errors
    /// The fault ([`Error::Missing`], [`Error::Decode`]); a ZooKeeper error of the read;
    /// [`Error::Closed`] when the writer is gone.
    pub(crate) async fn refresh(&self) -> Result<Stamp, Error> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Refresh(done))?;
        answer.await.map_err(|_| Error::Closed {
            dir: self.shared.dir.clone(),
        })?
    }

    /// Hands a payload read under the lock to the writer, and waits until the copy holds it (or
    /// reports it does not decode).
    ///
    /// # Errors
    /// The payload's fault; [`Error::Closed`] when the writer is gone.
    pub(crate) async fn offer(&self, bytes: Vec<u8>, stamp: Stamp) -> Result<Fetched, Error> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Offered(Box::new(Offered { bytes, stamp, done })))?;
        answer.await.map_err(|_| Error::Closed {
            dir: self.shared.dir.clone(),
        })?
    }

    /// Announces a local write about to be sent; see [`InFlight`].
    pub(crate) fn write_started(&self) -> InFlight<'_, T> {
        let announced = self.send(Request::WriteStarted).is_ok();
        InFlight {
            store: self,
            announced,
        }
    }
}

/// A local write announced to the writer: its watch event is recognised as this instance's echo
/// (answered with a stat, not a download). Hand its acknowledgement over with
/// [`acknowledge`](Self::acknowledge); dropped without, it tells the writer the write is over.
pub(crate) struct InFlight<'a, T> {
    store: &'a Store<T>,
    announced: bool,
}

impl<T> InFlight<'_, T> {
    /// Hands the acknowledged write to the writer and waits until the copy holds it (or a newer
    /// write).
    ///
    /// # Errors
    /// [`Error::Closed`] when the writer is gone (the state is closing): the write was applied in
    /// ZooKeeper all the same.
    ///
    /// `stored`: the bytes ZooKeeper holds now (`None` for a local-only state); `base`: the tree
    /// the update started from, and the mzxid of its version.
    pub(crate) async fn acknowledge(
        mut self,
        value: T,
        json: Value,
        stamp: Stamp,
        stored: Option<Vec<u8>>,
        writer: Arc<str>,
        base: VersionTree,
    ) -> Result<(), Error> {
        self.announced = false;
        let size = stored.as_ref().map_or(0, Vec::len);
        let compressed = stored.as_deref().is_some_and(codec::is_compressed);
        let (done, applied) = oneshot::channel();
        self.store
            .send(Request::Acknowledged(Box::new(Acknowledged {
                value,
                json,
                stored,
                base,
                stamp,
                size,
                compressed,
                writer,
                done,
            })))?;
        applied.await.map_err(|_| Error::Closed {
            dir: self.store.shared.dir.clone(),
        })
    }
}

impl<T> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if self.announced {
            // The writer gone means nobody waits for the echo either.
            let _ = self.store.send(Request::WriteAbandoned);
        }
    }
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

/// What a fetched payload did to the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// The copy moved to this newer write.
    Applied(Stamp),
    /// The copy already held this write, or a newer one.
    Current(Stamp),
}

/// A decoded value and its diff from the current copy, made ready off the writer's lock.
struct Prepared<T> {
    value: T,
    /// The JSON as the copy keeps it.
    json: Arc<Json>,
    /// The new tree, when it was parsed: the change batch carries it (else it shares `json`,
    /// parsed when a subscriber asks for the value).
    tree: Option<Arc<Value>>,
    changes: Vec<diff::Change>,
    compressed: bool,
    /// The stored payload's size, in bytes.
    size: usize,
}

impl<T> Writer<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    /// A reader of this copy.
    pub(crate) fn store(&self) -> Store<T> {
        Store {
            shared: self.shared.clone(),
        }
    }

    /// The next request from the handles. The writer's own [`Shared`] holds a sender, so the
    /// inbox never closes: the owner stops on its cancellation, not here.
    pub(crate) async fn next_request(&mut self) -> Request<T> {
        match self.inbox.next().await {
            Some(request) => request,
            None => std::future::pending().await,
        }
    }

    /// Applies a payload read from ZooKeeper when it is newer than the copy: decode, diff,
    /// publish the changes, swap. A payload that does not decode becomes the fault and is
    /// returned as the error; the copy keeps the last good value.
    ///
    /// # Errors
    /// [`Error::Decode`] for a bad payload (now the store's fault).
    pub(crate) async fn apply_fetched(
        &mut self,
        bytes: Vec<u8>,
        stamp: Stamp,
        origin: crate::metrics::Applied,
    ) -> Result<Fetched, Error> {
        if self.fault_at == Some(stamp.mzxid) {
            // The write that did not decode, again: still the fault (a stand-in opened over it
            // carries its stamp, and is not that write).
            if let Some(fault) = self.shared.fault.load_full() {
                return Err(Error::clone(&fault));
            }
        }
        let current = self.shared.local.load_full();
        if stamp.mzxid < current.stamp.mzxid {
            return Ok(Fetched::Current(current.stamp));
        }
        if stamp.mzxid == current.stamp.mzxid {
            // The payload is the write the copy holds: whatever fault was reported is over.
            self.clear_fault();
            return Ok(Fetched::Current(current.stamp));
        }
        let big = is_big(&bytes);
        // Identical bytes, another write (a big payload's; a small one is cheap to decode).
        let same = big
            && (current.json.text() == Some(&bytes[..])
                || self.last_big.as_deref() == Some(&bytes[..]));
        let compressed = codec::is_compressed(&bytes);
        let size = bytes.len();
        let max = self.shared.max_decompressed;
        let base = current.clone();
        let work = move || -> (Vec<u8>, Result<Prepared<T>, DecodeError>) {
            let prepared = if same {
                // Only the stamp moves: the copy's JSON is shared, `T` made again.
                base.json.decode::<T>(None).map(|value| Prepared {
                    value,
                    json: base.json.clone(),
                    tree: None,
                    changes: Vec::new(),
                    compressed,
                    size,
                })
            } else {
                codec::decode_and_diff::<T>(&base.json, &bytes, max).map(|decoded| Prepared {
                    value: decoded.value,
                    json: Arc::new(decoded.json),
                    tree: decoded.tree,
                    changes: decoded.changes,
                    compressed,
                    size,
                })
            };
            (bytes, prepared)
        };
        // A big copy held as text only may have to be parsed too (the change is not diffed as
        // text): off the workers as well.
        let off = big || parses_big(&current.json);
        let (bytes, prepared) = off_worker_if(off, work).await.unwrap_or_else(|| {
            let panicked = DecodeError::Json("the payload's decoder panicked".into());
            (Vec::new(), Err(panicked))
        });
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => {
                let fault = Error::Decode {
                    path: self.shared.payload.clone(),
                    version: stamp.version,
                    reason,
                };
                self.set_decode_fault(fault.clone(), stamp.mzxid);
                return Err(fault);
            }
        };
        // A big payload's bytes tell the next identical one, unless the copy keeps them.
        self.last_big = (big && prepared.json.text().is_none()).then_some(bytes);
        drop(current);
        self.publish(prepared, stamp, None, big);
        self.clear_fault();
        crate::metrics::applied(&self.shared.dir, origin, stamp.mtime);
        Ok(Fetched::Applied(stamp))
    }

    /// Applies a write acknowledged by ZooKeeper (when the copy does not hold a newer one), then
    /// answers it.
    pub(crate) async fn apply_acknowledged(&mut self, ack: Box<Acknowledged<T>>) {
        let Acknowledged {
            value,
            json,
            stored,
            base: (base_mzxid, base_tree),
            stamp,
            size,
            compressed,
            writer,
            done,
        } = *ack;
        let current = self.shared.local.load_full();
        // Our own write: its JSON is decoded already, but a compressed one may be large.
        let big = size >= BIG || compressed;
        if stamp.mzxid > current.stamp.mzxid {
            // The tree the update parsed, if the copy still holds its version.
            let same_base = base_mzxid == current.stamp.mzxid;
            let held = current.clone();
            let work = move || {
                let base = if same_base {
                    base_tree
                } else {
                    drop(base_tree);
                    held.json.to_tree()
                };
                let changes = diff::diff(&base, &json);
                let tree = Arc::new(json);
                Prepared {
                    value,
                    json: Arc::new(Json::written(tree.clone(), stored)),
                    tree: Some(tree),
                    changes,
                    compressed,
                    size,
                }
            };
            let off = big || (!same_base && parses_big(&current.json));
            let prepared = off_worker_if(off, work).await;
            drop(current);
            if let Some(prepared) = prepared {
                // The next fetch compares against what ZooKeeper holds now, not older bytes.
                self.last_big = None;
                self.publish(prepared, stamp, Some(writer), big);
                self.clear_fault();
                crate::metrics::applied(
                    &self.shared.dir,
                    crate::metrics::Applied::Local,
                    stamp.mtime,
                );
            }
        } else if big {
            // A newer write came first; the update's tree may be the last reference to a large
            // one: freed off the workers.
            tokio::task::spawn_blocking(move || drop(base_tree));
        }
        // The caller may have given up waiting: nothing to tell then.
        let _ = done.send(());
    }

    /// Sends the batch, then swaps the copy, under the events lock (two pointer operations);
    /// the old value is dropped off the async workers when it is big.
    fn publish(
        &mut self,
        prepared: Prepared<T>,
        stamp: Stamp,
        writer: Option<Arc<str>>,
        big: bool,
    ) {
        let Prepared {
            value,
            json,
            tree,
            changes,
            compressed,
            size,
        } = prepared;
        let batch = (!changes.is_empty()).then(|| {
            // The batch carries the new tree when it was parsed (a small payload's copy keeps
            // only its text); else the text, parsed if a subscriber asks for the value.
            let value = match tree {
                Some(tree) => Arc::new(Json::of_tree(tree)),
                // A large text's tree, once a subscriber parsed it, serves the copy too.
                None if json.lacks_large_tree() => json.clone(),
                // A small text's stays with the batch: the copy stays small.
                None => Arc::new(json.detached()),
            };
            StateEvent::Changed(Arc::new(ChangeBatch::new(
                (stamp.version, stamp.mzxid, stamp.mtime),
                changes,
                value,
                size,
                writer,
            )))
        });
        let next = Arc::new(Snapshot {
            value,
            json,
            stamp,
            compressed,
            size,
        });
        let events = lock(&self.shared.events);
        if let Some(batch) = batch {
            events.send(batch);
        }
        let old = self.shared.local.swap(next);
        drop(events);
        self.shared.applied.notify_waiters();
        if big {
            // Freeing a large tree takes milliseconds: not on a worker. A reader still holding
            // it frees it on its own thread when done.
            tokio::task::spawn_blocking(move || drop(old));
        }
        // A large copy reached by diffing texts has no tree: it is parsed (once) by whoever needs
        // it first: the next change that cannot be diffed as text (off the workers when big),
        // an update (`Store::prepare_tree`), `json()` or `ChangeBatch::value()`. Parsing it here
        // in the background cost every change a parse that few use, on two cores (the 64 KB
        // end-to-end change went from 1.06× to 1.46× the raw follower's time).
    }

    /// Reports a bad payload: `read()` returns it and subscribers get it, once per distinct
    /// fault.
    pub(crate) fn set_fault(&mut self, fault: Error) {
        self.fault_at = None;
        self.report_fault(fault);
    }

    /// Reports that the payload written at `mzxid` does not decode (see [`set_fault`]).
    ///
    /// [`set_fault`]: Writer::set_fault
    pub(crate) fn set_decode_fault(&mut self, fault: Error, mzxid: i64) {
        self.fault_at = Some(mzxid);
        self.report_fault(fault);
    }

    fn report_fault(&mut self, fault: Error) {
        let previous = self.shared.fault.swap(Some(Arc::new(fault.clone())));
        self.shared.faulty.store(true, Ordering::Release);
        if previous.as_deref() != Some(&fault) {
            tracing::warn!(dir = %self.shared.dir, error = %fault, "payload fault");
            crate::metrics::payload_fault(&self.shared.dir, &fault);
            lock(&self.shared.events).send(StateEvent::Error(fault));
        }
    }

    pub(crate) fn clear_fault(&mut self) {
        self.fault_at = None;
        self.shared.faulty.store(false, Ordering::Release);
        if self.shared.fault.swap(None).is_some() {
            tracing::info!(dir = %self.shared.dir, "payload recovered");
        }
    }

    pub(crate) fn has_fault(&self) -> bool {
        self.shared.faulty.load(Ordering::Acquire)
    }

    /// Whether ZooKeeper's write `mzxid` is accounted for: the copy holds it (and no fault
    /// stands), or it is the write the current fault is about. A stat that finds it needs no
    /// fetch.
    pub(crate) fn accounts_for(&self, mzxid: i64) -> bool {
        if self.fault_at == Some(mzxid) {
            return true;
        }
        !self.has_fault() && self.shared.local.load().stamp.mzxid == mzxid
    }

    /// Records that the copy equals ZooKeeper's as of now, in `session`.
    pub(crate) fn mark_verified(&mut self, session: i64) {
        let verified = &self.shared.verified;
        let nanos = verified.epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        // SeqCst with `Bound::mark_stale_since`: whichever runs second leaves the flag right.
        verified.at.store(nanos, Ordering::SeqCst);
        verified.session.store(session, Ordering::SeqCst);
        for bound in lock(&self.shared.bounds).iter().filter_map(Weak::upgrade) {
            bound.verified();
        }
        verified.notify.notify_one();
        crate::metrics::verified(&self.shared.dir);
    }

    /// Ends every change stream.
    pub(crate) fn close(&mut self) {
        let mut events = lock(&self.shared.events);
        events.sender = None;
        events.closed = true;
        self.inbox.close();
    }
}

#[cfg(test)]
mod tests;
