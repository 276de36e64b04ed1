//! Resolving where a connection goes: the servers and the base path, from a URL, settings and the
//! environment.

use super::sources::{base_path, normalise_servers, ENV_PATH, ENV_SERVERS};
use super::values::Settings;
use crate::connection::url::{join_path, ZkPath, ZkUrl};
use crate::error::SettingsError;

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
    /// `ZOOKEEPER_PATH`), read through `env` (normally [`env_var`](super::env_var)).
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
