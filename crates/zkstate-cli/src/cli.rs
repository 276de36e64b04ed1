//! The command line: global options and subcommands (clap derive). Each subcommand's own
//! arguments live beside its code in `commands/`, the ones several share in `args.rs`. Nothing
//! in `commands/` imports this file: `main` turns a parsed [`Cli`] into a command's run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::args::parse_duration;
use crate::commands::{
    diff, docs, edit, get, history, listeners, ls, patch, rm, rollback, rollout, serve, set, stat,
    unlock, watch,
};

/// What `--help` shows after the options: the exit codes (from their table in `exit.rs`) and
/// where output goes.
fn after_help() -> String {
    format!(
        "{}\n\nEvery error is one line on stderr starting with `zkstate: `.\n\
         Data goes to stdout, messages to stderr.",
        crate::exit::help()
    )
}

/// Read, write, patch, edit and watch zkstate states in Apache ZooKeeper.
///
/// A state directory (DIR) is the ZooKeeper node that holds `payload` (the value as JSON),
/// `listeners`, `lock` and `writers`. A relative DIR is resolved under the path of the --zk URL
/// (or $ZOOKEEPER_PATH, else /); an absolute one is taken as it is.
///
/// Credentials (digest `user:password`) come from the first of: --auth-file,
/// $ZOOKEEPER_AUTH_FILE, $ZOOKEEPER_AUTH; --auth on the command line goes before them all, but
/// other users see it in `ps`. A URL or $ZOOKEEPER_SERVERS with a credential in it
/// (`user:password@host`) is refused (exit 2). Credentials are never printed, and `edit` runs
/// $EDITOR without $ZOOKEEPER_AUTH and $ZOOKEEPER_AUTH_FILE.
#[derive(Debug, Parser)]
#[command(name = "zkstate", version, arg_required_else_help = true, after_help = after_help())]
pub struct Cli {
    /// ZooKeeper to use: `zookeeper://h1:2181,h2/base`, `zookeeper:///abs`, `zookeeper:./rel`
    /// or `h1:2181,h2/chroot`; `zookeeper+tls://h1:2281/base` for TLS (needs --tls-ca)
    /// [default: $ZOOKEEPER_SERVERS, else 127.0.0.1:2181]; never with a credential in it
    /// (`user:password@host`: exit 2), which goes in $ZOOKEEPER_AUTH or --auth-file
    #[arg(long, global = true, value_name = "URL")]
    pub zk: Option<String>,

    /// How long to wait for ZooKeeper: to connect, and for each request (seconds, or 20s, 2m,
    /// 500ms)
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        default_value = "10",
        value_parser = parse_duration
    )]
    pub timeout: Duration,

    /// Digest credential `user:password` sent with the session. Visible to every user in `ps`
    /// and kept in shell history: prefer $ZOOKEEPER_AUTH or --auth-file. Goes before them both
    #[arg(
        long,
        global = true,
        value_name = "USER:PASSWORD",
        value_parser = crate::args::CredentialParser,
        conflicts_with = "auth_file"
    )]
    pub auth: Option<zkstate::Credential>,

    /// File of digest credentials, `user:password` one a line (blank lines skipped), as
    /// $ZOOKEEPER_AUTH takes one; refused (exit 2) when group or others may read or write it
    /// (chmod 600). Goes before $ZOOKEEPER_AUTH_FILE, which goes before $ZOOKEEPER_AUTH
    /// [default: $ZOOKEEPER_AUTH_FILE, else $ZOOKEEPER_AUTH]
    #[arg(long, global = true, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// ACL of the nodes this command creates: open, creator-all-world-read or creator-only
    /// (the last two need a credential) [default: $ZOOKEEPER_ACL, else open]
    #[arg(long, global = true, value_name = "POLICY", env = "ZOOKEEPER_ACL")]
    pub acl: Option<zkstate::AclPolicy>,

    /// TLS: the CA certificates (PEM file) that sign the servers' certificates; turns TLS on
    /// (the ports are then the servers' secureClientPort) [default: $ZOOKEEPER_TLS_CA]
    #[arg(long, global = true, value_name = "FILE", env = "ZOOKEEPER_TLS_CA")]
    pub tls_ca: Option<PathBuf>,

    /// TLS: the client certificate (PEM file); needs --tls-key and --tls-ca
    /// [default: $ZOOKEEPER_TLS_CERT]
    #[arg(long, global = true, value_name = "FILE", env = "ZOOKEEPER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the client certificate's private key (PEM file); needs --tls-cert
    /// [default: $ZOOKEEPER_TLS_KEY]
    #[arg(long, global = true, value_name = "FILE", env = "ZOOKEEPER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a state's payload as pretty JSON
    Get(get::Args),
    /// Write a whole payload, under the state's lock
    Set(set::Args),
    /// Change the payload with a JSON merge patch (RFC 7396) or a JSON patch (RFC 6902)
    Patch(patch::Args),
    /// Edit the payload in $EDITOR; write it back unless someone changed it meanwhile
    Edit(edit::Args),
    /// Print every change of a state as it happens, until interrupted
    Watch(watch::Args),
    /// List the live instances of a state and the version each has applied
    Listeners(listeners::Args),
    /// Show (or wait for) which live instances have applied a version of a state
    Rollout(rollout::Args),
    /// Serve a live operator page and a JSON API for the states under a path
    Serve(serve::Args),
    /// Describe a state: version, zxids, sizes, compression, instances, lock holder, markers,
    /// history
    Stat(stat::Args),
    /// List the state directories under a path
    Ls(ls::Args),
    /// List the kept versions of a state, newest first: who wrote each, when, what changed
    History(history::Args),
    /// Print the changes from one kept version of a state to another (default: the current)
    Diff(diff::Args),
    /// Write the value of a kept version again, as a new version, under the state's lock
    Rollback(rollback::Args),
    /// Remove a state directory and everything under it
    Rm(rm::Args),
    /// Print the shell completions (bash, zsh, fish, elvish, powershell) on stdout
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) on stdout: `zkstate man > zkstate.1`
    Man,
    /// Remove the nodes of a state's lock that no session holds (planted persistent nodes that
    /// block every write); live writers' nodes are never touched
    Unlock(unlock::Args),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_and_flag_has_a_doc_line() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(sub.get_name().to_string());
            }
            for arg in sub.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help") {
                    missing.push(format!("{} {}", sub.get_name(), arg.get_id()));
                }
            }
        }
        for arg in cli.get_arguments() {
            if arg.get_help().is_none() {
                missing.push(arg.get_id().to_string());
            }
        }
        assert!(missing.is_empty(), "without a doc line: {missing:?}");
    }

    #[test]
    fn help_says_where_credentials_come_from() {
        let help = Cli::command().render_long_help().to_string();
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in [
            "come from the first of: --auth-file, $ZOOKEEPER_AUTH_FILE, $ZOOKEEPER_AUTH",
            "Goes before $ZOOKEEPER_AUTH_FILE, which goes before $ZOOKEEPER_AUTH",
            "Visible to every user in `ps`",
            "prefer $ZOOKEEPER_AUTH or --auth-file",
            "chmod 600",
            "credential in it (`user:password@host`: exit 2)",
            "`edit` runs $EDITOR without $ZOOKEEPER_AUTH and $ZOOKEEPER_AUTH_FILE",
        ] {
            assert!(flat.contains(part), "{part:?} missing\n{help}");
        }
    }

    #[test]
    fn the_parsed_command_line_does_not_show_the_password() {
        let cli = match Cli::try_parse_from(["zkstate", "--auth", "alice:s3cret", "get", "/x"]) {
            Ok(cli) => cli,
            Err(err) => panic!("{err}"),
        };
        let shown = format!("{cli:?}");
        assert!(
            shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(cli.auth.as_ref().map(|c| c.password()), Some("s3cret"));
    }

    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        for line in [
            "0  success",
            "1  any other runtime error, among them the state's lock held by another writer",
            "2  usage error or invalid input",
            "3  version conflict",
            "4  not found",
            "5  ZooKeeper unreachable",
            "6  rollout incomplete",
        ] {
            assert!(help.contains(line), "{line:?} missing\n{help}");
        }
    }
}

#[cfg(test)]
mod rollout_flag {
    use clap::Parser;

    use super::*;

    fn parsed(args: &[&str]) -> Command {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli.command,
            Err(err) => panic!("{args:?} did not parse: {err}"),
        }
    }

    fn wait_of(args: &[&str]) -> Option<Duration> {
        match parsed(args) {
            Command::Edit(a) => a.rollout.wait_rollout,
            Command::Set(a) => a.rollout.wait_rollout,
            Command::Patch(a) => a.rollout.wait_rollout,
            other => panic!("{other:?}"),
        }
    }

    const DEFAULT: Option<Duration> = Some(Duration::from_secs(60));

    #[test]
    fn wait_rollout_is_off_unless_given() {
        assert_eq!(wait_of(&["zkstate", "edit", "/x"]), None);
        assert_eq!(wait_of(&["zkstate", "set", "/x", "1"]), None);
    }

    #[test]
    fn a_value_after_wait_rollout_is_the_timeout_and_the_json_comes_from_stdin() {
        match parsed(&["zkstate", "set", "/apps/m", "--wait-rollout", "60"]) {
            Command::Set(a) => {
                assert_eq!(a.rollout.wait_rollout, Some(Duration::from_secs(60)));
                assert_eq!(a.json, None, "the JSON is read from stdin");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            wait_of(&["zkstate", "set", "/x", "--wait-rollout", "5", "{}"]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait_of(&[
                "zkstate",
                "patch",
                "--wait-rollout=5",
                "/x",
                "--merge",
                "{}"
            ]),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_bare_wait_rollout_last_or_before_a_flag_is_the_default() {
        match parsed(&["zkstate", "set", "/x", r#"{"a":1}"#, "--wait-rollout"]) {
            Command::Set(a) => {
                assert_eq!(a.rollout.wait_rollout, DEFAULT);
                assert_eq!(a.json.as_deref(), Some(r#"{"a":1}"#));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            wait_of(&["zkstate", "edit", "/x", "--wait-rollout"]),
            DEFAULT
        );
        assert_eq!(
            wait_of(&["zkstate", "patch", "/x", "--wait-rollout", "--merge", "{}"]),
            DEFAULT
        );
    }

    #[test]
    fn a_value_that_is_not_seconds_is_a_usage_error_that_says_how_to_write_the_flag() {
        for args in [
            &["zkstate", "set", "/x", "--wait-rollout", r#"{"a":1}"#][..],
            &["zkstate", "edit", "--wait-rollout", "/x"][..],
            &["zkstate", "set", "/x", "--wait-rollout", "-"][..],
        ] {
            let err = match Cli::try_parse_from(args) {
                Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
                Err(err) => err,
            };
            // What main turns into exit 2, on one line.
            assert!(err.use_stderr(), "{args:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
            let message = err.to_string();
            assert!(
                message.contains("--wait-rollout 30") && message.contains("put it last"),
                "{args:?}: {message}"
            );
        }
    }
}
