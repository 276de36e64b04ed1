//! TLS to ZooKeeper's secure client port (`secureClientPort`).
//!
//! TLS is on when the settings name a CA ([`Settings::with_tls`], `tls_ca` in `[zookeeper]`,
//! or `ZOOKEEPER_TLS_CA`). A `zookeeper+tls://` URL asks for it: connecting with one fails with
//! [`ConnectError::Tls`] when no CA is set, since the servers' certificates can only be checked
//! against a CA given here (there is no system trust store).
//!
//! The CA file may hold several certificates (and CRLs). A client certificate and its key
//! (PKCS#8, PKCS#1 or SEC1 PEM) are optional for the client but ZooKeeper requires one by
//! default (`ssl.clientAuth=need`). The files are read once, when the
//! [`Connection`](crate::Connection) starts, not at every reconnection.
//!
//! ```toml
//! [zookeeper]
//! servers = "zk1:2281,zk2:2281"
//! tls_ca = "/etc/zkstate/ca.pem"
//! tls_cert = "/etc/zkstate/client.pem"
//! tls_key = "/etc/zkstate/client-key.pem"
//! ```
//!
//! The servers' certificates must name the host the client connects to (an IP address needs an
//! `IP:` subject alternative name): the client checks it.
//!
//! [`Settings::with_tls`]: super::settings::Settings::with_tls

use std::path::{Path, PathBuf};

use zookeeper_client::TlsOptions;

use crate::error::{ConnectError, SettingsError};

/// The environment variable with the path of the CA certificates (PEM) that sign the servers'
/// certificates. Setting it turns TLS on.
pub const ENV_TLS_CA: &str = "ZOOKEEPER_TLS_CA";
/// The environment variable with the path of the client certificate (PEM).
pub const ENV_TLS_CERT: &str = "ZOOKEEPER_TLS_CERT";
/// The environment variable with the path of the client certificate's private key (PEM).
pub const ENV_TLS_KEY: &str = "ZOOKEEPER_TLS_KEY";

/// Where the TLS files are: the CA that signs the servers' certificates, and optionally a
/// client certificate and its key. See the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl TlsSettings {
    /// TLS trusting the CA certificates in the PEM file `ca`, without a client certificate.
    pub fn new(ca: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            ca: ca.into(),
            cert: None,
            key: None,
        }
    }

    /// Adds a client certificate (PEM file `cert`) and its private key (PEM file `key`),
    /// presented to servers that ask for one (ZooKeeper's default).
    #[must_use]
    pub fn with_identity(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> TlsSettings {
        self.cert = Some(cert.into());
        self.key = Some(key.into());
        self
    }

    /// The CA certificates file.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The client certificate file, if any.
    pub fn cert(&self) -> Option<&Path> {
        self.cert.as_deref()
    }

    /// The client key file, if any.
    pub fn key(&self) -> Option<&Path> {
        self.key.as_deref()
    }

    /// Builds settings from the three values of one source, checking that they fit together:
    /// a certificate needs its key and the other way round, and either needs a CA. `names`
    /// are how the source calls them, for the error (e.g. `[zookeeper] tls_ca`).
    pub(crate) fn from_parts(
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        names: [&str; 3],
    ) -> Result<Option<TlsSettings>, SettingsError> {
        let [ca_name, cert_name, key_name] = names;
        let error = |origin: &str, problem: String| SettingsError::Tls {
            origin: origin.to_string(),
            problem,
        };
        for (value, name) in [(&ca, ca_name), (&cert, cert_name), (&key, key_name)] {
            if value.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(error(name, "the path is empty".to_string()));
            }
        }
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(_), None) => {
                return Err(error(
                    cert_name,
                    format!("a client certificate needs {key_name}"),
                ))
            }
            (None, Some(_)) => {
                return Err(error(key_name, format!("a client key needs {cert_name}")))
            }
        };
        match (ca, identity) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(error(
                cert_name,
                format!("a client certificate needs {ca_name}, the CA of the servers"),
            )),
            (Some(ca), None) => Ok(Some(TlsSettings::new(ca))),
            (Some(ca), Some((cert, key))) => {
                Ok(Some(TlsSettings::new(ca).with_identity(cert, key)))
            }
        }
    }

    /// Reads the files and builds the client's TLS options.
    ///
    /// # Errors
    /// [`ConnectError::Tls`] naming the file that cannot be read or holds no usable PEM.
    pub(crate) fn client_options(&self) -> Result<TlsOptions, ConnectError> {
        let ca = read_pem(&self.ca, "CA")?;
        let options = TlsOptions::new()
            .with_pem_ca(&ca)
            .map_err(|e| ConnectError::Tls {
                message: format!("no usable CA certificate in {}: {e}", self.ca.display()),
            })?;
        let (Some(cert_path), Some(key_path)) = (&self.cert, &self.key) else {
            return Ok(options);
        };
        let cert = read_pem(cert_path, "client certificate")?;
        let key = read_pem(key_path, "client key")?;
        options
            .with_pem_identity(&cert, &key)
            .map_err(|e| ConnectError::Tls {
                message: format!(
                    "no usable client certificate and key in {} and {}: {e}",
                    cert_path.display(),
                    key_path.display()
                ),
            })
    }
}

fn read_pem(path: &Path, what: &str) -> Result<String, ConnectError> {
    std::fs::read_to_string(path).map_err(|e| ConnectError::Tls {
        message: format!("cannot read the TLS {what} file {}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["ca", "cert", "key"];

    fn parts(
        ca: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<Option<TlsSettings>, SettingsError> {
        TlsSettings::from_parts(
            ca.map(PathBuf::from),
            cert.map(PathBuf::from),
            key.map(PathBuf::from),
            NAMES,
        )
    }

    fn origin(r: Result<Option<TlsSettings>, SettingsError>) -> String {
        match r {
            Err(SettingsError::Tls { origin, .. }) => origin,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn builders_and_getters() {
        let t = TlsSettings::new("/ca.pem");
        assert_eq!(t.ca(), Path::new("/ca.pem"));
        assert_eq!((t.cert(), t.key()), (None, None));
        let t = t.with_identity("/c.pem", "/k.pem");
        assert_eq!(t.cert(), Some(Path::new("/c.pem")));
        assert_eq!(t.key(), Some(Path::new("/k.pem")));
    }

    #[test]
    fn parts_fit_together() {
        assert_eq!(parts(None, None, None), Ok(None));
        assert_eq!(
            parts(Some("/ca"), None, None),
            Ok(Some(TlsSettings::new("/ca")))
        );
        assert_eq!(
            parts(Some("/ca"), Some("/c"), Some("/k")),
            Ok(Some(TlsSettings::new("/ca").with_identity("/c", "/k")))
        );
        assert_eq!(origin(parts(Some("/ca"), Some("/c"), None)), "cert");
        assert_eq!(origin(parts(Some("/ca"), None, Some("/k"))), "key");
        assert_eq!(origin(parts(None, Some("/c"), Some("/k"))), "cert");
        assert_eq!(origin(parts(Some(""), None, None)), "ca");
        let message = parts(Some("/ca"), Some("/c"), None)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            message
                .as_ref()
                .is_err_and(|m| m.contains("cert") && m.contains("key")),
            "{message:?}"
        );
    }

    #[test]
    fn unreadable_files_are_named() {
        let missing = std::env::temp_dir().join(format!(
            "zkstate-tls-test-{}-missing.pem",
            std::process::id()
        ));
        let err = TlsSettings::new(&missing).client_options().map(|_| ());
        match err {
            Err(ConnectError::Tls { message }) => {
                assert!(
                    message.contains(&missing.display().to_string()),
                    "{message}"
                );
                assert!(message.contains("CA"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_without_pem_are_named() {
        let dir = std::env::temp_dir().join(format!("zkstate-tls-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let bad = dir.join("not-pem.txt");
        if let Err(e) = std::fs::write(&bad, "hello\n") {
            panic!("{e}");
        }
        match TlsSettings::new(&bad).client_options().map(|_| ()) {
            Err(ConnectError::Tls { message }) => {
                assert!(message.contains("not-pem.txt"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
