//! `capabilities`: prints the connector's capabilities JSON in the Go connector's format.

/// Prints the capabilities JSON to stdout.
pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("capabilities is not implemented yet")
}
