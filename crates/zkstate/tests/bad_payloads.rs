//! Bad input from an external actor never panics: the local copy keeps the last good value,
//! read() reports the condition, subscribers get an error event, and the state recovers.

mod common;

use common::{connect, eventually, next, raw_client, remove_tree, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use zkstate::{Error, StateEvent, ZkState};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    name: String,
    replicas: u32,
}

fn good() -> Config {
    Config {
        name: "web".into(),
        replicas: 2,
    }
}

struct Fixture {
    state: ZkState<Config>,
    actor: zookeeper_client::Client,
    dir: String,
    payload: String,
    changes: zkstate::Changes,
}

async fn fixture(name: &str) -> Fixture {
    let server = shared_server().await;
    let dir = unique_dir(name);
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, good()).await.expect("state");
    let changes = state.subscribe();
    let actor = raw_client(&server.connect_string()).await;
    Fixture {
        payload: format!("{dir}/payload"),
        state,
        actor,
        dir,
        changes,
    }
}

impl Fixture {
    async fn expect_error_event(&mut self) -> Error {
        match next("an error event", &mut self.changes).await {
            StateEvent::Error(err) => err,
            other => panic!("expected an error event, got {other:?}"),
        }
    }

    /// A good payload comes back: a change event, and read() answers again.
    async fn recovers(&mut self) {
        self.actor
            .set_data(&self.payload, br#"{"name":"web","replicas":3}"#, None)
            .await
            .expect("good write");
        match next("the recovery change", &mut self.changes).await {
            StateEvent::Changed(batch) => assert_eq!(batch.changes.len(), 1, "{batch:?}"),
            other => panic!("expected a change, got {other:?}"),
        }
        let state = &self.state;
        eventually("read() to recover", || async { state.read().is_ok() }).await;
        assert_eq!(self.state.read().expect("read").replicas, 3);
    }
}

#[tokio::test]
async fn payload_that_is_not_json_is_a_decode_error_and_recovers() {
    let mut f = fixture("not-json").await;
    f.actor
        .set_data(&f.payload, b"{not json", None)
        .await
        .expect("write");
    assert!(matches!(f.expect_error_event().await, Error::Decode { .. }));
    assert!(matches!(f.state.read(), Err(Error::Decode { .. })));
    assert_eq!(*f.state.d_read(), good(), "the last good value is kept");
    f.recovers().await;
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_decode_error_and_recovers() {
    let mut f = fixture("wrong-shape").await;
    f.actor
        .set_data(&f.payload, br#"["an","array"]"#, None)
        .await
        .expect("write");
    assert!(matches!(f.expect_error_event().await, Error::Decode { .. }));
    assert!(matches!(f.state.c_read().await, Err(Error::Decode { .. })));
    assert_eq!(*f.state.d_read(), good());
    f.recovers().await;
}

#[tokio::test]
async fn invalid_utf8_is_a_decode_error() {
    let mut f = fixture("utf8").await;
    f.actor
        .set_data(&f.payload, b"\"\xff\xfe\"", None)
        .await
        .expect("write");
    assert!(matches!(f.expect_error_event().await, Error::Decode { .. }));
    f.recovers().await;
}

#[tokio::test]
async fn deleted_payload_is_missing_and_recovers_when_recreated() {
    let mut f = fixture("deleted").await;
    f.actor.delete(&f.payload, None).await.expect("delete");
    assert!(matches!(
        f.expect_error_event().await,
        Error::Missing { .. }
    ));
    assert!(matches!(f.state.read(), Err(Error::Missing { .. })));
    assert!(matches!(
        f.state.update(|c| c.replicas = 9).await,
        Err(Error::Missing { .. })
    ));
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    f.actor
        .create(&f.payload, br#"{"name":"web","replicas":3}"#, &options)
        .await
        .expect("recreate");
    match next("the recovery change", &mut f.changes).await {
        StateEvent::Changed(batch) => {
            assert_eq!(batch.version, 0, "a re-created node restarts at version 0")
        }
        other => panic!("expected a change, got {other:?}"),
    }
    assert_eq!(f.state.read().expect("recovered").replicas, 3);
}

#[tokio::test]
async fn deleted_directory_is_missing_and_recovers_when_recreated() {
    let mut f = fixture("deleted-dir").await;
    f.state
        .update(|c| c.replicas = 5)
        .await
        .expect("an update, so a writer marker exists");
    let _ = next("the local change", &mut f.changes).await;
    remove_tree(&f.actor, &f.dir).await;
    assert!(matches!(
        f.expect_error_event().await,
        Error::Missing { .. }
    ));
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    f.actor.mkdir(&f.dir, &options).await.expect("mkdir");
    f.actor
        .create(&f.payload, br#"{"name":"web","replicas":3}"#, &options)
        .await
        .expect("recreate");
    match next("the recovery change", &mut f.changes).await {
        StateEvent::Changed(_) => {}
        other => panic!("expected a change, got {other:?}"),
    }
    assert_eq!(f.state.read().expect("recovered").replicas, 3);
}

#[tokio::test]
async fn payload_above_the_limit_is_refused_before_sending() {
    let f = fixture("too-large").await;
    let err = f
        .state
        .update(|c| c.name = "x".repeat(2 * 1024 * 1024))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, Error::PayloadTooLarge { size, limit, .. } if size > limit),
        "{err:?}"
    );
    let (data, stat) = f.actor.get_data(&f.payload).await.expect("read");
    assert_eq!(stat.version, 0, "nothing was written");
    assert_eq!(
        serde_json::from_slice::<Config>(&data).expect("json"),
        good()
    );
    // The lock was released: the next update goes through.
    f.state
        .update(|c| c.replicas = 4)
        .await
        .expect("next update");
}

/// Writes `payload` as an external actor, expects a decode error event and a typed read error,
/// then recovery.
async fn rejected_then_recovers(name: &str, payload: &[u8]) {
    let mut f = fixture(name).await;
    f.actor
        .set_data(&f.payload, payload, None)
        .await
        .expect("hostile write");
    let err = f.expect_error_event().await;
    assert!(matches!(err, Error::Decode { .. }), "{name}: {err:?}");
    assert!(matches!(f.state.read(), Err(Error::Decode { .. })));
    assert_eq!(*f.state.d_read(), good());
    f.recovers().await;
}

#[tokio::test]
async fn ten_thousand_levels_of_nesting_are_a_decode_error_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    rejected_then_recovers("deep", deep.as_bytes()).await;
}

#[tokio::test]
async fn a_one_megabyte_string_is_a_decode_error_for_a_struct() {
    let huge = format!("\"{}\"", "x".repeat(1_000_000));
    rejected_then_recovers("huge-string", huge.as_bytes()).await;
}

#[tokio::test]
async fn numbers_beyond_u64_and_f64_are_decode_errors() {
    rejected_then_recovers(
        "beyond-u64",
        br#"{"name":"web","replicas":18446744073709551616}"#,
    )
    .await;
    rejected_then_recovers("beyond-f64", br#"{"name":"web","replicas":1e400}"#).await;
}

#[tokio::test]
async fn duplicate_keys_take_the_last_value() {
    let mut f = fixture("duplicate-keys").await;
    f.actor
        .set_data(&f.payload, br#"{"name":"a","name":"b","replicas":2}"#, None)
        .await
        .expect("write");
    match next("the change", &mut f.changes).await {
        StateEvent::Changed(batch) => assert_eq!(batch.changes.len(), 1, "{batch:?}"),
        other => panic!("expected a change, got {other:?}"),
    }
    assert_eq!(f.state.read().expect("read").name, "b");
}

#[tokio::test]
async fn a_large_array_just_under_the_packet_limit_is_applied_and_diffed() {
    let server = shared_server().await;
    let dir = unique_dir("large-array");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, serde_json::json!([]))
        .await
        .expect("state");
    let mut changes = state.subscribe();
    // About 1,000,000 bytes: under ZooKeeper's 1 MB packet limit with room for framing.
    let records: Vec<serde_json::Value> = (0..24_000)
        .map(|i| serde_json::json!({"id": i, "host": format!("host-{i:06}.example")}))
        .collect();
    let bytes = serde_json::to_vec(&records).expect("json");
    assert!(
        bytes.len() > 900_000 && bytes.len() < 1_040_000,
        "{}",
        bytes.len()
    );
    let actor = raw_client(&server.connect_string()).await;
    actor
        .set_data(&format!("{dir}/payload"), &bytes, None)
        .await
        .expect("large write");
    match next("the change", &mut changes).await {
        StateEvent::Changed(batch) => {
            assert_eq!(batch.changes.len(), 24_000, "one Added per record")
        }
        other => panic!("expected a change, got {other:?}"),
    }
    assert_eq!(
        state.read().expect("read").as_array().map(Vec::len),
        Some(24_000)
    );
}

#[tokio::test]
async fn a_state_opened_over_a_bad_payload_starts_from_initial_and_an_update_repairs_it() {
    let server = shared_server().await;
    let dir = unique_dir("open-over-bad");
    let conn = connect(&server.connect_string()).await;
    let first = ZkState::new(&conn, &dir, good()).await.expect("state");
    let actor = raw_client(&server.connect_string()).await;
    actor
        .set_data(&format!("{dir}/payload"), b"{broken", None)
        .await
        .expect("break it");
    first.close().await;

    let state = ZkState::new(&conn, &dir, good())
        .await
        .expect("opens despite the bad payload");
    assert!(matches!(state.read(), Err(Error::Decode { .. })));
    assert_eq!(*state.d_read(), good(), "initial stands in");
    // A fetch through the sync task (after its arming fetch) meets the same bad write: the
    // stand-in carries that write's stamp but is not it, so the fault stays.
    assert!(
        matches!(state.c_read().await, Err(Error::Decode { .. })),
        "a fetch of the same bad write keeps the fault"
    );
    assert!(matches!(state.read(), Err(Error::Decode { .. })));
    assert!(
        matches!(
            ZkState::<Config>::expect(&conn, &dir, None).await,
            Err(Error::Decode { .. })
        ),
        "expect has no stand-in"
    );

    state
        .update(|c| c.replicas = 7)
        .await
        .expect("an update writes over the bad payload");
    assert_eq!(state.read().expect("repaired").replicas, 7);
    let (data, _) = actor
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("read");
    assert_eq!(
        serde_json::from_slice::<Config>(&data)
            .expect("valid again")
            .replicas,
        7
    );
}

#[tokio::test]
async fn update_latest_writes_over_a_payload_broken_after_open_and_update_reports_stale_write() {
    let mut f = fixture("repair-latest").await;
    f.actor
        .set_data(&f.payload, b"not json at all", None)
        .await
        .expect("break it");
    assert!(matches!(f.expect_error_event().await, Error::Decode { .. }));
    let stale = f.state.update(|c| c.replicas = 5).await;
    assert!(matches!(stale, Err(Error::StaleWrite { .. })), "{stale:?}");
    f.state
        .update_latest(|c| c.replicas += 1)
        .await
        .expect("the repair");
    let (data, _) = f.actor.get_data(&f.payload).await.expect("read");
    assert_eq!(
        serde_json::from_slice::<Config>(&data).expect("valid"),
        Config {
            name: "web".into(),
            replicas: 3
        }
    );
    let state = &f.state;
    eventually("read() to recover", || async { state.read().is_ok() }).await;
}

/// Reads `state` every 50 ms for three staleness bounds: it must answer `fault` each time (never
/// `Stale`: the periodic checks keep verifying what ZooKeeper holds), and the last verification
/// must be recent, which proves the checks ran.
async fn fault_stays_verified(state: &ZkState<Config>, fault: fn(&Error) -> bool) {
    let max_staleness = MAX_STALENESS;
    let until = tokio::time::Instant::now() + 3 * max_staleness;
    let mut reads = 0;
    while tokio::time::Instant::now() < until {
        match state.read() {
            Err(err) if fault(&err) => reads += 1,
            other => panic!("expected the fault, got {:?}", other.map(|v| v.clone())),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reads > 0);
    let freshness = state.freshness();
    assert!(
        freshness.verified_ago < max_staleness,
        "verified {:?} ago: the checks stopped verifying",
        freshness.verified_ago
    );
}

const MAX_STALENESS: std::time::Duration = std::time::Duration::from_secs(1);

fn short_staleness() -> zkstate::StateOptions {
    zkstate::StateOptions::default().with_max_staleness(MAX_STALENESS)
}

#[tokio::test]
async fn a_lasting_bad_payload_reads_as_decode_never_stale() {
    let server = shared_server().await;
    let dir = unique_dir("lasting-bad");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::with_options(&conn, &dir, good(), short_staleness())
        .await
        .expect("state");
    let actor = raw_client(&server.connect_string()).await;
    actor
        .set_data(&format!("{dir}/payload"), b"{broken", None)
        .await
        .expect("break it");
    eventually("the fault", || async {
        matches!(state.read(), Err(Error::Decode { .. }))
    })
    .await;
    fault_stays_verified(&state, |e| matches!(e, Error::Decode { .. })).await;
}

#[tokio::test]
async fn a_lasting_missing_payload_reads_as_missing_never_stale() {
    let server = shared_server().await;
    let dir = unique_dir("lasting-missing");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::with_options(&conn, &dir, good(), short_staleness())
        .await
        .expect("state");
    let actor = raw_client(&server.connect_string()).await;
    actor
        .delete(&format!("{dir}/payload"), None)
        .await
        .expect("delete it");
    eventually("the fault", || async {
        matches!(state.read(), Err(Error::Missing { .. }))
    })
    .await;
    fault_stays_verified(&state, |e| matches!(e, Error::Missing { .. })).await;
}
