//! Where the copy's work runs. A payload's decode, its diff against the copy and the drop of the
//! value it replaces stay on the async workers when they take microseconds, and go to tokio's
//! blocking pool when they may take milliseconds: a payload of [`BIG`] bytes or more, a zstd
//! frame of any size, or a large text whose tree has to be parsed first. What the copy keeps of
//! the JSON (its text, its tree, or both) is [`Json`]'s part; this file holds the rest of what a
//! copy decides by size, so that the writer, the reader and the write path ask by name.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::codec::{self, DecodeError};
use super::json::Json;
use crate::options::Limits;

/// Payloads of this many bytes or more are decoded and diffed off the async workers, and an
/// update that waited for the lock does not read them with its last listing.
pub(super) const BIG: usize = 64 * 1024;

/// What a piece of the copy's work costs, and so where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cost {
    /// Microseconds: inline, on the async worker.
    Light,
    /// It may hold a worker for milliseconds: on the blocking pool.
    Heavy,
}

impl Cost {
    fn heavy_if(heavy: bool) -> Cost {
        if heavy {
            Cost::Heavy
        } else {
            Cost::Light
        }
    }

    /// Decoding and diffing a payload read from ZooKeeper: heavy when it is large, or a zstd
    /// frame of any size (a small frame may expand up to the decompression cap).
    pub(super) fn of_fetched(bytes: &[u8]) -> Cost {
        Cost::heavy_if(bytes.len() >= BIG || codec::is_compressed(bytes))
    }

    /// Diffing a write this process made: its JSON is decoded already, but a large one, or a
    /// compressed one (which may be large), is heavy all the same.
    pub(super) fn of_written(size: usize, compressed: bool) -> Cost {
        Cost::heavy_if(size >= BIG || compressed)
    }

    /// This cost, or heavy when the work also parses the tree of `copy`, and that tree is a
    /// [`BIG`] text not parsed yet (a copy reached by diffing texts, whose tree nobody asked for).
    pub(super) fn parsing(self, copy: &Json) -> Cost {
        let parses_big = copy.lacks_large_tree() && copy.text().is_some_and(|t| t.len() >= BIG);
        Cost::heavy_if(self == Cost::Heavy || parses_big)
    }

    /// Runs `work` on the blocking pool when heavy, inline otherwise; `None` when it panicked on
    /// the blocking pool (a bug in `T`'s `Deserialize`, say), which must not end the sync task.
    pub(super) async fn run<R, F>(self, work: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        match self {
            Cost::Heavy => tokio::task::spawn_blocking(work).await.ok(),
            Cost::Light => Some(work()),
        }
    }

    /// Drops `value` on the blocking pool when heavy (freeing a large tree takes milliseconds),
    /// here otherwise. A reader still holding it frees it on its own thread when done.
    pub(super) fn discard<X: Send + 'static>(self, value: X) {
        match self {
            Cost::Heavy => {
                tokio::task::spawn_blocking(move || drop(value));
            }
            Cost::Light => drop(value),
        }
    }
}

/// What a decoder that panicked on the blocking pool reports instead of a value.
pub(super) fn panicked() -> DecodeError {
    DecodeError::Json("the payload's decoder panicked".into())
}

/// Decodes a payload read from ZooKeeper into `T` and the JSON a copy keeps of it
/// ([`Json::fetched`]), off the workers when it is heavy: what the copy keeps is made there too,
/// since it copies a large text.
///
/// # Errors
/// Why the payload does not decode, or that the decoder panicked.
pub(crate) async fn decode_fetched<T>(
    bytes: Vec<u8>,
    limits: Limits,
) -> Result<(T, Json), DecodeError>
where
    T: DeserializeOwned + Send + 'static,
{
    Cost::of_fetched(&bytes)
        .run(move || {
            codec::decode::<T>(&bytes, limits).map(|(value, json, canonical)| {
                (value, Json::fetched(Arc::new(json), &bytes, canonical))
            })
        })
        .await
        .unwrap_or_else(|| Err(panicked()))
}

/// Whether an update that waited for the lock reads the payload together with the lock's last
/// listing: reading it costs its size on every wait, so only a payload under [`BIG`] is read.
pub(super) fn fetch_with_lock(size: usize) -> bool {
    size < BIG
}

/// Parses the tree of `json` on the blocking pool when it is a large text not parsed yet (a copy
/// reached by diffing texts): an update merges into it, and a worker must not spend milliseconds
/// on it.
pub(super) async fn parse_tree_off_workers(json: Arc<Json>) {
    if json.lacks_large_tree() {
        let _ = tokio::task::spawn_blocking(move || drop(json.to_tree())).await;
    }
}

/// The JSON a change batch carries of the new payload (`json` as the copy keeps it, `tree` when
/// it was parsed): the new tree when it was parsed (a small payload's copy keeps only its text);
/// else the text, parsed if a subscriber asks for the value.
pub(super) fn for_batch(json: &Arc<Json>, tree: Option<Arc<serde_json::Value>>) -> Arc<Json> {
    match tree {
        Some(tree) => Arc::new(Json::of_tree(tree)),
        // A large text's tree, once a subscriber parsed it, serves the copy too.
        None if json.lacks_large_tree() => json.clone(),
        // A small text's stays with the batch: the copy stays small.
        None => Arc::new(json.detached()),
    }
}

/// The bytes of the copy's payload when they are heavy and the copy does not keep them as its
/// text: identical bytes of a later write skip decode and diff.
#[derive(Default)]
pub(super) struct KnownBytes(Option<Vec<u8>>);

impl KnownBytes {
    /// Whether `bytes`, of cost `cost`, are those of the payload `copy` holds. Only heavy bytes
    /// are compared: a light payload is cheap to decode again.
    pub(super) fn same(&self, cost: Cost, copy: &Json, bytes: &[u8]) -> bool {
        cost == Cost::Heavy && (copy.text() == Some(bytes) || self.0.as_deref() == Some(bytes))
    }

    /// Remembers the bytes of the payload the copy now holds as `json`, when they are heavy and
    /// the copy does not keep them itself.
    pub(super) fn remember(&mut self, cost: Cost, json: &Json, bytes: Vec<u8>) {
        self.0 = (cost == Cost::Heavy && json.text().is_none()).then_some(bytes);
    }

    /// Forgets them: the copy moved to a write whose bytes were not fetched.
    pub(super) fn forget(&mut self) {
        self.0 = None;
    }
}
