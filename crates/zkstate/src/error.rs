//! Errors, one enum per boundary: connecting, and working with a state; how ZooKeeper's errors
//! map to them ([`Error::from_zookeeper`]), and the one helper that puts a deadline on a request
//! ([`within`]). The errors of a connection's URL and settings are in `error/config.rs`. This
//! module imports nothing from the rest of the crate: every other module may use it.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

mod config;

pub use self::config::{CredentialProblem, PathProblem, SettingsError, UrlError};

/// Why a payload's bytes do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A zstd frame that does not decompress: truncated or corrupt.
    #[error("corrupt zstd frame: {0}")]
    Frame(String),
    /// A zstd frame that decompresses to more than the cap (a decompression bomb).
    #[error("zstd frame decompresses to more than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// JSON with more values than the cap ([`StateOptions::with_max_values`](crate::StateOptions::with_max_values)):
    /// refused before it is parsed, whatever its size in bytes.
    #[error("payload holds {count} json values, more than the limit of {limit}")]
    TooManyValues {
        /// The cap.
        limit: usize,
        /// How many the payload holds.
        count: usize,
    },
    /// Not JSON, or not JSON of the state's type: serde_json's message, with line and column.
    #[error("{0}")]
    Json(String),
}

/// Errors from [`Connection`](crate::Connection).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL could not be parsed; the message names the bad part.
    #[error("invalid zookeeper url: {0}")]
    Url(#[from] UrlError),
    /// The settings are incomplete or invalid.
    #[error("invalid zookeeper settings: {0}")]
    Settings(#[from] SettingsError),
    /// No session could be opened in time: check that the servers run and the address is right.
    #[error("zookeeper at {servers} unreachable within {waited:?}")]
    Unreachable {
        /// The connect string tried.
        servers: String,
        /// How long we waited.
        waited: Duration,
    },
    /// Every server turned the connection away at once: its port refused it, or its name did
    /// not resolve (`causes` says which, per server). Reported without waiting for the timeout.
    #[error("zookeeper at {servers} cannot be reached: {causes}")]
    Refused {
        /// The connect string tried.
        servers: String,
        /// Per server: `h1:2181: connection refused`, `h2:2181: name not resolved`.
        causes: String,
    },
    /// The server rejected the credentials given in the settings.
    #[error("zookeeper at {servers} rejected the credentials")]
    AuthFailed {
        /// The connect string tried.
        servers: String,
    },
    /// The connection was closed.
    #[error("the zookeeper connection was closed")]
    Closed,
    /// The TLS settings could not be used: a file cannot be read or holds no usable PEM, or a
    /// `zookeeper+tls://` URL was given without a CA. The message names the file or setting.
    #[error("zookeeper tls: {message}")]
    Tls {
        /// What is wrong, naming the file.
        message: String,
    },
    /// TLS was on and no session could be opened in time. What [`Unreachable`] is without TLS,
    /// with the likely TLS causes spelled out: a failed handshake (the servers' certificate is
    /// not signed by the CA, or does not name the host; the servers refused the client
    /// certificate) looks like an unreachable server to the client, which retries until the
    /// connect timeout.
    ///
    /// [`Unreachable`]: ConnectError::Unreachable
    #[error(
        "no TLS session with zookeeper at {servers} within {waited:?}: check that the servers \
         run and these are their secure client ports (secureClientPort), that their \
         certificates are signed by the CA in {} and name the host connected to, and that they \
         accept the client certificate",
        ca.display()
    )]
    TlsUnreachable {
        /// The connect string tried.
        servers: String,
        /// How long we waited.
        waited: Duration,
        /// The CA file the servers' certificates were checked against.
        ca: PathBuf,
    },
}

/// Errors from [`ZkState`](crate::ZkState).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `read()`: the local copy has not been verified against ZooKeeper within `max_staleness`.
    /// [`d_read`](crate::ZkState::d_read) still returns it.
    #[error("state {dir} not verified against zookeeper for more than {max_staleness:?}")]
    Stale {
        /// The state directory.
        dir: String,
        /// The configured bound.
        max_staleness: Duration,
    },
    /// ZooKeeper did not answer in time (the link is down, or the ensemble has no quorum).
    #[error("zookeeper did not answer within {waited:?} while {op} {path}")]
    Timeout {
        /// What we were doing.
        op: &'static str,
        /// The node involved.
        path: String,
        /// How long we waited.
        waited: Duration,
    },
    /// `update()`: another writer held the state's lock for the whole `lock_timeout`
    /// ([`StateOptions::with_lock_timeout`](crate::StateOptions::with_lock_timeout)): ZooKeeper
    /// answered, the lock was not free. Nothing was written.
    #[error("lock {path} held by another writer for {waited:?}; nothing written")]
    LockTimeout {
        /// The lock directory (`<dir>/lock`).
        path: String,
        /// How long the update waited.
        waited: Duration,
    },
    /// `update()`: a node ahead of this writer's in the lock queue is persistent, so no
    /// session holds it and it would never be released: another client planted it (a
    /// contender's node is always ephemeral). Nothing was written. Removing it repairs the state
    /// ([`unlock`](crate::unlock), `zkstate unlock`).
    #[error("lock node {path} is not held by a live session (a persistent node blocks every write); nothing written")]
    LockNotHeld {
        /// The persistent lock node.
        path: String,
    },
    /// `update()`: ZooKeeper holds another write than the one the update started from (someone
    /// wrote it without zkstate's lock, this instance had not seen the last write yet, or the
    /// payload was deleted and re-created). Nothing was written; the local copy has been
    /// refreshed, so a retry works.
    #[error("stale write to {path}: expected version {local}, zookeeper holds {}; nothing written, local copy refreshed", remote_version(*.remote))]
    StaleWrite {
        /// The payload node.
        path: String,
        /// The version the update started from.
        local: i32,
        /// The version ZooKeeper holds, when it could be read.
        remote: Option<i32>,
    },
    /// A version given by the caller is not a payload version (`replace_at` takes versions
    /// from 0 up; ZooKeeper's `-1`, "any version", would make the compare-and-set a blind write).
    /// Nothing was written.
    #[error("invalid version {version} for {path}: payload versions are 0 or more")]
    InvalidVersion {
        /// The payload node.
        path: String,
        /// The version given.
        version: i32,
    },
    /// The reply to a write was lost and its outcome could not be established: its commit marker
    /// vanished (removed by an operator or by a reaper after the writer was cut off longer than
    /// the marker grace period), or no session answered within the resolution deadline. The
    /// write may or may not have been applied: read the state to find out. The only error that
    /// does not mean "not applied".
    #[error("the outcome of a write to {path} is unknown: {reason}")]
    OutcomeUnknown {
        /// The payload node.
        path: String,
        /// Why it could not be established.
        reason: String,
    },
    /// The serialised value is above ZooKeeper's packet limit; nothing was sent.
    #[error("payload for {path} is {size} bytes, above the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The payload node.
        path: String,
        /// The size of the JSON.
        size: usize,
        /// The configured limit (ZooKeeper's `jute.maxbuffer` minus framing).
        limit: usize,
    },
    /// The payload in ZooKeeper is not JSON, not JSON of this type, or a bad zstd frame. The local
    /// copy keeps the last good value and recovers once a valid payload is written.
    #[error("payload {path} (version {version}) does not decode: {reason}")]
    Decode {
        /// The payload node.
        path: String,
        /// Its version.
        version: i32,
        /// Why: serde_json's message with line and column, or what is wrong with the frame.
        reason: DecodeError,
    },
    /// The value could not be serialised to JSON (for example a map with non-string keys).
    #[error("value for {path} does not serialise to json: {message}")]
    Encode {
        /// The payload node.
        path: String,
        /// serde_json's message.
        message: String,
    },
    /// The payload node (or its whole directory) does not exist.
    #[error("payload {path} does not exist")]
    Missing {
        /// The payload node.
        path: String,
    },
    /// The history of the state does not hold this version's value ([`crate::history`]).
    #[error("version {version} of {dir} is not kept: {reason}")]
    NotKept {
        /// The state directory.
        dir: String,
        /// The version asked for.
        version: i32,
        /// Why: not in the history, or the chain of undo patches back to it is broken.
        reason: String,
    },
    /// The update closure panicked: nothing was written and the lock was released.
    #[error("update closure for {path} panicked; nothing written")]
    UpdatePanicked {
        /// The payload node.
        path: String,
    },
    /// The session has no right to do this (ZooKeeper ACLs).
    #[error("permission denied on {path}")]
    PermissionDenied {
        /// The node refused.
        path: String,
    },
    /// The state (or its connection) was closed.
    #[error("state {dir} is closed")]
    Closed {
        /// The state directory.
        dir: String,
    },
    /// The state directory is not a valid ZooKeeper path.
    #[error("invalid state directory: {0}")]
    InvalidDir(#[from] UrlError),
    /// Another ZooKeeper error.
    #[error("zookeeper error while {op} {path}: {source}")]
    ZooKeeper {
        /// What we were doing.
        op: &'static str,
        /// The node involved.
        path: String,
        /// The client's error.
        #[source]
        source: zookeeper_client::Error,
    },
}

fn remote_version(remote: Option<i32>) -> String {
    match remote {
        Some(version) => format!("version {version}"),
        None => "another write".to_string(),
    }
}

impl Error {
    /// Maps a ZooKeeper client error on `path` while doing `op`: `NoAuth` is
    /// [`Error::PermissionDenied`], `NoNode` is [`Error::Missing`], anything else
    /// [`Error::ZooKeeper`]. The mapping every zkstate tool uses.
    pub fn from_zookeeper(op: &'static str, path: &str, source: zookeeper_client::Error) -> Error {
        match source {
            zookeeper_client::Error::NoAuth => Error::PermissionDenied {
                path: path.to_string(),
            },
            zookeeper_client::Error::NoNode => Error::Missing {
                path: path.to_string(),
            },
            source => Error::ZooKeeper {
                op,
                path: path.to_string(),
                source,
            },
        }
    }

    pub(crate) fn timeout(op: &'static str, path: &str, waited: Duration) -> Error {
        Error::Timeout {
            op,
            path: path.to_string(),
            waited,
        }
    }

    /// Whether retrying the same call later may succeed: a stale copy, a timeout, a lock held by
    /// another writer, a stale write, and the ZooKeeper errors of an expired session, a dropped
    /// link or a busy server (throttled, session moved, lock lost).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Stale { .. }
            | Error::Timeout { .. }
            | Error::LockTimeout { .. }
            | Error::StaleWrite { .. } => true,
            Error::ZooKeeper { source, .. } => ZkFailure::of(source).is_transient(),
            _ => false,
        }
    }
}

/// What a ZooKeeper client error says about the session and the request: the one classifier
/// that the sync task, the writes, the marker resolution and [`Error::is_transient`] use.
///
/// | kind | client errors | the session | the request |
/// |---|---|---|---|
/// | `Expired` | `SessionExpired` | over; the connection opens the next one | not applied (a write's reply may be lost) |
/// | `Ended` | `ClientClosed`, `AuthFailed`, `NoHosts` | over; no retry of it helps | not applied (likewise) |
/// | `LinkDown` | `ConnectionLoss`, `Timeout` | the same session answers once reconnected | outcome unknown |
/// | `Busy` | `Throttled`, `SessionMoved`, `RuntimeInconsistent` (the client's "lock lost") | usable | answered, not applied; a retry may succeed |
/// | `Refused` | `NoNode`, `NoAuth`, `BadVersion`, `NodeExists`, `NotEmpty`, `NoChildrenForEphemerals`, `InvalidAcl`, `QuotaExceeded`, `NotReadOnly`, `BadArguments`, `MarshallingError`, `Unimplemented` | usable | answered, not applied; a retry gets the same answer |
/// | `Other` | anything else (unexpected codes, custom errors) | unknown | unknown |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZkFailure {
    Expired,
    Ended,
    LinkDown,
    Busy,
    Refused,
    Other,
}

impl ZkFailure {
    /// The row of the table above for `err`.
    pub(crate) fn of(err: &zookeeper_client::Error) -> ZkFailure {
        use zookeeper_client::Error::*;
        match err {
            SessionExpired => ZkFailure::Expired,
            ClientClosed | AuthFailed | NoHosts => ZkFailure::Ended,
            ConnectionLoss | Timeout => ZkFailure::LinkDown,
            Throttled | SessionMoved | RuntimeInconsistent => ZkFailure::Busy,
            NoNode
            | NoAuth
            | BadVersion
            | NodeExists
            | NotEmpty
            | NoChildrenForEphemerals
            | InvalidAcl
            | QuotaExceeded
            | NotReadOnly
            | BadArguments(_)
            | MarshallingError
            | Unimplemented => ZkFailure::Refused,
            _ => ZkFailure::Other,
        }
    }

    /// The session can serve no request again.
    pub(crate) fn is_session_over(self) -> bool {
        matches!(self, ZkFailure::Expired | ZkFailure::Ended)
    }

    /// Sending the request again, in this session or the connection's next one, may succeed.
    pub(crate) fn is_transient(self) -> bool {
        matches!(
            self,
            ZkFailure::Expired | ZkFailure::LinkDown | ZkFailure::Busy
        )
    }
}

/// Runs one ZooKeeper request on `path` with a deadline, mapping its errors as the library does
/// ([`Error::from_zookeeper`]); no answer within `timeout` is [`Error::Timeout`]. ZooKeeper
/// requests made while disconnected wait until the session expires: every call a user waits on
/// goes through this.
///
/// # Errors
/// [`Error::Timeout`], or the mapped client error.
pub async fn within<T>(
    op: &'static str,
    path: &str,
    timeout: Duration,
    request: impl Future<Output = Result<T, zookeeper_client::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(Error::timeout(op, path, timeout)),
        Ok(result) => result.map_err(|err| Error::from_zookeeper(op, path, err)),
    }
}

/// [`within`] for work that already returns the library's errors.
pub(crate) async fn within_state<T>(
    op: &'static str,
    path: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| Error::timeout(op, path, timeout))?
}

/// The error of [`ZkState::try_update`](crate::ZkState::try_update): the closure's own error, or
/// the state's.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TryUpdateError<E> {
    /// The closure returned this error: nothing was written.
    #[error("update aborted: {0}")]
    Aborted(E),
    /// The update failed.
    #[error(transparent)]
    State(#[from] Error),
}
