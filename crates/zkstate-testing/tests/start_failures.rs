//! Starting fails with a clear error, and leaves no JVM behind, when the installation is
//! missing or the server cannot serve.

use std::process::Command;

use zkstate_testing::{TestingError, ZkServer};

/// Set in the child process: which installation is missing.
const CHILD_ENV: &str = "ZKSTATE_TESTING_START_FAILURE_CHILD";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs test `name` of this binary in a child process whose environment lacks Java or
/// ZooKeeper (environment variables cannot be changed safely in a multi-threaded test process).
fn run_child(name: &str, how: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("current test binary");
    let output = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, how)
        .envs(env.iter().copied())
        .output()
        .expect("run the child test process");
    assert!(
        output.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn missing_java_is_reported_with_the_install_command() {
    if std::env::var(CHILD_ENV).is_ok() {
        let err = runtime().block_on(ZkServer::start()).expect_err("no Java");
        assert!(matches!(err, TestingError::JavaNotFound), "{err:?}");
        assert!(
            err.to_string()
                .contains("apt-get update && apt-get install -y zookeeper"),
            "{err}"
        );
        return;
    }
    run_child(
        "missing_java_is_reported_with_the_install_command",
        "java",
        &[("JAVA_HOME", "/nonexistent"), ("PATH", "/nonexistent")],
    );
}

#[test]
fn missing_zookeeper_is_reported_with_the_searched_places() {
    if std::env::var(CHILD_ENV).is_ok() {
        let home = std::env::var_os("ZOOKEEPER_HOME").expect("ZOOKEEPER_HOME set by the parent");
        let err = runtime()
            .block_on(ZkServer::start())
            .expect_err("no ZooKeeper");
        match &err {
            TestingError::ZooKeeperNotFound { searched } => {
                assert!(
                    searched.iter().any(|p| p.starts_with(&home)),
                    "{searched:?}"
                )
            }
            other => panic!("expected ZooKeeperNotFound, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("apt-get update && apt-get install -y zookeeper"),
            "{err}"
        );
        return;
    }
    // An empty ZOOKEEPER_HOME: no jars.
    let home = tempfile::tempdir().expect("tempdir");
    let home = home.path().to_str().expect("a UTF-8 temporary path");
    run_child(
        "missing_zookeeper_is_reported_with_the_searched_places",
        "zookeeper",
        &[("ZOOKEEPER_HOME", home)],
    );
}

#[tokio::test]
async fn server_that_exits_while_starting_fails_with_its_log() {
    // An invalid configuration: ZooKeeper exits at once.
    let err = ZkServer::builder()
        .with_config("tickTime", "not-a-number")
        .start()
        .await
        .expect_err("bad config");
    match &err {
        TestingError::NotReady { what, log_tail, .. } => {
            assert!(what.contains("exited"), "{what}");
            assert!(!log_tail.is_empty(), "the error carries the server's log");
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[tokio::test]
async fn server_that_does_not_serve_in_time_fails_with_not_ready() {
    let err = ZkServer::builder()
        .with_start_timeout(std::time::Duration::from_millis(1))
        .start()
        .await
        .expect_err("too short a start timeout");
    match &err {
        TestingError::NotReady { what, .. } => assert!(what.contains("did not serve"), "{what}"),
        other => panic!("expected NotReady, got {other:?}"),
    }
}
