//! `zkstate set DIR [JSON|-]`: writes a whole payload under the state's lock.
//!
//! * plain: `update_latest`, replacing the value whatever version ZooKeeper holds;
//! * `--if-version N`: `replace_at(N, value)`, a compare-and-set: exit 3 unless ZooKeeper holds
//!   version N;
//! * `--create`: creates the layout with the value when DIR does not exist (when it does, the
//!   value is written as usual). Without it a missing DIR is exit 4. It cannot be combined with
//!   `--if-version` (a missing state has no version to compare).
//!
//! The JSON is parsed before connecting, so bad input is exit 2 whatever the server's state; so
//! is a negative `--if-version` (ZooKeeper's `-1` would make the compare-and-set a blind write).
//! The new version is printed on stderr as `version N`.
//!
//! A payload in ZooKeeper that does not decode (not JSON, a bad frame) is repaired: the state
//! opens with the new value standing in, and the plain `set` writes over the bad payload. The
//! payload's encoding is kept: a compressed (zstd) payload is written compressed; `--compress`
//! stores it compressed whatever it was.

use anyhow::{Context, Result};
use serde_json::Value;
use zkstate::ZkState;

use super::{
    client, closing, existing_payload, info, open_existing, parse_json, payload_path, read_input,
    resolve_dir, rollout, Global,
};
use crate::args::{Message, WaitRollout};
use crate::exit::{fail, Code};

/// Arguments of `zkstate set`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Waiting for the fleet after the write
    #[command(flatten)]
    pub rollout: WaitRollout,

    /// The new payload as JSON; `-` or absent reads it from stdin
    pub json: Option<String>,

    /// Write only if ZooKeeper holds this payload version, 0 or more (else exit 3)
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "create",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(0..)
    )]
    pub if_version: Option<i32>,

    /// Create the state directory with this payload when it does not exist
    #[arg(long)]
    pub create: bool,

    /// The write's history message
    #[command(flatten)]
    pub message: Message,

    /// Store the payload as a zstd frame (for states larger than ZooKeeper's 1 MB limit as
    /// JSON; other clients then need zstd to read it) [default: as the payload is stored now]
    #[arg(long)]
    pub compress: bool,
}

/// Runs `zkstate set`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let (text, source) = read_input(args.json.as_deref(), "the JSON argument")?;
    let value = parse_json(&text, &source)?;
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let mut options = global.state_options();
            if args.compress {
                options = options.with_compression(zkstate::Compression::ZSTD);
            }
            let path = payload_path(&dir);
            let client = client(&conn, timeout).await?;
            let exists = zkstate::within("reading", &path, timeout, client.check_stat(&path))
                .await?
                .is_some();
            if !exists && args.create {
                let state = ZkState::with_options(&conn, &dir, value.clone(), options)
                    .await
                    .with_context(|| format!("cannot create {dir}"))?;
                let written_dir = dir.clone();
                let message = args.message.message.clone();
                let written = closing(state, |state| async move {
                    // Another process may have created it first, with its own value: then ours
                    // was discarded and is written now, as for an existing state.
                    let version = if *state.d_read().json() == value {
                        state.version()
                    } else {
                        write(&state, &dir, value, (None, message)).await?
                    };
                    info(&format!("version {version}"));
                    Ok(version)
                })
                .await?;
                return rollout::after_write(&args.rollout, &conn, &written_dir, written).await;
            }
            // Opened with the new value as `initial`: over a payload that is not JSON the state
            // still opens (the value stands in), so `set` can repair it.
            let state = match args.if_version {
                None => {
                    existing_payload(&conn, timeout, &dir).await?;
                    ZkState::with_options(&conn, &dir, value.clone(), options)
                        .await
                        .with_context(|| format!("cannot open {dir}"))?
                }
                Some(_) => open_existing(global, &conn, &dir, options).await?,
            };
            let written_dir = dir.clone();
            let target = (args.if_version, args.message.message.clone());
            let written = closing(state, |state| async move {
                let version = write(&state, &dir, value, target).await?;
                info(&format!("version {version}"));
                Ok(version)
            })
            .await?;
            rollout::after_write(&args.rollout, &conn, &written_dir, written).await
        })
        .await
}

/// Writes `value` whatever the version, or only at `if_version`, with the history message.
async fn write(
    state: &ZkState<Value>,
    dir: &str,
    value: Value,
    (if_version, message): (Option<i32>, Option<String>),
) -> Result<i32> {
    let noted = state.noted(message);
    let written = match if_version {
        None => noted.update_latest(|slot| *slot = value.clone()).await,
        Some(expected) => noted.replace_at(expected, value).await,
    };
    written.map_err(|err| write_failure(dir, err))
}

/// What a failed write of `dir` says: a version conflict (exit 3) names both versions.
pub fn write_failure(dir: &str, err: zkstate::Error) -> anyhow::Error {
    match err {
        zkstate::Error::StaleWrite { local, remote, .. } => fail(
            Code::Conflict,
            format!(
                "version conflict on {dir}: expected version {local}, zookeeper holds {}; nothing written",
                super::held(remote)
            ),
        ),
        err => crate::exit::write_error(dir, err),
    }
}
