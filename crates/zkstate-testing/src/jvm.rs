//! Finding Java and the ZooKeeper jars, launching a ZooKeeper JVM, waiting until it serves,
//! stopping it, reading its log.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Result, TestingError};
use crate::four_letter::four_letter_word;
use crate::spawner;

/// Main class of a standalone server.
pub(crate) const STANDALONE_MAIN: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// Main class of an ensemble member.
pub(crate) const QUORUM_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(50);
/// How long a graceful stop may take before the JVM is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Debian's jars, in classpath order. `zookeeper` must exist; the others are used if present.
const DEBIAN_JARS: &[&str] = &[
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    "slf4j-simple",
    "metrics-core",
    "snappy-java",
    "netty-handler",
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-resolver",
    "netty-codec",
    "netty-transport-native-epoll",
    "netty-transport-native-unix-common",
];
const DEBIAN_JAVA_DIR: &str = "/usr/share/java";

/// What is needed to start a ZooKeeper JVM: the `java` binary and the classpath.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    java: PathBuf,
    classpath: Vec<PathBuf>,
}

impl Launcher {
    /// Finds Java and the ZooKeeper jars, adding `extra_jars` to the classpath.
    pub(crate) fn find(extra_jars: &[PathBuf]) -> Result<Launcher> {
        let java = find_java()?;
        let mut classpath = find_zookeeper_jars()?;
        classpath.extend(extra_jars.iter().cloned());
        Ok(Launcher { java, classpath })
    }

    /// Starts `main_class` with `cfg`, appending stdout and stderr to `log`.
    pub(crate) async fn spawn(&self, main_class: &str, cfg: &Path, log: &Path) -> Result<JvmChild> {
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| TestingError::io(format!("cannot open {}", log.display()), e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| TestingError::io(format!("cannot duplicate {}", log.display()), e))?;
        let mut classpath = OsString::new();
        for (i, jar) in self.classpath.iter().enumerate() {
            if i > 0 {
                classpath.push(":");
            }
            classpath.push(jar);
        }
        let mut command = Command::new(&self.java);
        command
            .args([
                "-Xms32m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                // Marker so that CI can look for leaked servers: `pgrep -f zkstate.testing`.
                "-Dzkstate.testing=1",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
            ])
            .arg(classpath)
            .arg(main_class)
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let child = spawner::spawn(command, JvmChild::new)
            .await
            .map_err(|e| TestingError::io(format!("cannot start {}", self.java.display()), e))?;
        tracing::debug!(pid = child.pid(), main_class, cfg = %cfg.display(), "started ZooKeeper JVM");
        Ok(child)
    }
}

fn find_java() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        let java = PathBuf::from(home).join("bin").join("java");
        if is_executable(&java) {
            return Ok(java);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let java = dir.join("java");
            if is_executable(&java) {
                return Ok(java);
            }
        }
    }
    Err(TestingError::JavaNotFound)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn find_zookeeper_jars() -> Result<Vec<PathBuf>> {
    if let Some(home) = std::env::var_os("ZOOKEEPER_HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        let lib = home.join("lib");
        let mut jars = Vec::new();
        for dir in [&lib, &home] {
            let mut found = jars_in(dir);
            found.sort();
            jars.extend(found);
        }
        let has_zookeeper = jars.iter().any(|jar| {
            jar.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("zookeeper-") || n == "zookeeper.jar")
        });
        if !has_zookeeper {
            return Err(TestingError::ZooKeeperNotFound {
                searched: vec![lib, home],
            });
        }
        // A release's conf/ holds its logging configuration (logback.xml).
        let conf = home.join("conf");
        if conf.is_dir() {
            jars.push(conf);
        }
        return Ok(jars);
    }
    let dir = Path::new(DEBIAN_JAVA_DIR);
    let main = dir.join("zookeeper.jar");
    if !main.is_file() {
        return Err(TestingError::ZooKeeperNotFound {
            searched: vec![main],
        });
    }
    Ok(DEBIAN_JARS
        .iter()
        .map(|name| dir.join(format!("{name}.jar")))
        .filter(|jar| jar.is_file())
        .collect())
}

fn jars_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jar") && path.is_file())
        .collect()
}

/// A running ZooKeeper JVM. Dropping it kills and reaps the JVM, so that a start that fails
/// or is cancelled halfway leaves nothing running.
#[derive(Debug)]
pub(crate) struct JvmChild {
    child: Child,
}

impl JvmChild {
    pub(crate) fn new(child: Child) -> JvmChild {
        JvmChild { child }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(description)` if the JVM has exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited with {status}")),
            Ok(None) => None,
            Err(err) => Some(format!("cannot be waited for: {err}")),
        }
    }

    /// Whether the JVM is still running (it has not exited). Does not reap it.
    pub(crate) fn is_running(&self) -> bool {
        let pid: libc::id_t = self.child.id();
        // SAFETY: an all-zero `siginfo_t` is a valid value (plain C struct).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable `siginfo_t`; WNOWAIT leaves the child waitable, so
        // `Child::wait` still reaps it later, and WNOHANG makes the call return at once.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // 0 with no pid filled in: the child has not exited. -1 (ECHILD): already reaped.
        // SAFETY: `si_pid` is valid to read for a `siginfo_t` filled by `waitid`.
        rc == 0 && unsafe { info.si_pid() } == 0
    }

    /// SIGKILL, then reap. Synchronous; returns once the process is gone.
    pub(crate) fn kill(mut self) {
        self.kill_in_place();
        tracing::debug!(pid = self.child.id(), "killed ZooKeeper JVM");
    }

    fn kill_in_place(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Fails only if the process already exited; `wait` below reaps it either way.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to 10 s for the JVM to exit, then SIGKILL; reaps it.
    pub(crate) async fn stop(mut self) {
        let pid = self.child.id();
        if self.exited().is_none() {
            if let Ok(raw) = libc::pid_t::try_from(pid) {
                // SAFETY: `raw` is the pid of our own child, which has not been reaped yet
                // (we hold the `Child`), so it cannot name another process.
                unsafe {
                    libc::kill(raw, libc::SIGTERM);
                }
            }
            let deadline = Instant::now() + STOP_GRACE;
            while self.exited().is_none() && Instant::now() < deadline {
                tokio::time::sleep(POLL).await;
            }
        }
        // Reaps an exited JVM; kills one that ignored SIGTERM.
        self.kill_in_place();
        tracing::debug!(pid, "stopped ZooKeeper JVM");
    }
}

impl Drop for JvmChild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill_in_place();
            tracing::debug!(pid = self.child.id(), "killed ZooKeeper JVM on drop");
        }
    }
}

/// Which `srvr` modes count as serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serving {
    /// `Mode: standalone`, `leader` or `follower`.
    Any,
    /// `Mode: leader` or `follower`.
    Quorum,
}

/// The `Mode:` line of a `srvr` answer, e.g. `"leader"`.
pub(crate) fn srvr_mode(srvr: &str) -> Option<&str> {
    srvr.lines()
        .find_map(|line| line.strip_prefix("Mode: "))
        .map(str::trim)
}

/// Whether `addr` answers `srvr` with a serving mode.
pub(crate) async fn is_serving(addr: &str, serving: Serving) -> bool {
    let Ok(answer) = four_letter_word(addr, "srvr").await else {
        return false;
    };
    matches!(
        (srvr_mode(&answer), serving),
        (Some("leader" | "follower"), _) | (Some("standalone"), Serving::Any)
    )
}

/// Polls `srvr` on `addr` every 50 ms until it reports a serving mode. Fails with
/// [`TestingError::NotReady`] if the JVM exits or `timeout` passes.
pub(crate) async fn wait_serving(
    child: &mut JvmChild,
    addr: &str,
    serving: Serving,
    timeout: Duration,
    log: &Path,
    what: &str,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if is_serving(addr, serving).await {
            tracing::debug!(pid = child.pid(), addr, elapsed = ?started.elapsed(), "{what} serves");
            return Ok(());
        }
        if let Some(exit) = child.exited() {
            return Err(TestingError::NotReady {
                what: format!("{what} on {addr} {exit} before serving"),
                waited: started.elapsed(),
                log_tail: log_tail(log, 40),
            });
        }
        if started.elapsed() >= timeout {
            return Err(TestingError::NotReady {
                what: format!("{what} on {addr} did not serve"),
                waited: started.elapsed(),
                log_tail: log_tail(log, 40),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last `lines` lines of the file at `path` (empty if it cannot be read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 256 * 1024;
    if lines == 0 {
        return String::new();
    }
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(WINDOW);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether a start failed because one of its ports was taken meanwhile (worth a retry on
/// other ports).
pub(crate) fn is_port_clash(err: &TestingError) -> bool {
    matches!(err, TestingError::NotReady { log_tail, .. } if log_tail.contains("Address already in use"))
}

/// `n` distinct free TCP ports on 127.0.0.1: bound together on port 0, then released.
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| TestingError::io("cannot bind a free port on 127.0.0.1", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| TestingError::io("cannot read a bound port", e))
}

/// Prefix of every directory this crate creates in the temporary directory.
const DIR_PREFIX: &str = "zkstate-testing-";
/// File in each such directory holding the pid of the process that created it.
const OWNER_FILE: &str = "owner.pid";

/// Creates the temporary directory of a server or ensemble, marked with the pid of this
/// process. The first call in a process also removes the directories left behind by
/// processes that are gone (servers kept in a `static`, or whose process was killed, are
/// never dropped, so their directory is never removed by `TempDir`).
pub(crate) fn server_dir(kind: &str) -> Result<TempDir> {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_stale_dirs);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{kind}"))
        .tempdir()
        .map_err(|e| TestingError::io("cannot create a temporary directory", e))?;
    let owner = format!(
        "{}\n{}\n",
        std::process::id(),
        pid_namespace().unwrap_or_default()
    );
    write_file(&dir.path().join(OWNER_FILE), &owner)?;
    Ok(dir)
}

/// Removes the directories of this crate whose owner process (in this pid namespace) no longer
/// exists. Best effort: errors are ignored; directories without an owner file, or made in
/// another pid namespace, are left alone.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let namespace = pid_namespace();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let mut owner = owner.lines();
        let Some(Ok(pid)) = owner.next().map(|pid| pid.trim().parse::<libc::pid_t>()) else {
            continue;
        };
        // A pid means something only in its own pid namespace (a /tmp shared between
        // containers): leave the directories of other namespaces alone.
        let same_namespace =
            matches!((owner.next(), &namespace), (Some(theirs), Some(ours)) if theirs == ours);
        if pid <= 0 || !same_namespace || process_exists(pid) {
            continue;
        }
        tracing::debug!(dir = %path.display(), owner = pid, "removing a directory left by a dead process");
        let _ = std::fs::remove_dir_all(&path);
    }
}

/// This process's pid namespace, e.g. `pid:[4026531836]`.
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|ns| ns.to_string_lossy().into_owned())
}

/// Whether a process `pid` exists (a zombie counts: its parent may still look at it).
fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that `pid` exists and may be signalled; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Writes `contents` to `path`.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| TestingError::io(format!("cannot write {}", path.display()), e))
}

/// Creates the directory `path` and its parents.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .map_err(|e| TestingError::io(format!("cannot create {}", path.display()), e))
}

/// Common zoo.cfg lines.
pub(crate) fn base_config(
    tick_time: Duration,
    max_session_timeout: Duration,
    data_dir: &Path,
    client_port: u16,
) -> String {
    let tick = tick_time.as_millis().max(1);
    format!(
        "tickTime={tick}\n\
         maxSessionTimeout={}\n\
         dataDir={}\n\
         clientPort={client_port}\n\
         clientPortAddress=127.0.0.1\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=*\n\
         initLimit=20\n\
         syncLimit=10\n",
        max_session_timeout.as_millis(),
        data_dir.display(),
    )
}
