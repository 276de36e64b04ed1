//! The stored form of a history entry and its node's name (documented in [`crate::layout`]).
//! No I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::options::Tool;

/// The format of the entries this version writes.
pub(crate) const FORMAT: u32 = 1;

/// Who wrote a version, as its history entry says. Every field may be absent: a version
/// written by another tool has none, and a newer writer may leave some out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Author {
    /// The writing instance's id (as its listener record is named).
    pub id: Option<String>,
    /// The writer's host name.
    pub host: Option<String>,
    /// The writer's process id.
    pub pid: Option<u32>,
    /// The program's name ([`StateOptions::with_program`](crate::StateOptions::with_program)).
    pub program: Option<String>,
    /// The program's version, when it declared one.
    pub program_version: Option<String>,
    /// Which kind of program wrote.
    pub tool: Option<Tool>,
    /// The identity the writer's session authenticated as (`digest:<user>`), if any.
    pub identity: Option<String>,
}

/// What a version changed from the one before it: counts of RFC 6902 operations and the first
/// few paths (JSON pointers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeCount {
    /// Keys and elements added.
    pub added: usize,
    /// Values replaced.
    pub modified: usize,
    /// Keys and elements removed.
    pub removed: usize,
    /// The first paths changed (at most [`SUMMARY_PATHS`], each at most [`SUMMARY_PATH_BYTES`]).
    pub paths: Vec<String>,
}

/// How many paths a [`ChangeCount`] names.
pub const SUMMARY_PATHS: usize = 3;
/// The longest path a [`ChangeCount`] names, in bytes (longer ones are cut, with `…`).
pub const SUMMARY_PATH_BYTES: usize = 200;

/// One entry as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) format: u32,
    pub(crate) version: i32,
    /// The version `undo` turns this one into.
    pub(crate) base: Option<i32>,
    /// An RFC 6902 patch from this version's value to `base`'s.
    pub(crate) undo: Option<Value>,
    /// The undo patch was too large for the commit's request: versions before this one cannot be
    /// reproduced.
    #[serde(default)]
    pub(crate) undo_dropped: bool,
    /// Written by another tool, recorded by the next zkstate writer.
    #[serde(default)]
    pub(crate) outside: bool,
    /// The server's time of the write, when it is not the entry node's `ctime`.
    #[serde(default)]
    pub(crate) time_ms: Option<i64>,
    #[serde(default)]
    pub(crate) author: Option<Author>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) rollback_of: Option<i32>,
    #[serde(default)]
    pub(crate) changes: Option<ChangeCount>,
}

/// What an entry's node name says: `<version:010>-<czxid:016x>-<bytes>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryName {
    pub(crate) version: i32,
    pub(crate) czxid: i64,
    pub(crate) bytes: usize,
}

impl EntryName {
    /// The name's parts, or `None` for a name that is not an entry's.
    pub(crate) fn parse(name: &str) -> Option<EntryName> {
        let mut parts = name.split('-');
        let (version, czxid, bytes) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version.len() != 10 || czxid.len() != 16 {
            return None;
        }
        let version: i32 = version.parse().ok()?;
        let czxid = u64::from_str_radix(czxid, 16).ok()? as i64;
        let bytes = bytes.parse().ok()?;
        (version >= 0).then_some(EntryName {
            version,
            czxid,
            bytes,
        })
    }

    /// The node name.
    pub(crate) fn render(&self) -> String {
        format!(
            "{:010}-{:016x}-{}",
            self.version, self.czxid as u64, self.bytes
        )
    }
}

/// The summary of an undo patch (from the new value to the old): what the write changed. The
/// undo's `remove` is the write's addition, its `add` the write's removal.
pub(crate) fn summarize(undo: &json_patch::Patch) -> ChangeCount {
    let mut count = ChangeCount::default();
    for op in &undo.0 {
        let path = match op {
            json_patch::PatchOperation::Remove(op) => {
                count.added += 1;
                &op.path
            }
            json_patch::PatchOperation::Add(op) => {
                count.removed += 1;
                &op.path
            }
            json_patch::PatchOperation::Replace(op) => {
                count.modified += 1;
                &op.path
            }
            // `diff` makes only the three above.
            _ => continue,
        };
        if count.paths.len() < SUMMARY_PATHS {
            count.paths.push(cut(path.as_str()));
        }
    }
    count
}

/// `path`, cut to [`SUMMARY_PATH_BYTES`] on a character boundary.
fn cut(path: &str) -> String {
    if path.len() <= SUMMARY_PATH_BYTES {
        return path.to_string();
    }
    let mut end = SUMMARY_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_version() {
        let name = EntryName {
            version: 42,
            czxid: 0x1_0000_0002,
            bytes: 1874,
        };
        assert_eq!(name.render(), "0000000042-0000000100000002-1874");
        assert_eq!(EntryName::parse(&name.render()), Some(name));
        let later = EntryName {
            version: 100,
            ..name
        };
        assert!(name.render() < later.render());
    }

    #[test]
    fn names_that_are_not_entries_are_refused() {
        for bad in [
            "",
            "42",
            "0000000042-0000000100000002",
            "0000000042-0000000100000002-12-3",
            "000000042-0000000100000002-12",
            "0000000042-000000100000002-12",
            "-000000042-0000000100000002-12",
            "0000000042-00000001000000zz-12",
            "0000000042-0000000100000002-x",
        ] {
            assert_eq!(EntryName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_summary_counts_what_the_write_did() {
        let old = json!({"a": 1, "b": [1, 2], "gone": true});
        let new = json!({"a": 2, "b": [1, 2, 3], "c": "new"});
        let undo = json_patch::diff(&new, &old);
        let count = summarize(&undo);
        assert_eq!((count.added, count.modified, count.removed), (2, 1, 1));
        assert_eq!(count.paths.len(), SUMMARY_PATHS);
    }

    #[test]
    fn long_paths_are_cut_on_a_character_boundary() {
        let long = format!("/{}", "é".repeat(300));
        let cut = cut(&long);
        assert!(cut.len() <= SUMMARY_PATH_BYTES + "…".len());
        assert!(cut.ends_with('…'));
    }
}
