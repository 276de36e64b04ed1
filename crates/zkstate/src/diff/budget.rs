//! What the changes of one diff may cost, so that no pair of values can make a diff that costs
//! more memory than the values themselves by a large factor.

use super::path::PathSegment;

/// What the changes of one diff may cost: how many, and the bytes of their paths together (each
/// change owns its whole path, so many changes under a long key would copy it many times).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) changes: usize,
    pub(crate) path_bytes: usize,
}

/// What one batch of changes carries at most: 65,536 changes, 16 MiB of paths. A payload that
/// differs from the copy by more is one root [`Modified`](super::Change::Modified) instead.
pub(crate) const BATCH: Budget = Budget {
    changes: 65_536,
    path_bytes: 16 << 20,
};

/// What a path costs against [`Budget::path_bytes`]: its keys' bytes, and a word per segment.
pub(crate) fn path_bytes(path: &[PathSegment]) -> usize {
    path.iter()
        .map(|segment| match segment {
            PathSegment::Key(key) => key.len() + 8,
            PathSegment::Index(_) => 8,
        })
        .sum()
}
