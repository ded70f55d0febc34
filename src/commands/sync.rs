//! `sync`: read Elastic once, map it to Baton records, and write them into the `.c1z` file; or, with
//! `--demo`, do the same against the built-in demo tenant served on loopback.

use crate::cli::{GlobalArgs, SyncArgs};
use crate::config::{self, SyncConfig};
use crate::progress::TerminalProgress;
use crate::snapshot::{Cluster, Progress, Snapshot};
use crate::{logging, syncers};
use anyhow::Context;
use baton_c1z::clock;
use baton_c1z::{self, WriteReport};
use elastic_api::client::{ApiClient, RequestStats};
use elastic_api::cloud::CloudClient;
use elastic_api::deployment::DeploymentClient;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a finished sync did.
#[derive(Debug)]
pub struct SyncOutcome {
    pub report: WriteReport,
    /// Resources written, per resource type id, in type order.
    pub resources_by_type: Vec<(String, usize)>,
    pub requests: u64,
    pub bytes_downloaded: u64,
    pub duration: Duration,
}

struct LogProgress;

impl Progress for LogProgress {
    fn fetched(&mut self, list: &str, count: usize) {
        logging::debug(
            "fetched list",
            &[("list", Value::from(list)), ("count", Value::from(count))],
        );
    }
}

/// Runs one sync with a checked configuration.
pub fn sync(config: &SyncConfig) -> anyhow::Result<SyncOutcome> {
    let started_at = clock::now();
    let timer = Instant::now();
    let stats = Arc::new(RequestStats::default());
    let cloud = config
        .cloud
        .as_ref()
        .map(|endpoint| ApiClient::new(endpoint, &config.http, stats.clone()))
        .transpose()?
        .map(CloudClient::new);
    let deployments = config
        .deployments
        .iter()
        .map(|target| {
            ApiClient::new(&target.endpoint, &config.http, stats.clone())
                .map(|api| DeploymentClient::new(api).with_users_page_size(config.users_page_size))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let clusters: Vec<Cluster<'_>> = config
        .deployments
        .iter()
        .zip(&deployments)
        .map(|(target, client)| Cluster {
            label: &target.label,
            client,
        })
        .collect();
    let mut fields = vec![
        ("file", Value::from(config.file.display().to_string())),
        ("deployment", Value::from(!clusters.is_empty())),
    ];
    if clusters.len() > 1 {
        fields.push(("deployments", Value::from(clusters.len())));
    }
    if cloud.is_none() {
        fields.push(("cloud", Value::from(false)));
    }
    logging::info("sync started", &fields);
    let terminal = std::io::stderr()
        .is_terminal()
        .then(TerminalProgress::start);
    // The new sync's working copy exists from before the first request, so an interrupted or failed
    // fetch is cleaned up by the same path as a failed write.
    let mut writer = baton_c1z::SyncWriter::create(
        &config.file,
        &syncers::resource_types(),
        started_at,
        &config.write,
    )
    .with_context(|| format!("cannot write {}", config.file.display()))?;
    let mut progress: Box<dyn Progress> = match terminal {
        Some(terminal) => {
            writer.set_progress(Box::new(terminal.write_phases()));
            Box::new(terminal)
        }
        None => Box::new(LogProgress),
    };
    let snapshot = Snapshot::fetch_planes(
        cloud.as_ref(),
        &clusters,
        config.continue_on_deployment_error,
        config.organization_id.as_deref(),
        &syncers::scope::needs(&config.scope),
        progress.as_mut(),
    )?;
    progress.step("writing the file");
    let report = write(writer, snapshot, &config.scope)
        .with_context(|| format!("cannot write {}", config.file.display()))?;
    drop(progress);
    if let Some(warning) = decoded_size_warning(report.decoded_bytes) {
        logging::warn(
            &warning,
            &[("decoded_bytes", Value::from(report.decoded_bytes))],
        );
    }
    let outcome = SyncOutcome {
        resources_by_type: report.resources_by_type.clone(),
        report,
        requests: stats.requests(),
        bytes_downloaded: stats.bytes(),
        duration: timer.elapsed(),
    };
    logging::info(
        "sync complete",
        &[
            (
                "file",
                Value::from(outcome.report.path.display().to_string()),
            ),
            ("sync_id", Value::from(outcome.report.sync_id.as_str())),
            ("resources", Value::from(outcome.report.resources)),
            ("entitlements", Value::from(outcome.report.entitlements)),
            ("grants", Value::from(outcome.report.grants)),
            ("requests", Value::from(outcome.requests)),
            ("bytes", Value::from(outcome.report.bytes)),
            ("duration_s", Value::from(outcome.duration.as_secs_f64())),
        ],
    );
    Ok(outcome)
}

/// The warning for a file that the oldest Baton readers (2 GiB cap) refuse to open, if it is one.
pub fn decoded_size_warning(decoded_bytes: u64) -> Option<String> {
    (decoded_bytes > baton_c1z::reader::OLDEST_READER_MAX_DECODED_BYTES).then(|| {
        format!(
            "the file decodes to {}: Baton readers with a 2 GiB cap (baton-sdk v0.1.14) refuse it; \
             set BATON_DECODER_MAX_DECODED_SIZE_MB (in MiB) for them to raise their cap",
            human_bytes(decoded_bytes)
        )
    })
}

/// Streams the records of `snapshot` into the new sync, then frees the snapshot before the grants are
/// expanded and the file is compressed.
fn write(
    mut writer: baton_c1z::SyncWriter,
    snapshot: Snapshot,
    scope: &config::SyncScope,
) -> anyhow::Result<WriteReport> {
    syncers::emit(
        &snapshot,
        &mut syncers::scope::ScopedSink::new(scope, &mut writer),
    );
    drop(snapshot);
    writer.finish()
}

/// The `sync` subcommand (also what runs with no subcommand).
pub fn run(global: &GlobalArgs, args: &SyncArgs) -> anyhow::Result<()> {
    if global.dry_run {
        return Err(config::UsageError(
            "--dry-run belongs to grant and revoke; a sync only reads Elastic and has no dry run"
                .to_owned(),
        )
        .into());
    }
    if crate::commands::grant::go_flags_given(global) {
        logging::warn(
            "the grant and revoke flags (--grant-entitlement, --grant-principal-type, --grant-principal, --revoke-grant or their BATON_* variables) are ignored by `sync`",
            &[],
        );
    }
    if args.demo {
        return run_demo(global);
    }
    let config = SyncConfig::from_args(global)?;
    let outcome = sync(&config)?;
    print_summary(&mut std::io::stdout().lock(), &outcome);
    Ok(())
}

/// Without the `demo` feature there is no fake to serve the demo tenant.
#[cfg(not(feature = "demo"))]
fn run_demo(_global: &GlobalArgs) -> anyhow::Result<()> {
    Err(config::UsageError(
        "this build of baton-elastic has no demo tenant (it was built without the `demo` feature)"
            .to_owned(),
    )
    .into())
}

/// Syncs the built-in demo tenant: a fake of both Elastic APIs on 127.0.0.1, read through the real
/// clients.
#[cfg(feature = "demo")]
fn run_demo(global: &GlobalArgs) -> anyhow::Result<()> {
    use elastic_api::{Api, Endpoint, Secret};
    use elastic_fake::{EsVersion, FakeElastic, Tenant};
    let tenant = Tenant::demo()
        .context("cannot load the demo tenant")?
        .with_es_version(EsVersion::V8_15);
    let staging = Tenant::demo_staging().context("cannot load the demo tenant")?;
    let fake = FakeElastic::start(tenant.clone()).context("cannot start the demo server")?;
    let staging_fake =
        FakeElastic::start(staging.clone()).context("cannot start the demo server")?;
    let base_url = config::parse_base_url(&fake.url(), "demo server", false)?;
    let staging_url = config::parse_base_url(&staging_fake.url(), "demo server", false)?;
    let config = SyncConfig {
        cloud: Some(Endpoint::with_api_key(
            Api::Cloud,
            base_url.clone(),
            Secret::new(tenant.cloud_api_key),
        )),
        organization_id: global.organization_id.clone(),
        // Both servers listen on 127.0.0.1 with a new port each run: the deployments are named by the
        // hosts Elastic Cloud would give them, so that the ids stay the same from run to run.
        deployments: vec![
            config::DeploymentTarget {
                label: DEMO_PROD_HOST.to_owned(),
                endpoint: Endpoint::with_api_key(
                    Api::Elasticsearch,
                    base_url,
                    Secret::new(tenant.deployment_api_key),
                ),
            },
            config::DeploymentTarget {
                label: DEMO_STAGING_HOST.to_owned(),
                endpoint: Endpoint::with_api_key(
                    Api::Elasticsearch,
                    staging_url,
                    Secret::new(staging.deployment_api_key),
                ),
            },
        ],
        continue_on_deployment_error: false,
        users_page_size: global.users_page_size,
        file: global.file.clone(),
        http: config::http_options(global)?,
        write: config::write_options(global),
        scope: config::SyncScope::from_args(global, &config::resource_type_ids())?,
    };
    let outcome = sync(&config)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Synced the built-in demo tenant (a fake Elastic Cloud and deployment prod-logs served on {}, deployment staging-search on {}).",
        fake.url(),
        staging_fake.url()
    );
    print_summary(&mut out, &outcome);
    let file = global.file.display();
    let _ = writeln!(
        out,
        "Look inside: baton-elastic inspect stats -f {file}\n             baton-elastic inspect access -t deploymentUser -r {DEMO_PROD_HOST}/sam.saml -f {file}\n             baton-elastic inspect export-csv -f {file} --out access-review.csv"
    );
    Ok(())
}

/// The host the demo's `prod-logs` deployment is named by (its label in ids).
#[cfg(feature = "demo")]
pub const DEMO_PROD_HOST: &str = "prod-logs.es.demo";

/// The host the demo's `staging-search` deployment is named by.
#[cfg(feature = "demo")]
pub const DEMO_STAGING_HOST: &str = "staging-search.es.demo";

/// Human-readable size.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prints what the sync wrote. Write errors (such as a closed pipe) are ignored: the file is written.
pub fn print_summary(out: &mut dyn Write, outcome: &SyncOutcome) {
    let report = &outcome.report;
    let mut text = format!(
        "Wrote {} ({}), sync {}\n",
        report.path.display(),
        human_bytes(report.bytes),
        report.sync_id
    );
    for (type_id, count) in &outcome.resources_by_type {
        text.push_str(&format!("  {type_id:<16}{count:>9}\n"));
    }
    text.push_str(&format!(
        "  {:<16}{:>9}\n",
        "entitlements", report.entitlements
    ));
    text.push_str(&format!("  {:<16}{:>9}\n", "grants", report.grants));
    text.push_str(&format!(
        "  {} API requests, {} downloaded, {:.2} s\n",
        outcome.requests,
        human_bytes(outcome.bytes_downloaded),
        outcome.duration.as_secs_f64()
    ));
    if !report.removed_sync_ids.is_empty() {
        text.push_str(&format!(
            "  removed {} older sync(s); the file keeps {}\n",
            report.removed_sync_ids.len(),
            report.kept_sync_ids.len()
        ));
    }
    let _ = out.write_all(text.as_bytes());
}
