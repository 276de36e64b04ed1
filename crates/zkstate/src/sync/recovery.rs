//! Recovery: how the sync task keeps the local copy equal to ZooKeeper's, as a pure state
//! machine. [`Recovery::step`] takes the state and one input and returns the next state and the
//! actions to take; the task (`super::Task`) runs the actions and turns what happens into
//! inputs. Nothing here touches ZooKeeper or a clock, so every row is unit-tested.
//!
//! # Recovery
//!
//! Phases: `Waiting` (no usable session) → `Arming` (arming the persistent watch on the payload
//! and registering the listener records in a session) → `Live` (the copy follows ZooKeeper) →
//! `Closed`. In `Live`, at most one read is in flight (a fetch of the payload, or a stat that
//! compares the payload's mzxid with the copy's); a read needed while one is in flight is owed
//! and starts when it completes.
//!
//! | phase | input | next phase | actions |
//! |---|---|---|---|
//! | any | `Close` | `Closed` | `Stop` |
//! | `Waiting` | `SessionUp` | `Arming` | `Arm` |
//! | `Arming` | `Armed(Ok)` | `Live`, fetching | `Resync(Session)`, `Fetch` (the re-read after arming: changes made while this instance had no watch arrive as a diff) |
//! | `Arming` | `Armed(Transient)` | `Arming` | `RetryArm` (after a pause, same session) |
//! | `Arming`, `Live` | `Armed(SessionOver)`, `SessionOver`, `Event(SessionEnded)`, a read's `SessionOver` | `Waiting` | `WaitForSession` (the next session) |
//! | `Live` | `Event(Reconnected)` | `Live` | `Resync(Reconnect)`, `Fetch` (persistent watches can lose events across a reconnection, ZOOKEEPER-4698; owed, and no resync, if a read is in flight) |
//! | `Live` | `Event(DataChanged)`, an acknowledged local write's echo expected | `Live` | `Stat` (most likely the echo: the copy already holds it) |
//! | `Live` | `Event(DataChanged)`, a local write in flight | `Live`, event held | none until the write is acknowledged (then `Stat`) or abandoned (then `Fetch`) |
//! | `Live` | `Event(DataChanged)`, otherwise | `Live` | `Fetch` |
//! | `Live` | `Event(Created)` | `Live` | `Fetch` |
//! | `Live` | `Event(Deleted)` | `Live`, payload gone | `ReportMissing` |
//! | `Live` | `Tick` | `Live` | `Stat` (the periodic check) unless a read is in flight |
//! | `Live` | `RefreshAsked` | `Live` | `Fetch` (owed if a read is in flight: the answer must come from a read that started after the ask) |
//! | `Live` | `Fetched(Applied \| Current)` | `Live` | `MarkVerified`; `Register` if the payload had been gone (it was re-created: the records come back); `Answer`; the owed read |
//! | `Live` | `Fetched(Bad)` | `Live` | `MarkVerified` (ZooKeeper's payload is known: it does not decode, and `read()` says so rather than `Stale`; the writer reports the fault); `Answer`; the owed read |
//! | `Live` | `Fetched(Missing)`, `Stated(Missing)` | `Live`, payload gone | `ReportMissing`, then `MarkVerified` (known: there is no payload, and `read()` says `Missing`); `Answer` after a fetch; the owed read |
//! | `Live` | `Fetched(Failed)` (the server refused the read: permissions, say) | `Live` | `Answer` (waiting would not help the askers); the owed read |
//! | `Live` | `Fetched(Transient)`, `Stated(Transient)` | `Live` | the owed read (else the next reconnection or tick reads again); the askers wait for a later fetch |
//! | `Live` | `Stated(Same)` | `Live` | `MarkVerified`; the owed read |
//! | `Live` | `Stated(Moved)` | `Live` | `Resync(Drift)`, `Fetch` |
//! | `Waiting`, `Arming` | anything else | unchanged | none (reads of an old session are dropped; the next arming fetches anyway) |
//!
//! Refreshes are counted in every phase but `Closed` (`RefreshAsked`): each is answered by the
//! first fetch that starts after it and ends with an answer (`Answer(n)`: the `n` oldest askers
//! take that fetch's outcome). A fetch in flight when the session ends answers nobody: its askers
//! wait for the next one (the arming fetch of the next session).
//!
//! A payload that an update read under the lock and the writer applied (`Offered`) changes
//! nothing here, in any phase: its write's watch event comes and is answered as any other.
//!
//! Local writes are counted in every phase (`WriteStarted`, `WriteAcknowledged`,
//! `WriteAbandoned`): an instance's own write comes back as a watch event, which is answered
//! with a stat instead of a download. The counts of expected and held echoes start over with
//! each session (the arming fetch covers whatever happened).

/// Where the sync task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No usable session: waiting for the connection's next one.
    Waiting,
    /// In a session: arming the persistent watch and registering the listener records.
    Arming,
    /// The watch is armed: the copy follows ZooKeeper.
    Live,
    /// The state is closing.
    Closed,
}

/// A read of the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// `get_data`: download, decode, diff, apply.
    Fetch,
    /// `exists`: compare the payload's mzxid with the copy's.
    Stat,
}

/// How arming the watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Armed {
    Ok,
    /// The link dropped meanwhile: try again in the same session.
    Transient,
    /// The session is over.
    SessionOver,
}

/// A watch event on the payload, or a session event seen by the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    DataChanged,
    Created,
    Deleted,
    /// `SyncConnected` after a disconnection, same session.
    Reconnected,
    Disconnected,
    /// Expired, closed or auth failed: the watcher is done.
    SessionEnded,
}

/// How a fetch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// A newer write was applied.
    Applied,
    /// The copy already held it.
    Current,
    /// The payload does not decode (the writer reported the fault).
    Bad,
    Missing,
    /// The server refused the read (permissions, say): the askers get its error.
    Failed,
    /// The link dropped: the same session reads again later.
    Transient,
    SessionOver,
}

/// How a stat ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stated {
    /// Same mzxid as the copy, and no fault.
    Same,
    /// Another write, or the copy has a fault.
    Moved,
    Missing,
    Transient,
    SessionOver,
}

/// What the sync task sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The connection has a connected session that this task has not served yet.
    SessionUp,
    /// The session is over (seen by the connection).
    SessionOver,
    /// The state or its connection is closing.
    Close,
    Armed(Armed),
    Event(Event),
    /// The periodic check is due.
    Tick,
    Fetched(Fetched),
    Stated(Stated),
    WriteStarted,
    WriteAcknowledged,
    WriteAbandoned,
    /// A handle asked for a fresh read (`c_read`, a write that found another version).
    RefreshAsked,
    /// The writer applied a payload an update read under the lock (`Applied`, `Current`, or
    /// `Bad` when it does not decode).
    Offered(Fetched),
}

/// What the sync task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Drop this session's watch and reads; wait for the connection's next session.
    WaitForSession,
    /// Arm the persistent watch and register the listener records.
    Arm,
    /// Arm again after a pause, in the same session.
    RetryArm,
    /// Start this read.
    Read(Read),
    /// The fetch that follows is a resync, for this reason (metrics and a span).
    Resync(crate::metrics::Resync),
    /// Answer the `n` oldest refresh askers with the outcome of the fetch that just ended.
    Answer(u32),
    /// The copy equals ZooKeeper's as of now.
    MarkVerified,
    /// The payload is gone: report it (`read()` fails with `Missing`, subscribers get an error).
    ReportMissing,
    /// Register the listener records again (the payload was re-created).
    Register,
    /// End the task.
    Stop,
}

/// The recovery state: the phase and what is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recovery {
    pub(crate) phase: Phase,
    /// The read in flight, if any.
    pub(crate) reading: Option<Read>,
    /// A read owed once the one in flight completes (a fetch wins over a stat).
    pub(crate) owed: Option<Read>,
    /// Local writes announced and not yet acknowledged or abandoned.
    pub(crate) writes: u32,
    /// `DataChanged` events held while a local write was in flight.
    pub(crate) held: u32,
    /// Echoes still expected of acknowledged local writes.
    pub(crate) echoes: u32,
    /// The payload was seen deleted: its re-creation brings the records back.
    pub(crate) payload_gone: bool,
    /// Refreshes asked that no fetch started since covers.
    pub(crate) asked: u32,
    /// Refreshes that the fetch in flight answers (it started after they were asked).
    pub(crate) covered: u32,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            phase: Phase::Waiting,
            reading: None,
            owed: None,
            writes: 0,
            held: 0,
            echoes: 0,
            payload_gone: false,
            asked: 0,
            covered: 0,
        }
    }
}

impl Recovery {
    /// The next state and the actions for `input`. Pure.
    pub(crate) fn step(mut self, input: Input) -> (Recovery, Vec<Action>) {
        let mut actions = Vec::new();
        // Local writes are counted whatever the phase.
        match input {
            Input::WriteStarted => {
                self.writes += 1;
                return (self, actions);
            }
            Input::WriteAcknowledged | Input::WriteAbandoned => {
                self.writes = self.writes.saturating_sub(1);
            }
            // The write it came from is another writer's: its watch event is answered as usual.
            Input::Offered(_) => return (self, actions),
            _ => {}
        }
        if input == Input::Close {
            self.phase = Phase::Closed;
            self.reading = None;
            self.owed = None;
            (self.asked, self.covered) = (0, 0);
            return (self, vec![Action::Stop]);
        }
        if input == Input::RefreshAsked && self.phase != Phase::Closed {
            self.asked += 1;
        }
        match (self.phase, input) {
            (Phase::Closed, _) => {}
            (Phase::Waiting, Input::SessionUp) => {
                self.phase = Phase::Arming;
                actions.push(Action::Arm);
            }
            (
                Phase::Arming | Phase::Live,
                Input::SessionOver
                | Input::Armed(Armed::SessionOver)
                | Input::Event(Event::SessionEnded)
                | Input::Fetched(Fetched::SessionOver)
                | Input::Stated(Stated::SessionOver),
            ) => {
                self = self.session_over();
                actions.push(Action::WaitForSession);
            }
            (Phase::Arming, Input::Armed(Armed::Ok)) => {
                self.phase = Phase::Live;
                self.resync(crate::metrics::Resync::Session, &mut actions);
            }
            (Phase::Arming, Input::Armed(Armed::Transient)) => actions.push(Action::RetryArm),
            (Phase::Live, input) => self.live(input, &mut actions),
            // Waiting or arming: reads and events of an old session are dropped.
            (Phase::Waiting | Phase::Arming, _) => {}
        }
        (self, actions)
    }

    fn session_over(mut self) -> Recovery {
        self.phase = Phase::Waiting;
        self.reading = None;
        self.owed = None;
        self.held = 0;
        self.echoes = 0;
        self.uncover();
        self
    }

    /// The fetch in flight will answer nobody: its askers wait for a later one.
    fn uncover(&mut self) {
        self.asked += std::mem::take(&mut self.covered);
    }

    /// A fetch ended with an answer for its askers.
    fn answer(&mut self, actions: &mut Vec<Action>) {
        let n = std::mem::take(&mut self.covered);
        if n > 0 {
            actions.push(Action::Answer(n));
        }
    }

    /// Starts a fetch that is a resync (said first), or owes a plain one when a read is in
    /// flight.
    fn resync(&mut self, reason: crate::metrics::Resync, actions: &mut Vec<Action>) {
        if self.reading.is_none() {
            actions.push(Action::Resync(reason));
        }
        self.want(Read::Fetch, actions);
    }

    /// Starts `read`, or owes it when a read is in flight (a fetch covers a stat). A fetch that
    /// starts covers every refresh asked before it.
    fn want(&mut self, read: Read, actions: &mut Vec<Action>) {
        match self.reading {
            None => {
                self.reading = Some(read);
                if read == Read::Fetch {
                    self.covered += std::mem::take(&mut self.asked);
                }
                actions.push(Action::Read(read));
            }
            Some(_) => {
                if self.owed != Some(Read::Fetch) {
                    self.owed = Some(read);
                }
            }
        }
    }

    /// The read in flight is done: start the owed one, if any.
    fn read_done(&mut self, actions: &mut Vec<Action>) {
        self.reading = None;
        if let Some(owed) = self.owed.take() {
            self.want(owed, actions);
        }
    }

    fn live(&mut self, input: Input, actions: &mut Vec<Action>) {
        match input {
            Input::Event(Event::Reconnected) => {
                self.resync(crate::metrics::Resync::Reconnect, actions)
            }
            Input::Event(Event::Created) => self.want(Read::Fetch, actions),
            Input::Event(Event::Disconnected) => {}
            Input::Event(Event::Deleted) => {
                self.payload_gone = true;
                actions.push(Action::ReportMissing);
            }
            Input::Event(Event::DataChanged) => {
                if self.echoes > 0 {
                    self.echoes -= 1;
                    self.want(Read::Stat, actions);
                } else if self.writes > 0 {
                    self.held += 1;
                } else {
                    self.want(Read::Fetch, actions);
                }
            }
            Input::WriteAcknowledged => {
                if self.held > 0 {
                    self.held -= 1;
                    self.want(Read::Stat, actions);
                } else {
                    self.echoes += 1;
                }
            }
            Input::WriteAbandoned => {
                if self.held > 0 && self.writes == 0 {
                    // The held events were not ours.
                    self.held = 0;
                    self.want(Read::Fetch, actions);
                }
            }
            Input::Tick => {
                if self.reading.is_none() {
                    self.want(Read::Stat, actions);
                }
            }
            Input::RefreshAsked => self.want(Read::Fetch, actions),
            Input::Fetched(Fetched::Applied | Fetched::Current) => {
                actions.push(Action::MarkVerified);
                if std::mem::take(&mut self.payload_gone) {
                    actions.push(Action::Register);
                }
                self.answer(actions);
                self.read_done(actions);
            }
            Input::Stated(Stated::Same) => {
                actions.push(Action::MarkVerified);
                self.read_done(actions);
            }
            Input::Stated(Stated::Moved) => {
                self.reading = None;
                self.owed = None;
                self.resync(crate::metrics::Resync::Drift, actions);
            }
            Input::Fetched(Fetched::Missing) | Input::Stated(Stated::Missing) => {
                self.payload_gone = true;
                actions.push(Action::ReportMissing);
                actions.push(Action::MarkVerified);
                if input == Input::Fetched(Fetched::Missing) {
                    self.answer(actions);
                }
                self.read_done(actions);
            }
            Input::Fetched(Fetched::Bad) => {
                actions.push(Action::MarkVerified);
                self.answer(actions);
                self.read_done(actions);
            }
            Input::Fetched(Fetched::Failed) => {
                self.answer(actions);
                self.read_done(actions);
            }
            Input::Fetched(Fetched::Transient) => {
                self.uncover();
                self.read_done(actions)
            }
            Input::Stated(Stated::Transient) => self.read_done(actions),
            // Already live in this session; the rest is handled before.
            Input::SessionUp
            | Input::Armed(_)
            | Input::WriteStarted
            | Input::Close
            | Input::Offered(_)
            | Input::SessionOver
            | Input::Event(Event::SessionEnded)
            | Input::Fetched(Fetched::SessionOver)
            | Input::Stated(Stated::SessionOver) => {}
        }
    }
}

#[cfg(test)]
mod tests;
