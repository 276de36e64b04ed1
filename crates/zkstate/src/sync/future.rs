//! Small pieces the sync task's machines share: a boxed future, a slot that may hold one, and
//! jittered pauses.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand::Rng;

pub(crate) type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// A pause drawn uniformly from `min..=max` (`min` when the range is empty), so that instances
/// started together do not act together.
pub(crate) fn jittered((min, max): (Duration, Duration)) -> Duration {
    if max <= min {
        return min;
    }
    rand::thread_rng().gen_range(min..=max)
}

/// Awaits the future in `slot`, or never when there is none; empties the slot when it completes.
/// Cancellation-safe: the future stays in the slot until it completes.
pub(crate) async fn maybe<O>(slot: &mut Option<BoxFuture<O>>) -> O {
    match slot {
        Some(fut) => {
            let out = fut.await;
            *slot = None;
            out
        }
        None => std::future::pending().await,
    }
}
