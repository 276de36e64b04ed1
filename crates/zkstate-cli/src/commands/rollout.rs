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

/// `--wait-rollout [SECS]`, for the commands that write.
#[derive(Clone, Debug, clap::Args)]
pub struct WaitRollout {
    /// After writing, wait until every live instance has applied the new version, at most SECS
    /// (`--wait-rollout 30` or `--wait-rollout=30`; alone, last or before another flag: 60);
    /// exit 6 if some has not (the write was made)
    // No `require_equals`: with it, `set DIR --wait-rollout 60` took `60` as the JSON and wrote
    // it. Now a value after the flag is always the timeout, and one that is not a number of
    // seconds is a usage error that says how to write the flag.
    #[arg(
        long = "wait-rollout",
        value_name = "SECS",
        num_args = 0..=1,
        default_missing_value = DEFAULT_WAIT,
        value_parser = parse_wait
    )]
    pub wait_rollout: Option<std::time::Duration>,
}

/// What a bare `--wait-rollout` waits, in seconds.
const DEFAULT_WAIT: &str = "60";

/// The value of `--wait-rollout`: a number of seconds; anything else (a DIR or JSON written after
/// the flag) is refused with how to write it.
fn parse_wait(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::cli::parse_seconds(text).map_err(|err| {
        format!(
            "{err}; --wait-rollout takes the seconds to wait right after it (`--wait-rollout 30` or \
             `--wait-rollout=30`); for the default {DEFAULT_WAIT} s put it last or before another \
             flag, not before DIR or JSON"
        )
    })
}

impl WaitRollout {
    /// Waits for `version` of `dir` when the flag was given.
    pub async fn after_write(
        &self,
        conn: &zkstate::Connection,
        dir: &str,
        version: i32,
    ) -> Result<()> {
        let Some(timeout) = self.wait_rollout else {
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
}
