//! Repairing a state's lock without opening the state: removing the nodes of its lock queue that
//! no session holds.

use super::core::connected;
use crate::connection::Connection;
use crate::error::{within, Error};
use crate::layout::Layout;

/// Removes the nodes under the lock of the state at `dir` (resolved as
/// [`Connection::resolve_dir`]) that no session holds, and returns their paths. Every
/// contender's node is ephemeral, so a persistent one was planted by another client; named like
/// a contender, it blocks every write ([`Error::LockNotHeld`]). Each is deleted at the version
/// it was seen at; a live contender's node (ephemeral) is never touched. Nothing to remove, or
/// no lock directory, is `Ok` with no paths.
///
/// # Errors
/// [`Error::InvalidDir`], [`Error::Timeout`], [`Error::PermissionDenied`], [`Error::ZooKeeper`].
pub async fn unlock(conn: &Connection, dir: &str) -> Result<Vec<String>, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    let timeout = conn.settings().connect_timeout();
    let client = connected(conn, &layout, timeout).await?;
    let listed = within(
        "listing",
        &layout.lock,
        timeout,
        client.list_children(&layout.lock),
    );
    let children = match listed.await {
        Ok(children) => children,
        Err(Error::Missing { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let paths: Vec<String> = children
        .iter()
        .map(|child| format!("{}/{child}", layout.lock))
        .collect();
    // Created before any is awaited, so that they travel together.
    let stats: Vec<_> = paths.iter().map(|path| client.check_stat(path)).collect();
    let mut removed = Vec::new();
    for (path, stat) in paths.into_iter().zip(stats) {
        let stat = within("reading", &path, timeout, stat).await?;
        let Some(stat) = stat.filter(|stat| stat.ephemeral_owner == 0) else {
            continue;
        };
        match within(
            "removing",
            &path,
            timeout,
            client.delete(&path, Some(stat.version)),
        )
        .await
        {
            Ok(()) => {
                tracing::info!(%path, "removed a lock node no session holds");
                removed.push(path);
            }
            // Gone or changed since the stat: not ours to judge again.
            Err(Error::Missing { .. }) => {}
            Err(Error::ZooKeeper {
                source: zookeeper_client::Error::BadVersion,
                ..
            }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}
