//! Three-way merge: what an update writes when the stored payload holds fields that the state's
//! type does not know (a newer version of the application added them).
//!
//! An update decodes the stored JSON into its `T` (`before`, as `T` serialises it), runs the
//! closure, and serialises the result (`after`). Writing `after` as it is would erase every field
//! that `T` does not know. [`merge`] writes instead the stored JSON with exactly the changes that
//! turned `before` into `after`:
//!
//! * where `before` and `after` are equal, the stored JSON is kept as it is, byte for byte
//!   (unknown fields at any depth, number formats, key order where serde_json keeps one);
//! * objects are merged key by key: a key the closure changed takes its new value (merged in
//!   turn when both are objects or arrays); a key the closure removed goes; a key the closure
//!   added comes; a key `T` does not know stays. A key that `T` fills with a default (absent from
//!   the stored JSON, present in `before`) is written only if the closure changed it;
//! * arrays keep their stored elements where the closure left them equal: the common prefix and
//!   suffix of `before` and `after` are kept as stored, and the elements between are paired by
//!   position (a changed element is merged with the stored one, keeping its unknown fields), the
//!   extra new ones added, the extra old ones removed;
//! * anything else the closure changed (a scalar, or a change of kind) takes the new value.
//!
//! **The rule where the closure's change and an unknown field meet**: an object that the closure
//! replaces by another object is merged key by key, so the unknown keys of the stored object
//! survive (the closure could not see them, so it cannot have meant to remove them). An object
//! that the closure removes, or replaces by something that is not an object (`null`, a number,
//! an array), goes with its unknown keys. An array element that the closure removes goes with its
//! unknown keys; one that shifts position because elements were inserted or removed before it
//! keeps its own.

use serde_json::{Map, Value};

use super::value::{deep_clone, equal_within, EQUALITY_DEPTH};

/// How deep the merge recurses; below this depth the closure's value is taken whole. Payloads
/// decoded from ZooKeeper nest at most 128 levels (serde_json's limit), so this is reached only
/// by values built in memory.
const MERGE_DEPTH: usize = 192;

/// `stored` with the changes that turned `before` into `after` applied; see the module
/// documentation for the rule.
///
/// ```
/// # use serde_json::json;
/// // A version 1 instance knows only `globs`; version 2 added `interval_s`.
/// let stored = json!({"globs": ["systemd*"], "interval_s": 5});
/// let before = json!({"globs": ["systemd*"]});
/// let after = json!({"globs": ["systemd*", "rsync*"]});
/// assert_eq!(
///     zkstate::diff::merge(&stored, &before, &after),
///     json!({"globs": ["systemd*", "rsync*"], "interval_s": 5})
/// );
/// ```
pub fn merge(stored: &Value, before: &Value, after: &Value) -> Value {
    merge_at(stored, before, after, MERGE_DEPTH)
}

fn equal(a: &Value, b: &Value) -> bool {
    // Deeper than the fast path can tell: the walk goes on and compares below.
    equal_within(a, b, EQUALITY_DEPTH) == Some(true)
}

fn merge_at(stored: &Value, before: &Value, after: &Value, depth: usize) -> Value {
    if equal(before, after) {
        return deep_clone(stored);
    }
    let Some(depth) = depth.checked_sub(1) else {
        return deep_clone(after);
    };
    match (stored, before, after) {
        (Value::Object(s), Value::Object(b), Value::Object(a)) => {
            Value::Object(merge_objects(s, b, a, depth))
        }
        (Value::Array(s), Value::Array(b), Value::Array(a)) if s.len() == b.len() => {
            Value::Array(merge_arrays(s, b, a, depth))
        }
        _ => deep_clone(after),
    }
}

fn merge_objects(
    stored: &Map<String, Value>,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    depth: usize,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, s) in stored {
        match (before.get(key), after.get(key)) {
            (Some(b), Some(a)) => {
                out.insert(key.clone(), merge_at(s, b, a, depth));
            }
            // The closure removed it.
            (Some(_), None) => {}
            // Not in `before` (skipped when serialised) but set by the closure.
            (None, Some(a)) => {
                out.insert(key.clone(), deep_clone(a));
            }
            // A field `T` does not know: kept as it is.
            (None, None) => {
                out.insert(key.clone(), deep_clone(s));
            }
        }
    }
    for (key, a) in after {
        if stored.contains_key(key) {
            continue;
        }
        match before.get(key) {
            // A default that `T` filled in and the closure left alone: not written.
            Some(b) if equal(a, b) => {}
            _ => {
                out.insert(key.clone(), deep_clone(a));
            }
        }
    }
    out
}

/// `stored[i]` is the stored form of `before[i]` (same length).
fn merge_arrays(stored: &[Value], before: &[Value], after: &[Value], depth: usize) -> Vec<Value> {
    let prefix = before
        .iter()
        .zip(after)
        .take_while(|(b, a)| equal(b, a))
        .count();
    let suffix = before[prefix..]
        .iter()
        .rev()
        .zip(after[prefix..].iter().rev())
        .take_while(|(b, a)| equal(b, a))
        .count();
    let (b_mid, a_mid) = (
        &before[prefix..before.len() - suffix],
        &after[prefix..after.len() - suffix],
    );
    let s_mid = &stored[prefix..stored.len() - suffix];
    let mut out = Vec::with_capacity(after.len());
    out.extend(stored[..prefix].iter().map(deep_clone));
    for (i, a) in a_mid.iter().enumerate() {
        match (s_mid.get(i), b_mid.get(i)) {
            (Some(s), Some(b)) => out.push(merge_at(s, b, a, depth)),
            _ => out.push(deep_clone(a)),
        }
    }
    out.extend(stored[stored.len() - suffix..].iter().map(deep_clone));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_old_version_keeps_the_fields_it_does_not_know() {
        let stored = json!({"globs": ["systemd*"], "interval_s": 5});
        let before = json!({"globs": ["systemd*"]});
        let after = json!({"globs": ["systemd*", "rsync*"]});
        assert_eq!(
            merge(&stored, &before, &after),
            json!({"globs": ["systemd*", "rsync*"], "interval_s": 5})
        );
    }

    #[test]
    fn unknown_fields_survive_at_any_depth() {
        let stored = json!({"a": {"known": 1, "new": {"deep": [1, 2]}}, "list": [{"n": "x", "extra": true}]});
        let before = json!({"a": {"known": 1}, "list": [{"n": "x"}]});
        let after = json!({"a": {"known": 2}, "list": [{"n": "y"}]});
        assert_eq!(
            merge(&stored, &before, &after),
            json!({"a": {"known": 2, "new": {"deep": [1, 2]}}, "list": [{"n": "y", "extra": true}]})
        );
    }

    #[test]
    fn an_object_replaced_by_an_object_keeps_its_unknown_keys() {
        let stored = json!({"cfg": {"a": 1, "unknown": "kept"}});
        let before = json!({"cfg": {"a": 1}});
        let after = json!({"cfg": {"b": 2}});
        assert_eq!(
            merge(&stored, &before, &after),
            json!({"cfg": {"b": 2, "unknown": "kept"}})
        );
    }

    #[test]
    fn an_object_removed_or_replaced_by_a_non_object_goes_with_its_unknown_keys() {
        let stored = json!({"cfg": {"a": 1, "unknown": "gone"}, "other": {"x": 1, "u": 2}});
        let before = json!({"cfg": {"a": 1}, "other": {"x": 1}});
        let after = json!({"cfg": null});
        assert_eq!(merge(&stored, &before, &after), json!({"cfg": null}));
    }

    #[test]
    fn array_elements_keep_their_own_unknown_fields_when_others_are_inserted_or_removed() {
        let stored = json!([{"n": "a", "u": 1}, {"n": "b", "u": 2}, {"n": "c", "u": 3}]);
        let before = json!([{"n": "a"}, {"n": "b"}, {"n": "c"}]);
        // Remove the first element.
        let after = json!([{"n": "b"}, {"n": "c"}]);
        assert_eq!(
            merge(&stored, &before, &after),
            json!([{"n": "b", "u": 2}, {"n": "c", "u": 3}])
        );
        // Insert one at the front.
        let after = json!([{"n": "z"}, {"n": "a"}, {"n": "b"}, {"n": "c"}]);
        assert_eq!(
            merge(&stored, &before, &after),
            json!([{"n": "z"}, {"n": "a", "u": 1}, {"n": "b", "u": 2}, {"n": "c", "u": 3}])
        );
        // Change the middle one in place.
        let after = json!([{"n": "a"}, {"n": "B"}, {"n": "c"}]);
        assert_eq!(
            merge(&stored, &before, &after),
            json!([{"n": "a", "u": 1}, {"n": "B", "u": 2}, {"n": "c", "u": 3}])
        );
    }

    #[test]
    fn defaults_filled_in_by_the_type_are_not_written_unless_changed() {
        let stored = json!({"a": 1});
        let before = json!({"a": 1, "defaulted": 0});
        let after = json!({"a": 2, "defaulted": 0});
        assert_eq!(merge(&stored, &before, &after), json!({"a": 2}));
        let after = json!({"a": 1, "defaulted": 7});
        assert_eq!(
            merge(&stored, &before, &after),
            json!({"a": 1, "defaulted": 7})
        );
    }

    #[test]
    fn a_change_of_kind_takes_the_new_value() {
        let stored = json!({"v": {"x": 1, "u": 2}});
        let before = json!({"v": {"x": 1}});
        let after = json!({"v": [1, 2]});
        assert_eq!(merge(&stored, &before, &after), json!({"v": [1, 2]}));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-50i64..50).prop_map(Value::from),
            "[a-c]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-e]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A type that knows every field (`T` = `Value`): the merge is exactly the new value.
        #[test]
        fn with_nothing_unknown_the_merge_is_the_new_value(stored in arb_json(), after in arb_json()) {
            prop_assert_eq!(merge(&stored, &stored, &after), after);
        }

        /// A closure that changes nothing writes the stored JSON unchanged.
        #[test]
        fn an_unchanged_value_keeps_the_stored_json(stored in arb_json(), before in arb_json()) {
            prop_assert_eq!(merge(&stored, &before, &before), stored);
        }

        /// Random objects with keys the type does not know: an update that changes one known
        /// field leaves every other key byte-identical, and changes that field.
        #[test]
        fn changing_one_known_field_leaves_every_other_key_byte_identical(
            known in prop::collection::btree_map("k[a-d]", arb_json(), 1..5),
            unknown in prop::collection::btree_map("u[a-d]", arb_json(), 0..5),
            pick in any::<prop::sample::Index>(),
            new_value in arb_json(),
        ) {
            let stored: Map<String, Value> = known.iter().chain(&unknown)
                .map(|(k, v)| (k.clone(), v.clone())).collect();
            let before: Map<String, Value> = known.clone().into_iter().collect();
            let changed = known.keys().nth(pick.index(known.len())).cloned().unwrap_or_default();
            let mut after = before.clone();
            after.insert(changed.clone(), new_value.clone());
            let merged = merge(&Value::Object(stored.clone()), &Value::Object(before), &Value::Object(after));
            let Value::Object(merged) = merged else { panic!("an object merges to an object") };
            for (key, value) in &stored {
                if *key == changed {
                    continue;
                }
                let bytes = serde_json::to_vec(value).unwrap_or_default();
                let merged_bytes = serde_json::to_vec(&merged[key]).unwrap_or_default();
                prop_assert_eq!(bytes, merged_bytes, "key {}", key);
            }
            prop_assert_eq!(merged.len(), stored.len());
            // The changed field holds the new value, merged with its unknown parts (none here).
            prop_assert_eq!(&merged[&changed], &new_value);
        }
    }
}
