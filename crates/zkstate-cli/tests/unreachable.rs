//! Exit 5 when ZooKeeper cannot be reached: a port nobody listens on and a name that does not
//! resolve are answered at once, naming the cause per server, not after `--timeout`.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A loopback port that was free a moment ago (bound, then released).
fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(err) => panic!("cannot find a free port: {err}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_exit_5_within_the_timeout() {
    let zk = format!("127.0.0.1:{}", free_port());
    for args in [
        vec!["get", "/x"],
        vec!["set", "/x", "1"],
        vec!["watch", "/x"],
        vec!["ls"],
    ] {
        let mut full = vec!["--timeout", "2"];
        full.extend(args.iter());
        let started = Instant::now();
        let out = run(&zk, &full).await;
        let elapsed = started.elapsed();
        out.expect_code(5)
            .error_line(&["cannot be reached", &format!("{zk}: connection refused")]);
        // A bound, not a benchmark: well under the 2 s timeout, with a margin for a loaded
        // machine (a refusal is one TCP handshake).
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}\n{out}");
    }
}

#[tokio::test]
async fn refused_and_unresolvable_servers_are_answered_before_a_long_timeout() {
    let refused = format!("127.0.0.1:{}", free_port());
    let servers = format!("{refused},nosuchhost.invalid:2181");
    let started = Instant::now();
    let out = run(&servers, &["--timeout", "10", "ls"]).await;
    let elapsed = started.elapsed();
    out.expect_code(5).error_line(&[
        &format!("{refused}: connection refused"),
        "nosuchhost.invalid:2181: name not resolved",
    ]);
    assert!(
        elapsed < Duration::from_secs(5),
        "took {elapsed:?} of --timeout 10\n{out}"
    );
}
