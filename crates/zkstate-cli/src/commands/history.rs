//! `zkstate history DIR [--limit N] [--json]`: the kept versions of a state, newest first.
//!
//! One line per version: version, time (UTC, RFC 3339), author (host, pid, program and its
//! version, tool; `another tool` for a version written outside zkstate), what changed
//! (`+added ~modified -removed` and the first paths), the message, and a note for a rollback or
//! a version whose value can no longer be reproduced. A gap (versions written by another tool and
//! overwritten before any zkstate writer saw them) is a line of its own. `--json`: an array,
//! newest first, in the form `zkstate serve` answers (`output::history_item_json`).

use anyhow::Result;
use serde_json::Value;
use zkstate::history::{HistoryEntry, HistoryItem};

use super::{print_line, resolve_dir, Global};
use crate::output::{escape, history_item_json, rfc3339_from_millis};

/// Arguments of `zkstate history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Show at most N versions (newest first)
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=zkstate::history::MAX_READ as i64))]
    pub limit: u32,

    /// Print a JSON array instead of lines
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkstate history`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let items = zkstate::read_history(&conn, &dir, args.limit as usize)
                .await
                .map_err(|err| match err {
                    zkstate::Error::Missing { .. } => super::not_a_state(&dir),
                    err => err.into(),
                })?;
            if args.json {
                let array: Vec<Value> = items.iter().filter_map(history_item_json).collect();
                // A `Value` always serialises.
                return print_line(&serde_json::to_string_pretty(&array).unwrap_or_default());
            }
            if items.is_empty() {
                super::info(&format!("{dir} has no history yet"));
            }
            for item in &items {
                print_line(&item_line(item))?;
            }
            Ok(())
        })
        .await
}

/// One item as a line.
fn item_line(item: &HistoryItem) -> String {
    match item {
        HistoryItem::Version(entry) => entry_line(entry),
        HistoryItem::Gap { from, to } => gap_line(*from, *to),
        _ => String::from("(an item this version of zkstate cannot show)"),
    }
}

fn gap_line(from: i32, to: i32) -> String {
    let versions = if from == to {
        format!("{from}")
    } else {
        format!("{from}-{to}")
    };
    format!("{versions}  (written by another tool and overwritten unseen)")
}

fn entry_line(entry: &HistoryEntry) -> String {
    let mut line = format!(
        "{}  {}  {}",
        entry.version,
        rfc3339_from_millis(entry.time_ms),
        author(entry)
    );
    if let Some(changes) = &entry.changes {
        line.push_str(&format!(
            "  +{} ~{} -{}",
            changes.added, changes.modified, changes.removed
        ));
        if !changes.paths.is_empty() {
            line.push(' ');
            line.push_str(&changes.paths.join(","));
        }
    }
    if let Some(message) = &entry.message {
        line.push_str(&format!("  \"{message}\""));
    }
    if let Some(of) = entry.rollback_of {
        line.push_str(&format!("  (rollback of {of})"));
    }
    if !entry.reproducible {
        line.push_str("  (value no longer reproducible)");
    }
    escape(&line).into_owned()
}

/// `host pid N program version tool`, or `another tool`.
fn author(entry: &HistoryEntry) -> String {
    if entry.outside {
        return "another tool".to_string();
    }
    let author = &entry.author;
    let mut parts: Vec<String> = Vec::new();
    parts.extend(author.host.clone());
    parts.extend(author.pid.map(|pid| format!("pid {pid}")));
    parts.extend(author.program.clone());
    parts.extend(author.program_version.clone());
    parts.extend(author.tool.map(tool_name));
    parts.extend(author.identity.clone());
    if parts.is_empty() {
        "unknown".to_string()
    } else {
        parts.join(" ")
    }
}

fn tool_name(tool: zkstate::Tool) -> String {
    serde_json::to_value(tool)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
