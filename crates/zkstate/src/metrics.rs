//! What zkstate reports through the [`metrics`](https://docs.rs/metrics) facade. The library
//! installs no recorder and no exporter: an application that installs one (for instance
//! `metrics-exporter-prometheus`, as the example agent does) gets these series; one that does not
//! pays a relaxed atomic load per call.
//!
//! | name | kind | unit | labels | what |
//! |---|---|---|---|---|
//! | `zkstate_updates_total` | counter | updates | `dir`, `outcome` | every `update`, `update_latest`, `try_update*` and `replace_at` call, by outcome: `ok`, `stale_write`, `aborted` (the closure refused), `panicked`, `timeout`, `lock_timeout`, `lock_not_held` (a persistent node planted in the lock queue), `permission_denied`, `not_applied` (a lost reply resolved as not applied, or retries exhausted), `outcome_unknown`, `too_large`, `invalid`, `closed`, `error` |
//! | `zkstate_update_duration_seconds` | histogram | seconds | `dir` | the whole call, lock wait included |
//! | `zkstate_lock_wait_seconds` | histogram | seconds | `dir` | from the lock request to the lock held |
//! | `zkstate_changes_applied_total` | counter | batches | `dir`, `origin` | change batches applied to the local copy: `local` (this process's update), `remote` (seen through the watch or a check), `resync` (the read after a new session or a reconnection) |
//! | `zkstate_apply_delay_seconds` | histogram | seconds | `dir` | from the payload's `mtime` (the ZooKeeper server's clock) to the local apply (this host's clock), clamped at 0: includes any clock skew between the two |
//! | `zkstate_last_verified_timestamp_seconds` | gauge | seconds since the Unix epoch | `dir` | when the local copy was last verified equal to ZooKeeper's; its staleness age is `time() - this` |
//! | `zkstate_stale_total` | counter | events | `dir` | a handle's copy went stale (`read()` started failing with `Stale`) |
//! | `zkstate_resyncs_total` | counter | reads | `dir`, `reason` | full re-reads of the payload: `session` (a new session), `reconnect`, `drift` (the periodic check found another write) |
//! | `zkstate_acl_wider_total` | counter | nodes | `dir` | a state was opened with a policy that names the creator, and a node of its layout grants more (to `world` or `ip`) than the policy would: it was adopted as it is |
//! | `zkstate_payload_faults_total` | counter | faults | `dir`, `kind` | the payload went bad: `missing`, `json` (not JSON, or not of the type), `frame` (a bad zstd frame), `too_large` (a decompression bomb), `too_many_values` (more JSON values than `with_max_values` allows) |
//! | `zkstate_lagged_total` | counter | events | `dir` | a subscriber fell behind its buffer and skipped to a snapshot |
//! | `zkstate_records_written_total` | counter | writes | `dir` | listener record writes reporting what was applied |
//! | `zkstate_markers_reaped_total` | counter | markers | `dir` | commit markers of gone writers removed by this process |
//! | `zkstate_connection_state` | gauge | 1 or 0 | `servers`, `state` | 1 for the connection's current state (`connected`, `suspended`, `lost`, `closed`, `auth_failed`), 0 for the others |
//! | `zkstate_sessions_total` | counter | sessions | `servers` | ZooKeeper sessions opened (the first, and each after an expiry) |

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{DecodeError, Error, ZkFailure};

/// `zkstate_updates_total` and `zkstate_update_duration_seconds`.
pub(crate) fn update_done(dir: &str, outcome: &'static str, took: Duration) {
    metrics::counter!("zkstate_updates_total", "dir" => dir.to_string(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("zkstate_update_duration_seconds", "dir" => dir.to_string())
        .record(took.as_secs_f64());
}

/// The outcome label of an update's error.
pub(crate) fn outcome_of(err: &Error) -> &'static str {
    match err {
        Error::StaleWrite { .. } => "stale_write",
        Error::UpdatePanicked { .. } => "panicked",
        Error::LockTimeout { .. } => "lock_timeout",
        Error::LockNotHeld { .. } => "lock_not_held",
        Error::Timeout { .. } => "timeout",
        Error::PermissionDenied { .. } => "permission_denied",
        Error::OutcomeUnknown { .. } => "outcome_unknown",
        Error::PayloadTooLarge { .. } => "too_large",
        Error::InvalidVersion { .. } | Error::Encode { .. } => "invalid",
        Error::Closed { .. } => "closed",
        // An update's error means "not applied" (only `OutcomeUnknown` does not): these are
        // the ones a retry may get past.
        Error::ZooKeeper { source, .. } if ZkFailure::of(source).is_transient() => "not_applied",
        _ => "error",
    }
}

/// `zkstate_lock_wait_seconds`.
pub(crate) fn lock_waited(dir: &str, took: Duration) {
    metrics::histogram!("zkstate_lock_wait_seconds", "dir" => dir.to_string())
        .record(took.as_secs_f64());
}

/// Where an applied batch came from, for `zkstate_changes_applied_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    Local,
    Remote,
    Resync,
}

/// `zkstate_changes_applied_total` and, for a payload read from ZooKeeper,
/// `zkstate_apply_delay_seconds`.
pub(crate) fn applied(dir: &str, origin: Applied, mtime_ms: i64) {
    let label = match origin {
        Applied::Local => "local",
        Applied::Remote => "remote",
        Applied::Resync => "resync",
    };
    metrics::counter!("zkstate_changes_applied_total", "dir" => dir.to_string(), "origin" => label)
        .increment(1);
    if origin != Applied::Local && mtime_ms > 0 {
        let now_ms = unix_ms();
        let delay = now_ms.saturating_sub(mtime_ms).max(0) as f64 / 1000.0;
        metrics::histogram!("zkstate_apply_delay_seconds", "dir" => dir.to_string()).record(delay);
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `zkstate_last_verified_timestamp_seconds`.
pub(crate) fn verified(dir: &str) {
    metrics::gauge!("zkstate_last_verified_timestamp_seconds", "dir" => dir.to_string())
        .set(unix_ms() as f64 / 1000.0);
}

/// `zkstate_stale_total`.
pub(crate) fn went_stale(dir: &str) {
    metrics::counter!("zkstate_stale_total", "dir" => dir.to_string()).increment(1);
}

/// Why the payload is read again in full, for `zkstate_resyncs_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resync {
    Session,
    Reconnect,
    Drift,
}

/// `zkstate_resyncs_total`.
pub(crate) fn resync(dir: &str, reason: Resync) {
    let label = match reason {
        Resync::Session => "session",
        Resync::Reconnect => "reconnect",
        Resync::Drift => "drift",
    };
    metrics::counter!("zkstate_resyncs_total", "dir" => dir.to_string(), "reason" => label)
        .increment(1);
}

/// `zkstate_payload_faults_total`.
pub(crate) fn payload_fault(dir: &str, fault: &Error) {
    let kind = match fault {
        Error::Missing { .. } => "missing",
        Error::Decode {
            reason: DecodeError::Frame(_),
            ..
        } => "frame",
        Error::Decode {
            reason: DecodeError::TooLarge { .. },
            ..
        } => "too_large",
        Error::Decode {
            reason: DecodeError::TooManyValues { .. },
            ..
        } => "too_many_values",
        _ => "json",
    };
    metrics::counter!("zkstate_payload_faults_total", "dir" => dir.to_string(), "kind" => kind)
        .increment(1);
}

/// `zkstate_acl_wider_total`.
pub(crate) fn acl_wider(dir: &str) {
    metrics::counter!("zkstate_acl_wider_total", "dir" => dir.to_string()).increment(1);
}

/// `zkstate_lagged_total`.
pub(crate) fn lagged(dir: &str) {
    metrics::counter!("zkstate_lagged_total", "dir" => dir.to_string()).increment(1);
}

/// `zkstate_records_written_total`.
pub(crate) fn records_written(dir: &str, count: usize) {
    metrics::counter!("zkstate_records_written_total", "dir" => dir.to_string())
        .increment(count as u64);
}

/// `zkstate_markers_reaped_total`.
pub(crate) fn marker_reaped(dir: &str) {
    metrics::counter!("zkstate_markers_reaped_total", "dir" => dir.to_string()).increment(1);
}

/// The `state` labels of `zkstate_connection_state`, one per connection state (the connection
/// gives each state its label).
pub(crate) const CONNECTION_STATES: [&str; 5] =
    ["connected", "suspended", "lost", "closed", "auth_failed"];

/// `zkstate_connection_state`: 1 for `state` (one of [`CONNECTION_STATES`]), 0 for the others.
pub(crate) fn connection_state(servers: &str, state: &'static str) {
    for candidate in CONNECTION_STATES {
        let value = if candidate == state { 1.0 } else { 0.0 };
        metrics::gauge!("zkstate_connection_state", "servers" => servers.to_string(), "state" => candidate)
            .set(value);
    }
}

/// `zkstate_sessions_total`.
pub(crate) fn new_session(servers: &str) {
    metrics::counter!("zkstate_sessions_total", "servers" => servers.to_string()).increment(1);
}
