//! One module per subcommand, and what they share: connecting, resolving and checking a state
//! directory, opening a state, reading JSON input, writing to stdout and stderr. The subcommands
//! import from here; nothing here uses a subcommand (`main` dispatches to them).

pub mod edit;
pub mod get;
pub mod listeners;
pub mod ls;
pub mod patch;
pub mod rm;
pub mod rollout;
pub mod serve;
pub mod set;
pub mod watch;

use std::future::Future;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use zkstate::{ConnectError, Connection, Settings, StateOptions, ZkState};
use zookeeper_client::{Client, Stat};

use crate::exit::{fail, Code};

/// The servers used when neither `--zk` nor `$ZOOKEEPER_SERVERS` names any.
const DEFAULT_SERVERS: &str = "127.0.0.1:2181";

/// The global options.
#[derive(Clone, Debug)]
pub struct Global {
    /// `--zk`, when given.
    pub zk: Option<String>,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--auth`, when given.
    pub auth: Option<String>,
    /// `--acl`, when given.
    pub acl: Option<zkstate::AclPolicy>,
    /// `--tls-ca`, when given.
    pub tls_ca: Option<PathBuf>,
    /// `--tls-cert`, when given.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`, when given.
    pub tls_key: Option<PathBuf>,
}

impl Global {
    /// Connects (within `--timeout`), runs `body`, then closes the connection whatever the
    /// outcome, so that the session and its ephemeral nodes go at once rather than at expiry.
    pub async fn with_connection<F, Fut, R>(&self, body: F) -> Result<R>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let conn = self.connect().await?;
        let result = body(conn.clone()).await;
        conn.close().await;
        result
    }

    async fn connect(&self) -> Result<Connection> {
        // The environment gives ZOOKEEPER_SERVERS, ZOOKEEPER_PATH and ZOOKEEPER_AUTH; servers in
        // the URL win over them, and the built-in default comes last.
        let mut settings = Settings::from_env().map_err(ConnectError::from)?;
        if settings.servers().is_none() {
            settings = settings.with_servers(DEFAULT_SERVERS);
        }
        let mut settings = settings.with_connect_timeout(self.timeout);
        if let Some(auth) = &self.auth {
            let credential = zkstate::Credential::parse(auth)
                .map_err(ConnectError::from)
                .context("bad --auth")?;
            settings = settings.with_digest(credential);
        }
        if let Some(acl) = self.acl {
            settings = settings.with_acl_policy(acl);
        }
        if let Some(tls) = self.tls_settings()? {
            settings = settings.with_tls(tls);
        }
        let url = self.zk.as_deref().unwrap_or("");
        Ok(Connection::connect(url, settings).await?)
    }

    /// The TLS settings of `--tls-ca`, `--tls-cert` and `--tls-key` (or their variables), when
    /// given. A certificate needs its key and the other way round, and both need a CA.
    fn tls_settings(&self) -> Result<Option<zkstate::TlsSettings>> {
        let tls = match (&self.tls_ca, &self.tls_cert, &self.tls_key) {
            (None, None, None) => return Ok(None),
            (Some(ca), None, None) => zkstate::TlsSettings::new(ca),
            (Some(ca), Some(cert), Some(key)) => {
                zkstate::TlsSettings::new(ca).with_identity(cert, key)
            }
            (_, Some(_), None) => return Err(fail(Code::Usage, "--tls-cert needs --tls-key")),
            (_, None, Some(_)) => return Err(fail(Code::Usage, "--tls-key needs --tls-cert")),
            (None, Some(_), Some(_)) => {
                return Err(fail(
                    Code::Usage,
                    "--tls-cert and --tls-key need --tls-ca, the CA of the servers",
                ))
            }
        };
        Ok(Some(tls))
    }

    /// Options for a state opened by a one-shot command: no listener record (the command is
    /// not a live instance), `--timeout` for every request and for the wait for the state's
    /// lock, and writes in the encoding the payload has (a compressed state stays compressed).
    pub fn state_options(&self) -> StateOptions {
        StateOptions::default()
            .with_listener_record(false)
            .with_request_timeout(self.timeout)
            .with_lock_timeout(self.timeout)
            .with_compression(zkstate::Compression::Keep)
    }
}

/// Resolves DIR against the connection's base path.
pub fn resolve_dir(conn: &Connection, dir: &str) -> Result<String> {
    conn.resolve_dir(dir)
        .map_err(zkstate::Error::InvalidDir)
        .with_context(|| format!("bad state directory `{dir}`"))
}

/// `<dir>/payload`, from the library's layout.
pub fn payload_path(dir: &str) -> String {
    zkstate::layout::Layout::new(dir).payload
}

/// What a version conflict says ZooKeeper holds: `version 7`, or `another write`.
pub fn held(remote: Option<i32>) -> String {
    match remote {
        Some(version) => format!("version {version}"),
        None => "another write".to_string(),
    }
}

/// The connected client, within `timeout`.
pub async fn client(conn: &Connection, timeout: Duration) -> Result<Client> {
    Ok(conn.wait_connected(timeout).await?)
}

/// The children of every node of `level`, each listing sent before any is awaited (one round
/// trip for the whole level), within `timeout`.
pub async fn list_level(
    client: &Client,
    level: &[String],
    root: &str,
    timeout: Duration,
) -> Result<Vec<Result<Vec<String>, zookeeper_client::Error>>, zkstate::Error> {
    let listings: Vec<_> = level
        .iter()
        .map(|node| client.list_children(node))
        .collect();
    zkstate::within("listing", root, timeout, async {
        let mut out = Vec::with_capacity(listings.len());
        for listing in listings {
            out.push(listing.await);
        }
        Ok(out)
    })
    .await
}

/// The stat of `<dir>/payload`, failing with exit 4 when there is none.
pub async fn existing_payload(conn: &Connection, timeout: Duration, dir: &str) -> Result<Stat> {
    let path = payload_path(dir);
    let client = client(conn, timeout).await?;
    match zkstate::within("reading", &path, timeout, client.check_stat(&path)).await? {
        Some(stat) => Ok(stat),
        None => Err(not_a_state(dir)),
    }
}

/// The error for a DIR without a payload.
pub fn not_a_state(dir: &str) -> anyhow::Error {
    fail(
        Code::NotFound,
        format!(
            "state directory {dir} does not exist (no {})",
            payload_path(dir)
        ),
    )
}

/// Opens the existing state at `dir` (absolute) for a one-shot command; exit 4 when it does not
/// exist.
pub async fn open_existing(
    global: &Global,
    conn: &Connection,
    dir: &str,
    options: StateOptions,
) -> Result<ZkState<Value>> {
    existing_payload(conn, global.timeout, dir).await?;
    // The payload exists, so this returns at once; the bound only matters if it was removed
    // in the meantime.
    ZkState::expect_with_options(conn, dir, Some(global.timeout), options)
        .await
        .with_context(|| format!("cannot open {dir}"))
}

/// Runs `body` on `state`, then closes the state whatever the outcome (removing its commit
/// marker and listener record).
pub async fn closing<F, Fut, R>(state: ZkState<Value>, body: F) -> Result<R>
where
    F: FnOnce(ZkState<Value>) -> Fut,
    Fut: Future<Output = Result<R>>,
{
    let result = body(state.clone()).await;
    state.close().await;
    result
}

/// Where JSON input comes from, for messages.
pub enum Source<'a> {
    /// Standard input.
    Stdin,
    /// A command-line argument, by its name.
    Argument(&'a str),
    /// A file.
    File(&'a std::path::Path),
    /// The body of an HTTP request (`zkstate serve`).
    Body,
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Stdin => f.write_str("stdin"),
            Source::Argument(name) => f.write_str(name),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Body => f.write_str("the request body"),
        }
    }
}

/// Reads the JSON argument, or standard input when it is absent or `-`.
pub fn read_input(arg: Option<&str>, name: &'static str) -> Result<(String, Source<'static>)> {
    match arg {
        Some(text) if text != "-" => Ok((text.to_string(), Source::Argument(name))),
        _ => {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            Ok((text, Source::Stdin))
        }
    }
}

/// Parses JSON; on failure, exit 2 with a message that names the source, line and column.
pub fn parse_json(text: &str, source: &Source<'_>) -> Result<Value> {
    serde_json::from_str(text).map_err(|err| fail(Code::Usage, json_error(source, &err)))
}

/// `invalid JSON in stdin at line 1, column 5: expected value`.
pub fn json_error(source: &Source<'_>, err: &serde_json::Error) -> String {
    let full = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let reason = full.strip_suffix(&position).unwrap_or(&full);
    format!(
        "invalid JSON in {source} at line {}, column {}: {reason}",
        err.line(),
        err.column()
    )
}

/// Writes `text` and a newline to stdout and flushes (scripts read through pipes). A broken
/// pipe comes back as an `io::Error`, which the exit mapping treats as success.
pub fn print_line(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// A message on stderr, prefixed `zkstate: `. A closed stderr is ignored: there is nowhere
/// else to say it.
pub fn note(message: &str) {
    let _ = writeln!(io::stderr(), "zkstate: {message}");
}

/// A line on stderr as it is (`version 4`).
pub fn info(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_line_and_column() {
        let err = match serde_json::from_str::<Value>("{\n  \"a\": 1,\n  oops\n}") {
            Err(err) => err,
            Ok(value) => panic!("parsed {value}"),
        };
        assert_eq!(
            json_error(&Source::Stdin, &err),
            "invalid JSON in stdin at line 3, column 3: key must be a string"
        );
        let err = match serde_json::from_str::<Value>("") {
            Err(err) => err,
            Ok(value) => panic!("parsed {value}"),
        };
        assert_eq!(
            json_error(&Source::Argument("JSON"), &err),
            "invalid JSON in JSON at line 1, column 0: EOF while parsing a value"
        );
    }

    #[test]
    fn payload_paths() {
        assert_eq!(payload_path("/"), "/payload");
        assert_eq!(payload_path("/a/b"), "/a/b/payload");
    }
}
