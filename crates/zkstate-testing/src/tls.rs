//! TLS material for test servers, generated at test time: a throwaway certificate authority,
//! server and client certificates, written as PEM files.
//!
//! A server started with [`ZkServerBuilder::with_tls`](crate::ZkServerBuilder::with_tls) (or an
//! ensemble with [`ZkCluster::start_tls`](crate::ZkCluster::start_tls)) makes its own
//! [`TestCa`], a server certificate signed by it (SAN `IP:127.0.0.1` and `DNS:localhost`, as
//! rustls checks the name) and a client certificate, and hands the client side out as
//! [`TlsFiles`]. For the negative case, make certificates from another authority with
//! [`TestCa::new`] and [`TestCa::client_files`]: a client trusting that CA must be refused.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use zkstate_testing::{tls::TestCa, ZkServer};
//!
//! let server = ZkServer::builder().with_tls().start().await?;
//! let files = server.tls_files().expect("a TLS server");
//! let tls = zookeeper_client::TlsOptions::new()
//!     .with_pem_ca(&std::fs::read_to_string(files.ca())?)?
//!     .with_pem_identity(
//!         &std::fs::read_to_string(files.client_cert())?,
//!         &std::fs::read_to_string(files.client_key())?,
//!     )?;
//! let client = zookeeper_client::Client::connector()
//!     .with_tls(tls)
//!     .secure_connect(&server.tls_connect_string().expect("a TLS server"))
//!     .await?;
//! # drop(client);
//!
//! // Certificates of an authority the server does not know.
//! let stranger = TestCa::new()?.client_files()?;
//! # drop(stranger);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::error::{Result, TestingError};
use crate::jvm;

/// The names every certificate issued here carries: rustls checks the server's.
const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];
/// File names, in a server's directory or in the directory of [`TestCa::client_files`].
const CA_FILE: &str = "ca.pem";
const CLIENT_CERT_FILE: &str = "client-cert.pem";
const CLIENT_KEY_FILE: &str = "client-key.pem";
const SERVER_KEYSTORE_FILE: &str = "server-keystore.pem";
/// How often [`wait_port_open`] tries.
const POLL: Duration = Duration::from_millis(50);

fn cert_error(what: &str, err: rcgen::Error) -> TestingError {
    TestingError::Certificate {
        what: what.to_string(),
        message: err.to_string(),
    }
}

/// A throwaway certificate authority (ECDSA P-256), made in memory.
///
/// Each one has its own key and a distinct name, so certificates of one are never valid for
/// another.
pub struct TestCa {
    name: String,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").field("name", &self.name).finish()
    }
}

impl TestCa {
    /// Makes a new certificate authority with a fresh key.
    ///
    /// # Errors
    /// [`TestingError::Certificate`] if rcgen fails.
    pub fn new() -> Result<TestCa> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "zkstate-testing CA {}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let key = KeyPair::generate().map_err(|e| cert_error("CA key", e))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, name.clone());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|e| cert_error("CA certificate", e))?;
        Ok(TestCa {
            name,
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate, PEM: what a client or server trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Issues a server certificate for `127.0.0.1` and `localhost` (server and client auth).
    ///
    /// # Errors
    /// [`TestingError::Certificate`] if rcgen fails.
    pub fn issue_server(&self) -> Result<IssuedCert> {
        self.issue(
            "zkstate-testing server",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    /// Issues a client certificate (client auth; it also names `127.0.0.1` and `localhost`,
    /// in case a server checks client names).
    ///
    /// # Errors
    /// [`TestingError::Certificate`] if rcgen fails.
    pub fn issue_client(&self) -> Result<IssuedCert> {
        self.issue(
            "zkstate-testing client",
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    fn issue(&self, common_name: &str, usages: Vec<ExtendedKeyUsagePurpose>) -> Result<IssuedCert> {
        let what = format!("{common_name} certificate");
        let key = KeyPair::generate().map_err(|e| cert_error(&what, e))?;
        let names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).map_err(|e| cert_error(&what, e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| cert_error(&what, e))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes this CA's certificate and a new client certificate and key as PEM files into
    /// `dir` (`ca.pem`, `client-cert.pem`, `client-key.pem`, replacing existing ones).
    ///
    /// # Errors
    /// [`TestingError::Certificate`] or [`TestingError::Io`].
    pub fn write_client_files(&self, dir: &Path) -> Result<TlsFiles> {
        let client = self.issue_client()?;
        let files = TlsFiles {
            ca: dir.join(CA_FILE),
            client_cert: dir.join(CLIENT_CERT_FILE),
            client_key: dir.join(CLIENT_KEY_FILE),
            _dir: None,
        };
        jvm::write_file(&files.ca, &self.cert_pem)?;
        jvm::write_file(&files.client_cert, &client.cert_pem)?;
        jvm::write_file(&files.client_key, &client.key_pem)?;
        Ok(files)
    }

    /// Like [`write_client_files`](Self::write_client_files), in a new temporary directory that
    /// lives as long as the returned [`TlsFiles`] (and its clones).
    ///
    /// # Errors
    /// [`TestingError::Certificate`] or [`TestingError::Io`].
    pub fn client_files(&self) -> Result<TlsFiles> {
        let dir = tempfile::Builder::new()
            .prefix("zkstate-testing-tls-")
            .tempdir()
            .map_err(|e| TestingError::io("cannot create a temporary directory", e))?;
        let mut files = self.write_client_files(dir.path())?;
        files._dir = Some(Arc::new(dir));
        Ok(files)
    }
}

/// A certificate and its private key, both PEM. The key is PKCS#8 (`BEGIN PRIVATE KEY`), which
/// both ZooKeeper's PEM key store and rustls read.
#[derive(Clone)]
pub struct IssuedCert {
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl IssuedCert {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The key followed by the certificate: a ZooKeeper `ssl.keyStore.type=PEM` key store.
    pub fn keystore_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert_pem)
    }
}

/// The paths of a client's TLS files, PEM: the CA to trust, the client certificate and its
/// key. What zkstate's `TlsSettings` and the CLI's `--tls-*` options take.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// Set when the files live in their own temporary directory ([`TestCa::client_files`]).
    _dir: Option<Arc<TempDir>>,
}

impl TlsFiles {
    /// The CA certificate the client trusts.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The client certificate.
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }

    /// The client's private key (PKCS#8).
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// Reads the three files and builds `zookeeper_client` TLS options from them: trust the CA,
    /// present the client certificate.
    ///
    /// # Errors
    /// [`TestingError::Io`] when a file cannot be read, [`TestingError::Session`] when the
    /// client rejects its contents.
    pub fn client_options(&self) -> Result<zookeeper_client::TlsOptions> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| TestingError::io(format!("cannot read {}", path.display()), e))
        };
        let options = zookeeper_client::TlsOptions::new()
            .with_pem_ca(&read(&self.ca)?)?
            .with_pem_identity(&read(&self.client_cert)?, &read(&self.client_key)?)?;
        Ok(options)
    }
}

/// What a TLS server or ensemble keeps: its CA (to issue more certificates), the client files,
/// and the server's key and trust stores.
#[derive(Debug)]
pub(crate) struct ServerTls {
    pub(crate) ca: TestCa,
    pub(crate) files: TlsFiles,
    keystore: PathBuf,
}

impl ServerTls {
    /// Makes a CA, a server and a client certificate; writes them into `dir`.
    pub(crate) fn generate(dir: &Path) -> Result<ServerTls> {
        let ca = TestCa::new()?;
        let server = ca.issue_server()?;
        let keystore = dir.join(SERVER_KEYSTORE_FILE);
        jvm::write_file(&keystore, &server.keystore_pem())?;
        let files = ca.write_client_files(dir)?;
        Ok(ServerTls {
            ca,
            files,
            keystore,
        })
    }

    /// The `zoo.cfg` lines of a secure client port on 127.0.0.1 beside the plain one. Client
    /// certificates are required (`ssl.clientAuth` defaults to `need`).
    pub(crate) fn config(&self, secure_port: u16) -> String {
        format!(
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             secureClientPort={secure_port}\n\
             secureClientPortAddress=127.0.0.1\n\
             ssl.keyStore.location={}\n\
             ssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\n\
             ssl.trustStore.type=PEM\n",
            self.keystore.display(),
            self.files.ca.display(),
        )
    }
}

/// Whether 127.0.0.1:`port` accepts TCP connections.
pub(crate) async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .is_ok()
}

/// Waits until 127.0.0.1:`port` accepts TCP connections. A server starts its secure port after
/// its plain one, so `srvr` on the plain port may answer a moment before the secure one binds.
/// Fails with [`TestingError::NotReady`] (with the end of `log`) after `timeout`.
pub(crate) async fn wait_port_open(
    port: u16,
    timeout: Duration,
    log: &Path,
    what: &str,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if port_open(port).await {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(TestingError::NotReady {
                what: format!("{what}: secure client port 127.0.0.1:{port} did not open"),
                waited: started.elapsed(),
                log_tail: jvm::log_tail(log, 40),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
