//! `zkstate serve [--listen ADDR] [--root PATH] [--allow-write]`: a live operator page for the
//! shared states under a path, and the JSON API beside it.
//!
//! * `/` lists every state directory under the root (`zkstate ls`) with its version, size, last
//!   change, live instances and how many have applied the current version.
//! * `/state?dir=/apps/monitor` shows one state: its value as collapsible JSON, version, mzxid,
//!   size and mtime, its live instances and what each applied, and its changes as they happen,
//!   pushed by Server-Sent Events from one `ZkState<serde_json::Value>` per watched state (no
//!   polling, no reload; a lost stream reconnects and resyncs).
//! * With `--allow-write`, the page edits a value with compare-and-set on the version it shows,
//!   through the same locked write path as `zkstate set --if-version`; writes need the token
//!   printed at start. Reads need none.
//!
//! The API (`{dir}` is the state's absolute path as one URL segment, `encodeURIComponent`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/config` | `{"allow_write", "root", "version"}` |
//! | `GET /api/states` | `{"root", "states": [{"dir", "version", "size", "mtime_ms", "listeners", "applied"}]}` |
//! | `GET /api/states/{dir}` | `{"dir", "value", "version", "mzxid", "czxid", "size", "mtime_ms", "listeners": [...], "rollout": {"version", "applied", "total"}}`; 404 when missing |
//! | `GET /api/states/{dir}/events` | SSE: `snapshot` (as above) first, then `change` (`{"version", "mzxid", "origin", "changes", "value", "size", "mtime_ms"}`), `listeners`, `fault`, `lagged` |
//! | `PUT /api/states/{dir}` with `If-Match: <version>` and `Authorization: Bearer <token>`, body the new JSON | 200 `{"version"}`; 409 `{"error", "version", "value"}` (the current ones); 400 invalid JSON (`{"error", "line", "column"}`) or a bad version or path; 403 without the token or with writes off; 404 missing state; 413 body over 16 MiB; 428 without `If-Match`; 503 when another writer holds the state's lock for all of `--timeout` |
//!
//! On a loopback address every request must name the server as `localhost`, `127.0.0.1`, `[::1]`
//! or its own address, with its port, in its Host header; any other name gets 403 (a page whose
//! DNS name was rebound to 127.0.0.1 cannot use the API). Every file of the page is embedded in
//! the binary: no network at run time.

mod api;
mod assets;

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};

use super::{note, print_line, resolve_dir, Global};

/// Where the page listens by default: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7780";

/// Arguments of `zkstate serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; a non-loopback address prints a warning: the page has no login
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Serve the state directories at or under PATH [default: the base path of the URL, else /]
    #[arg(long, value_name = "PATH")]
    pub root: Option<String>,

    /// Let the page and the API change values (compare-and-set on the version shown, under the
    /// state's lock); every write needs the token printed at start
    #[arg(long)]
    pub allow_write: bool,
}

/// Runs `zkstate serve` until Ctrl-C or SIGTERM.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    // Installed first: a signal at any point from here on stops cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    global
        .with_connection(|conn| async move {
            let root = match &args.root {
                Some(path) => resolve_dir(&conn, path)?,
                None => conn.path().to_string(),
            };
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let local = listener
                .local_addr()
                .context("cannot read the listening address")?;
            let token = args
                .allow_write
                .then(|| uuid::Uuid::new_v4().simple().to_string());
            let app = api::App::new(conn, root.clone(), token.clone(), global.timeout, local);
            print_line(&format!("listening on http://{local}/"))?;
            if let Some(token) = &token {
                print_line(&format!("write token: {token}"))?;
            }
            note(&format!(
                "serving the states under {root}; writes {}",
                if token.is_some() { "allowed with the token" } else { "off (--allow-write turns them on)" }
            ));
            if !local.ip().is_loopback() {
                note(&format!(
                    "warning: listening on {local}, beyond this host: the page has no login, anyone who reaches it reads every state{}",
                    if token.is_some() { " (writes still need the token)" } else { "" }
                ));
            }
            let stopping = app.clone();
            let stop = async move {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
                // Ends the event streams, so that the graceful shutdown does not wait for them.
                stopping.shutdown();
            };
            let served = axum::serve(listener, api::router(app.clone()))
                .with_graceful_shutdown(stop)
                .await;
            app.close().await;
            served.context("the HTTP server failed")
        })
        .await
}
