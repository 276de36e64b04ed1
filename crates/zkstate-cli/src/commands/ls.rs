//! `zkstate ls [PATH]`: the state directories under PATH, one absolute path a line, sorted.
//!
//! Walks the tree below PATH (default: the base path of the URL, else `/`), one level at a
//! time with every listing of a level pipelined, and prints every node that has a `payload`
//! child, PATH itself included. `/zookeeper` (the server's own tree) is skipped, and so are the
//! layout nodes of a state ([`zkstate::layout::CHILDREN`]), which hold no states. A node removed
//! during the walk is skipped. Exit 4 when PATH does not exist.

use anyhow::Result;
use zkstate::layout::{child_path, is_state, CHILDREN};

use super::{client, print_line, resolve_dir, Global};
use crate::exit::{fail, Code};

/// Arguments of `zkstate ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to look [default: the base path of the URL, else /]
    pub path: Option<String>,
}

/// Runs `zkstate ls`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let root = match &args.path {
                Some(path) => resolve_dir(&conn, path)?,
                None => conn.path().to_string(),
            };
            let client = client(&conn, timeout).await?;
            for state in states_under(&client, &root, timeout).await? {
                print_line(&state)?;
            }
            Ok(())
        })
        .await
}

/// Every state directory at or under `root`, sorted. Exit 4 when `root` does not exist.
pub async fn states_under(
    client: &zookeeper_client::Client,
    root: &str,
    timeout: std::time::Duration,
) -> Result<Vec<String>> {
    let mut states = Vec::new();
    let mut level = vec![root.to_string()];
    let mut first = true;
    while !level.is_empty() {
        let listed = super::list_level(client, &level, root, timeout).await?;
        let mut next = Vec::new();
        for (node, children) in level.iter().zip(listed) {
            let children = match children
                .map_err(|err| zkstate::Error::from_zookeeper("listing", node, err))
            {
                Ok(children) => children,
                Err(zkstate::Error::Missing { .. }) if first => {
                    return Err(fail(Code::NotFound, format!("{root} does not exist")))
                }
                // Removed since its parent was listed.
                Err(zkstate::Error::Missing { .. }) => continue,
                Err(err) => return Err(err.into()),
            };
            let state = is_state(&children);
            if state {
                states.push(node.clone());
            }
            for child in children {
                if state && CHILDREN.contains(&child.as_str()) {
                    continue;
                }
                let path = child_path(node, &child);
                if path != "/zookeeper" {
                    next.push(path);
                }
            }
        }
        level = next;
        first = false;
    }
    states.sort();
    Ok(states)
}
