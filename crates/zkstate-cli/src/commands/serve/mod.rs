//! `zkstate serve [--listen ADDR] [--root PATH] [--allow-write] [--allow-host NAME]...`: a live
//! operator page for the shared states under a path, and the JSON API beside it.
//!
//! * `/` lists every state directory under the root (`zkstate ls`) with its version, size, last
//!   change, live instances and how many have applied the current version.
//! * `/state?dir=/apps/monitor` shows one state: its value as collapsible JSON, version, mzxid,
//!   size and mtime, its live instances and what each applied, and its changes as they happen,
//!   pushed by Server-Sent Events from one `ZkState<serde_json::Value>` per watched state (no
//!   polling, no reload; a lost stream reconnects and resyncs).
//!   Its history panel lists the kept versions (who wrote each, when, what it changed, its
//!   message), reloaded on each new version.
//! * With `--allow-write`, the page edits a value with compare-and-set on the version it shows,
//!   through the same locked write path as `zkstate set --if-version`, with an optional history
//!   message, and rolls back to a kept version the same way (`zkstate rollback --if-version`);
//!   writes need the token printed at start. Reads need none.
//!
//! The API (`{dir}` is the state's absolute path as one URL segment, `encodeURIComponent`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/config` | `{"allow_write", "root", "version"}` |
//! | `GET /api/stats` | `{"open_states", "streams", "max_streams", "refused": {"host", "cross_site"}}` |
//! | `GET /api/states` | `{"root", "states": [{"dir", "version", "size", "mtime_ms", "listeners", "applied"}]}`; a node the server may not list (ACL) is a row `{"dir", "unreadable": true, "error"}` |
//! | `GET /api/states/{dir}` | `{"dir", "value", "version", "mzxid", "czxid", "size", "mtime_ms", "listeners": [...], "rollout": {"version", "applied", "total"}}`; 404 when missing |
//! | `GET /api/states/{dir}/events` | SSE: `snapshot` (as above) first, then `change` (`{"version", "mzxid", "origin", "changes", "value", "size", "mtime_ms"}`), `listeners`, `fault`, `lagged` (`{"missed"}`, then a fresh `snapshot`); 503 past `--max-streams` |
//! | `GET /api/states/{dir}/history?limit=N` | `{"dir", "items"}`, newest first, at most N (default 50, 1 to 1000; else 400): a version `{"version", "time" (RFC 3339 UTC), "time_ms", "author": {"id", "host", "pid", "program", "program_version", "tool", "identity"}, "message", "rollback_of", "outside", "changes": {"added", "modified", "removed", "paths"} or null, "reproducible", "bytes"}`, a gap `{"gap": true, "from", "to"}`; 404 when missing |
//! | `GET /api/states/{dir}/versions/{version}` | the value of that version, as the JSON it was; 404 when it is not kept (`{"error"}` says why) |
//! | `PUT /api/states/{dir}[?message=TEXT]` with `If-Match: <version>` and `Authorization: Bearer <token>`, body the new JSON | 200 `{"version"}`; the message goes to the version's history entry; 409 `{"error", "version", "value"}` (the current ones); 400 invalid JSON (`{"error", "line", "column"}`) or a bad version or path; 403 without the token or with writes off (before the body is read); 404 missing state; 413 body over 16 MiB; 428 without `If-Match`; 503 when another writer holds the state's lock for all of `--timeout` |
//! | `POST /api/states/{dir}/rollback` with `Authorization: Bearer <token>`, body `{"to", "if_version", "message"}` (`message` optional) | 200 `{"version"}`: the value of kept version `to` written again as a new version (its history entry says `rollback_of`), only if ZooKeeper holds `if_version`; refused as the `PUT` (403 before the body is read, 409 with the current version and value, 503), and 404 when `to` is not kept; 400 for a body that is not that JSON; 428 without `if_version`; 413 over 64 KiB |
//!
//! Bounds: at most `--max-streams` event streams (default 64); each change is serialized once
//! and shared by every stream, a stream more than 16 events behind skips to `lagged` and a fresh
//! snapshot ([`watched::STREAM_QUEUE`]); a state no page used for `--idle-close` (default 60 s)
//! is closed; `/api/states` reads at most 16 states at a time
//! ([`listing::STATES_CONCURRENCY`]).
//!
//! Protections ([`guard`]): every request must name the server in its Host header (on loopback
//! `localhost`, `127.0.0.1`, `[::1]` or its own address, with its port; beyond loopback this
//! host's IP addresses and the names of `--allow-host`), else 403: a page whose DNS name was
//! rebound to this server cannot use it. An API request from a page of another site or origin
//! (`Sec-Fetch-Site: cross-site` or `same-site`, or a foreign `Origin`) gets 403 and opens
//! nothing. Every answer carries a Content-Security-Policy that forbids framing and inline
//! scripts, `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`; the API's
//! carry `Cache-Control: no-store`. With writes off, opening a state creates no node (a state
//! whose layout lacks `listeners`, `lock` or `writers` is followed by a plain read, [`plain`]).
//! Every file of the page is embedded in the binary: no network at run time.

mod api;
mod app;
mod assets;
mod error;
mod events;
mod frames;
mod guard;
mod history;
mod listing;
mod plain;
mod watched;
mod writes;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};

use super::{note, print_line, resolve_dir, Global};
use crate::args::parse_duration;

/// Where the page listens by default: loopback, a fixed port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7780";

/// How many event streams (open state pages) are served at once by default.
pub const DEFAULT_MAX_STREAMS: usize = 64;

/// How long, by default, a state no page used stays open (seconds).
pub const DEFAULT_IDLE_CLOSE: &str = "60";

/// What `zkstate serve --help` shows after the options: the limits and the protections.
const AFTER_HELP: &str = "\
Limits: each event stream may fall 16 events behind (the events of a state are serialized \
once and shared by every page); a page further behind gets a `lagged` event and a fresh \
snapshot instead of the events it missed. /api/states reads at most 16 states at a time.

Protections: every answer carries Content-Security-Policy: default-src 'self'; \
frame-ancestors 'none'; object-src 'none'; base-uri 'none' (no other site can frame the page), \
X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer; /api/* answers carry \
Cache-Control: no-store. An API request sent by a page of another site or origin \
(Sec-Fetch-Site: cross-site or same-site, or a foreign Origin) gets 403. A Host header that \
does not name this server gets 403 (against DNS rebinding): on loopback, localhost, 127.0.0.1, \
[::1] or the address with its port; beyond loopback, this host's IP addresses and the names \
given with --allow-host. With writes off, opening a state creates no node; a PUT or a \
rollback is refused before its body is read unless its token is right.";

/// A `--allow-host` value: a DNS name, without port or scheme.
fn parse_host_name(text: &str) -> Result<String, String> {
    let name = text.trim().trim_end_matches('.');
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(format!(
            "`{text}` is not a host name (give the name alone, without a port or scheme)"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A positive count.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{text}`: expected a positive whole number")),
    }
}

/// Arguments of `zkstate serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Address to listen on; a non-loopback address prints a warning: the page has no login
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Serve the state directories at or under PATH [default: the base path of the URL, else /]
    #[arg(long, value_name = "PATH")]
    pub root: Option<String>,

    /// Let the page and the API change values (compare-and-set on the version shown, under the
    /// state's lock); every write needs the token printed at start (or written to --token-file)
    #[arg(long)]
    pub allow_write: bool,

    /// With --allow-write, write the token to FILE (created with mode 0600, replaced if it
    /// exists) instead of printing it on stdout, where logs may keep it
    #[arg(long, value_name = "FILE", requires = "allow_write")]
    pub token_file: Option<std::path::PathBuf>,

    /// A host name the server answers to, with any port (repeatable); beyond loopback only these
    /// names and this host's own IP addresses are answered, any other Host header gets 403
    #[arg(long = "allow-host", value_name = "NAME", value_parser = parse_host_name)]
    pub allow_host: Vec<String>,

    /// The most event streams (open state pages) served at once; past it a new stream gets 503
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_STREAMS, value_parser = parse_count)]
    pub max_streams: usize,

    /// Close a watched state when no page has watched or read it for SECS
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_IDLE_CLOSE, value_parser = parse_duration)]
    pub idle_close: Duration,
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
            let settings = api::Settings {
                root: root.clone(),
                token: token.clone(),
                timeout: global.timeout,
                listen: local,
                allow_hosts: args.allow_host.clone(),
                max_streams: args.max_streams,
                idle_close: args.idle_close,
            };
            let app = api::App::new(conn, settings);
            print_line(&format!("listening on http://{local}/"))?;
            match (&token, &args.token_file) {
                (Some(token), Some(file)) => {
                    write_private(file, token)?;
                    note(&format!("write token in {}", file.display()));
                }
                (Some(token), None) => print_line(&format!("write token: {token}"))?,
                (None, _) => {}
            }
            note(&format!(
                "serving the states under {root}; writes {}",
                if token.is_some() { "allowed with the token" } else { "off (--allow-write turns them on)" }
            ));
            if !local.ip().is_loopback() {
                note(&format!(
                    "warning: listening on {local}, beyond this host: the page has no login, anyone who reaches it reads every state{}; answering only to this host's IP addresses{}",
                    if token.is_some() { " (writes still need the token)" } else { "" },
                    if args.allow_host.is_empty() {
                        " (--allow-host NAME adds a name)".to_string()
                    } else {
                        format!(" and {}", args.allow_host.join(", "))
                    }
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
            let service = api::router(app.clone())
                .into_make_service_with_connect_info::<guard::Arrival>();
            let served = axum::serve(listener, service)
                .with_graceful_shutdown(stop)
                .await;
            app.close().await;
            served.context("the HTTP server failed")
        })
        .await
}

/// Writes `token` to `file`, readable by its owner only: created with mode 0600 (a file that
/// exists is replaced: removed first, so that no other mode survives).
fn write_private(file: &std::path::Path, token: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot replace {}", file.display())),
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create the token file {}", file.display()))?;
    writeln!(out, "{token}").with_context(|| format!("cannot write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_states_the_bounds_the_code_uses() {
        assert!(AFTER_HELP.contains(&format!("may fall {} events behind", watched::STREAM_QUEUE)));
        assert!(AFTER_HELP.contains(&format!(
            "reads at most {} states at a time",
            listing::STATES_CONCURRENCY
        )));
        assert!(AFTER_HELP.contains(guard::CSP));
    }

    #[test]
    fn allow_host_takes_a_name_alone() {
        assert_eq!(
            parse_host_name("ZK.Example.com."),
            Ok("zk.example.com".into())
        );
        for bad in ["", "zk.example.com:80", "http://zk", "a b", "[::1]"] {
            assert!(parse_host_name(bad).is_err(), "{bad}");
        }
    }
}
