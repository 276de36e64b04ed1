//! The routes of `zkstate serve`: the embedded page, and the JSON API over the library (the
//! states a user opens are watched once each, shared by every page showing them, and closed
//! again when no page used them for `--idle-close`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use zkstate::Connection;

use super::guard::{self, Hosts};
use super::watched::Watched;
use super::{assets, events, listing};
use crate::commands::{json_error, Source};
use crate::exit::Code;

/// The largest body a `PUT` takes: well above the largest state (a compressed one may hold many
/// MB of JSON), well below what could hurt the server.
const MAX_BODY: usize = 16 * 1024 * 1024;

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

/// What the requests refused before any route, for `/api/stats`.
#[derive(Default)]
pub struct Counters {
    pub refused_host: AtomicU64,
    pub refused_cross_site: AtomicU64,
}

type Cell = Arc<OnceCell<Arc<Watched>>>;

/// What the server shares between requests.
pub struct App {
    pub conn: Connection,
    pub root: String,
    token: Option<String>,
    pub timeout: Duration,
    hosts: Hosts,
    /// The watched states, one cell per directory: the map's lock is held only to find the
    /// cell, never while a state opens (which waits on ZooKeeper), so one slow directory does
    /// not hold up the others; requests for the same one wait on its cell and share the state.
    watched: std::sync::Mutex<HashMap<String, Cell>>,
    /// One permit per event stream that may be open (`--max-streams`).
    pub streams: Arc<Semaphore>,
    pub max_streams: usize,
    /// How long a state no request or stream used stays open.
    idle_close: Duration,
    pub counters: Counters,
    /// Ends every event stream (at shutdown).
    pub stopping: CancellationToken,
    /// Closes the idle states; holds only a weak reference to the app.
    _sweeper: AbortOnDropHandle<()>,
}

/// An API error: a status and a JSON body `{"error": ...}` with more fields where useful.
pub struct ApiError(pub StatusCode, pub Value);

impl ApiError {
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError(status, json!({ "error": message.to_string() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// How a library error answers over HTTP.
impl From<zkstate::Error> for ApiError {
    fn from(err: zkstate::Error) -> ApiError {
        if let Some(waited) = crate::exit::lock_waited(&err) {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the state's lock is held by another writer; waited {waited:?} for it; nothing written"
                ),
            );
        }
        let status = match &err {
            zkstate::Error::Missing { .. } => StatusCode::NOT_FOUND,
            zkstate::Error::InvalidDir(_) | zkstate::Error::InvalidVersion { .. } => {
                StatusCode::BAD_REQUEST
            }
            zkstate::Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            zkstate::Error::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            zkstate::Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            zkstate::Error::Closed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl App {
    pub fn new(conn: Connection, settings: Settings) -> Arc<App> {
        Arc::new_cyclic(|weak: &Weak<App>| {
            let sweeper = tokio::spawn(sweep(weak.clone(), settings.idle_close));
            App {
                conn,
                root: settings.root,
                token: settings.token,
                timeout: settings.timeout,
                hosts: Hosts::new(settings.listen, &settings.allow_hosts),
                watched: std::sync::Mutex::new(HashMap::new()),
                streams: Arc::new(Semaphore::new(settings.max_streams)),
                max_streams: settings.max_streams,
                idle_close: settings.idle_close,
                counters: Counters::default(),
                stopping: CancellationToken::new(),
                _sweeper: AbortOnDropHandle::new(sweeper),
            }
        })
    }

    pub fn hosts(&self) -> &Hosts {
        &self.hosts
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
    fn open_states(&self) -> usize {
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

    fn write_allowed(&self, headers: &HeaderMap) -> ApiResult<()> {
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

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { assets::INDEX }))
        .route("/state", get(|| async { assets::STATE }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{name}", get(asset))
        .route("/api/config", get(config))
        .route("/api/stats", get(stats))
        .route("/api/states", get(listing::states))
        .route("/api/states/{dir}", get(state).put(put_state))
        .route("/api/states/{dir}/events", get(events::events))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), guard::guard))
        .layer(middleware::from_fn(guard::headers))
        .with_state(app)
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::by_name(&name) {
        Some(asset) => asset.into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no asset {name}")).into_response(),
    }
}

async fn config(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "allow_write": app.token.is_some(),
        "root": app.root,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// What the server holds and refused: `GET /api/stats`.
async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "open_states": app.open_states(),
        "streams": app.max_streams - app.streams.available_permits(),
        "max_streams": app.max_streams,
        "refused": {
            "host": app.counters.refused_host.load(Ordering::Relaxed),
            "cross_site": app.counters.refused_cross_site.load(Ordering::Relaxed),
        },
    }))
}

/// How a failed listing of the states under the root answers: 404 when the root does not exist,
/// the library's error as it maps (403 permission denied, 504 no answer in time, 500 otherwise).
pub fn listing_error(err: &anyhow::Error) -> ApiError {
    if let Some(state) = err.chain().find_map(|c| c.downcast_ref::<zkstate::Error>()) {
        return state.clone().into();
    }
    let status = match Code::of(err) {
        Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, crate::exit::message(err))
}

async fn state(State(app): State<Arc<App>>, Path(raw): Path<String>) -> ApiResult<Json<Value>> {
    let dir = app.dir(&raw)?;
    let w = app.watched(&dir).await?;
    Ok(Json(app.snapshot(&dir, &w).await?))
}

/// `If-Match: 17`, `If-Match: "17"` or `W/"17"`: the version the client showed.
fn if_match(headers: &HeaderMap) -> ApiResult<i32> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "a write needs If-Match with the version it replaces",
        ));
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    match text.parse::<i32>() {
        Ok(version) if version >= 0 => Ok(version),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("If-Match must be a payload version, 0 or more; got {text:?}"),
        )),
    }
}

/// A write. The token, the path and `If-Match` are checked before the body is read: a request
/// refused for them costs nothing, however large or slow its body.
async fn put_state(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    app.write_allowed(request.headers())?;
    let dir = app.dir(&raw)?;
    let version = if_match(request.headers())?;
    // Within `MAX_BODY` (the limit `DefaultBodyLimit` put on the request): 413 past it.
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let value: Value = serde_json::from_slice(&body).map_err(|err| {
        ApiError(
            StatusCode::BAD_REQUEST,
            json!({
                "error": json_error(&Source::Body, &err),
                "line": err.line(),
                "column": err.column(),
            }),
        )
    })?;
    drop(body);
    let w = app.watched(&dir).await?;
    let Some(state) = w.state() else {
        // Only with writes off, refused above.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "writes are off: start zkstate serve with --allow-write",
        ));
    };
    match state.replace_at(version, value).await {
        Ok(new) => Ok(Json(json!({ "version": new }))),
        Err(zkstate::Error::StaleWrite { remote, .. }) => {
            let current = state.c_read().await.ok();
            let (now, value) = match &current {
                Some(current) => (Some(current.version()), current.json().clone()),
                None => (remote, Value::Null),
            };
            Err(ApiError(
                StatusCode::CONFLICT,
                json!({
                    "error": format!(
                        "version conflict: the page showed version {version}, zookeeper holds {}; nothing written",
                        now.map_or("another".to_string(), |v| v.to_string())
                    ),
                    "version": now,
                    "value": value,
                }),
            ))
        }
        Err(err) => Err(err.into()),
    }
}
