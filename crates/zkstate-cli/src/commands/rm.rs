//! `zkstate rm DIR --yes`: removes a state directory and everything under it, whatever its size.
//!
//! Without `--yes` it refuses (exit 2) before connecting. DIR must exist (else exit 4) and look
//! like a state directory: have a `payload`, `listeners`, `lock` or `writers` child (else
//! exit 2), so that a typo cannot wipe an unrelated tree; `/` is always refused.
//!
//! The subtree is deleted deepest nodes first, in transactions of at most [`BATCH`] deletes:
//! ZooKeeper refuses a request above `jute.maxbuffer` (1 MB by default, about 15,000 deletes), so
//! a state with tens of thousands of commit markers cannot go in one. Each transaction is atomic,
//! the whole removal is not: when the tree changes under it (a live instance re-creates its
//! record, a lock node comes and goes), the failed transaction removed nothing, and the walk
//! starts over from what is left, up to [`ATTEMPTS`] times. DIR gone in the end (another remover
//! may finish the job) is success; DIR still there after the last attempt is exit 1, whatever
//! was removed on the way. Live instances of a removed state report it missing.

use anyhow::Result;
use zookeeper_client::{Client, MultiWriteError};

use super::{client, info, resolve_dir, Global};
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

/// Deletes per transaction: well under the request limit (about 67 bytes a delete).
pub const BATCH: usize = 1000;

/// How many times the walk starts over after the tree changed under it.
pub const ATTEMPTS: usize = 8;

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
            let mut removed = 0;
            for attempt in 0..ATTEMPTS {
                // Only the first walk checks that DIR is a state directory: on a retry, its
                // layout nodes may be gone already (our batches, or another remover's).
                let Some(nodes) = walk(&client, &dir, timeout, attempt == 0).await? else {
                    if attempt == 0 {
                        return Err(fail(
                            Code::NotFound,
                            format!("state directory {dir} does not exist"),
                        ));
                    }
                    // Gone between two attempts: another remover finished the job.
                    info(&format!(
                        "removed {dir} ({removed} nodes; the rest by another remover)"
                    ));
                    return Ok(());
                };
                match delete_deepest_first(&client, &dir, &nodes, timeout).await? {
                    Ok(count) => {
                        removed += count;
                        info(&format!("removed {dir} ({removed} nodes)"));
                        return Ok(());
                    }
                    // The tree changed; what went is gone for good: walk what is left.
                    Err(count) => removed += count,
                }
            }
            // Out of attempts: success only if DIR is gone all the same.
            let gone = zkstate::within("reading", &dir, timeout, client.check_stat(&dir))
                .await?
                .is_none();
            if gone {
                info(&format!(
                    "removed {dir} ({removed} nodes; the rest by another remover)"
                ));
                return Ok(());
            }
            Err(fail(
                Code::Failure,
                format!(
                    "cannot remove {dir}: its tree kept changing during {ATTEMPTS} attempts \
                     ({removed} nodes removed, {dir} is still there); stop what writes under it \
                     and run rm again"
                ),
            ))
        })
        .await
}

/// Deletes `nodes` (parents before children) deepest first, in batches. `Ok(Ok(n))`: all gone;
/// `Ok(Err(n))`: the tree changed after `n` were deleted (the failed batch deleted nothing).
async fn delete_deepest_first(
    client: &Client,
    dir: &str,
    nodes: &[String],
    timeout: std::time::Duration,
) -> Result<Result<usize, usize>> {
    let mut deleted = 0;
    let reversed: Vec<&String> = nodes.iter().rev().collect();
    for batch in reversed.chunks(BATCH) {
        let mut txn = client.new_multi_writer();
        for node in batch {
            txn.add_delete(node, None)
                .map_err(|err| zkstate::Error::from_zookeeper("removing", node, err))?;
        }
        match zkstate::within("removing", dir, timeout, async { Ok(txn.commit().await) }).await? {
            Ok(_) => deleted += batch.len(),
            Err(MultiWriteError::OperationFailed {
                source: zookeeper_client::Error::NoNode | zookeeper_client::Error::NotEmpty,
                ..
            }) => return Ok(Err(deleted)),
            Err(err) => {
                return Err(zkstate::Error::from_zookeeper("removing", dir, err.into()).into())
            }
        }
    }
    Ok(Ok(deleted))
}

/// Every node of the subtree at `dir`, parents before children; `None` when `dir` does not
/// exist. With `check`, fails with exit 2 when `dir` is not a state directory.
async fn walk(
    client: &Client,
    dir: &str,
    timeout: std::time::Duration,
    check: bool,
) -> Result<Option<Vec<String>>> {
    let mut nodes = Vec::new();
    let mut level = vec![dir.to_string()];
    while !level.is_empty() {
        let listed = super::list_level(client, &level, dir, timeout).await?;
        let mut next = Vec::new();
        for (node, children) in level.into_iter().zip(listed) {
            let children = match children
                .map_err(|err| zkstate::Error::from_zookeeper("listing", &node, err))
            {
                Ok(children) => children,
                Err(zkstate::Error::Missing { .. }) if node == dir => return Ok(None),
                // Removed since its parent was listed: nothing to remove.
                Err(zkstate::Error::Missing { .. }) => continue,
                Err(err) => return Err(err.into()),
            };
            if check && node == dir && !zkstate::layout::looks_like_state(&children) {
                return Err(fail(
                    Code::Usage,
                    format!("{dir} is not a state directory (no payload, listeners, lock or writers); nothing removed"),
                ));
            }
            next.extend(
                children
                    .iter()
                    .map(|child| zkstate::layout::child_path(&node, child)),
            );
            nodes.push(node);
        }
        level = next;
    }
    Ok(Some(nodes))
}
