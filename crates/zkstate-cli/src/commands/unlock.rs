//! `zkstate unlock DIR`: removes the nodes of a state's lock queue that no session holds
//! (persistent nodes: every contender's node is ephemeral, so another client planted them, and
//! one named like a contender blocks every write, `zkstate set` included). Prints each removed
//! path on stdout; never touches a live contender's node. Nothing to remove is exit 0 too.

use anyhow::{Context, Result};

use super::{note, print_line, resolve_dir, Global};
use crate::output::escape;

/// Arguments of `zkstate unlock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,
}

/// Runs `zkstate unlock`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let removed = zkstate::unlock(&conn, &dir)
                .await
                .with_context(|| format!("cannot unlock {dir}"))?;
            if removed.is_empty() {
                note(&format!("{dir}: no lock node without a live session"));
            }
            for path in removed {
                print_line(&escape(&path))?;
            }
            Ok(())
        })
        .await
}
