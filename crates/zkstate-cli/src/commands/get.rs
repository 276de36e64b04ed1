//! `zkstate get DIR`: the payload on stdout.
//!
//! A raw read of `<dir>/payload`, preceded by a `sync` (pipelined with the read) so that the
//! value is current even when this session's server lags behind the leader. The payload is
//! printed pretty (a compressed payload, a zstd frame, is decompressed first); with `--raw`, byte
//! for byte as stored (zkstate stores compact JSON, or a zstd frame) with a newline added, and
//! without checking that it decodes, so a broken payload can be inspected. Without `--raw`, a
//! payload that does not decode is an error (exit 1) that says to use `--raw`.
//!
//! With `--raw-node`, the data of the node DIR itself, whatever it is (a plain znode too), as
//! `--raw` prints a payload. With `--version N`, the value of kept version N from the state's history (exit 4 when the
//! history does not keep it), printed as the current one is.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{client, info, not_a_state, payload_path, print_line, resolve_dir, Global};
use crate::exit::{fail, Code};
use crate::output::rfc3339_from_millis;

/// Arguments of `zkstate get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Print the payload as stored (compact), byte for byte, even when it is not JSON
    #[arg(long)]
    pub raw: bool,

    /// Also print the payload's version and modification time on stderr
    #[arg(long)]
    pub stat: bool,

    /// Print the data of the node DIR itself, byte for byte (any znode, not only a state)
    #[arg(long, conflicts_with_all = ["raw", "stat", "version"])]
    pub raw_node: bool,

    /// Print kept version N from the state's history instead (see `zkstate history`)
    #[arg(long, value_name = "N", conflicts_with_all = ["raw", "stat"],
          value_parser = clap::value_parser!(i32).range(0..))]
    pub version: Option<i32>,
}

/// Runs `zkstate get`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            if let Some(version) = args.version {
                let value = zkstate::value_at(&conn, &dir, version)
                    .await
                    .map_err(|err| match err {
                        zkstate::Error::Missing { .. } => not_a_state(&dir),
                        err => err.into(),
                    })?;
                return print_line(&serde_json::to_string_pretty(&value).unwrap_or_default());
            }
            let client = client(&conn, timeout).await?;
            let path = if args.raw_node {
                dir.clone()
            } else {
                payload_path(&dir)
            };
            let read = async {
                // Both are sent before either is awaited: one round trip.
                let (synced, read) = futures::join!(client.sync(&path), client.get_data(&path));
                let read = read?;
                synced?;
                Ok(read)
            };
            let (data, stat) = match zkstate::within("reading", &path, timeout, read).await {
                Ok(read) => read,
                Err(zkstate::Error::Missing { .. }) if args.raw_node => {
                    return Err(fail(Code::NotFound, format!("node {dir} does not exist")))
                }
                Err(zkstate::Error::Missing { .. }) => {
                    return Err(super::missing_state(&client, timeout, &dir).await)
                }
                Err(err) => return Err(err.into()),
            };
            if args.raw || args.raw_node {
                let mut out = std::io::stdout().lock();
                out.write_all(&data)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush())
                    .context("cannot write to stdout")?;
            } else {
                // Plain JSON, or JSON in a zstd frame: read as every instance reads it.
                let value: Value = zkstate::decode_payload(&data).map_err(|err| {
                    fail(
                        Code::Failure,
                        format!(
                            "payload {path} (version {}) does not decode: {err}; `zkstate get --raw` shows it as stored",
                            stat.version
                        ),
                    )
                })?;
                // Serialising a `Value` cannot fail: its map keys are strings.
                print_line(&serde_json::to_string_pretty(&value).unwrap_or_default())?;
            }
            if args.stat {
                info(&format!("version {}", stat.version));
                info(&format!("modified {}", rfc3339_from_millis(stat.mtime)));
            }
            Ok(())
        })
        .await
}
