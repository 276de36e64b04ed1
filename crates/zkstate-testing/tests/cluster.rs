//! A 3-node ensemble elects a leader, survives the leader's death, and takes it back.

mod common;

use std::time::Duration;

use common::{connect, persistent, soon};
use zkstate_testing::{four_letter_word, ZkCluster};

fn mode(srvr: &str) -> Option<&str> {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one_and_the_old_one_rejoins() {
    let mut cluster = ZkCluster::start(3).await.expect("ensemble");
    assert_eq!(cluster.len(), 3);
    let ports: Vec<u16> = (0..3).map(|i| cluster.node_port(i)).collect();
    let expected: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(cluster.connect_string(), expected.join(","));
    for (i, addr) in expected.iter().enumerate() {
        assert_eq!(&cluster.node_connect_string(i), addr);
        let srvr = four_letter_word(&cluster.node_connect_string(i), "srvr")
            .await
            .expect("srvr");
        assert!(
            matches!(mode(&srvr), Some("leader" | "follower")),
            "node {i}: {srvr}"
        );
    }

    let old_leader = cluster.leader().await.expect("a leader after start");
    cluster.kill(old_leader);
    let new_leader = soon("election of a new leader", async {
        loop {
            if let Some(leader) = cluster.leader().await {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_ne!(new_leader, old_leader, "the killed node cannot lead");

    let client = connect(&cluster.connect_string(), Duration::from_secs(10)).await;
    soon(
        "write after failover",
        client.create("/after-failover", b"ok", &persistent()),
    )
    .await
    .expect("the ensemble accepts writes without its old leader");

    cluster
        .restart(old_leader)
        .await
        .expect("old leader restarts");
    assert_eq!(
        cluster.node_port(old_leader),
        ports[old_leader],
        "same port after restart"
    );
    cluster
        .wait_serving(Duration::from_secs(60))
        .await
        .expect("every node serves");
    let srvr = four_letter_word(&cluster.node_connect_string(old_leader), "srvr")
        .await
        .expect("srvr");
    assert!(
        matches!(mode(&srvr), Some("leader" | "follower")),
        "rejoined node: {srvr}"
    );
    // The rejoined node has the write made while it was dead.
    let direct = connect(
        &cluster.node_connect_string(old_leader),
        Duration::from_secs(10),
    )
    .await;
    soon("sync", direct.sync("/after-failover"))
        .await
        .expect("sync");
    let (data, _) = soon("read", direct.get_data("/after-failover"))
        .await
        .expect("read on the rejoined node");
    assert_eq!(data, b"ok");
    assert!(!cluster.log_tail(old_leader, 20).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_is_not_waited_for_and_a_one_node_ensemble_leads() {
    let mut single = ZkCluster::start(1).await.expect("one-node ensemble");
    assert_eq!(single.leader().await, Some(0));
    single.stop(0).await.expect("stop");
    assert_eq!(single.leader().await, None, "a stopped node does not lead");
    single
        .wait_serving(Duration::from_secs(5))
        .await
        .expect("no running node to wait for");
    assert!(
        single.stop(1).await.is_err(),
        "index out of range is an error"
    );
    single.restart(0).await.expect("restart");
    assert_eq!(single.leader().await, Some(0));
    assert!(
        ZkCluster::start(0).await.is_err(),
        "an empty ensemble is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_all_brings_the_whole_ensemble_back_with_its_data() {
    let mut cluster = ZkCluster::start(3).await.expect("ensemble");
    let ports: Vec<u16> = (0..3).map(|i| cluster.node_port(i)).collect();
    {
        let client = connect(&cluster.connect_string(), Duration::from_secs(10)).await;
        soon(
            "write",
            client.create("/before-restart-all", b"kept", &persistent()),
        )
        .await
        .expect("write");
    }
    cluster.restart_all().await.expect("restart the ensemble");
    assert_eq!(
        (0..3).map(|i| cluster.node_port(i)).collect::<Vec<_>>(),
        ports,
        "same ports"
    );
    assert!(
        cluster.leader().await.is_some(),
        "a leader after restart_all"
    );
    let client = connect(&cluster.connect_string(), Duration::from_secs(10)).await;
    let (data, _) = soon("read", client.get_data("/before-restart-all"))
        .await
        .expect("the data survives restart_all");
    assert_eq!(data, b"kept");
}
