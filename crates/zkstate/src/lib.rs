//! Share a typed struct across every instance of an application through Apache ZooKeeper.
//!
//! A [`ZkState<T>`] holds a serde value that lives in ZooKeeper as plain JSON at
//! `<dir>/payload`. Every instance keeps a local copy, kept current by a persistent watch, a
//! jittered periodic check and a re-sync after every reconnection or new session; every change,
//! local or remote, is delivered as diff events.
//!
//! # Guarantees
//! * **Reads come in three strengths.** [`ZkState::read`] returns the local copy without a round
//!   trip, and fails with [`Error::Stale`] once the copy has not been verified against ZooKeeper
//!   within `max_staleness` (30 s by default). [`ZkState::c_read`] returns a value current at the
//!   time of the call (a `sync` and a stat, pipelined). [`ZkState::d_read`] returns the local copy
//!   whatever its age.
//! * **Writes are exclusive and version-checked.** One update at a time, in the process and across
//!   all instances (a ZooKeeper lock with Curator's InterProcessMutex layout under `<dir>/lock`).
//!   [`ZkState::update`] writes at the local copy's version and fails with
//!   [`Error::StaleWrite`] when ZooKeeper holds another; [`ZkState::update_latest`] re-reads under
//!   the lock.
//! * **Exactly once.** An update that returns `Ok` was applied exactly once; one that returns `Err`
//!   was not applied. When the reply to a write is lost, the outcome is resolved before the call
//!   returns (see the commit markers in `write/marker.rs`).
//! * **Changes in order.** [`ZkState::subscribe`] yields [`StateEvent`]s: batches of
//!   [`Change::Added`], [`Change::Removed`] and [`Change::Modified`] with key paths and
//!   `serde_json::Value` bodies, in version order, emitted before the local copy is replaced. The
//!   buffer is bounded: a subscriber that falls behind is told so and given a fresh snapshot.
//! * **Nothing from outside panics.** A payload that is not JSON, does not fit `T`, is deleted or
//!   is too large becomes a typed error or an event; the local copy keeps the last good value and
//!   recovers when a valid payload returns.
//! * **Owned tasks.** Every background task belongs to a handle and stops when the handle is closed
//!   or its last clone dropped.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = zkstate_testing::ZkServer::start().await?;
//! # let url = format!("zookeeper://{}/apps/monitor", server.connect_string());
//! use futures::StreamExt;
//! use zkstate::{Connection, Settings, StateEvent, ZkState};
//!
//! let conn = Connection::connect(&url, Settings::default()).await?;
//! let globs = ZkState::new(&conn, "globs", vec!["systemd*".to_string(), "rsync*".to_string()]).await?;
//! let mut changes = globs.subscribe();
//!
//! globs.update(|list| list.push("firefox*".to_string())).await?;
//!
//! if let Some(StateEvent::Changed(batch)) = changes.next().await {
//!     println!("version {}: {:?}", batch.version, batch.changes); // Added at [2]: "firefox*"
//! }
//! assert_eq!(globs.read()?.len(), 3);
//! globs.close().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! * `connection/`: ZooKeeper URLs ([`ZkUrl`]), [`Settings`] and their sources, the
//!   [`Connection`] container and its [`ConnectionState`]s.
//! * `state/`: the [`ZkState`] handle, the local copy and its reads (`store.rs`), the change
//!   stream (`changes.rs`), listener records, options and the ZooKeeper layout.
//! * `sync/`: the task that keeps the local copy current, and the staleness watchdog.
//! * `write/`: locked, version-checked writes and the commit markers that make them exactly-once.
//! * `diff/`: the pure diff engine ([`diff::diff`], [`diff::apply`]).
//! * `error.rs`: [`ConnectError`], [`Error`], [`TryUpdateError`].
//!
//! # ZooKeeper layout
//! ```text
//! /<dir>/payload          T as plain UTF-8 JSON (no envelope)
//! /<dir>/listeners/<id>   ephemeral, one per live instance
//! /<dir>/lock/            the write lock (Curator InterProcessMutex layout)
//! /<dir>/writers/<id>     commit markers, one per writing instance
//! ```
#![deny(missing_docs)]

pub mod connection;
pub mod diff;
mod error;
mod state;
mod sync;
mod write;

pub use self::connection::settings::{Credential, Settings, Target};
pub use self::connection::tls::TlsSettings;
pub use self::connection::url::ZkUrl;
pub use self::connection::{
    AclPolicy, Connection, ConnectionEvent, ConnectionEvents, ConnectionState,
};
pub use self::diff::{Change, KeyPath, PathSegment};
pub use self::error::{ConnectError, Error, TryUpdateError};
pub use self::state::changes::{ChangeBatch, Changes, Origin, StateEvent};
pub use self::state::listeners::Listener;
pub use self::state::options::{StateOptions, DEFAULT_MAX_PAYLOAD};
pub use self::state::store::StateRef;
pub use self::state::{list_listeners, ZkState};

/// Decodes a payload exactly as a state does (JSON first, then `T`), for tools and fuzzing.
///
/// # Errors
/// serde_json's message, with line and column, when the bytes are not JSON or not JSON of `T`.
pub fn decode_payload<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    state::store::decode::<T>(bytes).map(|(value, _)| value)
}
