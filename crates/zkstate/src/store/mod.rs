//! The local copy of one state: exactly one [`Writer`], any number of cheap [`Store`] readers,
//! and a [`Feed`] for the code that asks the writer for something.
//!
//! This module is a leaf: it knows the value, its stamp (version, mzxid, czxid), how payload
//! bytes decode ([`codec`]), how a new value becomes change events ([`crate::diff`]), and the
//! change channel. It knows nothing of ZooKeeper sessions, watches or locks.
//!
//! * [`new`] returns the one [`Writer`] (not `Clone`) and a [`Store`]. Only the writer replaces the
//!   local copy, raises or clears a payload fault and marks the copy verified. The sync task owns
//!   it.
//! * Everyone else holds a [`Store`]: [`Store::load`] and [`Store::read`] never wait (one flag and
//!   one pointer load). A reader cannot ask the writer for anything.
//! * A [`Feed`], made by the writer's owner ([`Writer::feed`]), sends the writer requests: a
//!   refresh, a payload read under the lock, a local write announced and then handed over with
//!   [`InFlight::acknowledge`], which waits until the writer has applied it, so that a caller
//!   reads its own write. Only the write path and the current read get one.
//! * A snapshot holds `T` and the payload's JSON ([`Json`]): its text (a small plain payload, or
//!   canonical text, which the next change is diffed against as text), its tree, or both.
//! * Decode and diff run with no lock held; what costs milliseconds (a large payload, a zstd
//!   frame, a large text to parse) runs on tokio's blocking pool, and the old value is dropped
//!   there too (`copy`). The one lock, around "send the batch, swap the copy" (two pointer
//!   operations), makes a lagging subscriber's snapshot and its new subscription atomic.
//!
//! Files, each importing only those above it: `json` (what the copy keeps of the JSON), `codec`
//! (bytes to value and JSON), `copy` (what the copy's work costs and where it runs), `snapshot`
//! ([`Stamp`], [`Snapshot`], [`StateRef`]), `bound` (staleness: [`Bound`]), `changes` (the
//! change stream), `shared` (what the writer and readers share), `reader` ([`Store`]), `inbox`
//! ([`Request`], [`Feed`], [`InFlight`]), `writer` ([`Writer`]).

mod bound;
pub(crate) mod changes;
pub(crate) mod codec;
mod copy;
mod inbox;
pub(crate) mod json;
mod reader;
mod shared;
mod snapshot;
mod writer;

pub(crate) use self::bound::Bound;
pub(crate) use self::copy::decode_fetched;
pub(crate) use self::inbox::{Feed, Fetched, InFlight, Offered, Request};
pub(crate) use self::json::Json;
pub(crate) use self::reader::Store;
pub use self::snapshot::StateRef;
pub(crate) use self::snapshot::{Snapshot, Stamp, VersionTree};
pub(crate) use self::writer::{new, Names, Writer};

#[cfg(test)]
mod tests;
