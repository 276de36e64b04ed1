//! [`Writer`]: the one writer of the local copy. It applies fetched payloads and acknowledged
//! writes (decode or diff with no lock held, then publish: send the batch and swap the copy under
//! the events lock), raises and clears the payload's fault, and records verifications.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use arc_swap::{ArcSwap, ArcSwapOption};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

use super::bound::Verified;
use super::changes::{ChangeBatch, StateEvent};
use super::codec::{self, DecodeError};
use super::copy::{self, Cost, KnownBytes};
use super::inbox::{self, Acknowledged, Feed, Fetched, Inbox, Request, Sender};
use super::json::Json;
use super::reader::Store;
use super::shared::{lock, Events, Shared};
use super::snapshot::{Snapshot, Stamp};
use crate::diff;
use crate::error::Error;
use crate::options::Limits;

/// The one writer of the local copy. Not `Clone`: whoever owns it (the sync task) is the only
/// code that changes the copy.
pub(crate) struct Writer<T> {
    shared: Arc<Shared<T>>,
    inbox: Inbox<T>,
    /// The writer's own sender: the inbox never closes while the writer lives, and it is what
    /// every [`Feed`] sends through.
    requests: Sender<T>,
    /// The current payload's bytes, when the copy does not keep them: identical bytes skip
    /// decode and diff.
    known: KnownBytes,
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

/// A new local copy holding `first`: its writer and a reader. The writer makes the
/// [`Feed`]s ([`Writer::feed`]).
pub(crate) fn new<T>(
    names: Names,
    event_buffer: usize,
    limits: Limits,
    first: Snapshot<T>,
) -> (Writer<T>, Store<T>) {
    let (requests, inbox) = inbox::channel();
    let shared = Arc::new(Shared {
        dir: names.dir,
        payload: names.payload,
        limits,
        local: ArcSwap::from_pointee(first),
        events: Mutex::new(Events::new(event_buffer)),
        fault: ArcSwapOption::empty(),
        faulty: Default::default(),
        verified: Verified::new(),
        applied: Notify::new(),
        bounds: Mutex::new(Vec::new()),
    });
    let writer = Writer {
        shared: shared.clone(),
        inbox,
        requests,
        known: KnownBytes::default(),
        fault_at: None,
    };
    (writer, Store::of(shared))
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

impl<T> Prepared<T> {
    /// A write this process made: `json` diffed from `base`, kept as a written payload
    /// ([`Json::written`]).
    fn written(
        value: T,
        base: &Value,
        json: Value,
        stored: Option<Vec<u8>>,
        compressed: bool,
        size: usize,
    ) -> Prepared<T> {
        let changes = diff::diff(base, &json);
        let tree = Arc::new(json);
        Prepared {
            value,
            json: Arc::new(Json::written(tree.clone(), stored)),
            tree: Some(tree),
            changes,
            compressed,
            size,
        }
    }
}

/// What preparing a fetched payload returns: its bytes back (see [`KnownBytes`]) and the result.
type PreparedFetch<T> = (Vec<u8>, Result<Prepared<T>, DecodeError>);

impl<T> Writer<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    /// A reader of this copy.
    pub(crate) fn store(&self) -> Store<T> {
        Store::of(self.shared.clone())
    }

    /// The capability to send this writer requests: for the code that writes or refreshes the
    /// copy, not for every reader.
    pub(crate) fn feed(&self) -> Feed<T> {
        Feed::new(self.store(), self.requests.clone())
    }

    /// The next request from the feeds. The writer holds a sender itself, so the inbox never
    /// closes: the owner stops on its cancellation, not here.
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
        if let Some(answer) = self.answer_if_held(stamp) {
            return answer;
        }
        let current = self.shared.local.load_full();
        let cost = Cost::of_fetched(&bytes);
        // Identical bytes, another write: only the stamp moves.
        let same = self.known.same(cost, &current.json, &bytes);
        let work = prepare_fetched(current.clone(), bytes, same, self.shared.limits);
        // A big copy held as text only may have to be parsed too (the change is not diffed as
        // text): off the workers as well.
        let (bytes, prepared) = cost
            .parsing(&current.json)
            .run(work)
            .await
            .unwrap_or_else(|| (Vec::new(), Err(copy::panicked())));
        let prepared = prepared.map_err(|reason| self.decode_fault(stamp, reason))?;
        self.known.remember(cost, &prepared.json, bytes);
        drop(current);
        self.publish(prepared, stamp, None, cost);
        self.clear_fault();
        crate::metrics::applied(&self.shared.dir, origin, stamp.mtime);
        Ok(Fetched::Applied(stamp))
    }

    /// The answer to a fetch of `stamp` when there is nothing to apply: the fault again for the
    /// write that did not decode, `Current` for the write the copy holds (which ends any fault)
    /// or an older one. `None` when `stamp` is newer than the copy.
    fn answer_if_held(&mut self, stamp: Stamp) -> Option<Result<Fetched, Error>> {
        if self.fault_at == Some(stamp.mzxid) {
            // The write that did not decode, again: still the fault (a stand-in opened over it
            // carries its stamp, and is not that write).
            if let Some(fault) = self.shared.fault.load_full() {
                return Some(Err(Error::clone(&fault)));
            }
        }
        let current = self.shared.local.load().stamp;
        if stamp.mzxid < current.mzxid {
            return Some(Ok(Fetched::Current(current)));
        }
        if stamp.mzxid == current.mzxid {
            // The payload is the write the copy holds: whatever fault was reported is over.
            self.clear_fault();
            return Some(Ok(Fetched::Current(current)));
        }
        None
    }

    /// Makes the payload written at `stamp`, which does not decode for `reason`, the fault.
    fn decode_fault(&mut self, stamp: Stamp, reason: DecodeError) -> Error {
        let fault = Error::Decode {
            path: self.shared.payload.clone(),
            version: stamp.version,
            reason,
        };
        self.set_decode_fault(fault.clone(), stamp.mzxid);
        fault
    }

    /// Applies a write acknowledged by ZooKeeper (when the copy does not hold a newer one), then
    /// answers it.
    pub(crate) async fn apply_acknowledged(&mut self, ack: Box<Acknowledged<T>>) {
        let done = self.apply_written(*ack).await;
        // The caller may have given up waiting: nothing to tell then.
        let _ = done.send(());
    }

    /// Diffs and publishes an acknowledged write newer than the copy; returns where to answer.
    async fn apply_written(&mut self, ack: Acknowledged<T>) -> oneshot::Sender<()> {
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
        } = ack;
        let cost = Cost::of_written(size, compressed);
        let current = self.shared.local.load_full();
        if stamp.mzxid <= current.stamp.mzxid {
            // A newer write came first; the update's tree may be the last reference to a large
            // one: freed off the workers when heavy.
            cost.discard(base_tree);
            return done;
        }
        // The tree the update parsed, if the copy still holds its version; else the copy's,
        // which may have to be parsed (off the workers when that is heavy).
        let same_base = base_mzxid == current.stamp.mzxid;
        let held = current.clone();
        let work = move || {
            let base = if same_base {
                base_tree
            } else {
                drop(base_tree);
                held.json.to_tree()
            };
            Prepared::written(value, &base, json, stored, compressed, size)
        };
        let work_cost = if same_base {
            cost
        } else {
            cost.parsing(&current.json)
        };
        let prepared = work_cost.run(work).await;
        drop(current);
        if let Some(prepared) = prepared {
            // The next fetch compares against what ZooKeeper holds now, not older bytes.
            self.known.forget();
            self.publish(prepared, stamp, Some(writer), cost);
            self.clear_fault();
            let local = crate::metrics::Applied::Local;
            crate::metrics::applied(&self.shared.dir, local, stamp.mtime);
        }
        done
    }

    /// Sends the batch, then swaps the copy, under the events lock (two pointer operations);
    /// the old value is dropped where `cost` says.
    fn publish(
        &mut self,
        prepared: Prepared<T>,
        stamp: Stamp,
        writer: Option<Arc<str>>,
        cost: Cost,
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
            let value = copy::for_batch(&json, tree);
            let at = (stamp.version, stamp.mzxid, stamp.mtime);
            let batch = ChangeBatch::new(at, changes, value, size, writer);
            StateEvent::Changed(Arc::new(batch))
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
        cost.discard(old);
        // A large copy reached by diffing texts has no tree: it is parsed (once) by whoever needs
        // it first: the next change that cannot be diffed as text (off the workers when big),
        // an update (`Store::parse_tree_off_workers`), `json()` or `ChangeBatch::value()`.
        // Parsing it here in the background would cost every change a parse that few use, and on
        // two cores that parse competes with the delivery of the next change.
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
        self.shared.verified.record(session);
        for bound in lock(&self.shared.bounds).iter().filter_map(Weak::upgrade) {
            bound.verified();
        }
        self.shared.verified.wake();
        crate::metrics::verified(&self.shared.dir);
    }

    /// Ends every change stream.
    pub(crate) fn close(&mut self) {
        let mut events = lock(&self.shared.events);
        events.close();
        self.inbox.close();
    }
}

/// The work of a fetched payload, to run where its cost says: `T` made again over the copy's
/// JSON when the bytes are the same (only the stamp moves, the JSON is shared), else decode and
/// diff against the copy.
fn prepare_fetched<T>(
    base: Arc<Snapshot<T>>,
    bytes: Vec<u8>,
    same: bool,
    limits: Limits,
) -> impl FnOnce() -> PreparedFetch<T> + Send + 'static
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let compressed = codec::is_compressed(&bytes);
    let size = bytes.len();
    move || {
        let prepared = if same {
            base.json.decode::<T>(None).map(|value| Prepared {
                value,
                json: base.json.clone(),
                tree: None,
                changes: Vec::new(),
                compressed,
                size,
            })
        } else {
            let decoded = codec::decode_and_diff::<T>(&base.json, &bytes, limits);
            decoded.map(|decoded| Prepared {
                value: decoded.value,
                json: Arc::new(decoded.json),
                tree: decoded.tree,
                changes: decoded.changes,
                compressed,
                size,
            })
        };
        (bytes, prepared)
    }
}
