//! The `baton-elastic` binary: reads the config file, parses the command line, runs it, and reports a
//! failure once.

use baton_elastic::cli::{Cli, LogFormat};
use baton_elastic::config::UsageError;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The config file only sets unset `BATON_*` variables, so that clap resolves flag > env > file > default.
    let result =
        baton_elastic::config_file::apply().and_then(|()| baton_elastic::run(Cli::parse()));
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
