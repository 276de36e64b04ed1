//! What a diff is made of: [`Change`], and the errors of applying one.

use serde_json::Value;

use super::path::KeyPath;

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

/// Errors from [`apply`](super::apply): the changes do not fit the value.
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
