//! A state's history: every version kept for a while, who wrote it, and how to get it back.
//!
//! Every write zkstate makes records the new version in `<dir>/history` in the same ZooKeeper
//! transaction as the payload (see [`crate::layout`] for the nodes and their format), so that a
//! version is in the history if and only if it was committed; a write whose reply was lost and
//! was resolved through its marker left exactly one entry, as its transaction did.
//!
//! * **What an entry holds.** The version, the server's time of the commit, its author
//!   ([`Author`]: instance, host, pid, program, tool, authenticated identity), the writer's
//!   message, the version a rollback restored, a summary of the change ([`ChangeCount`]), and an
//!   RFC 6902 patch that turns this version's value back into the previous one's (the "undo").
//!   The newest kept version's value is the payload itself: any kept version is the payload with
//!   the newer entries' undo patches applied, newest first, as the JSON it was. An entry for a
//!   one-record change of a 900 KB state is the size of that record's change, not of the state.
//! * **Other tools.** A version written by kazoo, zkCli.sh or a raw client is recorded by the
//!   next zkstate write, which read it as its base under the lock, as `outside` (no author; its
//!   time is its payload's `mtime`); versions overwritten before any zkstate writer saw them are
//!   a [`HistoryItem::Gap`]. ZooKeeper keeps no old values, so the value of a version written
//!   *before* an outside write cannot be reproduced once that write replaced it: those entries
//!   stay for their metadata, with `reproducible: false`. The same holds before an entry whose
//!   undo patch did not fit in its commit's request (a change of most of a payload near the
//!   1 MB limit).
//! * **Retention.** Each writer trims the history to its
//!   [`StateOptions::with_history`](crate::StateOptions::with_history) limits (default 100
//!   versions and 8 MiB of entries) in the same transaction, oldest first, at most
//!   [`MAX_TRIMMED_PER_WRITE`] entries per write; entries of an earlier incarnation of the
//!   payload (deleted and re-created) are removed by the next write. `zkstate rm` removes the
//!   history with the state.
//!
//! Read it with [`crate::read_history`] and [`crate::value_at`] (no open state needed), or
//! [`ZkState::history`](crate::ZkState::history); undo with
//! [`ZkState::rollback_to`](crate::ZkState::rollback_to).

pub(crate) mod cache;
pub(crate) mod chain;
pub(crate) mod entry;
pub(crate) mod plan;

pub use self::entry::{Author, ChangeCount, SUMMARY_PATHS, SUMMARY_PATH_BYTES};
pub use crate::options::{Tool, DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_VERSIONS};

/// How many old entries one write removes at most.
pub const MAX_TRIMMED_PER_WRITE: usize = plan::MAX_DELETES;

/// The most entries one read of a history fetches.
pub const MAX_READ: usize = 1000;

/// One kept version.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The payload version.
    pub version: i32,
    /// When it was committed, by the server's clock, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Who wrote it (every field `None` for a version written by another tool).
    pub author: Author,
    /// The writer's message.
    pub message: Option<String>,
    /// The version this write restored, when it was a rollback.
    pub rollback_of: Option<i32>,
    /// Written by another tool, recorded by the next zkstate write.
    pub outside: bool,
    /// What it changed from the version before it (`None` for an outside version).
    pub changes: Option<ChangeCount>,
    /// Whether its value can be reproduced now (see the module documentation).
    pub reproducible: bool,
    /// The entry node's size in bytes.
    pub bytes: usize,
}

/// An item of a state's history, newest first.
// A history is at most `MAX_READ` items, read once: not worth a box per entry.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryItem {
    /// A kept version.
    Version(HistoryEntry),
    /// Versions `from..=to` were written by another tool and overwritten before any zkstate
    /// writer saw them: nothing is known of them.
    Gap {
        /// The first unknown version.
        from: i32,
        /// The last.
        to: i32,
    },
}
