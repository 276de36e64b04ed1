//! What the server shares between requests: the connection, the watched states (opened once each,
//! shared by every page showing them, closed again when no page used them for `--idle-close`),
//! the stream permits and the gate every request passes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use zkstate::Connection;

use super::error::{ApiError, ApiResult};
use super::guard::{Counters, Gate, Hosts};
use super::watched::Watched;

/// How `zkstate serve` was started.
pub struct Settings {
    pub root: String,
    /// The write token: `None` with writes off.
    pub token: Option<String>,
    pub timeout: Duration,
    pub listen: SocketAddr,
    pub allow_hosts: Vec<String>,
    pub max_streams: usize,
    pub idle_close: Duration,
}

type Cell = Arc<OnceCell<Arc<Watched>>>;

/// What the server shares between requests.
pub struct App {
    pub conn: Connection,
    pub root: String,
    pub token: Option<String>,
    pub timeout: Duration,
    /// What every request passes first (`guard::guard`).
    pub gate: Arc<Gate>,
    /// The watched states, one cell per directory: the map's lock is held only to find the
    /// cell, never while a state opens (which waits on ZooKeeper), so one slow directory does
    /// not hold up the others; requests for the same one wait on its cell and share the state.
    watched: std::sync::Mutex<HashMap<String, Cell>>,
    /// One permit per event stream that may be open (`--max-streams`).
    pub streams: Arc<Semaphore>,
    pub max_streams: usize,
    /// How long a state no request or stream used stays open.
    idle_close: Duration,
    /// Ends every event stream (at shutdown).
    pub stopping: CancellationToken,
    /// Closes the idle states; holds only a weak reference to the app.
    _sweeper: AbortOnDropHandle<()>,
}

impl App {
    pub fn new(conn: Connection, settings: Settings) -> Arc<App> {
        Arc::new_cyclic(|weak: &Weak<App>| {
            let sweeper = tokio::spawn(sweep(weak.clone(), settings.idle_close));
            App {
                conn,
                root: settings.root,
                token: settings.token,
                timeout: settings.timeout,
                gate: Arc::new(Gate {
                    hosts: Hosts::new(settings.listen, &settings.allow_hosts),
                    counters: Counters::default(),
                }),
                watched: std::sync::Mutex::new(HashMap::new()),
                streams: Arc::new(Semaphore::new(settings.max_streams)),
                max_streams: settings.max_streams,
                idle_close: settings.idle_close,
                stopping: CancellationToken::new(),
                _sweeper: AbortOnDropHandle::new(sweeper),
            }
        })
    }

    /// Ends the event streams.
    pub fn shutdown(&self) {
        self.stopping.cancel();
    }

    /// Closes the watched states.
    pub async fn close(&self) {
        self.shutdown();
        let watched: Vec<Arc<Watched>> = self
            .watched_map()
            .drain()
            .filter_map(|(_, cell)| cell.get().cloned())
            .collect();
        for w in watched {
            w.close().await;
        }
    }

    /// Closes the states that no stream holds and no request used for `--idle-close`. A state
    /// is taken out of the map only when nothing but the map holds its cell and its state (a
    /// request between finding the cell and using the state holds the cell), so no request
    /// gets a state that is closing.
    async fn close_idle(&self) {
        let idle: Vec<Arc<Watched>> = {
            let mut map = self.watched_map();
            let dirs: Vec<String> = map
                .iter()
                .filter(|(_, cell)| {
                    Arc::strong_count(cell) == 1
                        && cell.get().is_some_and(|w| {
                            Arc::strong_count(w) == 1 && w.idle_for() >= self.idle_close
                        })
                })
                .map(|(dir, _)| dir.clone())
                .collect();
            dirs.iter()
                .filter_map(|dir| map.remove(dir))
                .filter_map(|cell| cell.get().cloned())
                .collect()
        };
        for w in idle {
            w.close().await;
        }
    }

    /// How many states are open now.
    pub fn open_states(&self) -> usize {
        self.watched_map()
            .values()
            .filter(|cell| cell.get().is_some())
            .count()
    }

    /// The map of watched states. A panic elsewhere while it was locked leaves a usable map
    /// (every change to it is one insert or remove).
    fn watched_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cell>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A state directory from the URL: absolute, a valid ZooKeeper path, under the root.
    pub fn dir(&self, raw: &str) -> ApiResult<String> {
        if !raw.starts_with('/') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad state directory {raw:?}: an absolute path is expected"),
            ));
        }
        let dir = self.conn.resolve_dir(raw).map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad state directory: {err}"),
            )
        })?;
        let under =
            self.root == "/" || dir == self.root || dir.starts_with(&format!("{}/", self.root));
        if !under {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{dir} is not under the served root {}", self.root),
            ));
        }
        Ok(dir)
    }

    pub async fn client(&self) -> ApiResult<zookeeper_client::Client> {
        self.conn
            .wait_connected(self.timeout)
            .await
            .map_err(|err| ApiError::new(StatusCode::GATEWAY_TIMEOUT, err))
    }

    /// The watched state of `dir`, opened (and its instances followed) on first use.
    pub async fn watched(&self, dir: &str) -> ApiResult<Arc<Watched>> {
        let cell = self
            .watched_map()
            .entry(dir.to_string())
            .or_default()
            .clone();
        let opened = cell
            .get_or_try_init(|| async {
                Watched::open(&self.conn, dir, self.timeout, self.token.is_some())
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned();
        match &opened {
            Ok(w) => w.touch(),
            Err(_) => {
                // Nothing kept for a state that did not open (a missing one asked for again
                // and again), unless another request holds the cell and may open it yet.
                let mut map = self.watched_map();
                if map.get(dir).is_some_and(|c| {
                    Arc::ptr_eq(c, &cell) && c.get().is_none() && Arc::strong_count(c) == 2
                }) {
                    map.remove(dir);
                }
            }
        }
        opened
    }

    /// Everything the state page shows: `GET /api/states/{dir}` and the `snapshot` event.
    pub async fn snapshot(&self, dir: &str, w: &Watched) -> ApiResult<Value> {
        w.snapshot(&self.conn, dir, self.timeout).await
    }

    pub fn write_allowed(&self, headers: &HeaderMap) -> ApiResult<()> {
        let Some(token) = &self.token else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "writes are off: start zkstate serve with --allow-write",
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-zkstate-token").and_then(|v| v.to_str().ok()))
            .unwrap_or("");
        if !same(given.trim().as_bytes(), token.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a write needs the token zkstate serve printed at start (Authorization: Bearer <token>)",
            ));
        }
        Ok(())
    }
}

/// Closes the idle states every quarter of the idle time (between 100 ms and 15 s), until the
/// app is gone.
async fn sweep(app: Weak<App>, idle: Duration) {
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
    loop {
        tokio::time::sleep(every).await;
        let Some(app) = app.upgrade() else {
            return;
        };
        app.close_idle().await;
    }
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
