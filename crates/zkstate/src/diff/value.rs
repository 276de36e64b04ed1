//! Operations on JSON values that neither recurse nor overflow the stack however deep the value:
//! bounded equality, cloning and dropping.

use serde_json::{Map, Value};

/// How deep [`equal_within`] recurses before it gives up and lets the walk go on: deep enough
/// for ordinary records, shallow enough that no stack can overflow.
pub(crate) const EQUALITY_DEPTH: usize = 16;

/// `Some(a == b)`, or `None` when the values nest deeper than `depth` and the answer would
/// need more recursion. A fast path: most of a diff is equal subtrees.
pub(crate) fn equal_within(a: &Value, b: &Value, depth: usize) -> Option<bool> {
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
pub(crate) fn scalars_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// Drops a value without recursion: `Value`'s drop recurses once per level of nesting, and a
/// replaced or removed subtree can be as deep as the value.
pub(crate) fn drop_iteratively(value: Value) {
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
pub(crate) fn deep_clone(value: &Value) -> Value {
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
