//! Argument types that several commands share: the seconds parser (`--timeout`,
//! `--wait-rollout`), the `--wait-rollout` flag of the commands that write, and the checks of
//! what carries credentials: the `--auth` parser, the lines of an auth file, and the test for a
//! credential written into a URL or connect string. Pure parsing; what a command does with them
//! lives in `commands/`.

use std::time::Duration;

use zkstate::connection::settings::{CredentialProblem, SettingsError};
use zkstate::Credential;

/// A positive duration: a number of seconds (`20`, `0.5`) or a number with a unit (`20s`, `2m`,
/// `500ms`, `1h 30m`: humantime's forms), as kubectl and etcdctl take them.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))?
        }
        Ok(_) => return Err(format!("`{text}`: expected a positive duration")),
        Err(_) => humantime::parse_duration(text).map_err(|_| {
            format!("`{text}` is not a duration (seconds, or with a unit: 20s, 2m, 500ms)")
        })?,
    };
    if duration.is_zero() {
        return Err(format!("`{text}`: expected a positive duration"));
    }
    Ok(duration)
}

/// `--wait-rollout [SECS]`, for the commands that write (`set`, `patch`, `edit`); the wait
/// itself is `commands::rollout::after_write`.
#[derive(Clone, Debug, clap::Args)]
pub struct WaitRollout {
    /// After writing, wait until every live instance has applied the new version, at most
    /// DURATION (seconds, or 20s, 2m, 500ms: `--wait-rollout 30`, `--wait-rollout=2m`; alone,
    /// last or before another flag: 60 s); exit 6 if some has not (the write was made)
    // No `require_equals`: with it, `set DIR --wait-rollout 60` took `60` as the JSON and wrote
    // it. A value after the flag is always the timeout, and one that is not a duration
    // is a usage error that says how to write the flag.
    #[arg(
        long = "wait-rollout",
        value_name = "DURATION",
        num_args = 0..=1,
        default_missing_value = DEFAULT_WAIT,
        value_parser = parse_wait
    )]
    pub wait_rollout: Option<Duration>,
}

/// The history message of a write (`--message`, `-m`), kept in its history entry (cut to
/// [`zkstate::MAX_MESSAGE`] bytes).
#[derive(Clone, Debug, clap::Args)]
pub struct Message {
    /// A message for the write's history entry (`zkstate history` shows it)
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub message: Option<String>,
}

/// What a bare `--wait-rollout` waits, in seconds.
const DEFAULT_WAIT: &str = "60";

/// The value of `--wait-rollout`: a duration; anything else (a DIR or JSON written after
/// the flag) is refused with how to write it.
fn parse_wait(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|err| {
        format!(
            "{err}; --wait-rollout takes the time to wait right after it (`--wait-rollout 30`, \
             `--wait-rollout=2m`); for the default {DEFAULT_WAIT} s put it last or before another \
             flag, not before DIR or JSON"
        )
    })
}

/// The parser of `--auth USER:PASSWORD`. Unlike a plain function parser, whose errors clap
/// prints with the value (`invalid value 'bob:s3cret' ...`), its error never shows the value.
#[derive(Clone, Copy, Debug)]
pub struct CredentialParser;

impl clap::builder::TypedValueParser for CredentialParser {
    type Value = Credential;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Credential, clap::Error> {
        let problem = match value.to_str() {
            Some(text) => match parse_credential(text) {
                Ok(credential) => return Ok(credential),
                Err(problem) => problem,
            },
            None => "it is not valid unicode".to_string(),
        };
        Err(clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!("bad --auth (the value is not shown): {problem}\n"),
        )
        .with_cmd(cmd))
    }
}

/// One credential, `user:password`, as `ZOOKEEPER_AUTH` takes it; the error says what is wrong
/// without the value.
pub fn parse_credential(text: &str) -> Result<Credential, String> {
    Credential::parse(text).map_err(|err| match err {
        SettingsError::Credential { problem, .. } => problem.to_string(),
        // `Credential::parse` fails only with `Credential`; another kind still hides the value.
        _ => CredentialProblem::MissingColon.to_string(),
    })
}

/// The credentials of an auth file: one `user:password` a line, in the format of
/// `ZOOKEEPER_AUTH`. Blank lines are skipped and a line ends at `\n` or `\r\n`; nothing else
/// is trimmed, as a password may start or end with a space. The error names the line, never its
/// text; a file without any credential is an error too.
pub fn parse_auth_lines(text: &str) -> Result<Vec<Credential>, String> {
    let mut credentials = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let credential =
            parse_credential(line).map_err(|problem| format!("line {}: {problem}", number + 1))?;
        credentials.push(credential);
    }
    if credentials.is_empty() {
        return Err("it holds no credential (one `user:password` a line)".to_string());
    }
    Ok(credentials)
}

/// Whether a `--zk` URL or connect string has a credential in it, `user:password@` before the
/// servers (`zookeeper://bob:s3cret@h1:2181/x`, `bob:s3cret@h1`): an `@` in the authority (up
/// to the first `/` after the scheme), where no host name has one. An `@` further on is a node
/// name's (`zookeeper://h1/apps/user@host`) when the URL parses; when it does not, the library's
/// error would quote the part before it (a password with a `/` in it: `bob:s3/cret@h1`), so it
/// counts as a credential too.
pub fn url_has_credential(url: &str) -> bool {
    let authority = match url.split_once("://") {
        // `scheme://`: a scheme has no '/' (in `h1/a://b` the `://` is in the path).
        Some((scheme, rest)) if !scheme.contains('/') => rest,
        _ => url,
    };
    authority.split('/').next().unwrap_or("").contains('@')
        || (url.contains('@') && zkstate::ZkUrl::parse(url).is_err())
}

/// Whether a server list (`ZOOKEEPER_SERVERS`) has a credential in it: any `@`, which no host
/// name has.
pub fn servers_have_credential(servers: &str) -> bool {
    servers.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in ["0", "0s", "-1", "inf", "ten", "", "5 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wait_that_is_not_seconds_says_how_to_write_the_flag() {
        let err = parse_wait("{}").expect_err("JSON is not seconds");
        assert!(
            err.contains("--wait-rollout 30") && err.contains("put it last"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_credential_is_reported_without_its_value() {
        assert!(parse_credential("bob:s3cret").is_ok());
        assert!(
            parse_credential("bob:").is_ok(),
            "an empty password is allowed"
        );
        for (text, problem) in [
            ("bob", "expected `user:password`"),
            (":s3cret", "the user is empty"),
        ] {
            let err = parse_credential(text).expect_err(text);
            assert_eq!(err, problem);
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn the_auth_parser_hides_the_value_in_its_error() {
        use clap::builder::TypedValueParser;
        let cmd = clap::Command::new("zkstate");
        let parsed = CredentialParser.parse_ref(&cmd, None, std::ffi::OsStr::new("bob:s3cret"));
        match parsed {
            Ok(credential) => {
                assert_eq!(
                    (credential.user(), credential.password()),
                    ("bob", "s3cret")
                );
                assert!(!format!("{credential:?}").contains("s3cret"));
            }
            Err(err) => panic!("{err}"),
        }
        let err = CredentialParser
            .parse_ref(&cmd, None, std::ffi::OsStr::new(":s3cret"))
            .expect_err("an empty user");
        let text = err.to_string();
        assert!(
            text.contains("bad --auth") && text.contains("the user is empty"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn auth_files_hold_one_credential_a_line() {
        let credentials = match parse_auth_lines("alice:a:b\r\n\n  \nbob: spaced \n") {
            Ok(credentials) => credentials,
            Err(err) => panic!("{err}"),
        };
        let parts: Vec<(&str, &str)> = credentials
            .iter()
            .map(|c| (c.user(), c.password()))
            .collect();
        assert_eq!(parts, vec![("alice", "a:b"), ("bob", " spaced ")]);
        assert_eq!(
            parse_auth_lines("alice:x\nnocolon-s3cret\n"),
            Err("line 2: expected `user:password`".to_string())
        );
        assert_eq!(
            parse_auth_lines("\n \n"),
            Err("it holds no credential (one `user:password` a line)".to_string())
        );
    }

    #[test]
    fn credentials_in_urls_and_connect_strings_are_found() {
        for url in [
            "zookeeper://bob:s3cret@h1:2181/x",
            "zookeeper+tls://bob:s3cret@h1:2281",
            "ZOOKEEPER://bob@h1",
            "bob:s3cret@h1:2181,h2/chroot",
            "h1,bob:s3cret@h2",
            "zookeeper://bob:p?w@h1/x",
            "zookeeper://bob:s3/cret@h1",
        ] {
            assert!(url_has_credential(url), "{url}");
        }
        for url in [
            "zookeeper://h1:2181,h2/base",
            "zookeeper:///apps/user@host",
            "zookeeper:./rel@x",
            "zookeeper:/abs@x",
            "h1:2181/chroot/a@b",
            "127.0.0.1:2181",
            "",
        ] {
            assert!(!url_has_credential(url), "{url}");
        }
        assert!(servers_have_credential("bob:s3cret@h1:2181"));
        assert!(!servers_have_credential("h1:2181,h2"));
    }
}
