//! What a writer knows of its state's history between its writes, so that a writer whose last
//! write is still the newest need not list the history again. Pure.
//!
//! A writer's own commit is the only change to the history while no other write lands (every
//! zkstate writer changes the history only in its payload's transaction), so the listing it
//! planned with, less what it deleted and plus what it created, is the history as long as the
//! payload's `mzxid` is its write's. Another tool that changes the history alone makes the next
//! commit's create or delete fail, and the update starts over with a fresh listing
//! ([`Cache::forget`]).

/// The history as this writer left it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    /// The payload's incarnation and the write that left the history so.
    czxid: i64,
    mzxid: i64,
    names: Vec<String>,
}

/// The cache, and whether to ask for a listing with the lock anyway:
///
/// | Last time | The next lock | Under the lock, the payload is |  Then |
/// |---|---|---|---|
/// | nothing known | asks for the listing | — | uses it |
/// | known, and it held | does not ask | our write | uses what is known |
/// | known, and it held | does not ask | another write | lists (one round trip); asks with the next lock |
/// | known, but it did not hold | asks | — | uses the listing |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cache {
    known: Option<Known>,
    /// The last check of what was known failed: another writer is active.
    contended: bool,
}

impl Cache {
    /// Whether the lock's round trip should carry a listing of the history.
    pub(crate) fn ask_with_lock(&self) -> bool {
        self.known.is_none() || self.contended
    }

    /// The history's listing, if what is known still holds for the payload at (`czxid`,
    /// `mzxid`); records a miss. What is known is handed over, not copied: the write that uses
    /// it leaves the next one ([`committed`](Self::committed)), or nothing.
    pub(crate) fn listing(&mut self, czxid: i64, mzxid: i64) -> Option<Option<Vec<String>>> {
        match self.known.take() {
            Some(known) if known.czxid == czxid && known.mzxid == mzxid => {
                self.contended = false;
                Some(Some(known.names))
            }
            _ => {
                self.contended = true;
                None
            }
        }
    }

    /// Our write at `mzxid` committed: the history is `listed` less `deleted` plus `created`.
    pub(crate) fn committed(
        &mut self,
        (czxid, mzxid): (i64, i64),
        listed: &[String],
        created: &[String],
        deleted: &[String],
    ) {
        let mut names: Vec<String> = listed
            .iter()
            .filter(|name| !deleted.contains(name))
            .cloned()
            .collect();
        names.extend(created.iter().cloned());
        self.known = Some(Known {
            czxid,
            mzxid,
            names,
        });
    }

    /// Nothing is known any more (a failed commit, a write whose outcome came through its
    /// marker): the next lock asks for the listing.
    pub(crate) fn forget(&mut self) {
        self.known = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nothing_known_asks_with_the_lock() {
        let mut cache = Cache::default();
        assert!(cache.ask_with_lock());
        assert_eq!(cache.listing(1, 2), None);
    }

    #[test]
    fn our_write_still_newest_is_known_without_asking() {
        let mut cache = Cache::default();
        cache.committed((1, 10), &names(&["a", "b"]), &names(&["c"]), &names(&["a"]));
        assert!(!cache.ask_with_lock());
        assert_eq!(cache.listing(1, 10), Some(Some(names(&["b", "c"]))));
        // Handed over: nothing is known until the write that took it commits.
        assert!(cache.ask_with_lock());
        cache.committed((1, 11), &names(&["b", "c"]), &names(&["d"]), &[]);
        assert!(!cache.ask_with_lock());
    }

    #[test]
    fn another_write_is_a_miss_and_the_next_lock_asks() {
        let mut cache = Cache::default();
        cache.committed((1, 10), &[], &names(&["c"]), &[]);
        assert_eq!(cache.listing(1, 11), None, "another writer wrote");
        assert!(cache.ask_with_lock());
        cache.committed((1, 12), &names(&["c"]), &names(&["d"]), &[]);
        assert!(cache.ask_with_lock(), "still asks while writers alternate");
        assert_eq!(cache.listing(1, 12), Some(Some(names(&["c", "d"]))));
        cache.committed((1, 13), &names(&["c", "d"]), &names(&["e"]), &[]);
        assert!(!cache.ask_with_lock(), "a hit: alone again");
    }

    #[test]
    fn another_incarnation_is_a_miss() {
        let mut cache = Cache::default();
        cache.committed((1, 10), &[], &names(&["c"]), &[]);
        assert_eq!(cache.listing(2, 10), None);
    }

    #[test]
    fn forgetting_asks_again() {
        let mut cache = Cache::default();
        cache.committed((1, 10), &[], &names(&["c"]), &[]);
        cache.forget();
        assert!(cache.ask_with_lock());
        assert_eq!(cache.listing(1, 10), None);
    }
}
