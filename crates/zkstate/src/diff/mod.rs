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
//! # fn main() -> Result<(), zkstate::diff::ApplyError> {
//! # use serde_json::json;
//! # use zkstate::diff::{apply, diff, Change};
//! let old = json!(["systemd*", "rsync*"]);
//! let new = json!(["systemd*", "rsync*", "firefox*"]);
//! let changes = diff(&old, &new);
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes[0].path().to_string(), "[2]");
//! let mut copy = old.clone();
//! apply(&mut copy, &changes)?;
//! assert_eq!(copy, new);
//! # Ok(()) }
//! ```

mod apply;
mod budget;
mod change;
mod merge;
mod path;
pub(crate) mod text;
mod value;
mod walk;

use serde_json::Value;

pub use self::apply::apply;
pub(crate) use self::budget::{path_bytes, Budget, BATCH};
pub use self::change::{ApplyError, Change};
pub use self::merge::merge;
pub use self::path::{KeyPath, PathSegment};

/// The changes that turn `old` into `new`, in an order that [`apply`] can replay; empty when the
/// values are equal.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let unbounded = Budget {
        changes: usize::MAX,
        path_bytes: usize::MAX,
    };
    walk::Walk::run(old, new, unbounded).unwrap_or_default()
}

/// [`diff`] within `budget`: `None` as soon as the changes would cost more (the walk stops
/// there, having spent at most the budget).
pub(crate) fn diff_within(old: &Value, new: &Value, budget: Budget) -> Option<Vec<Change>> {
    walk::Walk::run(old, new, budget)
}

/// [`diff`] within [`BATCH`], or one root [`Change::Modified`] past it.
pub(crate) fn diff_at_most(old: &Value, new: &Value) -> Vec<Change> {
    diff_within(old, new, BATCH).unwrap_or_else(|| {
        vec![Change::Modified {
            path: KeyPath::root(),
            old: value::deep_clone(old),
            new: value::deep_clone(new),
        }]
    })
}

#[cfg(test)]
mod tests;
