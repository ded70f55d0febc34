//! `completions`: prints shell completions for this command line.

use crate::cli::{Cli, CompletionsArgs, Shell};
use crate::output;
use anyhow::Context;
use clap::CommandFactory;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> anyhow::Result<String> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Elvish => clap_complete::Shell::Elvish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut command, name, &mut out);
    String::from_utf8(out).context("the completion script is not UTF-8")
}

/// Prints completions for the chosen shell to stdout.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    output::print(&script(args.shell)?)
}
