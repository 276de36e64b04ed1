//! Which kept versions can be reproduced, and reproducing one: the payload with the newer
//! entries' undo patches applied, newest first. Pure.

use serde_json::Value;

use super::entry::Stored;

/// Why a version's value cannot be reproduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unreachable {
    /// No entry leads to it: never kept, trimmed, or not a version of this payload.
    NotKept,
    /// A later version was written by another tool before any zkstate writer saw it, or its
    /// undo was too large to keep: the chain from the payload back to it is broken there.
    Broken {
        /// The version where the chain stops.
        at: i32,
    },
    /// An undo patch did not apply (an entry changed by another tool).
    Corrupt {
        /// The entry whose patch failed.
        at: i32,
    },
}

/// For each entry (newest first), whether its value can be reproduced from the payload at
/// `payload_version`:
///
/// | The entry | Reproducible | The chain goes on to |
/// |---|---|---|
/// | the version the chain has reached | yes | its `base`, when it has an undo; else stops |
/// | any other version | no | stops (a version in between is unknown) |
pub(crate) fn reproducible(payload_version: i32, newest_first: &[&Stored]) -> Vec<bool> {
    let mut reached = Some(payload_version);
    newest_first
        .iter()
        .map(|entry| {
            if reached == Some(entry.version) {
                reached = entry.undo.as_ref().and(entry.base);
                true
            } else {
                reached = None;
                false
            }
        })
        .collect()
}

/// The value of version `target`, from the payload's `current` value at `payload_version` and
/// the entries newest first.
pub(crate) fn reproduce(
    mut current: Value,
    payload_version: i32,
    newest_first: &[&Stored],
    target: i32,
) -> Result<Value, Unreachable> {
    let mut reached = payload_version;
    if target == reached {
        return Ok(current);
    }
    for entry in newest_first {
        if entry.version > reached {
            continue;
        }
        if entry.version != reached || target > reached {
            break;
        }
        let (Some(undo), Some(base)) = (&entry.undo, entry.base) else {
            return Err(Unreachable::Broken { at: reached });
        };
        let corrupt = Unreachable::Corrupt { at: reached };
        let patch: json_patch::Patch = serde_json::from_value(undo.clone()).map_err(|_| corrupt)?;
        json_patch::patch(&mut current, &patch).map_err(|_| corrupt)?;
        reached = base;
        if reached == target {
            return Ok(current);
        }
    }
    Err(Unreachable::NotKept)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::history::entry::FORMAT;

    fn entry(version: i32, base: Option<i32>, undo: Option<Value>) -> Stored {
        Stored {
            format: FORMAT,
            version,
            base,
            undo,
            undo_dropped: false,
            outside: false,
            time_ms: None,
            author: None,
            message: None,
            rollback_of: None,
            changes: None,
        }
    }

    /// Values 1, 2, 3 at versions 1, 2, 3: each entry's undo sets `n` back.
    fn three() -> Vec<Stored> {
        let undo = |n: i32| Some(json!([{"op": "replace", "path": "/n", "value": n}]));
        vec![
            entry(3, Some(2), undo(2)),
            entry(2, Some(1), undo(1)),
            entry(1, Some(0), undo(0)),
        ]
    }

    #[test]
    fn every_version_back_to_the_first_base_is_reproduced() {
        let entries = three();
        let refs: Vec<&Stored> = entries.iter().collect();
        for target in 0..=3 {
            let value = reproduce(json!({"n": 3}), 3, &refs, target).unwrap();
            assert_eq!(value, json!({ "n": target }));
        }
        assert_eq!(reproducible(3, &refs), vec![true, true, true]);
    }

    #[test]
    fn a_version_never_kept_is_not_kept() {
        let entries = three();
        let refs: Vec<&Stored> = entries.iter().collect();
        assert_eq!(
            reproduce(json!({"n": 3}), 3, &refs, 7),
            Err(Unreachable::NotKept)
        );
        assert_eq!(
            reproduce(json!({"n": 3}), 3, &refs, -1),
            Err(Unreachable::NotKept)
        );
    }

    #[test]
    fn an_outside_write_after_the_newest_entry_breaks_the_chain() {
        let entries = three();
        let refs: Vec<&Stored> = entries.iter().collect();
        assert_eq!(reproducible(4, &refs), vec![false, false, false]);
        assert_eq!(
            reproduce(json!({"n": 4}), 4, &refs, 2),
            Err(Unreachable::NotKept)
        );
        assert_eq!(reproduce(json!({"n": 4}), 4, &refs, 4), Ok(json!({"n": 4})));
    }

    #[test]
    fn an_entry_without_undo_is_reproduced_but_not_what_is_before_it() {
        let mut entries = three();
        entries[1].undo = None;
        entries[1].base = None;
        let refs: Vec<&Stored> = entries.iter().collect();
        assert_eq!(reproducible(3, &refs), vec![true, true, false]);
        assert_eq!(reproduce(json!({"n": 3}), 3, &refs, 2), Ok(json!({"n": 2})));
        assert_eq!(
            reproduce(json!({"n": 3}), 3, &refs, 1),
            Err(Unreachable::Broken { at: 2 })
        );
    }

    #[test]
    fn a_patch_that_does_not_apply_is_corrupt() {
        let mut entries = three();
        entries[0].undo = Some(json!([{"op": "remove", "path": "/missing"}]));
        let refs: Vec<&Stored> = entries.iter().collect();
        assert_eq!(
            reproduce(json!({"n": 3}), 3, &refs, 2),
            Err(Unreachable::Corrupt { at: 3 })
        );
    }
}
