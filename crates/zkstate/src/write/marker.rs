//! Commit markers: how a write whose reply was lost is resolved exactly once, and how a writer
//! says that it lives.
//!
//! Every write of the payload is one multi transaction: check the lock node, set the payload at
//! the version the update read, set `<dir>/writers/<id>` (this instance's marker) to a token
//! unique to this write, at the marker version this instance last saw, and delete the lock node.
//! When the reply is lost (connection loss, timeout, expiry), the marker tells the outcome once
//! ZooKeeper answers again:
//!
//! * the marker holds our token: the write landed;
//! * it does not, and still has the version we wrote against: we *fence* it by setting it to
//!   another value at that version. If the fence succeeds, the write in flight can never land (its
//!   marker version check fails), so it was not applied. If the fence fails with `BadVersion`,
//!   our write landed in between: read again;
//! * the marker is gone: the outcome cannot be established ([`Error::OutcomeUnknown`]), never
//!   "not applied": a write that landed may have been followed by the marker's removal.
//!
//! Only this instance writes its marker, so no other writer can confuse the cases.
//!
//! In each session it writes in, a writer keeps an ephemeral child `alive` under its marker.
//! The reaper (`sync/reaper.rs`) removes a marker only when it has no `alive` child and has not
//! changed for the marker grace period; a resolution gives up after half of it (with
//! `OutcomeUnknown`) and re-creates `alive` in its new session before it reads the marker.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Client, CreateMode, MultiWriteResult};

use super::resolve::{
    self, Action, Announced, Fenced, Input, Outcome, Request, Resolution, Unknown,
};
use crate::connection::Connection;
use crate::error::Error;
use crate::layout::Layout;
use crate::options::LEAVE_TIMEOUT;

/// What this instance knows between its writes: of its marker, and of the history as its last
/// write left it. Guarded by the handle's update mutex.
#[derive(Debug, Default)]
pub(crate) struct WriterState {
    /// The history as this writer's last write left it.
    pub(crate) history: crate::history::cache::Cache,
    /// The marker's version as of our last write or fence; `None` until first needed.
    pub(crate) marker_version: Option<i32>,
    /// The session whose `alive` child exists.
    alive_in: Option<i64>,
    /// Whether the marker (or its `alive` child) may exist: set before the first create is sent,
    /// so that a create whose reply was lost, or a call dropped meanwhile, is still cleaned up.
    created: bool,
    counter: u64,
}

/// A write whose reply was lost: where its marker is and what it set it to.
pub(crate) struct Pending<'a> {
    pub(crate) layout: &'a Layout,
    pub(crate) id: &'a str,
    pub(crate) token: &'a [u8],
    /// The marker version the write expected.
    pub(crate) version: i32,
}

/// The outcome of a write whose reply was lost.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Landed,
    NotApplied,
}

impl WriterState {
    /// The token of this writer's next write: who wrote it, in which session, its number, and a
    /// random nonce, so that nobody can write the token before the write itself does (a marker
    /// forged to look like a lost write's would otherwise make it resolve as landed).
    pub(crate) fn next_token(&mut self, id: &str, session: i64) -> Vec<u8> {
        self.counter += 1;
        let nonce: u64 = rand::random();
        format!(
            "{{\"writer\":\"{id}\",\"session\":\"{session:#x}\",\"write\":{},\"nonce\":\"{nonce:016x}\"}}",
            self.counter
        )
        .into_bytes()
    }

    /// Whether this instance may have a marker to remove at close.
    pub(crate) fn has_marker(&self) -> bool {
        self.created
    }

    /// Makes sure the marker exists, its version is known and its `alive` child belongs to
    /// `client`'s session: the create of each and the marker's stat travel together.
    pub(crate) async fn ensure_marker(
        &mut self,
        client: &Client,
        layout: &Layout,
        id: &str,
    ) -> Result<i32, Error> {
        let session = client.session_id().0;
        if let (Some(version), Some(alive)) = (self.marker_version, self.alive_in) {
            if alive == session {
                return Ok(version);
            }
        }
        let path = layout.writer(id);
        let alive = layout.writer_alive(id);
        let persistent = CreateMode::Persistent.with_acls(layout.acls());
        let ephemeral = CreateMode::Ephemeral.with_acls(layout.acls());
        self.created = true;
        for _ in 0..8 {
            let marker = client.create(&path, b"", &persistent);
            let presence = client.create(&alive, b"", &ephemeral);
            let stat = client.check_stat(&path);
            let (marker, presence, stat) = futures::join!(marker, presence, stat);
            match marker {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(zookeeper_client::Error::NoNode) => {
                    // `writers` only, not its parents: a state removed under a live handle
                    // (`zkstate rm`) is not brought back by its next update.
                    match client.create(&layout.writers, b"", &persistent).await {
                        Ok(_) | Err(zookeeper_client::Error::NodeExists) => continue,
                        Err(zookeeper_client::Error::NoNode) => {
                            return Err(Error::Missing {
                                path: layout.payload.clone(),
                            })
                        }
                        Err(err) => {
                            return Err(Error::from_zookeeper("creating", &layout.writers, err))
                        }
                    }
                }
                Err(err) => return Err(Error::from_zookeeper("creating", &path, err)),
            }
            match presence {
                Ok(_) => {}
                Err(zookeeper_client::Error::NodeExists) => {
                    if !replace_presence(client, &alive).await? {
                        continue;
                    }
                }
                // The marker vanished between the two creates: start over.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(err) => return Err(Error::from_zookeeper("creating", &alive, err)),
            }
            match stat {
                Ok(Some(stat)) => {
                    self.marker_version = Some(stat.version);
                    self.alive_in = Some(session);
                    return Ok(stat.version);
                }
                Ok(None) => continue,
                Err(err) => return Err(Error::from_zookeeper("reading", &path, err)),
            }
        }
        Err(Error::from_zookeeper(
            "creating",
            &path,
            zookeeper_client::Error::UnexpectedError("the marker keeps vanishing".into()),
        ))
    }

    /// Our marker's version changed under us (a fence, or the marker was re-created): learn it
    /// again before the next write.
    pub(crate) fn forget(&mut self) {
        self.marker_version = None;
        self.alive_in = None;
    }

    /// Records the marker version our acknowledged write left.
    pub(crate) fn wrote(&mut self, version: i32) {
        self.marker_version = Some(version);
    }

    /// Finds out whether the write that set the marker to `token` (at `version`) landed: through
    /// the write's own session while it lives, else through the container's next session. The
    /// decisions are [`Resolution::step`]'s; this makes its requests, each within what is left of
    /// `deadline` (and at most 10 s).
    ///
    /// # Errors
    /// [`Error::OutcomeUnknown`] when the marker vanished, nothing could be learned within
    /// `deadline`, or no session is left to ask (the write's session is over and the container
    /// was closed: the write may have landed just before).
    pub(crate) async fn resolve(
        &mut self,
        own: &Client,
        conn: &Connection,
        write: Pending<'_>,
        deadline: Duration,
    ) -> Result<Resolved, Error> {
        let until = Instant::now() + deadline;
        let mut resolution = Resolution::new(write.version, self.alive_in);
        let mut action = Action::FindSession { pause: false };
        let mut client = own.clone();
        loop {
            if let Action::FindSession { pause: true } = action {
                pause().await;
            }
            // After the pause: no request goes out past the deadline.
            let left = until.saturating_duration_since(Instant::now());
            let step = left.min(Duration::from_secs(10));
            let input = match action.clone() {
                Action::FindSession { .. } => match find_session(own, conn, left, step).await {
                    Ok(found) => {
                        client = found;
                        Input::Session(client.session_id().0)
                    }
                    Err(input) => input,
                },
                Action::Announce => announce(&client, &write, step).await,
                Action::Read => read(&client, &write, step).await,
                Action::Fence => fence(&client, &write, step).await,
                Action::Finish(outcome) => {
                    self.alive_in = resolution.alive_in;
                    return self.finish(outcome, &write, deadline);
                }
            };
            // Every input answers the action just taken, so the machine always has a next one.
            match resolution.step(input) {
                Some(next) => action = next,
                None => {
                    return Err(outcome_unknown(
                        &write,
                        "the resolution lost its way".into(),
                    ));
                }
            }
        }
    }

    /// What a finished resolution means for the write and for what we know of the marker.
    fn finish(
        &mut self,
        outcome: Outcome,
        write: &Pending<'_>,
        deadline: Duration,
    ) -> Result<Resolved, Error> {
        let path = write.layout.writer(write.id);
        let alive = write.layout.writer_alive(write.id);
        let reason = match outcome {
            Outcome::Landed { marker_version } => {
                self.marker_version = Some(marker_version);
                return Ok(Resolved::Landed);
            }
            Outcome::NotApplied { marker_version } => {
                self.marker_version = Some(marker_version);
                return Ok(Resolved::NotApplied);
            }
            Outcome::Unknown(Unknown::Removed) => {
                self.forget();
                format!("its commit marker {path} was removed")
            }
            Outcome::Unknown(Unknown::Deadline) => format!(
                "no zookeeper session could read the commit marker {path} within {deadline:?}"
            ),
            Outcome::Unknown(Unknown::Closed) => {
                format!("the connection was closed before the commit marker {path} could be read")
            }
            Outcome::Unknown(Unknown::Failed(request, err)) => {
                let (op, node) = match request {
                    Request::Announce => ("creating", &alive),
                    Request::Read => ("reading", &path),
                    Request::Fence => ("fencing", &path),
                };
                format!("{op} {node}: {err}")
            }
        };
        Err(outcome_unknown(write, reason))
    }

    /// Removes the marker and its `alive` child (at close), whatever their versions: only this
    /// instance writes its marker (its id is unique), and a marker whose last write's outcome was
    /// unknown, or whose create's reply was lost, must go too. The two deletes travel together;
    /// a lost reply is retried until `LEAVE_TIMEOUT`, after which the reaper removes the marker.
    pub(crate) async fn remove(&mut self, client: &Client, layout: &Layout, id: &str) {
        if !std::mem::take(&mut self.created) {
            return;
        }
        self.marker_version = None;
        self.alive_in = None;
        let (alive, path) = (layout.writer_alive(id), layout.writer(id));
        let deletes = async {
            loop {
                let (presence, marker) =
                    futures::join!(client.delete(&alive, None), client.delete(&path, None));
                let failure = [presence, marker]
                    .into_iter()
                    .find_map(|r| r.err().filter(|e| *e != zookeeper_client::Error::NoNode));
                match failure {
                    None => return Ok(()),
                    Some(zookeeper_client::Error::ConnectionLoss) => continue,
                    Some(err) => return Err(err),
                }
            }
        };
        match tokio::time::timeout(LEAVE_TIMEOUT, deletes).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!(%path, error = %err, "commit marker left for the reaper")
            }
            Err(_) => tracing::debug!(%path, "commit marker left for the reaper (no answer)"),
        }
    }
}

fn outcome_unknown(write: &Pending<'_>, reason: String) -> Error {
    Error::OutcomeUnknown {
        path: write.layout.payload.clone(),
        reason,
    }
}

/// The write's own session while it lives (it answers even after the container was closed), else
/// the container's next one, waiting at most `step`.
async fn find_session(
    own: &Client,
    conn: &Connection,
    left: Duration,
    step: Duration,
) -> Result<Client, Input> {
    if left.is_zero() {
        return Err(Input::Deadline);
    }
    if !own.state().is_terminated() {
        return Ok(own.clone());
    }
    match conn.wait_connected(step).await {
        Ok(client) => Ok(client),
        Err(crate::ConnectError::Closed) => Err(Input::Closed),
        Err(_) => Err(Input::NoSession),
    }
}

/// Creates `alive` in `client`'s session, replacing one left by an earlier session of ours.
async fn announce(client: &Client, write: &Pending<'_>, step: Duration) -> Input {
    let alive = write.layout.writer_alive(write.id);
    let ephemeral = CreateMode::Ephemeral.with_acls(write.layout.acls());
    let created = tokio::time::timeout(step, client.create(&alive, b"", &ephemeral)).await;
    Input::Announced(match created {
        Ok(Ok(_)) => Announced::Created,
        Ok(Err(zookeeper_client::Error::NodeExists)) => {
            let replaced = tokio::time::timeout(step, replace_presence(client, &alive)).await;
            Announced::Exists {
                replaced: matches!(replaced, Ok(Ok(true))),
            }
        }
        Ok(Err(zookeeper_client::Error::NoNode)) => Announced::NoNode,
        Ok(Err(err)) => Announced::Failed(err),
        Err(_) => Announced::TimedOut,
    })
}

/// Syncs and reads the marker: whether it holds the lost write's token.
async fn read(client: &Client, write: &Pending<'_>, step: Duration) -> Input {
    let path = write.layout.writer(write.id);
    let sync = client.sync(&path);
    let read = client.get_data(&path);
    let outcome = tokio::time::timeout(step, async { (sync.await, read.await) }).await;
    Input::Read(match outcome {
        Ok((_, Ok((data, stat)))) => resolve::Read::Marker {
            ours: data == write.token,
            version: stat.version,
        },
        Ok((_, Err(zookeeper_client::Error::NoNode))) => resolve::Read::NoNode,
        Ok((_, Err(err))) => {
            tracing::debug!(%path, error = %err, "resolving a write: marker read failed");
            resolve::Read::Failed(err)
        }
        Err(_) => resolve::Read::TimedOut,
    })
}

/// Sets the marker to a fence at the version the lost write expected.
async fn fence(client: &Client, write: &Pending<'_>, step: Duration) -> Input {
    let path = write.layout.writer(write.id);
    let fence = client.set_data(&path, b"{\"fenced\":true}", Some(write.version));
    Input::Fenced(match tokio::time::timeout(step, fence).await {
        Ok(Ok(stat)) => Fenced::Set {
            version: stat.version,
        },
        Ok(Err(zookeeper_client::Error::BadVersion)) => Fenced::BadVersion,
        Ok(Err(err)) => Fenced::Failed(err),
        Err(_) => Fenced::TimedOut,
    })
}

/// The pause between two attempts of a resolution after a failed request.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Replaces an `alive` node left by an earlier session of ours (not yet expired on the server).
/// `Ok(false)`: it vanished meanwhile; try again.
async fn replace_presence(client: &Client, alive: &str) -> Result<bool, Error> {
    let ephemeral_of = |stat: &zookeeper_client::Stat| stat.ephemeral_owner;
    match client.check_stat(alive).await {
        Ok(Some(stat)) if ephemeral_of(&stat) == client.session_id().0 => Ok(true),
        Ok(Some(stat)) => match client.delete(alive, Some(stat.version)).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(false),
            Err(zookeeper_client::Error::BadVersion) => Ok(false),
            Err(err) => Err(Error::from_zookeeper("replacing", alive, err)),
        },
        Ok(None) => Ok(false),
        Err(err) => Err(Error::from_zookeeper("reading", alive, err)),
    }
}

/// The payload's and the marker's stats from a committed write's results.
pub(crate) fn committed_stats(
    results: Vec<MultiWriteResult>,
) -> Option<(zookeeper_client::Stat, zookeeper_client::Stat)> {
    let mut stats = results.into_iter().filter_map(|r| match r {
        MultiWriteResult::SetData { stat } => Some(stat),
        _ => None,
    });
    Some((stats.next()?, stats.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_cannot_be_told_from_the_writer_session_and_count() {
        let (mut a, mut b) = (WriterState::default(), WriterState::default());
        let (first_a, first_b) = (a.next_token("w", 0x1f), b.next_token("w", 0x1f));
        assert_ne!(
            first_a, first_b,
            "two writers' first tokens differ by their nonce"
        );
        let token: serde_json::Value = serde_json::from_slice(&first_a).expect("json");
        assert_eq!(token["writer"], "w");
        assert_eq!(token["session"], "0x1f");
        assert_eq!(token["write"], 1);
        assert_eq!(token["nonce"].as_str().map(str::len), Some(16));
        assert_ne!(a.next_token("w", 0x1f), first_a);
    }
}
