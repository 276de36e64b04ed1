//! The diff engine: the changes between two JSON values, and applying them.
//!
//! [`diff`] compares two values structurally:
//! * objects key by key, in sorted key order: a key only in the new value is [`Change::Added`],
//!   one only in the old value [`Change::Removed`], one in both is compared in turn;
//! * arrays index by index over their common length; extra new elements are `Added` in increasing
//!   index order, missing ones `Removed` in *decreasing* index order, so that applying the changes
//!   one after the other is valid;
//! * anything else (scalars, or a change of type) that differs is one [`Change::Modified`].
//!
//! Both [`diff`] and [`apply`] walk values with an explicit stack, so arbitrarily deep values do
//! not overflow the thread's stack.
//!
//! ```
//! # use serde_json::json;
//! # use zkstate::diff::{apply, diff, Change};
//! let old = json!(["systemd*", "rsync*"]);
//! let new = json!(["systemd*", "rsync*", "firefox*"]);
//! let changes = diff(&old, &new);
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes[0].path().to_string(), "[2]");
//! let mut copy = old.clone();
//! apply(&mut copy, &changes).unwrap();
//! assert_eq!(copy, new);
//! ```

mod path;

use serde_json::{Map, Value};

pub use self::path::{KeyPath, PathSegment};

/// One change between two JSON values.
///
/// Serialised with a `kind` tag: `{"kind":"added","path":["a",0],"value":1}`,
/// `{"kind":"removed",...,"value":...}`, `{"kind":"modified",...,"old":...,"new":...}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A key or array element that only the new value has.
    Added {
        /// Where.
        path: KeyPath,
        /// The new key's or element's value.
        value: Value,
    },
    /// A key or array element that only the old value has.
    Removed {
        /// Where.
        path: KeyPath,
        /// The value it had.
        value: Value,
    },
    /// A place whose value differs and is not an object or array in both values (a scalar that
    /// changed, or a change of type). Never has `old == new`.
    Modified {
        /// Where.
        path: KeyPath,
        /// The value before.
        old: Value,
        /// The value after.
        new: Value,
    },
}

impl Change {
    /// Where the change happened.
    pub fn path(&self) -> &KeyPath {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Modified { path, .. } => path,
        }
    }
}

/// Errors from [`apply`]: the changes do not fit the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The path, or its parent for an addition, does not exist in the value (a missing key, an
    /// index out of range, or a step into a value of the wrong kind).
    #[error("change {index}: path {path} does not exist")]
    NotFound {
        /// The 0-based position of the change in the list.
        index: usize,
        /// The change's path.
        path: KeyPath,
    },
    /// An addition at an object key that already exists.
    #[error("change {index}: cannot add {path}, it already exists")]
    AlreadyExists {
        /// The 0-based position of the change in the list.
        index: usize,
        /// The change's path.
        path: KeyPath,
    },
    /// An addition or removal of the root itself; only a modification can replace the root.
    #[error("change {index}: the root cannot be {kind}, only modified")]
    Root {
        /// The 0-based position of the change in the list.
        index: usize,
        /// `added` or `removed`.
        kind: &'static str,
    },
}

/// The changes that turn `old` into `new`, in an order that [`apply`] can replay; empty when the
/// values are equal.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    /// A path step borrowed from the values: owned only when it enters the path or a change.
    #[derive(Clone, Copy)]
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }

    impl Step<'_> {
        fn owned(self) -> PathSegment {
            match self {
                Step::Key(key) => PathSegment::Key(key.to_string()),
                Step::Index(i) => PathSegment::Index(i),
            }
        }
    }

    enum Work<'a> {
        /// Compare two values at the current path plus `step` (none for the root).
        Compare(Option<Step<'a>>, &'a Value, &'a Value),
        /// Leave a container entered by a `Compare`.
        Leave,
        Added(Step<'a>, &'a Value),
        Removed(Step<'a>, &'a Value),
    }

    /// Whether a map's keys iterate in sorted order: always, unless some crate in the build
    /// enabled serde_json's `preserve_order`.
    fn sorted_keys(map: &serde_json::Map<String, Value>) -> bool {
        map.keys().zip(map.keys().skip(1)).all(|(x, y)| x < y)
    }

    let mut changes = Vec::new();
    // One path shared by the whole walk and only cloned into emitted changes: a path per work
    // item would cost O(depth²) on deep values.
    let mut path = KeyPath::root();
    // A stack pops last-in first, so each container's work is pushed in reverse of the order
    // in which its changes must come out.
    let mut stack = vec![Work::Compare(None, old, new)];
    while let Some(work) = stack.pop() {
        match work {
            Work::Leave => {
                path.pop();
            }
            Work::Added(step, value) => {
                changes.push(Change::Added {
                    path: path.child(step.owned()),
                    value: deep_clone(value),
                });
            }
            Work::Removed(step, value) => {
                changes.push(Change::Removed {
                    path: path.child(step.owned()),
                    value: deep_clone(value),
                });
            }
            Work::Compare(step, old, new) => match (old, new) {
                _ if std::ptr::eq(old, new) => {}
                (Value::Object(a), Value::Object(b)) => {
                    if let Some(step) = step {
                        path.push(step.owned());
                        stack.push(Work::Leave);
                    }
                    if sorted_keys(a) && sorted_keys(b) {
                        // Merge the two sorted key lists from the back, without allocating.
                        let (mut xs, mut ys) =
                            (a.iter().rev().peekable(), b.iter().rev().peekable());
                        loop {
                            match (xs.peek(), ys.peek()) {
                                (Some(&(ka, x)), Some(&(kb, y))) => match ka.cmp(kb) {
                                    std::cmp::Ordering::Equal => {
                                        if equal_within(x, y, EQUALITY_DEPTH) != Some(true) {
                                            stack.push(Work::Compare(Some(Step::Key(ka)), x, y));
                                        }
                                        xs.next();
                                        ys.next();
                                    }
                                    std::cmp::Ordering::Greater => {
                                        stack.push(Work::Removed(Step::Key(ka), x));
                                        xs.next();
                                    }
                                    std::cmp::Ordering::Less => {
                                        stack.push(Work::Added(Step::Key(kb), y));
                                        ys.next();
                                    }
                                },
                                (Some(&(ka, x)), None) => {
                                    stack.push(Work::Removed(Step::Key(ka), x));
                                    xs.next();
                                }
                                (None, Some(&(kb, y))) => {
                                    stack.push(Work::Added(Step::Key(kb), y));
                                    ys.next();
                                }
                                (None, None) => break,
                            }
                        }
                    } else {
                        let mut keys: Vec<&String> = a
                            .keys()
                            .chain(b.keys().filter(|k| !a.contains_key(*k)))
                            .collect();
                        keys.sort_unstable();
                        for key in keys.into_iter().rev() {
                            let step = Step::Key(key);
                            match (a.get(key), b.get(key)) {
                                (Some(x), Some(y)) => stack.push(Work::Compare(Some(step), x, y)),
                                (None, Some(y)) => stack.push(Work::Added(step, y)),
                                (Some(x), None) => stack.push(Work::Removed(step, x)),
                                // Every key came from `a` or `b`.
                                (None, None) => {}
                            }
                        }
                    }
                }
                (Value::Array(a), Value::Array(b)) => {
                    if let Some(step) = step {
                        path.push(step.owned());
                        stack.push(Work::Leave);
                    }
                    let common = a.len().min(b.len());
                    // Output order: compares 0..common, additions ascending, removals descending.
                    for (i, x) in a.iter().enumerate().skip(common) {
                        stack.push(Work::Removed(Step::Index(i), x));
                    }
                    for (i, y) in b.iter().enumerate().skip(common).rev() {
                        stack.push(Work::Added(Step::Index(i), y));
                    }
                    for (i, (x, y)) in a.iter().zip(b).enumerate().rev() {
                        // Equal elements, the common case, need no trip through the stack.
                        if equal_within(x, y, EQUALITY_DEPTH) == Some(true) {
                            continue;
                        }
                        stack.push(Work::Compare(Some(Step::Index(i)), x, y));
                    }
                }
                (old, new) if scalars_equal(old, new) => {}
                (old, new) => {
                    let path = match step {
                        Some(step) => path.child(step.owned()),
                        None => path.clone(),
                    };
                    changes.push(Change::Modified {
                        path,
                        old: deep_clone(old),
                        new: deep_clone(new),
                    });
                }
            },
        }
    }
    changes
}

/// How deep [`equal_within`] recurses before it gives up and lets the walk go on: deep enough
/// for ordinary records, shallow enough that no stack can overflow.
const EQUALITY_DEPTH: usize = 16;

/// `Some(a == b)`, or `None` when the values nest deeper than `depth` and the answer would
/// need more recursion. A fast path: most of a diff is equal subtrees.
fn equal_within(a: &Value, b: &Value, depth: usize) -> Option<bool> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let depth = depth.checked_sub(1)?;
            for (x, y) in x.iter().zip(y) {
                if !equal_within(x, y, depth)? {
                    return Some(false);
                }
            }
            Some(true)
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let depth = depth.checked_sub(1)?;
            for (key, x) in x {
                let Some(y) = y.get(key) else {
                    return Some(false);
                };
                if !equal_within(x, y, depth)? {
                    return Some(false);
                }
            }
            Some(true)
        }
        _ => Some(scalars_equal(a, b)),
    }
}

/// Equality of values that are not both objects or both arrays. Written out rather than `==`,
/// which recurses, so that no deep comparison can hide here.
fn scalars_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// Applies `changes` to `target` in order, as [`diff`] emits them. Old values are not checked:
/// a `Removed` removes whatever is at its path, a `Modified` replaces it.
///
/// `Added` at an object key inserts it (the key must not exist); at an array index from 0 to the
/// length it inserts there (the length appends). `Removed` removes an existing key or element.
/// `Modified` replaces an existing value, the root included.
///
/// Changes before a failing one stay applied.
///
/// # Errors
/// An [`ApplyError`] naming the failing change and its path.
pub fn apply(target: &mut Value, changes: &[Change]) -> Result<(), ApplyError> {
    for (index, change) in changes.iter().enumerate() {
        apply_one(target, index, change)?;
    }
    Ok(())
}

fn apply_one(target: &mut Value, index: usize, change: &Change) -> Result<(), ApplyError> {
    let path = change.path();
    let not_found = || ApplyError::NotFound {
        index,
        path: path.clone(),
    };
    let Some((last, parents)) = path.segments().split_last() else {
        return match change {
            Change::Modified { new, .. } => {
                drop_iteratively(std::mem::replace(target, deep_clone(new)));
                Ok(())
            }
            Change::Added { .. } => Err(ApplyError::Root {
                index,
                kind: "added",
            }),
            Change::Removed { .. } => Err(ApplyError::Root {
                index,
                kind: "removed",
            }),
        };
    };
    let mut node = target;
    for segment in parents {
        node = match (node, segment) {
            (Value::Object(map), PathSegment::Key(key)) => map.get_mut(key),
            (Value::Array(items), PathSegment::Index(i)) => items.get_mut(*i),
            _ => None,
        }
        .ok_or_else(not_found)?;
    }
    match (change, node, last) {
        (Change::Added { value, .. }, Value::Object(map), PathSegment::Key(key)) => {
            if map.contains_key(key) {
                return Err(ApplyError::AlreadyExists {
                    index,
                    path: path.clone(),
                });
            }
            map.insert(key.clone(), deep_clone(value));
        }
        (Change::Added { value, .. }, Value::Array(items), PathSegment::Index(i))
            if *i <= items.len() =>
        {
            items.insert(*i, deep_clone(value));
        }
        (Change::Removed { .. }, Value::Object(map), PathSegment::Key(key)) => {
            drop_iteratively(map.remove(key).ok_or_else(not_found)?);
        }
        (Change::Removed { .. }, Value::Array(items), PathSegment::Index(i))
            if *i < items.len() =>
        {
            drop_iteratively(items.remove(*i));
        }
        (Change::Modified { new, .. }, Value::Object(map), PathSegment::Key(key)) => {
            let slot = map.get_mut(key).ok_or_else(not_found)?;
            drop_iteratively(std::mem::replace(slot, deep_clone(new)));
        }
        (Change::Modified { new, .. }, Value::Array(items), PathSegment::Index(i)) => {
            let slot = items.get_mut(*i).ok_or_else(not_found)?;
            drop_iteratively(std::mem::replace(slot, deep_clone(new)));
        }
        _ => return Err(not_found()),
    }
    Ok(())
}

/// Drops a value without recursion: `Value`'s drop recurses once per level of nesting, and a
/// replaced or removed subtree can be as deep as the value.
fn drop_iteratively(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            // Emptying a container before it drops leaves its drop nothing to recurse into.
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A container being copied by [`deep_clone`]: the children still to visit and the copy so far.
enum Frame<'a> {
    Array(std::slice::Iter<'a, Value>, Vec<Value>),
    /// The `String` is the key of the child being copied.
    Object(serde_json::map::Iter<'a>, Map<String, Value>, String),
}

impl<'a> Frame<'a> {
    /// A frame for a container, or the copy of a scalar.
    fn open(value: &'a Value) -> Result<Frame<'a>, Value> {
        match value {
            Value::Array(items) => Ok(Frame::Array(items.iter(), Vec::with_capacity(items.len()))),
            Value::Object(map) => Ok(Frame::Object(map.iter(), Map::new(), String::new())),
            scalar => Err(scalar.clone()),
        }
    }

    fn next_child(&mut self) -> Option<&'a Value> {
        match self {
            Frame::Array(items, _) => items.next(),
            Frame::Object(entries, _, pending) => entries.next().map(|(key, value)| {
                pending.clone_from(key);
                value
            }),
        }
    }

    fn attach(&mut self, child: Value) {
        match self {
            Frame::Array(_, copy) => copy.push(child),
            Frame::Object(_, copy, pending) => {
                copy.insert(std::mem::take(pending), child);
            }
        }
    }

    fn finish(self) -> Value {
        match self {
            Frame::Array(_, copy) => Value::Array(copy),
            Frame::Object(_, copy, _) => Value::Object(copy),
        }
    }
}

/// `value.clone()` without recursion: `Value::clone` recurses once per level of nesting.
fn deep_clone(value: &Value) -> Value {
    let mut current = match Frame::open(value) {
        Ok(frame) => frame,
        Err(scalar) => return scalar,
    };
    let mut parents = Vec::new();
    loop {
        match current.next_child() {
            Some(child) => match Frame::open(child) {
                Ok(frame) => parents.push(std::mem::replace(&mut current, frame)),
                Err(scalar) => current.attach(scalar),
            },
            None => {
                let finished = current.finish();
                match parents.pop() {
                    None => return finished,
                    Some(mut parent) => {
                        parent.attach(finished);
                        current = parent;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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
                Change::Added { value, .. } | Change::Removed { value, .. } => {
                    drop_iteratively(value)
                }
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
}
