//! baton-elastic: syncs Elastic Cloud organizations and Elasticsearch security objects into Baton's
//! `.c1z` format.
//!
//! `main.rs` only parses the command line and reports errors; everything else lives here so that tests
//! reach every part.

pub mod atomic_file;
pub mod c1z;
pub mod cli;
pub mod clock;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod config_file;
pub mod csv;
pub mod deployment;
pub mod expand;
pub mod fake;
pub mod http;
pub mod interrupt;
pub mod logging;
pub mod output;
pub mod progress;
pub mod proto;
pub mod protojson;
pub mod provision;
pub mod rules;
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
