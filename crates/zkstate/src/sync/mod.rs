//! Keeping the local copy current: one owned task per state (shared by the instances of that
//! state on one connection), the staleness watchdog, and the reaper of dead writers' markers.
//!
//! The task owns the store's [`Writer`]: it is the only code that changes the local copy. It
//! turns what it sees (the connection's sessions, the persistent watch's events, the periodic
//! check, the results of its reads, the handles' requests) into [`recovery::Input`]s, steps the
//! pure [`recovery::Recovery`] machine, and runs the actions it returns. See `recovery.rs` for the
//! table.
//!
//! The task is a shell over small owned machines, each with its own `next()`: [`remote`] (the
//! watch, its arming, the read in flight, the periodic check), [`members`] (registering and
//! deleting the instances' listener records), [`reports`] (rewriting them with what was
//! applied) and [`reaper`] (dead writers' markers). Only `remote`'s events and the handles'
//! requests feed the recovery step.
//!
//! A remote change flows: watch event → `Read(Fetch)` → `get_data` →
//! [`Writer::apply_fetched`] (decode → diff → publish → swap) → `MarkVerified`.
//! A local update's result arrives as a `Request::Acknowledged` and is applied by
//! [`Writer::apply_acknowledged`]; its echo is answered with a stat.

mod future;
mod members;
pub(crate) mod reaper;
pub(crate) mod records;
mod recovery;
mod remote;
mod reports;
mod staleness;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use zookeeper_client::{AddWatchMode, Client};

use self::future::jittered;
use self::members::Members;
use self::reaper::Reaper;
use self::records::Records;
use self::recovery::{Action, Fetched, Input, Phase, Read, Recovery, Stated};
use self::remote::{ReadDone, Remote, Seen};
use self::reports::Reports;
pub(crate) use self::staleness::watch_staleness;
use crate::connection::{ConnectionState, SessionSlot};
use crate::error::{Error, ZkFailure};
use crate::layout::Layout;
use crate::store::{self, Stamp, Store, Writer};

/// The pause before arming again after a transient failure (jittered up to twice as long).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Errors after which the session cannot serve any request again.
fn is_session_over(err: &zookeeper_client::Error) -> bool {
    ZkFailure::of(err).is_session_over()
}

/// The sync task of one state.
pub(crate) struct Task<T> {
    writer: Writer<T>,
    store: Store<T>,
    layout: Arc<Layout>,
    slot: watch::Receiver<SessionSlot>,
    records: Arc<Records>,
    cancel: CancellationToken,
    recovery: Recovery,
    /// The session served, and its generation.
    session: Option<(Client, u64)>,
    served: u64,
    remote: Remote,
    members: Members,
    reports: Reports,
    reaper: Reaper,
    /// Handles waiting for a fetch that starts after they asked, oldest first; the step says
    /// how many of them a fetch answers (`Action::Answer`).
    waiters: VecDeque<oneshot::Sender<Result<Stamp, Error>>>,
    /// The outcome of the last fetch, for its askers.
    fetched: Option<Result<Stamp, Error>>,
    /// The reason of a resync the step announced for the fetch it starts next.
    resync: Option<crate::metrics::Resync>,
    /// Why the fetch in flight was started.
    fetch_origin: crate::metrics::Applied,
    /// The `zkstate.resync` span of the fetch in flight, when it is a resync.
    fetch_span: Option<tracing::Span>,
}

impl<T> Task<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    pub(crate) fn new(
        writer: Writer<T>,
        layout: Layout,
        slot: watch::Receiver<SessionSlot>,
        records: Arc<Records>,
        grace: Duration,
        cancel: CancellationToken,
    ) -> Task<T> {
        // One copy of the layout, shared with the machines that write records and reap markers.
        let layout = Arc::new(layout);
        Task {
            store: writer.store(),
            writer,
            remote: Remote::new(layout.payload.clone(), records.check_interval()),
            members: Members::new(layout.clone(), records.clone()),
            reports: Reports::new(layout.clone(), records.clone()),
            reaper: Reaper::new(layout.clone(), grace),
            layout,
            slot,
            records,
            cancel,
            recovery: Recovery::default(),
            session: None,
            served: 0,
            waiters: VecDeque::new(),
            fetched: None,
            resync: None,
            fetch_origin: crate::metrics::Applied::Remote,
            fetch_span: None,
        }
    }

    /// Runs until the state closes. Boxed: an async fn keeps its arguments twice over in its
    /// future (rust-lang/rust#62958), and the task lives as long as the state.
    pub(crate) async fn run(mut self: Box<Self>) {
        loop {
            if self.recovery.phase == Phase::Waiting {
                if let Some(input) = self.next_session() {
                    if self.feed(input).await {
                        break;
                    }
                    continue;
                }
            }
            let input = self.next_input().await;
            if let Some(input) = input {
                if self.feed(input).await {
                    break;
                }
            }
        }
        // Boxed, like the rarer branches below: a task's future is as large as its largest await
        // point for its whole life, and an idle state should cost only what it holds.
        Box::pin(self.stop()).await;
    }

    /// A connected session newer than the one served, if the connection has one.
    fn next_session(&mut self) -> Option<Input> {
        let current = self.slot.borrow_and_update();
        match (&current.client, current.state) {
            (_, ConnectionState::Closed) => Some(Input::Close),
            (Some(client), ConnectionState::Connected) if current.generation > self.served => {
                self.served = current.generation;
                self.session = Some((client.clone(), current.generation));
                Some(Input::SessionUp)
            }
            _ => None,
        }
    }

    /// The session's client while the copy is live in it: what the records and the reaper
    /// write with.
    fn live_client(session: &Option<(Client, u64)>, recovery: &Recovery) -> Option<Client> {
        let live = recovery.phase == Phase::Live;
        session.as_ref().filter(|_| live).map(|(c, _)| c.clone())
    }

    /// Waits for the next thing that happens; `None` for what was handled on the spot.
    async fn next_input(&mut self) -> Option<Input> {
        let client = self.session.as_ref().map(|(c, _)| c.clone());
        let live = Self::live_client(&self.session, &self.recovery);
        let holds = self.store.stamp();
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Some(Input::Close),
            request = self.writer.next_request() => Box::pin(self.request(request)).await,
            changed = self.slot.changed() => self.slot_changed(changed.is_ok()),
            seen = self.remote.next() => match seen {
                Seen::Input(input) => Some(input),
                Seen::Read(done) => Some(Box::pin(self.read_done(done)).await),
            },
            () = self.members.next() => {
                self.records_changed();
                None
            },
            () = self.reports.next(client.as_ref(), holds) => None,
            () = self.reaper.next(client.as_ref(), live.is_some()) => None,
        }
    }

    /// A request of the handles: local writes and refreshes are inputs; an acknowledged write
    /// and an offered payload are applied first.
    async fn request(&mut self, request: store::Request<T>) -> Option<Input> {
        match request {
            store::Request::WriteStarted => Some(Input::WriteStarted),
            store::Request::WriteAbandoned => Some(Input::WriteAbandoned),
            store::Request::Acknowledged(ack) => {
                self.writer.apply_acknowledged(ack).await;
                self.reports.schedule(self.store.stamp());
                Some(Input::WriteAcknowledged)
            }
            store::Request::Offered(offer) => {
                let store::Offered { bytes, stamp, done } = *offer;
                let remote = crate::metrics::Applied::Remote;
                let applied = self.writer.apply_fetched(bytes, stamp, remote).await;
                let offered = match &applied {
                    Ok(store::Fetched::Applied(_)) => Fetched::Applied,
                    Ok(store::Fetched::Current(_)) => Fetched::Current,
                    Err(_) => Fetched::Bad,
                };
                if offered == Fetched::Applied {
                    self.reports.schedule(self.store.stamp());
                }
                let _ = done.send(applied);
                Some(Input::Offered(offered))
            }
            store::Request::Refresh(done) => {
                self.waiters.push_back(done);
                Some(Input::RefreshAsked)
            }
        }
    }

    /// The connection's slot changed: closed, or our session replaced or lost.
    fn slot_changed(&mut self, open: bool) -> Option<Input> {
        if !open {
            return Some(Input::Close);
        }
        let current = self.slot.borrow_and_update();
        match (&self.session, current.state) {
            (_, ConnectionState::Closed) => Some(Input::Close),
            (Some((_, generation)), state)
                if current.generation != *generation || state == ConnectionState::Lost =>
            {
                Some(Input::SessionOver)
            }
            _ => None,
        }
    }

    /// Steps the recovery machine and runs its actions; `true` when the task must stop.
    async fn feed(&mut self, input: Input) -> bool {
        let (next, actions) = self.recovery.step(input);
        tracing::trace!(dir = %self.layout.dir, ?input, phase = ?next.phase, ?actions, "sync step");
        self.recovery = next;
        if input == Input::Armed(recovery::Armed::Ok) {
            if let Some(content) = self.remote.take_registered() {
                self.reports.registered(content);
            }
        }
        for action in actions {
            if action == Action::Stop {
                return true;
            }
            self.act(action);
        }
        if self.recovery.phase == Phase::Live {
            self.register_joined();
        }
        false
    }

    /// Runs one action of the step (all but `Stop`).
    fn act(&mut self, action: Action) {
        match action {
            Action::Stop => {}
            Action::WaitForSession => {
                self.remote.drop_session();
                self.session = None;
            }
            Action::Arm => self.arm(Duration::ZERO),
            Action::RetryArm => {
                if let Some((_, generation)) = &self.session {
                    self.records.unmark(*generation);
                }
                self.arm(jittered((RETRY_PAUSE, 2 * RETRY_PAUSE)));
            }
            Action::Resync(reason) => {
                crate::metrics::resync(&self.layout.dir, reason);
                self.resync = Some(reason);
            }
            Action::Read(read) => self.start_read(read),
            Action::Answer(n) => self.answer(n),
            Action::MarkVerified => {
                let session = self.session.as_ref().map_or(0, |(c, _)| c.session_id().0);
                self.writer.mark_verified(session);
                self.reports.schedule(self.store.stamp());
            }
            Action::ReportMissing => self.writer.set_fault(Error::Missing {
                path: self.layout.payload.clone(),
            }),
            Action::Register => {
                if let Some((client, _)) = &self.session {
                    let content = self.record_content();
                    self.members.all_again(client, content);
                }
            }
        }
    }

    /// Arms the persistent watch, then registers the records of this session, after `pause`.
    fn arm(&mut self, pause: Duration) {
        let Some((client, generation)) = self.session.clone() else {
            return;
        };
        let layout = self.layout.clone();
        let work = self.records.to_register(generation);
        let content = self.record_content();
        let arming = Box::pin(async move {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            // Armed before the first read, so that no write falls between the read and the watch.
            let watcher = client
                .watch(&layout.payload, AddWatchMode::Persistent)
                .await?;
            match members::register(&client, &layout, &work, content).await {
                Ok(()) => {}
                // A dropped link or session: arm again.
                Err(err)
                    if matches!(ZkFailure::of(&err), ZkFailure::LinkDown)
                        || is_session_over(&err) =>
                {
                    return Err(err)
                }
                // Anything else does not hold up syncing: the copy follows without a record.
                Err(err) => {
                    tracing::warn!(dir = %layout.dir, error = %err, "cannot register listener records; serving without them")
                }
            }
            Ok(watcher)
        });
        self.remote.arm(arming, content);
    }

    /// What records say they applied now, when reporting is on.
    fn record_content(&self) -> Option<Stamp> {
        self.records.report_interval().map(|_| self.store.stamp())
    }

    /// Starts a read; a fetch takes the resync reason the step announced, if any.
    fn start_read(&mut self, read: Read) {
        if read == Read::Fetch {
            let reason = self.resync.take();
            self.fetch_span = reason.map(|reason| {
                tracing::info_span!("zkstate.resync", dir = %self.layout.dir, ?reason, version = tracing::field::Empty)
            });
            self.fetch_origin = match reason {
                Some(_) => crate::metrics::Applied::Resync,
                None => crate::metrics::Applied::Remote,
            };
        }
        if let Some((client, _)) = &self.session {
            self.remote.start_read(client, read);
        }
    }

    /// Folds a read's result into the copy, and keeps a fetch's outcome for its askers.
    async fn read_done(&mut self, done: ReadDone) -> Input {
        match done {
            ReadDone::Fetch(Ok((data, stat))) => {
                use tracing::Instrument;
                let span = self.fetch_span.take().unwrap_or_else(tracing::Span::none);
                span.record("version", stat.version);
                let outcome = self
                    .writer
                    .apply_fetched(data, Stamp::of(&stat), self.fetch_origin)
                    .instrument(span)
                    .await;
                let (fetched, answer) = match outcome {
                    Ok(store::Fetched::Applied(stamp)) => (Fetched::Applied, Ok(stamp)),
                    Ok(store::Fetched::Current(stamp)) => (Fetched::Current, Ok(stamp)),
                    Err(fault) => (Fetched::Bad, Err(fault)),
                };
                if fetched == Fetched::Applied {
                    self.reports.schedule(self.store.stamp());
                }
                self.fetched = Some(answer);
                Input::Fetched(fetched)
            }
            ReadDone::Fetch(Err(zookeeper_client::Error::NoNode)) => {
                // The fault itself is set by the step's `ReportMissing`.
                let missing = Error::Missing {
                    path: self.layout.payload.clone(),
                };
                self.fetched = Some(Err(missing));
                Input::Fetched(Fetched::Missing)
            }
            ReadDone::Fetch(Err(err)) if is_session_over(&err) => {
                Input::Fetched(Fetched::SessionOver)
            }
            ReadDone::Fetch(Err(err)) if ZkFailure::of(&err) == ZkFailure::LinkDown => {
                tracing::debug!(dir = %self.layout.dir, error = %err, "reading the payload failed");
                Input::Fetched(Fetched::Transient)
            }
            ReadDone::Fetch(Err(err)) => {
                tracing::debug!(dir = %self.layout.dir, error = %err, "reading the payload failed");
                let failed = Error::from_zookeeper("reading", &self.layout.payload, err);
                self.fetched = Some(Err(failed));
                Input::Fetched(Fetched::Failed)
            }
            ReadDone::Stat(Ok(Some(stat))) => {
                let same = self.writer.accounts_for(stat.mzxid);
                Input::Stated(if same { Stated::Same } else { Stated::Moved })
            }
            ReadDone::Stat(Ok(None)) => Input::Stated(Stated::Missing),
            ReadDone::Stat(Err(err)) if is_session_over(&err) => Input::Stated(Stated::SessionOver),
            ReadDone::Stat(Err(err)) => {
                tracing::debug!(dir = %self.layout.dir, error = %err, "stat of the payload failed");
                Input::Stated(Stated::Transient)
            }
        }
    }

    /// Answers the `n` oldest askers with the last fetch's outcome.
    fn answer(&mut self, n: u32) {
        let Some(answer) = self.fetched.take() else {
            return;
        };
        let n = (n as usize).min(self.waiters.len());
        for done in self.waiters.drain(..n) {
            let _ = done.send(answer.clone());
        }
    }

    /// Instances joined or are leaving: register or delete their records; a new instance may
    /// ask for a tighter check.
    fn records_changed(&mut self) {
        if self.recovery.phase == Phase::Live {
            self.register_joined();
        }
        let client = self.session.as_ref().map(|(c, _)| c.clone());
        self.members.leaving(client.as_ref());
        self.remote.set_check(self.records.check_interval());
    }

    /// Registers the records of instances that joined since the session was armed.
    fn register_joined(&mut self) {
        let Some((client, generation)) = &self.session else {
            return;
        };
        let content = self.record_content();
        self.members.joined(client, *generation, content);
    }

    /// Deletes the remaining records, ends the change streams, answers every waiter.
    async fn stop(mut self: Box<Self>) {
        let client = self.session.as_ref().map(|(c, _)| c.clone());
        self.members.close(client.as_ref()).await;
        self.writer.close();
        self.waiters.clear();
    }
}
