//! Forcing a real session expiry (Curator's `KillSession`).

use std::time::Duration;

use zookeeper_client::{Client, SessionInfo, SessionState};

use crate::error::{Result, TestingError};
use crate::proxy::{FaultProxy, ProxyMode};

/// How long the second client may take to take the victim's session over. Its own deadline
/// is 7/5 of its 6 s session timeout; this only bounds it from outside.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server may take to acknowledge the CloseSession.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes the server expire `session`, whose client (the victim) reaches the server through
/// `proxy`; `direct` is the server's own connect string (not the proxy's).
///
/// Returns once the server has closed the session and the proxy is back in its previous mode
/// (normally [`ProxyMode::Pass`]): the victim then reconnects through the proxy and its
/// state watcher reports [`SessionState::Expired`], usually within a few hundred milliseconds
/// (if the proxy was blackholed or refusing, only once traffic passes again).
///
/// # How
/// 1. [`refuse`](FaultProxy::refuse) the proxy: the victim's connection is reset and it cannot
///    reconnect.
/// 2. Connect a second client *directly* to the server with the victim's
///    [`SessionInfo`] (`Connector::with_session`, not detached), bounded in time.
/// 3. Drop it: a non-detached client sends CloseSession when its last clone is dropped, which
///    ends the session on the server. Wait until the close is acknowledged.
/// 4. Restore the proxy's previous mode (even if this future is cancelled or fails).
///
/// # Why not simply connect a second client with the victim's session?
/// That race (the usual recipe) is lost most of the time against a live client: the victim
/// reconnects within milliseconds, takes its session back, and the second `connect` fails with
/// `Timeout`. Cutting the victim off first makes the takeover deterministic. Waiting for
/// the session timeout while the server is down also works, but is slow and the expiry is then
/// decided by the client, not the server.
///
/// # Errors
/// [`TestingError::Session`] if the second client fails (a session that is already expired
/// is not an error), [`TestingError::Timeout`] if it cannot connect or its close is not
/// acknowledged in time, [`TestingError::InvalidArgument`] for a read-only session (which
/// cannot be re-established).
pub async fn expire_session(proxy: &FaultProxy, direct: &str, session: &SessionInfo) -> Result<()> {
    if session.is_readonly() {
        return Err(TestingError::InvalidArgument(format!(
            "session {} is read-only: it cannot be taken over, hence not expired",
            session.id()
        )));
    }
    let _restore = RestoreMode {
        proxy,
        previous: proxy.mode(),
    };
    proxy.refuse();
    tracing::debug!(session = %session.id(), direct, "expiring session");
    let connect = Client::connector()
        .with_session(session.clone())
        .connect(direct);
    let client = match tokio::time::timeout(TAKEOVER_TIMEOUT, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(zookeeper_client::Error::SessionExpired)) => {
            tracing::debug!(session = %session.id(), "session already expired");
            return Ok(());
        }
        Ok(Err(err)) => return Err(TestingError::Session(err)),
        Err(_) => {
            return Err(TestingError::Timeout {
                what: format!("taking session {} over on {direct}", session.id()),
                waited: TAKEOVER_TIMEOUT,
            })
        }
    };
    let mut state = client.state_watcher();
    // Dropping the only clone sends CloseSession; the state turns `Closed` once the server
    // answered it.
    drop(client);
    let closed = async {
        loop {
            let current = state.state();
            if current.is_terminated() {
                return current;
            }
            state.changed().await;
        }
    };
    match tokio::time::timeout(CLOSE_TIMEOUT, closed).await {
        Ok(SessionState::Closed | SessionState::Expired) => {
            tracing::debug!(session = %session.id(), "session closed on the server");
            Ok(())
        }
        Ok(other) => Err(TestingError::Session(
            zookeeper_client::Error::UnexpectedError(format!(
                "closing the taken-over session ended in state {other}"
            )),
        )),
        Err(_) => Err(TestingError::Timeout {
            what: format!(
                "acknowledgement of CloseSession for session {}",
                session.id()
            ),
            waited: CLOSE_TIMEOUT,
        }),
    }
}

/// Puts the proxy back in its previous mode when dropped.
struct RestoreMode<'a> {
    proxy: &'a FaultProxy,
    previous: ProxyMode,
}

impl Drop for RestoreMode<'_> {
    fn drop(&mut self) {
        match self.previous {
            ProxyMode::Pass => self.proxy.pass(),
            ProxyMode::Blackhole => self.proxy.blackhole(),
            ProxyMode::Refuse => self.proxy.refuse(),
        }
    }
}
