//! The staleness watchdog: raises the flag that `read()` checks, so that no clock is read on the
//! read path.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::state::store::Store;

/// Sleeps until `verified + max`, or forever when that is beyond the clock's range.
async fn deadline(verified: std::time::Instant, max: std::time::Duration) {
    match verified.checked_add(max) {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Raises the stale flag whenever `max_staleness` passes without a verification.
pub(crate) async fn watch_staleness<T: Send + Sync + 'static>(
    store: Arc<Store<T>>,
    cancel: CancellationToken,
) {
    let max = store.options.max_staleness;
    loop {
        let verified = store.verified_at();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = store.verified.notified() => continue,
            _ = deadline(verified, max) => {
                if store.verified_at() == verified {
                    store.mark_stale_since(verified);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = store.verified.notified() => {},
                    }
                }
            },
        }
    }
}
