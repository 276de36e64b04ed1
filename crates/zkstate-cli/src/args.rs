//! Argument types that several commands share: the seconds parser (`--timeout`,
//! `--wait-rollout`) and the `--wait-rollout` flag of the commands that write. Pure clap
//! parsing; what a command does with them lives in `commands/`.

use std::time::Duration;

/// A positive, finite number of seconds (`10`, `0.5`).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("`{text}`: expected a positive number of seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `--wait-rollout [SECS]`, for the commands that write (`set`, `patch`, `edit`); the wait
/// itself is `commands::rollout::after_write`.
#[derive(Clone, Debug, clap::Args)]
pub struct WaitRollout {
    /// After writing, wait until every live instance has applied the new version, at most SECS
    /// (`--wait-rollout 30` or `--wait-rollout=30`; alone, last or before another flag: 60);
    /// exit 6 if some has not (the write was made)
    // No `require_equals`: with it, `set DIR --wait-rollout 60` took `60` as the JSON and wrote
    // it. A value after the flag is always the timeout, and one that is not a number of seconds
    // is a usage error that says how to write the flag.
    #[arg(
        long = "wait-rollout",
        value_name = "SECS",
        num_args = 0..=1,
        default_missing_value = DEFAULT_WAIT,
        value_parser = parse_wait
    )]
    pub wait_rollout: Option<Duration>,
}

/// What a bare `--wait-rollout` waits, in seconds.
const DEFAULT_WAIT: &str = "60";

/// The value of `--wait-rollout`: a number of seconds; anything else (a DIR or JSON written after
/// the flag) is refused with how to write it.
fn parse_wait(text: &str) -> Result<Duration, String> {
    parse_seconds(text).map_err(|err| {
        format!(
            "{err}; --wait-rollout takes the seconds to wait right after it (`--wait-rollout 30` or \
             `--wait-rollout=30`); for the default {DEFAULT_WAIT} s put it last or before another \
             flag, not before DIR or JSON"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("ten").is_err());
    }

    #[test]
    fn a_wait_that_is_not_seconds_says_how_to_write_the_flag() {
        let err = parse_wait("{}").expect_err("JSON is not seconds");
        assert!(
            err.contains("--wait-rollout 30") && err.contains("put it last"),
            "{err}"
        );
    }
}
