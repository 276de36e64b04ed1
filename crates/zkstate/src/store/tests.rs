//! The store without ZooKeeper: one writer, readers that never wait, changes in order.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::changes::{Changes, Origin, StateEvent};
use super::codec::DecodeError;
use super::copy::BIG;
use super::inbox::Acknowledged;
use super::*;
use crate::diff;
use crate::error::Error;
use crate::metrics::Applied;

fn stamp(version: i32, mzxid: i64) -> Stamp {
    Stamp {
        version,
        mzxid,
        czxid: 1,
        mtime: 0,
    }
}

fn store_of(first: Value, buffer: usize) -> (Writer<Value>, Store<Value>) {
    new(
        Names {
            dir: "/p".into(),
            payload: "/p/payload".into(),
        },
        buffer,
        crate::options::Limits::default(),
        Snapshot {
            value: first.clone(),
            json: Arc::new(Json::of_tree(Arc::new(first))),
            stamp: stamp(0, 1),
            compressed: false,
            size: 0,
        },
    )
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => panic!("runtime: {err}"),
    }
}

fn value_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        (0i64..5).prop_map(Value::from)
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[ab]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Writes seen in any order, some twice (a watch and a periodic check may both fetch the
    /// same write): the stream carries strictly increasing versions, and replaying it on the
    /// first value gives exactly the final local copy.
    #[test]
    fn applied_batches_replay_to_the_local_copy_in_version_order(
        values in prop::collection::vec(value_strategy(), 1..12),
        order in prop::collection::vec(any::<prop::sample::Index>(), 1..30),
    ) {
        let runtime = runtime();
        let first = json!({"start": true});
        let (mut writer, store) = store_of(first.clone(), 64);
        let mut rx = store.subscribe_raw();
        runtime.block_on(async {
            for pick in &order {
                let i = pick.index(values.len());
                let _ = writer
                    .apply_fetched(bytes(&values[i]), stamp(i as i32 + 1, i as i64 + 2), Applied::Remote)
                    .await;
            }
        });
        let mut replayed = first;
        let mut last_version = 0;
        while let Ok(StateEvent::Changed(batch)) = rx.try_recv() {
            prop_assert!(batch.version > last_version, "versions must increase");
            last_version = batch.version;
            prop_assert!(!batch.changes.is_empty());
            diff::apply(&mut replayed, &batch.changes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let local = store.load();
        prop_assert_eq!(&replayed, local.json());
    }
}

#[test]
fn read_reports_stale_then_fault_and_d_read_keeps_the_last_good_value() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!([1]), 4);
        let bound = store.bound(Duration::from_secs(30));
        assert!(store.read(&bound).is_ok());
        assert!(bound.mark_stale_since(&store, store.verified_at()));
        assert!(matches!(store.read(&bound), Err(Error::Stale { .. })));
        writer.mark_verified(7);
        assert_eq!(store.verified_session(), 7);
        writer.set_fault(Error::Missing {
            path: "/p/payload".into(),
        });
        assert!(matches!(store.read(&bound), Err(Error::Missing { .. })));
        assert_eq!(store.load().json(), &json!([1]));
        let applied = writer
            .apply_fetched(bytes(&json!([2])), stamp(1, 5), Applied::Remote)
            .await;
        assert_eq!(applied, Ok(Fetched::Applied(stamp(1, 5))));
        assert_eq!(*store.read(&bound).expect("recovered"), json!([2]));
    });
}

#[test]
fn a_payload_that_does_not_decode_is_the_fault_and_the_copy_keeps_its_value() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!({"a": 1}), 4);
        let mut rx = store.subscribe_raw();
        let bad = writer
            .apply_fetched(b"{not json".to_vec(), stamp(1, 5), Applied::Remote)
            .await;
        assert!(matches!(
            bad,
            Err(Error::Decode {
                version: 1,
                reason: DecodeError::Json(_),
                ..
            })
        ));
        assert!(matches!(
            rx.try_recv(),
            Ok(StateEvent::Error(Error::Decode { .. }))
        ));
        assert_eq!(store.load().json(), &json!({"a": 1}));
        // The same write again is not reported twice.
        let _ = writer
            .apply_fetched(b"{not json".to_vec(), stamp(1, 5), Applied::Remote)
            .await;
        assert!(rx.try_recv().is_err());
    });
}

#[test]
fn an_older_or_equal_write_changes_nothing() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!(1), 4);
        let mut rx = store.subscribe_raw();
        let applied = writer
            .apply_fetched(bytes(&json!(2)), stamp(3, 10), Applied::Remote)
            .await;
        assert_eq!(applied, Ok(Fetched::Applied(stamp(3, 10))));
        for (version, mzxid) in [(2, 9), (3, 10)] {
            let again = writer
                .apply_fetched(bytes(&json!(99)), stamp(version, mzxid), Applied::Remote)
                .await;
            assert_eq!(again, Ok(Fetched::Current(stamp(3, 10))));
        }
        assert_eq!(*store.load(), json!(2));
        assert!(matches!(rx.try_recv(), Ok(StateEvent::Changed(_))));
        assert!(rx.try_recv().is_err(), "exactly one batch");
    });
}

#[test]
fn big_identical_bytes_move_the_stamp_without_a_batch() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!(null), 4);
        let big = json!({"blob": "x".repeat(BIG)});
        let _ = writer
            .apply_fetched(bytes(&big), stamp(1, 5), Applied::Remote)
            .await;
        let mut rx = store.subscribe_raw();
        let same = writer
            .apply_fetched(bytes(&big), stamp(2, 6), Applied::Remote)
            .await;
        assert_eq!(same, Ok(Fetched::Applied(stamp(2, 6))));
        assert_eq!(store.stamp(), stamp(2, 6));
        assert_eq!(store.load().json(), &big);
        assert!(rx.try_recv().is_err(), "no change, no batch");
    });
}

#[test]
fn a_small_plain_payload_is_kept_as_text_a_large_one_with_its_tree_a_compressed_one_as_its_tree() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!(null), 4);
        let holds_text = || store.shared.local.load().json.holds_text();
        writer
            .apply_fetched(bytes(&json!({"a": 1})), stamp(1, 5), Applied::Remote)
            .await
            .expect("applied");
        assert!(holds_text(), "a small fetched payload");
        assert_eq!(store.load().json(), &json!({"a": 1}));
        assert!(!holds_text(), "json() keeps the tree it parsed");

        let big = json!({"blob": "x".repeat(json::TEXT_BELOW)});
        writer
            .apply_fetched(bytes(&big), stamp(2, 6), Applied::Remote)
            .await
            .expect("applied");
        let kept = store.shared.local.load_full();
        assert!(
            kept.json.text().is_some() && !kept.json.holds_text(),
            "a payload of TEXT_BELOW bytes or more keeps its tree beside its text"
        );
        drop(kept);

        let frame = codec::encode(&json!({"z": 1}), codec::Compression::ZSTD).expect("frame");
        writer
            .apply_fetched(frame, stamp(3, 7), Applied::Remote)
            .await
            .expect("applied");
        assert!(
            store.shared.local.load().json.text().is_none(),
            "a zstd frame keeps only its tree"
        );
        assert_eq!(*store.load(), json!({"z": 1}));

        // An acknowledged write: the bytes written are kept, and the diff against a copy held
        // as text is right.
        let mut changes = Changes::new(
            store.subscribe_raw(),
            store.snapshot_source(),
            "me".into(),
            CancellationToken::new(),
        );
        // The first write comes with the tree of the version it was made from; the second with a
        // tree of another version (its mzxid says so), which the diff must not use.
        for (value, version, current_base) in [
            (json!({"z": 2}), 4, true),
            (json!({"z": 2, "y": [1]}), 5, false),
        ] {
            let (done, _answered) = oneshot::channel();
            let base = if current_base {
                (store.stamp().mzxid, store.load().json_tree())
            } else {
                (store.stamp().mzxid - 1, Arc::new(json!({"stale": true})))
            };
            writer
                .apply_acknowledged(Box::new(Acknowledged {
                    value: value.clone(),
                    stored: Some(bytes(&value)),
                    base,
                    json: value,
                    stamp: stamp(version, version as i64 + 4),
                    size: 10,
                    compressed: false,
                    writer: "me".into(),
                    done,
                }))
                .await;
            assert!(holds_text(), "a small acknowledged write");
        }
        let mut seen = Vec::new();
        for _ in 0..2 {
            match changes.next().await {
                Some(StateEvent::Changed(batch)) => seen.push(batch.changes.clone()),
                other => panic!("expected a batch, got {other:?}"),
            }
        }
        let mut replayed = json!({"z": 1});
        for batch in &seen {
            diff::apply(&mut replayed, batch).expect("replays");
        }
        assert_eq!(replayed, json!({"z": 2, "y": [1]}));
        assert_eq!(seen[1].len(), 1, "only y was added: {:?}", seen[1]);
    });
}

#[test]
fn an_acknowledged_write_is_applied_once_and_answered() {
    runtime().block_on(async {
        let (writer, store) = store_of(json!({"n": 0}), 4);
        let feed = writer.feed();
        let cancel = CancellationToken::new();
        let mut changes = Changes::new(
            store.subscribe_raw(),
            store.snapshot_source(),
            "me".into(),
            cancel.clone(),
        );
        let serve = tokio::spawn(async move {
            let mut writer = writer;
            loop {
                if let Request::Acknowledged(ack) = writer.next_request().await {
                    writer.apply_acknowledged(ack).await;
                }
            }
        });
        feed.write_started()
            .acknowledge(
                json!({"n": 1}),
                json!({"n": 1}),
                stamp(1, 5),
                None,
                "me".into(),
                (0, Arc::new(json!(null))),
            )
            .await
            .expect("acknowledged");
        assert_eq!(store.stamp(), stamp(1, 5));
        match changes.next().await {
            Some(StateEvent::Changed(batch)) => {
                assert_eq!(batch.origin, Origin::Local);
                assert_eq!(batch.version, 1);
            }
            other => panic!("expected a batch, got {other:?}"),
        }
        // Another instance's write on the same copy is remote to this subscriber.
        feed.write_started()
            .acknowledge(
                json!({"n": 2}),
                json!({"n": 2}),
                stamp(2, 6),
                None,
                "sibling".into(),
                (0, Arc::new(json!(null))),
            )
            .await
            .expect("acknowledged");
        match changes.next().await {
            Some(StateEvent::Changed(batch)) => assert_eq!(batch.origin, Origin::Remote),
            other => panic!("expected a batch, got {other:?}"),
        }
        // A stale acknowledgement (the watch brought a newer write first) is answered, not applied.
        feed.write_started()
            .acknowledge(
                json!({"n": 9}),
                json!({"n": 9}),
                stamp(1, 5),
                None,
                "me".into(),
                (0, Arc::new(json!(null))),
            )
            .await
            .expect("answered");
        assert_eq!(*store.load(), json!({"n": 2}));
        cancel.cancel();
        assert!(
            changes.next().await.is_none(),
            "the handle closed: the stream ends"
        );
        serve.abort();
    });
}

#[test]
fn a_lagging_subscriber_restarts_from_a_shared_snapshot() {
    runtime().block_on(async {
        let (mut writer, store) = store_of(json!(0), 2);
        let mut changes = Changes::new(
            store.subscribe_raw(),
            store.snapshot_source(),
            "me".into(),
            CancellationToken::new(),
        );
        for i in 1..=5 {
            let _ = writer
                .apply_fetched(bytes(&json!(i)), stamp(i, i as i64 + 1), Applied::Remote)
                .await;
        }
        // A reader asks for the tree: the copy keeps it from then on, and shares it.
        assert_eq!(store.load().json(), &json!(5));
        match changes.next().await {
            Some(StateEvent::Lagged {
                missed,
                version,
                value,
            }) => {
                assert_eq!(missed, 3);
                assert_eq!(version, 5);
                assert!(
                    Arc::ptr_eq(&value, store.shared.local.load().json.tree()),
                    "no deep clone"
                );
            }
            other => panic!("expected Lagged, got {other:?}"),
        }
        let _ = writer
            .apply_fetched(bytes(&json!(6)), stamp(6, 7), Applied::Remote)
            .await;
        match changes.next().await {
            Some(StateEvent::Changed(batch)) => assert_eq!(batch.version, 6),
            other => panic!("expected the next batch, got {other:?}"),
        }
    });
}

#[test]
fn an_abandoned_write_tells_the_writer() {
    runtime().block_on(async {
        let (mut writer, _) = store_of(json!(0), 2);
        let feed = writer.feed();
        drop(feed.write_started());
        assert!(matches!(writer.next_request().await, Request::WriteStarted));
        assert!(matches!(
            writer.next_request().await,
            Request::WriteAbandoned
        ));
    });
}

#[test]
fn a_large_payload_written_by_zkstate_is_diffed_as_text_and_parsed_only_when_asked() {
    runtime().block_on(async {
        let records = |changed: usize| {
            Value::Array(
                (0..2_000)
                    .map(|i| json!({"id": i, "n": usize::from(i == changed), "tag": "padding"}))
                    .collect(),
            )
        };
        let (mut writer, store) = store_of(json!(null), 8);
        let first = records(usize::MAX);
        writer
            .apply_fetched(bytes(&first), stamp(1, 5), Applied::Remote)
            .await
            .expect("applied");
        assert!(
            store.shared.local.load().json.canonical_text().is_some(),
            "canonical text is kept"
        );
        let mut changes = Changes::new(
            store.subscribe_raw(),
            store.snapshot_source(),
            "me".into(),
            CancellationToken::new(),
        );

        let second = records(1_234);
        writer
            .apply_fetched(bytes(&second), stamp(2, 6), Applied::Remote)
            .await
            .expect("applied");
        assert_eq!(*store.load(), second, "T read from the text");
        let batch = match changes.next().await {
            Some(StateEvent::Changed(batch)) => batch,
            other => panic!("expected a batch, got {other:?}"),
        };
        assert_eq!(batch.changes, diff::diff(&first, &second));
        assert_eq!(batch.changes[0].path().to_string(), "[1234].n");
        let copy = store.shared.local.load_full();
        assert!(
            batch.shares(&copy.json) && copy.json.canonical_text().is_some(),
            "diffed as text: the batch's value is the copy's text, parsed once for both"
        );
        assert_eq!(batch.value(), &second);
        assert!(!copy.json.holds_text(), "the copy has the tree too");
        drop(copy);

        // The same bytes again (another write of them): only the stamp moves.
        writer
            .apply_fetched(bytes(&second), stamp(3, 7), Applied::Remote)
            .await
            .expect("applied");
        assert_eq!(store.stamp().version, 3);
        assert_eq!(*store.load(), second);

        // Another program's bytes (not canonical): parsed and diffed as trees, the tree kept.
        let third = records(7);
        let spaced = serde_json::to_string_pretty(&third)
            .expect("json")
            .into_bytes();
        writer
            .apply_fetched(spaced, stamp(4, 8), Applied::Remote)
            .await
            .expect("applied");
        assert!(store.shared.local.load().json.text().is_none());
        match changes.next().await {
            Some(StateEvent::Changed(batch)) => {
                assert_eq!(batch.changes, diff::diff(&second, &third));
                assert_eq!(batch.value(), &third);
            }
            other => panic!("expected a batch, got {other:?}"),
        }
    });
}
