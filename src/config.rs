//! Checked configuration: turns the raw command line into URLs, secrets and options, or a usage error.

use crate::cli::GlobalArgs;
use crate::logging::{LogFormat, LogLevel};
use baton_c1z::{DecodeLimits, SyncType, WriteOptions};
use elastic_api::{Api, CaCertificates, Credential, Endpoint, HttpOptions, Secret};
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// A mistake in how the program was called; reported with exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Refuses the Go connector's service mode (`--client-id`, `--client-secret`): it runs as a daemon taking
/// tasks from ConductorOne's platform, which this program does not talk to.
pub fn refuse_service_mode(args: &GlobalArgs) -> anyhow::Result<()> {
    let flag = if non_empty(&args.client_id).is_some() {
        "--client-id (BATON_CLIENT_ID, or client-id in the config file)"
    } else if args
        .client_secret
        .as_ref()
        .is_some_and(|s| !s.expose().trim().is_empty())
    {
        "--client-secret (BATON_CLIENT_SECRET, or client-secret in the config file)"
    } else {
        return Ok(());
    };
    Err(usage(format!(
        "{flag} is set, which asks for service mode: a daemon taking tasks from ConductorOne's platform, which \
         baton-elastic does not talk to; run one-shot syncs instead (e.g. from cron) and upload the .c1z file"
    )))
}

/// Everything a sync needs. At least one of the two planes is configured.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The Elastic Cloud API, when `--api-key` is given.
    pub cloud: Option<Endpoint>,
    pub organization_id: Option<String>,
    /// The deployments (or self-managed clusters) whose security API is read, in the order given; empty
    /// when none is configured.
    pub deployments: Vec<DeploymentTarget>,
    /// `--continue-on-deployment-error`: a deployment that cannot be read is recorded as missing
    /// instead of failing the run.
    pub continue_on_deployment_error: bool,
    /// Users per page of `_query/user`.
    pub users_page_size: u32,
    pub file: PathBuf,
    pub http: HttpOptions,
    pub write: WriteOptions,
    pub scope: SyncScope,
}

/// What part of the data a sync reads and writes (baton-sdk's sync-scope options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncScope {
    /// Only these resource type ids (`--sync-resource-types`); `None` is every type.
    pub resource_types: Option<BTreeSet<String>>,
    /// No grants (`--skip-grants`).
    pub skip_grants: bool,
    /// No entitlements and no grants (`--skip-entitlements-and-grants`).
    pub skip_entitlements_and_grants: bool,
}

impl SyncScope {
    /// Whether the resources of `type_id` are synced.
    pub fn includes_type(&self, type_id: &str) -> bool {
        self.resource_types
            .as_ref()
            .is_none_or(|types| types.contains(type_id))
    }

    /// Whether entitlements are synced at all.
    pub fn entitlements(&self) -> bool {
        !self.skip_entitlements_and_grants
    }

    /// Whether grants are synced at all.
    pub fn grants(&self) -> bool {
        !self.skip_grants && !self.skip_entitlements_and_grants
    }

    /// The `sync_type` the run records, as baton-sdk's syncer sets it: `resources_only` when
    /// entitlements and grants are skipped, otherwise `full` (also for a type filter or skipped grants).
    pub fn sync_type(&self) -> SyncType {
        if self.skip_entitlements_and_grants {
            SyncType::ResourcesOnly
        } else {
            SyncType::Full
        }
    }

    /// Checks the flags against the connector's resource type ids (`valid`, in sync order): an unknown
    /// type is a [`UsageError`] naming the valid ones.
    pub fn from_args(args: &GlobalArgs, valid: &[String]) -> anyhow::Result<SyncScope> {
        let requested: Vec<&str> = args
            .sync_resource_types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        let resource_types = if requested.is_empty() {
            None
        } else {
            let mut types = BTreeSet::new();
            for t in requested {
                if !valid.iter().any(|v| v == t) {
                    return Err(usage(format!(
                        "--sync-resource-types: invalid resource type '{t}'; the resource types are {}",
                        valid.join(", ")
                    )));
                }
                types.insert(t.to_owned());
            }
            Some(types)
        };
        Ok(SyncScope {
            resource_types,
            skip_grants: args.skip_grants,
            skip_entitlements_and_grants: args.skip_entitlements_and_grants,
        })
    }
}

/// Log settings.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl SyncConfig {
    /// Checks the sync flags. Every problem is a [`UsageError`].
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<SyncConfig> {
        let cloud = match non_empty(&args.api_key) {
            Some(api_key) => Some(Endpoint::with_api_key(
                Api::Cloud,
                parse_base_url(&args.cloud_url, "--cloud-url", args.allow_insecure_http)?,
                Secret::new(api_key),
            )),
            None => None,
        };
        let deployments = deployment_targets(args, false)?;
        if cloud.is_none() && deployments.is_empty() {
            return Err(usage(
                "nothing to sync: give the Elastic Cloud API key (--api-key or BATON_API_KEY), or a deployment \
                 (--deployment-endpoint with --deployment-api-key, or with --deployment-username and \
                 --deployment-password), or both",
            ));
        }
        let scope = SyncScope::from_args(args, &resource_type_ids())?;
        Ok(SyncConfig {
            cloud,
            organization_id: non_empty(&args.organization_id).map(str::to_owned),
            deployments,
            continue_on_deployment_error: args.continue_on_deployment_error,
            users_page_size: args.users_page_size,
            file: args.file.clone(),
            http: http_options(args)?,
            write: write_options(args),
            scope,
        })
    }
}

/// One configured deployment (or self-managed cluster): how to reach it, and its label.
#[derive(Debug, Clone)]
pub struct DeploymentTarget {
    /// The endpoint's host, with the port when the URL names one: `prod-logs.es.example.com`,
    /// `127.0.0.1:9200`. With several deployments, the ids of its objects start with `<label>/`.
    pub label: String,
    pub endpoint: Endpoint,
}

/// One deployment's flags as given, before they are checked.
#[derive(Debug, Default, Clone, Copy)]
struct RawDeployment<'a> {
    endpoint: Option<&'a str>,
    api_key: Option<&'a str>,
    username: Option<&'a str>,
    password: Option<&'a Secret>,
    ca_cert: Option<&'a std::path::Path>,
}

/// The configured deployments, in the order given: each `--deployment-endpoint` with the credential
/// (and `--deployment-ca-cert`) after it on the command line, the one deployment of the variables, or
/// the items of the config file's `deployments:` list. Empty when none is configured; when `required`
/// (grant and revoke) that is an error instead. Every problem is a [`UsageError`].
pub fn deployment_targets(
    args: &GlobalArgs,
    required: bool,
) -> anyhow::Result<Vec<DeploymentTarget>> {
    let flags_given = !(args.deployment_endpoint.is_empty()
        && args.deployment_api_key.is_empty()
        && args.deployment_username.is_empty()
        && args.deployment_password.is_empty()
        && args.deployment_ca_cert.is_empty());
    let mut targets = Vec::new();
    if !args.file_deployments.is_empty() && args.deployment_endpoint.is_empty() {
        if flags_given {
            return Err(usage(
                "the config file's `deployments:` list gives every deployment with its credential: unset the other deployment flags and their variables",
            ));
        }
        for item in &args.file_deployments {
            let raw = RawDeployment {
                endpoint: non_empty(&item.endpoint),
                api_key: item
                    .api_key
                    .as_ref()
                    .map(|k| k.expose().trim())
                    .filter(|k| !k.is_empty()),
                username: non_empty(&item.username),
                password: item.password.as_ref().filter(|p| !p.expose().is_empty()),
                ca_cert: item.ca_cert.as_deref(),
            };
            let place = format!("config file `deployments:` item on line {}", item.line);
            let endpoint = check_deployment(args, raw, true, Some(&place))?;
            targets.extend(endpoint);
        }
    } else {
        let several = args.deployment_endpoint.len() > 1;
        for (i, raw) in group_deployment_flags(args)?.into_iter().enumerate() {
            let place =
                several.then(|| format!("deployment {} (--deployment-endpoint #{})", i + 1, i + 1));
            targets.extend(check_deployment(args, raw, required, place.as_deref())?);
        }
    }
    let mut labels = BTreeSet::new();
    for target in &targets {
        if !labels.insert(target.label.as_str()) {
            return Err(usage(format!(
                "two deployments have the endpoint host {}: each deployment is named by its host, so give each one once",
                target.label
            )));
        }
    }
    if required && targets.is_empty() {
        return Err(usage(
            "grant and revoke need the deployment endpoint: set --deployment-endpoint or BATON_DEPLOYMENT_ENDPOINT",
        ));
    }
    Ok(targets)
}

/// The label of a deployment: its URL's host, with the port when the URL names one.
pub fn deployment_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Splits the deployment flags into one group per `--deployment-endpoint`: with one endpoint (or none),
/// every flag's single value; with several, each credential value belongs to the endpoint given before
/// it on the command line.
fn group_deployment_flags(args: &GlobalArgs) -> anyhow::Result<Vec<RawDeployment<'_>>> {
    let count = args.deployment_endpoint.len();
    fn strs(values: &[String]) -> Vec<Option<&str>> {
        values
            .iter()
            .map(|v| Some(v.trim()).filter(|v| !v.is_empty()))
            .collect()
    }
    let endpoints = strs(&args.deployment_endpoint);
    let api_keys = strs(&args.deployment_api_key);
    let usernames = strs(&args.deployment_username);
    let passwords: Vec<Option<&Secret>> = args
        .deployment_password
        .iter()
        .map(|p| Some(p).filter(|p| !p.expose().is_empty()))
        .collect();
    let ca_certs: Vec<Option<&std::path::Path>> = args
        .deployment_ca_cert
        .iter()
        .map(|p| Some(p.as_path()))
        .collect();
    if count <= 1 {
        let once = |flag: &str, n: usize| -> anyhow::Result<()> {
            if n > 1 {
                return Err(usage(format!(
                    "--{flag} is given {n} times but --deployment-endpoint {}: give one per deployment, after its --deployment-endpoint",
                    if count == 0 { "is not given" } else { "once" }
                )));
            }
            Ok(())
        };
        once("deployment-api-key", api_keys.len())?;
        once("deployment-username", usernames.len())?;
        once("deployment-password", passwords.len())?;
        once("deployment-ca-cert", ca_certs.len())?;
        return Ok(vec![RawDeployment {
            endpoint: endpoints.first().copied().flatten(),
            api_key: api_keys.first().copied().flatten(),
            username: usernames.first().copied().flatten(),
            password: passwords.first().copied().flatten(),
            ca_cert: ca_certs.first().copied().flatten(),
        }]);
    }
    let positions = &args.deployment_positions;
    let mut groups = vec![RawDeployment::default(); count];
    for (group, endpoint) in groups.iter_mut().zip(&endpoints) {
        group.endpoint = *endpoint;
    }
    // Which endpoint each value of a flag belongs to: the nearest one before it on the command line.
    let owners = |flag: &str, values: usize, at: &[usize]| -> anyhow::Result<Vec<usize>> {
        if values == 0 {
            return Ok(Vec::new());
        }
        if at.len() != values || positions.endpoint.len() != count {
            return Err(usage(format!(
                "--deployment-endpoint is given {count} times: give --{flag} on the command line after each --deployment-endpoint it belongs to (its variable and the config file's key give only one deployment's)"
            )));
        }
        let mut owners = Vec::with_capacity(values);
        let mut taken = BTreeSet::new();
        for position in at {
            let Some(owner) = positions.endpoint.iter().rposition(|e| e < position) else {
                return Err(usage(format!(
                    "--{flag} comes before the first --deployment-endpoint: with several deployments, give each one's --{flag} after its --deployment-endpoint"
                )));
            };
            if !taken.insert(owner) {
                return Err(usage(format!(
                    "--{flag} is given twice for deployment {} ({})",
                    owner + 1,
                    args.deployment_endpoint[owner].trim()
                )));
            }
            owners.push(owner);
        }
        Ok(owners)
    };
    let key_owners = owners("deployment-api-key", api_keys.len(), &positions.api_key)?;
    assign(&mut groups, key_owners, api_keys, |g, v| g.api_key = v);
    let user_owners = owners("deployment-username", usernames.len(), &positions.username)?;
    assign(&mut groups, user_owners, usernames, |g, v| g.username = v);
    let password_owners = owners("deployment-password", passwords.len(), &positions.password)?;
    assign(&mut groups, password_owners, passwords, |g, v| {
        g.password = v
    });
    let ca_owners = owners("deployment-ca-cert", ca_certs.len(), &positions.ca_cert)?;
    assign(&mut groups, ca_owners, ca_certs, |g, v| g.ca_cert = v);
    Ok(groups)
}

/// Gives each deployment group the value of one flag whose owner (the group's index) `owners` says.
fn assign<'a, T>(
    groups: &mut [RawDeployment<'a>],
    owners: Vec<usize>,
    values: Vec<T>,
    set: impl Fn(&mut RawDeployment<'a>, T),
) {
    for (owner, value) in owners.into_iter().zip(values) {
        set(&mut groups[owner], value);
    }
}

/// Checks one deployment's endpoint, credential (an API key, or a username and password) and CA file:
/// `None` when none of the endpoint and credential is given (an error instead when `required`).
/// `place` names the deployment in messages when there are several.
fn check_deployment(
    args: &GlobalArgs,
    raw: RawDeployment<'_>,
    required: bool,
    place: Option<&str>,
) -> anyhow::Result<Option<DeploymentTarget>> {
    let usage = |message: &str| match place {
        Some(place) => usage(format!("{place}: {message}")),
        None => usage(message),
    };
    let credential = match (raw.api_key, raw.username, raw.password) {
        (Some(_), _, Some(_)) => {
            return Err(usage(
                "--deployment-api-key and --deployment-password (BATON_DEPLOYMENT_API_KEY, BATON_DEPLOYMENT_PASSWORD) are both set: give one credential, the API key or the username and password",
            ))
        }
        (Some(_), Some(_), None) => {
            return Err(usage(
                "--deployment-api-key and --deployment-username (BATON_DEPLOYMENT_API_KEY, BATON_DEPLOYMENT_USERNAME) are both set: give one credential, the API key or the username and password",
            ))
        }
        (Some(key), None, None) => Some(Credential::ApiKey(Secret::new(key))),
        (None, Some(username), Some(password)) => {
            if username.contains(':') {
                return Err(usage(
                    "--deployment-username must not contain `:` (HTTP Basic authentication cannot send it)",
                ));
            }
            Some(Credential::Basic {
                username: username.to_owned(),
                password: password.clone(),
            })
        }
        (None, Some(_), None) => {
            return Err(usage(
                "--deployment-username is set but --deployment-password (BATON_DEPLOYMENT_PASSWORD) is not: give both",
            ))
        }
        (None, None, Some(_)) => {
            return Err(usage(
                "--deployment-password is set but --deployment-username (BATON_DEPLOYMENT_USERNAME) is not: give both",
            ))
        }
        (None, None, None) => None,
    };
    let (endpoint, credential) = match (raw.endpoint, credential) {
        (None, None) if !required => {
            if raw.ca_cert.is_some() {
                return Err(usage(
                    "--deployment-ca-cert is set but --deployment-endpoint (BATON_DEPLOYMENT_ENDPOINT) is not",
                ));
            }
            return Ok(None);
        }
        (Some(endpoint), Some(credential)) => (endpoint, credential),
        (None, _) => {
            return Err(usage(if required {
                "grant and revoke need the deployment endpoint: set --deployment-endpoint or BATON_DEPLOYMENT_ENDPOINT"
            } else {
                "a deployment credential is set but --deployment-endpoint (BATON_DEPLOYMENT_ENDPOINT) is not: give both or neither"
            }))
        }
        (Some(_), None) => {
            return Err(usage(if required {
                "grant and revoke need the deployment API key: set --deployment-api-key or BATON_DEPLOYMENT_API_KEY (or --deployment-username and --deployment-password)"
            } else {
                "--deployment-endpoint is set but no credential: give --deployment-api-key (BATON_DEPLOYMENT_API_KEY), or --deployment-username and --deployment-password (BATON_DEPLOYMENT_USERNAME, BATON_DEPLOYMENT_PASSWORD)"
            }))
        }
    };
    let base_url = parse_base_url(endpoint, "--deployment-endpoint", args.allow_insecure_http)
        .map_err(|e| match place {
            Some(place) => self::usage(format!("{place}: {e}")),
            None => e,
        })?;
    Ok(Some(DeploymentTarget {
        label: deployment_label(&base_url),
        endpoint: Endpoint {
            api: Api::Elasticsearch,
            base_url,
            credential,
            ca_certificates: match raw.ca_cert {
                Some(path) => read_ca_certificates(path)?,
                None => CaCertificates::default(),
            },
        },
    }))
}

/// The CA certificates of the PEM file `path` (`--deployment-ca-cert`); a file that cannot be read or
/// holds no valid certificate is a [`UsageError`] naming it.
pub fn read_ca_certificates(path: &std::path::Path) -> anyhow::Result<CaCertificates> {
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "--deployment-ca-cert {}: cannot read the file ({e})",
            path.display()
        ))
    })?;
    CaCertificates::from_pem(&bytes).map_err(|e| {
        usage(format!(
            "--deployment-ca-cert {}: {e}; give the PEM file of the CA that signed the cluster's certificate (such as config/certs/http_ca.crt)",
            path.display()
        ))
    })
}

/// The connector's resource type ids, in sync order.
pub fn resource_type_ids() -> Vec<String> {
    crate::syncers::resource_types()
        .into_iter()
        .map(|t| t.id)
        .collect()
}

/// The c1z write options from the flags (and their variables).
pub fn write_options(args: &GlobalArgs) -> WriteOptions {
    let decode_limits = decode_limits(args);
    WriteOptions {
        keep_sync_count: usize::try_from(args.keep_sync_count).unwrap_or(usize::MAX),
        skip_cleanup: args.skip_cleanup,
        temp_dir: args.c1z_temp_dir.clone(),
        decode_limits,
        // Files no reader opens are refused; a cap raised above the current readers' is honoured.
        max_decoded_bytes: decode_limits
            .max_decoded_bytes
            .max(baton_c1z::reader::CURRENT_READER_MAX_DECODED_BYTES),
        sync_type: if args.skip_entitlements_and_grants {
            SyncType::ResourcesOnly
        } else {
            SyncType::Full
        },
        ..WriteOptions::default()
    }
}

/// The zstd decoder limits from `BATON_DECODER_MAX_MEMORY_MB` and `BATON_DECODER_MAX_DECODED_SIZE_MB`
/// (MiB). As in Baton's readers, a value that is not a positive whole number keeps the default.
pub fn decode_limits(args: &GlobalArgs) -> DecodeLimits {
    let mib = |raw: &Option<String>| raw.as_deref().and_then(|v| v.trim().parse::<u64>().ok());
    DecodeLimits::from_mib(
        mib(&args.decoder_max_memory_mb),
        mib(&args.decoder_max_decoded_size_mb),
    )
}

/// The HTTP options from the flags (`--http-timeout-seconds`, `--max-retries`, the hidden
/// `BATON_RETRY_BASE_MS`).
pub fn http_options(args: &GlobalArgs) -> anyhow::Result<HttpOptions> {
    let mut options = HttpOptions {
        timeout: Duration::from_secs(args.http_timeout_seconds),
        max_attempts: args.max_retries.max(1),
        ..HttpOptions::default()
    };
    if let Some(raw) = &args.retry_base_ms {
        let ms = raw.trim().parse::<u64>().map_err(|_| {
            usage(format!(
                "BATON_RETRY_BASE_MS must be a whole number of milliseconds, got {raw:?}"
            ))
        })?;
        options.retry_base = Duration::from_millis(ms);
    }
    Ok(options)
}

impl LogConfig {
    /// Log settings from the flags; the format defaults to console on a terminal and json otherwise.
    pub fn from_args(args: &GlobalArgs, stderr_is_terminal: bool) -> LogConfig {
        let format = args.log_format.unwrap_or(if stderr_is_terminal {
            LogFormat::Console
        } else {
            LogFormat::Json
        });
        LogConfig {
            level: args.log_level,
            format,
        }
    }
}

/// Whether a URL host is this machine (where plain http cannot expose a key on a network).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses an API base URL given by `flag`: http(s) with a host, no query or fragment, and plain http only
/// on loopback unless explicitly allowed.
pub fn parse_base_url(raw: &str, flag: &str, allow_insecure_http: bool) -> anyhow::Result<Url> {
    let raw = raw.trim();
    let not_a_url = || {
        usage(format!(
            "{flag} must be an http(s) URL such as https://{}, got {raw:?}",
            if raw.is_empty() { "host:port" } else { raw }
        ))
    };
    let url = Url::parse(raw).map_err(|_| not_a_url())?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(not_a_url());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(usage(format!("{flag} has no host name")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(usage(format!(
            "{flag} must not contain credentials; use the API key flags"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(usage(format!("{flag} must not have a query or fragment")));
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(usage(format!(
            "{flag} uses plain http to a non-loopback host, which would send the API key unencrypted; use https or pass --allow-insecure-http"
        )));
    }
    Ok(url)
}
