//! `zkstate listeners DIR [--json]`: the live instances of a state, from the ephemeral records
//! under `<dir>/listeners`: id, host, pid and start time (RFC 3339 UTC). A table, or with
//! `--json` a JSON array of `{"id","hostname","pid","started_at","started_at_ms"}`.
//! Exit 4 when DIR is not a state.

use anyhow::{Context, Result};

use super::{existing_payload, print_line, resolve_dir, Global};
use crate::output::{listeners_table, ListenerRow};

/// Arguments of `zkstate listeners`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkstate listeners`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            existing_payload(&conn, global.timeout, &dir).await?;
            let listeners = zkstate::list_listeners(&conn, &dir)
                .await
                .with_context(|| format!("cannot list the listeners of {dir}"))?;
            let rows: Vec<ListenerRow> = listeners.iter().map(ListenerRow::from).collect();
            if args.json {
                // A list of structs of strings and integers always serialises.
                print_line(&serde_json::to_string(&rows).unwrap_or_default())
            } else {
                print_line(&listeners_table(&rows))
            }
        })
        .await
}
