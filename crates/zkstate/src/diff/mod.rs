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
//! [`merge`] is the three-way merge an update writes with: the stored JSON with exactly the
//! changes the update's closure made, so that fields its type does not know survive.
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

mod merge;
mod path;
pub(crate) mod text;

use serde_json::{Map, Value};

pub use self::merge::merge;
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
mod tests;
