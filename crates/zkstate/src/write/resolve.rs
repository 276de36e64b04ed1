//! The resolution of a write whose reply was lost, as a pure state machine (the protocol is in
//! [`super::marker`]). [`Resolution::step`] takes one input, the answer to the action before, and
//! returns the next action; the driver (`WriterState::resolve`) makes the requests and keeps the
//! deadline. Nothing here touches ZooKeeper or a clock.
//!
//! | phase | input | next phase | action |
//! |---|---|---|---|
//! | `Find` | `Deadline` | `Done` | `Finish(Unknown(Deadline))` |
//! | `Find` | `Closed` (no session left) | `Done` | `Finish(Unknown(Closed))` |
//! | `Find` | `NoSession` (none within the wait) | `Find` | `FindSession` |
//! | `Find` | `Session(s)`, `alive` known in `s` | `Read` | `Read` |
//! | `Find` | `Session(s)`, otherwise | `Announce` | `Announce` (say that we live first, so that the reaper leaves the marker alone) |
//! | `Announce` | `Announced(Created)`, `Announced(Exists { replaced: true })` | `Read` | `Read` (`alive` known in `s`) |
//! | `Announce` | `Announced(Exists { replaced: false })` | `Read` | `Read` |
//! | `Announce` | `Announced(NoNode)` | `Done` | `Finish(Unknown(Removed))` |
//! | `Announce` | `Announced(Failed(err))`, an error that a retry cannot get past | `Done` | `Finish(Unknown(Failed(Announce)))` |
//! | `Announce` | `Announced(Failed(_))`, otherwise; `Announced(TimedOut)` | `Find` | `FindSession { pause: true }` |
//! | `Read` | `Read(Marker { ours: true, version })` | `Done` | `Finish(Landed)` |
//! | `Read` | `Read(Marker { ours: false, version })`, `version ≠ expected` | `Done` | `Finish(NotApplied)` (another write of ours moved it: ours cannot land) |
//! | `Read` | `Read(Marker { ours: false, version: expected })` | `Fence` | `Fence` |
//! | `Read` | `Read(NoNode)` | `Done` | `Finish(Unknown(Removed))` |
//! | `Read` | `Read(Failed(err))`, an error that a retry cannot get past | `Done` | `Finish(Unknown(Failed(Read)))` |
//! | `Read` | `Read(Failed(_))`, otherwise | `Find` | `FindSession { pause: true }` |
//! | `Read` | `Read(TimedOut)` | `Find` | `FindSession { pause: false }` |
//! | `Fence` | `Fenced(Set { version })` | `Done` | `Finish(NotApplied)` (the write in flight can never land now) |
//! | `Fence` | `Fenced(BadVersion)` (ours landed meanwhile), `Fenced(Failed(_))` that a retry may get past, `Fenced(TimedOut)` | `Find` | `FindSession { pause: false }` (read again) |
//! | `Fence` | `Fenced(Failed(err))`, otherwise | `Done` | `Finish(Unknown(Failed(Fence)))` |
//! | `Done` | anything | `Done` | none |
//! | any other | an input that does not answer its action | unchanged | none |
//!
//! An error "a retry may get past" is of a kind [`ZkFailure::is_transient`] names; the driver
//! moves to the connection's next session when the write's own is over.

use crate::error::ZkFailure;

/// Where a resolution is: which request's answer it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A session to ask.
    Find,
    /// The create of `alive` in `session`.
    Announce {
        session: i64,
    },
    /// The sync and read of the marker.
    Read,
    /// The fence: the marker set at the expected version.
    Fence,
    Done,
}

/// How the create of `alive` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Announced {
    Created,
    /// An `alive` node existed (an earlier session of ours, not yet expired on the server);
    /// `replaced`: it is this session's now.
    Exists {
        replaced: bool,
    },
    /// The marker is gone.
    NoNode,
    Failed(zookeeper_client::Error),
    TimedOut,
}

/// How the read of the marker ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// The marker: whether it holds the lost write's token, and its version.
    Marker {
        ours: bool,
        version: i32,
    },
    NoNode,
    Failed(zookeeper_client::Error),
    TimedOut,
}

/// How the fence ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fenced {
    /// Set, at this new version.
    Set {
        version: i32,
    },
    /// The marker moved since the read.
    BadVersion,
    Failed(zookeeper_client::Error),
    TimedOut,
}

/// What the driver saw: the answer to the last action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The deadline passed before a session was found.
    Deadline,
    /// No session left: the write's own is over and the connection was closed.
    Closed,
    /// No session within the wait.
    NoSession,
    /// This session can be asked.
    Session(i64),
    Announced(Announced),
    Read(Read),
    Fenced(Fenced),
}

/// Which request failed in a way no retry gets past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Announce,
    Read,
    Fence,
}

/// Why the outcome cannot be established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unknown {
    Deadline,
    Closed,
    /// The marker was removed: what the writer knew of it must be forgotten.
    Removed,
    Failed(Request, zookeeper_client::Error),
}

/// How the resolution ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The write landed; the marker is at `marker_version`.
    Landed {
        marker_version: i32,
    },
    /// The write did not land and never will; the marker is at `marker_version`.
    NotApplied {
        marker_version: i32,
    },
    Unknown(Unknown),
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// The write's own session while it lives, else the connection's next one (after a pause
    /// when asked: a request just failed).
    FindSession {
        pause: bool,
    },
    /// Create `alive` in the session found (replacing one of an earlier session of ours).
    Announce,
    /// Sync, then read the marker.
    Read,
    /// Set the marker to a fence at the expected version.
    Fence,
    Finish(Outcome),
}

/// A resolution: its phase, the marker version the lost write expected, and the session whose
/// `alive` child is known to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolution {
    pub(crate) phase: Phase,
    pub(crate) expected: i32,
    pub(crate) alive_in: Option<i64>,
}

impl Resolution {
    /// A resolution of a write that expected marker version `expected`; its first action is
    /// `FindSession { pause: false }`.
    pub(crate) fn new(expected: i32, alive_in: Option<i64>) -> Resolution {
        Resolution {
            phase: Phase::Find,
            expected,
            alive_in,
        }
    }

    /// The next action for `input`; `None` when the input does not answer the action in
    /// flight (or the resolution is done). Pure.
    pub(crate) fn step(&mut self, input: Input) -> Option<Action> {
        let find = |pause| Some((Phase::Find, Action::FindSession { pause }));
        let finish = |outcome| Some((Phase::Done, Action::Finish(outcome)));
        let unknown = |why| finish(Outcome::Unknown(why));
        let (phase, action) = match (self.phase, input) {
            (Phase::Find, Input::Deadline) => unknown(Unknown::Deadline),
            (Phase::Find, Input::Closed) => unknown(Unknown::Closed),
            (Phase::Find, Input::NoSession) => find(false),
            (Phase::Find, Input::Session(s)) if self.alive_in == Some(s) => {
                Some((Phase::Read, Action::Read))
            }
            (Phase::Find, Input::Session(session)) => {
                Some((Phase::Announce { session }, Action::Announce))
            }
            (Phase::Announce { session }, Input::Announced(announced)) => match announced {
                Announced::Created | Announced::Exists { replaced: true } => {
                    self.alive_in = Some(session);
                    Some((Phase::Read, Action::Read))
                }
                Announced::Exists { replaced: false } => Some((Phase::Read, Action::Read)),
                Announced::NoNode => unknown(Unknown::Removed),
                Announced::Failed(err) if !ZkFailure::of(&err).is_transient() => {
                    unknown(Unknown::Failed(Request::Announce, err))
                }
                Announced::Failed(_) | Announced::TimedOut => find(true),
            },
            (Phase::Read, Input::Read(read)) => match read {
                Read::Marker {
                    ours: true,
                    version,
                } => finish(Outcome::Landed {
                    marker_version: version,
                }),
                Read::Marker { version, .. } if version != self.expected => {
                    finish(Outcome::NotApplied {
                        marker_version: version,
                    })
                }
                Read::Marker { .. } => Some((Phase::Fence, Action::Fence)),
                Read::NoNode => unknown(Unknown::Removed),
                Read::Failed(err) if !ZkFailure::of(&err).is_transient() => {
                    unknown(Unknown::Failed(Request::Read, err))
                }
                Read::Failed(_) => find(true),
                Read::TimedOut => find(false),
            },
            (Phase::Fence, Input::Fenced(fenced)) => match fenced {
                Fenced::Set { version } => finish(Outcome::NotApplied {
                    marker_version: version,
                }),
                Fenced::Failed(err) if !ZkFailure::of(&err).is_transient() => {
                    unknown(Unknown::Failed(Request::Fence, err))
                }
                Fenced::BadVersion | Fenced::Failed(_) | Fenced::TimedOut => find(false),
            },
            _ => None,
        }?;
        self.phase = phase;
        Some(action)
    }
}

#[cfg(test)]
mod tests;
