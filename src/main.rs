//! The `baton-elastic` binary: reads the config file, parses the command line, runs it, and reports a
//! failure once. The only place that reads the process environment for the connector (clap reads the
//! `BATON_*` variables of the flags).

use baton_elastic::cli::{Cli, LogFormat};
use baton_elastic::config::UsageError;
use baton_elastic::config_file;
use std::path::Path;
use std::process::ExitCode;

/// The config file and the command line, merged: flag > environment variable > file > default.
fn command_line() -> anyhow::Result<Cli> {
    let file = config_file::load(
        std::env::var_os(config_file::PATH_ENV),
        Path::new(config_file::DEFAULT_PATH),
    )?;
    config_file::parse_command_line(std::env::args_os(), file.as_ref(), |name| {
        std::env::var_os(name)
    })
}

fn main() -> ExitCode {
    let result = match command_line() {
        Ok(cli) => baton_elastic::run(cli),
        // Help, version and command line errors: printed and exited as clap does.
        Err(err) => match err.downcast_ref::<clap::Error>() {
            Some(clap_error) => clap_error.exit(),
            None => Err(err),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}");
            if baton_elastic::logging::format() == LogFormat::Json {
                let fields = [("error", serde_json::Value::from(message))];
                let line = baton_elastic::logging::render(
                    baton_elastic::cli::LogLevel::Error,
                    LogFormat::Json,
                    "baton-elastic failed",
                    &fields,
                );
                eprintln!("{line}");
            } else {
                eprintln!("error: {message}");
            }
            if err.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
