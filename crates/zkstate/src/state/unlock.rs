//! Repairing a state's lock without opening the state: removing the nodes of its lock queue that
//! no session holds.

use super::core::connected;
use crate::connection::Connection;
use crate::error::{within, Error};
use crate::layout::Layout;

/// Removes the nodes of the lock queue of the state at `dir` (resolved as
/// [`Connection::resolve_dir`]) that no session holds, and returns their paths. Every
/// contender's node is ephemeral, so a persistent one named like a contender was planted by
/// another client, and blocks every write ([`Error::LockNotHeld`]). Each is deleted at the
/// version it was seen at, with whatever was planted under it; a live contender's node
/// (ephemeral) and nodes not named like contenders (they block nothing) are never touched.
/// Nothing to remove, or no lock directory, is `Ok` with no paths.
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
    // Only names a contender could have: other tools' nodes in the directory block nothing.
    let paths: Vec<String> = children
        .iter()
        .filter(|child| crate::write::lock::sequence(child).is_some())
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
        if remove_planted(&client, &path, stat.version, timeout).await? {
            tracing::info!(%path, "removed a lock node no session holds");
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Removes a planted node at `version`, and first whatever was planted under it (a node with
/// children cannot be deleted). `false` when it changed or went meanwhile: not ours to judge
/// again.
async fn remove_planted(
    client: &zookeeper_client::Client,
    path: &str,
    version: i32,
    timeout: std::time::Duration,
) -> Result<bool, Error> {
    loop {
        let delete = client.delete(path, Some(version));
        match within("removing", path, timeout, delete).await {
            Ok(()) => return Ok(true),
            Err(Error::Missing { .. }) => return Ok(false),
            Err(Error::ZooKeeper {
                source: zookeeper_client::Error::BadVersion,
                ..
            }) => return Ok(false),
            Err(Error::ZooKeeper {
                source: zookeeper_client::Error::NotEmpty,
                ..
            }) => remove_below(client, path, timeout).await?,
            Err(err) => return Err(err),
        }
    }
}

/// Removes everything below `path`, deepest nodes first (whatever their versions: a planted
/// node's children were planted with it).
async fn remove_below(
    client: &zookeeper_client::Client,
    path: &str,
    timeout: std::time::Duration,
) -> Result<(), Error> {
    // Depth first with an explicit stack: (node, whether its children were removed already).
    let mut stack = vec![(path.to_string(), false)];
    while let Some((node, emptied)) = stack.pop() {
        if !emptied {
            let listed = within("listing", &node, timeout, client.list_children(&node)).await;
            let children = match listed {
                Ok(children) => children,
                Err(Error::Missing { .. }) => continue,
                Err(err) => return Err(err),
            };
            stack.push((node.clone(), true));
            stack.extend(children.into_iter().map(|c| (format!("{node}/{c}"), false)));
            continue;
        }
        if node == path {
            continue;
        }
        match within("removing", &node, timeout, client.delete(&node, None)).await {
            Ok(()) | Err(Error::Missing { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
