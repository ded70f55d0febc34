//! The `baton-elastic` binary: parses the command line, runs it, and reports a failure once.

use baton_elastic::cli::{Cli, LogFormat};
use baton_elastic::config::UsageError;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match baton_elastic::run(cli) {
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
