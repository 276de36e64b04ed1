//! The error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting, driving or stopping test servers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// No Java runtime: neither `$JAVA_HOME/bin/java` nor `java` on `PATH`.
    #[error(
        "no Java runtime found (looked at $JAVA_HOME/bin/java and for `java` on PATH); \
         install ZooKeeper and a JRE with `apt-get update && apt-get install -y zookeeper`"
    )]
    JavaNotFound,

    /// The ZooKeeper jars are missing.
    #[error(
        "ZooKeeper jars not found (searched {}); install them with \
         `apt-get update && apt-get install -y zookeeper`, or point $ZOOKEEPER_HOME at an \
         unpacked Apache ZooKeeper release",
        display_paths(searched)
    )]
    ZooKeeperNotFound {
        /// The places that were searched.
        searched: Vec<PathBuf>,
    },

    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A server did not start serving in time, or exited while starting.
    #[error("{what} (waited {waited:?}); last lines of its log:\n{log_tail}")]
    NotReady {
        /// What did not become ready, and how it failed.
        what: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last lines of the server's log.
        log_tail: String,
    },

    /// A ZooKeeper client operation failed.
    #[error("ZooKeeper session operation failed: {0}")]
    Session(#[source] zookeeper_client::Error),

    /// Something did not happen within its deadline.
    #[error("{what} did not happen within {waited:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long it was waited for.
        waited: Duration,
    },

    /// An argument was out of range or invalid (for example a node index or an ensemble size).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A test certificate or key could not be generated (see [`crate::tls`]).
    #[error("cannot generate the test {what}: {message}")]
    Certificate {
        /// What was being generated (`CA`, `server certificate`, …).
        what: String,
        /// rcgen's message.
        message: String,
    },
}

impl TestingError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        TestingError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<zookeeper_client::Error> for TestingError {
    fn from(err: zookeeper_client::Error) -> Self {
        TestingError::Session(err)
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// `Result` with [`TestingError`] as its default error type.
pub type Result<T, E = TestingError> = std::result::Result<T, E>;
