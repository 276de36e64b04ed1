//! Exclusive, version-checked writes under a Curator-compatible lock.
//!
//! One update is, in order: take the in-process update mutex (one update at a time per state),
//! take `<dir>/lock` (Curator's InterProcessMutex layout, through zookeeper-client's
//! `Client::lock`), pick the base value (the local copy, or a fresh read for the re-reading
//! update), run the closure on a copy, and send one multi transaction that checks the lock node,
//! sets the payload at the base version and sets this writer's commit marker (see [`marker`]).
//! The call returns as soon as that transaction is acknowledged and the local copy updated; the
//! lock node is deleted in the background, so the caller never waits for the release.

pub(crate) mod marker;

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::Serialize;
use zookeeper_client::{CheckWriteError, CreateMode, LockOptions, LockPrefix, MultiWriteResult};

use self::marker::{Resolved, WriterState};
use crate::connection::Connection;
use crate::error::{Error, TryUpdateError};
use crate::state::changes::Origin;
use crate::state::store::{Stamp, Store};
use crate::sync::fetch_and_apply;

/// How many times the re-reading update starts over after a write that was not applied
/// (an external writer bumped the version, the lock was lost, the reply was lost and the write did
/// not land) before it gives up with the last error.
const MAX_ATTEMPTS: usize = 16;

/// Which base an update starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    /// The local copy; a version mismatch is a `StaleWrite` (the seed's guarantee 1).
    Local,
    /// A read made under the lock; only external writers can make it retry.
    Latest,
    /// Exactly this payload version (compare-and-set); any other is a `StaleWrite`.
    Exact(i32),
}

/// Why one attempt did not apply its write.
enum NotApplied<E> {
    /// Final: return this to the caller.
    Fail(TryUpdateError<E>),
    /// Try again with a fresh base (re-reading update only), remembering why.
    Retry(Error),
}

impl<E> From<Error> for NotApplied<E> {
    fn from(err: Error) -> Self {
        NotApplied::Fail(TryUpdateError::State(err))
    }
}

pub(crate) async fn update<T, E, F>(
    store: &Store<T>,
    conn: &Connection,
    writer: &mut WriterState,
    base: Base,
    mut f: F,
) -> Result<i32, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let mut last = None;
    for _ in 0..MAX_ATTEMPTS {
        match attempt(store, conn, writer, base, &mut f).await {
            Ok(version) => return Ok(version),
            Err(NotApplied::Fail(err)) => return Err(err),
            Err(NotApplied::Retry(err)) if base == Base::Latest => {
                // Not in a tight loop while the connection replaces an expired session.
                let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 50..150);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                tracing::debug!(dir = %store.layout.dir, error = %err, "update not applied; starting over");
                last = Some(err);
            }
            Err(NotApplied::Retry(err)) => return Err(TryUpdateError::State(err)),
        }
    }
    Err(TryUpdateError::State(last.unwrap_or(Error::Closed {
        dir: store.layout.dir.clone(),
    })))
}

fn timeout_error(op: &'static str, path: &str, waited: std::time::Duration) -> Error {
    Error::Timeout {
        op,
        path: path.to_string(),
        waited,
    }
}

async fn attempt<T, E, F>(
    store: &Store<T>,
    conn: &Connection,
    writer: &mut WriterState,
    base: Base,
    f: &mut F,
) -> Result<i32, NotApplied<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let layout = &store.layout;
    let opts = &store.options;
    let client = conn
        .wait_connected(opts.request_timeout)
        .await
        .map_err(|err| match err {
            crate::ConnectError::Closed => Error::Closed {
                dir: layout.dir.clone(),
            },
            _ => timeout_error("connecting for", &layout.payload, opts.request_timeout),
        })?;
    let marker_version = match tokio::time::timeout(
        opts.request_timeout,
        writer.ensure_marker(&client, layout, &store.id),
    )
    .await
    {
        Ok(result) => result?,
        Err(_) => {
            return Err(
                timeout_error("creating", &layout.writer(&store.id), opts.request_timeout).into(),
            )
        }
    };

    let prefix = LockPrefix::new_curator(&layout.lock, "lock-")
        .map_err(|e| Error::zk("locking", &layout.lock, e))?;
    let options = LockOptions::new(layout.acls())
        .with_ancestor_options(CreateMode::Persistent.with_acls(layout.acls()))
        .map_err(|e| Error::zk("locking", &layout.lock, e))?;
    let lock = match tokio::time::timeout(
        opts.lock_timeout,
        client.lock(prefix, store.id.as_bytes(), options),
    )
    .await
    {
        Err(_) => {
            return Err(timeout_error("acquiring lock", &layout.lock, opts.lock_timeout).into())
        }
        Ok(Err(
            err @ (zookeeper_client::Error::SessionExpired
            | zookeeper_client::Error::RuntimeInconsistent),
        )) => {
            return Err(NotApplied::Retry(Error::zk(
                "acquiring lock",
                &layout.lock,
                err,
            )))
        }
        Ok(Err(err)) => return Err(Error::zk("acquiring lock", &layout.lock, err).into()),
        Ok(Ok(lock)) => lock,
    };

    // Set when ZooKeeper holds a payload that does not decode: the re-reading update then
    // writes over it, at its version, from the last good value.
    let mut over_bad: Option<i32> = None;
    for round in 0..MAX_ATTEMPTS {
        // The re-reading update starts from the local copy too: it is usually current, which saves a
        // read. If it is not, the version check fails, nothing is written, and the update goes again
        // from a fresh read, still under the lock.
        let snapshot = store.load();
        let mut value = T::deserialize(snapshot.json()).map_err(|e| Error::Decode {
            path: layout.payload.clone(),
            version: snapshot.version(),
            message: e.to_string(),
        })?;
        let base_version = match base {
            Base::Latest => over_bad.unwrap_or(snapshot.version()),
            Base::Local => snapshot.version(),
            Base::Exact(version) => version,
        };
        drop(snapshot);

        match catch_unwind(AssertUnwindSafe(|| f(&mut value))) {
            Err(_) => {
                return Err(Error::UpdatePanicked {
                    path: layout.payload.clone(),
                }
                .into())
            }
            Ok(Err(err)) => return Err(NotApplied::Fail(TryUpdateError::Aborted(err))),
            Ok(Ok(())) => {}
        }
        let json = serde_json::to_value(&value).map_err(|e| Error::Encode {
            path: layout.payload.clone(),
            message: e.to_string(),
        })?;
        // Serialising a Value cannot fail: its map keys are strings.
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        if bytes.len() > opts.max_payload {
            return Err(Error::PayloadTooLarge {
                path: layout.payload.clone(),
                size: bytes.len(),
                limit: opts.max_payload,
            }
            .into());
        }

        let token = writer.next_token(&store.id);
        let marker_path = layout.writer(&store.id);
        let mut txn = lock.new_check_writer();
        let staged = txn
            .add_set_data(&layout.payload, &bytes, Some(base_version))
            .and_then(|_| txn.add_set_data(&marker_path, &token, Some(marker_version)));
        if let Err(err) = staged {
            return Err(Error::zk("writing", &layout.payload, err).into());
        }
        let outcome = tokio::time::timeout(opts.request_timeout, txn.commit()).await;
        let failure = match outcome {
            Ok(Ok(results)) => {
                let mut stats = results.into_iter().filter_map(|r| match r {
                    MultiWriteResult::SetData { stat } => Some(stat),
                    _ => None,
                });
                let (Some(payload_stat), Some(marker_stat)) = (stats.next(), stats.next()) else {
                    return Err(Error::zk(
                        "writing",
                        &layout.payload,
                        zookeeper_client::Error::UnexpectedError("multi returned no stats".into()),
                    )
                    .into());
                };
                writer.marker_version = Some(marker_stat.version);
                store.apply(value, json, Stamp::of(&payload_stat), Origin::Local);
                store.note_own_write();
                store.mark_verified();
                return Ok(payload_stat.version);
            }
            Ok(Err(failure)) => Some(failure),
            Err(_) => None,
        };
        return match failure {
            // The lock node is gone (our session expired): the transaction failed as a whole.
            Some(CheckWriteError::CheckFailed { source }) => Err(NotApplied::Retry(Error::zk(
                "writing",
                &layout.lock,
                source,
            ))),
            Some(CheckWriteError::OperationFailed {
                index: 0,
                source: zookeeper_client::Error::BadVersion,
            }) => {
                let remote = match refresh(store, &client).await {
                    Ok(version) => version,
                    Err(Error::Decode { version, .. }) => {
                        over_bad = Some(version);
                        version
                    }
                    Err(_) => -1,
                };
                if base == Base::Latest && remote >= 0 && round + 1 < MAX_ATTEMPTS {
                    continue;
                }
                let err = Error::StaleWrite {
                    path: layout.payload.clone(),
                    local: base_version,
                    remote,
                };
                Err(NotApplied::Retry(err))
            }
            Some(CheckWriteError::OperationFailed { index: 1, source }) => {
                // Our knowledge of the marker was off: learn it again and start over.
                writer.marker_version = None;
                Err(NotApplied::Retry(Error::zk(
                    "writing",
                    &marker_path,
                    source,
                )))
            }
            Some(CheckWriteError::OperationFailed { source, .. }) => {
                Err(Error::zk("writing", &layout.payload, source).into())
            }
            Some(CheckWriteError::RequestFailed { source })
                if source.has_no_data_change_public() =>
            {
                Err(Error::zk("writing", &layout.payload, source).into())
            }
            // The reply was lost: find out whether the write landed before answering.
            Some(CheckWriteError::RequestFailed { .. }) | None => {
                drop(lock);
                tracing::info!(dir = %layout.dir, "reply to a write lost; resolving it through the commit marker");
                let resolved = writer
                    .resolve(&client, conn, store, &token, marker_version)
                    .await?;
                tracing::info!(dir = %layout.dir, outcome = ?resolved, "write resolved");
                match resolved {
                    Resolved::Landed => {
                        // Our write made version base+1; later writes may already exist.
                        if let Ok(client) = conn.wait_connected(opts.request_timeout).await {
                            let _ = tokio::time::timeout(
                                opts.request_timeout,
                                fetch_and_apply(&client, store),
                            )
                            .await;
                        }
                        Ok(base_version.saturating_add(1))
                    }
                    Resolved::NotApplied => Err(NotApplied::Retry(Error::zk(
                        "writing",
                        &layout.payload,
                        zookeeper_client::Error::ConnectionLoss,
                    ))),
                }
            }
        };
    }
    Err(NotApplied::Retry(Error::StaleWrite {
        path: layout.payload.clone(),
        local: store.stamp().version,
        remote: -1,
    }))
}

/// After a version mismatch: bring the local copy up to date so that a retry works; returns
/// ZooKeeper's version, or why it could not be read (a bad payload's `Decode` carries its version).
async fn refresh<T>(store: &Store<T>, client: &zookeeper_client::Client) -> Result<i32, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let timeout = store.options.request_timeout;
    match tokio::time::timeout(timeout, fetch_and_apply(client, store)).await {
        Ok(result) => result.map(|stamp| stamp.version),
        Err(_) => Err(timeout_error("reading", &store.layout.payload, timeout)),
    }
}

/// Errors that the server answered for the whole request: nothing was applied.
trait NoDataChange {
    fn has_no_data_change_public(&self) -> bool;
}

impl NoDataChange for zookeeper_client::Error {
    fn has_no_data_change_public(&self) -> bool {
        use zookeeper_client::Error::*;
        matches!(
            self,
            NoNode
                | NoAuth
                | BadVersion
                | NodeExists
                | NotEmpty
                | InvalidAcl
                | BadArguments(_)
                | MarshallingError
        )
    }
}

/// An update of a local-only state ([`ZkState::empty`](crate::ZkState::empty)): same closure
/// contract, no ZooKeeper; versions count up from 0.
pub(crate) fn update_local<T, E, F>(store: &Store<T>, mut f: F) -> Result<i32, TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let path = &store.layout.payload;
    let snapshot = store.load();
    let mut value = T::deserialize(snapshot.json()).map_err(|e| Error::Decode {
        path: path.clone(),
        version: snapshot.version(),
        message: e.to_string(),
    })?;
    let stamp = store.stamp();
    drop(snapshot);
    match catch_unwind(AssertUnwindSafe(|| f(&mut value))) {
        Err(_) => return Err(Error::UpdatePanicked { path: path.clone() }.into()),
        Ok(Err(err)) => return Err(TryUpdateError::Aborted(err)),
        Ok(Ok(())) => {}
    }
    let json = serde_json::to_value(&value).map_err(|e| Error::Encode {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let next = Stamp {
        version: stamp.version.saturating_add(1),
        mzxid: stamp.mzxid.saturating_add(1),
        mtime: stamp.mtime,
    };
    store.apply(value, json, next, Origin::Local);
    Ok(next.version)
}
