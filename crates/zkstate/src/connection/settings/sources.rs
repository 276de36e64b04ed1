//! Where settings come from: the `[zookeeper]` configuration section (TOML or any serde
//! source) and the environment; and the checks of a server list or base path read from one
//! ([`normalise_servers`], [`base_path`]), which [`Target::resolve`](super::Target::resolve)
//! applies to the values it takes from settings and the environment too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::credential::Credential;
use super::values::{Settings, MAX_TIMEOUT_MS};
use crate::connection::acl::AclPolicy;
use crate::connection::tls::{TlsSettings, ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY};
use crate::connection::url::{join_servers, parse_servers, validate_path, UrlError};
use crate::error::SettingsError;

/// The environment variable with the default connect string.
pub const ENV_SERVERS: &str = "ZOOKEEPER_SERVERS";
/// The environment variable with the default base path.
pub const ENV_PATH: &str = "ZOOKEEPER_PATH";
/// The environment variable with a digest credential, `user:password`.
pub const ENV_AUTH: &str = "ZOOKEEPER_AUTH";
/// The environment variable naming the [`AclPolicy`] of created nodes.
pub const ENV_ACL: &str = "ZOOKEEPER_ACL";

impl Settings {
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

/// Parses a server list from a setting into a normalised connect string.
pub(super) fn normalise_servers(servers: &str, origin: &str) -> Result<String, SettingsError> {
    if servers.contains("://") || servers.starts_with("zookeeper:") {
        return Err(SettingsError::ServersAsUrl {
            origin: origin.to_string(),
            servers: servers.to_string(),
        });
    }
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
pub(super) fn base_path(path: &str, origin: &str) -> Result<String, SettingsError> {
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

/// Looks a variable up in the process environment; the `env` argument of [`Target::resolve`](super::Target::resolve)
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
