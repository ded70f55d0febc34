//! The command line: flags, subcommands and their `BATON_*` environment variables, as typed by the user.
//!
//! Nothing here is checked beyond what clap parses; `config.rs` turns these raw values into a checked
//! configuration.

pub use crate::logging::{LogFormat, LogLevel};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use elastic_api::Secret;
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
    propagate_version = true,
    after_help = "Guide: README.md. Every flag, variable and config-file key: docs/configuration.md; exit \
                  statuses and failures: docs/operations.md."
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
    #[command(
        after_help = "Reference: docs/configuration.md (flags), docs/data-model.md (what is written), \
                      docs/operations.md (failures and exit statuses)."
    )]
    Sync(SyncArgs),
    /// Give a deployment user a role or add them to a role mapping; give a Cloud user a Cloud role, or
    /// invite someone to an organization.
    #[command(
        after_help = "Reference: docs/provisioning.md (what is edited, and the safety rules)."
    )]
    Grant(GrantArgs),
    /// Take a role from a deployment user or remove them from a role mapping; take a Cloud role from a
    /// Cloud user, or remove a member from an organization.
    #[command(
        after_help = "Reference: docs/provisioning.md (what is edited, and the safety rules)."
    )]
    Revoke(RevokeArgs),
    /// Show what a .c1z file holds (any v1 file, also one written by the Go SDK).
    #[command(after_help = INSPECT_REFERENCE)]
    Inspect(InspectArgs),
    /// Print the connector's capabilities JSON.
    #[command(after_help = "Reference: docs/inspecting.md.")]
    Capabilities,
    /// Print shell completions.
    #[command(after_help = "Reference: docs/configuration.md.")]
    Completions(CompletionsArgs),
}

/// Flags of the `grant` subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct GrantArgs {
    /// The entitlement: `role:<name>:member`, `roleMapping:<name>:member`, `organization:<id>:member`,
    /// `organization:<id>:<cloud role>` or `deployment:<id>:admin|editor|viewer`.
    pub entitlement: String,
    /// The principal: `deploymentUser:<username>`, or `user:<user id>` for the Elastic Cloud
    /// entitlements (`user:<e-mail address>` with `organization:<id>:member` sends an invitation).
    pub principal: String,
    /// Do every read and print the request that would be sent, sending nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With an invitation: a role entitlement the invitee gets on accepting (`organization:<id>:<role>`
    /// or `deployment:<id>:admin|editor|viewer`); repeat for several.
    #[arg(long = "invite-role", value_name = "ENTITLEMENT")]
    pub invite_role: Vec<String>,
    /// With an invitation: how long it stays valid, e.g. `7d`, `12h` (Elastic's default: 3 days).
    #[arg(long, value_name = "DURATION")]
    pub invite_expires_in: Option<String>,
}

/// Flags of the `revoke` subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct RevokeArgs {
    /// The entitlement (as for `grant`), or a whole grant id `<entitlement>:deploymentUser:<username>` or
    /// `<entitlement>:user:<user id>` as written in the .c1z file.
    pub entitlement_or_grant: String,
    /// The principal `deploymentUser:<username>` or `user:<user id>` (omitted when the first argument is
    /// a grant id).
    pub principal: Option<String>,
    /// Do every read and print the request that would be sent, sending nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of the `inspect` subcommand.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(subcommand)]
    pub view: InspectView,
    /// Output format.
    #[arg(short = 'o', long = "output-format", value_enum, default_value_t = OutputFormat::Console, global = true)]
    pub output: OutputFormat,
    /// Read this sync instead of the newest finished full sync.
    #[arg(long, global = true)]
    pub sync_id: Option<String>,
}

/// Where every `inspect` view points its `--help` to.
const INSPECT_REFERENCE: &str =
    "Reference: docs/inspecting.md (the views, their columns and JSON).";

/// What `inspect` shows.
#[derive(Debug, Subcommand)]
pub enum InspectView {
    /// Counts per resource type, entitlements and grants.
    #[command(after_help = INSPECT_REFERENCE)]
    Stats,
    /// The resource types.
    #[command(after_help = INSPECT_REFERENCE)]
    ResourceTypes,
    /// The resources, optionally of one type.
    #[command(after_help = INSPECT_REFERENCE)]
    Resources {
        /// Only resources of this type id.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
    },
    /// The entitlements, optionally of one resource type.
    #[command(after_help = INSPECT_REFERENCE)]
    Entitlements {
        /// Only entitlements on resources of this type id.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
    },
    /// The grants, optionally of one resource type, one entitlement or one resource.
    #[command(after_help = INSPECT_REFERENCE)]
    Grants {
        /// Only grants on resources of this type id.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
        /// Only grants of this entitlement id.
        #[arg(short = 'e', long = "entitlement", conflicts_with = "resource")]
        entitlement: Option<String>,
        /// Only grants on this resource id (needs --resource-type).
        #[arg(short = 'r', long = "resource", requires = "resource_type")]
        resource: Option<String>,
    },
    /// The principals holding grants, optionally on one resource or of one entitlement, each once.
    #[command(after_help = INSPECT_REFERENCE)]
    Principals {
        /// `compare`: who holds an entitlement in this file but not another one, and the reverse.
        #[command(subcommand)]
        action: Option<PrincipalsAction>,
        /// Only grants on resources of this type id.
        #[arg(short = 't', long = "resource-type")]
        resource_type: Option<String>,
        /// Only holders of this entitlement id.
        #[arg(short = 'e', long = "entitlement", conflicts_with = "resource")]
        entitlement: Option<String>,
        /// Only grants on this resource id (needs --resource-type).
        #[arg(short = 'r', long = "resource", requires = "resource_type")]
        resource: Option<String>,
    },
    /// The effective access of one principal: its grants, direct and expanded, by resource.
    #[command(after_help = INSPECT_REFERENCE)]
    Access {
        /// The principal's resource type id.
        #[arg(short = 't', long = "resource-type")]
        resource_type: String,
        /// The principal's resource id.
        #[arg(short = 'r', long = "resource")]
        resource: String,
    },
    /// The sync runs in the file.
    #[command(after_help = INSPECT_REFERENCE)]
    Syncs,
    /// What was added, removed and changed between the two newest finished full syncs.
    #[command(after_help = INSPECT_REFERENCE)]
    Diff,
    /// Export the sync: `csv` (as export-csv), `xlsx` (an access-review workbook) or `c1z` (one sync in
    /// its own file).
    #[command(after_help = INSPECT_REFERENCE)]
    Export {
        #[command(subcommand)]
        format: ExportFormat,
    },
    /// Every grant as one CSV row for access reviews: the principal (type, name, id, status, e-mail) and the
    /// entitlement and resource it holds.
    #[command(after_help = INSPECT_REFERENCE)]
    ExportCsv {
        /// Write the CSV to this file (replaced as a whole) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// What `inspect export` writes.
#[derive(Debug, Subcommand)]
pub enum ExportFormat {
    /// Every grant as one CSV row (the same as export-csv).
    #[command(after_help = INSPECT_REFERENCE)]
    Csv {
        /// Write the CSV to this file (replaced as a whole) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// An access-review workbook: a sheet of grants (the CSV's columns) and one of principals.
    #[command(after_help = INSPECT_REFERENCE)]
    Xlsx {
        /// The workbook to write (replaced as a whole).
        #[arg(long, default_value = "./sync.xlsx")]
        out: PathBuf,
    },
    /// One sync (--sync-id, else the newest finished full sync) copied into a new c1z file.
    #[command(after_help = INSPECT_REFERENCE)]
    C1z {
        /// The c1z file to write (replaced as a whole).
        #[arg(long, default_value = "./latest.c1z")]
        out: PathBuf,
    },
}

/// Subcommands of `inspect principals`.
#[derive(Debug, Subcommand)]
pub enum PrincipalsAction {
    /// Compare the principals of two entitlements, which may be in different files; the results are
    /// relative to the base entitlement (`-e` in `--file`): `missing` hold it but not the compared
    /// one, `extra` the reverse.
    #[command(after_help = INSPECT_REFERENCE)]
    Compare {
        /// The base entitlement id (in --file).
        #[arg(short = 'e', long = "entitlement")]
        entitlement: String,
        /// The c1z file to compare with.
        #[arg(long = "compare-file", default_value = "sync.c1z")]
        compare_file: PathBuf,
        /// The entitlement id in --compare-file to compare against.
        #[arg(long = "compare-entitlement")]
        compare_entitlement: String,
    },
}

/// `inspect --output-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Console,
    Json,
}

/// Flags of the `completions` subcommand.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    pub shell: Shell,
}

/// Shells `completions` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Flags of the `sync` subcommand.
#[derive(Debug, Args, Default)]
pub struct SyncArgs {
    /// Sync the built-in demo tenant, served on 127.0.0.1 by this process; needs no Elastic account or key.
    #[arg(long)]
    pub demo: bool,
}

/// The command-line positions of the values of each deployment flag, for the flags given on the command
/// line (empty for a value from a variable or the config file): with several `--deployment-endpoint`,
/// each credential belongs to the endpoint before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentPositions {
    pub endpoint: Vec<usize>,
    pub api_key: Vec<usize>,
    pub username: Vec<usize>,
    pub password: Vec<usize>,
    pub ca_cert: Vec<usize>,
}

/// One item of the config file's `deployments:` list, as written (checked in `config.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDeployment {
    /// The line of the item's `-`, from 1.
    pub line: usize,
    pub endpoint: Option<String>,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_cert: Option<PathBuf>,
}

/// Flags shared by every subcommand; each can also be set by its environment variable.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Elastic Cloud API key (a sync needs it, the deployment flags, or both).
    #[arg(long, env = "BATON_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,

    /// Sync only this Elastic Cloud organization.
    #[arg(long, env = "BATON_ORGANIZATION_ID", global = true)]
    pub organization_id: Option<String>,

    /// Elasticsearch endpoint of a deployment or self-managed cluster, e.g.
    /// `https://my-deployment.es.us-central1.gcp.cloud.es.io` (given together with --deployment-api-key or
    /// --deployment-username and --deployment-password). Repeat for several deployments, each followed by
    /// its own credential (and --deployment-ca-cert); the variable gives one.
    #[arg(long, env = "BATON_DEPLOYMENT_ENDPOINT", action = ArgAction::Append, global = true)]
    pub deployment_endpoint: Vec<String>,

    /// Elasticsearch API key of that deployment, the base64 `encoded` form (given together with
    /// --deployment-endpoint; with several endpoints, after the one it belongs to).
    #[arg(
        long,
        env = "BATON_DEPLOYMENT_API_KEY",
        hide_env_values = true,
        action = ArgAction::Append,
        global = true
    )]
    pub deployment_api_key: Vec<String>,

    /// Elasticsearch user for HTTP Basic authentication (instead of --deployment-api-key), given with
    /// --deployment-password.
    #[arg(long, env = "BATON_DEPLOYMENT_USERNAME", action = ArgAction::Append, global = true)]
    pub deployment_username: Vec<String>,

    /// Password of --deployment-username.
    #[arg(
        long,
        env = "BATON_DEPLOYMENT_PASSWORD",
        hide_env_values = true,
        action = ArgAction::Append,
        global = true
    )]
    pub deployment_password: Vec<Secret>,

    /// PEM file of CA certificates to trust for the deployment endpoint besides the built-in roots, e.g. a
    /// self-managed cluster's `config/certs/http_ca.crt`.
    #[arg(long, env = "BATON_DEPLOYMENT_CA_CERT", action = ArgAction::Append, global = true)]
    pub deployment_ca_cert: Vec<PathBuf>,

    /// With several deployments: when one cannot be read, write the others and record the missing one
    /// (by default the run fails and the file is left unchanged).
    #[arg(long, env = "BATON_CONTINUE_ON_DEPLOYMENT_ERROR", global = true)]
    pub continue_on_deployment_error: bool,

    /// Where on the command line each deployment flag's values were given (set while parsing).
    #[arg(skip)]
    pub deployment_positions: DeploymentPositions,

    /// The config file's `deployments:` list (set while parsing).
    #[arg(skip)]
    pub file_deployments: Vec<FileDeployment>,

    /// Users per page of `POST /_security/_query/user` (Elasticsearch 8.14 and later).
    #[arg(long, env = "BATON_USERS_PAGE_SIZE", default_value_t = elastic_api::deployment::DEFAULT_USERS_PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..=10_000), hide = true, global = true)]
    pub users_page_size: u32,

    /// The .c1z file: written by sync, read by inspect.
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

    /// Seconds one HTTP request attempt may take in all (connecting: 10 s).
    #[arg(long, env = "BATON_HTTP_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=1800), global = true)]
    pub http_timeout_seconds: u64,

    /// Number of finished syncs kept in the file.
    #[arg(long, env = "BATON_KEEP_SYNC_COUNT", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..), hide = true, global = true)]
    pub keep_sync_count: u64,

    /// Keep every earlier sync in the file.
    #[arg(long, env = "BATON_SKIP_CLEANUP", hide = true, global = true)]
    pub skip_cleanup: bool,

    /// Largest zstd window accepted when reading a .c1z, in MiB (Baton's decoder setting).
    #[arg(long, env = "BATON_DECODER_MAX_MEMORY_MB", hide = true, global = true)]
    pub decoder_max_memory_mb: Option<String>,

    /// Largest decompressed size accepted when reading a .c1z, in MiB (Baton's decoder setting).
    #[arg(
        long,
        env = "BATON_DECODER_MAX_DECODED_SIZE_MB",
        hide = true,
        global = true
    )]
    pub decoder_max_decoded_size_mb: Option<String>,

    /// First wait between HTTP attempts when the server gives no hint, in milliseconds.
    #[arg(long, env = "BATON_RETRY_BASE_MS", hide = true, global = true)]
    pub retry_base_ms: Option<String>,

    /// Folder for the decompressed working database (default: the system temp folder).
    #[arg(long, env = "BATON_C1Z_TEMP_DIR", hide = true, global = true)]
    pub c1z_temp_dir: Option<PathBuf>,

    /// Attempts per HTTP request at most, counting the first (429, 500, 502, 503, 504, resets and timeouts are
    /// retried).
    #[arg(long, env = "BATON_MAX_RETRIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20), global = true)]
    pub max_retries: u32,

    /// Sync only the resources, entitlements and grants of these resource type ids (comma-separated);
    /// the other types are still written, empty. As baton-sdk's --sync-resource-types.
    #[arg(
        long = "sync-resource-types",
        env = "BATON_SYNC_RESOURCE_TYPES",
        value_delimiter = ',',
        global = true
    )]
    pub sync_resource_types: Vec<String>,

    /// Sync resources and entitlements but no grants (baton-sdk's --skip-grants).
    #[arg(long, env = "BATON_SKIP_GRANTS", hide = true, global = true)]
    pub skip_grants: bool,

    /// Sync only resources: no entitlements and no grants; the sync is recorded as `resources_only`
    /// (baton-sdk's --skip-entitlements-and-grants).
    #[arg(long, env = "BATON_SKIP_ENTITLEMENTS_AND_GRANTS", global = true)]
    pub skip_entitlements_and_grants: bool,

    /// Go connector compatibility: the entitlement to grant (as `grant <ENTITLEMENT>`).
    #[arg(long, env = "BATON_GRANT_ENTITLEMENT", hide = true, global = true)]
    pub grant_entitlement: Option<String>,

    /// Go connector compatibility: the principal's resource type id (`deploymentUser`).
    #[arg(long, env = "BATON_GRANT_PRINCIPAL_TYPE", hide = true, global = true)]
    pub grant_principal_type: Option<String>,

    /// Go connector compatibility: the principal's resource id (the username).
    #[arg(long, env = "BATON_GRANT_PRINCIPAL", hide = true, global = true)]
    pub grant_principal: Option<String>,

    /// Go connector compatibility: the grant id to revoke (as `revoke <GRANT>`).
    #[arg(long, env = "BATON_REVOKE_GRANT", hide = true, global = true)]
    pub revoke_grant: Option<String>,

    /// ConductorOne client id, for the Go connector's service mode (not supported: run one-shot syncs).
    #[arg(long, env = "BATON_CLIENT_ID", global = true)]
    pub client_id: Option<String>,

    /// ConductorOne client secret, for the Go connector's service mode (not supported).
    #[arg(
        long,
        env = "BATON_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub client_secret: Option<Secret>,

    /// Go connector compatibility: accepted and ignored (one-shot grant and revoke always provision).
    #[arg(long, env = "BATON_PROVISIONING", hide = true, global = true)]
    pub provisioning: bool,

    /// With --grant-entitlement or --revoke-grant: do every read and print the request that would be sent,
    /// sending nothing (the subcommands have their own --dry-run).
    #[arg(long = "dry-run", hide = true)]
    pub dry_run: bool,
}
