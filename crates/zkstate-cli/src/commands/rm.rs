//! `zkstate rm DIR --yes`: removes a state directory and everything under it.
//!
//! Without `--yes` it refuses (exit 2) before connecting. DIR must exist (else exit 4) and look
//! like a state directory: have a `payload`, `listeners`, `lock` or `writers` child (else
//! exit 2), so that a typo cannot wipe an unrelated tree; `/` is always refused.
//!
//! The whole subtree is deleted in one multi transaction, deepest nodes first: either all of
//! it goes or nothing does. When the tree changes between the walk and the transaction (a node
//! added or removed by a live instance), the transaction fails as a whole and is retried on a
//! fresh walk, a few times.

use anyhow::Result;
use zookeeper_client::{Client, MultiWriteError};

use super::{client, info, resolve_dir, zk_error, Global};
use crate::commands::ls::child_path;
use crate::exit::{fail, Code};

/// Arguments of `zkstate rm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Really remove it (required)
    #[arg(long)]
    pub yes: bool,
}

/// The children that mark a state directory.
const MARKERS: [&str; 4] = ["payload", "listeners", "lock", "writers"];

/// How many times the transaction is retried after the tree changed under it.
const ATTEMPTS: usize = 5;

/// Runs `zkstate rm`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    if !args.yes {
        return Err(fail(
            Code::Usage,
            format!(
                "refusing to remove {} without --yes: add --yes to remove it and everything under it",
                args.dir
            ),
        ));
    }
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            if dir == "/" {
                return Err(fail(Code::Usage, "refusing to remove /"));
            }
            let client = client(&conn, timeout).await?;
            for _ in 0..ATTEMPTS {
                let Some(nodes) = walk(&client, &dir, timeout).await? else {
                    return Err(fail(
                        Code::NotFound,
                        format!("state directory {dir} does not exist"),
                    ));
                };
                let mut txn = client.new_multi_writer();
                // Deepest first: every node's children come before it.
                for node in nodes.iter().rev() {
                    txn.add_delete(node, None)
                        .map_err(|err| zk_error("removing", node, err))?;
                }
                let committed = tokio::time::timeout(timeout, txn.commit()).await;
                match committed {
                    Err(_) => {
                        return Err(zkstate::Error::Timeout {
                            op: "removing",
                            path: dir.clone(),
                            waited: timeout,
                        }
                        .into())
                    }
                    Ok(Ok(_)) => {
                        info(&format!("removed {dir} ({} nodes)", nodes.len()));
                        return Ok(());
                    }
                    // The tree changed since the walk; nothing was removed: walk again.
                    Ok(Err(MultiWriteError::OperationFailed {
                        source: zookeeper_client::Error::NoNode | zookeeper_client::Error::NotEmpty,
                        ..
                    })) => continue,
                    Ok(Err(err)) => {
                        return Err(zk_error("removing", &dir, err.into()).into());
                    }
                }
            }
            Err(fail(
                Code::Failure,
                format!("cannot remove {dir}: its tree kept changing during {ATTEMPTS} attempts; nothing removed"),
            ))
        })
        .await
}

/// Every node of the subtree at `dir`, parents before children; `None` when `dir` does not
/// exist. Fails with exit 2 when `dir` is not a state directory.
async fn walk(
    client: &Client,
    dir: &str,
    timeout: std::time::Duration,
) -> Result<Option<Vec<String>>> {
    let mut nodes = Vec::new();
    let mut level = vec![dir.to_string()];
    while !level.is_empty() {
        let listed = super::list_level(client, &level, dir, timeout).await?;
        let mut next = Vec::new();
        for (node, children) in level.into_iter().zip(listed) {
            let children = match children {
                Ok(children) => children,
                Err(zookeeper_client::Error::NoNode) if node == dir => return Ok(None),
                // Removed since its parent was listed: nothing to remove.
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(err) => return Err(zk_error("listing", &node, err).into()),
            };
            if node == dir && !children.iter().any(|c| MARKERS.contains(&c.as_str())) {
                return Err(fail(
                    Code::Usage,
                    format!("{dir} is not a state directory (no payload, listeners, lock or writers); nothing removed"),
                ));
            }
            next.extend(children.iter().map(|child| child_path(&node, child)));
            nodes.push(node);
        }
        level = next;
    }
    Ok(Some(nodes))
}
