//! A ZooKeeper ensemble on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Result, TestingError};
use crate::four_letter::four_letter_word;
use crate::jvm::{self, JvmChild, Launcher, Serving, QUORUM_MAIN};
use crate::tls::{self, ServerTls, TestCa, TlsFiles};

/// How long [`ZkCluster::start`] and [`ZkCluster::restart`] wait for nodes to serve.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a start is tried on fresh ports when a port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;
const POLL: Duration = Duration::from_millis(50);
const TICK_TIME: Duration = Duration::from_millis(200);
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Node {
    client_port: u16,
    /// The secure (TLS) client port, in an ensemble started with [`ZkCluster::start_tls`].
    secure_port: Option<u16>,
    cfg_path: PathBuf,
    log_path: PathBuf,
    child: Option<JvmChild>,
}

impl Node {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn is_running(&self) -> bool {
        self.child.as_ref().is_some_and(JvmChild::is_running)
    }

    /// Whether the secure port accepts connections (always true without TLS). It opens just
    /// after the plain port.
    async fn secure_port_open(&self) -> bool {
        match self.secure_port {
            None => true,
            Some(port) => tls::port_open(port).await,
        }
    }
}

/// An ensemble of ZooKeeper servers (`QuorumPeerMain`) on 127.0.0.1: Curator's
/// `TestingCluster`.
///
/// Node `i` (0-based) has `myid` `i + 1`, its own client, quorum and election ports and its
/// own data directory. Like [`crate::ZkServer`], it uses `tickTime=200` and
/// `maxSessionTimeout=60000`. Dropping the cluster kills (SIGKILL) and reaps every node, then
/// removes their directories; the JVMs also die with the test process.
///
/// The synchronous methods taking a node index `i` panic if `i >= len()`, like slice
/// indexing; the async ones return [`TestingError::InvalidArgument`] instead.
#[derive(Debug)]
pub struct ZkCluster {
    nodes: Vec<Node>,
    launcher: Launcher,
    /// The TLS material shared by every node, in an ensemble started with
    /// [`start_tls`](Self::start_tls).
    tls: Option<ServerTls>,
    // Last field: removed only after the JVMs are dead (see `Drop`).
    _dir: TempDir,
}

impl ZkCluster {
    /// Starts an ensemble of `n` nodes; returns once every node's `srvr` shows
    /// `Mode: leader` or `Mode: follower` (waits 60 s at most).
    ///
    /// `n` = 1 makes a one-node ensemble (`standaloneEnabled=false`), which reports
    /// `Mode: leader`.
    ///
    /// # Errors
    /// [`TestingError::InvalidArgument`] for `n` = 0, [`TestingError::NotReady`] if a node
    /// exits or the ensemble does not serve in time, and the errors of
    /// [`crate::ZkServer::start`].
    pub async fn start(n: usize) -> Result<ZkCluster> {
        ZkCluster::start_with(n, false).await
    }

    /// Like [`start`](Self::start), and every node also opens a secure (TLS) client port on
    /// 127.0.0.1 beside its plain one, as [`ZkServerBuilder::with_tls`] does for one server:
    /// one throwaway CA, one server certificate (SAN `IP:127.0.0.1`) used by every node, and a
    /// client certificate, as PEM files in the ensemble's directory. The quorum traffic stays
    /// plain. See [`tls_connect_string`](Self::tls_connect_string) and
    /// [`tls_files`](Self::tls_files).
    ///
    /// # Errors
    /// As [`start`](Self::start), and [`TestingError::Certificate`] if the certificates cannot
    /// be made.
    ///
    /// [`ZkServerBuilder::with_tls`]: crate::ZkServerBuilder::with_tls
    pub async fn start_tls(n: usize) -> Result<ZkCluster> {
        ZkCluster::start_with(n, true).await
    }

    async fn start_with(n: usize, with_tls: bool) -> Result<ZkCluster> {
        if n == 0 {
            return Err(TestingError::InvalidArgument(
                "an ensemble needs at least one node".to_string(),
            ));
        }
        let launcher = Launcher::find(&[])?;
        let mut attempt = 1;
        loop {
            let dir = jvm::server_dir("cluster-")?;
            let tls = match with_tls {
                true => Some(ServerTls::generate(dir.path())?),
                false => None,
            };
            let mut cluster = ZkCluster {
                nodes: Vec::with_capacity(n),
                launcher: launcher.clone(),
                tls,
                _dir: dir,
            };
            match cluster.configure_and_start(n).await {
                Ok(()) => {
                    tracing::debug!(n, connect = %cluster.connect_string(), "ZooKeeper ensemble serves");
                    return Ok(cluster);
                }
                Err(err) if attempt < PORT_ATTEMPTS && jvm::is_port_clash(&err) => {
                    tracing::debug!("a port was taken meanwhile; trying other ones");
                    // Dropping the cluster kills its nodes and removes its directory.
                    drop(cluster);
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Writes every node's configuration, starts them all and waits until all serve.
    async fn configure_and_start(&mut self, n: usize) -> Result<()> {
        // Three ports per node, and a fourth (the secure client port) with TLS.
        let ports = jvm::free_ports(if self.tls.is_some() { 4 * n } else { 3 * n })?;
        let mut servers = String::new();
        for i in 0..n {
            let (quorum, election) = (ports[3 * i + 1], ports[3 * i + 2]);
            servers.push_str(&format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1));
        }
        if n == 1 {
            servers.push_str("standaloneEnabled=false\n");
        }
        for i in 0..n {
            let node_dir = self._dir.path().join(format!("node{}", i + 1));
            let data_dir = node_dir.join("data");
            jvm::create_dir(&data_dir)?;
            jvm::write_file(&data_dir.join("myid"), &format!("{}\n", i + 1))?;
            let client_port = ports[3 * i];
            let secure_port = self.tls.as_ref().map(|_| ports[3 * n + i]);
            let mut cfg =
                jvm::base_config(TICK_TIME, MAX_SESSION_TIMEOUT, &data_dir, client_port) + &servers;
            if let (Some(tls), Some(port)) = (&self.tls, secure_port) {
                cfg.push_str(&tls.config(port));
            }
            let cfg_path = node_dir.join("zoo.cfg");
            jvm::write_file(&cfg_path, &cfg)?;
            self.nodes.push(Node {
                client_port,
                secure_port,
                cfg_path,
                log_path: node_dir.join("server.log"),
                child: None,
            });
        }
        for i in 0..n {
            let node = &mut self.nodes[i];
            node.child = Some(
                self.launcher
                    .spawn(QUORUM_MAIN, &node.cfg_path, &node.log_path)
                    .await?,
            );
        }
        self.wait_nodes(START_TIMEOUT, |_| true).await
    }

    /// Waits until every node selected by `which` serves (leader or follower). Fails if one of
    /// them is not running or `timeout` passes.
    async fn wait_nodes(&self, timeout: Duration, which: impl Fn(usize) -> bool) -> Result<()> {
        let started = Instant::now();
        let mut serving = vec![false; self.nodes.len()];
        loop {
            for (i, node) in self.nodes.iter().enumerate() {
                if !which(i) || serving[i] {
                    continue;
                }
                serving[i] = jvm::is_serving(&node.addr(), Serving::Quorum).await
                    && node.secure_port_open().await;
                if !serving[i] && !node.is_running() {
                    return Err(TestingError::NotReady {
                        what: format!("ensemble node {i} on {} is not running", node.addr()),
                        waited: started.elapsed(),
                        log_tail: jvm::log_tail(&node.log_path, 40),
                    });
                }
            }
            let waiting: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| which(i) && !serving[i])
                .collect();
            let Some(&first) = waiting.first() else {
                return Ok(());
            };
            if started.elapsed() >= timeout {
                return Err(TestingError::NotReady {
                    what: format!("ensemble nodes {waiting:?} did not serve"),
                    waited: started.elapsed(),
                    log_tail: jvm::log_tail(&self.nodes[first].log_path, 40),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn check_index(&self, i: usize) -> Result<()> {
        if i < self.nodes.len() {
            Ok(())
        } else {
            Err(TestingError::InvalidArgument(format!(
                "node {i} of an ensemble of {}",
                self.nodes.len()
            )))
        }
    }

    /// The number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always `false`: an ensemble has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The connect string of the whole ensemble: `"127.0.0.1:p1,127.0.0.1:p2,…"`.
    pub fn connect_string(&self) -> String {
        let addrs: Vec<String> = self.nodes.iter().map(Node::addr).collect();
        addrs.join(",")
    }

    /// The connect string of node `i` alone: `"127.0.0.1:PORT"`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn node_connect_string(&self, i: usize) -> String {
        self.nodes[i].addr()
    }

    /// The client port of node `i`. It stays the same across restarts.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn node_port(&self, i: usize) -> u16 {
        self.nodes[i].client_port
    }

    /// The connect string of every node's secure (TLS) client port,
    /// `"127.0.0.1:s1,127.0.0.1:s2,…"`, in an ensemble started with
    /// [`start_tls`](Self::start_tls); `None` otherwise.
    pub fn tls_connect_string(&self) -> Option<String> {
        let addrs: Option<Vec<String>> = self
            .nodes
            .iter()
            .map(|node| node.secure_port.map(|port| format!("127.0.0.1:{port}")))
            .collect();
        addrs.map(|addrs| addrs.join(","))
    }

    /// The secure (TLS) client port of node `i`, or `None` without TLS. It stays the same
    /// across restarts.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn node_tls_port(&self, i: usize) -> Option<u16> {
        self.nodes[i].secure_port
    }

    /// The client's TLS files (the ensemble's CA, a client certificate its nodes accept and its
    /// key); `None` without TLS. They live as long as the ensemble.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref().map(|tls| &tls.files)
    }

    /// The CA of the ensemble's certificates, to issue more of them; `None` without TLS.
    pub fn tls_ca(&self) -> Option<&TestCa> {
        self.tls.as_ref().map(|tls| &tls.ca)
    }

    /// Stops node `i` gracefully (SIGTERM, up to 10 s, then SIGKILL) and reaps it. Does
    /// nothing if it is not running.
    pub async fn stop(&mut self, i: usize) -> Result<()> {
        self.check_index(i)?;
        if let Some(child) = self.nodes[i].child.take() {
            tracing::debug!(node = i, pid = child.pid(), "stopping ensemble node");
            child.stop().await;
        }
        Ok(())
    }

    /// Kills node `i` at once (SIGKILL) and reaps it. Does nothing if it is not running.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn kill(&mut self, i: usize) {
        if let Some(child) = self.nodes[i].child.take() {
            tracing::debug!(node = i, pid = child.pid(), "killing ensemble node");
            child.kill();
        }
    }

    /// Stops node `i` if it runs (gracefully), starts it again with the same ports and data;
    /// returns once it serves as leader or follower (waits 60 s at most).
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.stop(i).await?;
        self.relaunch(i).await?;
        self.wait_nodes(START_TIMEOUT, |j| j == i).await
    }

    /// Starts node `i`'s JVM again with its configuration and data; does not wait.
    async fn relaunch(&mut self, i: usize) -> Result<()> {
        tracing::debug!(node = i, "restarting ensemble node");
        let node = &mut self.nodes[i];
        node.child = Some(
            self.launcher
                .spawn(QUORUM_MAIN, &node.cfg_path, &node.log_path)
                .await?,
        );
        Ok(())
    }

    /// Restarts the whole ensemble: kills every node, starts them all again (same ports, same
    /// data), and returns once every node serves. A node alone cannot serve (no quorum), which
    /// is why this is not a loop over [`restart`](Self::restart).
    ///
    /// # Errors
    /// As [`wait_serving`](Self::wait_serving), or when a JVM cannot be started.
    pub async fn restart_all(&mut self) -> Result<()> {
        self.kill_all();
        for i in 0..self.nodes.len() {
            self.relaunch(i).await?;
        }
        self.wait_serving(START_TIMEOUT).await
    }

    /// The index of the node whose `srvr` says `Mode: leader`, if any.
    pub async fn leader(&self) -> Option<usize> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.child.is_none() {
                continue;
            }
            if let Ok(srvr) = four_letter_word(&node.addr(), "srvr").await {
                if jvm::srvr_mode(&srvr) == Some("leader") {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Waits until every running node (every node not stopped or killed through this
    /// cluster) serves as leader or follower.
    ///
    /// # Errors
    /// [`TestingError::NotReady`] if a node that should run has exited, or if `timeout`
    /// passes.
    pub async fn wait_serving(&self, timeout: Duration) -> Result<()> {
        self.wait_nodes(timeout, |i| self.nodes[i].child.is_some())
            .await
    }

    /// The last `lines` lines of node `i`'s log.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        jvm::log_tail(&self.nodes[i].log_path, lines)
    }

    fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

impl Drop for ZkCluster {
    /// Kills (SIGKILL) and reaps every node; the directories are removed afterwards.
    fn drop(&mut self) {
        self.kill_all();
    }
}
