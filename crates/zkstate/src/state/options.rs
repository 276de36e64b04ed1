//! Per-state options.

use std::time::Duration;

/// ZooKeeper's default `jute.maxbuffer` (1 MiB) less room for the request's framing and path.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024 - 8 * 1024;

/// Options of a [`ZkState`](crate::ZkState). `Default` plus `with_*` setters.
#[derive(Clone, Debug, PartialEq)]
pub struct StateOptions {
    pub(crate) max_staleness: Duration,
    pub(crate) check_interval: (Duration, Duration),
    pub(crate) request_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) event_buffer: usize,
    pub(crate) listener: bool,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            max_staleness: Duration::from_secs(30),
            check_interval: (Duration::from_secs(3), Duration::from_secs(7)),
            request_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(30),
            max_payload: DEFAULT_MAX_PAYLOAD,
            event_buffer: 64,
            listener: true,
        }
    }
}

impl StateOptions {
    /// How long `read()` serves the local copy after it was last verified equal to ZooKeeper's.
    /// Default 30 s.
    #[must_use]
    pub fn with_max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }

    /// The periodic check runs at a random interval between `min` and `max`. Default 3 to 7 s.
    #[must_use]
    pub fn with_check_interval(mut self, min: Duration, max: Duration) -> Self {
        self.check_interval = (min.min(max), max.max(min));
        self
    }

    /// How long a call that a user waits on (`c_read`, a write, `listeners`) waits for
    /// ZooKeeper before it fails with [`Error::Timeout`](crate::Error::Timeout). Default 10 s.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an update waits for the write lock. Default 30 s.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The largest payload an update sends. Default [`DEFAULT_MAX_PAYLOAD`]; raise it only with
    /// the servers' `jute.maxbuffer`.
    #[must_use]
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Whether this instance registers a listener record under `<dir>/listeners`. Default
    /// `true`; one-shot tools (a CLI that sets a value and exits) turn it off.
    #[must_use]
    pub fn with_listener_record(mut self, register: bool) -> Self {
        self.listener = register;
        self
    }

    /// How many change batches a subscriber may fall behind before it is told it lagged. Default 64.
    /// The buffer is allocated up front for each state (about 90 bytes a slot).
    #[must_use]
    pub fn with_event_buffer(mut self, batches: usize) -> Self {
        self.event_buffer = batches.max(1);
        self
    }
}
