//! One module per subcommand, and what they share: where the credentials come from, connecting,
//! resolving and checking a state directory, opening a state, reading JSON input, writing to
//! stdout and stderr. The subcommands import from here; nothing here uses a subcommand (`main`
//! dispatches to them).

pub mod diff;
pub mod docs;
pub mod edit;
pub mod get;
pub mod history;
pub mod listeners;
pub mod ls;
pub mod patch;
pub mod rm;
pub mod rollback;
pub mod rollout;
pub mod serve;
pub mod set;
pub mod stat;
pub mod unlock;
pub mod watch;

use std::future::Future;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use zkstate::connection::settings::{env_var, ENV_ACL, ENV_AUTH, ENV_PATH, ENV_SERVERS};
use zkstate::connection::tls::{ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY};
use zkstate::{ConnectError, Connection, Credential, Settings, StateOptions, ZkState};
use zookeeper_client::{Client, Stat};

use crate::args::{
    parse_auth_lines, parse_credential, servers_have_credential, url_has_credential,
};
use crate::exit::{fail, Code};
use crate::output::escape;

/// The servers used when neither `--zk` nor `$ZOOKEEPER_SERVERS` names any.
const DEFAULT_SERVERS: &str = "127.0.0.1:2181";

/// The environment variable naming a file of credentials, as `--auth-file` does.
pub const ENV_AUTH_FILE: &str = "ZOOKEEPER_AUTH_FILE";

/// What a refused URL or server list says: where the credential belongs.
const CREDENTIALS_GO: &str = "credentials go in ZOOKEEPER_AUTH or --auth-file";

/// The global options.
#[derive(Clone, Debug)]
pub struct Global {
    /// `--zk`, when given.
    pub zk: Option<String>,
    /// `--timeout`.
    pub timeout: Duration,
    /// The digest credentials to send, from [`credentials`]; `Debug` hides the passwords.
    pub auth: Vec<Credential>,
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
        // Refused before the library sees them: its errors quote servers and URLs as written.
        if self.zk.as_deref().is_some_and(url_has_credential) {
            return Err(fail(
                Code::Usage,
                format!("--zk holds a credential (`user:password@`); {CREDENTIALS_GO}"),
            ));
        }
        if env_var(ENV_SERVERS).is_some_and(|servers| servers_have_credential(&servers)) {
            return Err(fail(
                Code::Usage,
                format!("{ENV_SERVERS} holds a credential (`user:password@`); {CREDENTIALS_GO}"),
            ));
        }
        // The environment gives ZOOKEEPER_SERVERS, ZOOKEEPER_PATH, ZOOKEEPER_ACL and the TLS
        // files; servers in the URL win over them, and the built-in default comes last.
        // ZOOKEEPER_AUTH is left out: `credentials` has weighed it against the auth files.
        let mut settings = settings_from_env()?;
        if settings.servers().is_none() {
            settings = settings.with_servers(DEFAULT_SERVERS);
        }
        let mut settings = settings.with_connect_timeout(self.timeout);
        for credential in &self.auth {
            settings = settings.with_digest(credential.clone());
        }
        if let Some(acl) = self.acl {
            settings = settings.with_acl_policy(acl);
        }
        if let Some(tls) = self.tls_settings()? {
            settings = settings.with_tls(tls);
        }
        let url = self.zk.as_deref().unwrap_or("");
        if url.starts_with("zookeeper+tls:") && settings.tls().is_none() {
            return Err(fail(
                Code::Usage,
                format!(
                    "a zookeeper+tls:// url needs the servers' CA certificates: give --tls-ca FILE \
                     (or {ENV_TLS_CA})"
                ),
            ));
        }
        // A person waits: a refused connection or an unknown name is said at once.
        Ok(Connection::connect_fail_fast(url, settings).await?)
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
            .with_program("zkstate", Some(env!("CARGO_PKG_VERSION").to_string()))
            .with_tool(zkstate::Tool::Cli)
    }
}

/// The settings of the environment but the credential: `Settings::from_env` with
/// `ZOOKEEPER_AUTH` unset, and as it does, a variable that is not Unicode is an error.
fn settings_from_env() -> Result<Settings> {
    for name in [
        ENV_SERVERS,
        ENV_PATH,
        ENV_ACL,
        ENV_TLS_CA,
        ENV_TLS_CERT,
        ENV_TLS_KEY,
    ] {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            let name = name.to_string();
            return Err(ConnectError::from(
                zkstate::connection::settings::SettingsError::NotUnicode { name },
            )
            .into());
        }
    }
    let lookup = |name: &str| {
        if name == ENV_AUTH {
            None
        } else {
            env_var(name)
        }
    };
    Ok(Settings::from_env_with(lookup).map_err(ConnectError::from)?)
}

/// The digest credentials to send, from the first source that gives any: `--auth`, then
/// `--auth-file`, then the file `$ZOOKEEPER_AUTH_FILE` names, then `$ZOOKEEPER_AUTH`. A blank
/// variable counts as unset. Every failure is exit 2 and none shows a credential.
///
/// An auth file is refused when its mode lets group or others read or write it (`mode & 0o077`),
/// as ssh refuses such a key: it would be a credential anyone on the host can take or change.
pub fn credentials(flag: Option<Credential>, file: Option<&Path>) -> Result<Vec<Credential>> {
    if let Some(credential) = flag {
        return Ok(vec![credential]);
    }
    if let Some(path) = file {
        return read_auth_file(path, "--auth-file");
    }
    if let Some(path) = auth_variable(ENV_AUTH_FILE)? {
        return read_auth_file(Path::new(&path), ENV_AUTH_FILE);
    }
    match auth_variable(ENV_AUTH)? {
        Some(text) => parse_credential(&text)
            .map(|credential| vec![credential])
            .map_err(|problem| fail(Code::Usage, format!("bad {ENV_AUTH}: {problem}"))),
        None => Ok(Vec::new()),
    }
}

/// A credential variable's value; `None` when unset or blank, exit 2 when not Unicode.
fn auth_variable(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(fail(
            Code::Usage,
            format!("environment variable {name} is not valid unicode"),
        )),
    }
}

/// The credentials in the auth file at `path`, given by `origin` (`--auth-file` or the
/// variable), after checking that only its owner may read or write it.
fn read_auth_file(path: &Path, origin: &str) -> Result<Vec<Credential>> {
    use std::os::unix::fs::PermissionsExt;

    let shown = format!("auth file {} ({origin})", path.display());
    let usage = |message: String| fail(Code::Usage, message);
    let metadata =
        std::fs::metadata(path).map_err(|err| usage(format!("cannot read {shown}: {err}")))?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(usage(format!(
            "{shown} has mode {mode:04o}: group or others may read or write it; \
             make it private with chmod 600 {}",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| usage(format!("cannot read {shown}: {err}")))?;
    parse_auth_lines(&text).map_err(|problem| usage(format!("bad {shown}: {problem}")))
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
        None => Err(missing_state(&client, timeout, dir).await),
    }
}

/// The error for a DIR without a payload, saying what DIR is: absent, a state's payload node,
/// or a plain znode (with how to read it or the states under it).
pub async fn missing_state(client: &Client, timeout: Duration, dir: &str) -> anyhow::Error {
    let exists = zkstate::within("reading", dir, timeout, client.check_stat(dir)).await;
    if !matches!(exists, Ok(Some(_))) {
        return not_a_state(dir);
    }
    let payload = format!("/{}", zkstate::layout::PAYLOAD);
    if let Some(state) = dir.strip_suffix(&payload).filter(|s| !s.is_empty()) {
        return fail(
            Code::NotFound,
            format!("{dir} is the payload node of the state {state}; give {state} as DIR"),
        );
    }
    fail(
        Code::NotFound,
        format!(
            "{dir} is a plain znode, not a state directory (it has no payload child): \
             `zkstate ls {dir}` lists the states under it, `zkstate get --raw-node {dir}` prints \
             its data"
        ),
    )
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

/// A message on stderr, prefixed `zkstate: `, control characters [`escape`]d (messages quote
/// node names, payload values and errors that come from ZooKeeper). A closed stderr is ignored:
/// there is nowhere else to say it.
pub fn note(message: &str) {
    let _ = writeln!(io::stderr(), "zkstate: {}", escape(message));
}

/// A line on stderr (`version 4`), control characters [`escape`]d as in [`note`].
pub fn info(message: &str) {
    let _ = writeln!(io::stderr(), "{}", escape(message));
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
