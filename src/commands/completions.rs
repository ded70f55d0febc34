//! `completions`: prints shell completions for this command line.

use crate::cli::CompletionsArgs;

/// Prints completions for the chosen shell to stdout.
pub fn run(_args: &CompletionsArgs) -> anyhow::Result<()> {
    anyhow::bail!("completions is not implemented yet")
}
