//! `zkstate`: read, write, patch, edit and watch zkstate states in Apache ZooKeeper.
//!
//! Layout: `cli.rs` (the command line), `commands/` (one module per subcommand, and what they
//! share), `exit.rs` (exit codes and the mapping from library errors), `output.rs` (the line
//! formats, pure and unit-tested). `main` only parses, runs and maps the outcome to an exit code.
//!
//! # Exit codes
//! | code | meaning |
//! |---|---|
//! | 0 | success; also when the reader of stdout goes away (a broken pipe) |
//! | 1 | any other runtime error, among them the state's lock held by another writer for all of `--timeout` (`set`, `patch`, `edit`: nothing written) |
//! | 2 | usage error or invalid input (bad JSON names line and column; a patch that does not apply; `rm` without `--yes`) |
//! | 3 | version conflict (`set --if-version`, `edit`): nothing was written |
//! | 4 | not found: the state directory or path does not exist |
//! | 5 | ZooKeeper unreachable, or no answer, within `--timeout` |
//! | 6 | rollout incomplete: some live instance has not applied the version (`rollout`; `--wait-rollout` after the write was made) |
//!
//! Every error is one line on stderr, `zkstate: ` and the cause chain joined with `": "`.

mod cli;
mod commands;
mod exit;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::exit::Code;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
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
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow::Error::new(err).context("cannot start the async runtime"))
        .and_then(|runtime| runtime.block_on(commands::run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = Code::of(&err);
            if code != Code::Success {
                // Nowhere else to report a closed stderr.
                let _ = writeln!(std::io::stderr(), "zkstate: {}", exit::message(&err));
            }
            ExitCode::from(code.number())
        }
    }
}
