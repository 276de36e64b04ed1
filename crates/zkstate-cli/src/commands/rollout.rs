//! `zkstate rollout DIR [--version N] [--wait] [--json]`: which live instances of a state have
//! applied a version (by default the one ZooKeeper holds), from the version each instance reports
//! in its listener record.
//!
//! Prints `version 17: 498/500 instances applied; waiting for host-a pid 1234 (on 16), …` on
//! stdout (with `--json`, an object: `version`, `target`, `mzxid`, `applied`, `total`,
//! `complete`, `pending` with each laggard's record). Exit 0 when every live instance has applied
//! it, 6 when some has not. With `--wait`, it waits (watching the records, not polling) until all
//! have, at most `--timeout`, printing each change of the count on stderr; on timeout, exit 6
//! naming the laggards. An instance that does not report (reporting turned off, or a version
//! of zkstate before 0.2) shows as `(on ?)` and is never counted as applied. With no live
//! instance at all the rollout is complete (exit 0), and a warning on stderr says so: `no live
//! instance holds DIR; nothing to wait for`; `--wait-rollout` does the same.

use anyhow::Result;
use serde_json::json;

use super::{info, not_a_state, note, payload_path, print_line, resolve_dir, Global};
use crate::args::WaitRollout;
use crate::exit::{fail, Code};
use crate::output::{rollout_line, ListenerRow};

/// How many laggards a line names.
const SHOWN: usize = 5;

/// Arguments of `zkstate rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// The payload version to check, 0 or more [default: the version ZooKeeper holds]
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(0..)
    )]
    pub version: Option<i32>,

    /// Wait until every live instance has applied it, at most --timeout (progress on stderr)
    #[arg(long)]
    pub wait: bool,

    /// Print the status as a JSON object
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkstate rollout`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let rollout = if args.wait {
                match wait(&conn, &dir, args.version, global.timeout).await? {
                    Ok(rollout) | Err(rollout) => rollout,
                }
            } else {
                zkstate::rollout(&conn, &dir, args.version)
                    .await
                    .map_err(|err| rollout_error(&dir, err, "read"))?
            };
            warn_if_nobody(&dir, &rollout);
            if args.json {
                let pending: Vec<ListenerRow> =
                    rollout.pending.iter().map(ListenerRow::from).collect();
                let out = json!({
                    "dir": dir,
                    "version": rollout.version,
                    "mzxid": rollout.mzxid,
                    "target": rollout.target,
                    "applied": rollout.applied,
                    "total": rollout.total,
                    "complete": rollout.is_complete(),
                    "pending": pending,
                });
                print_line(&out.to_string())?;
            } else {
                print_line(&rollout_line(&rollout, SHOWN))?;
            }
            if rollout.is_complete() {
                Ok(())
            } else if args.wait {
                Err(fail(
                    Code::Incomplete,
                    format!(
                        "rollout of {dir} incomplete after {:?}: {}",
                        global.timeout,
                        rollout_line(&rollout, SHOWN)
                    ),
                ))
            } else {
                Err(fail(
                    Code::Incomplete,
                    format!("rollout of {dir} incomplete"),
                ))
            }
        })
        .await
}

/// Waits until every live instance of `dir` applied `version`, at most `timeout`, printing each
/// change of the count on stderr. `Ok(Ok(status))` when complete, `Ok(Err(status))` with the
/// status at the timeout.
pub async fn wait(
    conn: &zkstate::Connection,
    dir: &str,
    version: Option<i32>,
    timeout: std::time::Duration,
) -> Result<std::result::Result<zkstate::Rollout, zkstate::Rollout>> {
    let mut last = None;
    let waited = zkstate::wait_for_rollout(conn, dir, version, timeout, |rollout| {
        let now = (rollout.applied, rollout.total, rollout.version);
        // The complete status is the caller's to print.
        if last != Some(now) && !rollout.is_complete() {
            info(&rollout_line(rollout, SHOWN));
            last = Some(now);
        }
    })
    .await;
    match waited {
        Ok(rollout) => Ok(Ok(rollout)),
        Err(zkstate::Error::Timeout { .. }) => {
            let rollout = zkstate::rollout(conn, dir, version)
                .await
                .map_err(|err| rollout_error(dir, err, "read"))?;
            Ok(Err(rollout))
        }
        Err(err) => Err(rollout_error(dir, err, "wait for")),
    }
}

/// A rollout with no live instance is complete (there is nobody to wait for), which may well
/// not be what the operator expects (the fleet is down, or DIR is not the one it watches): say
/// so on stderr. The exit code stays 0.
fn warn_if_nobody(dir: &str, rollout: &zkstate::Rollout) {
    if rollout.total == 0 {
        note(&format!(
            "warning: no live instance holds {dir}; nothing to wait for"
        ));
    }
}

/// A failed rollout read: a missing payload is "state directory DIR does not exist" (exit 4),
/// as in every command, rather than the library's "payload DIR/payload does not exist".
fn rollout_error(dir: &str, err: zkstate::Error, doing: &str) -> anyhow::Error {
    match err {
        zkstate::Error::Missing { path } if path == payload_path(dir) => not_a_state(dir),
        err => anyhow::Error::new(err).context(format!("cannot {doing} the rollout of {dir}")),
    }
}

/// After a write of `version` of `dir`: waits for the fleet when `--wait-rollout` was given,
/// saying how many instances applied it on stderr; exit 6 when some has not in time (the write
/// was made).
pub async fn after_write(
    flag: &WaitRollout,
    conn: &zkstate::Connection,
    dir: &str,
    version: i32,
) -> Result<()> {
    let Some(timeout) = flag.wait_rollout else {
        return Ok(());
    };
    match wait(conn, dir, Some(version), timeout).await? {
        Ok(rollout) => {
            warn_if_nobody(dir, &rollout);
            info(&format!(
                "version {version} applied by {}/{} instances",
                rollout.applied, rollout.total
            ));
            Ok(())
        }
        Err(rollout) => Err(fail(
            Code::Incomplete,
            format!(
                "version {version} written, but the rollout is incomplete after {timeout:?}: {}",
                rollout_line(&rollout, SHOWN)
            ),
        )),
    }
}
