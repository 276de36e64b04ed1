//! The reaper: removes the commit markers of writers that are gone, so that `<dir>/writers`
//! holds only live (or recently live) writers' markers however many instances come and go.
//!
//! A writer keeps an ephemeral child `alive` under its marker in every session it writes in
//! (`write/marker.rs`). The sync task of every live state scans `<dir>/writers` at a random interval
//! between a third and a half of the grace period, the stats of all markers pipelined. A marker
//! with no `alive` child becomes a suspect, with its version; a suspect seen again at least the
//! grace period later, still childless and at the same version, is deleted at that version (the
//! delete fails if a writer came back meanwhile: `NotEmpty` or `BadVersion`). A writer resolving
//! a lost reply re-creates `alive` first, and gives up after half the grace period, so no marker
//! is reaped under a resolution. A marker thus outlives its writer by at most the session timeout
//! plus two grace periods (up to half a grace to be first seen, the grace, up to half a grace to
//! the scan that deletes it), provided some instance of the state is open meanwhile: the reaper
//! runs in the instances' sync tasks, so the markers of a state nobody opens wait for the next
//! instance that does.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use zookeeper_client::Client;

use super::future::{jittered, maybe, BoxFuture};
use crate::layout::Layout;

/// The reaper of one state: when to scan next, the scan in flight, the suspects, and the
/// deletes it started. Owned by the state's sync task, which polls [`Reaper::next`].
pub(crate) struct Reaper {
    layout: Arc<Layout>,
    grace: Duration,
    timer: Pin<Box<Sleep>>,
    scanning: Option<BoxFuture<Option<HashMap<String, Seen>>>>,
    suspects: HashMap<String, Suspect>,
    /// The deletes of the last scan's victims, while in flight.
    deleting: Option<BoxFuture<()>>,
}

impl Reaper {
    pub(crate) fn new(layout: Arc<Layout>, grace: Duration) -> Reaper {
        Reaper {
            layout,
            grace,
            timer: Box::pin(tokio::time::sleep(next_scan(grace))),
            scanning: None,
            suspects: HashMap::new(),
            deleting: None,
        }
    }

    /// Waits for the reaper's next event and handles it: a scan due (started with `session`
    /// when the state is `live` in it), a scan's result judged (its victims deleted with the
    /// session there is), a delete done. Cancellation-safe.
    pub(crate) async fn next(&mut self, session: Option<&Client>, live: bool) {
        tokio::select! {
            () = &mut self.timer => {
                self.timer.as_mut().reset(Instant::now() + next_scan(self.grace));
                if let (Some(client), true) = (session, live) {
                    self.start_scan(client);
                }
            }
            seen = maybe(&mut self.scanning) => self.judge(seen, session),
            () = maybe(&mut self.deleting) => {}
        }
    }

    /// Scans the commit markers, unless a scan is in flight.
    fn start_scan(&mut self, client: &Client) {
        if self.scanning.is_some() {
            return;
        }
        let (client, layout, limit) = (client.clone(), self.layout.clone(), self.grace / 3);
        self.scanning = Some(Box::pin(async move {
            match tokio::time::timeout(limit, scan(&client, &layout)).await {
                Ok(Ok(seen)) => Some(seen),
                Ok(Err(err)) => {
                    tracing::debug!(dir = %layout.dir, error = %err, "cannot scan the commit markers");
                    None
                }
                Err(_) => None,
            }
        }));
    }

    /// Judges a scan, and deletes what it condemned (without holding up the task).
    fn judge(&mut self, seen: Option<HashMap<String, Seen>>, session: Option<&Client>) {
        let Some(seen) = seen else {
            return;
        };
        let (victims, suspects) = judge(&self.suspects, &seen, Instant::now(), self.grace);
        let Some(client) = session.filter(|_| self.deleting.is_none()) else {
            // No session to delete with, or the last deletes still in flight: the victims stay
            // suspects, as they were.
            let old = std::mem::replace(&mut self.suspects, suspects);
            for (name, _) in victims {
                if let Some(suspect) = old.get(&name) {
                    self.suspects.insert(name, *suspect);
                }
            }
            return;
        };
        self.suspects = suspects;
        if !victims.is_empty() {
            let (client, layout) = (client.clone(), self.layout.clone());
            self.deleting = Some(Box::pin(
                async move { reap(&client, &layout, victims).await },
            ));
        }
    }
}

/// A marker seen without a live writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Suspect {
    version: i32,
    since: Instant,
}

/// What one scan saw of a marker: its version and whether it has an `alive` child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) version: i32,
    pub(crate) alive: bool,
}

/// One scan's verdict, pure: the markers to delete (at their version), and the suspects kept.
pub(crate) fn judge(
    suspects: &HashMap<String, Suspect>,
    seen: &HashMap<String, Seen>,
    now: Instant,
    grace: Duration,
) -> (Vec<(String, i32)>, HashMap<String, Suspect>) {
    let mut reap = Vec::new();
    let mut next = HashMap::new();
    for (name, seen) in seen {
        if seen.alive {
            continue;
        }
        match suspects.get(name) {
            Some(s) if s.version == seen.version && now.duration_since(s.since) >= grace => {
                reap.push((name.clone(), seen.version));
            }
            Some(s) if s.version == seen.version => {
                next.insert(name.clone(), *s);
            }
            _ => {
                next.insert(
                    name.clone(),
                    Suspect {
                        version: seen.version,
                        since: now,
                    },
                );
            }
        }
    }
    reap.sort();
    (reap, next)
}

/// Stats every marker under `writers`, pipelined.
pub(crate) async fn scan(
    client: &Client,
    layout: &Layout,
) -> Result<HashMap<String, Seen>, zookeeper_client::Error> {
    let children = match client.list_children(&layout.writers).await {
        Ok(children) => children,
        Err(zookeeper_client::Error::NoNode) => return Ok(HashMap::new()),
        Err(err) => return Err(err),
    };
    let stats: Vec<_> = children
        .iter()
        .map(|child| client.check_stat(&layout.writer(child)))
        .collect();
    let mut seen = HashMap::new();
    for (child, stat) in children.into_iter().zip(stats) {
        if let Some(stat) = stat.await? {
            seen.insert(
                child,
                Seen {
                    version: stat.version,
                    alive: stat.num_children > 0,
                },
            );
        }
    }
    Ok(seen)
}

/// Deletes the markers `judge` condemned, each at the version it was seen at.
pub(crate) async fn reap(client: &Client, layout: &Layout, victims: Vec<(String, i32)>) {
    for (name, version) in victims {
        let path = layout.writer(&name);
        match client.delete(&path, Some(version)).await {
            Ok(()) => {
                tracing::info!(%path, "removed the commit marker of a writer gone for the grace period");
                crate::metrics::marker_reaped(&layout.dir);
            }
            // A writer came back, or another reaper was first.
            Err(
                zookeeper_client::Error::NotEmpty
                | zookeeper_client::Error::BadVersion
                | zookeeper_client::Error::NoNode,
            ) => {}
            Err(err) => tracing::debug!(%path, error = %err, "cannot remove a commit marker"),
        }
    }
}

/// The pause before the next scan: between a third and a half of the grace period.
pub(crate) fn next_scan(grace: Duration) -> Duration {
    jittered((grace / 3, grace / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(version: i32, alive: bool) -> Seen {
        Seen { version, alive }
    }

    #[test]
    fn a_marker_is_reaped_only_when_dead_and_unchanged_for_the_grace_period() {
        let grace = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut scan: HashMap<String, Seen> = HashMap::new();
        scan.insert("dead".into(), seen(3, false));
        scan.insert("live".into(), seen(5, true));
        scan.insert("changing".into(), seen(1, false));
        let (reap, suspects) = judge(&HashMap::new(), &scan, t0, grace);
        assert!(reap.is_empty(), "first sight is suspicion only");
        assert_eq!(suspects.len(), 2);

        // Half the grace later: nothing yet.
        let (reap, suspects) = judge(&suspects, &scan, t0 + grace / 2, grace);
        assert!(reap.is_empty());

        // The grace later: the unchanged dead marker goes; the changed one starts over.
        scan.insert("changing".into(), seen(2, false));
        let (reap, suspects) = judge(&suspects, &scan, t0 + grace, grace);
        assert_eq!(reap, vec![("dead".to_string(), 3)]);
        assert_eq!(suspects["changing"].since, t0 + grace);
    }

    #[test]
    fn a_writer_that_comes_back_clears_the_suspicion() {
        let grace = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut scan: HashMap<String, Seen> = HashMap::new();
        scan.insert("w".into(), seen(3, false));
        let (_, suspects) = judge(&HashMap::new(), &scan, t0, grace);
        scan.insert("w".into(), seen(3, true));
        let (reap, suspects) = judge(&suspects, &scan, t0 + grace, grace);
        assert!(reap.is_empty());
        assert!(suspects.is_empty());
    }
}
