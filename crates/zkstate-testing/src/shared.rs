//! One server per test process, for the tests that do not break it.

use tokio::sync::OnceCell;

use crate::error::Result;
use crate::server::ZkServer;

static SHARED: OnceCell<ZkServer> = OnceCell::const_new();

/// A standalone server shared by every caller in this process, started on first use.
///
/// Share it between tests that leave the server alone and work in directories of their own;
/// a test that stops, kills or partitions a server starts its own. The server lives until the
/// process ends, and its JVM dies with the process (see the crate docs on leaked JVMs).
///
/// # Errors
/// As [`ZkServer::start`], for the call that starts it; later calls retry a failed start.
pub async fn shared_server() -> Result<&'static ZkServer> {
    SHARED.get_or_try_init(ZkServer::start).await
}
