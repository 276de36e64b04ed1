//! The staleness watchdog: raises the flag that `read()` checks for each handle, so that no
//! clock is read on the read path.
//!
//! Each handle has a [`Bound`](crate::store::Bound) with its own `max_staleness`; the watchdog
//! sleeps until the earliest bound's deadline after the copy's last verification, and raises the
//! flags of the bounds whose deadline passed. Every verification lowers them all (the writer does
//! it) and wakes the watchdog to start over.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Raises each handle's stale flag whenever its `max_staleness` passes without a verification.
pub(crate) async fn watch_staleness<T>(store: Store<T>, cancel: CancellationToken) {
    loop {
        let verified = store.verified_at();
        let bounds = store.bounds();
        let next = bounds
            .iter()
            .filter(|b| !b.is_stale())
            .filter_map(|b| verified.checked_add(b.max_staleness))
            .min();
        tokio::select! {
            _ = cancel.cancelled() => return,
            () = store.verification() => continue,
            () = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                for bound in bounds.iter().filter(|b| !b.is_stale()) {
                    let due = verified.checked_add(bound.max_staleness).is_some_and(|at| at <= now);
                    if due && bound.mark_stale_since(&store, verified) {
                        tracing::warn!(dir = %store.dir(), max_staleness = ?bound.max_staleness, "local copy is stale");
                        crate::metrics::went_stale(store.dir());
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::store::{self, Names, Snapshot, Stamp};

    fn store() -> (store::Writer<Value>, Store<Value>) {
        store::new(
            Names {
                dir: "/s".into(),
                payload: "/s/payload".into(),
            },
            4,
            crate::options::Limits::default(),
            Snapshot {
                value: json!(1),
                json: Arc::new(crate::store::Json::of_tree(Arc::new(json!(1)))),
                stamp: Stamp::local(),
                compressed: false,
                size: 0,
            },
        )
    }

    /// Lets the watchdog task run until it waits again (paused time advances only when every
    /// task is idle).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_bound_goes_stale_at_its_own_deadline_and_a_verification_lowers_them() {
        let (mut writer, store) = store();
        writer.mark_verified(1);
        let short = store.bound(Duration::from_secs(3));
        let long = store.bound(Duration::from_secs(30));
        let cancel = CancellationToken::new();
        let watchdog = tokio::spawn(watch_staleness(store.clone(), cancel.clone()));
        settle().await;
        tokio::time::advance(Duration::from_millis(2900)).await;
        settle().await;
        assert!(!short.is_stale(), "not yet at 2.9 s");
        tokio::time::advance(Duration::from_millis(200)).await;
        settle().await;
        assert!(short.is_stale(), "stale after 3 s");
        assert!(!long.is_stale());
        writer.mark_verified(1);
        settle().await;
        assert!(!short.is_stale(), "a verification lowers the flag");
        tokio::time::advance(Duration::from_secs(31)).await;
        settle().await;
        assert!(short.is_stale() && long.is_stale());
        assert!(matches!(store.read(&long), Err(crate::Error::Stale { .. })));
        cancel.cancel();
        let _ = watchdog.await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_verified_more_often_than_its_bound_never_goes_stale() {
        let (mut writer, store) = store();
        writer.mark_verified(1);
        let bound = store.bound(Duration::from_secs(1));
        let cancel = CancellationToken::new();
        let watchdog = tokio::spawn(watch_staleness(store.clone(), cancel.clone()));
        for _ in 0..100 {
            tokio::time::advance(Duration::from_millis(300)).await;
            settle().await;
            writer.mark_verified(1);
            settle().await;
            assert!(!bound.is_stale());
            assert!(store.read(&bound).is_ok());
        }
        // The watchdog ran all along: without verifications the bound goes stale.
        tokio::time::advance(Duration::from_millis(1100)).await;
        settle().await;
        assert!(bound.is_stale());
        cancel.cancel();
        let _ = watchdog.await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_bound_stays_stale() {
        let (mut writer, store) = store();
        let bound = store.bound(Duration::from_secs(1));
        bound.close();
        writer.mark_verified(1);
        assert!(bound.is_stale());
    }
}
