//! Per-state options, and how a state stores what it writes ([`Compression`]).

use std::time::Duration;

/// ZooKeeper's default `jute.maxbuffer` (1 MiB) less room for the request's framing and path.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024 - 8 * 1024;

/// The default cap on a decompressed payload: 16 MiB. With [`DEFAULT_MAX_VALUES`], what a
/// payload may cost an instance is bounded whatever its form
/// ([`StateOptions::with_max_values`]).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// The default cap on the JSON values of one payload: 1,048,576 (2^20). A value is a container,
/// an array element or an object member. A plain payload (at most 1 MB, ZooKeeper's node limit)
/// holds at most about 500,000; 900 KB of records about 70,000; a compressed 5 MB state of
/// 50,000 records 400,000. Past the cap are frames of tiny values that expand to millions.
pub const DEFAULT_MAX_VALUES: usize = 1 << 20;

/// What one payload may cost before it is parsed: its decompressed size and its number of JSON
/// values, both checked on the bytes before any tree or `T` is built. A payload over either is
/// refused (a [`DecodeError`](crate::DecodeError)), and the copy keeps the last good value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Limits {
    pub(crate) max_decompressed: usize,
    pub(crate) max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            max_values: DEFAULT_MAX_VALUES,
        }
    }
}

/// How an instance stores the payloads it writes. Every instance reads both forms whatever it
/// writes. The default, [`Keep`](Compression::Keep), writes plain JSON unless the payload is a
/// zstd frame now: a state is plain JSON until someone chooses to compress it, and an instance
/// with default options can update a compressed state (whose JSON may not fit plain).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Plain UTF-8 JSON: readable by zkCli.sh, kazoo, Curator.
    None,
    /// JSON in a zstd frame at this level (1 to 22; 3 is zstd's default). For states that are
    /// large, or larger than ZooKeeper's 1 MB node limit as JSON: other clients need zstd to
    /// read them.
    Zstd {
        /// The zstd compression level.
        level: i32,
    },
    /// Whatever the payload is stored as now: zstd (at level 3) if it is a zstd frame, plain
    /// JSON otherwise, and for a new state. The default.
    #[default]
    Keep,
}

impl Compression {
    /// zstd at its default level, 3.
    pub const ZSTD: Compression = Compression::Zstd { level: 3 };

    /// What to write with, given whether the payload now is a zstd frame.
    pub(crate) fn for_payload(self, compressed: bool) -> Compression {
        match self {
            Compression::Keep if compressed => Compression::ZSTD,
            Compression::Keep => Compression::None,
            other => other,
        }
    }
}

/// How long leaving (close, drop) tries to delete an instance's nodes before it gives up: its
/// listener record then goes with its session, its commit marker with the reaper.
pub(crate) const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The periodic check's bounds when nothing asks for a tighter one.
const DEFAULT_CHECK: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(7));

/// Options of a [`ZkState`](crate::ZkState). `Default` plus `with_*` setters; each setter states
/// its default.
///
/// # Staleness and the periodic check
/// [`read`](crate::ZkState::read) serves the local copy while it was verified equal to
/// ZooKeeper's within `max_staleness`. The copy is verified by every read of the payload the
/// state makes, and by a periodic check (a stat) that runs at a random interval between the
/// check bounds. Those bounds never exceed a quarter and a third of `max_staleness` (whatever
/// [`with_check_interval`](Self::with_check_interval) says), so that on a healthy connection at
/// least two checks fall in every `max_staleness` window and `read()` never reports
/// [`Error::Stale`](crate::Error::Stale). When the servers go away, `read()` reports `Stale` at
/// most `max_staleness` plus one check interval after the last answer.
#[derive(Clone, Debug, PartialEq)]
pub struct StateOptions {
    pub(crate) max_staleness: Duration,
    pub(crate) check_interval: Option<(Duration, Duration)>,
    pub(crate) request_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) event_buffer: usize,
    pub(crate) listener: bool,
    pub(crate) report_interval: Option<Duration>,
    pub(crate) compression: Compression,
    pub(crate) limits: Limits,
    pub(crate) marker_grace: Duration,
    pub(crate) history: Retention,
    pub(crate) program: Program,
    pub(crate) tool: Tool,
}

/// The default number of versions a state's history keeps: 100.
pub const DEFAULT_HISTORY_VERSIONS: usize = 100;
/// The default total size of a state's history entries: 8 MiB.
pub const DEFAULT_HISTORY_BYTES: usize = 8 * 1024 * 1024;

/// How much of a state's history its writers keep: at most `max_versions` entries of at most
/// `max_bytes` in all (the newest entry is kept whatever its size). `max_versions` 0: no history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) max_versions: usize,
    pub(crate) max_bytes: usize,
}

/// The program that writes, as its history entries name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Program {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
}

impl Program {
    /// The executable's file name, no version.
    fn of_process() -> Program {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".to_string());
        Program {
            name,
            version: None,
        }
    }
}

/// Which kind of zkstate program made a write, as its history entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Tool {
    /// An application through the library (the default).
    Library,
    /// The `zkstate` command line.
    Cli,
    /// `zkstate serve`'s page or API.
    Serve,
    /// A tool this version does not know (read from a newer writer's entry).
    #[serde(other)]
    Other,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            max_staleness: Duration::from_secs(30),
            check_interval: None,
            request_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(30),
            max_payload: DEFAULT_MAX_PAYLOAD,
            event_buffer: 64,
            listener: true,
            report_interval: Some(Duration::from_secs(1)),
            compression: Compression::Keep,
            limits: Limits::default(),
            marker_grace: Duration::from_secs(600),
            history: Retention {
                max_versions: DEFAULT_HISTORY_VERSIONS,
                max_bytes: DEFAULT_HISTORY_BYTES,
            },
            program: Program::of_process(),
            tool: Tool::Library,
        }
    }
}

impl StateOptions {
    /// How long `read()` serves the local copy after it was last verified equal to ZooKeeper's
    /// (at least 1 ms). Default 30 s. The periodic check runs at least every third of it.
    #[must_use]
    pub fn with_max_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max.max(Duration::from_millis(1));
        self
    }

    /// The periodic check runs at a random interval between `min` and `max`, capped at a
    /// quarter and a third of `max_staleness`. Default 3 to 7 s (with the default 30 s
    /// `max_staleness`).
    #[must_use]
    pub fn with_check_interval(mut self, min: Duration, max: Duration) -> Self {
        self.check_interval = Some((min.min(max), max.max(min)));
        self
    }

    /// The periodic check's bounds as they apply: those asked for (or the default), capped by
    /// `max_staleness`.
    pub fn effective_check_interval(&self) -> (Duration, Duration) {
        let (min, max) = self.check_interval.unwrap_or(DEFAULT_CHECK);
        let cap = (self.max_staleness / 4, self.max_staleness / 3);
        (min.min(cap.0), max.min(cap.1))
    }

    /// How long a call that a user waits on (`c_read`, a write, `listeners`) waits for
    /// ZooKeeper before it fails with [`Error::Timeout`](crate::Error::Timeout). Default 10 s.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an update waits for the write lock before it fails with
    /// [`Error::LockTimeout`](crate::Error::LockTimeout). Default 30 s.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The largest payload an update sends (after compression). Default
    /// [`DEFAULT_MAX_PAYLOAD`]; raise it only with the servers' `jute.maxbuffer`.
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

    /// How often at most this instance's listener record is rewritten with the version it has
    /// applied (what [`rollout`](crate::ZkState::rollout) reads); `None` turns reporting off.
    /// Default 1 s: a burst of changes costs one record write per second per instance. Instances
    /// of one state on one connection share one sync task, which rewrites their reporting records
    /// together, at the shortest interval any of them asks for.
    #[must_use]
    pub fn with_report_interval(mut self, interval: Option<Duration>) -> Self {
        self.report_interval = interval;
        self
    }

    /// How many change batches a subscriber may fall behind before it is told it lagged.
    /// Default 64. The buffer is allocated when the state's first subscriber subscribes (about
    /// 90 bytes a slot). Instances of one state on one connection share their buffer when they
    /// ask for the same size.
    #[must_use]
    pub fn with_event_buffer(mut self, batches: usize) -> Self {
        self.event_buffer = batches.max(1);
        self
    }

    /// How this instance stores what it writes: plain JSON or zstd-compressed JSON (for states
    /// that are large, or larger than ZooKeeper's 1 MB limit as JSON). Default
    /// [`Compression::Keep`]: as the payload is stored now, plain JSON for a new state. Every
    /// instance reads both, whatever it writes; other ZooKeeper clients need zstd to read a
    /// compressed payload.
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The largest payload a compressed frame may expand to (a bigger one is refused as a
    /// decompression bomb, [`DecodeError::TooLarge`](crate::DecodeError::TooLarge)). Default
    /// [`DEFAULT_MAX_DECOMPRESSED`] (16 MiB). Instances of one state on one connection share
    /// their decoding when they ask for the same limits.
    #[must_use]
    pub fn with_max_decompressed(mut self, bytes: usize) -> Self {
        self.limits.max_decompressed = bytes;
        self
    }

    /// The most JSON values (containers, array elements, object members) a payload may hold; a
    /// payload with more is refused before it is parsed
    /// ([`DecodeError::TooManyValues`](crate::DecodeError::TooManyValues)), so that no payload,
    /// however small its bytes, can make every instance build a huge tree. Default
    /// [`DEFAULT_MAX_VALUES`] (1,048,576).
    #[must_use]
    pub fn with_max_values(mut self, values: usize) -> Self {
        self.limits.max_values = values;
        self
    }

    /// How long a commit marker without a live writer stays before live instances remove it;
    /// a write whose reply was lost is resolved within half of it or reported
    /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown). Default 10 minutes (at least
    /// 2 s).
    #[must_use]
    pub fn with_marker_grace(mut self, grace: Duration) -> Self {
        self.marker_grace = grace.max(Duration::from_secs(2));
        self
    }

    /// How much history this instance's writes keep: at most `max_versions` versions and
    /// `max_bytes` of entries (the newest entry is kept whatever its size), the oldest removed in
    /// the same transaction as each write. Defaults [`DEFAULT_HISTORY_VERSIONS`] and
    /// [`DEFAULT_HISTORY_BYTES`]. `max_versions` 0 turns history off for this instance's
    /// writes (entries already there stay until a writer with history on trims them, or the
    /// state is removed). Every writer of a state should use the same values: each trims to its
    /// own. See [`crate::history`].
    #[must_use]
    pub fn with_history(mut self, max_versions: usize, max_bytes: usize) -> Self {
        self.history = Retention {
            max_versions,
            max_bytes,
        };
        self
    }

    /// The program's name and version, as the history entries of this instance's writes name
    /// their author. Default: the executable's file name, no version.
    #[must_use]
    pub fn with_program(mut self, name: impl Into<String>, version: Option<String>) -> Self {
        self.program = Program {
            name: name.into(),
            version,
        };
        self
    }

    /// Which kind of program writes ([`Tool::Library`] by default; zkstate's CLI and `serve`
    /// give theirs).
    #[must_use]
    pub fn with_tool(mut self, tool: Tool) -> Self {
        self.tool = tool;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_is_capped_by_max_staleness() {
        let default = StateOptions::default();
        assert_eq!(
            default.effective_check_interval(),
            (Duration::from_secs(3), Duration::from_secs(7))
        );
        let tight = StateOptions::default().with_max_staleness(Duration::from_secs(3));
        assert_eq!(
            tight.effective_check_interval(),
            (Duration::from_millis(750), Duration::from_secs(1))
        );
        let explicit = StateOptions::default()
            .with_max_staleness(Duration::from_secs(2))
            .with_check_interval(Duration::from_secs(60), Duration::from_secs(90));
        let (min, max) = explicit.effective_check_interval();
        assert!(max <= Duration::from_millis(667) && min <= max);
    }
}
