//! Shared test helpers: start the fake Elastic, run the real binary against it, read the artifact back.
#![allow(dead_code)]

use baton_c1z::reader::{C1zFile, DecodeLimits};
use elastic_fake::{FakeElastic, Tenant};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The demo tenant's fake keys.
pub fn demo_keys() -> (String, String) {
    let t = Tenant::demo().expect("demo tenant");
    (t.cloud_api_key, t.deployment_api_key)
}

/// A fake serving the demo tenant.
pub fn demo_fake() -> FakeElastic {
    FakeElastic::start(Tenant::demo().expect("demo tenant")).expect("fake starts")
}

/// First retry wait the tests run with, in milliseconds (the real default is 500), so that retried
/// requests do not slow the suite down. Waits a server asks for (`Retry-After`) are still honoured.
pub const TEST_RETRY_BASE_MS: &str = "5";

/// The binary under test, with a clean environment (no BATON_* leaking in from the caller), debug logs
/// (so that key leaks in request logging show up) and fast retry backoff.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton-elastic"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("BATON_LOG_LEVEL", "debug");
    cmd.env("BATON_RETRY_BASE_MS", TEST_RETRY_BASE_MS);
    cmd
}

/// Arguments for a full sync of `fake` into `file` (cloud and deployment).
pub fn sync_args(fake: &FakeElastic, file: &Path) -> Vec<String> {
    let (cloud_key, deployment_key) = demo_keys();
    vec![
        "--cloud-url".into(),
        fake.url(),
        "--api-key".into(),
        cloud_key,
        "--deployment-endpoint".into(),
        fake.url(),
        "--deployment-api-key".into(),
        deployment_key,
        "-f".into(),
        file.display().to_string(),
    ]
}

/// Runs the binary with `args` (at log level debug unless `args` set one) and fails the test if stdout
/// or stderr shows an API key (the demo keys, or any key given in `args`).
pub fn run(args: &[String]) -> Output {
    let out = binary().args(args).output().expect("binary runs");
    assert_no_keys(&out, args);
    out
}

/// Values of the key flags in `args`, long enough to be meaningful to search for.
pub fn keys_in_args(args: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        for flag in ["--api-key", "--deployment-api-key"] {
            if arg == flag {
                keys.extend(args.get(i + 1).cloned());
            } else if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
                keys.push(value.to_owned());
            }
        }
    }
    keys.retain(|k| k.len() >= 8);
    keys
}

/// Fails the test if the demo keys or the keys in `args` appear in the output.
pub fn assert_no_keys(out: &Output, args: &[String]) {
    let (cloud_key, deployment_key) = demo_keys();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys = keys_in_args(args);
    keys.extend([cloud_key, deployment_key]);
    for key in keys {
        assert!(
            !all.contains(&key),
            "an API key appears in the output: {all}"
        );
    }
}

/// Runs a command built from [`binary`] and fails the test if any key it was given (by flag or by a
/// `BATON_*` key variable) or a demo key appears in its output.
pub fn output(command: &mut Command) -> Output {
    let mut given: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    for (name, value) in command.get_envs() {
        if let (Some(value), true) = (
            value,
            name == "BATON_API_KEY" || name == "BATON_DEPLOYMENT_API_KEY",
        ) {
            given.push("--api-key".to_owned());
            given.push(value.to_string_lossy().into_owned());
        }
    }
    let out = command.output().expect("binary runs");
    assert_no_keys(&out, &given);
    out
}

/// Runs the binary and asserts success.
pub fn run_ok(args: &[String]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Opens a c1z the way Baton's readers do.
pub fn open(path: &Path) -> C1zFile {
    C1zFile::open(path, &DecodeLimits::default()).expect("c1z opens")
}

/// A fresh temp dir and a `sync.c1z` path inside it.
pub fn temp_target() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.c1z");
    (dir, path)
}

/// Names of the entries of a directory.
pub fn dir_entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// Collects strings into a sorted set.
pub fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

/// Reads the tenant `fake` serves through the real clients, as a sync does (both APIs, the tenant's keys).
pub fn fetch_snapshot(fake: &FakeElastic) -> baton_elastic::snapshot::Snapshot {
    use elastic_api::client::{ApiClient, RequestStats};
    use elastic_api::{Api, Endpoint, HttpOptions, Secret};
    let tenant = fake.tenant();
    let base_url =
        baton_elastic::config::parse_base_url(&fake.url(), "fake server", false).expect("fake url");
    let stats = std::sync::Arc::new(RequestStats::default());
    let http = HttpOptions::default();
    let client = |api, key: String| {
        let endpoint = Endpoint::with_api_key(api, base_url.clone(), Secret::new(key));
        ApiClient::new(&endpoint, &http, stats.clone()).expect("client")
    };
    let cloud = elastic_api::cloud::CloudClient::new(client(Api::Cloud, tenant.cloud_api_key));
    let deployment = elastic_api::deployment::DeploymentClient::new(client(
        Api::Elasticsearch,
        tenant.deployment_api_key,
    ));
    baton_elastic::snapshot::Snapshot::fetch(&cloud, Some(&deployment), None, &mut ())
        .expect("snapshot")
}

/// The binary's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The binary's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON log lines on stderr above debug level (tests run at debug level); every line must be JSON.
pub fn log_lines(out: &Output) -> Vec<serde_json::Value> {
    stderr(out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"))
        })
        .filter(|l| l["level"] != "debug")
        .collect()
}

/// Asserts that a grant or revoke succeeded and returns its single outcome log line.
pub fn outcome(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let lines: Vec<serde_json::Value> = log_lines(out)
        .into_iter()
        .filter(|l| l.get("outcome").is_some())
        .collect();
    assert_eq!(lines.len(), 1, "{}", stderr(out));
    assert_eq!(lines[0]["level"], "info");
    lines[0].clone()
}

/// Asserts the outcome `name` of a grant or revoke of `entitlement` to `principal`, with nothing on
/// stdout, and returns the outcome line.
pub fn expect_outcome(
    out: &Output,
    name: &str,
    entitlement: &str,
    principal: &str,
) -> serde_json::Value {
    let line = outcome(out);
    assert_eq!(line["outcome"], name, "{line}");
    assert_eq!(line["entitlement"], entitlement);
    assert_eq!(line["principal"], principal);
    assert!(stdout(out).is_empty(), "stdout: {}", stdout(out));
    line
}

/// Everything the default sync of a file holds, by external id, with each record's full contents.
#[derive(Debug, PartialEq, Eq)]
pub struct Records {
    pub types: Vec<String>,
    pub resources: std::collections::BTreeMap<String, String>,
    pub entitlements: std::collections::BTreeMap<String, String>,
    pub grants: std::collections::BTreeMap<String, String>,
}

/// The records of the default sync of `path`.
pub fn records(path: &Path) -> Records {
    let file = open(path);
    let sync = file
        .default_sync()
        .expect("query")
        .expect("a finished sync")
        .sync_id;
    Records {
        types: file
            .resource_types(&sync)
            .expect("types")
            .into_iter()
            .map(|r| r.external_id)
            .collect(),
        resources: file
            .resources(&sync)
            .expect("resources")
            .into_iter()
            .map(|r| (r.external_id, format!("{:?}", r.data)))
            .collect(),
        entitlements: file
            .entitlements(&sync)
            .expect("entitlements")
            .into_iter()
            .map(|r| (r.external_id, format!("{:?}", r.data)))
            .collect(),
        grants: file
            .grants(&sync)
            .expect("grants")
            .into_iter()
            .map(|r| (r.external_id, format!("{:?}", r.data)))
            .collect(),
    }
}

/// The grants of the newest sync of `path` that `keep` selects, by grant id, each with the ids of its
/// source entitlements (empty for a direct grant).
pub fn grants_with_sources(
    path: &Path,
    keep: impl Fn(&baton_c1z::reader::GrantRow) -> bool,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    file.grants(&sync)
        .expect("grants")
        .into_iter()
        .filter(|g| keep(g))
        .map(|g| {
            let sources = g
                .data
                .sources
                .as_ref()
                .map(|s| s.to_map().into_keys().collect())
                .unwrap_or_default();
            (g.external_id, sources)
        })
        .collect()
}

/// The grants on `role` resources to Cloud users and deployments (Cloud SSO's stack roles), with their
/// sources, of the newest sync of `path`.
pub fn sso_grants(path: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    grants_with_sources(path, |g| {
        g.resource_type_id == "role"
            && ["user", "deployment"].contains(&g.principal_resource_type_id.as_str())
    })
}

/// A fake serving the demo tenant as an Elastic Cloud deployment running Elasticsearch 8.15 (`GET /`
/// names `prod-logs`).
pub fn versioned_demo_fake() -> FakeElastic {
    FakeElastic::start(
        Tenant::demo()
            .expect("demo tenant")
            .with_es_version(elastic_fake::EsVersion::V8_15),
    )
    .expect("fake starts")
}
