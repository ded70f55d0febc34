//! `inspect`: shows what a `.c1z` file holds, in the views the `baton` CLI offers.

use crate::cli::{GlobalArgs, InspectArgs};

/// Runs one `inspect` view.
pub fn run(_global: &GlobalArgs, _args: &InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("inspect is not implemented yet")
}
