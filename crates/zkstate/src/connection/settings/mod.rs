//! Connection settings and where they come from.
//!
//! Settings come from three sources, in this order of precedence (as in `asab.zookeeper`):
//!
//! 1. the URL given to the connection ([`ZkUrl`](crate::ZkUrl));
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
//!
//! The parts: `values.rs` (the [`Settings`] value, its defaults and setters), `credential.rs`
//! (digest credentials), `sources.rs` (the `[zookeeper]` section,
//! TOML and the environment, and the checks of the values read from them), `target.rs`
//! (resolving the servers and base path to use).

mod credential;
mod sources;
mod target;
mod values;

pub use self::credential::Credential;
pub use self::sources::{env_var, ZookeeperSection, ENV_ACL, ENV_AUTH, ENV_PATH, ENV_SERVERS};
pub use self::target::Target;
pub use self::values::Settings;
pub use crate::error::{CredentialProblem, SettingsError};

#[cfg(test)]
mod tests;
