//! `zkstate watch DIR [--json]`: every change of a state, as it happens, until interrupted.
//!
//! The watcher is a live instance of the state (`ZkState::expect_with_options` with its
//! listener record): the library keeps the local copy current across disconnections, server
//! restarts and session expiry, and a re-sync after a gap emits the changes made meanwhile, so
//! nothing is missed. Each change is one line on stdout, flushed at once:
//!
//! * human form: `+ [2] "firefox*"`, `~ .name "a" -> "b"`, `- .x 1`, coloured green, yellow
//!   and red when stdout is a terminal (and `NO_COLOR` is unset);
//! * `--json`: `{"version":N,"op":"added"|"removed"|"modified","path":[...],"value":...}`, with
//!   `"old"` and `"new"` instead of `"value"` for `"modified"`.
//!
//! On stderr: `zkstate: watching DIR at version N` once the subscription is in place (changes
//! from then on are printed), `zkstate: connection STATE` for each connection state change,
//! payload errors (a payload that is not JSON or was deleted), and a note when this watcher fell
//! behind and skipped to a snapshot.
//!
//! Ctrl-C (SIGINT) and SIGTERM end it with exit 0; a closed stdout too (broken pipe).

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::Value;
use tokio::signal::unix::{signal, SignalKind};
use zkstate::{ConnectionEvent, StateEvent, ZkState};

use super::{closing, existing_payload, note, print_line, resolve_dir, Global};
use crate::output::{human_line, json_line};

/// Arguments of `zkstate watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Print each change as a JSON object, one a line
    #[arg(long)]
    pub json: bool,
}

/// Runs `zkstate watch`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    // Installed first, so that a signal at any point from here on ends the watch cleanly:
    // while connecting and opening (no waiting out `--timeout`), and while watching.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    };
    let colour = !args.json && crate::output::colour_stdout();
    global
        .with_connection(|conn| async move {
            // Pinned here so that the same future spans opening and watching.
            tokio::pin!(stop);
            let dir = resolve_dir(&conn, &args.dir)?;
            let mut connection_events = conn.subscribe();
            let open = async {
                existing_payload(&conn, global.timeout, &dir).await?;
                // A watcher is a live instance: it registers its listener record.
                let options = global.state_options().with_listener_record(true);
                ZkState::<Value>::expect_with_options(&conn, &dir, Some(global.timeout), options)
                    .await
                    .with_context(|| format!("cannot open {dir}"))
            };
            let state = tokio::select! {
                state = open => state?,
                () = &mut stop => return Ok(()),
            };
            closing(state, |state| async move {
                let mut changes = state.subscribe();
                note(&format!("watching {dir} at version {}", state.version()));
                let mut connection_open = true;
                loop {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        event = connection_events.next(), if connection_open => match event {
                            Some(event) => note(&connection_line(&event)),
                            None => connection_open = false,
                        },
                        event = changes.next() => match event {
                            Some(StateEvent::Changed(batch)) => {
                                for change in &batch.changes {
                                    print_line(&if args.json {
                                        json_line(batch.version, change)
                                    } else {
                                        human_line(change, colour)
                                    })?;
                                }
                            }
                            Some(StateEvent::Lagged { missed, version, value }) => note(&format!(
                                "fell behind and skipped {missed} change batches; {dir} is now at version {version}: {value}"
                            )),
                            Some(StateEvent::Error(err)) => note(&format!("{dir}: {err}")),
                            // `StateEvent` is non-exhaustive: an event kind added later is not a change.
                            Some(_) => {}
                            None => anyhow::bail!("the change stream of {dir} ended"),
                        },
                    }
                }
            })
            .await
        })
        .await
}

/// `connection SUSPENDED`; a new session after the first is marked, as it means the session
/// expired and the state re-synced.
fn connection_line(event: &ConnectionEvent) -> String {
    if event.new_session && event.generation > 1 {
        format!("connection {} (new session)", event.state)
    } else {
        format!("connection {}", event.state)
    }
}
