//! The [`Settings`] value: its fields, defaults and setters. The sources that fill it
//! (`sources.rs`) and resolve it (`target.rs`) are its siblings.

use std::time::Duration;

use super::credential::Credential;
use crate::connection::acl::AclPolicy;
use crate::connection::tls::TlsSettings;
use crate::error::SettingsError;

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The client sends session timeouts as an `i32` of milliseconds.
pub(super) const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// How to connect: servers, base path, timeouts and credentials.
///
/// Every field may be left unset, in which case [`Settings::or`] fills it from lower-precedence
/// settings and the getters return the documented default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub(super) servers: Option<String>,
    pub(super) path: Option<String>,
    // Options rather than the defaults themselves, so that `or` can tell "unset" from "set to
    // the default value".
    pub(super) session_timeout: Option<Duration>,
    pub(super) connection_timeout: Option<Duration>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) digest: Vec<Credential>,
    pub(super) acl: Option<AclPolicy>,
    pub(super) tls: Option<TlsSettings>,
}

impl Settings {
    /// Sets the connect string (`h1:2181,h2:2181`), used when the URL has no servers. Default:
    /// none (then `ZOOKEEPER_SERVERS`). Validated by [`Target::resolve`](super::Target::resolve).
    #[must_use]
    pub fn with_servers(mut self, servers: impl Into<String>) -> Settings {
        self.servers = Some(servers.into());
        self
    }

    /// Sets the base path for relative URLs and URLs without a path; a relative one is taken
    /// from the root (`app` is `/app`). Default: none (then `ZOOKEEPER_PATH`, then `/`).
    /// Validated by [`Target::resolve`](super::Target::resolve).
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
}
