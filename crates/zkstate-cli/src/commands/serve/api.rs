//! The routes of `zkstate serve`: the embedded page, and the JSON API over the library (the
//! states a user opens are watched by one `ZkState<Value>` each, shared by every page showing
//! them).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, OnceCell};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use zkstate::{Connection, Listener, StateEvent, StateOptions, ZkState};

use super::assets;
use crate::commands::{json_error, payload_path, Source};
use crate::exit::Code;

/// The largest body a `PUT` takes: well above the largest state (a compressed one may hold many
/// MB of JSON), well below what could hurt the server.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the server shares between requests.
pub struct App {
    conn: Connection,
    root: String,
    token: Option<String>,
    timeout: Duration,
    /// The Host headers answered (listening on loopback), or `None`: any (listening beyond it).
    hosts: Option<Vec<String>>,
    /// The watched states, one cell per directory: the map's lock is held only to find the
    /// cell, never while a state opens (which waits on ZooKeeper), so one slow directory does
    /// not hold up the others; requests for the same one wait on its cell and share the state.
    watched: std::sync::Mutex<HashMap<String, Arc<OnceCell<Arc<Watched>>>>>,
    /// Ends every event stream (at shutdown).
    stopping: CancellationToken,
}

/// One watched state: its `ZkState`, and its live instances as they change.
struct Watched {
    state: ZkState<Value>,
    listeners: watch::Receiver<Option<Vec<Listener>>>,
    _follow: AbortOnDropHandle<()>,
}

/// An API error: a status and a JSON body `{"error": ...}` with more fields where useful.
struct ApiError(StatusCode, Value);

impl ApiError {
    fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
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

type ApiResult<T> = Result<T, ApiError>;

impl App {
    pub fn new(
        conn: Connection,
        root: String,
        token: Option<String>,
        timeout: Duration,
        listen: SocketAddr,
    ) -> Arc<App> {
        Arc::new(App {
            conn,
            root,
            token,
            timeout,
            hosts: loopback_hosts(listen),
            watched: std::sync::Mutex::new(HashMap::new()),
            stopping: CancellationToken::new(),
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
            w.state.close().await;
        }
    }

    /// The map of watched states. A panic elsewhere while it was locked leaves a usable map
    /// (every change to it is one insert or remove).
    fn watched_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Arc<Watched>>>>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A state directory from the URL: absolute, a valid ZooKeeper path, under the root.
    fn dir(&self, raw: &str) -> ApiResult<String> {
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

    async fn client(&self) -> ApiResult<zookeeper_client::Client> {
        self.conn
            .wait_connected(self.timeout)
            .await
            .map_err(|err| ApiError::new(StatusCode::GATEWAY_TIMEOUT, err))
    }

    /// The watched state of `dir`, opened (and its instances followed) on first use.
    async fn watched(&self, dir: &str) -> ApiResult<Arc<Watched>> {
        let cell = self
            .watched_map()
            .entry(dir.to_string())
            .or_default()
            .clone();
        let opened = cell.get_or_try_init(|| self.open(dir)).await.cloned();
        if opened.is_err() {
            // Nothing kept for a state that did not open (a missing one asked for again and
            // again), unless another request holds the cell and may open it yet.
            let mut map = self.watched_map();
            if map.get(dir).is_some_and(|c| {
                Arc::ptr_eq(c, &cell) && c.get().is_none() && Arc::strong_count(c) == 2
            }) {
                map.remove(dir);
            }
        }
        opened
    }

    /// Opens the state of `dir` and follows its instances.
    async fn open(&self, dir: &str) -> ApiResult<Arc<Watched>> {
        let client = self.client().await?;
        let payload = payload_path(dir);
        if zkstate::within(
            "reading",
            &payload,
            self.timeout,
            client.check_stat(&payload),
        )
        .await?
        .is_none()
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("state directory {dir} does not exist"),
            ));
        }
        // Not an instance of the application: no listener record, no reports; writes keep the
        // payload's encoding.
        let options = StateOptions::default()
            .with_listener_record(false)
            .with_report_interval(None)
            .with_request_timeout(self.timeout)
            .with_lock_timeout(self.timeout)
            .with_compression(zkstate::Compression::Keep);
        let state =
            ZkState::<Value>::expect_with_options(&self.conn, dir, Some(self.timeout), options)
                .await?;
        let (tx, listeners) = watch::channel(None);
        let mut stream = zkstate::watch_listeners(&self.conn, dir)?.boxed();
        let follow = AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(records) => {
                        if tx.send(Some(records)).is_err() {
                            return;
                        }
                    }
                    Err(err) => tracing::debug!(error = %err, "cannot read the listener records"),
                }
            }
        }));
        Ok(Arc::new(Watched {
            state,
            listeners,
            _follow: follow,
        }))
    }

    /// Everything the state page shows: `GET /api/states/{dir}` and the `snapshot` event.
    async fn snapshot(&self, dir: &str, w: &Watched) -> ApiResult<Value> {
        let client = self.client().await?;
        let payload = payload_path(dir);
        let (read, stat) = futures::join!(
            w.state.c_read(),
            zkstate::within(
                "reading",
                &payload,
                self.timeout,
                client.check_stat(&payload)
            )
        );
        let (value, version, fault) = match read {
            Ok(value) => (value.json().clone(), value.version(), None),
            // A payload that does not decode: the last good value, and why.
            Err(err @ zkstate::Error::Decode { .. }) => {
                let last = w.state.d_read();
                (last.json().clone(), last.version(), Some(err.to_string()))
            }
            Err(err) => return Err(err.into()),
        };
        let stat = stat?;
        let followed = w.listeners.borrow().clone();
        let listeners = match followed {
            Some(listeners) => listeners,
            None => zkstate::list_listeners(&self.conn, dir)
                .await
                .unwrap_or_default(),
        };
        let fresh = w.state.freshness();
        // Who applied the version shown, by the library's rule (the same as `zkstate rollout`).
        let rollout = zkstate::rollout(&self.conn, dir, Some(version)).await?;
        Ok(json!({
            "dir": dir,
            "value": value,
            "version": version,
            "mzxid": fresh.mzxid,
            "czxid": fresh.czxid,
            "size": stat.as_ref().map(|s| s.data_length),
            "mtime_ms": stat.as_ref().map(|s| s.mtime),
            "listeners": listeners,
            "rollout": {"version": version, "applied": rollout.applied, "total": rollout.total},
            "fault": fault,
        }))
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

/// The Host headers a server listening on `listen` answers to: on a loopback address, only
/// `localhost`, `127.0.0.1`, `[::1]` and the address itself, with the port (without it too on
/// port 80). A page on another site that rebinds its DNS name to 127.0.0.1 sends its own name
/// and is refused, so it cannot read the states (nor write with a token it could not know).
/// `None` beyond loopback: the server is reachable under any name, and warns about it.
fn loopback_hosts(listen: SocketAddr) -> Option<Vec<String>> {
    if !listen.ip().is_loopback() {
        return None;
    }
    let port = listen.port();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
    ];
    let own = match listen.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    if !names.contains(&own) {
        names.push(own);
    }
    let mut hosts: Vec<String> = names.iter().map(|name| format!("{name}:{port}")).collect();
    if port == 80 {
        hosts.extend(names);
    }
    Some(hosts)
}

/// Refuses (403) a request whose Host is not one the server answers to (see [`loopback_hosts`]).
async fn check_host(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let Some(hosts) = &app.hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .or_else(|| request.uri().authority().map(|a| a.to_string()));
        let known = host
            .as_deref()
            .is_some_and(|h| hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h.trim())));
        if !known {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "host {} refused: zkstate serve listens on loopback and answers only to {} \
                     (against DNS rebinding); open http://{}/",
                    host.as_deref()
                        .map_or("(none)".to_string(), |h| format!("{h:?}")),
                    hosts.join(", "),
                    hosts.first().map_or("127.0.0.1", String::as_str)
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { assets::INDEX }))
        .route("/state", get(|| async { assets::STATE }))
        .route("/assets/{name}", get(asset))
        .route("/api/config", get(config))
        .route("/api/states", get(states))
        .route("/api/states/{dir}", get(state).put(put_state))
        .route("/api/states/{dir}/events", get(events))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app.clone(), check_host))
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

/// How a failed listing of the states under the root answers: 404 when the root does not exist,
/// the library's error as it maps (403 permission denied, 504 no answer in time, 500 otherwise).
fn listing_error(err: &anyhow::Error) -> ApiError {
    if let Some(state) = err.chain().find_map(|c| c.downcast_ref::<zkstate::Error>()) {
        return state.clone().into();
    }
    let status = match Code::of(err) {
        Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, crate::exit::message(err))
}

/// Every state under the root, with what the index shows; the rollouts read concurrently.
async fn states(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let client = app.client().await?;
    let dirs = crate::commands::ls::states_under(&client, &app.root, app.timeout)
        .await
        .map_err(|err| listing_error(&err))?;
    let rows = futures::future::join_all(dirs.iter().map(|dir| {
        let (app, client) = (app.clone(), client.clone());
        async move {
            let status = zkstate::rollout(&app.conn, dir, None).await.ok();
            let stat = {
                let payload = payload_path(dir);
                zkstate::within(
                    "reading",
                    &payload,
                    app.timeout,
                    client.check_stat(&payload),
                )
                .await
                .ok()
                .flatten()
            };
            json!({
                "dir": dir,
                "version": stat.as_ref().map(|s| s.version),
                "size": stat.as_ref().map(|s| s.data_length),
                "mtime_ms": stat.as_ref().map(|s| s.mtime),
                "listeners": status.as_ref().map(|s| s.total),
                "applied": status.as_ref().map(|s| s.applied),
            })
        }
    }))
    .await;
    Ok(Json(json!({ "root": app.root, "states": rows })))
}

async fn state(State(app): State<Arc<App>>, Path(raw): Path<String>) -> ApiResult<Json<Value>> {
    let dir = app.dir(&raw)?;
    let w = app.watched(&dir).await?;
    Ok(Json(app.snapshot(&dir, &w).await?))
}

fn event(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// The live stream of one state: a snapshot first (on every connection: a reconnecting page
/// resyncs from it), then every change, instance change and fault.
async fn events(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let dir = app.dir(&raw)?;
    let w = app.watched(&dir).await?;
    // Subscribed before the snapshot: nothing falls between (the page drops what it has).
    let mut changes = w.state.subscribe();
    let mut listeners = w.listeners.clone();
    listeners.mark_unchanged();
    let snapshot = app.snapshot(&dir, &w).await?;
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    let stopping = app.stopping.clone();
    tokio::spawn(async move {
        let send = |e: Event| {
            let tx = tx.clone();
            async move { tx.send(Ok(e)).await.is_ok() }
        };
        if !send(event("snapshot", &snapshot)).await {
            return;
        }
        if let Some(fault) = snapshot["fault"].as_str() {
            if !send(event("fault", &json!({ "message": fault }))).await {
                return;
            }
        }
        loop {
            let next = tokio::select! {
                _ = stopping.cancelled() => return,
                _ = tx.closed() => return,
                changed = listeners.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let records = listeners.borrow_and_update().clone().unwrap_or_default();
                    event("listeners", &json!(records))
                }
                change = changes.next() => match change {
                    None => return,
                    Some(StateEvent::Changed(batch)) => event("change", &json!({
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
                    })),
                    Some(StateEvent::Lagged { missed, .. }) => {
                        if !send(event("lagged", &json!({ "missed": missed }))).await {
                            return;
                        }
                        match app.snapshot(&dir, &w).await {
                            Ok(snapshot) => event("snapshot", &snapshot),
                            Err(ApiError(_, body)) => event("fault", &json!({ "message": body["error"] })),
                        }
                    }
                    Some(StateEvent::Error(err)) => event("fault", &json!({ "message": err.to_string() })),
                    Some(_) => continue,
                },
            };
            if !send(next).await {
                return;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
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

async fn put_state(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    app.write_allowed(&headers)?;
    let dir = app.dir(&raw)?;
    let version = if_match(&headers)?;
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
    let w = app.watched(&dir).await?;
    match w.state.replace_at(version, value).await {
        Ok(new) => Ok(Json(json!({ "version": new }))),
        Err(zkstate::Error::StaleWrite { remote, .. }) => {
            let current = w.state.c_read().await.ok();
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
