//! Unit and property tests of the diff engine.
use super::value::{deep_clone, drop_iteratively, scalars_equal};
use super::*;
use proptest::prelude::*;
use serde_json::json;
use serde_json::Map;

fn kp(segments: &[PathSegment]) -> KeyPath {
    segments.iter().cloned().collect()
}

fn key(k: &str) -> PathSegment {
    PathSegment::Key(k.to_string())
}

fn idx(i: usize) -> PathSegment {
    PathSegment::Index(i)
}

fn added(path: &[PathSegment], value: Value) -> Change {
    Change::Added {
        path: kp(path),
        value,
    }
}

fn removed(path: &[PathSegment], value: Value) -> Change {
    Change::Removed {
        path: kp(path),
        value,
    }
}

fn modified(path: &[PathSegment], old: Value, new: Value) -> Change {
    Change::Modified {
        path: kp(path),
        old,
        new,
    }
}

/// Diffs, checks that applying the diff reproduces `new`, and returns the diff.
fn checked_diff(old: &Value, new: &Value) -> Vec<Change> {
    let changes = diff(old, new);
    let mut copy = old.clone();
    assert_eq!(apply(&mut copy, &changes), Ok(()), "{changes:?}");
    assert_eq!(&copy, new, "{changes:?}");
    changes
}

#[test]
fn seed_scenario() {
    let old = json!(["systemd*", "rsync*"]);
    let new = json!(["systemd*", "rsync*", "firefox*"]);
    assert_eq!(
        checked_diff(&old, &new),
        vec![added(&[idx(2)], json!("firefox*"))]
    );
    assert_eq!(diff(&old, &new)[0].path().to_string(), "[2]");
}

#[test]
fn equal_values_have_no_changes() {
    for v in [
        json!(null),
        json!(1),
        json!("x"),
        json!([1, [2]]),
        json!({"a": {"b": [1, {}]}}),
    ] {
        assert_eq!(diff(&v, &v.clone()), vec![]);
    }
}

#[test]
fn object_keys() {
    let old = json!({"b": 1, "a": 1, "c": {"x": 1}});
    let new = json!({"d": 4, "a": 2, "c": {"x": 1, "y": 2}});
    assert_eq!(
        checked_diff(&old, &new),
        vec![
            modified(&[key("a")], json!(1), json!(2)),
            removed(&[key("b")], json!(1)),
            added(&[key("c"), key("y")], json!(2)),
            added(&[key("d")], json!(4)),
        ]
    );
}

#[test]
fn arrays_grow_in_increasing_order() {
    assert_eq!(
        checked_diff(&json!([1]), &json!([2, 3, 4])),
        vec![
            modified(&[idx(0)], json!(1), json!(2)),
            added(&[idx(1)], json!(3)),
            added(&[idx(2)], json!(4))
        ]
    );
}

#[test]
fn arrays_shrink_in_decreasing_order() {
    assert_eq!(
        checked_diff(&json!([1, 2, 3, 4]), &json!([1, 5])),
        vec![
            modified(&[idx(1)], json!(2), json!(5)),
            removed(&[idx(3)], json!(4)),
            removed(&[idx(2)], json!(3)),
        ]
    );
    assert_eq!(
        checked_diff(&json!([1, 2]), &json!([])),
        vec![removed(&[idx(1)], json!(2)), removed(&[idx(0)], json!(1))]
    );
}

#[test]
fn nested_arrays_and_objects_recurse() {
    let old = json!({"hosts": [{"name": "a", "tags": ["x"]}, {"name": "b"}]});
    let new = json!({"hosts": [{"name": "a", "tags": ["x", "y"]}, {"name": "c"}]});
    assert_eq!(
        checked_diff(&old, &new),
        vec![
            added(&[key("hosts"), idx(0), key("tags"), idx(1)], json!("y")),
            modified(&[key("hosts"), idx(1), key("name")], json!("b"), json!("c")),
        ]
    );
}

#[test]
fn type_change_is_one_modified() {
    assert_eq!(
        checked_diff(&json!({"a": {"x": 1}}), &json!({"a": [1]})),
        vec![modified(&[key("a")], json!({"x": 1}), json!([1]))]
    );
    assert_eq!(
        checked_diff(&json!([1]), &json!(["1"])),
        vec![modified(&[idx(0)], json!(1), json!("1"))]
    );
    assert_eq!(
        checked_diff(&json!([{}]), &json!([null])),
        vec![modified(&[idx(0)], json!({}), json!(null))]
    );
    // 1 and 1.0 are different JSON numbers.
    assert_eq!(
        checked_diff(&json!(1), &json!(1.0)),
        vec![modified(&[], json!(1), json!(1.0))]
    );
}

#[test]
fn root_can_be_modified() {
    assert_eq!(
        checked_diff(&json!(1), &json!(2)),
        vec![modified(&[], json!(1), json!(2))]
    );
    assert_eq!(
        checked_diff(&json!({}), &json!([])),
        vec![modified(&[], json!({}), json!([]))]
    );
    assert_eq!(diff(&json!(null), &json!(null)), vec![]);
}

#[test]
fn apply_rules() {
    let mut v = json!({"a": [1, 2], "o": {}});
    let changes = [
        added(&[key("a"), idx(0)], json!(0)),
        added(&[key("a"), idx(3)], json!(3)),
        added(&[key("o"), key("k")], json!("v")),
        removed(&[key("a"), idx(1)], json!(1)),
        modified(&[key("o"), key("k")], json!("v"), json!("w")),
    ];
    assert_eq!(apply(&mut v, &changes), Ok(()));
    assert_eq!(v, json!({"a": [0, 2, 3], "o": {"k": "w"}}));
    assert_eq!(
        apply(&mut v, &[modified(&[], json!(null), json!(7))]),
        Ok(())
    );
    assert_eq!(v, json!(7));
}

#[test]
fn apply_errors_name_the_path() {
    let base = json!({"a": [1], "s": "x"});
    let try_apply = |change: Change| {
        let mut v = base.clone();
        apply(
            &mut v,
            &[modified(&[key("a"), idx(0)], json!(1), json!(2)), change],
        )
    };
    let not_found = |path: &[PathSegment]| {
        Err(ApplyError::NotFound {
            index: 1,
            path: kp(path),
        })
    };
    for path in [
        vec![key("missing"), key("x")],
        vec![key("a"), idx(5)],
        vec![key("a"), key("x")],
        vec![key("s"), key("x")],
        vec![idx(0)],
    ] {
        assert_eq!(
            try_apply(modified(&path, json!(0), json!(1))),
            not_found(&path),
            "{path:?}"
        );
        assert_eq!(
            try_apply(removed(&path, json!(0))),
            not_found(&path),
            "{path:?}"
        );
    }
    assert_eq!(
        try_apply(added(&[key("a"), idx(2)], json!(0))),
        not_found(&[key("a"), idx(2)])
    );
    assert_eq!(
        try_apply(added(&[key("x"), key("y")], json!(0))),
        not_found(&[key("x"), key("y")])
    );
    assert_eq!(
        try_apply(added(&[key("s")], json!(0))),
        Err(ApplyError::AlreadyExists {
            index: 1,
            path: kp(&[key("s")])
        })
    );
    assert_eq!(
        try_apply(added(&[], json!(0))),
        Err(ApplyError::Root {
            index: 1,
            kind: "added"
        })
    );
    assert_eq!(
        try_apply(removed(&[], json!(0))),
        Err(ApplyError::Root {
            index: 1,
            kind: "removed"
        })
    );
    let message = try_apply(removed(&[key("a"), idx(5)], json!(0)))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some("change 1: path .a[5] does not exist")
    );
}

#[test]
fn change_serialises_with_a_kind_tag() {
    let change = added(&[key("a"), idx(2)], json!("x"));
    let text = serde_json::to_string(&change).unwrap_or_default();
    assert_eq!(text, r#"{"kind":"added","path":["a",2],"value":"x"}"#);
    let back: Result<Change, _> = serde_json::from_str(&text);
    assert_eq!(back.ok(), Some(change));
    let text = serde_json::to_string(&modified(&[], json!(1), json!(2))).unwrap_or_default();
    assert_eq!(text, r#"{"kind":"modified","path":[],"old":1,"new":2}"#);
}

#[test]
fn deep_clone_matches_clone() {
    let v = json!({"a": [1, {"b": [[], {}, null, "s", 2.5, true]}], "c": {"d": {"e": []}}});
    assert_eq!(deep_clone(&v), v);
    assert_eq!(deep_clone(&json!(3)), json!(3));
    assert_eq!(deep_clone(&json!([])), json!([]));
}

const DEEP: usize = 10_000;

/// `[[[...leaf...]]]` or `{"k":{"k":...leaf...}}`, `depth` containers deep, built in a loop.
fn deep(depth: usize, object: bool, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = if object {
            Value::Object(Map::from_iter([("k".to_string(), v)]))
        } else {
            Value::Array(vec![v])
        };
    }
    v
}

fn drop_changes_iteratively(changes: Vec<Change>) {
    for change in changes {
        match change {
            Change::Added { value, .. } | Change::Removed { value, .. } => drop_iteratively(value),
            Change::Modified { old, new, .. } => {
                drop_iteratively(old);
                drop_iteratively(new);
            }
        }
    }
}

/// Equality without recursion.
fn deep_eq(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (k, v) in x {
                    match y.get(k) {
                        Some(w) => stack.push((v, w)),
                        None => return false,
                    }
                }
            }
            (a, b) if scalars_equal(a, b) => {}
            _ => return false,
        }
    }
    true
}

#[test]
fn deep_values_do_not_overflow() {
    for object in [false, true] {
        let old = deep(DEEP, object, json!(1));
        let new = deep(DEEP, object, json!(2));
        // Every deep value below is dropped by `drop_iteratively`: `Value`'s own drop would
        // overflow the test thread's stack.
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path().len(), DEEP);
        assert!(
            matches!(&changes[0], Change::Modified { old, new, .. } if *old == json!(1) && *new == json!(2))
        );
        let shown = changes[0].path().to_string();
        assert_eq!(shown.len(), if object { 2 * DEEP } else { 3 * DEEP });

        let mut copy = deep_clone(&old);
        assert_eq!(apply(&mut copy, &changes), Ok(()));
        assert!(deep_eq(&copy, &new));
        assert!(diff(&copy, &new).is_empty());
        let same = deep_clone(&old);
        assert!(diff(&old, &same).is_empty());

        // A change of type at the root copies both deep values into the change.
        let other = deep(DEEP, !object, json!(1));
        let retyped = diff(&old, &other);
        assert_eq!(retyped.len(), 1);
        assert!(retyped[0].path().is_root());
        assert!(matches!(&retyped[0], Change::Modified { new, .. } if deep_eq(new, &other)));
        assert_eq!(apply(&mut copy, &retyped), Ok(()));
        assert!(deep_eq(&copy, &other));

        // A deep subtree that is added or removed as a whole.
        let grown = Value::Array(vec![json!(0), deep_clone(&old)]);
        let added = diff(&json!([0]), &grown);
        assert!(matches!(&added[..], [Change::Added { value, .. }] if deep_eq(value, &old)));
        let mut shrunk = deep_clone(&grown);
        let back = diff(&grown, &json!([0]));
        assert_eq!(apply(&mut shrunk, &back), Ok(()));
        assert_eq!(shrunk, json!([0]));

        for changes in [changes, retyped, added, back] {
            drop_changes_iteratively(changes);
        }
        for v in [old, new, same, copy, other, grown] {
            drop_iteratively(v);
        }
    }
}

fn arb_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "a b", ""]).prop_map(String::from)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..3).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(1.0f64), Just(-0.5), any::<f64>()].prop_filter_map(
            "json numbers are finite",
            |f| serde_json::Number::from_f64(f).map(Value::Number)
        ),
        prop::sample::select(vec!["", "x", "firefox*"]).prop_map(Value::from),
        "\\PC{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Edits `value` at a place chosen by `choices`: replaces it, or adds to or removes from it.
fn mutate(value: &mut Value, choices: &[usize], replacement: Value, key: String) {
    let mut node = value;
    let mut choices = choices.iter();
    for &choice in choices.by_ref() {
        let len = match &*node {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        };
        if len == 0 || choice % 4 == 0 {
            break;
        }
        node = match node {
            Value::Array(items) => &mut items[choice % len],
            Value::Object(map) => match map.values_mut().nth(choice % len) {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    let op = choices.next().copied().unwrap_or(0);
    match (node, op % 3) {
        (Value::Array(items), 1) => items.insert(op % (items.len() + 1), replacement),
        (Value::Array(items), 2) if !items.is_empty() => {
            items.remove(op % items.len());
        }
        (Value::Object(map), 1) => {
            map.insert(key, replacement);
        }
        (Value::Object(map), 2) if !map.is_empty() => {
            let first = map.keys().next().cloned().unwrap_or_default();
            map.remove(&first);
        }
        (node, _) => *node = replacement,
    }
}

fn arb_pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        (arb_json(), arb_json()),
        (
            arb_json(),
            prop::collection::vec(any::<usize>(), 0..8),
            arb_json(),
            arb_key()
        )
            .prop_map(|(old, choices, replacement, key)| {
                let mut new = old.clone();
                mutate(&mut new, &choices, replacement, key);
                (old, new)
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn apply_of_diff_gives_new((old, new) in arb_pair()) {
        let changes = diff(&old, &new);
        let mut copy = old.clone();
        prop_assert_eq!(apply(&mut copy, &changes), Ok(()));
        prop_assert_eq!(&copy, &new);
        prop_assert_eq!(changes.is_empty(), old == new);
    }

    #[test]
    fn diff_of_equal_values_is_empty(v in arb_json()) {
        prop_assert!(diff(&v, &v).is_empty());
        prop_assert!(diff(&v, &v.clone()).is_empty());
    }

    #[test]
    fn modified_is_minimal((old, new) in arb_pair()) {
        for change in diff(&old, &new) {
            if let Change::Modified { old, new, path } = change {
                prop_assert_ne!(&old, &new, "at {}", path);
                let both_objects = old.is_object() && new.is_object();
                let both_arrays = old.is_array() && new.is_array();
                prop_assert!(!both_objects && !both_arrays, "container modified at {}", path);
            }
        }
    }

    #[test]
    fn diff_is_deterministic_and_reversible((old, new) in arb_pair()) {
        prop_assert_eq!(diff(&old, &new), diff(&old.clone(), &new.clone()));
        let mut back = new.clone();
        prop_assert_eq!(apply(&mut back, &diff(&new, &old)), Ok(()));
        prop_assert_eq!(back, old);
    }

    #[test]
    fn deep_clone_is_clone(v in arb_json()) {
        prop_assert_eq!(deep_clone(&v), v);
    }
}

/// `value` inside a document large enough that a change to it is a small part of the text,
/// with the pad on either side of it (keys sort: "a" before "x" before "z").
fn padded(value: &Value) -> Value {
    let pad: Vec<Value> = (0..24).map(|i| json!({"id": i, "s": "padding"})).collect();
    json!({"a": pad, "x": [{"in": value}], "z": pad})
}

/// Mutates bytes of `text`: overwrites, inserts and deletes at positions chosen by `edits`.
fn mangle(text: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    const BYTES: &[u8] = b"{}[],:\"\\ 0123456789.-+eEtrufalsn\xc3\xa9\x80";
    let mut out = text.to_vec();
    for &(at, op, byte) in edits {
        let byte = BYTES[usize::from(byte) % BYTES.len()];
        let at = at % (out.len() + 1);
        match op % 3 {
            0 if at < out.len() => out[at] = byte,
            1 if at < out.len() => {
                out.remove(at);
            }
            _ => out.insert(at, byte),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The text diff, when it answers, answers what the tree diff does.
    #[test]
    fn the_text_diff_of_canonical_texts_is_the_tree_diff((old, new) in arb_pair()) {
        for (old, new) in [(old.clone(), new.clone()), (padded(&old), padded(&new))] {
            let (a, b) = (serde_json::to_vec(&old).unwrap(), serde_json::to_vec(&new).unwrap());
            if let Some(changes) = text::diff_texts(&a, &b, 100) {
                prop_assert_eq!(changes, diff(&old, &new));
            }
        }
    }

    /// Whatever the new bytes (another tool's write, a corrupt one), the text diff answers only
    /// for canonical JSON, and then what the tree diff answers.
    #[test]
    fn the_text_diff_vouches_only_for_canonical_json(
        old in arb_json(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let old = padded(&old);
        let a = serde_json::to_vec(&old).unwrap();
        let b = mangle(&a, &edits);
        if let Some(changes) = text::diff_texts(&a, &b, 100) {
            let parsed: Value = serde_json::from_slice(&b).expect("vouched-for text parses");
            prop_assert!(text::is_canonical(&parsed, &b));
            prop_assert_eq!(changes, diff(&old, &parsed));
        }
    }
}

#[test]
fn the_text_diff_answers_for_a_change_in_a_padded_document() {
    // The property tests above only check answers: here the text diff does answer.
    let old = padded(&json!({"k": [1, 2], "s": "x"}));
    let mut new = old.clone();
    new["x"][0]["in"]["k"][1] = json!("two");
    let (a, b) = (
        serde_json::to_vec(&old).unwrap(),
        serde_json::to_vec(&new).unwrap(),
    );
    let changes = text::diff_texts(&a, &b, 100).expect("answers");
    assert_eq!(changes, diff(&old, &new));
    assert_eq!(changes[0].path().to_string(), ".x[0].in.k[1]");
}
