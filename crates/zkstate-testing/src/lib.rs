//! Real Apache ZooKeeper servers for tests, on loopback: the Rust counterpart of Curator's
//! `TestingServer` and `TestingCluster`, plus what is needed to test failure handling.
//!
//! * [`ZkServer`]: a standalone server on a free port of 127.0.0.1 with its data in a
//!   temporary directory; stop, kill, restart (same port, same data).
//! * [`ZkCluster`]: an ensemble of `n` servers; stop, kill and restart single nodes, find the
//!   leader.
//! * [`FaultProxy`]: a TCP proxy between a client and a server that passes, blackholes,
//!   refuses, resets or delays traffic.
//! * [`expire_session`]: makes the server expire a client's session, deterministically.
//! * [`four_letter_word`]: ZooKeeper's admin commands (`srvr`, `cons`, `mntr`, …).
//! * [`tls`]: TLS servers ([`ZkServerBuilder::with_tls`], [`ZkCluster::start_tls`]) with
//!   certificates generated at test time, and certificates of another CA for negative tests.
//!
//! Servers run in a JVM (`java` from `$JAVA_HOME` or `PATH`) with the jars of
//! `$ZOOKEEPER_HOME`, or else of Debian's `zookeeper` package
//! (`apt-get update && apt-get install -y zookeeper`). They are tuned for tests:
//! `tickTime=200` (so sessions as short as 400 ms are granted), small heap, serial GC.
//! A server counts as started once its `srvr` answer shows a `Mode:` (not on `ruok`, which
//! answers `imok` before the server serves). Each server's output goes to a `server.log` in
//! its directory (see [`ZkServer::log_tail`]).
//!
//! # No leaked JVMs
//! Dropping a server kills its JVM. A JVM also dies with the test process however that ends
//! (panic, `abort()`, `SIGKILL`, a server kept in a `static` that is never dropped): every JVM
//! is started with `PR_SET_PDEATHSIG = SIGKILL` from one dedicated thread that lives as long as
//! the process. Every JVM carries `-Dzkstate.testing=1`, so that `pgrep -f zkstate.testing`
//! finds leaked ones.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use zookeeper_client::{Client, CreateMode, SessionState};
//! use zkstate_testing::{expire_session, FaultProxy, ZkServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ZkServer::start().await?;
//! // The client reaches the server through a proxy, so that faults can be injected.
//! let proxy = FaultProxy::start(&server.connect_string()).await?;
//! let client = Client::connector()
//!     .with_session_timeout(Duration::from_secs(2))
//!     .connect(&proxy.connect_string())
//!     .await?;
//! client.create("/greeting", b"hello", &CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all())).await?;
//!
//! proxy.blackhole(); // the client hears nothing: it will report Disconnected
//! proxy.pass(); // traffic flows again
//!
//! let mut state = client.state_watcher();
//! expire_session(&proxy, &server.connect_string(), client.session()).await?;
//! while state.changed().await != SessionState::Expired {}
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cluster;
mod error;
mod expire;
mod four_letter;
mod jvm;
mod proxy;
mod server;
mod shared;
mod spawner;
pub mod tls;

pub use cluster::ZkCluster;
pub use error::{Result, TestingError};
pub use expire::expire_session;
pub use four_letter::four_letter_word;
pub use proxy::{FaultProxy, ProxyMode};
pub use server::{ZkServer, ZkServerBuilder};
pub use shared::shared_server;
pub use tls::TlsFiles;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    /// Servers may live in a `static` and be used from any task: types are `Send + Sync` and
    /// futures are `Send`. (The futures are created, never polled.)
    #[test]
    fn types_are_send_sync_and_futures_are_send() {
        fn types<A: Send + Sync, B: Send + Sync, C: Send + Sync, D: Send + Sync, E: Send + Sync>() {
        }
        types::<ZkServer, ZkServerBuilder, ZkCluster, FaultProxy, TestingError>();
        send(&ZkServer::start());
        send(&ZkServer::builder().start());
        send(&ZkCluster::start(3));
        send(&FaultProxy::start("127.0.0.1:1"));
        send(&four_letter_word("127.0.0.1:1", "srvr"));
        send_sync(&ProxyMode::Pass);
    }

    /// Type-checked only: the futures of methods on live values are `Send` too.
    #[allow(dead_code)]
    fn method_futures_are_send(
        server: &mut ZkServer,
        cluster: &mut ZkCluster,
        proxy: &FaultProxy,
        session: &zookeeper_client::SessionInfo,
    ) {
        send(&server.stop());
        send(&server.restart());
        send(&cluster.stop(0));
        send(&cluster.restart(0));
        send(&cluster.leader());
        send(&cluster.wait_serving(std::time::Duration::ZERO));
        send(&expire_session(proxy, "127.0.0.1:1", session));
    }

    #[test]
    fn srvr_mode_reads_the_mode_line() {
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(jvm::srvr_mode(srvr), Some("follower"));
        assert_eq!(
            jvm::srvr_mode("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("server.log");
        assert_eq!(jvm::log_tail(&log, 3), "", "a missing log is empty");
        std::fs::write(&log, "one\ntwo\nthree\nfour\n").expect("write");
        assert_eq!(jvm::log_tail(&log, 2), "three\nfour");
        assert_eq!(jvm::log_tail(&log, 10), "one\ntwo\nthree\nfour");
        assert_eq!(jvm::log_tail(&log, 0), "");
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = jvm::free_ports(9).expect("ports");
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 9, "{ports:?}");
    }
}
