//! What the fleet holds: the live instances of a state and which write each has applied
//! (Kubernetes' `observedGeneration`, for a shared state). Used by [`ZkState`](crate::ZkState)
//! and, without opening the state, by operator tools ([`list_listeners`], [`rollout`],
//! [`wait_for_rollout`]).

use std::time::Duration;

use futures::future::select_all;
use futures::StreamExt;
use tokio::time::Instant;
use zookeeper_client::{Client, OneshotWatcher, Stat};

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
    /// Live instances (listener records held by a session; planted records are not counted).
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

    /// The rollout of `target` over the live instances among `listeners` (planted records, which
    /// no session holds, are no instances and never counted).
    fn of(stat: &Stat, target: i32, listeners: Vec<Listener>) -> Rollout {
        let listeners: Vec<Listener> = listeners.into_iter().filter(|l| !l.planted).collect();
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

/// The live instances of the state at `dir`, now and after every change: a record created,
/// deleted, or rewritten with what its instance applied. Watches the listeners directory and
/// every record (one-shot watches, armed again after each change), no polling. An item is
/// yielded only when the records differ from the last item. A failed read (a lost session, a
/// timeout) is yielded as an error and retried after a pause; the stream ends when the
/// connection is closed.
///
/// # Errors
/// [`Error::InvalidDir`] for a bad `dir`.
pub fn watch_listeners(
    conn: &Connection,
    dir: &str,
) -> Result<impl futures::Stream<Item = Result<Vec<Listener>, Error>> + Send + 'static, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    let timeout = conn.settings().connect_timeout();
    let start = Watching {
        conn: conn.clone(),
        layout,
        timeout,
        last: None,
        wake: None,
    };
    Ok(futures::stream::unfold(start, |mut watching| async move {
        loop {
            if let Some(wake) = watching.wake.take() {
                wake.await;
            }
            match watching.read().await {
                Ok(Some(listeners)) => return Some((Ok(listeners), watching)),
                Ok(None) => continue,
                Err(Error::Closed { .. }) => return None,
                Err(err) => {
                    watching.wake = Some(Box::pin(tokio::time::sleep(RETRY)));
                    return Some((Err(err), watching));
                }
            }
        }
    }))
}

/// The pause before reading the records again after a failure.
const RETRY: Duration = Duration::from_millis(500);

type Wake = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The state of [`watch_listeners`].
struct Watching {
    conn: Connection,
    layout: Layout,
    timeout: Duration,
    last: Option<Vec<Listener>>,
    /// Completes on the next change of the listing or of a record.
    wake: Option<Wake>,
}

/// A wake that completes when `watcher` fires.
fn wake_on(watcher: OneshotWatcher) -> Wake {
    Box::pin(async move {
        watcher.changed().await;
    })
}

impl Watching {
    /// Reads the records with watches; `Some` when they differ from the last ones.
    async fn read(&mut self) -> Result<Option<Vec<Listener>>, Error> {
        let layout = &self.layout;
        let client = connected(&self.conn, layout, self.timeout).await?;
        let listed = within(
            "listing",
            &layout.listeners,
            self.timeout,
            client.get_and_watch_children(&layout.listeners),
        )
        .await;
        let (children, dir_watch) = match listed {
            Ok((children, _, watcher)) => (children, watcher),
            // No listeners node (yet): wait for it.
            Err(Error::Missing { .. }) => {
                self.wake = Some(wait_for_dir(&client, layout, self.timeout).await?);
                return Ok(self.changed(Vec::new()));
            }
            Err(err) => return Err(err),
        };
        let (listeners, wake) =
            read_records(&client, layout, self.timeout, &children, dir_watch).await?;
        self.wake = Some(wake);
        Ok(self.changed(listeners))
    }

    fn changed(&mut self, listeners: Vec<Listener>) -> Option<Vec<Listener>> {
        if self.last.as_ref() == Some(&listeners) {
            return None;
        }
        self.last = Some(listeners.clone());
        Some(listeners)
    }
}

/// A wake for the creation of the listeners directory.
async fn wait_for_dir(client: &Client, layout: &Layout, timeout: Duration) -> Result<Wake, Error> {
    let (_, watcher) = within(
        "watching",
        &layout.listeners,
        timeout,
        client.check_and_watch_stat(&layout.listeners),
    )
    .await?;
    Ok(wake_on(watcher))
}

/// Reads the records of `children` (pipelined) with watches: the records, sorted by id, and
/// a wake for the first change of any of them or of the listing (`dir_watch`).
async fn read_records(
    client: &Client,
    layout: &Layout,
    timeout: Duration,
    children: &[String],
    dir_watch: OneshotWatcher,
) -> Result<(Vec<Listener>, Wake), Error> {
    let reads: Vec<_> = children
        .iter()
        .map(|child| client.get_and_watch_data(&layout.listener(child)))
        .collect();
    let mut wakes = vec![wake_on(dir_watch)];
    let mut listeners = Vec::with_capacity(children.len());
    for (child, read) in children.iter().zip(reads) {
        match within("reading", &layout.listener(child), timeout, read).await {
            Ok((data, stat, watcher)) => {
                listeners.push(Listener::of_node(child, &data, &stat));
                wakes.push(wake_on(watcher));
            }
            // Gone since the listing: the listing's watch fires.
            Err(Error::Missing { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    listeners.sort_by(|a, b| a.id.cmp(&b.id));
    let wake: Wake = Box::pin(async move {
        select_all(wakes).await;
    });
    Ok((listeners, wake))
}

/// How often the payload is checked again while waiting for a rollout (a one-shot watch on it
/// would disturb the persistent watches of states open on the same session, ZOOKEEPER-4466).
const RECHECK: Duration = Duration::from_secs(1);

/// Waits until every live instance of the state at `dir` has applied payload `version` (or, with
/// `None`, the version ZooKeeper holds when the wait starts), following the records with
/// [`watch_listeners`]. `progress` sees every status computed on the way.
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
    let step = timeout.max(Duration::from_millis(1));
    let client = connected(conn, layout, step).await?;
    let stat = payload_stat(&client, layout, step).await?;
    let target = version.unwrap_or(stat.version);
    let listeners = watch_listeners(conn, &layout.dir)?;
    tokio::pin!(listeners);
    let mut current: Option<Vec<Listener>> = None;
    loop {
        if let Some(records) = &current {
            let stat = payload_stat(&client, layout, step).await?;
            let rollout = Rollout::of(&stat, target, records.clone());
            progress(&rollout);
            if rollout.is_complete() {
                return Ok(rollout);
            }
        }
        match next_wake(&mut listeners, deadline).await {
            RolloutWake::TimedOut => {
                return Err(Error::Timeout {
                    op: "waiting for the rollout of",
                    path: layout.listeners.clone(),
                    waited: timeout,
                });
            }
            RolloutWake::Records(records) => current = Some(records),
            RolloutWake::ReadFailed(err) => {
                tracing::debug!(dir = %layout.dir, error = %err, "reading the listener records failed; again");
            }
            RolloutWake::Closed => {
                return Err(Error::Closed {
                    dir: layout.dir.clone(),
                })
            }
            RolloutWake::Recheck => {}
        }
    }
}

/// The payload's stat; [`Error::Missing`] naming the payload when there is none.
async fn payload_stat(client: &Client, layout: &Layout, timeout: Duration) -> Result<Stat, Error> {
    let payload = &layout.payload;
    let stat = within("reading", payload, timeout, client.check_stat(payload)).await?;
    stat.ok_or_else(|| Error::Missing {
        path: payload.clone(),
    })
}

/// What ends a wait of [`wait_rollout`] for the next records.
enum RolloutWake {
    /// The deadline passed.
    TimedOut,
    /// The records changed.
    Records(Vec<Listener>),
    /// Reading them failed (the stream tries again).
    ReadFailed(Error),
    /// The connection was closed.
    Closed,
    /// [`RECHECK`] passed: check the payload again.
    Recheck,
}

/// Waits for the next records of `listeners`, at most [`RECHECK`] and never past `deadline`.
async fn next_wake<S>(listeners: &mut S, deadline: Instant) -> RolloutWake
where
    S: futures::Stream<Item = Result<Vec<Listener>, Error>> + Unpin,
{
    let next = tokio::time::timeout_at(deadline, async {
        tokio::select! {
            item = listeners.next() => Some(item),
            () = tokio::time::sleep(RECHECK) => None,
        }
    })
    .await;
    match next {
        Err(_) => RolloutWake::TimedOut,
        Ok(Some(Some(Ok(records)))) => RolloutWake::Records(records),
        Ok(Some(Some(Err(err)))) => RolloutWake::ReadFailed(err),
        Ok(Some(None)) => RolloutWake::Closed,
        Ok(None) => RolloutWake::Recheck,
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

    #[test]
    fn a_planted_record_is_never_counted() {
        let mut planted = listener("planted", None, None);
        planted.planted = true;
        let rollout = Rollout::of(
            &stat(17, 500, 100),
            17,
            vec![listener("a", Some(17), Some(500)), planted],
        );
        assert_eq!((rollout.applied, rollout.total), (1, 1));
        assert!(
            rollout.is_complete(),
            "a planted record cannot hold a rollout up"
        );
    }

    #[test]
    fn a_record_is_planted_when_its_node_is_persistent_whatever_its_data_says() {
        let data = br#"{"id":"x","hostname":"h","pid":1,"started_at_ms":1,"planted":false}"#;
        let persistent = stat(0, 1, 1);
        assert!(Listener::of_node("x", data, &persistent).planted);
        let ephemeral = Stat {
            ephemeral_owner: 0x42,
            ..persistent
        };
        let claims = br#"{"id":"x","planted":true}"#;
        assert!(!Listener::of_node("x", claims, &ephemeral).planted);
    }
}
