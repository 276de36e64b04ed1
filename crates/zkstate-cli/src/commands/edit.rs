//! `zkstate edit DIR`: edit the payload in `$EDITOR` and write it back with compare-and-set.
//!
//! 1. Reads the payload (a consistent read) and its version V, and writes it, pretty, to a
//!    temporary file `zkstate-edit-*.json`.
//! 2. Runs `$EDITOR` (else `vi`) on it through `sh -c`, so that `EDITOR="code -w"` works,
//!    without `ZOOKEEPER_AUTH` and `ZOOKEEPER_AUTH_FILE` in its environment: the editor and
//!    what it starts (plugins, language servers) have no use for the credential.
//! 3. Unchanged text (or the same JSON value): writes nothing, removes the file, exit 0.
//! 4. Not JSON: exit 2 naming line and column; the file is kept and its path printed.
//! 5. Otherwise `replace_at(V, value)`: if someone wrote the state meanwhile, exit 3 and the
//!    edited file is kept (its path printed) so the work is not lost; on success the file is
//!    removed and the new version printed on stderr.
//!
//! An editor that fails (exit status not 0) writes nothing: exit 1, file kept.

use anyhow::{Context, Result};
use serde_json::Value;
use tempfile::NamedTempFile;
use zkstate::ZkState;

use super::{closing, info, open_existing, resolve_dir, rollout, Global, Source};
use crate::args::{Message, WaitRollout};
use crate::exit::{fail, Code};

/// Arguments of `zkstate edit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Waiting for the fleet after the write
    #[command(flatten)]
    pub rollout: WaitRollout,

    /// The write's history message
    #[command(flatten)]
    pub message: Message,
}

/// Runs `zkstate edit`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let state = open_existing(global, &conn, &dir, global.state_options()).await?;
            let message = args.message.message.clone();
            let written = closing(state, |state| edit(state, dir.clone(), message)).await?;
            match written {
                Some(version) => rollout::after_write(&args.rollout, &conn, &dir, version).await,
                None => Ok(()),
            }
        })
        .await
}

/// Edits; `Some(version)` when something was written.
async fn edit(state: ZkState<Value>, dir: String, message: Option<String>) -> Result<Option<i32>> {
    let current = state
        .c_read()
        .await
        .with_context(|| format!("cannot read {dir}"))?;
    let version = current.version();
    let original = current.json().clone();
    drop(current);
    // Serialising a `Value` cannot fail: its map keys are strings.
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&original).unwrap_or_default()
    );

    let file = tempfile::Builder::new()
        .prefix("zkstate-edit-")
        .suffix(".json")
        .tempfile()
        .context("cannot create a temporary file")?;
    std::fs::write(file.path(), &text)
        .with_context(|| format!("cannot write {}", file.path().display()))?;

    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string());
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("zkstate-edit")
        .arg(file.path())
        .env_remove(zkstate::connection::settings::ENV_AUTH)
        .env_remove(super::ENV_AUTH_FILE)
        .status()
        .await
        .with_context(|| format!("cannot run the editor `{editor}`"))?;
    if !status.success() {
        let kept = keep(file)?;
        return Err(fail(
            Code::Failure,
            format!(
                "the editor `{editor}` exited with {status}; nothing written; the file is kept at {}",
                kept.display()
            ),
        ));
    }

    let edited = match std::fs::read_to_string(file.path()) {
        Ok(edited) => edited,
        Err(err) => {
            let kept = keep(file)?;
            return Err(anyhow::Error::new(err).context(format!(
                "cannot read the edited file {}; nothing written",
                kept.display()
            )));
        }
    };
    if edited == text {
        info(&format!("unchanged at version {version}; nothing written"));
        return Ok(None);
    }
    let value: Value = match serde_json::from_str(&edited) {
        Ok(value) => value,
        Err(err) => {
            let kept = keep(file)?;
            let message = super::json_error(&Source::File(&kept), &err);
            return Err(fail(
                Code::Usage,
                format!(
                    "{message}; nothing written; the edited file is kept at {}",
                    kept.display()
                ),
            ));
        }
    };
    if value == original {
        info(&format!("unchanged at version {version}; nothing written"));
        return Ok(None);
    }

    match state.noted(message).replace_at(version, value).await {
        Ok(new_version) => {
            info(&format!("version {new_version}"));
            Ok(Some(new_version))
        }
        Err(zkstate::Error::StaleWrite { remote, .. }) => {
            let kept = keep(file)?;
            Err(fail(
                Code::Conflict,
                format!(
                    "version conflict on {dir}: it was at version {version} when the edit began, zookeeper holds {}; nothing written; the edited text is kept at {}",
                    super::held(remote),
                    kept.display()
                ),
            ))
        }
        Err(err) => {
            let kept = keep(file)?;
            let target = format!("{dir} (the edited text is kept at {})", kept.display());
            Err(crate::exit::write_error(&target, err))
        }
    }
}

/// Keeps the temporary file (it is removed on drop otherwise) and returns its path.
fn keep(file: NamedTempFile) -> Result<std::path::PathBuf> {
    let (_, path) = file
        .keep()
        .context("cannot keep the temporary file with the edited text")?;
    Ok(path)
}
