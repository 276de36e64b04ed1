//! One test per row of [`plan`]'s table.

use serde_json::{json, Value};

use super::*;
use crate::store::codec;

const CZXID: i64 = 0x42;

fn retention(max_versions: usize, max_bytes: usize) -> Retention {
    Retention {
        max_versions,
        max_bytes,
    }
}

fn commit<'a>(old: &'a Value, new: &'a Value, at: i32) -> Commit<'a> {
    Commit {
        old: Some(old),
        new,
        at,
        czxid: CZXID,
        at_mtime: Some(1_700_000_000_000),
        author: Author {
            id: Some("w1".into()),
            ..Author::default()
        },
        message: Some("why".into()),
        rollback_of: None,
        room: 64 * 1024,
        retention: retention(100, 8 << 20),
    }
}

fn name(version: i32, czxid: i64, bytes: usize) -> String {
    EntryName {
        version,
        czxid,
        bytes,
    }
    .render()
}

fn stored(data: &[u8]) -> Stored {
    codec::decode::<Stored>(data, crate::options::Limits::default())
        .expect("an entry decodes")
        .0
}

fn versions(plan: &Plan) -> Vec<i32> {
    plan.create
        .iter()
        .map(|(n, _)| EntryName::parse(n).expect("a name").version)
        .collect()
}

#[test]
fn no_history_directory_creates_it_then_the_entry() {
    let (old, new) = (json!({"a": 1}), json!({"a": 2}));
    let plan = plan(None, &commit(&old, &new, 3));
    assert!(plan.create_dir);
    assert_eq!(versions(&plan), vec![4]);
    assert!(plan.delete.is_empty());
}

#[test]
fn a_name_that_is_not_an_entry_is_left_alone() {
    let (old, new) = (json!(1), json!(2));
    let listing = vec!["README".to_string(), name(3, CZXID, 10)];
    let plan = plan(Some(&listing), &commit(&old, &new, 3));
    assert!(!plan.create_dir);
    assert!(plan.delete.is_empty());
}

#[test]
fn another_incarnation_or_a_newer_version_is_deleted() {
    let (old, new) = (json!(1), json!(2));
    let other = name(2, CZXID + 1, 10);
    let above = name(9, CZXID, 10);
    let listing = vec![other.clone(), name(3, CZXID, 10), above.clone()];
    let plan = plan(Some(&listing), &commit(&old, &new, 3));
    assert_eq!(plan.delete, vec![other, above]);
    assert_eq!(versions(&plan), vec![4]);
}

#[test]
fn no_entry_of_this_incarnation_starts_the_history() {
    let (old, new) = (json!({"a": 1}), json!({"a": 2}));
    let plan = plan(Some(&[]), &commit(&old, &new, 7));
    assert_eq!(versions(&plan), vec![8]);
    let entry = stored(&plan.create[0].1);
    assert_eq!(entry.base, Some(7));
    assert!(!entry.outside);
}

#[test]
fn the_new_entry_undoes_the_write() {
    let (old, new) = (json!({"a": 1, "b": [1]}), json!({"a": 2, "b": [1, 2]}));
    let listing = vec![name(3, CZXID, 10)];
    let plan = plan(Some(&listing), &commit(&old, &new, 3));
    assert_eq!(versions(&plan), vec![4]);
    let entry = stored(&plan.create[0].1);
    assert_eq!(entry.message.as_deref(), Some("why"));
    let undo: json_patch::Patch = serde_json::from_value(entry.undo.expect("an undo")).unwrap();
    let mut value = new.clone();
    json_patch::patch(&mut value, &undo).unwrap();
    assert_eq!(value, old);
    let changes = entry.changes.expect("a summary");
    assert_eq!(
        (changes.added, changes.modified, changes.removed),
        (1, 1, 0)
    );
    // The name's size is the data's.
    let parsed = EntryName::parse(&plan.create[0].0).unwrap();
    assert_eq!(parsed.bytes, plan.create[0].1.len());
}

#[test]
fn an_older_newest_entry_records_the_outside_write_first() {
    let (old, new) = (json!(1), json!(2));
    let listing = vec![name(3, CZXID, 10)];
    let plan = plan(Some(&listing), &commit(&old, &new, 6));
    assert_eq!(versions(&plan), vec![6, 7]);
    let outside = stored(&plan.create[0].1);
    assert!(outside.outside);
    assert_eq!(outside.time_ms, Some(1_700_000_000_000));
    assert_eq!((outside.base, outside.undo), (None, None));
    assert_eq!(stored(&plan.create[1].1).base, Some(6));
}

#[test]
fn the_oldest_go_past_the_count_limit() {
    let (old, new) = (json!(1), json!(2));
    let listing: Vec<String> = (1..=5).map(|v| name(v, CZXID, 10)).collect();
    let mut c = commit(&old, &new, 5);
    c.retention = retention(3, 1 << 20);
    let plan = plan(Some(&listing), &c);
    assert_eq!(
        plan.delete,
        vec![name(1, CZXID, 10), name(2, CZXID, 10), name(3, CZXID, 10)]
    );
}

#[test]
fn the_oldest_go_past_the_size_limit_but_never_the_new_entry() {
    let (old, new) = (json!(1), json!(2));
    let listing: Vec<String> = (1..=3).map(|v| name(v, CZXID, 400)).collect();
    let mut c = commit(&old, &new, 3);
    c.retention = retention(100, 900);
    let plan = plan(Some(&listing), &c);
    assert_eq!(plan.delete, vec![name(1, CZXID, 400), name(2, CZXID, 400)]);
    c.retention = retention(100, 1);
    let plan = super::plan(Some(&listing), &c);
    assert_eq!(plan.delete.len(), 3);
    assert_eq!(versions(&plan), vec![4]);
}

#[test]
fn an_undo_too_large_for_the_request_is_dropped() {
    // Text that zstd cannot shrink much: an LCG's digits.
    let mut seed: u64 = 7;
    let noise: String = (0..50_000)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + (seed >> 59) as u8)
        })
        .collect();
    let old = json!({ "big": noise });
    let new = json!({"big": "y"});
    let mut c = commit(&old, &new, 1);
    c.room = 2_000;
    let plan = plan(Some(&[]), &c);
    let entry = stored(&plan.create[0].1);
    assert!(entry.undo_dropped);
    assert_eq!((entry.undo, entry.base), (None, None));
    assert!(plan.create[0].1.len() <= 2_000);
}

#[test]
fn deletes_are_capped() {
    let (old, new) = (json!(1), json!(2));
    let listing: Vec<String> = (0..500).map(|v| name(v, CZXID + 1, 10)).collect();
    let plan = plan(Some(&listing), &commit(&old, &new, 3));
    assert_eq!(plan.delete.len(), MAX_DELETES);
}

#[test]
fn large_entries_are_compressed() {
    let old = json!({"list": (0..2000).collect::<Vec<_>>()});
    let new = json!({"list": []});
    let plan = plan(Some(&[]), &commit(&old, &new, 1));
    assert!(codec::is_compressed(&plan.create[0].1));
    assert!(stored(&plan.create[0].1).undo.is_some());
}

#[test]
fn an_unknown_old_value_gives_an_entry_without_undo() {
    let (old, new) = (json!(1), json!(2));
    let mut c = commit(&old, &new, 1);
    c.old = None;
    let plan = plan(Some(&[]), &c);
    let entry = stored(&plan.create[0].1);
    assert_eq!(
        (entry.undo, entry.base, entry.undo_dropped),
        (None, None, false)
    );
}
