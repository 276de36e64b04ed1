//! Connection settings and where they come from.
//!
//! Settings come from three sources, in this order of precedence (as in `asab.zookeeper`):
//!
//! 1. the URL given to the connection ([`ZkUrl`]);
//! 2. the `[zookeeper]` configuration section ([`ZookeeperSection`], [`Settings::from_toml_str`]);
//! 3. the environment: `ZOOKEEPER_SERVERS`, `ZOOKEEPER_PATH`, `ZOOKEEPER_AUTH`, `ZOOKEEPER_ACL`,
//!    and for TLS `ZOOKEEPER_TLS_CA`, `ZOOKEEPER_TLS_CERT`, `ZOOKEEPER_TLS_KEY`.
//!
//! [`Target::resolve`] combines them into the servers and base path to use; [`Settings::or`]
//! layers whole settings (e.g. the file's over the environment's).
//!
//! ```toml
//! [zookeeper]
//! servers = "zookeeper-1:2181,zookeeper-2:2181"
//! path = "/apps/monitor"
//! session_timeout_ms = 10000
//! auth = "monitor:s3cret"
//! # TLS to the servers' secureClientPort (see `connection::tls`):
//! # tls_ca = "/etc/zkstate/ca.pem"
//! # tls_cert = "/etc/zkstate/client.pem"
//! # tls_key = "/etc/zkstate/client-key.pem"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::acl::AclPolicy;
use super::tls::{TlsSettings, ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY};
use super::url::{join_path, join_servers, parse_servers, validate_path, UrlError, ZkPath, ZkUrl};

/// The environment variable with the default connect string.
pub const ENV_SERVERS: &str = "ZOOKEEPER_SERVERS";
/// The environment variable with the default base path.
pub const ENV_PATH: &str = "ZOOKEEPER_PATH";
/// The environment variable with a digest credential, `user:password`.
pub const ENV_AUTH: &str = "ZOOKEEPER_AUTH";
/// The environment variable naming the [`AclPolicy`] of created nodes.
pub const ENV_ACL: &str = "ZOOKEEPER_ACL";

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The client sends session timeouts as an `i32` of milliseconds.
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// What is wrong with a credential. Never carries the credential itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialProblem {
    /// There is no `:` between user and password.
    MissingColon,
    /// The user part is empty.
    EmptyUser,
    /// The user given to [`Credential::new`] contains `:`, which the digest scheme cannot carry.
    ColonInUser,
}

impl fmt::Display for CredentialProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialProblem::MissingColon => f.write_str("expected `user:password`"),
            CredentialProblem::EmptyUser => f.write_str("the user is empty"),
            CredentialProblem::ColonInUser => f.write_str("the user contains ':'"),
        }
    }
}

/// Errors from reading or resolving settings. Each names where the bad value came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// No source gave any servers.
    #[error("no zookeeper servers: give a URL with servers, `servers=` in [zookeeper], or {ENV_SERVERS}")]
    NoServers,
    /// A server list is invalid.
    #[error("bad servers in {origin}: {source}")]
    Servers {
        /// Where the list came from (`ZOOKEEPER_SERVERS`, `[zookeeper] servers`, ...).
        origin: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// A server list has a chroot (`h1:2181/app`); the base path belongs in `path`.
    #[error(
        "servers in {origin} (`{servers}`) contain a path; put the base path in `path` instead"
    )]
    ServersWithPath {
        /// Where the list came from.
        origin: String,
        /// The list as given.
        servers: String,
    },
    /// A base path is invalid.
    #[error("bad path in {origin}: {source}")]
    Path {
        /// Where the path came from (`ZOOKEEPER_PATH`, `[zookeeper] path`, ...).
        origin: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// A credential is invalid. The message never includes the credential.
    #[error("bad credential in {origin}: {problem}")]
    Credential {
        /// Where the credential came from (`ZOOKEEPER_AUTH`, `[zookeeper] auth`, ...).
        origin: String,
        /// What is wrong with it.
        problem: CredentialProblem,
    },
    /// A timeout is zero or does not fit the protocol's 32-bit milliseconds.
    #[error("bad {key} = {value}: expected 1 to {MAX_TIMEOUT_MS} milliseconds")]
    Timeout {
        /// The key, e.g. `[zookeeper] session_timeout_ms`.
        key: String,
        /// The value given.
        value: u64,
    },
    /// The TOML is not valid, or its `[zookeeper]` table does not fit [`ZookeeperSection`].
    #[error("bad toml in {origin}: {message}")]
    Toml {
        /// The file, or `toml text` for a string.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A settings file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// An ACL policy name is unknown, or a policy that names the creator has no credential.
    #[error("bad acl policy in {origin}: {problem}")]
    Acl {
        /// Where the policy came from (`ZOOKEEPER_ACL`, `[zookeeper] acl`, ...).
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The TLS files of one source do not fit together (a certificate without its key, or a
    /// certificate without a CA), or a path is empty.
    #[error("bad tls settings in {origin}: {problem}")]
    Tls {
        /// The key or variable at fault (`[zookeeper] tls_cert`, `ZOOKEEPER_TLS_KEY`, ...).
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// An environment variable is set but is not valid Unicode.
    #[error("environment variable {name} is not valid unicode")]
    NotUnicode {
        /// The variable.
        name: String,
    },
}

/// A digest credential, `user:password`, sent as `digest` auth when a session opens.
///
/// `Debug` hides the password, and there is no `Display`, so it does not end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    user: String,
    password: String,
}

impl Credential {
    /// Builds a credential from its parts.
    ///
    /// # Errors
    /// [`SettingsError::Credential`] when `user` is empty or contains `:` (the digest scheme
    /// splits at the first `:`, so such a user could never authenticate).
    pub fn new(
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Credential, SettingsError> {
        let user = user.into();
        let problem = if user.is_empty() {
            CredentialProblem::EmptyUser
        } else if user.contains(':') {
            CredentialProblem::ColonInUser
        } else {
            return Ok(Credential {
                user,
                password: password.into(),
            });
        };
        Err(SettingsError::Credential {
            origin: "credential".to_string(),
            problem,
        })
    }

    /// Parses `user:password`. The password may contain `:` (the split is at the first one) and
    /// may be empty; the user may not.
    ///
    /// # Errors
    /// [`SettingsError::Credential`] with origin `credential`.
    pub fn parse(s: &str) -> Result<Credential, SettingsError> {
        Credential::parse_from(s, "credential")
    }

    fn parse_from(s: &str, origin: &str) -> Result<Credential, SettingsError> {
        let error = |problem| SettingsError::Credential {
            origin: origin.to_string(),
            problem,
        };
        let (user, password) = s
            .split_once(':')
            .ok_or_else(|| error(CredentialProblem::MissingColon))?;
        if user.is_empty() {
            return Err(error(CredentialProblem::EmptyUser));
        }
        Ok(Credential {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The bytes of the `digest` auth packet: `user:password`.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to connect: servers, base path, timeouts and credentials.
///
/// Every field may be left unset, in which case [`Settings::or`] fills it from lower-precedence
/// settings and the getters return the documented default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    servers: Option<String>,
    path: Option<String>,
    // Options rather than the defaults themselves, so that `or` can tell "unset" from "set to
    // the default value".
    session_timeout: Option<Duration>,
    connection_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    digest: Vec<Credential>,
    acl: Option<AclPolicy>,
    tls: Option<TlsSettings>,
}

impl Settings {
    /// Sets the connect string (`h1:2181,h2:2181`), used when the URL has no servers. Default:
    /// none (then `ZOOKEEPER_SERVERS`). Validated by [`Target::resolve`].
    #[must_use]
    pub fn with_servers(mut self, servers: impl Into<String>) -> Settings {
        self.servers = Some(servers.into());
        self
    }

    /// Sets the base path for relative URLs and URLs without a path; a relative one is taken
    /// from the root (`app` is `/app`). Default: none (then `ZOOKEEPER_PATH`, then `/`).
    /// Validated by [`Target::resolve`].
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Settings {
        self.path = Some(path.into());
        self
    }

    /// Sets the session timeout asked of the server (which bounds it by its tick time).
    /// Default: 10 s.
    #[must_use]
    pub fn with_session_timeout(mut self, timeout: Duration) -> Settings {
        self.session_timeout = Some(timeout);
        self
    }

    /// Sets how long the client waits for one server before trying the next. Default: unset,
    /// which lets the client use 2/5 of the session timeout.
    #[must_use]
    pub fn with_connection_timeout(mut self, timeout: Duration) -> Settings {
        self.connection_timeout = Some(timeout);
        self
    }

    /// Sets how long the first connect waits for a session before failing. Default: 10 s.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Settings {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Adds a digest credential, sent when every session opens. Default: none.
    #[must_use]
    pub fn with_digest(mut self, credential: Credential) -> Settings {
        self.digest.push(credential);
        self
    }

    /// Sets the ACL policy of every node zkstate creates. Default: [`AclPolicy::Open`].
    #[must_use]
    pub fn with_acl_policy(mut self, policy: AclPolicy) -> Settings {
        self.acl = Some(policy);
        self
    }

    /// Turns TLS on: connect to the servers' secure client port, trusting the CA and
    /// presenting the client certificate of `tls`. Default: none (then `ZOOKEEPER_TLS_CA`,
    /// ...); see [`crate::connection::tls`].
    #[must_use]
    pub fn with_tls(mut self, tls: TlsSettings) -> Settings {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings, when TLS is on.
    pub fn tls(&self) -> Option<&TlsSettings> {
        self.tls.as_ref()
    }

    /// The ACL policy (open unless set).
    pub fn acl_policy(&self) -> AclPolicy {
        self.acl.unwrap_or_default()
    }

    /// Checks what no single source can: a policy that names the creator needs a credential.
    ///
    /// # Errors
    /// [`SettingsError::Acl`].
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.acl_policy().needs_credentials() && self.digest.is_empty() {
            return Err(SettingsError::Acl {
                origin: "settings".to_string(),
                problem: format!(
                    "policy {} needs a digest credential (auth = user:password)",
                    self.acl_policy()
                ),
            });
        }
        Ok(())
    }

    /// The connect string, if set.
    pub fn servers(&self) -> Option<&str> {
        self.servers.as_deref()
    }

    /// The base path, if set.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The session timeout (10 s unless set).
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT)
    }

    /// The per-server connection timeout, or `None` for the client's default.
    pub fn connection_timeout(&self) -> Option<Duration> {
        self.connection_timeout
    }

    /// How long a first connect waits (10 s unless set).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The digest credentials.
    pub fn digest(&self) -> &[Credential] {
        &self.digest
    }

    /// Fills every field unset in `self` from `lower`; `digest` is taken from `lower` only when
    /// `self` has none, so credentials are replaced, not merged. TLS settings are taken whole
    /// (CA, certificate and key together), never mixed from two sources.
    #[must_use]
    pub fn or(self, lower: Settings) -> Settings {
        Settings {
            servers: self.servers.or(lower.servers),
            path: self.path.or(lower.path),
            session_timeout: self.session_timeout.or(lower.session_timeout),
            connection_timeout: self.connection_timeout.or(lower.connection_timeout),
            connect_timeout: self.connect_timeout.or(lower.connect_timeout),
            digest: if self.digest.is_empty() {
                lower.digest
            } else {
                self.digest
            },
            acl: self.acl.or(lower.acl),
            tls: self.tls.or(lower.tls),
        }
    }

    /// Builds settings from a `[zookeeper]` section, checking every value.
    ///
    /// # Errors
    /// A [`SettingsError`] whose origin is `[zookeeper] <key>`.
    pub fn from_section(section: &ZookeeperSection) -> Result<Settings, SettingsError> {
        if let Some(servers) = &section.servers {
            normalise_servers(servers, "[zookeeper] servers")?;
        }
        if let Some(path) = &section.path {
            base_path(path, "[zookeeper] path")?;
        }
        let timeout = |value: Option<u64>, key: &str| -> Result<Option<Duration>, SettingsError> {
            match value {
                None => Ok(None),
                Some(ms @ 1..=MAX_TIMEOUT_MS) => Ok(Some(Duration::from_millis(ms))),
                Some(value) => Err(SettingsError::Timeout {
                    key: format!("[zookeeper] {key}"),
                    value,
                }),
            }
        };
        let digest = match &section.auth {
            None => Vec::new(),
            Some(auth) => vec![Credential::parse_from(auth, "[zookeeper] auth")?],
        };
        let acl = parse_acl(section.acl.as_deref(), "[zookeeper] acl")?;
        let tls = TlsSettings::from_parts(
            section.tls_ca.clone(),
            section.tls_cert.clone(),
            section.tls_key.clone(),
            [
                "[zookeeper] tls_ca",
                "[zookeeper] tls_cert",
                "[zookeeper] tls_key",
            ],
        )?;
        Ok(Settings {
            servers: section.servers.clone(),
            path: section.path.clone(),
            session_timeout: timeout(section.session_timeout_ms, "session_timeout_ms")?,
            connection_timeout: timeout(section.connection_timeout_ms, "connection_timeout_ms")?,
            connect_timeout: timeout(section.connect_timeout_ms, "connect_timeout_ms")?,
            digest,
            acl,
            tls,
        })
    }

    /// Reads the `[zookeeper]` table of a TOML document. Other tables are ignored; without a
    /// `[zookeeper]` table the settings are the defaults.
    ///
    /// # Errors
    /// [`SettingsError::Toml`] for bad TOML or an unknown or mistyped key in `[zookeeper]` (the
    /// message gives line and column), or any error of [`Settings::from_section`].
    pub fn from_toml_str(text: &str) -> Result<Settings, SettingsError> {
        Settings::from_toml(text, "toml text")
    }

    /// Reads the `[zookeeper]` table of a TOML file, as [`Settings::from_toml_str`].
    ///
    /// # Errors
    /// [`SettingsError::Io`] naming the file when it cannot be read; otherwise as
    /// [`Settings::from_toml_str`], with the file as origin.
    pub fn from_toml_file(path: &Path) -> Result<Settings, SettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Settings::from_toml(&text, &shown)
    }

    fn from_toml(text: &str, origin: &str) -> Result<Settings, SettingsError> {
        // Only `zookeeper` is declared, so serde skips every other table.
        #[derive(serde::Deserialize)]
        struct Document {
            zookeeper: Option<ZookeeperSection>,
        }
        let document: Document = toml::from_str(text).map_err(|e| SettingsError::Toml {
            origin: origin.to_string(),
            message: toml_message(text, &e),
        })?;
        match document.zookeeper {
            None => Ok(Settings::default()),
            Some(section) => Settings::from_section(&section),
        }
    }

    /// Reads `ZOOKEEPER_SERVERS`, `ZOOKEEPER_PATH`, `ZOOKEEPER_AUTH`, `ZOOKEEPER_ACL` and
    /// `ZOOKEEPER_TLS_*` from the process environment, as [`Settings::from_env_with`].
    ///
    /// # Errors
    /// [`SettingsError::NotUnicode`] for a variable that is set but not Unicode, or any error of
    /// [`Settings::from_env_with`].
    pub fn from_env() -> Result<Settings, SettingsError> {
        for name in [
            ENV_SERVERS,
            ENV_PATH,
            ENV_AUTH,
            ENV_ACL,
            ENV_TLS_CA,
            ENV_TLS_CERT,
            ENV_TLS_KEY,
        ] {
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
                return Err(SettingsError::NotUnicode {
                    name: name.to_string(),
                });
            }
        }
        Settings::from_env_with(env_var)
    }

    /// Reads `ZOOKEEPER_SERVERS`, `ZOOKEEPER_PATH`, `ZOOKEEPER_AUTH`, `ZOOKEEPER_ACL` and
    /// `ZOOKEEPER_TLS_CA`, `ZOOKEEPER_TLS_CERT`, `ZOOKEEPER_TLS_KEY` through `lookup`. A
    /// variable set to an empty or blank value counts as unset, as shells make it easy to set
    /// one by accident.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the variable (never the value of `ZOOKEEPER_AUTH`).
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let servers = get(ENV_SERVERS);
        if let Some(servers) = &servers {
            normalise_servers(servers, ENV_SERVERS)?;
        }
        let path = get(ENV_PATH);
        if let Some(path) = &path {
            base_path(path, ENV_PATH)?;
        }
        let digest = match get(ENV_AUTH) {
            None => Vec::new(),
            Some(auth) => vec![Credential::parse_from(&auth, ENV_AUTH)?],
        };
        let acl = parse_acl(get(ENV_ACL).as_deref(), ENV_ACL)?;
        let tls = TlsSettings::from_parts(
            get(ENV_TLS_CA).map(PathBuf::from),
            get(ENV_TLS_CERT).map(PathBuf::from),
            get(ENV_TLS_KEY).map(PathBuf::from),
            [ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY],
        )?;
        Ok(Settings {
            servers,
            path,
            digest,
            acl,
            tls,
            ..Settings::default()
        })
    }
}

fn parse_acl(value: Option<&str>, origin: &str) -> Result<Option<AclPolicy>, SettingsError> {
    value
        .map(|name| {
            name.parse::<AclPolicy>().map_err(|e| SettingsError::Acl {
                origin: origin.to_string(),
                problem: e.to_string(),
            })
        })
        .transpose()
}

/// `line L, column C: message` on one line. toml's own `Display` quotes the offending source
/// line, which may be the `auth` line with its password.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', "; ");
    let Some(span) = error.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// Looks a variable up in the process environment; the `env` argument of [`Target::resolve`]
/// for normal use. A variable that is not Unicode counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The `[zookeeper]` configuration section, deserialisable from any serde source.
///
/// `Debug` hides the password part of `auth`.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZookeeperSection {
    /// The connect string, `h1:2181,h2:2181` (no path).
    pub servers: Option<String>,
    /// The base path; a relative one is taken from the root.
    pub path: Option<String>,
    /// The session timeout in milliseconds.
    pub session_timeout_ms: Option<u64>,
    /// The per-server connection timeout in milliseconds.
    pub connection_timeout_ms: Option<u64>,
    /// How long a first connect waits, in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// A digest credential, `user:password`.
    pub auth: Option<String>,
    /// The ACL policy of created nodes: `open`, `creator-all-world-read` or `creator-only`.
    pub acl: Option<String>,
    /// The CA certificates (PEM file) of the servers; turns TLS on.
    pub tls_ca: Option<PathBuf>,
    /// The client certificate (PEM file); needs `tls_key` and `tls_ca`.
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM file); needs `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl fmt::Debug for ZookeeperSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = self.auth.as_deref().map(|auth| match auth.split_once(':') {
            Some((user, _)) => format!("{user}:<redacted>"),
            None => "<redacted>".to_string(),
        });
        f.debug_struct("ZookeeperSection")
            .field("servers", &self.servers)
            .field("path", &self.path)
            .field("session_timeout_ms", &self.session_timeout_ms)
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("auth", &auth)
            .field("acl", &self.acl)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}

/// Where a connection goes: resolved from a URL and settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The normalised connect string, without chroot.
    pub servers: String,
    /// The absolute base path, `/` by default.
    pub path: String,
}

impl Target {
    /// Precedence as asab.zookeeper: the URL first; what it lacks comes from `settings` (the
    /// configuration section), and what those lack from the environment (`ZOOKEEPER_SERVERS`,
    /// `ZOOKEEPER_PATH`), read through `env` (normally [`env_var`]).
    ///
    /// The path is the URL's absolute path; or its relative path joined to the base path; or,
    /// when the URL has no path, the base path itself. The base path is `settings.path`, else
    /// `ZOOKEEPER_PATH`, else `/`; a relative base path is taken from the root. Blank
    /// environment variables count as unset.
    ///
    /// # Errors
    /// [`SettingsError::NoServers`] when no source has servers; otherwise a [`SettingsError`]
    /// naming the source of the bad value.
    pub fn resolve(
        url: Option<&ZkUrl>,
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, SettingsError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let servers = match url.and_then(ZkUrl::servers) {
            Some(servers) => servers,
            None => match (settings.servers(), env(ENV_SERVERS)) {
                (Some(servers), _) => normalise_servers(servers, "settings servers")?,
                (None, Some(servers)) => normalise_servers(&servers, ENV_SERVERS)?,
                (None, None) => return Err(SettingsError::NoServers),
            },
        };
        let base = || -> Result<String, SettingsError> {
            match (settings.path(), env(ENV_PATH)) {
                (Some(path), _) => base_path(path, "settings path"),
                (None, Some(path)) => base_path(&path, ENV_PATH),
                (None, None) => Ok("/".to_string()),
            }
        };
        let path = match url.map_or(&ZkPath::Unspecified, ZkUrl::path) {
            ZkPath::Absolute(path) => path.clone(),
            ZkPath::Relative(rel) => {
                join_path(&base()?, rel).map_err(|source| SettingsError::Path {
                    origin: "url".to_string(),
                    source,
                })?
            }
            ZkPath::Unspecified => base()?,
        };
        Ok(Target { servers, path })
    }
}

/// Parses a server list from a setting into a normalised connect string.
fn normalise_servers(servers: &str, origin: &str) -> Result<String, SettingsError> {
    if servers.contains('/') {
        return Err(SettingsError::ServersWithPath {
            origin: origin.to_string(),
            servers: servers.to_string(),
        });
    }
    let addrs = parse_servers(servers).map_err(|source| SettingsError::Servers {
        origin: origin.to_string(),
        source,
    })?;
    Ok(join_servers(&addrs))
}

/// Validates a base path from a setting; a relative one (asab's `path=myfolder`) is rooted.
fn base_path(path: &str, origin: &str) -> Result<String, SettingsError> {
    let rooted = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    match validate_path(&rooted) {
        Ok(()) => Ok(rooted),
        // Report the path as the user wrote it, not with the '/' we added.
        Err(UrlError::BadPath { problem, .. }) => Err(SettingsError::Path {
            origin: origin.to_string(),
            source: UrlError::BadPath {
                path: path.to_string(),
                problem,
            },
        }),
        Err(source) => Err(SettingsError::Path {
            origin: origin.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::connection::url::PathProblem;
    use proptest::prelude::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn url(s: &str) -> ZkUrl {
        match ZkUrl::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn target(servers: &str, path: &str) -> Target {
        Target {
            servers: servers.to_string(),
            path: path.to_string(),
        }
    }

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.servers(), None);
        assert_eq!(s.path(), None);
        assert_eq!(s.session_timeout(), Duration::from_secs(10));
        assert_eq!(s.connection_timeout(), None);
        assert_eq!(s.connect_timeout(), Duration::from_secs(10));
        assert!(s.digest().is_empty());
    }

    #[test]
    fn setters() {
        let cred = ok(Credential::parse("u:p"));
        let s = Settings::default()
            .with_servers("h1")
            .with_path("/p")
            .with_session_timeout(Duration::from_secs(3))
            .with_connection_timeout(Duration::from_secs(1))
            .with_connect_timeout(Duration::from_secs(7))
            .with_digest(cred.clone());
        assert_eq!(s.servers(), Some("h1"));
        assert_eq!(s.path(), Some("/p"));
        assert_eq!(s.session_timeout(), Duration::from_secs(3));
        assert_eq!(s.connection_timeout(), Some(Duration::from_secs(1)));
        assert_eq!(s.connect_timeout(), Duration::from_secs(7));
        assert_eq!(s.digest(), &[cred]);
    }

    #[test]
    fn credential_parse() {
        let c = ok(Credential::parse("bob:pa:ss:"));
        assert_eq!((c.user(), c.password()), ("bob", "pa:ss:"));
        assert_eq!(c.auth_bytes(), b"bob:pa:ss:".to_vec());
        let empty_password = ok(Credential::parse("bob:"));
        assert_eq!(empty_password.password(), "");
        assert_eq!(
            Credential::parse(":secret"),
            Err(SettingsError::Credential {
                origin: "credential".into(),
                problem: CredentialProblem::EmptyUser
            })
        );
        assert_eq!(
            Credential::parse("bobsecret"),
            Err(SettingsError::Credential {
                origin: "credential".into(),
                problem: CredentialProblem::MissingColon
            })
        );
        assert_eq!(
            ok(Credential::new("bob", "x:y")),
            ok(Credential::parse("bob:x:y"))
        );
        assert!(Credential::new("", "x").is_err());
        assert_eq!(
            Credential::new("a:b", "x"),
            Err(SettingsError::Credential {
                origin: "credential".into(),
                problem: CredentialProblem::ColonInUser
            })
        );
    }

    #[test]
    fn credential_debug_hides_password() {
        let c = ok(Credential::parse("bob:hunter2"));
        let shown = format!("{c:?} {:?}", Settings::default().with_digest(c.clone()));
        assert!(
            shown.contains("bob") && !shown.contains("hunter2"),
            "{shown}"
        );
        // Errors never echo a credential either.
        let e = Settings::from_env_with(env(&[(ENV_AUTH, "hunter2")])).map(|_| ());
        let shown = format!(
            "{e:?} {}",
            e.as_ref()
                .map_or_else(ToString::to_string, |_| String::new())
        );
        assert!(
            shown.contains(ENV_AUTH) && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn or_fills_unset_fields() {
        let a = ok(Credential::parse("a:1"));
        let b = ok(Credential::parse("b:2"));
        let high = Settings::default()
            .with_servers("h1")
            .with_digest(a.clone());
        let low = Settings::default()
            .with_servers("h2")
            .with_path("/low")
            .with_session_timeout(Duration::from_secs(4))
            .with_connection_timeout(Duration::from_secs(2))
            .with_connect_timeout(Duration::from_secs(5))
            .with_digest(b.clone());
        let merged = high.clone().or(low.clone());
        assert_eq!(merged.servers(), Some("h1"));
        assert_eq!(merged.path(), Some("/low"));
        assert_eq!(merged.session_timeout(), Duration::from_secs(4));
        assert_eq!(merged.connection_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(merged.connect_timeout(), Duration::from_secs(5));
        assert_eq!(merged.digest(), &[a]);
        assert_eq!(Settings::default().or(low.clone()), low);
        assert_eq!(low.clone().or(Settings::default()), low);
        // A timeout set to the default value still wins over a lower one.
        let ten = Settings::default().with_session_timeout(Duration::from_secs(10));
        assert_eq!(ten.or(low).session_timeout(), Duration::from_secs(10));
        assert_eq!(Settings::default().or(high.clone()).digest(), high.digest());
        let _ = b;
    }

    #[test]
    fn section_full() {
        let s = ok(Settings::from_toml_str(
            r#"
            [other]
            anything = 1

            [zookeeper]
            servers = "zk1:2181, zk2"
            path = "myfolder"
            session_timeout_ms = 4000
            connection_timeout_ms = 1500
            connect_timeout_ms = 2500
            auth = "app:se:cret"
            "#,
        ));
        assert_eq!(s.servers(), Some("zk1:2181, zk2"));
        assert_eq!(s.path(), Some("myfolder"));
        assert_eq!(s.session_timeout(), Duration::from_millis(4000));
        assert_eq!(s.connection_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(s.connect_timeout(), Duration::from_millis(2500));
        assert_eq!(s.digest(), &[ok(Credential::parse("app:se:cret"))]);
        let t = ok(Target::resolve(None, &s, no_env));
        assert_eq!(t, target("zk1:2181,zk2:2181", "/myfolder"));
    }

    #[test]
    fn section_missing_is_default() {
        assert_eq!(Settings::from_toml_str(""), Ok(Settings::default()));
        assert_eq!(
            Settings::from_toml_str("[app]\nx = 1\n"),
            Ok(Settings::default())
        );
        assert_eq!(
            Settings::from_toml_str("[zookeeper]\n"),
            Ok(Settings::default())
        );
    }

    #[test]
    fn toml_errors_have_positions() {
        let message = |text: &str| match Settings::from_toml_str(text) {
            Err(SettingsError::Toml { origin, message }) => {
                assert_eq!(origin, "toml text");
                message
            }
            other => panic!("{text}: {other:?}"),
        };
        let syntax = message("[zookeeper]\nservers = \n");
        assert!(syntax.contains("line 2"), "{syntax}");
        let unknown = message("[zookeeper]\nserver = \"h1\"\n");
        assert!(
            unknown.contains("unknown field") && unknown.contains("server"),
            "{unknown}"
        );
        let mistyped = message("[zookeeper]\nsession_timeout_ms = \"10s\"\n");
        assert!(mistyped.contains("line 2"), "{mistyped}");
        let negative = message("[zookeeper]\nsession_timeout_ms = -1\n");
        assert!(negative.contains("line 2"), "{negative}");
        let not_table = message("zookeeper = 3\n");
        assert!(not_table.contains("line 1"), "{not_table}");
        let column = message("[zookeeper]\nservers = \"h1\"\nsession_timeout_ms = true\n");
        assert!(column.starts_with("line 3, column 22: "), "{column}");
        // The offending line is not quoted: it may hold a password.
        let secret = message("[zookeeper]\nauth = \"bob:hunter2\" x\n");
        assert!(
            secret.starts_with("line 2, ") && !secret.contains("hunter2"),
            "{secret}"
        );
        assert!(!secret.contains('\n'), "{secret}");
    }

    #[test]
    fn section_values_checked() {
        let section = |f: fn(&mut ZookeeperSection)| {
            let mut s = ZookeeperSection::default();
            f(&mut s);
            Settings::from_section(&s)
        };
        assert!(matches!(
            section(|s| s.servers = Some("h1,,h2".into())),
            Err(SettingsError::Servers { origin, source: UrlError::EmptyHost { .. } }) if origin == "[zookeeper] servers"
        ));
        assert!(matches!(
            section(|s| s.servers = Some("h1:2181/chroot".into())),
            Err(SettingsError::ServersWithPath { origin, .. }) if origin == "[zookeeper] servers"
        ));
        assert!(matches!(
            section(|s| s.path = Some("/a//b".into())),
            Err(SettingsError::Path { origin, source: UrlError::BadPath { problem: PathProblem::EmptyComponent, .. } })
                if origin == "[zookeeper] path"
        ));
        assert_eq!(
            section(|s| s.session_timeout_ms = Some(0)),
            Err(SettingsError::Timeout {
                key: "[zookeeper] session_timeout_ms".into(),
                value: 0
            })
        );
        assert_eq!(
            section(|s| s.connect_timeout_ms = Some(1 << 40)),
            Err(SettingsError::Timeout {
                key: "[zookeeper] connect_timeout_ms".into(),
                value: 1 << 40
            })
        );
        assert!(matches!(
            section(|s| s.connection_timeout_ms = Some(0)),
            Err(SettingsError::Timeout { key, .. }) if key == "[zookeeper] connection_timeout_ms"
        ));
        assert_eq!(
            section(|s| s.auth = Some(":pw".into())),
            Err(SettingsError::Credential {
                origin: "[zookeeper] auth".into(),
                problem: CredentialProblem::EmptyUser
            })
        );
    }

    #[test]
    fn section_debug_hides_password() {
        let section = ZookeeperSection {
            auth: Some("bob:hunter2".into()),
            ..ZookeeperSection::default()
        };
        let shown = format!("{section:?}");
        assert!(
            shown.contains("bob:<redacted>") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn section_from_json_too() {
        let section: ZookeeperSection = ok(serde_json::from_str(
            r#"{"servers": "h1", "session_timeout_ms": 5}"#,
        ));
        assert_eq!(
            ok(Settings::from_section(&section)).session_timeout(),
            Duration::from_millis(5)
        );
        assert!(serde_json::from_str::<ZookeeperSection>(r#"{"srevers": "h1"}"#).is_err());
    }

    #[test]
    fn toml_file() {
        let dir =
            std::env::temp_dir().join(format!("zkstate-settings-test-{}", std::process::id()));
        ok(std::fs::create_dir_all(&dir));
        let file = dir.join("app.toml");
        ok(std::fs::write(&file, "[zookeeper]\nservers = \"h9\"\n"));
        assert_eq!(
            Settings::from_toml_file(&file).map(|s| s.servers().map(str::to_string)),
            Ok(Some("h9".into()))
        );
        ok(std::fs::write(&file, "[zookeeper]\nbogus = 1\n"));
        match Settings::from_toml_file(&file) {
            Err(SettingsError::Toml { origin, .. }) => {
                assert_eq!(origin, file.display().to_string())
            }
            other => panic!("{other:?}"),
        }
        let missing = dir.join("missing.toml");
        match Settings::from_toml_file(&missing) {
            Err(e @ SettingsError::Io { .. }) => {
                assert!(e.to_string().contains("missing.toml"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn env_settings() {
        let s = ok(Settings::from_env_with(env(&[
            (ENV_SERVERS, "e1,e2:2182"),
            (ENV_PATH, "/envpath"),
            (ENV_AUTH, "u:p"),
            ("OTHER", "x"),
        ])));
        assert_eq!(s.servers(), Some("e1,e2:2182"));
        assert_eq!(s.path(), Some("/envpath"));
        assert_eq!(s.digest(), &[ok(Credential::parse("u:p"))]);
        assert_eq!(s.session_timeout(), Duration::from_secs(10));
        assert_eq!(Settings::from_env_with(no_env), Ok(Settings::default()));
        assert_eq!(
            Settings::from_env_with(env(&[(ENV_SERVERS, " "), (ENV_AUTH, "")])),
            Ok(Settings::default())
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        assert!(matches!(
            Settings::from_env_with(env(&[(ENV_SERVERS, "h1:99999")])),
            Err(SettingsError::Servers { origin, source: UrlError::BadPort { .. } }) if origin == ENV_SERVERS
        ));
        assert!(matches!(
            Settings::from_env_with(env(&[(ENV_PATH, "/a/")])),
            Err(SettingsError::Path { origin, .. }) if origin == ENV_PATH
        ));
        let e = Settings::from_env_with(env(&[(ENV_AUTH, "nocolon")]));
        assert_eq!(
            e,
            Err(SettingsError::Credential {
                origin: ENV_AUTH.into(),
                problem: CredentialProblem::MissingColon
            })
        );
    }

    #[test]
    fn from_env_reads_the_process_environment() {
        // Only checks that it runs: the variables may or may not be set where tests run, and
        // tests must not set them (other tests run in parallel in this process).
        let _ = Settings::from_env();
    }

    #[test]
    fn resolve_url_has_everything() {
        let s = Settings::default().with_servers("s1").with_path("/base");
        let e = env(&[(ENV_SERVERS, "e1"), (ENV_PATH, "/envbase")]);
        let t = ok(Target::resolve(
            Some(&url("zookeeper://u1,u2:2182/etc/configs/file1")),
            &s,
            &e,
        ));
        assert_eq!(t, target("u1:2181,u2:2182", "/etc/configs/file1"));
        let t = ok(Target::resolve(Some(&url("u1/chroot")), &s, &e));
        assert_eq!(t, target("u1:2181", "/chroot"));
    }

    #[test]
    fn resolve_servers_precedence() {
        let u = url("zookeeper:///p");
        let e = env(&[(ENV_SERVERS, "e1")]);
        let with = Settings::default().with_servers("s1:2000");
        assert_eq!(ok(Target::resolve(Some(&u), &with, &e)).servers, "s1:2000");
        assert_eq!(
            ok(Target::resolve(Some(&u), &Settings::default(), &e)).servers,
            "e1:2181"
        );
        assert_eq!(
            ok(Target::resolve(None, &Settings::default(), &e)),
            target("e1:2181", "/")
        );
        assert_eq!(
            Target::resolve(Some(&u), &Settings::default(), no_env),
            Err(SettingsError::NoServers)
        );
        assert_eq!(
            Target::resolve(None, &Settings::default(), env(&[(ENV_SERVERS, "")])),
            Err(SettingsError::NoServers)
        );
        let msg = SettingsError::NoServers.to_string();
        assert!(
            msg.contains("servers=") && msg.contains("ZOOKEEPER_SERVERS"),
            "{msg}"
        );
    }

    #[test]
    fn resolve_path_precedence() {
        let servers = Settings::default().with_servers("h");
        let e = env(&[(ENV_PATH, "/envbase")]);
        // asab's example: path=myfolder with a relative URL.
        let rel = url("zookeeper:./etc/configs/file1");
        let s = servers.clone().with_path("myfolder");
        assert_eq!(
            ok(Target::resolve(Some(&rel), &s, &e)).path,
            "/myfolder/etc/configs/file1"
        );
        assert_eq!(
            ok(Target::resolve(Some(&rel), &servers, &e)).path,
            "/envbase/etc/configs/file1"
        );
        assert_eq!(
            ok(Target::resolve(Some(&rel), &servers, no_env)).path,
            "/etc/configs/file1"
        );
        let unspecified = url("zookeeper://");
        assert_eq!(
            ok(Target::resolve(Some(&unspecified), &s, &e)).path,
            "/myfolder"
        );
        assert_eq!(
            ok(Target::resolve(Some(&unspecified), &servers, &e)).path,
            "/envbase"
        );
        assert_eq!(
            ok(Target::resolve(Some(&unspecified), &servers, no_env)).path,
            "/"
        );
        assert_eq!(ok(Target::resolve(None, &servers, no_env)).path, "/");
        // An absolute URL path ignores every base, even a bad one.
        let bad = servers.clone().with_path("/a//b");
        assert_eq!(
            ok(Target::resolve(Some(&url("zookeeper:///x")), &bad, no_env)).path,
            "/x"
        );
        assert_eq!(
            ok(Target::resolve(
                Some(&url("zookeeper:./x")),
                &servers.clone().with_path("/"),
                no_env
            ))
            .path,
            "/x"
        );
    }

    #[test]
    fn resolve_errors_name_the_source() {
        let e = env(&[(ENV_SERVERS, "h1,,h2"), (ENV_PATH, "/p/")]);
        assert!(matches!(
            Target::resolve(None, &Settings::default(), &e),
            Err(SettingsError::Servers { origin, .. }) if origin == ENV_SERVERS
        ));
        assert!(matches!(
            Target::resolve(None, &Settings::default().with_servers("bad host"), &e),
            Err(SettingsError::Servers { origin, source: UrlError::BadHost { .. } }) if origin == "settings servers"
        ));
        assert!(matches!(
            Target::resolve(None, &Settings::default().with_servers("h/x"), &e),
            Err(SettingsError::ServersWithPath { origin, .. }) if origin == "settings servers"
        ));
        let servers = Settings::default().with_servers("h");
        assert!(matches!(
            Target::resolve(None, &servers, &e),
            Err(SettingsError::Path { origin, source: UrlError::BadPath { path, problem: PathProblem::TrailingSlash } })
                if origin == ENV_PATH && path == "/p/"
        ));
        // A relative base is reported as written, without the '/' added to root it.
        assert!(matches!(
            Target::resolve(None, &servers.clone().with_path("a/../b"), &e),
            Err(SettingsError::Path { origin, source: UrlError::BadPath { path, problem: PathProblem::DotComponent } })
                if origin == "settings path" && path == "a/../b"
        ));
        let msg = ok(Target::resolve(None, &servers.with_path("x//y"), no_env)
            .map(|_| ())
            .err()
            .ok_or("no error"))
        .to_string();
        assert!(
            msg.contains("settings path") && msg.contains("x//y"),
            "{msg}"
        );
    }

    #[test]
    fn errors_are_std_errors_with_sources() {
        use std::error::Error as _;
        let e = SettingsError::Servers {
            origin: ENV_SERVERS.into(),
            source: UrlError::Empty,
        };
        assert!(e.source().is_some());
        assert!(e.to_string().contains(ENV_SERVERS));
    }

    #[test]
    fn tls_defaults_and_setter() {
        assert_eq!(Settings::default().tls(), None);
        let tls = TlsSettings::new("/etc/ca.pem").with_identity("/etc/c.pem", "/etc/k.pem");
        let s = Settings::default().with_tls(tls.clone());
        assert_eq!(s.tls(), Some(&tls));
    }

    #[test]
    fn tls_or_takes_the_whole_tls_settings() {
        let high = TlsSettings::new("/high-ca.pem");
        let low = TlsSettings::new("/low-ca.pem").with_identity("/low-c.pem", "/low-k.pem");
        let merged = Settings::default()
            .with_tls(high.clone())
            .or(Settings::default().with_tls(low.clone()));
        // Not mixed: the higher source's CA without the lower one's identity.
        assert_eq!(merged.tls(), Some(&high));
        let merged = Settings::default().or(Settings::default().with_tls(low.clone()));
        assert_eq!(merged.tls(), Some(&low));
        let merged = Settings::default()
            .with_tls(low.clone())
            .or(Settings::default());
        assert_eq!(merged.tls(), Some(&low));
    }

    #[test]
    fn tls_from_section() {
        let s = ok(Settings::from_toml_str(
            r#"
            [zookeeper]
            servers = "zk1:2281"
            tls_ca = "/etc/zk/ca.pem"
            tls_cert = "/etc/zk/client.pem"
            tls_key = "/etc/zk/client-key.pem"
            "#,
        ));
        assert_eq!(
            s.tls(),
            Some(
                &TlsSettings::new("/etc/zk/ca.pem")
                    .with_identity("/etc/zk/client.pem", "/etc/zk/client-key.pem")
            )
        );
        let ca_only = ok(Settings::from_toml_str(
            "[zookeeper]\ntls_ca = \"ca.pem\"\n",
        ));
        assert_eq!(ca_only.tls(), Some(&TlsSettings::new("ca.pem")));
        assert_eq!(ok(Settings::from_toml_str("[zookeeper]\n")).tls(), None);
        let tls_error = |text: &str| match Settings::from_toml_str(text) {
            Err(SettingsError::Tls { origin, problem }) => (origin, problem),
            other => panic!("{text}: {other:?}"),
        };
        let (origin, problem) = tls_error("[zookeeper]\ntls_ca = \"/ca\"\ntls_cert = \"/c\"\n");
        assert_eq!(origin, "[zookeeper] tls_cert");
        assert!(problem.contains("[zookeeper] tls_key"), "{problem}");
        let (origin, _) = tls_error("[zookeeper]\ntls_ca = \"/ca\"\ntls_key = \"/k\"\n");
        assert_eq!(origin, "[zookeeper] tls_key");
        let (origin, problem) = tls_error("[zookeeper]\ntls_cert = \"/c\"\ntls_key = \"/k\"\n");
        assert_eq!(origin, "[zookeeper] tls_cert");
        assert!(problem.contains("[zookeeper] tls_ca"), "{problem}");
        let (origin, _) = tls_error("[zookeeper]\ntls_ca = \"\"\n");
        assert_eq!(origin, "[zookeeper] tls_ca");
        let message = match Settings::from_toml_str("[zookeeper]\ntls_ca = 3\n") {
            Err(SettingsError::Toml { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(message.contains("line 2"), "{message}");
        let section = ZookeeperSection {
            tls_ca: Some("/ca.pem".into()),
            ..ZookeeperSection::default()
        };
        assert!(format!("{section:?}").contains("/ca.pem"));
    }

    #[test]
    fn tls_from_env() {
        let s = ok(Settings::from_env_with(env(&[
            (ENV_TLS_CA, "/env/ca.pem"),
            (ENV_TLS_CERT, "/env/c.pem"),
            (ENV_TLS_KEY, "/env/k.pem"),
        ])));
        assert_eq!(
            s.tls(),
            Some(&TlsSettings::new("/env/ca.pem").with_identity("/env/c.pem", "/env/k.pem"))
        );
        // Blank counts as unset, as for the other variables.
        let s = ok(Settings::from_env_with(env(&[
            (ENV_TLS_CA, "/env/ca.pem"),
            (ENV_TLS_CERT, " "),
        ])));
        assert_eq!(s.tls(), Some(&TlsSettings::new("/env/ca.pem")));
        assert_eq!(
            Settings::from_env_with(env(&[(ENV_TLS_CERT, "/c"), (ENV_TLS_KEY, "/k")])),
            Err(SettingsError::Tls {
                origin: ENV_TLS_CERT.into(),
                problem: format!("a client certificate needs {ENV_TLS_CA}, the CA of the servers"),
            })
        );
        assert!(matches!(
            Settings::from_env_with(env(&[(ENV_TLS_CA, "/ca"), (ENV_TLS_KEY, "/k")])),
            Err(SettingsError::Tls { origin, .. }) if origin == ENV_TLS_KEY
        ));
        let msg = ok(
            Settings::from_env_with(env(&[(ENV_TLS_CA, "/ca"), (ENV_TLS_CERT, "/c")]))
                .map(|_| ())
                .err()
                .ok_or("no error"),
        )
        .to_string();
        assert!(
            msg.contains(ENV_TLS_CERT) && msg.contains(ENV_TLS_KEY),
            "{msg}"
        );
    }

    proptest! {
        #[test]
        fn or_prefers_self(
            a in proptest::option::of("[a-z]{1,5}"),
            b in proptest::option::of("[a-z]{1,5}"),
            ta in proptest::option::of(1u64..100_000),
            tb in proptest::option::of(1u64..100_000),
        ) {
            let build = |servers: &Option<String>, t: Option<u64>| {
                let mut s = Settings::default();
                if let Some(v) = servers { s = s.with_servers(v.clone()).with_path(format!("/{v}")); }
                if let Some(ms) = t { s = s.with_session_timeout(Duration::from_millis(ms)); }
                s
            };
            let merged = build(&a, ta).or(build(&b, tb));
            prop_assert_eq!(merged.servers(), a.as_deref().or(b.as_deref()));
            prop_assert_eq!(merged.path().map(str::to_string), a.as_ref().or(b.as_ref()).map(|v| format!("/{v}")));
            prop_assert_eq!(merged.session_timeout(), Duration::from_millis(ta.or(tb).unwrap_or(10_000)));
        }

        #[test]
        fn credential_round_trips(user in "[^:]{1,8}", password in "\\PC{0,8}") {
            let c = Credential::parse(&format!("{user}:{password}"));
            prop_assert!(c.is_ok());
            let Ok(c) = c else { unreachable!() };
            prop_assert_eq!(c.user(), user.as_str());
            prop_assert_eq!(c.password(), password.as_str());
            prop_assert_eq!(c.auth_bytes(), format!("{user}:{password}").into_bytes());
        }
    }
}
