//! Share a typed struct across every instance of an application through Apache ZooKeeper.
//!
//! A [`ZkState<T>`] holds a serde value that lives in ZooKeeper as JSON at `<dir>/payload`.
//! Every instance keeps a local copy, kept current by a persistent watch, a jittered periodic
//! check and a re-sync after every reconnection or new session; every change, local or remote,
//! is delivered as diff events.
//!
//! # Guarantees
//! * **Reads come in three strengths.** [`ZkState::read`] returns the local copy without a round
//!   trip, and fails with [`Error::Stale`] once the copy has not been verified against ZooKeeper
//!   within `max_staleness` (30 s by default; never on a healthy connection). [`ZkState::c_read`]
//!   returns a value current at the time of the call (a `sync` and a stat, pipelined).
//!   [`ZkState::d_read`] returns the local copy whatever its age.
//! * **Writes are exclusive and version-checked.** One update at a time, in the process and across
//!   all instances (a ZooKeeper lock with Curator's InterProcessMutex layout under `<dir>/lock`).
//!   [`ZkState::update`] writes at the local copy's version and fails with [`Error::StaleWrite`]
//!   when ZooKeeper holds another write (another version, or another incarnation of the
//!   payload); [`ZkState::update_latest`] works on what ZooKeeper holds under the lock.
//! * **Exactly once.** An update that returns `Ok` was applied exactly once; one that returns `Err`
//!   was not applied, except [`Error::OutcomeUnknown`], which says so. When the reply to a write
//!   is lost, the outcome is resolved before the call returns (see the commit markers in
//!   [`layout`]).
//! * **An update changes only what its closure changed.** Fields of the stored JSON that `T`
//!   does not know (a newer version of the application added them) are kept: two versions of an
//!   application can update one state during a rolling upgrade ([`diff::merge`]).
//! * **A history, and undo.** Every write records its version in the state's history in the
//!   same transaction as the payload: who wrote it, when, why, what changed, and how to get the
//!   version before back ([`history`]); [`ZkState::rollback_to`] writes a kept version again.
//! * **Changes in order.** [`ZkState::subscribe`] yields [`StateEvent`]s: batches of
//!   [`Change::Added`], [`Change::Removed`] and [`Change::Modified`] with key paths and
//!   `serde_json::Value` bodies, in version order, emitted before the local copy is replaced. The
//!   buffer is bounded: a subscriber that falls behind is told so and given a fresh snapshot.
//! * **Nothing from outside panics.** A payload that is not JSON, does not fit `T`, is a bad
//!   compressed frame, is deleted or is too large becomes a typed error or an event; the local
//!   copy keeps the last good value and recovers when a valid payload returns.
//! * **Owned tasks, owned nodes.** Every background task belongs to a handle and stops when the
//!   handle is closed or its last clone dropped. Listener records and lock nodes are ephemeral;
//!   commit markers of writers that are gone are removed by the live instances after a grace
//!   period.
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
//! Imports flow one way, down this list; `store` is a leaf that knows nothing of ZooKeeper
//! sessions, locks or the handle:
//!
//! ```text
//! state/       ZkState (the handle), the shared core per connection, fleet views (rollout),
//!              history.rs (reading the history), writes.rs (messages, rollbacks)
//!   ├─ sync/   the task that owns the store's Writer: recovery (a pure step), the machines it
//!   │          drives (the remote watch, members' records, reports, the reaper of dead
//!   │          writers' markers); the staleness watchdog
//!   ├─ write/  the update: decide.rs (pure decisions), steps.rs (the I/O of each step),
//!   │          closure.rs, resolve.rs (the lost-reply resolver machine), lock.rs (Curator's
//!   │          layout, pipelined), marker.rs (commit markers)
//!   └─ connection/  URLs, settings, TLS, the session container (acl.rs re-exports AclPolicy)
//! store/       the local copy: writer.rs (Writer: one, not Clone), reader.rs (Store: readers),
//!              inbox.rs (Request, and Feed: the capability to ask the writer), snapshot.rs,
//!              bound.rs (staleness), shared.rs, codec.rs, json.rs (what the copy keeps: a small
//!              payload's text, else its tree), copy.rs (where its work runs), changes.rs
//! diff/        diff (walk.rs), apply, merge, the text fast path (pure)
//! history/     what a write adds to the history (plan.rs), which versions reproduce (chain.rs),
//!              what a writer knows between writes (cache.rs), the stored entry (entry.rs): pure
//! layout.rs (node names, AclPolicy), listeners.rs, options.rs (Compression), metrics.rs,
//! error.rs and error/config.rs: leaf files, which import nothing of the crate but error.rs
//! ```
//!
//! A remote change: the persistent watch's event (`sync::remote::Remote::next`) →
//! `sync::recovery::Recovery::step` → `Action::Read(Fetch)` → `Client::get_data` →
//! `store::Writer::apply_fetched` (`store::codec::decode_and_diff`: decode → diff; then
//! `publish`: send the batch → swap the copy; on the blocking pool for payloads of 64 KiB and
//! more, as `store::copy` decides) → `Action::MarkVerified`.
//!
//! An update: `ZkState::update` → `write::update` (one loop over `write::steps::Next`) →
//! `steps::lock` (the commit marker, then `write::lock::acquire`: create, list and stat in one
//! round trip) → `decide::choose_base` → the closure on a copy and `diff::merge` (`write::closure`)
//! → `store::codec::encode` → `history::plan::plan` → one multi (check the lock, set the payload,
//! set the marker, delete the lock, create the history entry, delete the trimmed ones; a failure classified by `decide::after_commit`, a lost reply resolved by
//! `write::resolve`) → `store::InFlight::acknowledge` → the sync task's
//! `store::Writer::apply_acknowledged` (diff → publish → swap) → `Ok(version)`.
//!
//! # Metrics
//! See [`metrics`] for every series, its unit and its labels.
#![deny(missing_docs)]

pub mod connection;
pub mod diff;
mod error;
pub mod history;
pub mod layout;
mod listeners;
pub mod metrics;
mod options;
mod state;
mod store;
mod sync;
mod write;

pub use self::connection::settings::{Credential, Settings, Target};
pub use self::connection::tls::TlsSettings;
pub use self::connection::url::ZkUrl;
pub use self::connection::{
    AclPolicy, Connection, ConnectionEvent, ConnectionEvents, ConnectionState,
};
pub use self::diff::{Change, KeyPath, PathSegment};
pub use self::error::{within, ConnectError, DecodeError, Error, TryUpdateError};
pub use self::listeners::Listener;
pub use self::options::{StateOptions, Tool, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_VALUES};
pub use self::state::fleet::{list_listeners, rollout, wait_for_rollout, watch_listeners, Rollout};
pub use self::state::history::{read_history, value_at};
pub use self::state::writes::Noted;
pub use self::state::{unlock, Freshness, WeakState, ZkState};
pub use self::store::changes::{ChangeBatch, Changes, Origin, StateEvent};
pub use self::store::codec::{Compression, DEFAULT_MAX_DECOMPRESSED};
pub use self::store::StateRef;
pub use self::write::MAX_MESSAGE;

/// Decodes a payload exactly as a state does (plain JSON or a zstd frame, then `T`), for tools
/// and fuzzing, with the default limits ([`DEFAULT_MAX_DECOMPRESSED`], [`DEFAULT_MAX_VALUES`]).
///
/// # Errors
/// A [`DecodeError`]: serde_json's message with line and column, or what is wrong with the frame.
pub fn decode_payload<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    store::codec::decode::<T>(bytes, crate::options::Limits::default()).map(|(value, ..)| value)
}

/// Encodes a JSON value as a state with `compression` stores it, for tools.
///
/// # Errors
/// The compressor's message (it fails only when memory does).
pub fn encode_payload(
    json: &serde_json::Value,
    compression: Compression,
) -> Result<Vec<u8>, String> {
    store::codec::encode(json, compression)
}

/// What applying a fetched payload costs, for the benchmark harness: not part of the API.
#[doc(hidden)]
pub mod bench {
    use std::sync::Arc;

    use crate::store::Json;

    /// The JSON a local copy holds for a payload: its text, its tree, or both, as a copy keeps them.
    pub struct Held(Json);

    impl Held {
        /// What a copy holding `bytes` (plain JSON or a zstd frame) keeps.
        ///
        /// # Errors
        /// Why it does not decode.
        pub fn of(bytes: &[u8]) -> Result<Held, crate::DecodeError> {
            let (_, json, _) = decode_and_diff::<serde::de::IgnoredAny>(&Held::empty(), bytes)?;
            Ok(json)
        }

        fn empty() -> Held {
            Held(Json::of_tree(Arc::new(serde_json::Value::Null)))
        }
    }

    /// Decodes `bytes` (plain JSON or a zstd frame) and diffs it against `current`, as a state's
    /// writer does with a fetched payload: as text when `current` is canonical text and the
    /// change is small next to it, else by parsing the new tree (and the current one when the
    /// copy holds only its text). The new payload is kept as the copy keeps it.
    ///
    /// # Errors
    /// Why it does not decode.
    pub fn decode_and_diff<T: serde::de::DeserializeOwned>(
        current: &Held,
        bytes: &[u8],
    ) -> Result<(T, Held, Vec<crate::Change>), crate::DecodeError> {
        let decoded = crate::store::codec::decode_and_diff::<T>(
            &current.0,
            bytes,
            crate::options::Limits::default(),
        )?;
        Ok((decoded.value, Held(decoded.json), decoded.changes))
    }
}

/// Whether stored payload bytes are a zstd frame (else plain JSON).
pub fn is_compressed(bytes: &[u8]) -> bool {
    store::codec::is_compressed(bytes)
}
