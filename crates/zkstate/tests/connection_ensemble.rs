//! On an ensemble, losing the node we are connected to moves the session, it does not lose it.

mod common;

use std::time::Duration;

use common::{fast_settings, serving_node, soon, wait_state};
use zkstate::{Connection, ConnectionState};
use zkstate_testing::ZkCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_connected_node_suspends_then_reconnects_without_losing_the_session() {
    let mut cluster = ZkCluster::start(3).await.expect("ensemble");
    let settings = fast_settings().with_session_timeout(Duration::from_secs(10));
    let conn = Connection::connect(
        &format!("zookeeper://{}", cluster.connect_string()),
        settings,
    )
    .await
    .expect("connect");
    let session = conn.session_id().expect("session");
    let node = soon("the serving node in cons", async {
        loop {
            if let Some(node) = serving_node(&cluster, session).await {
                break node;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let mut events = conn.subscribe();

    cluster.kill(node);

    wait_state(&mut events, ConnectionState::Suspended).await;
    let (connected, seen) = wait_state(&mut events, ConnectionState::Connected).await;
    assert!(
        !connected.new_session,
        "the session must move, not be replaced"
    );
    assert_eq!(connected.session_id, Some(session));
    assert!(!seen.contains(&ConnectionState::Lost), "saw {seen:?}");
    let moved_to = serving_node(&cluster, session).await;
    assert!(
        moved_to.is_some() && moved_to != Some(node),
        "session now on {moved_to:?}, was on {node}"
    );
}
