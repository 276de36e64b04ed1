//! `zkstate ls [PATH]`: the state directories under PATH, one absolute path a line, sorted.
//!
//! Walks the tree below PATH (default: the base path of the URL, else `/`), one level at a
//! time with every listing of a level pipelined, and prints every node that has a `payload`
//! child, PATH itself included. `/zookeeper` (the server's own tree) is skipped, and so are the
//! layout nodes of a state (`listeners`, `lock`, `writers`), which hold no states. A node
//! removed during the walk is skipped. Exit 4 when PATH does not exist.

use anyhow::Result;

use super::{client, print_line, resolve_dir, Global};
use crate::exit::{fail, Code};

/// Arguments of `zkstate ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to look [default: the base path of the URL, else /]
    pub path: Option<String>,
}

/// The children of a state directory that belong to its layout and hold no states.
const LAYOUT: [&str; 4] = ["payload", "listeners", "lock", "writers"];

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
            let mut states = Vec::new();
            let mut level = vec![root.clone()];
            let mut first = true;
            while !level.is_empty() {
                let listed = super::list_level(&client, &level, &root, timeout).await?;
                let mut next = Vec::new();
                for (node, children) in level.iter().zip(listed) {
                    let children = match children {
                        Ok(children) => children,
                        Err(zookeeper_client::Error::NoNode) if first => {
                            return Err(fail(Code::NotFound, format!("{root} does not exist")))
                        }
                        // Removed since its parent was listed.
                        Err(zookeeper_client::Error::NoNode) => continue,
                        Err(err) => return Err(super::zk_error("listing", node, err).into()),
                    };
                    let is_state = children.iter().any(|c| c == "payload");
                    if is_state {
                        states.push(node.clone());
                    }
                    for child in children {
                        if is_state && LAYOUT.contains(&child.as_str()) {
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
            for state in states {
                print_line(&state)?;
            }
            Ok(())
        })
        .await
}

/// `node/child`, without doubling the root's slash.
pub fn child_path(node: &str, child: &str) -> String {
    if node == "/" {
        format!("/{child}")
    } else {
        format!("{node}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_paths() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
