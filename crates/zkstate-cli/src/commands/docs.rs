//! `zkstate completions bash|zsh|fish|elvish|powershell` and `zkstate man`: the shell
//! completions (clap_complete) and the man page (roff, clap_mangen) of the command line, generated
//! from its definition, on stdout. They need no ZooKeeper.
//!
//! ```sh
//! zkstate completions bash > /etc/bash_completion.d/zkstate
//! zkstate man > /usr/local/share/man/man1/zkstate.1
//! ```

use anyhow::{Context, Result};

/// Arguments of `zkstate completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

/// Prints the completions of `command` for the shell.
pub fn completions(mut command: clap::Command, args: &CompletionsArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "zkstate", &mut out);
    Ok(())
}

/// Prints the man page of `command` (section 1).
pub fn man(command: clap::Command) -> Result<()> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .context("cannot write the man page to stdout")
}
