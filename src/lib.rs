//! baton-elastic: syncs Elastic Cloud organizations and Elasticsearch security objects into Baton's
//! `.c1z` format, and grants or revokes access.
//!
//! The connector: the command line and its configuration, the syncers that map Elastic objects to
//! Baton resources, entitlements and grants, provisioning, `inspect`, output and logs. The file format
//! is `baton_c1z`, the Elastic clients are `elastic_api`, the fake Elastic (tests, benchmark, `sync
//! --demo`) is `elastic_fake`. `main.rs` only parses the command line and reports errors.

pub mod cli;
pub mod commands;
pub mod config;
pub mod config_file;
pub mod credentials_fetch;
pub mod csv;
pub mod interrupt;
pub mod logging;
pub mod output;
pub mod progress;
pub mod provision;
pub mod snapshot;
pub mod syncers;

use cli::{Cli, Command, SyncArgs};
use config::LogConfig;
use std::io::IsTerminal;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let log = LogConfig::from_args(&cli.global, std::io::stderr().is_terminal());
    logging::init(log.level, log.format);
    config::refuse_service_mode(&cli.global)?;
    interrupt::install()?;
    match cli.command {
        None => match commands::grant::go_style_request(&cli.global)? {
            Some(request) => commands::grant::run(&cli.global, request),
            None => commands::sync::run(&cli.global, &SyncArgs::default()),
        },
        Some(Command::Sync(args)) => commands::sync::run(&cli.global, &args),
        Some(Command::Grant(args)) => commands::grant::run(
            &cli.global,
            commands::grant::Request::from_grant_args(&args, &cli.global)?,
        ),
        Some(Command::Revoke(args)) => commands::grant::run(
            &cli.global,
            commands::grant::Request::from_revoke_args(&args, &cli.global)?,
        ),
        Some(Command::Inspect(args)) => commands::inspect::run(&cli.global, &args),
        Some(Command::Capabilities) => commands::capabilities::run(),
        Some(Command::Completions(args)) => commands::completions::run(&args),
    }
}
