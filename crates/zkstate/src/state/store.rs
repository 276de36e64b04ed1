//! The local copy: one writer (whoever holds the apply lock), many readers that never wait.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{broadcast, Notify};

use super::changes::{ChangeBatch, Origin, SnapshotSource, StateEvent};
use super::layout::Layout;
use super::options::StateOptions;
use crate::diff;
use crate::error::Error;

/// Identifies one write of the payload: `mzxid` orders writes even across deletion and
/// re-creation, where `version` restarts at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) version: i32,
    pub(crate) mzxid: i64,
    pub(crate) mtime: i64,
}

impl Stamp {
    pub(crate) fn of(stat: &zookeeper_client::Stat) -> Stamp {
        Stamp {
            version: stat.version,
            mzxid: stat.mzxid,
            mtime: stat.mtime,
        }
    }
}

/// One immutable version of the local copy.
#[derive(Debug)]
pub(crate) struct Snapshot<T> {
    pub(crate) value: T,
    pub(crate) json: Arc<Value>,
    pub(crate) stamp: Stamp,
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

    /// The value as JSON, exactly as it is diffed.
    pub fn json(&self) -> &Value {
        &self.guard.json
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

/// Decodes a payload; `Err` carries serde_json's message with line and column.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Value), String> {
    let json: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let value = T::deserialize(&json).map_err(|e| e.to_string())?;
    Ok((value, json))
}

/// Everything a state's tasks and handles share.
pub(crate) struct Store<T> {
    pub(crate) layout: Layout,
    pub(crate) id: String,
    pub(crate) options: StateOptions,
    local: ArcSwap<Snapshot<T>>,
    /// The one-writer lock, and the change channel (`None` once closed).
    emit: Mutex<Option<broadcast::Sender<StateEvent>>>,
    /// Raised by the staleness watchdog, lowered on every verification: `read()` reads only this.
    stale: AtomicBool,
    /// Nanoseconds since `epoch` of the last verification.
    verified_at: AtomicU64,
    epoch: Instant,
    pub(crate) verified: Notify,
    /// What is wrong with the payload in ZooKeeper now, if anything.
    fault: ArcSwapOption<Error>,
    /// Mirrors `fault.is_some()`, so that the read path loads a flag, not a pointer.
    faulty: AtomicBool,
    /// Writes by this instance whose watch event has not been seen yet: the sync task answers
    /// those events with a stat rather than a download.
    own_echoes: AtomicU32,
}

impl<T: Send + Sync + 'static> Store<T> {
    pub(crate) fn new(
        layout: Layout,
        id: String,
        options: StateOptions,
        first: Snapshot<T>,
    ) -> Store<T> {
        let (events, _) = broadcast::channel(options.event_buffer);
        Store {
            layout,
            id,
            options,
            local: ArcSwap::from_pointee(first),
            emit: Mutex::new(Some(events)),
            stale: AtomicBool::new(false),
            verified_at: AtomicU64::new(0),
            epoch: Instant::now(),
            verified: Notify::new(),
            fault: ArcSwapOption::empty(),
            faulty: AtomicBool::new(false),
            own_echoes: AtomicU32::new(0),
        }
    }

    pub(crate) fn load(&self) -> StateRef<T> {
        StateRef {
            guard: self.local.load(),
        }
    }

    pub(crate) fn stamp(&self) -> Stamp {
        self.local.load().stamp
    }

    /// The bounded-stale read: one flag load, one pointer load, no clock.
    pub(crate) fn read(&self) -> Result<StateRef<T>, Error> {
        if self.stale.load(Ordering::Acquire) {
            return Err(Error::Stale {
                dir: self.layout.dir.clone(),
                max_staleness: self.options.max_staleness,
            });
        }
        if self.faulty.load(Ordering::Acquire) {
            if let Some(fault) = self.fault.load().as_ref() {
                return Err(Error::clone(fault));
            }
        }
        Ok(self.load())
    }

    /// A poisoned lock only means a panic elsewhere while holding it; what it guards (a sender)
    /// cannot be left inconsistent.
    fn emitter(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<StateEvent>>> {
        self.emit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn subscribe_raw(&self) -> broadcast::Receiver<StateEvent> {
        match self.emitter().as_ref() {
            Some(sender) => sender.subscribe(),
            // Closed: a receiver whose stream ends at once.
            None => broadcast::channel(1).1,
        }
    }

    /// Ends every change stream.
    pub(crate) fn close_events(&self) {
        self.emitter().take();
    }

    /// Replaces the local copy if `stamp` is newer, emitting the diff first (as the seed says:
    /// changes are emitted before the local copy is replaced). Returns whether it was newer.
    pub(crate) fn apply(&self, value: T, json: Value, stamp: Stamp, origin: Origin) -> bool {
        let emitter = self.emitter();
        let current = self.local.load();
        if stamp.mzxid <= current.stamp.mzxid {
            return false;
        }
        let changes = diff::diff(&current.json, &json);
        let json = Arc::new(json);
        if !changes.is_empty() {
            let batch = ChangeBatch {
                version: stamp.version,
                mzxid: stamp.mzxid,
                changes,
                value: json.clone(),
                origin,
            };
            if let Some(sender) = emitter.as_ref() {
                // No subscriber is fine.
                let _ = sender.send(StateEvent::Changed(Arc::new(batch)));
            }
        }
        self.local.store(Arc::new(Snapshot { value, json, stamp }));
        drop(current);
        drop(emitter);
        self.clear_fault();
        true
    }

    /// Counts a write of this instance, whose watch event will come back.
    pub(crate) fn note_own_write(&self) {
        self.own_echoes.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes one expected echo, if any. A wrong guess costs a stat, never correctness: the
    /// sync task compares `mzxid` either way.
    pub(crate) fn take_own_echo(&self) -> bool {
        self.own_echoes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Records that the local copy equals ZooKeeper's as of now.
    pub(crate) fn mark_verified(&self) {
        let nanos = self.epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        // SeqCst with `mark_stale_since`: whichever runs second leaves the flag right.
        self.verified_at.store(nanos, Ordering::SeqCst);
        self.stale.store(false, Ordering::SeqCst);
        self.verified.notify_one();
    }

    pub(crate) fn verified_at(&self) -> Instant {
        self.epoch + std::time::Duration::from_nanos(self.verified_at.load(Ordering::SeqCst))
    }

    /// Raises the stale flag unless a verification happened after `verified`: a verification
    /// racing with the watchdog must not leave the flag up.
    pub(crate) fn mark_stale_since(&self, verified: Instant) {
        if self.stale.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.verified_at() != verified {
            self.stale.store(false, Ordering::SeqCst);
        } else {
            tracing::warn!(dir = %self.layout.dir, max_staleness = ?self.options.max_staleness, "local copy is stale");
        }
    }

    /// After close: nothing verifies the copy any more.
    pub(crate) fn mark_closed(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Reports a bad payload: `read()` returns it and subscribers get it, once per distinct fault.
    pub(crate) fn set_fault(&self, fault: Error) {
        let previous = self.fault.swap(Some(Arc::new(fault.clone())));
        self.faulty.store(true, Ordering::Release);
        if previous.as_deref() != Some(&fault) {
            tracing::warn!(dir = %self.layout.dir, error = %fault, "payload fault");
            if let Some(sender) = self.emitter().as_ref() {
                let _ = sender.send(StateEvent::Error(fault));
            }
        }
    }

    pub(crate) fn clear_fault(&self) {
        self.faulty.store(false, Ordering::Release);
        if self.fault.swap(None).is_some() {
            tracing::info!(dir = %self.layout.dir, "payload recovered");
        }
    }

    pub(crate) fn fault(&self) -> Option<Error> {
        self.fault.load().as_deref().cloned()
    }
}

impl<T: Send + Sync + 'static> SnapshotSource for Store<T> {
    fn snapshot_and_subscribe(&self) -> (i32, Value, broadcast::Receiver<StateEvent>) {
        // Under the emit lock, so that no batch falls between the snapshot and the subscription.
        let emitter = self.emitter();
        let current = self.local.load();
        let receiver = match emitter.as_ref() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        };
        (current.stamp.version, Value::clone(&current.json), receiver)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::state::changes::StateEvent;

    fn store(first: Value) -> Store<Value> {
        let stamp = Stamp {
            version: 0,
            mzxid: 1,
            mtime: 0,
        };
        Store::new(
            Layout::new("/p"),
            "id".into(),
            StateOptions::default(),
            Snapshot {
                value: first.clone(),
                json: Arc::new(first),
                stamp,
            },
        )
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(json!(null)),
            any::<bool>().prop_map(Value::from),
            (0i64..5).prop_map(Value::from)
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[ab]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Writes seen in any order, some twice (a watch and a periodic check may both fetch the
        /// same write): the stream carries strictly increasing versions, and replaying it on the
        /// first value gives exactly the final local copy.
        #[test]
        fn applied_batches_replay_to_the_local_copy_in_version_order(
            values in prop::collection::vec(value_strategy(), 1..12),
            order in prop::collection::vec(any::<prop::sample::Index>(), 1..30),
        ) {
            let first = json!({"start": true});
            let store = store(first.clone());
            let mut rx = store.subscribe_raw();
            for pick in order {
                let i = pick.index(values.len());
                let stamp = Stamp { version: i as i32 + 1, mzxid: i as i64 + 2, mtime: 0 };
                store.apply(values[i].clone(), values[i].clone(), stamp, Origin::Remote);
            }
            let mut replayed = first;
            let mut last_version = 0;
            while let Ok(StateEvent::Changed(batch)) = rx.try_recv() {
                prop_assert!(batch.version > last_version, "versions must increase");
                last_version = batch.version;
                prop_assert!(!batch.changes.is_empty());
                diff::apply(&mut replayed, &batch.changes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let local = store.load();
            prop_assert_eq!(&replayed, local.json());
        }
    }

    #[test]
    fn read_reports_stale_then_fault_and_d_read_keeps_the_last_good_value() {
        let store = store(json!([1]));
        assert!(store.read().is_ok());
        store.mark_stale_since(store.verified_at());
        assert!(matches!(store.read(), Err(Error::Stale { .. })));
        store.mark_verified();
        store.set_fault(Error::Missing {
            path: "/p/payload".into(),
        });
        assert!(matches!(store.read(), Err(Error::Missing { .. })));
        assert_eq!(store.load().json(), &json!([1]));
        store.apply(
            json!([2]),
            json!([2]),
            Stamp {
                version: 1,
                mzxid: 5,
                mtime: 0,
            },
            Origin::Remote,
        );
        assert_eq!(*store.read().expect("recovered"), json!([2]));
    }
}

#[cfg(test)]
mod decode_properties {
    use proptest::prelude::*;

    use super::decode;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Config {
        name: String,
        replicas: u32,
    }

    proptest! {
        /// Arbitrary bytes from an external actor decode or fail with a message; never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Config>(&bytes);
            let _ = decode::<serde_json::Value>(&bytes);
        }

        /// JSON-looking text (brackets, quotes, numbers, keys) is the interesting part of the space.
        #[test]
        fn json_like_text_never_panics(text in r#"[\[\]{}",:0-9eE.+\-a-z ]{0,256}"#) {
            let _ = decode::<Config>(text.as_bytes());
            let _ = decode::<Vec<u64>>(text.as_bytes());
        }
    }
}
