//! The command line: flags, subcommands and their `BATON_*` environment variables, as typed by the user.
//!
//! Nothing here is checked beyond what clap parses; `config.rs` turns these raw values into a checked
//! configuration.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default Elastic Cloud API base URL.
pub const DEFAULT_CLOUD_URL: &str = "https://api.elastic-cloud.com";

/// Sync Elastic Cloud organizations and Elasticsearch security objects into a Baton .c1z file.
///
/// With no subcommand, runs a sync. Exit status: 0 on success, 1 when the run failed, 2 on a usage error.
#[derive(Debug, Parser)]
#[command(
    name = "baton-elastic",
    version = concat!("version ", env!("CARGO_PKG_VERSION")),
    disable_version_flag = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub global: GlobalArgs,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version, global = true)]
    pub version: Option<bool>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read Elastic and write the .c1z file (the default when no subcommand is given).
    Sync(SyncArgs),
}

/// Flags of the `sync` subcommand.
#[derive(Debug, Args, Default)]
pub struct SyncArgs {
    /// Sync the built-in demo tenant, served on 127.0.0.1 by this process; needs no Elastic account or key.
    #[arg(long)]
    pub demo: bool,
}

/// Flags shared by every subcommand; each can also be set by its environment variable.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Elastic Cloud API key (required for a sync).
    #[arg(long, env = "BATON_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,

    /// Sync only this Elastic Cloud organization.
    #[arg(long, env = "BATON_ORGANIZATION_ID", global = true)]
    pub organization_id: Option<String>,

    /// Elasticsearch endpoint of a deployment, e.g. `https://my-deployment.es.us-central1.gcp.cloud.es.io`
    /// (given together with --deployment-api-key).
    #[arg(long, env = "BATON_DEPLOYMENT_ENDPOINT", global = true)]
    pub deployment_endpoint: Option<String>,

    /// Elasticsearch API key of that deployment, the base64 `encoded` form (given together with
    /// --deployment-endpoint).
    #[arg(
        long,
        env = "BATON_DEPLOYMENT_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub deployment_api_key: Option<String>,

    /// The .c1z file to write.
    #[arg(
        short = 'f',
        long,
        env = "BATON_FILE",
        default_value = "sync.c1z",
        global = true
    )]
    pub file: PathBuf,

    /// Log level.
    #[arg(long, env = "BATON_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,

    /// Log format; default: console when stderr is a terminal, json otherwise.
    #[arg(long, env = "BATON_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,

    /// Elastic Cloud API base URL (Elastic Cloud Enterprise, proxies, tests).
    #[arg(long, env = "BATON_CLOUD_URL", default_value = DEFAULT_CLOUD_URL, global = true)]
    pub cloud_url: String,

    /// Allow http:// URLs for non-loopback hosts (API keys then travel unencrypted).
    #[arg(long, env = "BATON_ALLOW_INSECURE_HTTP", global = true)]
    pub allow_insecure_http: bool,

    /// Seconds one HTTP request may take in all.
    #[arg(long, env = "BATON_HTTP_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=1800), global = true)]
    pub http_timeout_seconds: u64,

    /// Number of finished syncs kept in the file.
    #[arg(long, env = "BATON_KEEP_SYNC_COUNT", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..), hide = true, global = true)]
    pub keep_sync_count: u64,

    /// Keep every earlier sync in the file.
    #[arg(long, env = "BATON_SKIP_CLEANUP", hide = true, global = true)]
    pub skip_cleanup: bool,

    /// Folder for the decompressed working database (default: the system temp folder).
    #[arg(long, env = "BATON_C1Z_TEMP_DIR", hide = true, global = true)]
    pub c1z_temp_dir: Option<PathBuf>,
}

/// `--log-level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Console,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_work_before_and_after_the_subcommand() {
        let cli = Cli::try_parse_from(["baton-elastic", "--api-key", "k", "sync", "-f", "out.c1z"])
            .expect("parses");
        assert_eq!(cli.global.api_key.as_deref(), Some("k"));
        assert_eq!(cli.global.file, PathBuf::from("out.c1z"));
        assert!(matches!(cli.command, Some(Command::Sync(_))));
    }

    #[test]
    fn unknown_log_level_is_a_usage_error() {
        let err =
            Cli::try_parse_from(["baton-elastic", "--log-level", "verbose"]).expect_err("rejects");
        assert_eq!(err.exit_code(), 2);
    }
}
