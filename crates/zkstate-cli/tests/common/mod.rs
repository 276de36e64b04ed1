//! Helpers shared by the CLI's integration tests: a server per test binary, running the
//! `zkstate` binary, a raw ZooKeeper client, and reading a running `zkstate watch`.
#![allow(dead_code)]

use std::fmt;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use zkstate_testing::ZkServer;
use zookeeper_client::{Acls, Client, CreateMode};

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine. Never a
/// timing assertion: only how long a test waits before it reports what it saw.
pub const SOON: Duration = Duration::from_secs(60);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_zkstate");

/// One server shared by the tests of a binary that do not stop it; each test works in its own
/// directory (see [`unique_dir`]).
pub async fn shared_server() -> &'static ZkServer {
    match zkstate_testing::shared_server().await {
        Ok(server) => server,
        Err(err) => panic!("cannot start ZooKeeper: {err}"),
    }
}

/// The connect string of the shared server.
pub async fn shared_zk() -> String {
    shared_server().await.connect_string()
}

/// An absolute directory name no other test uses.
pub fn unique_dir(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/cli/{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a finished `zkstate` run produced.
pub struct Output {
    /// The command line, for failure messages.
    pub args: Vec<String>,
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "zkstate {:?}\nexit code: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Asserts the exit code, printing the whole run otherwise.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }

    /// Asserts that stderr is exactly one line starting with `zkstate: ` and containing every
    /// one of `parts`.
    #[track_caller]
    pub fn error_line(&self, parts: &[&str]) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr\n{self}");
        assert!(
            lines[0].starts_with("zkstate: "),
            "error line lacks the prefix\n{self}"
        );
        for part in parts {
            assert!(lines[0].contains(part), "error line lacks {part:?}\n{self}");
        }
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(value) => value,
            Err(err) => panic!("stdout is not JSON: {err}\n{self}"),
        }
    }
}

/// A `zkstate` command with a clean environment (no ZooKeeper variables, no colour).
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("ZOOKEEPER_SERVERS")
        .env_remove("ZOOKEEPER_PATH")
        .env_remove("ZOOKEEPER_AUTH")
        .env_remove("ZOOKEEPER_AUTH_FILE")
        .env_remove("ZOOKEEPER_TLS_CA")
        .env_remove("ZOOKEEPER_TLS_CERT")
        .env_remove("ZOOKEEPER_TLS_KEY")
        .env_remove("EDITOR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `zkstate --zk ZK ARGS...` to completion.
pub async fn run(zk: &str, args: &[&str]) -> Output {
    run_with(zk, args, None, &[]).await
}

/// Runs `zkstate --zk ZK ARGS...` with `stdin` and extra environment variables.
pub async fn run_with(
    zk: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut full = vec!["--zk", zk];
    full.extend_from_slice(args);
    run_args(&full, stdin, env).await
}

/// Runs `zkstate ARGS...` (no `--zk` added).
pub async fn run_args(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let shown: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot run {BIN}: {err}"),
    };
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        if let Err(err) = pipe.write_all(text.as_bytes()).await {
            panic!("cannot write stdin of zkstate {shown:?}: {err}");
        }
        drop(pipe);
    }
    let output = match tokio::time::timeout(SOON, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(err)) => panic!("zkstate {shown:?} failed to run: {err}"),
        Err(_) => panic!("zkstate {shown:?} did not finish within {SOON:?}"),
    };
    Output {
        args: shown,
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A raw zookeeper-client session: the "external actor".
pub async fn raw_client(zk: &str) -> Client {
    match Client::connect(zk).await {
        Ok(client) => client,
        Err(err) => panic!("raw connect to {zk}: {err}"),
    }
}

/// A raw zookeeper-client session authenticated as the digest `user:password`: another user.
pub async fn raw_client_as(zk: &str, credential: &str) -> Client {
    match Client::connector()
        .with_auth("digest", credential.as_bytes())
        .connect(zk)
        .await
    {
        Ok(client) => client,
        Err(err) => panic!("raw connect to {zk} as another user: {err}"),
    }
}

/// Creates a state with `json` as its payload through the CLI (`set --create`).
pub async fn create_state(zk: &str, dir: &str, json: &str) {
    run(zk, &["set", "--create", dir, json]).await.success();
}

/// The payload of `dir` read with a raw client, as JSON, and its version.
pub async fn payload(zk: &str, dir: &str) -> (serde_json::Value, i32) {
    let client = raw_client(zk).await;
    let path = format!("{dir}/payload");
    let (data, stat) = match client.get_data(&path).await {
        Ok(read) => read,
        Err(err) => panic!("cannot read {path}: {err}"),
    };
    match serde_json::from_slice(&data) {
        Ok(value) => (value, stat.version),
        Err(err) => panic!(
            "{path} is not JSON: {err}: {}",
            String::from_utf8_lossy(&data)
        ),
    }
}

/// Writes `data` to `path` with a raw client, bypassing zkstate's lock.
pub async fn raw_set(zk: &str, path: &str, data: &[u8]) -> i32 {
    let client = raw_client(zk).await;
    match client.set_data(path, data, None).await {
        Ok(stat) => stat.version,
        Err(err) => panic!("cannot set {path}: {err}"),
    }
}

/// Creates `path` and its parents with a raw client.
pub async fn raw_mkdir(zk: &str, path: &str) {
    let client = raw_client(zk).await;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    if let Err(err) = client.mkdir(path, &options).await {
        panic!("cannot create {path}: {err}");
    }
}

/// Whether `path` exists, by a raw client.
pub async fn exists(zk: &str, path: &str) -> bool {
    let client = raw_client(zk).await;
    match client.check_stat(path).await {
        Ok(stat) => stat.is_some(),
        Err(err) => panic!("cannot stat {path}: {err}"),
    }
}

/// Which stream a line of a running process came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A running `zkstate watch` (or any long-running command): its lines as they come.
pub struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<(Stream, String)>,
    /// Every line seen so far, for failure messages.
    pub seen: Vec<(Stream, String)>,
}

impl Running {
    /// Spawns `zkstate ARGS...` with stdout and stderr read line by line on tasks.
    pub fn spawn(args: &[&str]) -> Running {
        let mut child = match command(args).spawn() {
            Ok(child) => child,
            Err(err) => panic!("cannot run {BIN}: {err}"),
        };
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send((Stream::Stdout, line)).is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(async move {
                let mut reader = BufReader::new(err).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send((Stream::Stderr, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Spawns `zkstate --zk ZK watch DIR [EXTRA...]` and waits until it is subscribed (its
    /// `watching` line on stderr), so that every change made afterwards is printed.
    pub async fn watch(zk: &str, dir: &str, extra: &[&str]) -> Running {
        let mut args = vec!["--zk", zk, "watch", dir];
        args.extend_from_slice(extra);
        let mut running = Running::spawn(&args);
        running
            .line_where(Stream::Stderr, |line| {
                line.starts_with("zkstate: watching ")
            })
            .await;
        running
    }

    /// The pid of the process.
    pub fn pid(&self) -> u32 {
        match self.child.id() {
            Some(pid) => pid,
            None => panic!("the process has already exited\n{}", self.transcript()),
        }
    }

    /// Everything seen so far, one line each, marked by stream.
    pub fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|(stream, line)| match stream {
                Stream::Stdout => format!("out| {line}\n"),
                Stream::Stderr => format!("err| {line}\n"),
            })
            .collect()
    }

    /// The next line of any stream within [`SOON`]; `None` when both streams ended.
    pub async fn next_line(&mut self) -> Option<(Stream, String)> {
        match tokio::time::timeout(SOON, self.lines.recv()).await {
            Ok(Some(item)) => {
                self.seen.push(item.clone());
                Some(item)
            }
            Ok(None) => None,
            Err(_) => panic!(
                "no output within {SOON:?}; seen so far:\n{}",
                self.transcript()
            ),
        }
    }

    /// Waits for a line of `stream` that satisfies `pred`; lines of other kinds are kept in
    /// [`seen`](Self::seen) and skipped.
    pub async fn line_where(&mut self, stream: Stream, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.next_line().await {
                Some((s, line)) if s == stream && pred(&line) => return line,
                Some(_) => {}
                None => panic!(
                    "the process ended before the expected line; seen:\n{}",
                    self.transcript()
                ),
            }
        }
    }

    /// The next `n` stdout lines; stderr lines are kept in [`seen`](Self::seen) and skipped.
    pub async fn stdout_lines(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.line_where(Stream::Stdout, |_| true).await);
        }
        out
    }

    /// Sends `signal` (a name for `kill -s`) to the process.
    pub async fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .await;
        assert!(
            matches!(status, Ok(s) if s.success()),
            "kill -s {signal} {pid}: {status:?}"
        );
    }

    /// Waits for the process to exit (within [`SOON`]) and returns its exit code.
    pub async fn wait(&mut self) -> i32 {
        match tokio::time::timeout(SOON, self.child.wait()).await {
            Ok(Ok(status)) => status.code().unwrap_or(-1),
            Ok(Err(err)) => panic!("waiting for the process: {err}"),
            Err(_) => panic!(
                "the process did not exit within {SOON:?}; seen:\n{}",
                self.transcript()
            ),
        }
    }

    /// Drains what is left of the output (after the process exited) into [`seen`](Self::seen).
    pub async fn drain(&mut self) {
        while let Ok(Some(item)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.seen.push(item);
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits (with a children watch, within [`SOON`]) until `dir` has exactly `n` listener
/// records: a watch registers its record in the background, after it starts watching.
pub async fn wait_listeners(zk: &str, dir: &str, n: usize) {
    let client = raw_client(zk).await;
    let path = format!("{dir}/listeners");
    let wait = async {
        loop {
            let (children, watcher) = match client.list_and_watch_children(&path).await {
                Ok(listed) => listed,
                Err(err) => panic!("cannot list {path}: {err}"),
            };
            if children.len() == n {
                return;
            }
            watcher.changed().await;
        }
    };
    if tokio::time::timeout(SOON, wait).await.is_err() {
        panic!("{path} did not get {n} records within {SOON:?}");
    }
}

/// Creates the node `path` holding `data` with a raw client (its parent must exist).
pub async fn raw_create(zk: &str, path: &str, data: &[u8]) {
    let client = raw_client(zk).await;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    if let Err(err) = client.create(path, data, &options).await {
        panic!("cannot create {path}: {err}");
    }
}
