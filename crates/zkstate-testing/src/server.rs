//! A standalone ZooKeeper server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::Result;
use crate::jvm::{self, JvmChild, Launcher, Serving, STANDALONE_MAIN};
use crate::tls::{self, ServerTls, TestCa, TlsFiles};

/// How many times a start is tried on fresh ports when a port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// A standalone ZooKeeper server (`ZooKeeperServerMain`) on a free port of 127.0.0.1, with
/// its data in a temporary directory: Curator's `TestingServer`.
///
/// Dropping it kills the JVM (SIGKILL), reaps it, then removes the directory. The JVM also dies
/// with the test process, however that ends (see the crate documentation), so a server may
/// live in a `static`.
///
/// Every method that waits for the server is bounded.
#[derive(Debug)]
pub struct ZkServer {
    child: Option<JvmChild>,
    launcher: Launcher,
    port: u16,
    data_dir: PathBuf,
    cfg_path: PathBuf,
    log_path: PathBuf,
    start_timeout: Duration,
    /// The secure client port and the TLS material, for a server made `with_tls`.
    tls: Option<(u16, ServerTls)>,
    // Last field: removed only after the JVM is dead (see `Drop`).
    _dir: TempDir,
}

impl ZkServer {
    /// Starts a server with the default settings; returns once it serves.
    ///
    /// Same as `ZkServer::builder().start()`.
    pub async fn start() -> Result<ZkServer> {
        ZkServer::builder().start().await
    }

    /// A builder to change the server's settings before starting it.
    pub fn builder() -> ZkServerBuilder {
        ZkServerBuilder::default()
    }

    /// The connect string of the server: `"127.0.0.1:PORT"`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's client port on 127.0.0.1. It stays the same across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the server's JVM, or `None` when it is not running (stopped, killed, or
    /// exited on its own).
    pub fn pid(&self) -> Option<u32> {
        self.child
            .as_ref()
            .filter(|c| c.is_running())
            .map(JvmChild::pid)
    }

    /// Stops the server gracefully: SIGTERM, waits up to 10 s for the JVM to exit (then
    /// SIGKILL), reaps it. Does nothing if the server is not running. The data stays.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(child) = self.child.take() {
            tracing::debug!(
                pid = child.pid(),
                port = self.port,
                "stopping ZooKeeper server"
            );
            child.stop().await;
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL) and reaps it, like a crash. Does nothing if it is
    /// not running. The data stays: what was acknowledged survives a [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            tracing::debug!(
                pid = child.pid(),
                port = self.port,
                "killing ZooKeeper server"
            );
            child.kill();
        }
    }

    /// Stops the server if it runs (gracefully, like [`stop`](Self::stop)), then starts it
    /// again on the same port with the same data directory; returns once it serves.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        tracing::debug!(port = self.port, "restarting ZooKeeper server");
        let mut child = self
            .launcher
            .spawn(STANDALONE_MAIN, &self.cfg_path, &self.log_path)
            .await?;
        jvm::wait_serving(
            &mut child,
            &self.connect_string(),
            Serving::Any,
            self.start_timeout,
            &self.log_path,
            "restarted ZooKeeper server",
        )
        .await?;
        if let Some((port, _)) = &self.tls {
            tls::wait_port_open(
                *port,
                self.start_timeout,
                &self.log_path,
                "restarted ZooKeeper server",
            )
            .await?;
        }
        self.child = Some(child);
        Ok(())
    }

    /// The last `lines` lines of the server's log (the JVM's stdout and stderr, kept across
    /// restarts). Empty if there is no log yet.
    pub fn log_tail(&self, lines: usize) -> String {
        jvm::log_tail(&self.log_path, lines)
    }

    /// The server's data directory (snapshots and transaction logs).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The secure (TLS) client port on 127.0.0.1 of a server made
    /// [`with_tls`](ZkServerBuilder::with_tls); `None` otherwise. It stays the same across
    /// [`restart`](Self::restart).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|(port, _)| *port)
    }

    /// The connect string of the secure client port, `"127.0.0.1:PORT"`, for
    /// `Connector::secure_connect` or a `zookeeper+tls://` URL; `None` without TLS.
    pub fn tls_connect_string(&self) -> Option<String> {
        self.tls_port().map(|port| format!("127.0.0.1:{port}"))
    }

    /// The client's TLS files (the server's CA, a client certificate it accepts and its key);
    /// `None` without TLS. They live in the server's directory, as long as the server.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref().map(|(_, tls)| &tls.files)
    }

    /// The CA that signed the server's certificate and that the server trusts for client
    /// certificates, to issue more of them; `None` without TLS.
    pub fn tls_ca(&self) -> Option<&TestCa> {
        self.tls.as_ref().map(|(_, tls)| &tls.ca)
    }
}

impl Drop for ZkServer {
    /// Kills (SIGKILL) and reaps the JVM; the temporary directory is removed afterwards.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Settings of a [`ZkServer`] before it starts. Made by [`ZkServer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ZkServerBuilder {
    tick_time: Duration,
    max_session_timeout: Duration,
    start_timeout: Duration,
    extra_config: Vec<(String, String)>,
    extra_jars: Vec<PathBuf>,
    tls: bool,
}

impl Default for ZkServerBuilder {
    fn default() -> Self {
        ZkServerBuilder {
            tick_time: Duration::from_millis(200),
            max_session_timeout: Duration::from_secs(60),
            start_timeout: Duration::from_secs(30),
            extra_config: Vec::new(),
            extra_jars: Vec::new(),
            tls: false,
        }
    }
}

impl ZkServerBuilder {
    /// ZooKeeper's `tickTime`. Default 200 ms, so that the smallest session timeout the
    /// server grants (2 × tickTime) is 400 ms and tests can use short sessions.
    pub fn with_tick_time(mut self, tick_time: Duration) -> Self {
        self.tick_time = tick_time;
        self
    }

    /// The largest session timeout the server grants (`maxSessionTimeout`). Default 60 s.
    pub fn with_max_session_timeout(mut self, timeout: Duration) -> Self {
        self.max_session_timeout = timeout;
        self
    }

    /// How long [`start`](Self::start) and [`ZkServer::restart`] wait for the server to serve.
    /// Default 30 s.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Adds the line `key=value` to `zoo.cfg`, after the generated ones (so it wins over them:
    /// ZooKeeper keeps the last value of a key). For example TLS settings. Do not override
    /// `clientPort`, `clientPortAddress` or `dataDir`: this crate relies on them.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_config.push((key.into(), value.into()));
        self
    }

    /// Adds a jar (or directory) to the server's classpath, after ZooKeeper's own jars.
    pub fn with_classpath_jar(mut self, jar: impl Into<PathBuf>) -> Self {
        self.extra_jars.push(jar.into());
        self
    }

    /// Also opens a secure (TLS) client port on 127.0.0.1, beside the plain one (which stays,
    /// for `srvr` and plain clients).
    ///
    /// At start, a throwaway CA, a server certificate it signs (SAN `IP:127.0.0.1` and
    /// `DNS:localhost`) and a client certificate are generated and written as PEM files in the
    /// server's directory; see [`ZkServer::tls_files`], [`ZkServer::tls_port`]. The server
    /// uses the Netty connection factory, a PEM key store and trust store, and requires client
    /// certificates (`ssl.clientAuth` is `need` unless changed with
    /// [`with_config`](Self::with_config)).
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Starts the server on a free port of 127.0.0.1; returns once it serves (its `srvr`
    /// answer shows a `Mode:`).
    ///
    /// # Errors
    /// [`TestingError::JavaNotFound`] or [`TestingError::ZooKeeperNotFound`] when they are not
    /// installed, [`TestingError::NotReady`] (with the end of the server's log) when the server
    /// exits or does not serve within the start timeout, [`TestingError::Io`] on a file or
    /// process error.
    ///
    /// [`TestingError::JavaNotFound`]: crate::TestingError::JavaNotFound
    /// [`TestingError::ZooKeeperNotFound`]: crate::TestingError::ZooKeeperNotFound
    /// [`TestingError::NotReady`]: crate::TestingError::NotReady
    /// [`TestingError::Io`]: crate::TestingError::Io
    pub async fn start(self) -> Result<ZkServer> {
        let launcher = Launcher::find(&self.extra_jars)?;
        let dir = jvm::server_dir("server-")?;
        let data_dir = dir.path().join("data");
        jvm::create_dir(&data_dir)?;
        let cfg_path = dir.path().join("zoo.cfg");
        let log_path = dir.path().join("server.log");
        let server_tls = match self.tls {
            true => Some(ServerTls::generate(dir.path())?),
            false => None,
        };
        let mut attempt = 1;
        loop {
            let ports = jvm::free_ports(if server_tls.is_some() { 2 } else { 1 })?;
            let port = ports[0];
            let mut cfg =
                jvm::base_config(self.tick_time, self.max_session_timeout, &data_dir, port);
            if let Some(server_tls) = &server_tls {
                cfg.push_str(&server_tls.config(ports[1]));
            }
            for (key, value) in &self.extra_config {
                cfg.push_str(&format!("{key}={value}\n"));
            }
            jvm::write_file(&cfg_path, &cfg)?;
            let mut child = launcher
                .spawn(STANDALONE_MAIN, &cfg_path, &log_path)
                .await?;
            let addr = format!("127.0.0.1:{port}");
            let serving = match jvm::wait_serving(
                &mut child,
                &addr,
                Serving::Any,
                self.start_timeout,
                &log_path,
                "ZooKeeper server",
            )
            .await
            {
                // The secure port opens just after the plain one serves.
                Ok(()) if server_tls.is_some() => {
                    tls::wait_port_open(ports[1], self.start_timeout, &log_path, "ZooKeeper server")
                        .await
                }
                other => other,
            };
            match serving {
                Ok(()) => {
                    tracing::debug!(pid = child.pid(), port, dir = %dir.path().display(), "ZooKeeper server serves");
                    return Ok(ZkServer {
                        child: Some(child),
                        launcher,
                        port,
                        data_dir,
                        cfg_path,
                        log_path,
                        start_timeout: self.start_timeout,
                        tls: server_tls.map(|server_tls| (ports[1], server_tls)),
                        _dir: dir,
                    });
                }
                Err(err) if attempt < PORT_ATTEMPTS && jvm::is_port_clash(&err) => {
                    tracing::debug!(port, "port taken meanwhile; trying another one");
                    child.kill();
                    attempt += 1;
                }
                Err(err) => {
                    child.kill();
                    return Err(err);
                }
            }
        }
    }
}
