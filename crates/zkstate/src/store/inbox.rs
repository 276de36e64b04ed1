//! The writer's inbox: what it is asked to do ([`Request`]), and [`Feed`], the one capability
//! to ask it. Readers hold a [`Store`] and cannot send; a feed is made by the writer's owner
//! ([`Writer::feed`](super::Writer::feed)) and lent only to the code that writes or refreshes
//! the copy (an update's context, a current read).

use std::sync::Arc;

use futures::channel::mpsc;
use serde_json::Value;
use tokio::sync::oneshot;

use super::codec;
use super::reader::Store;
use super::snapshot::{Stamp, VersionTree};
use crate::error::Error;

/// The sending side of the writer's inbox.
pub(super) type Sender<T> = mpsc::UnboundedSender<Request<T>>;

/// The writer's inbox.
pub(super) type Inbox<T> = mpsc::UnboundedReceiver<Request<T>>;

/// A new inbox. futures' channel, not tokio's: tokio's allocates a block of 32 slots up front
/// (1 KiB with its channel), and most copies are idle most of their life.
pub(super) fn channel<T>() -> (Sender<T>, Inbox<T>) {
    mpsc::unbounded()
}

/// What the writer is asked to do. Only the writer's owner (the sync task) receives these.
pub(crate) enum Request<T> {
    /// A local write is about to be sent: its watch event will come back.
    WriteStarted,
    /// A local write was acknowledged: apply it, then answer. Boxed: every message of the inbox
    /// is as large as its largest kind.
    Acknowledged(Box<Acknowledged<T>>),
    /// A local write ended without an acknowledgement (refused, or its outcome resolved).
    WriteAbandoned,
    /// Read the payload again and answer with the stamp the copy holds afterwards, or the fault.
    Refresh(oneshot::Sender<Result<Stamp, Error>>),
    /// A payload a write read under the lock: apply it as a fetched one, then answer.
    Offered(Box<Offered>),
}

/// A write acknowledged by ZooKeeper, handed to the writer.
pub(crate) struct Acknowledged<T> {
    pub(crate) value: T,
    pub(crate) json: Value,
    /// The bytes written (`None` for a local-only state): see
    /// [`Json::written`](super::Json::written).
    pub(crate) stored: Option<Vec<u8>>,
    /// The tree of the version the write was made from (by its mzxid), parsed by the update:
    /// the diff uses it when the copy still holds that version.
    pub(crate) base: VersionTree,
    pub(crate) stamp: Stamp,
    /// The encoded size, to decide where the diff runs.
    pub(crate) size: usize,
    /// Whether it was stored compressed.
    pub(crate) compressed: bool,
    /// The instance that wrote it.
    pub(crate) writer: Arc<str>,
    pub(crate) done: oneshot::Sender<()>,
}

/// A payload read by an update under the lock, handed to the writer.
pub(crate) struct Offered {
    pub(crate) bytes: Vec<u8>,
    pub(crate) stamp: Stamp,
    pub(crate) done: oneshot::Sender<Result<Fetched, Error>>,
}

/// What a fetched payload did to the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// The copy moved to this newer write.
    Applied(Stamp),
    /// The copy already held this write, or a newer one.
    Current(Stamp),
}

/// The capability to send requests to the copy's writer: announce and hand over local writes,
/// offer a payload read under the lock, ask for a refresh. Not `Clone`: the writer's owner makes
/// one per core ([`Writer::feed`](super::Writer::feed)), and it is lent by reference.
pub(crate) struct Feed<T> {
    store: Store<T>,
    requests: Sender<T>,
}

impl<T> Feed<T> {
    pub(super) fn new(store: Store<T>, requests: Sender<T>) -> Feed<T> {
        Feed { store, requests }
    }

    /// A reader of the copy this feed writes to.
    pub(crate) fn store(&self) -> &Store<T> {
        &self.store
    }

    fn closed(&self) -> Error {
        Error::Closed {
            dir: self.store.dir().to_string(),
        }
    }

    fn send(&self, request: Request<T>) -> Result<(), Error> {
        self.requests
            .unbounded_send(request)
            .map_err(|_| self.closed())
    }

    /// Asks the writer to read the payload again; answers with the stamp the copy holds
    /// afterwards, or the payload's fault.
    ///
    /// # Errors
    /// The fault ([`Error::Missing`], [`Error::Decode`]); a ZooKeeper error of the read;
    /// [`Error::Closed`] when the writer is gone.
    pub(crate) async fn refresh(&self) -> Result<Stamp, Error> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Refresh(done))?;
        answer.await.map_err(|_| self.closed())?
    }

    /// Hands a payload read under the lock to the writer, and waits until the copy holds it (or
    /// reports it does not decode).
    ///
    /// # Errors
    /// The payload's fault; [`Error::Closed`] when the writer is gone.
    pub(crate) async fn offer(&self, bytes: Vec<u8>, stamp: Stamp) -> Result<Fetched, Error> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Offered(Box::new(Offered { bytes, stamp, done })))?;
        answer.await.map_err(|_| self.closed())?
    }

    /// Announces a local write about to be sent; see [`InFlight`].
    pub(crate) fn write_started(&self) -> InFlight<'_, T> {
        let announced = self.send(Request::WriteStarted).is_ok();
        InFlight {
            feed: self,
            announced,
        }
    }
}

/// A local write announced to the writer: its watch event is recognised as this instance's echo
/// (answered with a stat, not a download). Hand its acknowledgement over with
/// [`acknowledge`](Self::acknowledge); dropped without, it tells the writer the write is over.
pub(crate) struct InFlight<'a, T> {
    feed: &'a Feed<T>,
    announced: bool,
}

impl<T> InFlight<'_, T> {
    /// Hands the acknowledged write to the writer and waits until the copy holds it (or a newer
    /// write).
    ///
    /// # Errors
    /// [`Error::Closed`] when the writer is gone (the state is closing): the write was applied in
    /// ZooKeeper all the same.
    ///
    /// `stored`: the bytes ZooKeeper holds now (`None` for a local-only state); `base`: the tree
    /// the update started from, and the mzxid of its version.
    pub(crate) async fn acknowledge(
        mut self,
        value: T,
        json: Value,
        stamp: Stamp,
        stored: Option<Vec<u8>>,
        writer: Arc<str>,
        base: VersionTree,
    ) -> Result<(), Error> {
        self.announced = false;
        let size = stored.as_ref().map_or(0, Vec::len);
        let compressed = stored.as_deref().is_some_and(codec::is_compressed);
        let (done, applied) = oneshot::channel();
        self.feed
            .send(Request::Acknowledged(Box::new(Acknowledged {
                value,
                json,
                stored,
                base,
                stamp,
                size,
                compressed,
                writer,
                done,
            })))?;
        applied.await.map_err(|_| self.feed.closed())
    }
}

impl<T> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if self.announced {
            // The writer gone means nobody waits for the echo either.
            let _ = self.feed.send(Request::WriteAbandoned);
        }
    }
}
