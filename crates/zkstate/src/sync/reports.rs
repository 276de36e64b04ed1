//! Reports: the listener records rewritten with what the copy applied, at most once per report
//! interval (the shortest any reporting instance asks for), coalescing the changes in between.
//!
//! | event | what happens |
//! |---|---|
//! | `schedule(now_holds)` | nothing when the records already hold it or no instance reports; else a report at the earliest moment the interval allows |
//! | the planned moment, a report in flight | nothing: planned again when it is done |
//! | the planned moment, no session | nothing: the next session registers the records with what the copy holds |
//! | the planned moment | every reporting record rewritten with the stamp the copy holds then (a record deleted by an outside actor is registered again) |
//! | a report done | what it wrote counts as reported if every record took it; planned again (another change meanwhile, or a failed write) |
//! | `registered(stamp)` | the records hold `stamp` (the arming registered them with it) |

use std::sync::Arc;

use tokio::time::Instant;
use zookeeper_client::Client;

use super::future::{maybe, BoxFuture};
use super::records::Records;
use crate::layout::Layout;
use crate::listeners;
use crate::store::Stamp;

/// The report machine of one state, owned by its sync task.
pub(crate) struct Reports {
    layout: Arc<Layout>,
    records: Arc<Records>,
    at: Option<Instant>,
    /// The report in flight: the stamp it writes, and whether every record took it.
    reporting: Option<BoxFuture<(Stamp, bool)>>,
    /// What the records hold: the stamp last written to every reporting record.
    reported: Option<Stamp>,
    last: Option<Instant>,
}

impl Reports {
    pub(crate) fn new(layout: Arc<Layout>, records: Arc<Records>) -> Reports {
        Reports {
            layout,
            records,
            at: None,
            reporting: None,
            reported: None,
            last: None,
        }
    }

    /// The records were registered with `stamp`.
    pub(crate) fn registered(&mut self, stamp: Stamp) {
        self.reported = Some(stamp);
    }

    /// Plans a report of `now_holds`, the stamp the copy holds.
    pub(crate) fn schedule(&mut self, now_holds: Stamp) {
        let Some(interval) = self.records.report_interval() else {
            return;
        };
        if self.reported == Some(now_holds) {
            return;
        }
        let earliest = self.last.map_or_else(Instant::now, |last| last + interval);
        let at = earliest.max(Instant::now());
        if self.at.is_none_or(|planned| at < planned) {
            self.at = Some(at);
        }
    }

    /// Waits for the planned moment or the report in flight, and handles it; `holds` is the
    /// stamp the copy holds now, `session` the client to write with. Cancellation-safe.
    pub(crate) async fn next(&mut self, session: Option<&Client>, holds: Stamp) {
        let at = self.at;
        tokio::select! {
            () = async {
                match at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => self.start(session, holds),
            (stamp, written) = maybe(&mut self.reporting) => {
                if written {
                    self.reported = Some(stamp);
                }
                self.schedule(holds);
            }
        }
    }

    /// Rewrites the reporting records with `stamp`.
    fn start(&mut self, session: Option<&Client>, stamp: Stamp) {
        self.at = None;
        if self.reporting.is_some() {
            return;
        }
        let Some(client) = session else {
            return;
        };
        self.last = Some(Instant::now());
        let work = self.records.reporting();
        let (client, layout) = (client.clone(), self.layout.clone());
        self.reporting = Some(Box::pin(async move {
            let writes = work.iter().map(|w| {
                let record = w.record.applied(stamp.version, stamp.mzxid);
                write(&client, &layout, layout.listener(&w.id), record)
            });
            let written = futures::future::join_all(writes)
                .await
                .into_iter()
                .filter(|ok| *ok)
                .count();
            crate::metrics::records_written(&layout.dir, written);
            (stamp, written == work.len())
        }));
    }
}

/// Writes one record; a record deleted by an outside actor comes back.
async fn write(
    client: &Client,
    layout: &Layout,
    path: String,
    record: listeners::Listener,
) -> bool {
    let result = match client.set_data(&path, &record.to_bytes(), None).await {
        Err(zookeeper_client::Error::NoNode) => {
            listeners::register(client, &path, &record, layout.acls()).await
        }
        other => other.map(|_| ()),
    };
    if let Err(err) = &result {
        tracing::debug!(%path, error = %err, "cannot report what was applied");
    }
    result.is_ok()
}
