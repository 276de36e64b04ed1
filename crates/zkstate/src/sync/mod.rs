//! Keeping the local copy current: one owned task per state (shared by the instances of that
//! state on one connection), the staleness watchdog, and the reaper of dead writers' markers.
//!
//! The task owns the store's [`Writer`]: it is the only code that changes the local copy. It
//! turns what it sees (the connection's sessions, the persistent watch's events, the periodic
//! check, the results of its reads, the handles' requests) into [`recovery::Input`]s, steps the
//! pure [`recovery::Recovery`] machine, and runs the actions it returns. See `recovery.rs` for the
//! table.
//!
//! A remote change flows: watch event → `Read(Fetch)` → `get_data` →
//! [`Writer::apply_fetched`] (decode → diff → publish → swap) → `MarkVerified`.
//! A local update's result arrives as a `Request::Acknowledged` and is applied by
//! [`Writer::apply_acknowledged`]; its echo is answered with a stat.

pub(crate) mod reaper;
pub(crate) mod records;
mod recovery;
mod staleness;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zookeeper_client::{
    AddWatchMode, Client, CreateMode, EventType, PersistentWatcher, SessionState,
};

use self::records::{Records, Work};
use self::recovery::{Action, Armed, Event, Fetched, Input, Phase, Read, Recovery, Stated};
pub(crate) use self::staleness::watch_staleness;
use crate::connection::{ConnectionState, SessionSlot};
use crate::error::{Error, ZkFailure};
use crate::layout::Layout;
use crate::listeners;
use crate::options::LEAVE_TIMEOUT;
use crate::store::{self, Stamp, Store, Writer};

/// The pause before arming again after a transient failure (jittered up to twice as long).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// Errors after which the session cannot serve any request again.
fn is_session_over(err: &zookeeper_client::Error) -> bool {
    ZkFailure::of(err).is_session_over()
}

/// Errors of a dropped link: the same session answers again once reconnected.
fn is_link_down(err: &zookeeper_client::Error) -> bool {
    ZkFailure::of(err) == ZkFailure::LinkDown
}

pub(crate) fn jittered((min, max): (Duration, Duration)) -> Duration {
    if max <= min {
        return min;
    }
    rand::thread_rng().gen_range(min..=max)
}

/// Awaits the future in `slot`, or never when there is none; empties the slot when it completes.
async fn maybe<O>(slot: &mut Option<BoxFuture<O>>) -> O {
    match slot {
        Some(fut) => {
            let out = fut.await;
            *slot = None;
            out
        }
        None => std::future::pending().await,
    }
}

/// A read's raw result.
enum ReadDone {
    Fetch(Result<(Vec<u8>, zookeeper_client::Stat), zookeeper_client::Error>),
    Stat(Result<Option<zookeeper_client::Stat>, zookeeper_client::Error>),
}

/// The sync task of one state.
pub(crate) struct Task<T> {
    writer: Writer<T>,
    store: Store<T>,
    layout: Layout,
    slot: watch::Receiver<SessionSlot>,
    records: Arc<Records>,
    cancel: CancellationToken,
    recovery: Recovery,
    /// The session served, and its generation.
    session: Option<(Client, u64)>,
    served: u64,
    watcher: Option<PersistentWatcher>,
    arming: Option<BoxFuture<Result<PersistentWatcher, zookeeper_client::Error>>>,
    reading: Option<BoxFuture<ReadDone>>,
    /// Record registrations, deletions and reports: they never hold up the loop.
    side: FuturesUnordered<BoxFuture<()>>,
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
    tick: Pin<Box<tokio::time::Sleep>>,
    /// The reaper: when to scan the commit markers next, the scan in flight, the suspects.
    grace: Duration,
    reap: Pin<Box<tokio::time::Sleep>>,
    scanning: Option<BoxFuture<Option<HashMap<String, reaper::Seen>>>>,
    suspects: HashMap<String, reaper::Suspect>,
    report_at: Option<Instant>,
    /// The report in flight: the stamp it writes, and whether every record took it.
    reporting: Option<BoxFuture<(Stamp, bool)>>,
    /// What the records hold: the stamp last written to every reporting record.
    reported: Option<Stamp>,
    last_report: Option<Instant>,
    /// What the arming in flight registers the records with.
    arming_content: Option<Stamp>,
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
        let tick = Box::pin(tokio::time::sleep(jittered(records.check_interval())));
        let reap = Box::pin(tokio::time::sleep(reaper::next_scan(grace)));
        Task {
            store: writer.store(),
            writer,
            layout,
            slot,
            records,
            cancel,
            recovery: Recovery::default(),
            session: None,
            served: 0,
            watcher: None,
            arming: None,
            reading: None,
            side: FuturesUnordered::new(),
            waiters: VecDeque::new(),
            fetched: None,
            resync: None,
            fetch_origin: crate::metrics::Applied::Remote,
            fetch_span: None,
            tick,
            grace,
            reap,
            scanning: None,
            suspects: HashMap::new(),
            report_at: None,
            reporting: None,
            reported: None,
            last_report: None,
            arming_content: None,
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

    /// Waits for the next thing that happens; `None` for what was handled on the spot.
    async fn next_input(&mut self) -> Option<Input> {
        let report_at = self.report_at;
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Some(Input::Close),
            request = self.writer.next_request() => match request {
                store::Request::WriteStarted => Some(Input::WriteStarted),
                store::Request::WriteAbandoned => Some(Input::WriteAbandoned),
                store::Request::Acknowledged(ack) => {
                    Box::pin(self.writer.apply_acknowledged(ack)).await;
                    self.schedule_report();
                    Some(Input::WriteAcknowledged)
                }
                store::Request::Offered(offer) => {
                    let store::Offered { bytes, stamp, done } = *offer;
                    let applied = Box::pin(self.writer.apply_fetched(
                        bytes,
                        stamp,
                        crate::metrics::Applied::Remote,
                    ))
                    .await;
                    if matches!(applied, Ok(store::Fetched::Applied(_))) {
                        self.schedule_report();
                    }
                    let _ = done.send(applied);
                    None
                }
                store::Request::Refresh(done) => {
                    self.waiters.push_back(done);
                    Some(Input::RefreshAsked)
                }
            },
            changed = self.slot.changed() => {
                if changed.is_err() {
                    return Some(Input::Close);
                }
                let current = self.slot.borrow_and_update();
                match (&self.session, current.state) {
                    (_, ConnectionState::Closed) => Some(Input::Close),
                    // Our session was replaced or lost.
                    (Some((_, generation)), state)
                        if current.generation != *generation || state == ConnectionState::Lost =>
                    {
                        Some(Input::SessionOver)
                    }
                    _ => None,
                }
            },
            event = async {
                match self.watcher.as_mut() {
                    Some(watcher) => watcher.changed().await,
                    None => std::future::pending().await,
                }
            } => Some(Input::Event(match event.event_type {
                EventType::Session => match event.session_state {
                    SessionState::SyncConnected | SessionState::ConnectedReadOnly => Event::Reconnected,
                    SessionState::Disconnected => Event::Disconnected,
                    _ => {
                        // Terminal: the watcher must not be polled again.
                        self.watcher = None;
                        Event::SessionEnded
                    }
                },
                EventType::NodeDeleted => Event::Deleted,
                EventType::NodeCreated => Event::Created,
                _ => Event::DataChanged,
            })),
            armed = maybe(&mut self.arming) => Some(Input::Armed(match armed {
                Ok(watcher) => {
                    self.watcher = Some(watcher);
                    // The records were registered with what the copy held then.
                    if let Some(content) = self.arming_content.take() {
                        self.reported = Some(content);
                    }
                    Armed::Ok
                }
                Err(err) if is_session_over(&err) => Armed::SessionOver,
                Err(err) => {
                    tracing::debug!(dir = %self.layout.dir, error = %err, "cannot arm the watch yet; retrying");
                    Armed::Transient
                }
            })),
            done = maybe(&mut self.reading) => Some(Box::pin(self.read_done(done)).await),
            Some(()) = self.side.next(), if !self.side.is_empty() => None,
            () = self.records.changed() => {
                self.records_changed();
                None
            },
            () = &mut self.reap => {
                self.reap.as_mut().reset(Instant::now() + reaper::next_scan(self.grace));
                self.start_scan();
                None
            },
            seen = maybe(&mut self.scanning) => {
                self.judge(seen);
                None
            },
            () = &mut self.tick => {
                let next = jittered(self.records.check_interval());
                self.tick.as_mut().reset(Instant::now() + next);
                Some(Input::Tick)
            },
            () = async {
                match report_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                self.report();
                None
            },
            (stamp, written) = maybe(&mut self.reporting) => {
                if written {
                    self.reported = Some(stamp);
                }
                // Another change meanwhile, or a failed write: again after the interval.
                self.schedule_report();
                None
            },
        }
    }

    /// Steps the recovery machine and runs its actions; `true` when the task must stop.
    async fn feed(&mut self, input: Input) -> bool {
        let (next, actions) = self.recovery.step(input);
        tracing::trace!(dir = %self.layout.dir, ?input, phase = ?next.phase, ?actions, "sync step");
        self.recovery = next;
        for action in actions {
            match action {
                Action::Stop => return true,
                Action::WaitForSession => {
                    self.watcher = None;
                    self.arming = None;
                    self.reading = None;
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
                Action::Read(read) => {
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
                    self.start_read(read)
                }
                Action::Answer(n) => self.answer(n),
                Action::MarkVerified => {
                    let session = self.session.as_ref().map_or(0, |(c, _)| c.session_id().0);
                    self.writer.mark_verified(session);
                    self.schedule_report();
                }
                Action::ReportMissing => self.writer.set_fault(Error::Missing {
                    path: self.layout.payload.clone(),
                }),
                Action::Register => {
                    if let Some((client, _)) = &self.session {
                        let work = self.records.all();
                        let content = self.record_content();
                        self.side.push(Box::pin(register_all(
                            client.clone(),
                            self.layout.clone(),
                            work,
                            content,
                        )));
                    }
                }
            }
        }
        if self.recovery.phase == Phase::Live {
            self.register_joined();
        }
        false
    }

    fn arm(&mut self, pause: Duration) {
        let Some((client, generation)) = self.session.clone() else {
            return;
        };
        let layout = self.layout.clone();
        let work = self.records.to_register(generation);
        let content = self.record_content();
        self.arming_content = content;
        self.arming = Some(Box::pin(async move {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            // Armed before the first read, so that no write falls between the read and the watch.
            let watcher = client
                .watch(&layout.payload, AddWatchMode::Persistent)
                .await?;
            match register(&client, &layout, &work, content).await {
                Ok(()) => {}
                // A dropped link or session: arm again.
                Err(err) if is_link_down(&err) || is_session_over(&err) => return Err(err),
                // Anything else does not hold up syncing: the copy follows without a record.
                Err(err) => {
                    tracing::warn!(dir = %layout.dir, error = %err, "cannot register listener records; serving without them")
                }
            }
            Ok(watcher)
        }));
    }

    /// What records say they applied now, when reporting is on.
    fn record_content(&self) -> Option<Stamp> {
        self.records.report_interval().map(|_| self.store.stamp())
    }

    fn start_read(&mut self, read: Read) {
        let Some((client, _)) = &self.session else {
            return;
        };
        let client = client.clone();
        let payload = self.layout.payload.clone();
        self.reading = Some(match read {
            Read::Fetch => {
                Box::pin(async move { ReadDone::Fetch(client.get_data(&payload).await) })
            }
            Read::Stat => {
                Box::pin(async move { ReadDone::Stat(client.check_stat(&payload).await) })
            }
        });
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
                    self.schedule_report();
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
            ReadDone::Fetch(Err(err)) if is_link_down(&err) => {
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

    /// Instances joined or are leaving: register or delete their records.
    fn records_changed(&mut self) {
        if self.recovery.phase == Phase::Live {
            self.register_joined();
        }
        let client = self.session.as_ref().map(|(c, _)| c.clone());
        for (id, had_record, done) in self.records.take_leaving() {
            let path = self.layout.listener(&id);
            match (&client, had_record) {
                (Some(client), true) => {
                    let client = client.clone();
                    self.side.push(Box::pin(async move {
                        let _ =
                            tokio::time::timeout(LEAVE_TIMEOUT, client.delete(&path, None)).await;
                        let _ = done.send(());
                    }));
                }
                _ => {
                    let _ = done.send(());
                }
            }
        }
        // A new instance may ask for a tighter check.
        let next = Instant::now() + jittered(self.records.check_interval());
        if next < self.tick.deadline() {
            self.tick.as_mut().reset(next);
        }
    }

    /// Registers the records of instances that joined since the session was armed.
    fn register_joined(&mut self) {
        let Some((client, generation)) = &self.session else {
            return;
        };
        let work = self.records.to_register(*generation);
        if work.is_empty() {
            return;
        }
        let content = self.record_content();
        let (client, layout) = (client.clone(), self.layout.clone());
        self.side
            .push(Box::pin(register_all(client, layout, work, content)));
    }

    /// Scans the commit markers, unless a scan is in flight or there is no live session.
    fn start_scan(&mut self) {
        if self.scanning.is_some() || self.recovery.phase != Phase::Live {
            return;
        }
        let Some((client, _)) = &self.session else {
            return;
        };
        let (client, layout, limit) = (client.clone(), self.layout.clone(), self.grace / 3);
        self.scanning = Some(Box::pin(async move {
            match tokio::time::timeout(limit, reaper::scan(&client, &layout)).await {
                Ok(Ok(seen)) => Some(seen),
                Ok(Err(err)) => {
                    tracing::debug!(dir = %layout.dir, error = %err, "cannot scan the commit markers");
                    None
                }
                Err(_) => None,
            }
        }));
    }

    /// Judges a scan, and deletes what it condemned (without holding up the loop).
    fn judge(&mut self, seen: Option<HashMap<String, reaper::Seen>>) {
        let Some(seen) = seen else {
            return;
        };
        let (victims, suspects) = reaper::judge(&self.suspects, &seen, Instant::now(), self.grace);
        self.suspects = suspects;
        if victims.is_empty() {
            return;
        }
        if let Some((client, _)) = &self.session {
            let (client, layout) = (client.clone(), self.layout.clone());
            self.side.push(Box::pin(async move {
                reaper::reap(&client, &layout, victims).await
            }));
        }
    }

    /// Plans a report of what was applied, at most once per report interval.
    fn schedule_report(&mut self) {
        let Some(interval) = self.records.report_interval() else {
            return;
        };
        if self.reported == Some(self.store.stamp()) {
            return;
        }
        let earliest = self
            .last_report
            .map_or_else(Instant::now, |last| last + interval);
        let at = earliest.max(Instant::now());
        if self.report_at.is_none_or(|planned| at < planned) {
            self.report_at = Some(at);
        }
    }

    /// Rewrites the reporting records with the stamp applied now. What they hold counts as
    /// reported once every write succeeded (see the `reporting` arm of `next_input`).
    fn report(&mut self) {
        self.report_at = None;
        if self.reporting.is_some() {
            // Planned again when the one in flight is done.
            return;
        }
        let Some((client, _)) = &self.session else {
            // Reported when the next session registers the records.
            return;
        };
        let stamp = self.store.stamp();
        self.last_report = Some(Instant::now());
        let work = self.records.reporting();
        let (client, layout) = (client.clone(), self.layout.clone());
        self.reporting = Some(Box::pin(async move {
            let writes: Vec<_> = work
                .iter()
                .map(|w| {
                    let record = w.record.applied(stamp.version, stamp.mzxid);
                    let path = layout.listener(&w.id);
                    let client = client.clone();
                    async move {
                        let written = client.set_data(&path, &record.to_bytes(), None).await;
                        (written, path, record)
                    }
                })
                .collect();
            let mut written = 0;
            for (result, path, record) in futures::future::join_all(writes).await {
                let result = match result {
                    // Deleted by an outside actor: the record comes back.
                    Err(zookeeper_client::Error::NoNode) => {
                        listeners::register(&client, &path, &record, layout.acls()).await
                    }
                    other => other.map(|_| ()),
                };
                match result {
                    Ok(()) => written += 1,
                    Err(err) => {
                        tracing::debug!(%path, error = %err, "cannot report what was applied")
                    }
                }
            }
            crate::metrics::records_written(&layout.dir, written);
            (stamp, written == work.len())
        }));
    }

    /// Deletes the remaining records, ends the change streams, answers every waiter.
    async fn stop(mut self: Box<Self>) {
        let client = self.session.as_ref().map(|(c, _)| c.clone());
        let mut deletes = Vec::new();
        for (id, had_record, done) in self.records.take_all() {
            if let (Some(client), true) = (&client, had_record) {
                let path = self.layout.listener(&id);
                let client = client.clone();
                deletes.push(async move {
                    let _ = tokio::time::timeout(LEAVE_TIMEOUT, client.delete(&path, None)).await;
                });
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        futures::future::join_all(deletes).await;
        self.writer.close();
        self.waiters.clear();
    }
}

/// How many listener-record registrations one state has in flight at once.
const REGISTRATIONS_IN_FLIGHT: usize = 16;

/// Registers `work`'s records in this session (creating the listeners directory if an outside
/// actor removed it). A session without the right to write them serves without records.
async fn register(
    client: &Client,
    layout: &Layout,
    work: &[Work],
    applied: Option<Stamp>,
) -> Result<(), zookeeper_client::Error> {
    let registration = |w: &Work| {
        let record = match applied {
            Some(stamp) => w.record.applied(stamp.version, stamp.mzxid),
            None => w.record.clone(),
        };
        let path = layout.listener(&w.id);
        async move {
            let first = listeners::register(client, &path, &record, layout.acls()).await;
            match first {
                Err(zookeeper_client::Error::NoNode) => {
                    // `listeners` only, not its parents: a state removed under its live
                    // instances is not brought back by them (they register again when the
                    // payload is re-created).
                    let options = CreateMode::Persistent.with_acls(layout.acls());
                    match client.create(&layout.listeners, b"", &options).await {
                        Ok(_) | Err(zookeeper_client::Error::NodeExists) => {
                            listeners::register(client, &path, &record, layout.acls()).await
                        }
                        Err(zookeeper_client::Error::NoNode) => Ok(()),
                        Err(err) => Err(err),
                    }
                }
                other => other,
            }
        }
    };
    // A bounded number in flight: each registration's future holds its request until the reply,
    // and a thousand instances opened at once would otherwise hold a thousand of them together,
    // a peak that the allocator keeps as the process's memory afterwards.
    let mut results = Vec::with_capacity(work.len());
    for chunk in work.chunks(REGISTRATIONS_IN_FLIGHT) {
        results.extend(futures::future::join_all(chunk.iter().map(registration)).await);
    }
    for result in results {
        match result {
            Ok(()) => {}
            // A read-only instance (ACLs) serves without a record rather than retrying forever.
            Err(zookeeper_client::Error::NoAuth) => {
                tracing::warn!(dir = %layout.dir, "no permission to register a listener record; serving without one");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

async fn register_all(client: Client, layout: Layout, work: Vec<Work>, applied: Option<Stamp>) {
    if let Err(err) = register(&client, &layout, &work, applied).await {
        tracing::debug!(dir = %layout.dir, error = %err, "cannot register listener records");
    }
}
