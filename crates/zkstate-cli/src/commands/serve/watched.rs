//! One watched state: what follows it (a `ZkState<Value>`, or a plain read when opening one
//! would create nodes), its live instances, and the fan-out of its events to every page.
//!
//! Each event is serialized once, into an SSE frame held as `Bytes`, by the one task that
//! follows the state; every stream gets a clone of the same frame (a reference count, not a
//! copy) through a [`broadcast`] channel of [`STREAM_QUEUE`] frames. A stream that falls that
//! far behind is not buffered further: it skips to the newest frame, sends `lagged` and a fresh
//! snapshot (see [`super::events`]).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use tokio_util::task::AbortOnDropHandle;
use zkstate::{Connection, Listener, StateEvent, StateOptions, ZkState};

use super::error::{ApiError, ApiResult};
pub use super::frames::{frame, Item, STREAM_QUEUE};
use super::plain::{self, Copy};
use crate::commands::payload_path;

/// What follows the state's value.
enum Source {
    /// The library's state (shared with every other handle of the process).
    State(ZkState<Value>),
    /// A plain read kept current by a data watch: with writes off, for a state whose layout
    /// lacks `listeners`, `lock` or `writers` (opening a `ZkState` would create them).
    Plain(watch::Receiver<Copy>),
}

/// One watched state.
pub struct Watched {
    source: Source,
    listeners: watch::Receiver<Option<Vec<Listener>>>,
    frames: broadcast::Sender<Item>,
    /// The last request or stream end that used it, for closing it when idle.
    last_used: Mutex<Instant>,
    _follow: AbortOnDropHandle<()>,
}

impl Watched {
    /// Opens the state of `dir` and follows it and its instances. With `writes` off nothing is
    /// created: a state whose layout is complete opens as a `ZkState` (which then has nothing
    /// to create), any other as a plain read.
    ///
    /// # Errors
    /// 404 when `dir` has no payload; the library's errors as they map.
    pub async fn open(
        conn: &Connection,
        dir: &str,
        timeout: Duration,
        writes: bool,
    ) -> ApiResult<Watched> {
        let client = conn
            .wait_connected(timeout)
            .await
            .map_err(|err| ApiError::new(StatusCode::GATEWAY_TIMEOUT, err))?;
        let layout = zkstate::layout::Layout::new(dir);
        let stats: Vec<_> = layout
            .directories()
            .into_iter()
            .chain([layout.payload.as_str()])
            .map(|path| client.check_stat(path))
            .collect();
        let exists = zkstate::within("reading", dir, timeout, async {
            let mut out = Vec::with_capacity(stats.len());
            for stat in stats {
                out.push(stat.await?.is_some());
            }
            Ok(out)
        })
        .await?;
        if exists.last() != Some(&true) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("state directory {dir} does not exist"),
            ));
        }
        let (frames, _) = broadcast::channel(STREAM_QUEUE);
        let (tx, listeners) = watch::channel(None);
        let records = zkstate::watch_listeners(conn, dir)?.boxed();
        let instances = follow_listeners(records, tx, frames.clone());
        let (source, follow) = if writes || exists.iter().all(|e| *e) {
            // Not an instance of the application: no listener record, no reports; writes keep
            // the payload's encoding, and their history entries say they came through serve.
            let options = StateOptions::default()
                .with_listener_record(false)
                .with_report_interval(None)
                .with_request_timeout(timeout)
                .with_lock_timeout(timeout)
                .with_compression(zkstate::Compression::Keep)
                .with_program("zkstate", Some(env!("CARGO_PKG_VERSION").to_string()))
                .with_tool(zkstate::Tool::Serve);
            let state =
                ZkState::<Value>::expect_with_options(conn, dir, Some(timeout), options).await?;
            let changes = follow_state(state.subscribe(), frames.clone());
            let task = tokio::spawn(async move {
                futures::join!(changes, instances);
            });
            (Source::State(state), task)
        } else {
            let (copy, watcher) = plain::read(conn, &layout.payload, timeout).await?;
            let (tx, copy) = watch::channel(copy);
            let follow = plain::follow(
                conn.clone(),
                layout.payload.clone(),
                timeout,
                watcher,
                tx,
                frames.clone(),
            );
            let task = tokio::spawn(async move {
                futures::join!(follow, instances);
            });
            (Source::Plain(copy), task)
        };
        Ok(Watched {
            source,
            listeners,
            frames,
            last_used: Mutex::new(Instant::now()),
            _follow: AbortOnDropHandle::new(follow),
        })
    }

    /// The library's state, for writes: `None` for a plain read (only ever with writes off).
    pub fn state(&self) -> Option<&ZkState<Value>> {
        match &self.source {
            Source::State(state) => Some(state),
            Source::Plain(_) => None,
        }
    }

    /// A receiver of every frame from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Item> {
        self.frames.subscribe()
    }

    /// Marks it used now.
    pub fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// How long since it was last used.
    pub fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Stops following it (and waits for the library's state to close).
    pub async fn close(&self) {
        if let Source::State(state) = &self.source {
            state.close().await;
        }
    }

    /// Everything the state page shows: `GET /api/states/{dir}` and the `snapshot` event.
    pub async fn snapshot(
        &self,
        conn: &Connection,
        dir: &str,
        timeout: Duration,
    ) -> ApiResult<Value> {
        let (value, version, mzxid, czxid, size, mtime, fault) = match &self.source {
            Source::State(state) => {
                let client = conn
                    .wait_connected(timeout)
                    .await
                    .map_err(|err| ApiError::new(StatusCode::GATEWAY_TIMEOUT, err))?;
                let payload = payload_path(dir);
                let (read, stat) = futures::join!(
                    state.c_read(),
                    zkstate::within("reading", &payload, timeout, client.check_stat(&payload))
                );
                let (value, version, fault) = match read {
                    Ok(value) => (value.json().clone(), value.version(), None),
                    // A payload that does not decode: the last good value, and why.
                    Err(err @ zkstate::Error::Decode { .. }) => {
                        let last = state.d_read();
                        (last.json().clone(), last.version(), Some(err.to_string()))
                    }
                    Err(err) => return Err(err.into()),
                };
                let stat = stat?;
                let fresh = state.freshness();
                (
                    value,
                    version,
                    fresh.mzxid,
                    fresh.czxid,
                    stat.as_ref().map(|s| s.data_length),
                    stat.as_ref().map(|s| s.mtime),
                    fault,
                )
            }
            Source::Plain(copy) => {
                let copy = copy.borrow().clone();
                (
                    Value::clone(&copy.value),
                    copy.version,
                    copy.mzxid,
                    copy.czxid,
                    Some(copy.size),
                    Some(copy.mtime_ms),
                    copy.fault,
                )
            }
        };
        let followed = self.listeners.borrow().clone();
        let listeners = match followed {
            Some(listeners) => listeners,
            None => zkstate::list_listeners(conn, dir).await.unwrap_or_default(),
        };
        // Who applied the version shown, by the library's rule (the same as `zkstate rollout`).
        // A layout without `listeners` (a plain read) has no instances.
        let rollout = match zkstate::rollout(conn, dir, Some(version)).await {
            Ok(rollout) => {
                json!({"version": version, "applied": rollout.applied, "total": rollout.total})
            }
            Err(zkstate::Error::Missing { .. }) => {
                json!({"version": version, "applied": 0, "total": 0})
            }
            Err(err) => return Err(err.into()),
        };
        Ok(json!({
            "dir": dir,
            "value": value,
            "version": version,
            "mzxid": mzxid,
            "czxid": czxid,
            "size": size,
            "mtime_ms": mtime,
            "listeners": listeners,
            "rollout": rollout,
            "fault": fault,
        }))
    }
}

/// Serializes every event of the library's state once, for every stream.
async fn follow_state(mut changes: zkstate::Changes, frames: broadcast::Sender<Item>) {
    while let Some(event) = changes.next().await {
        let item = match event {
            StateEvent::Changed(batch) => Item::Frame(frame(
                "change",
                &json!({
                    "version": batch.version,
                    "mzxid": batch.mzxid,
                    "origin": match batch.origin {
                        zkstate::Origin::Local => "local",
                        _ => "remote",
                    },
                    "changes": batch.changes,
                    "value": batch.value(),
                    "size": batch.size,
                    "mtime_ms": batch.mtime_ms,
                }),
            )),
            StateEvent::Lagged { missed, .. } => Item::Resync { missed },
            StateEvent::Error(err) => {
                Item::Frame(frame("fault", &json!({ "message": err.to_string() })))
            }
            _ => continue,
        };
        // No stream open is fine: nothing to send.
        let _ = frames.send(item);
    }
}

/// Keeps the instances current for snapshots, and sends each change of them to every stream.
async fn follow_listeners(
    mut records: impl Stream<Item = Result<Vec<Listener>, zkstate::Error>> + Unpin,
    tx: watch::Sender<Option<Vec<Listener>>>,
    frames: broadcast::Sender<Item>,
) {
    while let Some(item) = records.next().await {
        match item {
            Ok(records) => {
                let _ = frames.send(Item::Frame(frame("listeners", &json!(records))));
                tx.send_replace(Some(records));
            }
            Err(err) => tracing::debug!(error = %err, "cannot read the listener records"),
        }
    }
}
