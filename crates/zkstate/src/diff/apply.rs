//! Applying changes to a value, in the order [`diff`](super::diff) emits them.

use serde_json::Value;

use super::change::{ApplyError, Change};
use super::path::PathSegment;
use super::value::{deep_clone, drop_iteratively};

/// Applies `changes` to `target` in order, as [`diff`](super::diff) emits them. Old values are not checked:
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
    let Some((last, parents)) = path.segments().split_last() else {
        return apply_at_root(target, index, change);
    };
    let not_found = || ApplyError::NotFound {
        index,
        path: path.clone(),
    };
    let node = descend(target, parents).ok_or_else(not_found)?;
    apply_at(node, last, change).map_err(|misfit| match misfit {
        Misfit::NotFound => not_found(),
        Misfit::AlreadyExists => ApplyError::AlreadyExists {
            index,
            path: path.clone(),
        },
    })
}

/// A change at the root: only a modification can replace it.
fn apply_at_root(target: &mut Value, index: usize, change: &Change) -> Result<(), ApplyError> {
    match change {
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
    }
}

/// The value at `segments` below `node`, if every step exists.
fn descend<'v>(mut node: &'v mut Value, segments: &[PathSegment]) -> Option<&'v mut Value> {
    for segment in segments {
        node = match (node, segment) {
            (Value::Object(map), PathSegment::Key(key)) => map.get_mut(key),
            (Value::Array(items), PathSegment::Index(i)) => items.get_mut(*i),
            _ => None,
        }?;
    }
    Some(node)
}

/// Why a change does not fit the value ([`ApplyError`] without the change's position).
enum Misfit {
    NotFound,
    AlreadyExists,
}

/// Applies `change` at `last` in `node`, the parent of the change's path.
fn apply_at(node: &mut Value, last: &PathSegment, change: &Change) -> Result<(), Misfit> {
    match (change, node, last) {
        (Change::Added { value, .. }, Value::Object(map), PathSegment::Key(key)) => {
            if map.contains_key(key) {
                return Err(Misfit::AlreadyExists);
            }
            map.insert(key.clone(), deep_clone(value));
        }
        (Change::Added { value, .. }, Value::Array(items), PathSegment::Index(i))
            if *i <= items.len() =>
        {
            items.insert(*i, deep_clone(value));
        }
        (Change::Removed { .. }, Value::Object(map), PathSegment::Key(key)) => {
            drop_iteratively(map.remove(key).ok_or(Misfit::NotFound)?);
        }
        (Change::Removed { .. }, Value::Array(items), PathSegment::Index(i))
            if *i < items.len() =>
        {
            drop_iteratively(items.remove(*i));
        }
        (Change::Modified { new, .. }, Value::Object(map), PathSegment::Key(key)) => {
            replace_with(map.get_mut(key), new)?;
        }
        (Change::Modified { new, .. }, Value::Array(items), PathSegment::Index(i)) => {
            replace_with(items.get_mut(*i), new)?;
        }
        _ => return Err(Misfit::NotFound),
    }
    Ok(())
}

/// Replaces the value in `slot`, when there is one, with a copy of `new`.
fn replace_with(slot: Option<&mut Value>, new: &Value) -> Result<(), Misfit> {
    let slot = slot.ok_or(Misfit::NotFound)?;
    drop_iteratively(std::mem::replace(slot, deep_clone(new)));
    Ok(())
}
