//! The payload as the sync task follows it: the persistent watch, its arming, the one read in
//! flight and the periodic check's timer. [`Remote::next`] turns what happens to them into the
//! recovery machine's inputs; a read's raw result goes back to the task, which applies it.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use zookeeper_client::{Client, EventType, PersistentWatcher, SessionState, Stat, WatchedEvent};

use super::future::{jittered, maybe, BoxFuture};
use super::recovery::{Armed, Event, Input, Read};
use crate::error::ZkFailure;
use crate::store::Stamp;

/// A read's raw result.
pub(crate) enum ReadDone {
    Fetch(Result<(Vec<u8>, Stat), zookeeper_client::Error>),
    Stat(Result<Option<Stat>, zookeeper_client::Error>),
}

/// What [`Remote::next`] saw.
pub(crate) enum Seen {
    Input(Input),
    Read(ReadDone),
}

/// An arming in flight: the watch, once the records are registered with the stamp they say.
pub(crate) type Arming = BoxFuture<Result<PersistentWatcher, zookeeper_client::Error>>;

/// The watch, the arming, the read and the tick of one state.
pub(crate) struct Remote {
    payload: String,
    watcher: Option<PersistentWatcher>,
    arming: Option<Arming>,
    /// What the arming in flight registers the records with.
    arming_content: Option<Stamp>,
    /// What the last arming registered them with, until taken.
    registered: Option<Stamp>,
    reading: Option<BoxFuture<ReadDone>>,
    tick: Pin<Box<Sleep>>,
    check: (Duration, Duration),
}

impl Remote {
    pub(crate) fn new(payload: String, check: (Duration, Duration)) -> Remote {
        Remote {
            payload,
            watcher: None,
            arming: None,
            arming_content: None,
            registered: None,
            reading: None,
            tick: Box::pin(tokio::time::sleep(jittered(check))),
            check,
        }
    }

    /// Forgets the session's watch, arming and read.
    pub(crate) fn drop_session(&mut self) {
        self.watcher = None;
        self.arming = None;
        self.reading = None;
    }

    /// Starts arming (the task builds the future: it registers the records with `content`).
    pub(crate) fn arm(&mut self, arming: Arming, content: Option<Stamp>) {
        self.arming_content = content;
        self.arming = Some(arming);
    }

    /// What the last successful arming registered the records with.
    pub(crate) fn take_registered(&mut self) -> Option<Stamp> {
        self.registered.take()
    }

    /// Starts `read` of the payload with `client`.
    pub(crate) fn start_read(&mut self, client: &Client, read: Read) {
        let (client, payload) = (client.clone(), self.payload.clone());
        self.reading = Some(match read {
            Read::Fetch => {
                Box::pin(async move { ReadDone::Fetch(client.get_data(&payload).await) })
            }
            Read::Stat => {
                Box::pin(async move { ReadDone::Stat(client.check_stat(&payload).await) })
            }
        });
    }

    /// The periodic check's bounds changed (an instance joined or left): a tighter one takes
    /// effect now.
    pub(crate) fn set_check(&mut self, check: (Duration, Duration)) {
        self.check = check;
        let next = Instant::now() + jittered(check);
        if next < self.tick.deadline() {
            self.tick.as_mut().reset(next);
        }
    }

    /// Waits for the next watch event, arming, read or tick. Cancellation-safe.
    pub(crate) async fn next(&mut self) -> Seen {
        tokio::select! {
            // In this order when several are ready: the watch's events first, then the arming,
            // the read in flight and the tick.
            biased;
            event = async {
                match self.watcher.as_mut() {
                    Some(watcher) => watcher.changed().await,
                    None => std::future::pending().await,
                }
            } => Seen::Input(Input::Event(self.event(event))),
            armed = maybe(&mut self.arming) => Seen::Input(Input::Armed(self.armed(armed))),
            done = maybe(&mut self.reading) => Seen::Read(done),
            () = &mut self.tick => {
                let next = jittered(self.check);
                self.tick.as_mut().reset(Instant::now() + next);
                Seen::Input(Input::Tick)
            }
        }
    }

    fn event(&mut self, event: WatchedEvent) -> Event {
        match event.event_type {
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
        }
    }

    fn armed(&mut self, armed: Result<PersistentWatcher, zookeeper_client::Error>) -> Armed {
        match armed {
            Ok(watcher) => {
                self.watcher = Some(watcher);
                self.registered = self.arming_content.take();
                Armed::Ok
            }
            Err(err) if ZkFailure::of(&err).is_session_over() => Armed::SessionOver,
            Err(err) => {
                tracing::debug!(payload = %self.payload, error = %err, "cannot arm the watch yet; retrying");
                Armed::Transient
            }
        }
    }
}
