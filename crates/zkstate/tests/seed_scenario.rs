//! The seed's story: an agent shares its process globs; an external actor (a raw ZooKeeper
//! session, not a ZkState) adds "firefox*"; the agent receives exactly one Added at [2].

mod common;

use common::{connect, next, next_batch, raw_client, shared_server, soon, unique_dir};
use serde_json::json;
use tokio::sync::mpsc;
use zkstate::{Change, KeyPath, Origin, PathSegment, StateEvent, ZkState};

#[tokio::test]
async fn external_actor_adds_a_glob_and_the_agent_receives_one_added_change() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("seed");
    let agent = ZkState::new(
        &conn,
        &dir,
        vec!["systemd*".to_string(), "rsync*".to_string()],
    )
    .await
    .expect("state");

    let (tx, mut rx) = mpsc::unbounded_channel();
    agent.update_handler(move |event| {
        let _ = tx.send(event);
    });

    let actor = raw_client(&server.connect_string()).await;
    actor
        .set_data(
            &format!("{dir}/payload"),
            br#"["systemd*","rsync*","firefox*"]"#,
            None,
        )
        .await
        .expect("external write");

    let batch = next_batch(&mut tokio_stream_from(&mut rx)).await;
    assert_eq!(
        batch.changes,
        vec![Change::Added {
            path: KeyPath::from_iter([PathSegment::Index(2)]),
            value: json!("firefox*")
        }]
    );
    assert_eq!(batch.origin, Origin::Remote);
    assert_eq!(batch.version, 1);
    assert_eq!(
        *agent.read().expect("fresh read"),
        vec!["systemd*", "rsync*", "firefox*"]
    );

    // Exactly one: a second write (the sentinel) goes out after the first was delivered, and
    // its batch is the very next event. Events come in version order, so any further event of
    // the first write (a repeat, a second batch) would have arrived before it.
    actor
        .set_data(&format!("{dir}/payload"), br#"["sentinel"]"#, Some(1))
        .await
        .expect("sentinel write");
    let event = next("the sentinel's event", &mut tokio_stream_from(&mut rx)).await;
    match event {
        StateEvent::Changed(sentinel) => {
            assert_eq!(
                sentinel.version, 2,
                "the event after the first write's batch"
            );
            assert_eq!(sentinel.origin, Origin::Remote);
        }
        other => panic!("the event after the first write's batch is not the sentinel's: {other:?}"),
    }
}

/// Adapts the handler's channel to a stream for the shared helpers.
fn tokio_stream_from(
    rx: &mut mpsc::UnboundedReceiver<StateEvent>,
) -> impl futures::Stream<Item = StateEvent> + Unpin + '_ {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn payload_is_plain_json_readable_by_any_client() {
    let server = shared_server().await;
    let conn = connect(&server.connect_string()).await;
    let dir = unique_dir("plain");
    let state = ZkState::new(&conn, &dir, vec!["a".to_string()])
        .await
        .expect("state");
    state.update(|v| v.push("b".into())).await.expect("update");
    let raw = raw_client(&server.connect_string()).await;
    let (data, stat) = raw
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("raw read");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).expect("json"),
        json!(["a", "b"])
    );
    assert_eq!(stat.version, state.version());
    let _ = soon("close", state.close()).await;
}
