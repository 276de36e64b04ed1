//! The hard cases of "Ok means applied exactly once, Err means not applied": a reply lost in
//! flight, and a writer whose session expires while it holds the lock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{connect, fast_settings, raw_client, soon, unique_dir};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use zkstate::{Connection, ZkState};
use zkstate_testing::{FaultProxy, ZkServer};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Ledger {
    counter: u64,
    log: Vec<String>,
}

async fn via_proxy(server: &ZkServer) -> (FaultProxy, Connection) {
    common::init_tracing();
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let settings = fast_settings().with_session_timeout(Duration::from_secs(4));
    let conn = Connection::connect(&format!("zookeeper://{}", proxy.connect_string()), settings)
        .await
        .expect("connect");
    (proxy, conn)
}

async fn stored(server: &ZkServer, dir: &str) -> Ledger {
    let raw = raw_client(&server.connect_string()).await;
    let (data, _) = raw.get_data(&format!("{dir}/payload")).await.expect("read");
    serde_json::from_slice(&data).expect("ledger json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_reply_is_lost_is_resolved_as_landed_and_reported_once() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("lost-reply");
    let (proxy, conn) = via_proxy(&server).await;
    let state = ZkState::new(&conn, &dir, Ledger::default())
        .await
        .expect("state");

    // Every packet through the proxy now takes 400 ms each way. A direct watcher sees the write
    // land at the server while its reply is still inside the proxy: then every connection of
    // the proxy is reset, so the reply is lost.
    let observer = raw_client(&server.connect_string()).await;
    let (_, _, landed) = observer
        .get_and_watch_data(&format!("{dir}/payload"))
        .await
        .expect("watch");
    proxy.set_latency(Duration::from_millis(400));
    let cutter = tokio::spawn(async move {
        landed.changed().await;
        proxy.reset();
        proxy
    });

    let version = soon(
        "the update to resolve",
        state.update_latest(|l| {
            l.counter += 1;
            l.log.push("only-once".into());
        }),
    )
    .await
    .expect("the write landed, so the update must report Ok");
    let proxy = cutter.await.expect("cutter");
    proxy.set_latency(Duration::ZERO);

    assert_eq!(version, 1);
    let ledger = stored(&server, &dir).await;
    assert_eq!(
        ledger,
        Ledger {
            counter: 1,
            log: vec!["only-once".into()]
        },
        "applied exactly once"
    );
    assert_eq!(state.c_read().await.expect("c_read").counter, 1);
    // The history entry was in the write's transaction: one, for version 1.
    let history = state.history(10).await.expect("history");
    let versions: Vec<i32> = history
        .iter()
        .filter_map(|item| match item {
            zkstate::history::HistoryItem::Version(entry) => Some(entry.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, vec![1], "one entry for the resolved write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_reply_is_lost_as_the_connection_closes_is_outcome_unknown_not_closed() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("lost-at-close");
    let (proxy, conn) = via_proxy(&server).await;
    let state = ZkState::new(&conn, &dir, Ledger::default())
        .await
        .expect("state");

    // As above, the write lands while its reply is held in the proxy; then the link goes dark
    // and the connection is closed: no session is left to read the commit marker.
    let observer = raw_client(&server.connect_string()).await;
    let (_, _, landed) = observer
        .get_and_watch_data(&format!("{dir}/payload"))
        .await
        .expect("watch");
    proxy.set_latency(Duration::from_millis(400));
    let closer = {
        let conn = conn.clone();
        tokio::spawn(async move {
            landed.changed().await;
            proxy.blackhole();
            conn.close().await;
            proxy
        })
    };
    let result = soon(
        "the update to end",
        state.update_latest(|l| {
            l.counter += 1;
            l.log.push("landed".into());
        }),
    )
    .await;
    let _proxy = closer.await.expect("closer");
    assert!(
        matches!(result, Err(zkstate::Error::OutcomeUnknown { .. })),
        "the write landed: it must not be reported as not applied, got {result:?}"
    );
    assert_eq!(stored(&server, &dir).await.counter, 1, "it did land");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_session_expires_holding_the_lock_loses_it_and_its_update_is_resolved() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("expired-holder");
    let (proxy, conn_a) = via_proxy(&server).await;
    let a = ZkState::new(&conn_a, &dir, Ledger::default())
        .await
        .expect("a");
    let conn_b = connect(&server.connect_string()).await;
    let b = ZkState::new(&conn_b, &dir, Ledger::default())
        .await
        .expect("b");

    // A takes the lock and stalls inside its closure (first attempt only).
    let in_closure = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let a_task = {
        let (a, in_closure, release) = (a.clone(), in_closure.clone(), release.clone());
        tokio::spawn(async move {
            let mut first = true;
            a.update_latest(|l| {
                if std::mem::take(&mut first) {
                    in_closure.notify_one();
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(release.notified())
                    });
                }
                l.counter += 1;
                l.log.push("a".into());
            })
            .await
        })
    };
    soon("A to hold the lock", in_closure.notified()).await;

    // Kill A's session while it holds the lock: cut A off, close its session from a direct client.
    proxy.refuse();
    let killer = zookeeper_client::Client::connector()
        .with_session(conn_a.client().expect("a's client").session().clone())
        .connect(&server.connect_string())
        .await
        .expect("connect with A's session");
    drop(killer);

    // The lock passes to B.
    let b_version = soon(
        "B to get the lock",
        b.update_latest(|l| {
            l.counter += 1;
            l.log.push("b".into());
        }),
    )
    .await
    .expect("B's update");
    assert_eq!(b_version, 1);

    // A resumes: its write was fenced by the lost lock; it must be resolved, then retried on the
    // new session, and land exactly once.
    proxy.pass();
    release.notify_one();
    let a_version = soon("A's update to resolve", a_task)
        .await
        .expect("task")
        .expect("A's update, retried");
    assert_eq!(a_version, 2);
    let ledger = stored(&server, &dir).await;
    assert_eq!(ledger.counter, 2);
    assert_eq!(ledger.log, vec!["b".to_string(), "a".to_string()]);
}
