//! No ZooKeeper JVM outlives the test process, even when the process dies without running any
//! destructor. Each test re-runs itself in a child process (this test binary, selected with
//! `--exact`), where it starts a server, prints the JVM's pid and dies; the parent then checks
//! that the JVM is gone.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::jvm_alive;
use zkstate_testing::ZkServer;

/// Set in the child process: how it must die.
const CHILD_ENV: &str = "ZKSTATE_TESTING_NO_LEAK_CHILD";
/// Marks the child's line with the JVM's pid and the server's data directory.
const REPORT_PREFIX: &str = "ZKSTATE_TESTING_JVM=";
/// Generous: the kernel sends SIGKILL at once, the JVM exits within milliseconds.
const GONE_WITHIN: Duration = Duration::from_secs(10);
/// How long the child may take to start its server and report.
const CHILD_START_WITHIN: Duration = Duration::from_secs(90);

static SHARED: tokio::sync::OnceCell<ZkServer> = tokio::sync::OnceCell::const_new();

/// Held by each test's parent side for all of it: a child that starts a server sweeps the
/// directories of dead processes, and would remove the one that
/// `directory_left_by_a_dead_process_is_removed_by_a_later_start` is about before it looks.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// In the child: start a server (in a `static` for "static"), report its pid and data
/// directory, then end the process the way `how` says, never dropping the server.
fn child(how: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (pid, dir) = runtime.block_on(async {
        if how == "static" {
            let server = SHARED
                .get_or_init(|| async { ZkServer::start().await.expect("server") })
                .await;
            (server.pid().expect("pid"), server.data_dir().to_path_buf())
        } else {
            let server = ZkServer::start().await.expect("server");
            let report = (server.pid().expect("pid"), server.data_dir().to_path_buf());
            // Never dropped: only the PDEATHSIG guard can kill this JVM.
            std::mem::forget(server);
            report
        }
    });
    // The harness printed `test NAME ... ` without a newline: start a fresh line.
    println!("\n{REPORT_PREFIX}{pid} {}", dir.display());
    let _ = std::io::stdout().flush();
    match how {
        "abort" => std::process::abort(),
        "sigkill" => loop {
            // Wait for the parent's SIGKILL.
            std::thread::sleep(Duration::from_secs(1));
        },
        // "static": return normally; the test harness exits the process, and the static server
        // is never dropped.
        _ => {}
    }
}

/// Runs the test `name` of this binary in a child process in mode `how`; returns the child,
/// the JVM pid and the data directory it reported.
fn spawn_child(name: &str, how: &str) -> (Child, u32, PathBuf) {
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, how)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child test process");
    let stdout = child.stdout.take().expect("piped stdout");
    // Read on another thread so that a child that hangs before reporting cannot hang the test.
    let (found, report) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let report = lines.by_ref().find_map(|line| {
            let (pid, dir) = line.strip_prefix(REPORT_PREFIX)?.split_once(' ')?;
            Some((pid.parse::<u32>().ok()?, PathBuf::from(dir)))
        });
        let _ = found.send(report);
        // Keep draining, so that the child never writes into a closed pipe.
        lines.for_each(drop);
    });
    match report.recv_timeout(CHILD_START_WITHIN) {
        Ok(Some((pid, dir))) => (child, pid, dir),
        outcome => {
            let _ = child.kill();
            let status = child.wait();
            panic!("the child test process reported no JVM ({outcome:?}, {status:?})");
        }
    }
}

/// Whether the JVM `pid` is gone within [`GONE_WITHIN`].
fn jvm_gone(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + GONE_WITHIN;
    while jvm_alive(pid) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Runs test `name` as a child in mode `how`, lets it die, asserts its JVM is gone; returns
/// the data directory the child's server used.
fn assert_jvm_dies_with_child(name: &str, how: &str) -> PathBuf {
    let (mut child, pid, dir) = spawn_child(name, how);
    if how == "sigkill" {
        child.kill().expect("SIGKILL the child test process");
    }
    let status = child.wait().expect("wait for the child test process");
    match how {
        "abort" => assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "the child aborted: {status:?}"
        ),
        "sigkill" => assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the child was killed: {status:?}"
        ),
        _ => assert!(status.success(), "the child exited normally: {status:?}"),
    }
    assert!(
        jvm_gone(pid),
        "JVM {pid} outlived its test process ({how}, {status:?})"
    );
    dir
}

/// Every test is a plain `#[test]`: in the child it builds its own runtime.
#[test]
fn jvm_dies_when_the_test_process_aborts() {
    match std::env::var(CHILD_ENV) {
        Ok(how) => child(&how),
        Err(_) => {
            let _serial = serial();
            assert_jvm_dies_with_child("jvm_dies_when_the_test_process_aborts", "abort");
        }
    }
}

#[test]
fn jvm_dies_when_the_test_process_is_killed() {
    match std::env::var(CHILD_ENV) {
        Ok(how) => child(&how),
        Err(_) => {
            let _serial = serial();
            assert_jvm_dies_with_child("jvm_dies_when_the_test_process_is_killed", "sigkill");
        }
    }
}

#[test]
fn jvm_in_a_static_dies_when_the_test_process_exits() {
    match std::env::var(CHILD_ENV) {
        Ok(how) => child(&how),
        Err(_) => {
            let _serial = serial();
            assert_jvm_dies_with_child(
                "jvm_in_a_static_dies_when_the_test_process_exits",
                "static",
            );
        }
    }
}

/// The directory of a server that was never dropped is removed by the first start of a later
/// process. This binary's parent side starts no other server, so the start below is its first.
#[test]
fn directory_left_by_a_dead_process_is_removed_by_a_later_start() {
    if let Ok(how) = std::env::var(CHILD_ENV) {
        return child(&how);
    }
    let _serial = serial();
    let data_dir = assert_jvm_dies_with_child(
        "directory_left_by_a_dead_process_is_removed_by_a_later_start",
        "abort",
    );
    let server_dir = data_dir
        .parent()
        .expect("the data directory is inside the server's directory")
        .to_path_buf();
    assert!(
        server_dir.is_dir(),
        "an aborted process leaves {} behind",
        server_dir.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(ZkServer::start()).expect("server");
    assert!(!server_dir.exists(), "{} is removed", server_dir.display());
    drop(server);
}
