//! Exit 5 when ZooKeeper cannot be reached within `--timeout`: a port nobody listens on.

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
        out.expect_code(5).error_line(&["unreachable", &zk]);
        // A bound, not a benchmark: the 2 s timeout plus a generous margin for a loaded machine.
        assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}\n{out}");
    }
}
