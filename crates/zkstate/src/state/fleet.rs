//! What the fleet holds: the live instances of a state and which write each has applied
//! (Kubernetes' `observedGeneration`, for a shared state). Used by [`ZkState`](crate::ZkState)
//! and, without opening the state, by operator tools ([`list_listeners`], [`rollout`],
//! [`wait_for_rollout`]).

use std::time::Duration;

use futures::future::select_all;
use futures::FutureExt;
use tokio::time::Instant;
use zookeeper_client::{Client, Stat};

use super::core::connected;
use crate::connection::Connection;
use crate::error::{within, Error};
use crate::layout::Layout;
use crate::listeners::{self, Listener};

/// Which live instances hold which write: see [`ZkState::rollout`](crate::ZkState::rollout).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rollout {
    /// The payload version ZooKeeper holds now.
    pub version: i32,
    /// Its zxid.
    pub mzxid: i64,
    /// The version waited for ([`wait_for_rollout`]), or `version`.
    pub target: i32,
    /// Live instances (listener records).
    pub total: usize,
    /// How many of them have applied `target` (or a later write of the same incarnation).
    pub applied: usize,
    /// The others, with what they last reported ([`Listener::applied_version`]; `None`: the
    /// instance does not report, so it cannot be counted as applied).
    pub pending: Vec<Listener>,
}

impl Rollout {
    /// Whether every live instance has applied the target, and ZooKeeper holds it.
    pub fn is_complete(&self) -> bool {
        self.pending.is_empty() && self.version >= self.target
    }

    pub(crate) fn local(version: i32, mzxid: i64) -> Rollout {
        Rollout {
            version,
            mzxid,
            target: version,
            total: 0,
            applied: 0,
            pending: Vec::new(),
        }
    }

    fn of(stat: &Stat, target: i32, listeners: Vec<Listener>) -> Rollout {
        let total = listeners.len();
        // Any write of this incarnation has an mzxid at or after its czxid.
        let has_applied = |l: &Listener| {
            l.applied_mzxid.is_some_and(|m| m >= stat.czxid)
                && l.applied_version.is_some_and(|v| v >= target)
        };
        let (applied, pending): (Vec<_>, Vec<_>) = listeners.into_iter().partition(has_applied);
        Rollout {
            version: stat.version,
            mzxid: stat.mzxid,
            target,
            total,
            applied: applied.len(),
            pending,
        }
    }
}

/// The live instances of the state at `dir` (resolved as [`Connection::resolve_dir`]), without
/// opening it: what an operator tool lists.
///
/// # Errors
/// [`Error::InvalidDir`], [`Error::Missing`] naming the listeners node when it does not exist,
/// [`Error::Timeout`], [`Error::PermissionDenied`], [`Error::ZooKeeper`].
pub async fn list_listeners(conn: &Connection, dir: &str) -> Result<Vec<Listener>, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    listeners_of(conn, &layout, conn.settings().connect_timeout()).await
}

pub(crate) async fn listeners_of(
    conn: &Connection,
    layout: &Layout,
    timeout: Duration,
) -> Result<Vec<Listener>, Error> {
    let client = connected(conn, layout, timeout).await?;
    within(
        "listing",
        &layout.listeners,
        timeout,
        listeners::list(&client, &layout.listeners),
    )
    .await
}

/// Which live instances of the state at `dir` have applied payload `version` (or, with `None`,
/// the version ZooKeeper holds), without opening the state.
///
/// # Errors
/// As [`list_listeners`]; [`Error::Missing`] naming the payload when there is none.
pub async fn rollout(conn: &Connection, dir: &str, version: Option<i32>) -> Result<Rollout, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    rollout_of(conn, &layout, conn.settings().connect_timeout(), version).await
}

pub(crate) async fn rollout_of(
    conn: &Connection,
    layout: &Layout,
    timeout: Duration,
    version: Option<i32>,
) -> Result<Rollout, Error> {
    let client = connected(conn, layout, timeout).await?;
    let (stat, listeners) = status(&client, layout, timeout).await?;
    Ok(Rollout::of(
        &stat,
        version.unwrap_or(stat.version),
        listeners,
    ))
}

/// The payload's stat and the records, the stat and the listing in one round trip.
async fn status(
    client: &Client,
    layout: &Layout,
    timeout: Duration,
) -> Result<(Stat, Vec<Listener>), Error> {
    let stat = client.check_stat(&layout.payload);
    let listed = listeners::list(client, &layout.listeners);
    let (stat, listed) = futures::join!(
        within("reading", &layout.payload, timeout, stat),
        within("listing", &layout.listeners, timeout, listed)
    );
    let Some(stat) = stat? else {
        return Err(Error::Missing {
            path: layout.payload.clone(),
        });
    };
    Ok((stat, listed?))
}

/// How often the payload is checked again when no record changes (the payload has no one-shot
/// watch here: it would disturb the persistent watches of states open on the same session,
/// ZOOKEEPER-4466).
const RECHECK: Duration = Duration::from_secs(1);

/// Waits until every live instance of the state at `dir` has applied payload `version` (or, with
/// `None`, the version ZooKeeper holds when the wait starts), watching the listeners directory and
/// the pending instances' records. `progress` sees every status computed on the way.
///
/// # Errors
/// [`Error::Timeout`] naming the listeners node when the rollout is not complete within
/// `timeout`; as [`rollout`] otherwise.
pub async fn wait_for_rollout(
    conn: &Connection,
    dir: &str,
    version: Option<i32>,
    timeout: Duration,
    progress: impl FnMut(&Rollout),
) -> Result<Rollout, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    wait_rollout(conn, &layout, version, timeout, progress).await
}

pub(crate) async fn wait_rollout(
    conn: &Connection,
    layout: &Layout,
    version: Option<i32>,
    timeout: Duration,
    mut progress: impl FnMut(&Rollout),
) -> Result<Rollout, Error> {
    let deadline = Instant::now() + timeout;
    let mut target = version;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let step = left.max(Duration::from_millis(1));
        let client = connected(conn, layout, step).await?;
        // The listing's watch first, so that no record that appears after it is missed.
        let (_, _, dir_watch) = within(
            "listing",
            &layout.listeners,
            step,
            client.get_and_watch_children(&layout.listeners),
        )
        .await?;
        let (stat, listeners) = status(&client, layout, step).await?;
        let goal = *target.get_or_insert(stat.version);
        let rollout = Rollout::of(&stat, goal, listeners);
        progress(&rollout);
        if rollout.is_complete() {
            return Ok(rollout);
        }
        if left.is_zero() {
            return Err(Error::Timeout {
                op: "waiting for the rollout of",
                path: layout.listeners.clone(),
                waited: timeout,
            });
        }
        // Wake on the listing, on any pending record, or to check the payload again.
        let watches: Vec<_> = rollout
            .pending
            .iter()
            .map(|l| client.get_and_watch_data(&layout.listener(&l.id)))
            .collect();
        let mut wakes = vec![async move {
            dir_watch.changed().await;
        }
        .boxed()];
        for watch in watches {
            if let Ok((_, _, watcher)) = watch.await {
                wakes.push(
                    async move {
                        watcher.changed().await;
                    }
                    .boxed(),
                );
            }
        }
        let _ = tokio::time::timeout(left.min(RECHECK), select_all(wakes)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(id: &str, version: Option<i32>, mzxid: Option<i64>) -> Listener {
        let mut l = Listener::parse(id, b"{}");
        l.applied_version = version;
        l.applied_mzxid = mzxid;
        l
    }

    fn stat(version: i32, mzxid: i64, czxid: i64) -> Stat {
        Stat {
            czxid,
            mzxid,
            pzxid: mzxid,
            ctime: 0,
            mtime: 0,
            version,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
        }
    }

    #[test]
    fn an_instance_has_applied_a_version_of_this_incarnation_or_later() {
        let current = stat(17, 500, 100);
        let rollout = Rollout::of(
            &current,
            17,
            vec![
                listener("on-17", Some(17), Some(500)),
                listener("ahead", Some(18), Some(510)),
                listener("on-16", Some(16), Some(490)),
                listener("old-incarnation", Some(17), Some(90)),
                listener("silent", None, None),
            ],
        );
        assert_eq!((rollout.applied, rollout.total), (2, 5));
        let pending: Vec<_> = rollout.pending.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(pending, ["on-16", "old-incarnation", "silent"]);
        assert!(!rollout.is_complete());
    }

    #[test]
    fn a_rollout_is_complete_when_zookeeper_holds_the_target_and_all_applied_it() {
        let rollout = Rollout::of(
            &stat(17, 500, 100),
            17,
            vec![listener("a", Some(17), Some(500))],
        );
        assert!(rollout.is_complete());
        let ahead = Rollout::of(&stat(16, 490, 100), 17, vec![]);
        assert!(
            !ahead.is_complete(),
            "ZooKeeper does not hold version 17 yet"
        );
    }
}
