//! Staleness: when the copy was last verified equal to ZooKeeper's ([`Verified`]), and how stale
//! each reader accepts it to be ([`Bound`]). The writer records verifications; the staleness
//! watchdog raises the bounds' flags; `read()` loads a flag rather than a clock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How stale one reader accepts the copy to be: each handle of a state has one, and the
/// staleness watchdog raises its flag, so that `read()` loads a flag rather than a clock.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) max_staleness: Duration,
    stale: AtomicBool,
    closed: AtomicBool,
}

impl Bound {
    /// A bound whose flag is down.
    pub(super) fn new(max_staleness: Duration) -> Bound {
        Bound {
            max_staleness,
            stale: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// After close: nothing verifies the copy for this reader any more.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Raises the flag unless a verification happened after `verified`: a verification racing
    /// with the watchdog must not leave the flag up. Returns whether the flag went up.
    /// `store`: what knows the copy's last verification (a [`Store`](super::Store)).
    pub(crate) fn mark_stale_since<S: AsRef<Verified>>(
        &self,
        store: &S,
        verified: Instant,
    ) -> bool {
        if self.stale.swap(true, Ordering::SeqCst) {
            return false;
        }
        if store.as_ref().at() != verified && !self.closed.load(Ordering::SeqCst) {
            self.stale.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Lowers the flag, unless the bound is closed: the copy was just verified.
    pub(super) fn verified(&self) {
        if !self.closed.load(Ordering::SeqCst) {
            self.stale.store(false, Ordering::SeqCst);
        }
    }
}

/// When the copy was last verified equal to ZooKeeper's, and in which session.
pub(crate) struct Verified {
    epoch: Instant,
    /// Nanoseconds since `epoch`.
    at: AtomicU64,
    session: AtomicI64,
    notify: Notify,
}

impl Verified {
    /// Verified now, in no session yet (session 0).
    pub(super) fn new() -> Verified {
        Verified {
            epoch: Instant::now(),
            at: AtomicU64::new(0),
            session: AtomicI64::new(0),
            notify: Notify::new(),
        }
    }

    /// When the copy was last verified.
    pub(super) fn at(&self) -> Instant {
        let nanos = self.at.load(Ordering::SeqCst);
        self.epoch + Duration::from_nanos(nanos)
    }

    /// The session the copy was last verified in.
    pub(super) fn session(&self) -> i64 {
        self.session.load(Ordering::SeqCst)
    }

    /// Records a verification as of now, in `session`. The caller lowers the bounds' flags,
    /// then [`wake`](Self::wake)s the watchdog.
    pub(super) fn record(&self, session: i64) {
        let nanos = self.epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        // SeqCst with `Bound::mark_stale_since`: whichever runs second leaves the flag right.
        self.at.store(nanos, Ordering::SeqCst);
        self.session.store(session, Ordering::SeqCst);
    }

    /// Wakes the watchdog: a verification, or a new bound to recompute its deadline with.
    pub(super) fn wake(&self) {
        self.notify.notify_one();
    }

    /// Completes at the next [`wake`](Self::wake).
    pub(super) async fn woken(&self) {
        self.notify.notified().await;
    }
}
