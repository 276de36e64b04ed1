//! `zkstate rollback DIR --to N [--if-version V] [--message M] [--wait-rollout [SECS]]`: writes
//! the value of kept version N again, exactly (its JSON as it was), as a new version, through
//! the state's locked, version-checked, exactly-once write; prints `version <new>` on stderr.
//! Its history entry says `rollback_of: N`. Exit 4 when N is not kept, 3 when `--if-version`
//! does not match what ZooKeeper holds (nothing written).

use anyhow::Result;

use super::{closing, info, open_existing, resolve_dir, rollout, Global};
use crate::args::{Message, WaitRollout};

/// Arguments of `zkstate rollback`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// The kept version to restore (see `zkstate history`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub to: i32,

    /// Write only if ZooKeeper holds this payload version (else exit 3)
    #[arg(long, value_name = "V", value_parser = clap::value_parser!(i32).range(0..))]
    pub if_version: Option<i32>,

    /// The write's history message
    #[command(flatten)]
    pub message: Message,

    /// Waiting for the fleet after the write
    #[command(flatten)]
    pub rollout: WaitRollout,
}

/// Runs `zkstate rollback`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let state = open_existing(global, &conn, &dir, global.state_options()).await?;
            let message = args.message.message.clone();
            let (to, if_version) = (args.to, args.if_version);
            let written_dir = dir.clone();
            let version = closing(state, |state| async move {
                let noted = state.noted(message);
                let written = match if_version {
                    None => noted.rollback_to(to).await,
                    Some(expected) => noted.rollback_to_at(to, expected).await,
                };
                let version = written.map_err(|err| super::set::write_failure(&dir, err))?;
                info(&format!("version {version}"));
                Ok(version)
            })
            .await?;
            rollout::after_write(&args.rollout, &conn, &written_dir, version).await
        })
        .await
}
