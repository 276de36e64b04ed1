//! What one write adds to its state's history and removes from it, decided from the history's
//! listing under the lock. Pure: the write's transaction carries the plan's operations.

use serde_json::Value;

use super::entry::{summarize, Author, EntryName, Stored, FORMAT};
use crate::options::Retention;

/// Entries above this size (JSON) are stored in a zstd frame.
const COMPRESS_ABOVE: usize = 1024;

/// At most this many old entries are removed by one write (the rest by the next ones), so that
/// a history planted with many entries cannot make a write's request too large.
pub(crate) const MAX_DELETES: usize = 64;

/// A write, as its history entry records it.
pub(crate) struct Commit<'a> {
    /// The value the write replaces (version `at`), when known (not when it did not decode).
    pub(crate) old: Option<&'a Value>,
    /// The value it writes (version `at + 1`).
    pub(crate) new: &'a Value,
    pub(crate) at: i32,
    /// The payload's incarnation.
    pub(crate) czxid: i64,
    /// The server's time of version `at` (its payload's mtime), when known.
    pub(crate) at_mtime: Option<i64>,
    pub(crate) author: Author,
    pub(crate) message: Option<String>,
    pub(crate) rollback_of: Option<i32>,
    /// How many bytes the new entries may take in the commit's request.
    pub(crate) room: usize,
    pub(crate) retention: Retention,
}

/// The history operations of one write's transaction.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// The history directory does not exist: create it first.
    pub(crate) create_dir: bool,
    /// New entries: node name and data, oldest first.
    pub(crate) create: Vec<(String, Vec<u8>)>,
    /// Entry names to delete.
    pub(crate) delete: Vec<String>,
}

/// The plan for `commit` over the history's listing (`None`: no history directory):
///
/// | In the listing | The plan |
/// |---|---|
/// | no history directory | creates it, then the entries |
/// | a name that is not an entry's | leaves it |
/// | an entry of another incarnation (`czxid`), or above version `at` | deletes it |
/// | no entry of this incarnation | the new entry only: the history starts here |
/// | the newest entry of this incarnation is `at` | the new entry |
/// | the newest is older than `at` (another tool wrote) | an `outside` entry for `at`, then the new entry |
/// | more than `max_versions` entries, or more than `max_bytes`, with the new ones | deletes the oldest, never the new entry |
///
/// The new entry's `undo` turns the new value into the old; when its entry would not fit in
/// `room`, it is written without (`undo_dropped`), and without one when the old value is not
/// known (it did not decode). At most [`MAX_DELETES`] deletes.
pub(crate) fn plan(listing: Option<&[String]>, commit: &Commit<'_>) -> Plan {
    let mut plan = Plan {
        create_dir: listing.is_none(),
        ..Plan::default()
    };
    let mut kept: Vec<(EntryName, &str)> = Vec::new();
    for name in listing.unwrap_or_default() {
        let Some(entry) = EntryName::parse(name) else {
            continue;
        };
        if entry.czxid == commit.czxid && entry.version <= commit.at {
            kept.push((entry, name));
        } else {
            plan.delete.push(name.clone());
        }
    }
    kept.sort_unstable();
    let newest = kept.last().map(|(entry, _)| entry.version);
    let mut room = commit.room;
    if newest.is_some_and(|newest| newest < commit.at) {
        let (name, data) = encoded(outside(commit), commit.czxid);
        room = room.saturating_sub(data.len());
        plan.create.push((name, data));
    }
    plan.create.push(written(commit, room));
    trim(&mut plan, &kept, commit.retention);
    plan.delete.truncate(MAX_DELETES);
    plan
}

/// Deletes the oldest kept entries while the history, with the new entries, is over either
/// limit.
fn trim(plan: &mut Plan, kept: &[(EntryName, &str)], retention: Retention) {
    let new_bytes: usize = plan.create.iter().map(|(_, data)| data.len()).sum();
    let mut count = kept.len() + plan.create.len();
    let mut bytes = new_bytes + kept.iter().map(|(e, _)| e.bytes).sum::<usize>();
    for (entry, name) in kept {
        if count <= retention.max_versions && bytes <= retention.max_bytes {
            break;
        }
        plan.delete.push((*name).to_string());
        count -= 1;
        bytes = bytes.saturating_sub(entry.bytes);
    }
}

/// The entry of the version another tool wrote at `at`: its value is the new entry's undo.
fn outside(commit: &Commit<'_>) -> Stored {
    Stored {
        format: FORMAT,
        version: commit.at,
        base: None,
        undo: None,
        undo_dropped: false,
        outside: true,
        time_ms: commit.at_mtime,
        author: None,
        message: None,
        rollback_of: None,
        changes: None,
    }
}

/// The new version's entry, with its undo patch when the old value is known and the entry fits
/// in `room`.
fn written(commit: &Commit<'_>, room: usize) -> (String, Vec<u8>) {
    let mut stored = Stored {
        format: FORMAT,
        version: commit.at.saturating_add(1),
        base: None,
        undo: None,
        undo_dropped: false,
        outside: false,
        time_ms: None,
        author: Some(commit.author.clone()),
        message: commit.message.clone(),
        rollback_of: commit.rollback_of,
        changes: None,
    };
    let Some(old) = commit.old else {
        return encoded(stored, commit.czxid);
    };
    let undo = json_patch::diff(commit.new, old);
    stored.changes = Some(summarize(&undo));
    stored.undo = serde_json::to_value(&undo).ok();
    stored.base = Some(commit.at);
    let full = encoded(stored.clone(), commit.czxid);
    if full.1.len() <= room {
        return full;
    }
    stored.undo = None;
    stored.base = None;
    stored.undo_dropped = true;
    encoded(stored, commit.czxid)
}

/// An entry's node name and data.
fn encoded(stored: Stored, czxid: i64) -> (String, Vec<u8>) {
    // Serialising plain data into memory cannot fail.
    let text = serde_json::to_vec(&stored).unwrap_or_default();
    let data = if text.len() > COMPRESS_ABOVE {
        zstd::bulk::compress(&text, 3).unwrap_or(text)
    } else {
        text
    };
    let name = EntryName {
        version: stored.version,
        czxid,
        bytes: data.len(),
    };
    (name.render(), data)
}

#[cfg(test)]
mod tests;
