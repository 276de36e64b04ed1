//! `zkstate`: read, write, patch, edit and watch zkstate states in Apache ZooKeeper.
//!
//! Layout, each file importing only those after it: `main.rs` (parses, dispatches to the
//! subcommand, maps the outcome to an exit code), `cli.rs` (the command line), `commands/` (one
//! module per subcommand, and in `commands/mod.rs` what they share: credentials, connecting),
//! `args.rs` (argument types several commands share: seconds, `--wait-rollout`, the checks of
//! credentials), `output.rs` (the line formats and the escaping of remote strings, pure and
//! unit-tested), `exit.rs` (the exit codes and the mapping from library errors).
//!
//! # Exit codes
//! The table is `exit_codes!` in `exit.rs`, written once: it declares [`exit::Code`] and the
//! "Exit codes" section of `zkstate --help`. Every error is one line on stderr, `zkstate: ` and
//! the cause chain joined with `": "`.

mod args;
mod cli;
mod commands;
mod exit;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::{
    diff, docs, edit, get, history, listeners, ls, patch, rm, rollback, rollout, serve, set, stat,
    unlock, watch, Global,
};
use crate::exit::Code;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Bare `zkstate` (no subcommand): the help itself, not a line of it, on stderr.
        Err(err)
            if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            let help = <Cli as clap::CommandFactory>::command().render_help();
            let _ = write!(std::io::stderr(), "{help}");
            return ExitCode::from(Code::Usage.number());
        }
        // A usage error, as every error: one line on stderr.
        Err(err) if err.use_stderr() => {
            let line = exit::one_line_usage_error(&err.to_string());
            let _ = writeln!(std::io::stderr(), "zkstate: {line}");
            return ExitCode::from(Code::Usage.number());
        }
        // --help and --version: a closed stdout is nothing to report.
        Err(err) => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    let outcome = match &cli.command {
        // Generated from the command line itself: no ZooKeeper, no credentials.
        Command::Completions(args) => {
            docs::completions(<Cli as clap::CommandFactory>::command(), args)
        }
        Command::Man => docs::man(<Cli as clap::CommandFactory>::command()),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| anyhow::Error::new(err).context("cannot start the async runtime"))
            .and_then(|runtime| runtime.block_on(run(cli))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = Code::of(&err);
            if code != Code::Success {
                // Nowhere else to report a closed stderr. Causes may quote remote strings (node
                // names, records): escaped as every human output is.
                let message = exit::message(&err);
                let _ = writeln!(std::io::stderr(), "zkstate: {}", output::escape(&message));
            }
            ExitCode::from(code.number())
        }
    }
}

/// Runs the subcommand with the global options.
async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = Global {
        zk: cli.zk,
        timeout: cli.timeout,
        auth: commands::credentials(cli.auth, cli.auth_file.as_deref())?,
        acl: cli.acl,
        tls_ca: cli.tls_ca,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
    };
    match cli.command {
        Command::Get(args) => get::run(&global, args).await,
        Command::Set(args) => set::run(&global, args).await,
        Command::Patch(args) => patch::run(&global, args).await,
        Command::Edit(args) => edit::run(&global, args).await,
        Command::Watch(args) => watch::run(&global, args).await,
        Command::Listeners(args) => listeners::run(&global, args).await,
        Command::Ls(args) => ls::run(&global, args).await,
        Command::Stat(args) => stat::run(&global, args).await,
        Command::Rm(args) => rm::run(&global, args).await,
        Command::History(args) => history::run(&global, args).await,
        Command::Diff(args) => diff::run(&global, args).await,
        Command::Rollback(args) => rollback::run(&global, args).await,
        Command::Rollout(args) => rollout::run(&global, args).await,
        Command::Serve(args) => serve::run(&global, args).await,
        Command::Unlock(args) => unlock::run(&global, args).await,
        Command::Completions(_) | Command::Man => Ok(()),
    }
}
