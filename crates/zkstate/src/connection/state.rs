//! The states a [`Connection`](super::Connection) reports, as Curator and kazoo name them.

use std::fmt;

/// The state of a connection container.
///
/// Transitions (each one is published to every subscriber and logged with `tracing`):
///
/// | from | to | when |
/// |---|---|---|
/// | — | `Lost` | a container starts here, before its first session |
/// | `Lost` | `Connected` (new session) | a session was established |
/// | `Connected` | `Suspended` | the link to the server is gone; the session may still live, but no command can run |
/// | `Suspended` | `Connected` (same session) | the client reached a server (maybe another one) before the session expired |
/// | `Suspended`/`Connected` | `Lost` | the session expired: its ephemeral nodes and watches are gone |
/// | `Lost` | `Connected` (new session) | the container opened a new session by itself (jittered backoff) |
/// | any | `AuthFailed` | the server refused the credentials; the container retries with backoff |
/// | any | `Closed` | [`Connection::close`](super::Connection::close) was called; terminal |
///
/// A `Connected` that starts a new session is marked with [`ConnectionEvent::new_session`], so that
/// dependants re-create their ephemeral nodes and watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected to a server with a live session: commands run.
    Connected,
    /// The link is down but the session may still be alive: commands wait.
    Suspended,
    /// No session: before the first one, or after one expired. A new one is being opened.
    Lost,
    /// The server rejected our credentials.
    AuthFailed,
    /// The container was closed. Terminal.
    Closed,
}

impl ConnectionState {
    /// Whether commands can run now.
    pub fn is_connected(self) -> bool {
        self == ConnectionState::Connected
    }

    /// The `state` label of the `zkstate_connection_state` gauge: one of
    /// [`metrics::CONNECTION_STATES`](crate::metrics::CONNECTION_STATES).
    pub(crate) fn metric_label(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Suspended => "suspended",
            ConnectionState::Lost => "lost",
            ConnectionState::Closed => "closed",
            ConnectionState::AuthFailed => "auth_failed",
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Suspended => "SUSPENDED",
            ConnectionState::Lost => "LOST",
            ConnectionState::AuthFailed => "AUTH_FAILED",
            ConnectionState::Closed => "CLOSED",
        })
    }
}

/// One transition of a [`Connection`](super::Connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionEvent {
    /// The state entered.
    pub state: ConnectionState,
    /// The ZooKeeper session id, when there is a session.
    pub session_id: Option<i64>,
    /// `true` on the `Connected` that starts a new session (the first one, or one after `Lost`).
    pub new_session: bool,
    /// How many sessions this container has opened so far (1 for the first).
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::ConnectionState::*;
    use crate::metrics::CONNECTION_STATES;

    #[test]
    fn every_state_has_its_own_metric_label() {
        let labels = [Connected, Suspended, Lost, Closed, AuthFailed].map(|s| s.metric_label());
        for label in labels {
            assert!(
                CONNECTION_STATES.contains(&label),
                "{label} is not a gauge label"
            );
        }
        let mut distinct = labels.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), CONNECTION_STATES.len(), "{labels:?}");
    }
}
