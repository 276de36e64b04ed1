//! One version of the local copy ([`Snapshot`]), the write it holds ([`Stamp`]), and a reader's
//! handle on it ([`StateRef`]).

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::Guard;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::codec::DecodeError;
use super::copy;
use super::json::Json;

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

/// A version's JSON tree, with the version's mzxid.
pub(crate) type VersionTree = (i64, Arc<Value>);

/// A read of the local copy: derefs to `T`. Holding it does not block syncing, but it pins this
/// version in memory: drop it soon.
pub struct StateRef<T> {
    guard: Guard<Arc<Snapshot<T>>>,
}

impl<T> StateRef<T> {
    pub(super) fn new(guard: Guard<Arc<Snapshot<T>>>) -> StateRef<T> {
        StateRef { guard }
    }

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

    /// Whether an update that waits for the lock should read this payload together with the
    /// lock's last listing: only a small one (the read costs its size on every wait).
    pub(crate) fn fetch_with_lock(&self) -> bool {
        copy::fetch_with_lock(self.guard.size)
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
