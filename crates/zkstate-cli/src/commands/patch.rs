//! `zkstate patch DIR --merge JSON | --json-patch JSON`: read, modify and write under the lock.
//!
//! The patch is applied with `try_update_latest`: under the state's lock, to the payload read
//! there, and written at the version read, so no concurrent zkstate writer is lost. A merge
//! patch follows RFC 7396, a JSON patch RFC 6902 (both from the `json-patch` crate).
//!
//! Prints the resulting changes on stdout, in the form of `zkstate watch` (`--json` for its
//! JSON form), and the new version on stderr. A patch that changes nothing writes nothing
//! (exit 0, `unchanged at version N` on stderr).
//!
//! Exit 2 for a patch that is not JSON, is not a valid RFC 6902 document, or does not apply: a
//! failing `test` operation, or a path that does not exist. Nothing is written then.

use std::io::IsTerminal;

use anyhow::Result;
use serde_json::Value;
use zkstate::{Change, TryUpdateError};

use super::{
    closing, info, open_existing, parse_json, print_line, read_input, resolve_dir, rollout, Global,
};
use crate::args::{Message, WaitRollout};
use crate::exit::{fail, Code};
use crate::output::{human_line, json_line};

/// Arguments of `zkstate patch`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("patch").required(true))]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Waiting for the fleet after the write
    #[command(flatten)]
    pub rollout: WaitRollout,

    /// A JSON merge patch (RFC 7396); `-` reads it from stdin
    #[arg(long, value_name = "JSON", group = "patch")]
    pub merge: Option<String>,

    /// A JSON patch (RFC 6902), an array of operations; `-` reads it from stdin
    #[arg(long, value_name = "JSON", group = "patch")]
    pub json_patch: Option<String>,

    /// Print the resulting changes as JSON lines, as `zkstate watch --json` does
    #[arg(long)]
    pub json: bool,

    /// The write's history message
    #[command(flatten)]
    pub message: Message,
}

/// A parsed patch.
enum Patch {
    Merge(Value),
    Json(json_patch::Patch),
}

/// Why the update closure wrote nothing.
enum Refusal {
    Unchanged,
    DoesNotApply(json_patch::PatchError),
}

/// Runs `zkstate patch`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let patch = match (&args.merge, &args.json_patch) {
        (Some(merge), _) => {
            let (text, source) = read_input(Some(merge), "--merge")?;
            Patch::Merge(parse_json(&text, &source)?)
        }
        (None, Some(ops)) => {
            let (text, source) = read_input(Some(ops), "--json-patch")?;
            let value = parse_json(&text, &source)?;
            Patch::Json(serde_json::from_value(value).map_err(|err| {
                fail(
                    Code::Usage,
                    format!("invalid JSON patch in {source}: {err}"),
                )
            })?)
        }
        // clap's required group guarantees one of the two.
        (None, None) => return Err(fail(Code::Usage, "give --merge or --json-patch")),
    };
    let json = args.json;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let state = open_existing(global, &conn, &dir, global.state_options()).await?;
            let written_dir = dir.clone();
            let wait = args.rollout.clone();
            let message = args.message.message.clone();
            let written = closing(state, |state| async move {
                // The closure may run more than once (a writer that bypasses the lock makes the
                // update start over): keep the changes of the last run, the one written.
                let mut changes: Vec<Change> = Vec::new();
                let written = state
                    .noted(message)
                    .try_update_latest(|value: &mut Value| {
                        let before = value.clone();
                        match &patch {
                            Patch::Merge(merge) => json_patch::merge(value, merge),
                            Patch::Json(ops) => {
                                json_patch::patch(value, ops).map_err(Refusal::DoesNotApply)?
                            }
                        }
                        changes = zkstate::diff::diff(&before, value);
                        if changes.is_empty() {
                            return Err(Refusal::Unchanged);
                        }
                        Ok(())
                    })
                    .await;
                match written {
                    Ok(version) => {
                        let colour = std::io::stdout().is_terminal()
                            && std::env::var_os("NO_COLOR").is_none();
                        for change in &changes {
                            print_line(&if json {
                                json_line(version, change)
                            } else {
                                human_line(change, colour)
                            })?;
                        }
                        info(&format!("version {version}"));
                        Ok(Some(version))
                    }
                    Err(TryUpdateError::Aborted(Refusal::Unchanged)) => {
                        info(&format!("unchanged at version {}", state.version()));
                        Ok(None)
                    }
                    Err(TryUpdateError::Aborted(Refusal::DoesNotApply(err))) => Err(fail(
                        Code::Usage,
                        format!(
                            "patch does not apply to {dir} at version {}: {err}; nothing written",
                            state.version()
                        ),
                    )),
                    Err(TryUpdateError::State(err)) => Err(crate::exit::write_error(&dir, err)),
                    // `TryUpdateError` is non-exhaustive; a kind added later is still an error.
                    Err(_) => Err(anyhow::anyhow!("cannot patch {dir}: the update failed")),
                }
            })
            .await?;
            match written {
                Some(version) => rollout::after_write(&wait, &conn, &written_dir, version).await,
                None => Ok(()),
            }
        })
        .await
}
