//! Exit codes, and how errors map to them.
//!
//! The exit codes are written once, in the table below (`exit_codes!`: name, number, meaning):
//! it declares [`Code`], whose numbers the mapping returns, and [`help`] renders the "Exit
//! codes" section of `--help` from it.
//!
//! Commands return `anyhow::Error`s. [`Code::of`] walks the cause chain, outermost first, and
//! takes the code of the first error it recognises: a [`Failure`] (a command's own verdict), a
//! [`zkstate::Error`], a [`zkstate::ConnectError`], or an `io::Error` of kind `BrokenPipe`.

use std::io;

/// Declares [`Code`] from the table: one row `Name = number: "meaning"` per code. The meaning
/// is the variant's doc and its line under "Exit codes" in `--help`.
macro_rules! exit_codes {
    ($($name:ident = $number:literal: $meaning:literal,)+) => {
        /// What the process exits with. Scripts depend on these numbers: never renumber them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Code {
            $(#[doc = $meaning] $name = $number,)+
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)+];

            /// What the code means, as `--help` says it.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$name => $meaning,)+
                }
            }
        }
    };
}

exit_codes! {
    Success = 0: "success (also when the reader of stdout goes away: a broken pipe)",
    Failure = 1: "any other runtime error, among them the state's lock held by another writer \
        for all of --timeout (set, patch, edit; nothing was written)",
    Usage = 2: "usage error or invalid input (bad JSON: the message names line and column; a \
        patch that does not apply; rm without --yes; a credential in --zk or $ZOOKEEPER_SERVERS; \
        an auth file that group or others may read or write)",
    Conflict = 3: "version conflict: ZooKeeper holds another version; nothing was written",
    NotFound = 4: "not found: the state directory or path does not exist, or the history does \
        not keep the version asked for (get --version, diff, rollback --to)",
    Unreachable = 5: "ZooKeeper unreachable: every server refused the connection or its name \
        did not resolve (said at once, per server), or no answer within --timeout",
    Incomplete = 6: "rollout incomplete: some live instance has not applied the version \
        (rollout, and --wait-rollout after the write was made)",
}

/// The width `--help` wraps the exit codes at.
const HELP_WIDTH: usize = 95;

/// The "Exit codes" section of `--help`: per row of the table a line `  N  meaning`, the meaning
/// wrapped at [`HELP_WIDTH`] and continued under itself.
pub fn help() -> String {
    let mut out = String::from("Exit codes:");
    for code in Code::ALL {
        let mut line = format!("  {}  ", code.number());
        let indent = line.len();
        // Whether the line holds a word yet: a word longer than the width still gets one.
        let mut started = false;
        for word in code.meaning().split_whitespace() {
            if started && line.len() + 1 + word.len() > HELP_WIDTH {
                out.push('\n');
                out.push_str(&line);
                line = " ".repeat(indent);
                started = false;
            }
            if started {
                line.push(' ');
            }
            line.push_str(word);
            started = true;
        }
        out.push('\n');
        out.push_str(&line);
    }
    out
}

impl Code {
    /// The number the process exits with.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The code for an error: that of the first error in its chain (outermost first) that has
    /// one; [`Code::Failure`] when none has.
    pub fn of(err: &anyhow::Error) -> Code {
        // A `Failure` given as context is not visible through `chain()` (anyhow wraps it), but
        // `downcast_ref` finds it.
        if let Some(failure) = err.downcast_ref::<Failure>() {
            return failure.code;
        }
        err.chain().find_map(code_of_cause).unwrap_or(Code::Failure)
    }

    /// The code for an error of a state operation.
    pub fn of_state_error(err: &zkstate::Error) -> Code {
        match err {
            zkstate::Error::StaleWrite { .. } => Code::Conflict,
            zkstate::Error::Missing { .. } | zkstate::Error::NotKept { .. } => Code::NotFound,
            // ZooKeeper answered: another writer holds the lock.
            _ if lock_waited(err).is_some() => Code::Failure,
            zkstate::Error::Timeout { .. } => Code::Unreachable,
            // The value given was refused before anything was sent: the input is at fault.
            zkstate::Error::InvalidDir(_)
            | zkstate::Error::InvalidVersion { .. }
            | zkstate::Error::PayloadTooLarge { .. }
            | zkstate::Error::Encode { .. } => Code::Usage,
            // `Decode` is the payload in ZooKeeper at fault, not the input; the rest are runtime
            // failures (permissions, a closed state, other ZooKeeper errors).
            _ => Code::Failure,
        }
    }

    /// The code for an error of opening a connection.
    pub fn of_connect_error(err: &zkstate::ConnectError) -> Code {
        match err {
            zkstate::ConnectError::Unreachable { .. }
            | zkstate::ConnectError::Refused { .. }
            | zkstate::ConnectError::TlsUnreachable { .. } => Code::Unreachable,
            // TLS files that cannot be read or used are the input's fault, as a bad URL is.
            zkstate::ConnectError::Url(_)
            | zkstate::ConnectError::Settings(_)
            | zkstate::ConnectError::Tls { .. } => Code::Usage,
            _ => Code::Failure,
        }
    }
}

fn code_of_cause(cause: &(dyn std::error::Error + 'static)) -> Option<Code> {
    if let Some(failure) = cause.downcast_ref::<Failure>() {
        Some(failure.code)
    } else if let Some(err) = cause.downcast_ref::<zkstate::Error>() {
        Some(Code::of_state_error(err))
    } else if let Some(err) = cause.downcast_ref::<zkstate::ConnectError>() {
        Some(Code::of_connect_error(err))
    } else if let Some(err) = cause.downcast_ref::<io::Error>() {
        // The reader of stdout went away (`zkstate watch | head -1`): that is how pipes end.
        (err.kind() == io::ErrorKind::BrokenPipe).then_some(Code::Success)
    } else {
        None
    }
}

/// How long an update waited for the state's lock, when `err` says that another writer held it
/// all that time (ZooKeeper answered; the lock was not free).
pub fn lock_waited(err: &zkstate::Error) -> Option<std::time::Duration> {
    match err {
        zkstate::Error::LockTimeout { waited, .. } => Some(*waited),
        _ => None,
    }
}

/// A write of `dir` (or what else names it) that failed with `err`: a lock held past `--timeout`
/// says so (exit 1), anything else keeps the library's error under `cannot write DIR`.
pub fn write_error(dir: &str, err: zkstate::Error) -> anyhow::Error {
    if let zkstate::Error::LockNotHeld { path } = &err {
        return fail(
            Code::Failure,
            format!(
                "lock node {path} is not held by a live session; remove it with: zkstate unlock {dir}"
            ),
        );
    }
    if let zkstate::Error::PayloadTooLarge { size, limit, .. } = &err {
        return fail(
            Code::Usage,
            format!(
                "cannot write {dir}: the payload is {size} bytes, over the {limit}-byte limit (about \
                 ZooKeeper's 1 MB node limit); `--compress` stores it as a zstd frame, which JSON \
                 shrinks to a fraction; nothing written"
            ),
        );
    }
    match lock_waited(&err) {
        Some(waited) => fail(
            Code::Failure,
            format!(
                "cannot write {dir}: the state's lock is held by another writer; waited {waited:?} \
                 for it (--timeout); nothing written"
            ),
        ),
        None => anyhow::Error::new(err).context(format!("cannot write {dir}")),
    }
}

/// A command's own verdict: a message and the code to exit with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What went wrong, one line.
    pub message: String,
}

/// An `anyhow::Error` carrying `code`.
pub fn fail(code: Code, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        message: message.into(),
    })
}

/// The one-line message for an error: its cause chain joined with `": "`.
///
/// Library errors often repeat their source in their own message (`... while writing /x:
/// connection loss` with `connection loss` as the source); a cause whose text the message so far
/// already ends with is skipped. Line breaks become spaces so the message stays on one line.
pub fn message(err: &anyhow::Error) -> String {
    join_chain(err.chain().map(|cause| cause.to_string()))
}

fn join_chain(causes: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for cause in causes {
        let cause = cause.trim();
        if cause.is_empty() || out.ends_with(cause) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(cause);
    }
    out.replace(['\r', '\n'], " ")
}

/// A usage error rendered by clap (several lines: the error, hints, usage, a pointer to
/// `--help`) folded into one line: `unrecognized subcommand 'gte' (usage: zkstate [OPTIONS]
/// <COMMAND>)`.
pub fn one_line_usage_error(rendered: &str) -> String {
    let mut main = String::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("Usage: ") {
            usage = Some(rest.to_string());
        } else if line.starts_with("For more information") {
            continue;
        } else {
            if !main.is_empty() {
                main.push(' ');
            }
            main.push_str(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    match usage {
        Some(usage) => format!("{main} (usage: {usage})"),
        None => main,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn numbers_are_the_documented_ones() {
        let codes = [
            (Code::Success, 0),
            (Code::Failure, 1),
            (Code::Usage, 2),
            (Code::Conflict, 3),
            (Code::NotFound, 4),
            (Code::Unreachable, 5),
            (Code::Incomplete, 6),
        ];
        for (code, number) in codes {
            assert_eq!(code.number(), number, "{code:?}");
        }
    }

    #[test]
    fn help_shows_every_code_in_order_wrapped_within_the_width() {
        let help = help();
        let mut lines = help.lines();
        assert_eq!(lines.next(), Some("Exit codes:"));
        // An entry is a line `  N  ...` and the lines indented under its meaning.
        let mut entries: Vec<String> = Vec::new();
        for line in lines {
            assert!(
                line.len() <= HELP_WIDTH,
                "longer than {HELP_WIDTH}: {line:?}"
            );
            match (line.strip_prefix("     "), entries.last_mut()) {
                (Some(more), Some(entry)) => {
                    entry.push(' ');
                    entry.push_str(more);
                }
                _ => entries.push(line.to_string()),
            }
        }
        let expected: Vec<String> = Code::ALL
            .iter()
            .map(|code| format!("  {}  {}", code.number(), code.meaning()))
            .collect();
        assert_eq!(entries, expected);
    }

    #[test]
    fn state_errors_map_to_codes() {
        let stale = zkstate::Error::StaleWrite {
            path: "/a/payload".into(),
            local: 1,
            remote: Some(2),
        };
        assert_eq!(Code::of_state_error(&stale), Code::Conflict);
        let missing = zkstate::Error::Missing {
            path: "/a/payload".into(),
        };
        assert_eq!(Code::of_state_error(&missing), Code::NotFound);
        let timeout = zkstate::Error::Timeout {
            op: "reading",
            path: "/a/payload".into(),
            waited: Duration::from_secs(1),
        };
        assert_eq!(Code::of_state_error(&timeout), Code::Unreachable);
        let lock = zkstate::Error::LockTimeout {
            path: "/a/lock".into(),
            waited: Duration::from_secs(2),
        };
        assert_eq!(Code::of_state_error(&lock), Code::Failure);
        let err = write_error("/a", lock);
        assert_eq!(Code::of(&err), Code::Failure);
        assert_eq!(
            message(&err),
            "cannot write /a: the state's lock is held by another writer; waited 2s for it (--timeout); nothing written"
        );
        let large = zkstate::Error::PayloadTooLarge {
            path: "/a/payload".into(),
            size: 2,
            limit: 1,
        };
        assert_eq!(Code::of_state_error(&large), Code::Usage);
        let denied = zkstate::Error::PermissionDenied {
            path: "/a/payload".into(),
        };
        assert_eq!(Code::of_state_error(&denied), Code::Failure);
    }

    #[test]
    fn connect_errors_map_to_codes() {
        let unreachable = zkstate::ConnectError::Unreachable {
            servers: "127.0.0.1:1".into(),
            waited: Duration::from_secs(2),
        };
        assert_eq!(Code::of_connect_error(&unreachable), Code::Unreachable);
        match zkstate::ZkUrl::parse("") {
            Err(err) => assert_eq!(
                Code::of_connect_error(&zkstate::ConnectError::Url(err)),
                Code::Usage
            ),
            Ok(url) => panic!("an empty url parsed: {url}"),
        }
        assert_eq!(
            Code::of_connect_error(&zkstate::ConnectError::Closed),
            Code::Failure
        );
    }

    #[test]
    fn tls_connect_errors_map_to_codes() {
        let refused = zkstate::ConnectError::TlsUnreachable {
            servers: "127.0.0.1:1".into(),
            waited: Duration::from_secs(2),
            ca: "/ca.pem".into(),
        };
        assert_eq!(Code::of_connect_error(&refused), Code::Unreachable);
        let unusable = zkstate::ConnectError::Tls {
            message: "cannot read /ca.pem".into(),
        };
        assert_eq!(Code::of_connect_error(&unusable), Code::Usage);
    }

    #[test]
    fn code_is_found_through_context() {
        let err = anyhow::Error::new(zkstate::Error::Missing {
            path: "/a/payload".into(),
        })
        .context("cannot read /a");
        assert_eq!(Code::of(&err), Code::NotFound);
        let err = fail(Code::Conflict, "version conflict").context("cannot write /a");
        assert_eq!(Code::of(&err), Code::Conflict);
        assert_eq!(Code::of(&anyhow::anyhow!("something")), Code::Failure);
    }

    #[test]
    fn the_outermost_code_wins() {
        let err = anyhow::Error::new(zkstate::Error::Missing {
            path: "/a/payload".into(),
        })
        .context(Failure {
            code: Code::Usage,
            message: "bad".into(),
        });
        assert_eq!(Code::of(&err), Code::Usage);
    }

    #[test]
    fn broken_pipe_is_success() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing to stdout");
        assert_eq!(Code::of(&err), Code::Success);
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(Code::of(&err), Code::Failure);
    }

    #[test]
    fn usage_errors_fold_into_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <DIR>\n\nUsage: zkstate set <DIR> [JSON]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage_error(rendered),
            "the following required arguments were not provided: <DIR> (usage: zkstate set <DIR> [JSON])"
        );
        let rendered = "error: invalid value 'x' for '--timeout <SECS>': bad\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage_error(rendered),
            "invalid value 'x' for '--timeout <SECS>': bad"
        );
    }

    #[test]
    fn message_joins_the_chain_without_repeats() {
        let joined = join_chain(
            [
                "cannot write /a".to_string(),
                "zookeeper error while writing /a/payload: connection loss".to_string(),
                "connection loss".to_string(),
            ]
            .into_iter(),
        );
        assert_eq!(
            joined,
            "cannot write /a: zookeeper error while writing /a/payload: connection loss"
        );
        assert_eq!(join_chain(["a\nb".to_string()].into_iter()), "a b");
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(message(&err), "outer: inner");
    }
}
