//! Errors, one enum per boundary: connecting, and working with a state.

use std::path::PathBuf;
use std::time::Duration;

use crate::connection::settings::SettingsError;
use crate::connection::url::UrlError;

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
    /// `update()`: ZooKeeper holds another version than the local copy (someone wrote it without
    /// zkstate's lock, or this instance had not seen the last write yet). Nothing was written;
    /// the local copy has been refreshed, so a retry works.
    #[error("stale write to {path}: local version {local}, zookeeper holds {remote}; nothing written, local copy refreshed")]
    StaleWrite {
        /// The payload node.
        path: String,
        /// The version the local copy held.
        local: i32,
        /// The version ZooKeeper held.
        remote: i32,
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
    /// The payload in ZooKeeper is not JSON, or not JSON of this type. The local copy keeps the
    /// last good value and recovers once a valid payload is written.
    #[error("payload {path} (version {version}) does not decode: {message}")]
    Decode {
        /// The payload node.
        path: String,
        /// Its version.
        version: i32,
        /// serde_json's message, with line and column.
        message: String,
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

impl Error {
    /// Maps a client error on `path` while doing `op`.
    pub(crate) fn zk(op: &'static str, path: &str, source: zookeeper_client::Error) -> Error {
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

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Stale { .. } | Error::Timeout { .. } | Error::StaleWrite { .. } => true,
            Error::ZooKeeper { source, .. } => matches!(
                source,
                zookeeper_client::Error::ConnectionLoss
                    | zookeeper_client::Error::SessionExpired
                    | zookeeper_client::Error::Throttled
                    | zookeeper_client::Error::Timeout
                    | zookeeper_client::Error::RuntimeInconsistent
            ),
            _ => false,
        }
    }
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
