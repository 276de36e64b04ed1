//! `zkstate diff DIR A [B] [--json]`: the changes from kept version A to version B (default:
//! the current one), printed as `zkstate watch` prints changes (`--json`: as `watch --json`,
//! each line with version B).

use anyhow::Result;
use serde_json::Value;

use super::{client, print_line, resolve_dir, Global};
use crate::output::{human_line, json_line};

/// Arguments of `zkstate diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// The version to compare from (a kept version: see `zkstate history`)
    #[arg(value_parser = clap::value_parser!(i32).range(0..))]
    pub from: i32,

    /// The version to compare to [default: the current one]
    #[arg(value_parser = clap::value_parser!(i32).range(0..))]
    pub to: Option<i32>,

    /// One JSON object per change, as `zkstate watch --json` prints them
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkstate diff`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let to = match args.to {
                Some(to) => to,
                None => {
                    let path = super::payload_path(&dir);
                    let client = client(&conn, timeout).await?;
                    let stat = zkstate::within("reading", &path, timeout, client.check_stat(&path))
                        .await?;
                    stat.ok_or_else(|| super::not_a_state(&dir))?.version
                }
            };
            let (old, new) = futures::join!(
                zkstate::value_at(&conn, &dir, args.from),
                zkstate::value_at(&conn, &dir, to)
            );
            let (old, new): (Value, Value) = (old?, new?);
            let colour = crate::output::colour_stdout();
            for change in zkstate::diff::diff(&old, &new) {
                print_line(&if args.json {
                    json_line(to, &change)
                } else {
                    human_line(&change, colour)
                })?;
            }
            Ok(())
        })
        .await
}
