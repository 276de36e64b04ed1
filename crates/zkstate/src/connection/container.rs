//! The connection container: one ZooKeeper session at a time, re-opened by itself after expiry.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use rand::Rng;
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zookeeper_client::{Client, SessionState, StateWatcher, TlsOptions};

use super::settings::{Settings, Target};
use super::state::{ConnectionEvent, ConnectionState};
use super::tls::ENV_TLS_CA;
use super::url::ZkUrl;
use crate::error::ConnectError;

/// How many transitions a slow subscriber may fall behind before it skips to the current state.
const EVENT_BUFFER: usize = 64;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What dependants see of the current session.
#[derive(Clone, Debug)]
pub(crate) struct SessionSlot {
    pub(crate) client: Option<Client>,
    pub(crate) state: ConnectionState,
    pub(crate) generation: u64,
}

/// Identifies a state's shared core on a connection: instances with the same key share one
/// local copy and one sync task.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CoreKey {
    pub(crate) dir: String,
    pub(crate) value_type: TypeId,
    pub(crate) event_buffer: usize,
    pub(crate) limits: crate::options::Limits,
    /// The reaper's grace period runs in the shared sync task.
    pub(crate) marker_grace: std::time::Duration,
}

type Cores = HashMap<CoreKey, Weak<dyn Any + Send + Sync>>;

struct Shared {
    /// The open states' shared cores (type-erased: the state module owns their type).
    cores: Mutex<Cores>,
    target: Target,
    settings: Settings,
    /// Loaded once at start: every session of the container uses these options.
    tls: Option<LoadedTls>,
    /// Set when the TLS files could not be loaded by [`Connection::start_target`]: the
    /// container then never connects, and [`Connection::wait_connected`] returns this.
    broken: Option<ConnectError>,
    slot: watch::Sender<SessionSlot>,
    events: broadcast::Sender<ConnectionEvent>,
}

/// TLS options built from the files of [`TlsSettings`](super::tls::TlsSettings).
struct LoadedTls {
    options: TlsOptions,
    /// The CA file, named in errors.
    ca: PathBuf,
}

/// Reads the TLS files of `settings`, when TLS is on. `url_tls`: the URL asked for TLS, which
/// needs a CA in the settings.
fn load_tls(settings: &Settings, url_tls: bool) -> Result<Option<LoadedTls>, ConnectError> {
    match settings.tls() {
        Some(tls) => Ok(Some(LoadedTls {
            options: tls.client_options()?,
            ca: tls.ca().to_path_buf(),
        })),
        None if url_tls => Err(ConnectError::Tls {
            message: format!(
                "a zookeeper+tls:// url needs the CA of the servers: set tls_ca in [zookeeper], \
                 {ENV_TLS_CA}, or Settings::with_tls"
            ),
        }),
        None => Ok(None),
    }
}

impl Shared {
    fn publish(
        &self,
        state: ConnectionState,
        client: Option<&Client>,
        new_session: bool,
        generation: u64,
    ) {
        let session_id = client.map(|c| c.session_id().0);
        tracing::info!(
            servers = %self.target.servers,
            %state,
            session = session_id.map(|id| format!("{id:#x}")).unwrap_or_default(),
            new_session,
            generation,
            "zookeeper connection state"
        );
        crate::metrics::connection_state(&self.target.servers, state.metric_label());
        if new_session {
            crate::metrics::new_session(&self.target.servers);
        }
        self.slot.send_replace(SessionSlot {
            client: client.cloned(),
            state,
            generation,
        });
        // No receiver is fine: nobody subscribed yet.
        let _ = self.events.send(ConnectionEvent {
            state,
            session_id,
            new_session,
            generation,
        });
    }
}

struct Owner {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A handle to one ZooKeeper ensemble, holding at most one session at a time: the Rust form of
/// asab.zookeeper's container.
///
/// Cloning is cheap and every clone shares the session. A background task (owned by the handles)
/// keeps the session: it reports [`ConnectionState`] transitions and, when a session expires,
/// opens a new one by itself with a jittered backoff. The task stops when [`close`](Self::close)
/// is called or the last clone is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), zkstate::ConnectError> {
/// use zkstate::{Connection, Settings};
/// let conn = Connection::connect("zookeeper://127.0.0.1:2181/apps/demo", Settings::default()).await?;
/// println!("base path {} on {}", conn.path(), conn.servers());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("servers", &self.owner.shared.target.servers)
            .field("path", &self.owner.shared.target.path)
            .field("state", &self.state())
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl Connection {
    /// Resolves `url` against `settings` and the environment, then waits until the first session
    /// is established, at most [`Settings::connect_timeout`].
    ///
    /// `url` takes every form of [`ZkUrl`]; an empty `url` takes everything from `settings` and
    /// the environment (`ZOOKEEPER_SERVERS`, `ZOOKEEPER_PATH`).
    ///
    /// TLS is on when the settings (or the environment) name a CA; a `zookeeper+tls://` URL
    /// requires it. See [`crate::connection::tls`].
    ///
    /// # Errors
    /// [`ConnectError::Url`] or [`ConnectError::Settings`] for a bad URL or settings;
    /// [`ConnectError::Tls`] when a TLS file cannot be read or used, or a `zookeeper+tls://`
    /// URL comes without a CA;
    /// [`ConnectError::Unreachable`] when no session could be opened in time, or
    /// [`ConnectError::TlsUnreachable`] when TLS was on (a failed handshake looks the same);
    /// [`ConnectError::AuthFailed`] when the server rejected the credentials. A server that
    /// refuses the connection (not started yet, restarting) is tried again until the timeout;
    /// [`connect_fail_fast`](Self::connect_fail_fast) says so at once instead.
    pub async fn connect(url: &str, settings: Settings) -> Result<Connection, ConnectError> {
        Self::connect_with(url, settings, false).await
    }

    /// [`connect`](Self::connect) for a tool that a person waits on: when every server refuses
    /// the connection or its name does not resolve, it fails at once with
    /// [`ConnectError::Refused`], naming the cause per server, instead of after the timeout
    /// (which stays the bound for servers that do not answer at all).
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and [`ConnectError::Refused`].
    pub async fn connect_fail_fast(
        url: &str,
        settings: Settings,
    ) -> Result<Connection, ConnectError> {
        Self::connect_with(url, settings, true).await
    }

    async fn connect_with(
        url: &str,
        settings: Settings,
        fail_fast: bool,
    ) -> Result<Connection, ConnectError> {
        let conn = Self::start(url, settings)?;
        let waited = conn.owner.shared.settings.connect_timeout();
        let servers = conn.owner.shared.target.servers.clone();
        let refused = async {
            match fail_fast.then(|| super::probe::all_refuse(&servers)) {
                Some(probe) => match probe.await {
                    Some(refused) => refused,
                    // One may answer: the session attempt decides, within the timeout.
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            connected = conn.wait_connected(waited) => connected.map(drop),
            refused = refused => Err(ConnectError::Refused {
                servers: servers.clone(),
                causes: super::probe::describe(&refused),
            }),
        };
        match outcome {
            Ok(()) => Ok(conn),
            Err(err) => {
                conn.close().await;
                Err(err)
            }
        }
    }

    /// Like [`connect`](Self::connect) but returns at once, in state [`ConnectionState::Lost`];
    /// the session is opened in the background. Subscribe to see it arrive. The TLS files, if
    /// any, are read here, once.
    ///
    /// # Errors
    /// [`ConnectError::Url`] or [`ConnectError::Settings`] for a bad URL or settings;
    /// [`ConnectError::Tls`] for TLS files that cannot be used.
    pub fn start(url: &str, settings: Settings) -> Result<Connection, ConnectError> {
        let url = if url.trim().is_empty() {
            None
        } else {
            Some(ZkUrl::parse(url)?)
        };
        // The environment is the last source of every setting.
        let settings = settings.or(Settings::from_env()?);
        settings.validate()?;
        let target = Target::resolve(url.as_ref(), &settings, |name| std::env::var(name).ok())?;
        let tls = load_tls(&settings, url.as_ref().is_some_and(ZkUrl::tls))?;
        Ok(Self::start_loaded(target, settings, Ok(tls)))
    }

    /// Starts a container for an already resolved [`Target`]. TLS is on when `settings` name a
    /// CA; their files are read here, once. When they cannot be used, the container never
    /// connects and [`wait_connected`](Self::wait_connected) returns the [`ConnectError::Tls`]
    /// at once ([`start`](Self::start) returns it instead).
    pub fn start_target(target: Target, settings: Settings) -> Connection {
        let tls = load_tls(&settings, false);
        Self::start_loaded(target, settings, tls)
    }

    fn start_loaded(
        target: Target,
        settings: Settings,
        tls: Result<Option<LoadedTls>, ConnectError>,
    ) -> Connection {
        let (tls, broken) = match tls {
            Ok(tls) => (tls, None),
            Err(err) => (None, Some(err)),
        };
        let (slot, _) = watch::channel(SessionSlot {
            client: None,
            state: ConnectionState::Lost,
            generation: 0,
        });
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            cores: Mutex::new(HashMap::new()),
            target,
            settings,
            tls,
            broken,
            slot,
            events,
        });
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(supervise(shared.clone(), cancel.clone()));
        tasks.close();
        Connection {
            owner: Arc::new(Owner {
                shared,
                cancel,
                tasks,
            }),
        }
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.owner.shared.slot.borrow().state
    }

    /// A stream of every transition from now on. Any number of subscribers may exist.
    ///
    /// A subscriber that falls more than 64 transitions behind skips to an event for the current
    /// state. The stream ends after [`ConnectionState::Closed`].
    pub fn subscribe(&self) -> ConnectionEvents {
        ConnectionEvents {
            inner: BroadcastStream::new(self.owner.shared.events.subscribe()),
            slot: self.owner.shared.slot.subscribe(),
            done: false,
        }
    }

    /// The current `zookeeper_client::Client`, for direct use, when a session exists. It is not
    /// rooted at [`path`](Self::path): paths given to it are absolute.
    pub fn client(&self) -> Option<Client> {
        self.owner.shared.slot.borrow().client.clone()
    }

    /// Waits until the container is [`ConnectionState::Connected`] and returns its client.
    ///
    /// # Errors
    /// [`ConnectError::Unreachable`] after `timeout` ([`ConnectError::TlsUnreachable`] when
    /// TLS is on); [`ConnectError::Closed`] once closed; [`ConnectError::Tls`] at once when the
    /// TLS files given to [`start_target`](Self::start_target) could not be used.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<Client, ConnectError> {
        if let Some(err) = &self.owner.shared.broken {
            return Err(err.clone());
        }
        let mut slot = self.owner.shared.slot.subscribe();
        let wait = async {
            loop {
                {
                    let current = slot.borrow_and_update();
                    match (current.state, &current.client) {
                        (ConnectionState::Connected, Some(client)) => return Ok(client.clone()),
                        (ConnectionState::Closed, _) => return Err(ConnectError::Closed),
                        _ => {}
                    }
                }
                if slot.changed().await.is_err() {
                    return Err(ConnectError::Closed);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) if self.state() == ConnectionState::AuthFailed => {
                Err(ConnectError::AuthFailed {
                    servers: self.servers().to_string(),
                })
            }
            Err(_) => match &self.owner.shared.tls {
                Some(tls) => Err(ConnectError::TlsUnreachable {
                    servers: self.servers().to_string(),
                    waited: timeout,
                    ca: tls.ca.clone(),
                }),
                None => Err(ConnectError::Unreachable {
                    servers: self.servers().to_string(),
                    waited: timeout,
                }),
            },
        }
    }

    /// Whether the sessions of this container use TLS.
    pub fn is_tls(&self) -> bool {
        self.owner.shared.tls.is_some()
    }

    /// The servers, as a normalised connect string.
    pub fn servers(&self) -> &str {
        &self.owner.shared.target.servers
    }

    /// The base path: state directories are resolved under it.
    pub fn path(&self) -> &str {
        &self.owner.shared.target.path
    }

    /// The settings this container was started with.
    pub fn settings(&self) -> &Settings {
        &self.owner.shared.settings
    }

    /// The current session id, when there is a session.
    pub fn session_id(&self) -> Option<i64> {
        self.client().map(|c| c.session_id().0)
    }

    /// Closes the session and stops the background task; waits until it has stopped. Every
    /// clone sees [`ConnectionState::Closed`]. Idempotent.
    pub async fn close(&self) {
        self.owner.cancel.cancel();
        self.owner.tasks.wait().await;
    }

    fn cores(&self) -> std::sync::MutexGuard<'_, Cores> {
        // A poisoned lock only means a panic elsewhere; the map stays consistent.
        self.owner
            .shared
            .cores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The open core with this key, if any.
    pub(crate) fn core(&self, key: &CoreKey) -> Option<Arc<dyn Any + Send + Sync>> {
        self.cores().get(key).and_then(Weak::upgrade)
    }

    /// Remembers an open core (replacing a closed one).
    pub(crate) fn remember_core(&self, key: CoreKey, core: &Arc<dyn Any + Send + Sync>) {
        let mut cores = self.cores();
        cores.retain(|_, core| core.strong_count() > 0);
        cores.insert(key, Arc::downgrade(core));
    }

    /// Forgets the core at `at` (a core that is closing), if it is still the one remembered.
    pub(crate) fn forget_core(&self, key: &CoreKey, at: *const ()) {
        let mut cores = self.cores();
        if cores
            .get(key)
            .is_some_and(|core| core.as_ptr() as *const () == at)
        {
            cores.remove(key);
        }
    }

    pub(crate) fn watch_slot(&self) -> watch::Receiver<SessionSlot> {
        self.owner.shared.slot.subscribe()
    }

    /// Resolves a state directory: an absolute path is taken as it is, a relative one is joined
    /// to [`path`](Self::path).
    ///
    /// # Errors
    /// [`UrlError`](crate::connection::url::UrlError) for an invalid ZooKeeper path.
    pub fn resolve_dir(&self, dir: &str) -> Result<String, crate::connection::url::UrlError> {
        if dir.starts_with('/') {
            super::url::validate_path(dir)?;
            Ok(dir.to_string())
        } else {
            super::url::join_path(self.path(), dir)
        }
    }
}

/// The stream returned by [`Connection::subscribe`].
pub struct ConnectionEvents {
    inner: BroadcastStream<ConnectionEvent>,
    slot: watch::Receiver<SessionSlot>,
    done: bool,
}

impl Stream for ConnectionEvents {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => None,
            Poll::Ready(Some(Ok(event))) => Some(event),
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => {
                let slot = self.slot.borrow();
                Some(ConnectionEvent {
                    state: slot.state,
                    session_id: slot.client.as_ref().map(|c| c.session_id().0),
                    new_session: false,
                    generation: slot.generation,
                })
            }
        };
        if matches!(
            item,
            None | Some(ConnectionEvent {
                state: ConnectionState::Closed,
                ..
            })
        ) {
            self.done = true;
        }
        Poll::Ready(item)
    }
}

fn jitter(base: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.5..1.5);
    base.mul_f64(factor)
}

async fn open_session(shared: &Shared) -> Result<Client, zookeeper_client::Error> {
    let settings = &shared.settings;
    let mut connector = Client::connector()
        .with_session_timeout(settings.session_timeout())
        .with_fail_eagerly();
    if let Some(timeout) = settings.connection_timeout() {
        connector = connector.with_connection_timeout(timeout);
    }
    for credential in settings.digest() {
        connector = connector.with_auth("digest", &credential.auth_bytes());
    }
    match &shared.tls {
        // Every server of the connect string over TLS.
        Some(tls) => {
            connector
                .with_tls(tls.options.clone())
                .secure_connect(&shared.target.servers)
                .await
        }
        None => connector.connect(&shared.target.servers).await,
    }
}

/// Keeps one session at a time until cancelled.
async fn supervise(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut generation = 0u64;
    if shared.broken.is_some() {
        // Unusable TLS files: nothing to connect with, until closed.
        cancel.cancelled().await;
    } else {
        keep_sessions(&shared, &cancel, &mut generation).await;
    }
    shared.publish(ConnectionState::Closed, None, false, generation);
}

/// Opens a session, reports its states until it ends, and opens the next, until cancelled.
/// `generation` counts the sessions opened.
async fn keep_sessions(shared: &Shared, cancel: &CancellationToken, generation: &mut u64) {
    loop {
        let Some(client) = open_with_backoff(shared, cancel, *generation).await else {
            return;
        };
        *generation += 1;
        shared.publish(ConnectionState::Connected, Some(&client), true, *generation);
        let watcher = client.state_watcher();
        // The watcher counts the state at its creation as seen: a session that expired between
        // connect and here would otherwise never be reported.
        if client.state().is_terminated() {
            shared.publish(ConnectionState::Lost, None, false, *generation);
            continue;
        }
        if follow_session(shared, cancel, &client, watcher, *generation)
            .await
            .is_none()
        {
            return;
        }
        // A new session right away: the old one is gone, dependants wait for the new one.
        if unless_cancelled(cancel, tokio::time::sleep(jitter(BACKOFF_MIN)))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// `future`'s output, or `None` when `cancel` fires first.
async fn unless_cancelled<F: std::future::Future>(
    cancel: &CancellationToken,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        _ = cancel.cancelled() => None,
        output = future => Some(output),
    }
}

/// Opens a session, again after a jittered backoff that doubles from [`BACKOFF_MIN`] to
/// [`BACKOFF_MAX`]; `None` when cancelled. A rejection of the credentials is reported as
/// [`ConnectionState::AuthFailed`] (of the last session's `generation`), and retried too.
async fn open_with_backoff(
    shared: &Shared,
    cancel: &CancellationToken,
    generation: u64,
) -> Option<Client> {
    let mut backoff = BACKOFF_MIN;
    loop {
        match unless_cancelled(cancel, open_session(shared)).await? {
            Ok(client) => return Some(client),
            Err(zookeeper_client::Error::AuthFailed) => {
                shared.publish(ConnectionState::AuthFailed, None, false, generation);
            }
            Err(err) => {
                tracing::debug!(servers = %shared.target.servers, tls = shared.tls.is_some(), error = %err, "zookeeper session not opened; retrying");
            }
        }
        unless_cancelled(cancel, tokio::time::sleep(jitter(backoff))).await?;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reports the states of one session until it is over (`Some`) or the container is cancelled
/// (`None`).
async fn follow_session(
    shared: &Shared,
    cancel: &CancellationToken,
    client: &Client,
    mut watcher: StateWatcher,
    generation: u64,
) -> Option<()> {
    let mut last = ConnectionState::Connected;
    loop {
        let session_state = unless_cancelled(cancel, watcher.changed()).await?;
        match react(last, session_state) {
            Reaction::Report(states) => {
                for &state in states {
                    shared.publish(state, Some(client), false, generation);
                    last = state;
                }
            }
            Reaction::End(state) => {
                shared.publish(state, None, false, generation);
                return Some(());
            }
        }
    }
}

/// What the container reports when its session's state changes.
#[derive(Debug, PartialEq, Eq)]
enum Reaction {
    /// These states, in order, with the session's client: the session goes on.
    Report(&'static [ConnectionState]),
    /// This state, without a client: the session is over.
    End(ConnectionState),
}

/// The container's reaction to a new session state, given the state it reported `last`:
///
/// | Session state                       | Last reported | Reaction                        |
/// |-------------------------------------|---------------|---------------------------------|
/// | `Disconnected`                      | any           | report `Suspended`              |
/// | `SyncConnected`, `ConnectedReadOnly`| `Connected`   | report `Suspended`, `Connected` |
/// | `SyncConnected`, `ConnectedReadOnly`| other         | report `Connected`              |
/// | `AuthFailed`                        | any           | end with `AuthFailed`           |
/// | `Expired`, `Closed`                 | any           | end with `Lost`                 |
///
/// The watcher keeps only the latest state: Connected after Connected means a disconnection
/// happened in between. Expired, or closed under us: either way this session is over.
fn react(last: ConnectionState, session_state: SessionState) -> Reaction {
    match session_state {
        SessionState::Disconnected => Reaction::Report(&[ConnectionState::Suspended]),
        SessionState::SyncConnected | SessionState::ConnectedReadOnly
            if last == ConnectionState::Connected =>
        {
            Reaction::Report(&[ConnectionState::Suspended, ConnectionState::Connected])
        }
        SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
            Reaction::Report(&[ConnectionState::Connected])
        }
        SessionState::AuthFailed => Reaction::End(ConnectionState::AuthFailed),
        SessionState::Expired | SessionState::Closed => Reaction::End(ConnectionState::Lost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANY: [ConnectionState; 4] = [
        ConnectionState::Connected,
        ConnectionState::Suspended,
        ConnectionState::Lost,
        ConnectionState::AuthFailed,
    ];

    #[test]
    fn a_disconnection_suspends() {
        for last in ANY {
            assert_eq!(
                react(last, SessionState::Disconnected),
                Reaction::Report(&[ConnectionState::Suspended])
            );
        }
    }

    #[test]
    fn connected_after_connected_reports_the_suspension_in_between() {
        for state in [SessionState::SyncConnected, SessionState::ConnectedReadOnly] {
            assert_eq!(
                react(ConnectionState::Connected, state),
                Reaction::Report(&[ConnectionState::Suspended, ConnectionState::Connected])
            );
        }
    }

    #[test]
    fn a_reconnection_after_a_suspension_reports_connected() {
        for state in [SessionState::SyncConnected, SessionState::ConnectedReadOnly] {
            assert_eq!(
                react(ConnectionState::Suspended, state),
                Reaction::Report(&[ConnectionState::Connected])
            );
        }
    }

    #[test]
    fn failed_authentication_ends_the_session() {
        for last in ANY {
            assert_eq!(
                react(last, SessionState::AuthFailed),
                Reaction::End(ConnectionState::AuthFailed)
            );
        }
    }

    #[test]
    fn an_expired_or_closed_session_is_lost() {
        for last in ANY {
            for state in [SessionState::Expired, SessionState::Closed] {
                assert_eq!(react(last, state), Reaction::End(ConnectionState::Lost));
            }
        }
    }
}
