//! Listener records: one per live instance, gone with its session, back on the next session.

mod common;

use common::{connect, eventually, fast_settings, raw_client, unique_dir};
use zkstate::{Connection, ZkState};
use zkstate_testing::{FaultProxy, ZkServer};

async fn ids(state: &ZkState<u32>) -> Vec<String> {
    state
        .listeners()
        .await
        .expect("listeners")
        .into_iter()
        .map(|l| l.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_is_listed_a_killed_session_disappears_and_comes_back_on_a_new_session() {
    let server = ZkServer::start().await.expect("server");
    let dir = unique_dir("listeners");
    let mut states = Vec::new();
    for _ in 0..3 {
        let conn = connect(&server.connect_string()).await;
        states.push(ZkState::new(&conn, &dir, 0u32).await.expect("state"));
    }
    // The victim reaches the server through a proxy, so that its session can be killed.
    let proxy = FaultProxy::start(&server.connect_string())
        .await
        .expect("proxy");
    let victim_conn = Connection::connect(
        &format!("zookeeper://{}", proxy.connect_string()),
        fast_settings(),
    )
    .await
    .expect("connect");
    let victim = ZkState::new(&victim_conn, &dir, 0u32)
        .await
        .expect("victim");

    let mut expected: Vec<String> = states
        .iter()
        .map(|s| s.id().to_string())
        .chain([victim.id().to_string()])
        .collect();
    expected.sort();
    let observer = &states[0];
    eventually("all four listed", || async {
        ids(observer).await == expected
    })
    .await;
    let record = observer
        .listeners()
        .await
        .expect("listeners")
        .into_iter()
        .find(|l| l.id == victim.id())
        .expect("victim record");
    assert_eq!(record.pid, std::process::id());
    assert!(record.started_at_ms > 0);

    // Kill the victim's session: cut it off, then close its session from a direct client.
    proxy.refuse();
    let killer = zookeeper_client::Client::connector()
        .with_session(victim_conn.client().expect("client").session().clone())
        .connect(&server.connect_string())
        .await
        .expect("connect with the victim's session");
    drop(killer);
    eventually("the killed instance to disappear", || async {
        !ids(observer).await.contains(&victim.id().to_string())
    })
    .await;
    assert_eq!(ids(observer).await.len(), 3);

    // Traffic flows again: the victim learns its session expired, opens a new one and re-registers.
    proxy.pass();
    // Re-registered in the new session: the record's ephemeral owner is that session.
    let record_path = format!("{}/listeners/{}", victim.dir(), victim.id());
    let raw = raw_client(&server.connect_string()).await;
    eventually(
        "the instance to be registered in its new session",
        || async {
            let owner = match raw.check_stat(&record_path).await {
                Ok(Some(stat)) => stat.ephemeral_owner,
                _ => return false,
            };
            victim_conn.session_id() == Some(owner)
        },
    )
    .await;
    assert_eq!(
        ids(observer).await,
        expected,
        "no record left of the old session"
    );
}
