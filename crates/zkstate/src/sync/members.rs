//! Members: the listener records of the instances sharing one sync task, registered when they
//! join (and in every new session), deleted when they leave, without holding up the task.
//!
//! | event | what happens |
//! |---|---|
//! | an instance joined, live in a session | its record registered in that session (at most `REGISTRATIONS_IN_FLIGHT` requests in flight) |
//! | an instance joined, no live session | nothing yet: the arming of the next session registers it |
//! | an instance leaves, its record registered | the record deleted (bounded by `LEAVE_TIMEOUT`), then the instance is told |
//! | an instance leaves, no record | the instance is told at once |
//! | the payload re-created | every record registered again |

use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use zookeeper_client::{Client, CreateMode};

use super::future::BoxFuture;
use super::records::{Records, Work};
use crate::layout::Layout;
use crate::listeners;
use crate::options::LEAVE_TIMEOUT;
use crate::store::Stamp;

/// How many listener-record registrations one state has in flight at once.
const REGISTRATIONS_IN_FLIGHT: usize = 16;

/// The registrations and deletions in flight for one state's records.
pub(crate) struct Members {
    layout: Arc<Layout>,
    records: Arc<Records>,
    side: FuturesUnordered<BoxFuture<()>>,
}

impl Members {
    pub(crate) fn new(layout: Arc<Layout>, records: Arc<Records>) -> Members {
        Members {
            layout,
            records,
            side: FuturesUnordered::new(),
        }
    }

    /// Drives the registrations and deletions in flight; returns when an instance joined or is
    /// leaving (then call [`Members::joined`] and [`Members::leaving`]). Cancellation-safe.
    pub(crate) async fn next(&mut self) {
        loop {
            tokio::select! {
                Some(()) = self.side.next(), if !self.side.is_empty() => {}
                () = self.records.changed() => return,
            }
        }
    }

    /// Registers the records of instances that joined since session `generation` was armed;
    /// `applied` is what they say the copy holds, when they report.
    pub(crate) fn joined(&mut self, client: &Client, generation: u64, applied: Option<Stamp>) {
        let work = self.records.to_register(generation);
        if !work.is_empty() {
            self.register(client, work, applied);
        }
    }

    /// Registers every record again (the payload was re-created).
    pub(crate) fn all_again(&mut self, client: &Client, applied: Option<Stamp>) {
        let work = self.records.all();
        self.register(client, work, applied);
    }

    fn register(&mut self, client: &Client, work: Vec<Work>, applied: Option<Stamp>) {
        let (client, layout) = (client.clone(), self.layout.clone());
        self.side.push(Box::pin(async move {
            if let Err(err) = register(&client, &layout, &work, applied).await {
                tracing::debug!(dir = %layout.dir, error = %err, "cannot register listener records");
            }
        }));
    }

    /// Deletes the records of instances that are leaving, and tells each when its record is
    /// gone (at once when it had none or there is no session).
    pub(crate) fn leaving(&mut self, session: Option<&Client>) {
        for (id, had_record, done) in self.records.take_leaving() {
            let (Some(client), true) = (session, had_record) else {
                let _ = done.send(());
                continue;
            };
            let (client, path) = (client.clone(), self.layout.listener(&id));
            self.side.push(Box::pin(async move {
                let _ = tokio::time::timeout(LEAVE_TIMEOUT, client.delete(&path, None)).await;
                let _ = done.send(());
            }));
        }
    }

    /// At close: deletes every remaining record (each bounded by `LEAVE_TIMEOUT`) and tells
    /// every instance.
    pub(crate) async fn close(&mut self, session: Option<&Client>) {
        let mut deletes = Vec::new();
        for (id, had_record, done) in self.records.take_all() {
            if let (Some(client), true) = (session, had_record) {
                let (client, path) = (client.clone(), self.layout.listener(&id));
                deletes.push(async move {
                    let _ = tokio::time::timeout(LEAVE_TIMEOUT, client.delete(&path, None)).await;
                });
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        futures::future::join_all(deletes).await;
    }
}

/// Registers `work`'s records in this session (creating the listeners directory if an outside
/// actor removed it). A session without the right to write them serves without records.
pub(crate) async fn register(
    client: &Client,
    layout: &Layout,
    work: &[Work],
    applied: Option<Stamp>,
) -> Result<(), zookeeper_client::Error> {
    // A bounded number in flight: each registration's future holds its request until the reply,
    // and a thousand instances opened at once would otherwise hold a thousand of them together,
    // a peak that the allocator keeps as the process's memory afterwards.
    let mut results = Vec::with_capacity(work.len());
    for chunk in work.chunks(REGISTRATIONS_IN_FLIGHT) {
        let registrations = chunk
            .iter()
            .map(|w| register_one(client, layout, w, applied));
        results.extend(futures::future::join_all(registrations).await);
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

async fn register_one(
    client: &Client,
    layout: &Layout,
    w: &Work,
    applied: Option<Stamp>,
) -> Result<(), zookeeper_client::Error> {
    let record = match applied {
        Some(stamp) => w.record.applied(stamp.version, stamp.mzxid),
        None => w.record.clone(),
    };
    let path = layout.listener(&w.id);
    match listeners::register(client, &path, &record, layout.acls()).await {
        Err(zookeeper_client::Error::NoNode) => {
            // `listeners` only, not its parents: a state removed under its live instances is not
            // brought back by them (they register again when the payload is re-created).
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
