//! The decisions of an update, as pure functions: the version to write at, and what a failed
//! lock or commit means. No I/O and no clock; the driver (`super::update`) makes the requests
//! and feeds their outcomes here. Every row of each table is a unit test (`decide/tests.rs`).

use zookeeper_client::CheckWriteError;

use crate::error::{Error, ZkFailure};

/// Which base an update starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    /// The local copy; another write in ZooKeeper is a `StaleWrite`.
    Local,
    /// What ZooKeeper holds under the lock; only writers that bypass the lock make it retry.
    Latest,
    /// Exactly this payload version (compare-and-set); any other is a `StaleWrite`.
    Exact(i32),
}

/// A payload write as the update knows it: its version and its incarnation (`czxid`; 0 when
/// unknown, for a payload read back that does not decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) version: i32,
    pub(crate) czxid: i64,
}

/// What the base choice looks at, under the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// What ZooKeeper held: the lock's stat, or the last refresh under this lock.
    pub(crate) held: Held,
    /// What the local copy holds.
    pub(crate) local: Held,
    /// The version of ZooKeeper's payload when it does not decode (the copy's fault names it).
    pub(crate) bad: Option<i32>,
    /// `held` comes from a refresh under this lock: the copy was just brought up to date.
    pub(crate) fresh: bool,
}

/// The base choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Run the closure on the local copy and write at this payload version.
    Write(i32),
    /// Read the payload again through the store's writer, then choose again.
    Refresh,
    /// Write nothing: ZooKeeper holds another write than the caller's base
    /// ([`Error::StaleWrite`] expecting `expected`). `refresh`: bring the copy up to date first,
    /// so that a retry works (it was not just refreshed).
    Stale { expected: i32, refresh: bool },
}

/// The version to write at. "Same" means `held == local` (version and incarnation); a payload
/// that does not decode is written over from the last good value, at its version, by the
/// bases that do not compare against the copy's version.
///
/// | base | `held` against `local` | ZooKeeper's payload | choice |
/// |---|---|---|---|
/// | `Local`, `Latest` | same | | `Write(local.version)` |
/// | `Latest` | differ | does not decode, at `held.version` | `Write(held.version)` |
/// | `Latest` | differ | otherwise | `Refresh` |
/// | `Local` | differ | | `Stale { expected: local.version }` |
/// | `Exact(v)` | `held.version ≠ v` | | `Stale { expected: v }` |
/// | `Exact(v)` | same | | `Write(v)` |
/// | `Exact(v)` | differ, `held.version = v` | does not decode, at `v` | `Write(v)` |
/// | `Exact(v)` | differ, `held.version = v` | otherwise | `Refresh` (our copy is of another incarnation or not yet of `v`) |
///
/// Every `Stale` refreshes the copy first unless `seen.fresh`.
pub(crate) fn choose_base(base: Base, seen: Seen) -> Choice {
    let Seen {
        held,
        local,
        bad,
        fresh,
    } = seen;
    let stale = |expected| Choice::Stale {
        expected,
        refresh: !fresh,
    };
    match base {
        Base::Local | Base::Latest if held == local => Choice::Write(local.version),
        Base::Latest if bad == Some(held.version) => Choice::Write(held.version),
        Base::Latest => Choice::Refresh,
        Base::Local => stale(local.version),
        Base::Exact(v) if held.version != v => stale(v),
        Base::Exact(v) if held == local || bad == Some(v) => Choice::Write(v),
        Base::Exact(_) => Choice::Refresh,
    }
}

/// After a commit that a writer bypassing the lock beat (the payload's version check failed),
/// and a refresh: the version a `StaleWrite` names as expected, or `None` to choose again.
///
/// | base | outcome |
/// |---|---|
/// | `Latest` | `None`: choose again from the refreshed copy, still under the lock |
/// | `Exact(v)` | `Some(v)` |
/// | `Local` | `Some(written_at)` (the local copy's version the commit was made at) |
pub(crate) fn after_bypass(base: Base, written_at: i32) -> Option<i32> {
    match base {
        Base::Latest => None,
        Base::Exact(v) => Some(v),
        Base::Local => Some(written_at),
    }
}

/// What a failure to take the lock means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockFailed {
    /// Nothing was written: start a new attempt (with the connection's next session).
    StartOver,
    /// Return the error.
    Fail,
}

/// | error | outcome |
/// |---|---|
/// | `SessionExpired` (our session, and our node with it) | `StartOver` |
/// | `RuntimeInconsistent` (the client's word for our node vanished while waiting: the lock directory was removed) | `StartOver` |
/// | anything else (the lock timeout, a planted node, permissions, a busy server, a dropped link past the request timeout, …) | `Fail` |
pub(crate) fn after_lock_failure(err: &Error) -> LockFailed {
    use zookeeper_client::Error::{RuntimeInconsistent, SessionExpired};
    match err {
        Error::ZooKeeper {
            source: SessionExpired | RuntimeInconsistent,
            ..
        } => LockFailed::StartOver,
        _ => LockFailed::Fail,
    }
}

/// The operations of the commit, in the order the multi carries them after the lock check.
pub(crate) const PAYLOAD_OP: usize = 0;
/// The commit marker's set.
pub(crate) const MARKER_OP: usize = 1;
/// The history's operations follow the lock's delete.
pub(crate) const FIRST_HISTORY_OP: usize = 3;

/// What a commit that did not succeed means. Except `Lost`, the server answered for the whole
/// multi, so none of it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterCommit {
    /// The lock node is gone (our session expired, or someone removed it): start over.
    LockLost,
    /// A writer that bypasses the lock wrote the payload since the lock's stat: refresh, then
    /// [`after_bypass`].
    Bypassed,
    /// Our commit marker changed or vanished (a reaper, an operator): learn it again and start
    /// over.
    MarkerMoved,
    /// The history changed since the lock's listing (another tool created or removed an entry):
    /// start over, which lists it again.
    HistoryMoved,
    /// The server refused the request (permissions, a bad argument, …): fail with its error.
    Refused,
    /// No answer, or the link dropped: the write may have landed; resolve it through the marker.
    Lost,
}

/// How the commit failed: `None` when no answer came within the request timeout.
///
/// | failure | outcome |
/// |---|---|
/// | `CheckFailed` (the lock node) | `LockLost` |
/// | `OperationFailed` at the payload, `BadVersion` | `Bypassed` |
/// | `OperationFailed` at the marker, any error | `MarkerMoved` |
/// | `OperationFailed` at a history operation, `NodeExists` or `NoNode` | `HistoryMoved` |
/// | `OperationFailed`, anything else | `Refused` |
/// | `RequestFailed`, an error of kind `Refused` | `Refused` |
/// | `RequestFailed`, any other error (link down, session over, a busy server, unknown) | `Lost`: the marker tells, whatever the error claims |
/// | no answer in time | `Lost` |
pub(crate) fn after_commit(failure: Option<&CheckWriteError>) -> AfterCommit {
    match failure {
        Some(CheckWriteError::CheckFailed { .. }) => AfterCommit::LockLost,
        Some(CheckWriteError::OperationFailed {
            index: PAYLOAD_OP,
            source: zookeeper_client::Error::BadVersion,
        }) => AfterCommit::Bypassed,
        Some(CheckWriteError::OperationFailed {
            index: MARKER_OP, ..
        }) => AfterCommit::MarkerMoved,
        Some(CheckWriteError::OperationFailed {
            index,
            source: zookeeper_client::Error::NodeExists | zookeeper_client::Error::NoNode,
        }) if *index >= FIRST_HISTORY_OP => AfterCommit::HistoryMoved,
        Some(CheckWriteError::OperationFailed { .. }) => AfterCommit::Refused,
        Some(CheckWriteError::RequestFailed { source }) => match ZkFailure::of(source) {
            ZkFailure::Refused => AfterCommit::Refused,
            _ => AfterCommit::Lost,
        },
        None => AfterCommit::Lost,
    }
}

#[cfg(test)]
mod tests;
