//! `zkstate rm DIR --yes`: removes a state directory and everything under it, whatever its size.
//!
//! Without `--yes` it refuses (exit 2) before connecting. DIR must exist (else exit 4) and look
//! like a state directory: have a `payload`, `listeners`, `lock` or `writers` child (else
//! exit 2), so that a typo cannot wipe an unrelated tree; `/` is always refused. A state with
//! other states nested under it is removed with them only with `--recursive`, and one that live
//! instances use (listener records, its own or its nested states') only with `--force`; without,
//! `rm` names what it would take and removes nothing (exit 2). See [`refusal`].
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

    /// Also remove the states nested under it (refused without)
    #[arg(long, short = 'r')]
    pub recursive: bool,

    /// Remove it even while live instances use it (refused without)
    #[arg(long)]
    pub force: bool,
}

/// How many nested states a refusal names.
const NAMED: usize = 5;

/// Why `rm` refuses the subtree `nodes` of `dir` (parents before children), if it does:
///
/// | The subtree | `--recursive` | `--force` | Refused |
/// |---|---|---|---|
/// | states nested under `dir` | no | any | yes: names them (at most five) |
/// | listener records under `dir` or a nested state | any | no | yes: says how many |
/// | otherwise | any | any | no |
pub fn refusal(dir: &str, nodes: &[String], recursive: bool, force: bool) -> Option<String> {
    let payload = format!("/{}", zkstate::layout::PAYLOAD);
    let nested: Vec<&str> = nodes
        .iter()
        .filter_map(|node| node.strip_suffix(&payload))
        .filter(|state| *state != dir)
        .collect();
    if !nested.is_empty() && !recursive {
        let mut named = nested
            .iter()
            .take(NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if nested.len() > NAMED {
            named.push_str(&format!(" and {} more", nested.len() - NAMED));
        }
        return Some(format!(
            "{dir} holds {} nested state{} ({named}); add --recursive to remove {} too; nothing removed",
            nested.len(),
            if nested.len() == 1 { "" } else { "s" },
            if nested.len() == 1 { "it" } else { "them" },
        ));
    }
    let listeners = format!("/{}", zkstate::layout::LISTENERS);
    let live = nodes
        .iter()
        .filter(|node| {
            node.rsplit_once('/')
                .is_some_and(|(parent, _)| parent.ends_with(&listeners))
        })
        .count();
    if live > 0 && !force {
        return Some(format!(
            "{live} live instance{} use{} {dir} (listener records); add --force to remove it under \
             them (they report it missing); nothing removed",
            if live == 1 { "" } else { "s" },
            if live == 1 { "s" } else { "" },
        ));
    }
    None
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
                if attempt == 0 {
                    if let Some(why) = refusal(&dir, &nodes, args.recursive, args.force) {
                        return Err(fail(Code::Usage, why));
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(nodes: &[&str]) -> Vec<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn nested_states_are_named_and_refused_without_recursive() {
        let nodes = tree(&[
            "/a",
            "/a/payload",
            "/a/globs",
            "/a/globs/payload",
            "/a/x/y/payload",
        ]);
        let why = refusal("/a", &nodes, false, true).expect("refused");
        assert!(why.contains("2 nested states (/a/globs, /a/x/y)"), "{why}");
        assert!(why.contains("--recursive"), "{why}");
        assert_eq!(refusal("/a", &nodes, true, false), None);
    }

    #[test]
    fn live_instances_are_counted_and_refused_without_force() {
        let nodes = tree(&[
            "/a",
            "/a/payload",
            "/a/listeners",
            "/a/listeners/i1",
            "/a/listeners/i2",
        ]);
        let why = refusal("/a", &nodes, false, false).expect("refused");
        assert!(why.starts_with("2 live instances use /a"), "{why}");
        assert_eq!(refusal("/a", &nodes, false, true), None);
    }

    #[test]
    fn a_lone_state_without_instances_is_removed() {
        let nodes = tree(&[
            "/a",
            "/a/payload",
            "/a/listeners",
            "/a/lock",
            "/a/history",
            "/a/history/0000000001-0000000000000001-3",
        ]);
        assert_eq!(refusal("/a", &nodes, false, false), None);
    }

    #[test]
    fn more_than_five_nested_states_are_counted() {
        let mut nodes = tree(&["/a", "/a/payload"]);
        nodes.extend((0..7).map(|i| format!("/a/s{i}/payload")));
        let why = refusal("/a", &nodes, false, false).expect("refused");
        assert!(why.contains("and 2 more"), "{why}");
    }
}
