//! The instances a sync task serves: their listener records, and the check and report periods
//! they ask for. Instances of one state on one connection share one sync task; each keeps its
//! own id, record and options here.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use crate::listeners::Listener;

/// What one instance asks of the sync task.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: Arc<str>,
    /// Its record, or `None` when it registers none (one-shot tools).
    pub(crate) record: Option<Listener>,
    /// The periodic check's bounds it needs (derived from its `max_staleness`).
    pub(crate) check: (Duration, Duration),
    /// How often at most it reports what it applied; `None`: it does not.
    pub(crate) report: Option<Duration>,
}

#[derive(Debug)]
struct Slot {
    entry: Entry,
    /// The session generation its record was registered in.
    registered: Option<u64>,
    /// Leaving: its record is to be deleted, then `done` answered.
    leaving: Option<oneshot::Sender<()>>,
}

/// The instances of one sync task.
#[derive(Debug, Default)]
pub(crate) struct Records {
    slots: Mutex<Vec<Slot>>,
    changed: Notify,
}

/// A record to create or delete.
#[derive(Debug)]
pub(crate) struct Work {
    pub(crate) id: Arc<str>,
    pub(crate) record: Listener,
}

impl Records {
    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A poisoned lock only means a panic elsewhere; the list stays consistent.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an instance; the sync task registers its record.
    pub(crate) fn join(&self, entry: Entry) {
        let mut slots = self.slots();
        // Room for one first: most states have one instance per connection, and `push` would
        // make room for four (then it doubles as usual).
        if slots.capacity() == 0 {
            slots.reserve_exact(1);
        }
        slots.push(Slot {
            entry,
            registered: None,
            leaving: None,
        });
        drop(slots);
        self.changed.notify_one();
    }

    /// Removes an instance; the receiver completes once its record is deleted (or the task is
    /// gone).
    pub(crate) fn leave(&self, id: &str) -> oneshot::Receiver<()> {
        let (done, left) = oneshot::channel();
        let mut slots = self.slots();
        if let Some(slot) = slots.iter_mut().find(|s| &*s.entry.id == id) {
            slot.leaving = Some(done);
        }
        drop(slots);
        self.changed.notify_one();
        left
    }

    /// Completes when an instance joined or is leaving.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The periodic check's bounds: the tightest any instance asks for.
    pub(crate) fn check_interval(&self) -> (Duration, Duration) {
        let slots = self.slots();
        let min = slots.iter().map(|s| s.entry.check.0).min();
        let max = slots.iter().map(|s| s.entry.check.1).min();
        match (min, max) {
            (Some(min), Some(max)) => (min.min(max), max),
            _ => (Duration::from_secs(3), Duration::from_secs(7)),
        }
    }

    /// How often at most records are rewritten with what was applied: the shortest period any
    /// reporting instance asks for; `None` when none reports.
    pub(crate) fn report_interval(&self) -> Option<Duration> {
        self.slots()
            .iter()
            .filter(|s| s.leaving.is_none() && s.entry.record.is_some())
            .filter_map(|s| s.entry.report)
            .min()
    }

    /// Records not registered in session `generation` (joined since, or every record of a new
    /// session), marked registered.
    pub(crate) fn to_register(&self, generation: u64) -> Vec<Work> {
        let mut slots = self.slots();
        let mut work = Vec::new();
        for slot in slots.iter_mut().filter(|s| s.leaving.is_none()) {
            if slot.registered == Some(generation) {
                continue;
            }
            slot.registered = Some(generation);
            if let Some(record) = &slot.entry.record {
                work.push(Work {
                    id: slot.entry.id.clone(),
                    record: record.clone(),
                });
            }
        }
        work
    }

    /// Forgets the registrations made in session `generation` (arming it failed and is tried
    /// again).
    pub(crate) fn unmark(&self, generation: u64) {
        for slot in self.slots().iter_mut() {
            if slot.registered == Some(generation) {
                slot.registered = None;
            }
        }
    }

    /// Every live record again (after the payload was re-created).
    pub(crate) fn all(&self) -> Vec<Work> {
        self.live(|_| true)
    }

    /// Every reporting record.
    pub(crate) fn reporting(&self) -> Vec<Work> {
        self.live(|entry| entry.report.is_some())
    }

    /// The records of the instances not leaving that `wanted` picks.
    fn live(&self, wanted: impl Fn(&Entry) -> bool) -> Vec<Work> {
        self.slots()
            .iter()
            .filter(|s| s.leaving.is_none() && wanted(&s.entry))
            .filter_map(|s| {
                s.entry.record.as_ref().map(|record| Work {
                    id: s.entry.id.clone(),
                    record: record.clone(),
                })
            })
            .collect()
    }

    /// The leaving instances, removed from the list: whether each had a record, and who waits.
    pub(crate) fn take_leaving(&self) -> Vec<(Arc<str>, bool, oneshot::Sender<()>)> {
        let mut slots = self.slots();
        let mut out = Vec::new();
        let mut i = 0;
        while i < slots.len() {
            if slots[i].leaving.is_some() {
                let slot = slots.swap_remove(i);
                if let Some(done) = slot.leaving {
                    out.push((slot.entry.id, slot.entry.record.is_some(), done));
                }
            } else {
                i += 1;
            }
        }
        out
    }

    /// Every instance, removed (the task is stopping).
    pub(crate) fn take_all(&self) -> Vec<(Arc<str>, bool, Option<oneshot::Sender<()>>)> {
        self.slots()
            .drain(..)
            .map(|s| (s.entry.id, s.entry.record.is_some(), s.leaving))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, check: u64, report: Option<u64>, record: bool) -> Entry {
        Entry {
            id: id.into(),
            record: record.then(|| Listener::this_process(id)),
            check: (Duration::from_secs(check), Duration::from_secs(check + 1)),
            report: report.map(Duration::from_secs),
        }
    }

    #[test]
    fn the_tightest_check_and_report_win() {
        let records = Records::default();
        assert_eq!(records.report_interval(), None);
        records.join(entry("a", 5, Some(3), true));
        records.join(entry("b", 2, None, true));
        records.join(entry("c", 9, Some(1), false));
        assert_eq!(
            records.check_interval(),
            (Duration::from_secs(2), Duration::from_secs(3))
        );
        // `c` has no record to report into.
        assert_eq!(records.report_interval(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn records_register_once_per_session_and_leave_once() {
        let records = Records::default();
        records.join(entry("a", 5, None, true));
        records.join(entry("b", 5, None, false));
        assert_eq!(records.to_register(1).len(), 1);
        assert!(records.to_register(1).is_empty());
        records.join(entry("c", 5, None, true));
        let again: Vec<_> = records.to_register(1).into_iter().map(|w| w.id).collect();
        assert_eq!(again, vec![Arc::<str>::from("c")]);
        assert_eq!(
            records.to_register(2).len(),
            2,
            "a new session registers all"
        );
        let _left = records.leave("a");
        let leaving = records.take_leaving();
        assert_eq!(leaving.len(), 1);
        assert!(leaving[0].1, "a had a record");
        assert!(records.take_leaving().is_empty());
    }
}
