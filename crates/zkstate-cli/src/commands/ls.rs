//! `zkstate ls [PATH] [--json]`: the state directories under PATH, one absolute path a line,
//! sorted.
//!
//! Walks the tree below PATH (default: the base path of the URL, else `/`), one level at a
//! time with every listing of a level pipelined, and prints every node that has a `payload`
//! child, PATH itself included. `/zookeeper` (the server's own tree) is skipped, and so are the
//! layout nodes of a state ([`zkstate::layout::CHILDREN`]), which hold no states. A node removed
//! during the walk is skipped. Exit 4 when PATH does not exist.
//!
//! A node below PATH that this client may not list (its ACL denies it) does not stop the walk:
//! it is reported as unreadable, on stderr (`zkstate: /a/secret: unreadable (permission
//! denied); states under it are not listed`) so that stdout stays a list of state directories,
//! and in `--json` as `{"states":[...],"unreadable":[...]}`. The exit code stays 0. PATH itself
//! unreadable is an error (exit 1): there is nothing to list.
//!
//! Node names come from ZooKeeper: the human form escapes control characters in them.

use anyhow::Result;
use serde_json::json;
use zkstate::layout::{child_path, is_state, CHILDREN};

use super::{client, note, print_line, resolve_dir, Global};
use crate::exit::{fail, Code};
use crate::output::escape;

/// Arguments of `zkstate ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to look [default: the base path of the URL, else /]
    pub path: Option<String>,

    /// Print `{"states":[...],"unreadable":[...]}` (the nodes this client may not list)
    #[arg(long)]
    pub json: bool,
}

/// What a walk found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every state directory at or under the root, sorted.
    pub states: Vec<String>,
    /// The nodes under the root that this client may not list (ACL), sorted: what is below them
    /// is unknown.
    pub unreadable: Vec<String>,
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
            let listing = listing(&client, &root, timeout).await?;
            if args.json {
                let out = json!({"states": listing.states, "unreadable": listing.unreadable});
                return print_line(&out.to_string());
            }
            for node in &listing.unreadable {
                note(&format!(
                    "{node}: unreadable (permission denied); states under it are not listed"
                ));
            }
            for state in &listing.states {
                print_line(&escape(state))?;
            }
            Ok(())
        })
        .await
}

/// Walks the tree at `root`: its state directories, and the nodes under it that this client may
/// not list. Exit 4 when `root` does not exist; `root` itself unreadable is the library's
/// permission error.
pub async fn listing(
    client: &zookeeper_client::Client,
    root: &str,
    timeout: std::time::Duration,
) -> Result<Listing> {
    let mut found = Listing::default();
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
                // Its ACL denies this client: say so and walk on.
                Err(zkstate::Error::PermissionDenied { .. }) if !first => {
                    found.unreadable.push(node.clone());
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            let state = is_state(&children);
            if state {
                found.states.push(node.clone());
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
    found.states.sort();
    found.unreadable.sort();
    Ok(found)
}
