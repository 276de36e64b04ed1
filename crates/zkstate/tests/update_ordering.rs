//! Two instances on two sessions alternate 1,000 updates: each sees every version, in order,
//! none missed, none twice.

mod common;

use common::{connect, shared_server, soon, unique_dir};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use zkstate::{Changes, StateEvent, StateOptions, ZkState};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Counter {
    n: u64,
}

const UPDATES: u64 = 1_000;

/// Collects batch versions until `last` is seen.
async fn versions_until(changes: &mut Changes, last: i32) -> Vec<i32> {
    let mut versions = Vec::new();
    while versions.last() != Some(&last) {
        match changes.next().await {
            Some(StateEvent::Changed(batch)) => versions.push(batch.version),
            other => panic!("unexpected event {other:?} after versions {versions:?}"),
        }
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_writers_each_see_every_version_once_in_order() {
    let server = shared_server().await;
    let dir = unique_dir("order");
    let options = StateOptions::default().with_event_buffer(2 * UPDATES as usize);
    let conn_a = connect(&server.connect_string()).await;
    let conn_b = connect(&server.connect_string()).await;
    let a = ZkState::with_options(&conn_a, &dir, Counter::default(), options.clone())
        .await
        .expect("a");
    let b = ZkState::with_options(&conn_b, &dir, Counter::default(), options)
        .await
        .expect("b");
    let mut seen_a = a.subscribe();
    let mut seen_b = b.subscribe();

    for i in 0..UPDATES {
        let writer = if i % 2 == 0 { &a } else { &b };
        let version = writer.update_latest(|c| c.n += 1).await.expect("update");
        assert_eq!(version as u64, i + 1);
    }

    let expected: Vec<i32> = (1..=UPDATES as i32).collect();
    assert_eq!(
        soon("a's versions", versions_until(&mut seen_a, UPDATES as i32)).await,
        expected
    );
    assert_eq!(
        soon("b's versions", versions_until(&mut seen_b, UPDATES as i32)).await,
        expected
    );
    assert_eq!(a.d_read().n, UPDATES);
    assert_eq!(b.d_read().n, UPDATES);
}
