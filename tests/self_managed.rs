//! Syncing a self-managed Elasticsearch cluster with no Elastic Cloud account: the deployment plane alone,
//! HTTP Basic authentication, a private CA over real TLS, every Elasticsearch line the fake plays, paged
//! user lists, and the usage errors of the new flags. Secrets never appear in any output or in the file.

mod cli_support;
mod common;

use common::{binary, records, temp_target, Records};
use elastic_fake::{EsVersion, FakeElastic, Tenant, TenantSpec, TestCa};
use std::path::Path;
use std::process::{Command, Output};

const PASSWORD: &str = "correct-horse-battery-staple";

/// Whether an external id belongs to the deployment plane (roles, deployment users, role mappings).
fn deployment_plane(id: &str) -> bool {
    ["role:", "deploymentUser:", "roleMapping:", "group:"]
        .iter()
        .any(|p| id.starts_with(p))
}

/// Only the deployment plane's records.
fn deployment_part(mut r: Records) -> Records {
    r.resources.retain(|k, _| deployment_plane(k));
    r.entitlements.retain(|k, _| deployment_plane(k));
    r.grants.retain(|k, _| deployment_plane(k));
    r
}

/// The records of today's full sync (both planes, unversioned fake) of `tenant`, deployment plane only.
fn baseline(tenant: Tenant) -> Records {
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    let (_dir, path) = temp_target();
    let out = run(&mut full_args(&fake, &tenant, &path));
    assert_success(&out);
    deployment_part(records(&path))
}

fn full_args(fake: &FakeElastic, tenant: &Tenant, path: &Path) -> Command {
    let mut cmd = binary();
    cmd.args([
        "--cloud-url",
        &fake.url(),
        "--api-key",
        &tenant.cloud_api_key,
    ]);
    cmd.args(["--deployment-endpoint", &fake.url()]);
    cmd.args(["--deployment-api-key", &tenant.deployment_api_key]);
    cmd.arg("-f").arg(path);
    cmd
}

/// A deployment-only sync of `fake` with the tenant's Elasticsearch API key.
fn deployment_only(fake: &FakeElastic, tenant: &Tenant, path: &Path) -> Command {
    let mut cmd = binary();
    cmd.args(["--deployment-endpoint", &fake.url()]);
    cmd.args(["--deployment-api-key", &tenant.deployment_api_key]);
    cmd.arg("-f").arg(path);
    cmd
}

/// Runs `cmd` and fails the test if a key or the password appears on stdout or stderr, or in the file
/// it may have written.
fn run(cmd: &mut Command) -> Output {
    let out = common::output(cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tenant = Tenant::demo().expect("demo");
    for secret in [
        PASSWORD,
        tenant.cloud_api_key.as_str(),
        tenant.deployment_api_key.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "a secret appears in the output: {text}"
        );
    }
    out
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The decompressed database of a c1z file, as bytes (to search for secrets).
fn database_bytes(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).expect("read c1z");
    zstd::decode_all(&raw[5..]).expect("zstd")
}

/// The requests for users, roles, mappings and profiles (and `GET /`, `_authenticate`), in order: the
/// credential lists (API keys, service accounts) that follow them are tested in `credentials.rs`.
fn request_lines(fake: &FakeElastic) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| !is_credential_request(&r.path))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn is_credential_request(path: &str) -> bool {
    path.contains("/api_key") || path.starts_with("/_security/service")
}

const RESERVED_LOOKUP: &str = "GET /_security/user/elastic,kibana,kibana_system,logstash_system,beats_system,apm_system,remote_monitoring_user";

#[test]
fn a_deployment_only_sync_holds_exactly_the_clusters_users_roles_and_mappings() {
    let expected = baseline(Tenant::demo().expect("demo"));
    let tenant = Tenant::demo().expect("demo").self_managed(EsVersion::V8_15);
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    let (_dir, path) = temp_target();
    let out = run(&mut deployment_only(&fake, &tenant, &path));
    assert_success(&out);
    let got = records(&path);
    assert_eq!(
        got.types,
        [
            "organization",
            "deployment",
            "user",
            "project",
            "role",
            "deploymentUser",
            "roleMapping",
            "group",
            "serviceAccount",
            "apiKey"
        ],
        "every resource type is written without the Cloud plane"
    );
    // The credentials of the cluster (API keys, service accounts) are its own too; `credentials.rs`
    // tests them.
    let cluster_plane = |k: &String| {
        deployment_plane(k) || k.starts_with("apiKey:") || k.starts_with("serviceAccount:")
    };
    assert!(
        got.resources.keys().all(cluster_plane),
        "no organization, Cloud user or deployment: {:?}",
        got.resources.keys()
    );
    assert!(got.entitlements.keys().all(cluster_plane));
    assert!(got.grants.keys().all(cluster_plane));
    assert!(!got.resources.is_empty() && !got.grants.is_empty());
    assert_eq!(deployment_part(got), expected);
    assert_eq!(
        request_lines(&fake),
        [
            "GET /",
            "GET /_security/_authenticate",
            "POST /_security/_query/user",
            RESERVED_LOOKUP,
            "GET /_security/role",
            "GET /_security/role_mapping",
            "POST /_security/profile/_suggest",
        ],
        "no Cloud request; one _query/user page"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("  organization            0"), "{stdout}");
    // And the credentials: one page of API keys, the service accounts and the tokens of each of the 3.
    assert!(stdout.contains(" 12 API requests"), "{stdout}");
}

#[test]
fn basic_authentication_with_a_username_and_password() {
    let tenant = Tenant::demo()
        .expect("demo")
        .self_managed(EsVersion::V8_15)
        .with_password("governance", PASSWORD);
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    let (_dir, by_key) = temp_target();
    assert_success(&run(&mut deployment_only(&fake, &tenant, &by_key)));
    fake.clear_requests();

    // Flags.
    let (_dir2, by_flags) = temp_target();
    let out = run(binary()
        .args(["--deployment-endpoint", &fake.url()])
        .args(["--deployment-username", "governance"])
        .args(["--deployment-password", PASSWORD])
        .arg("-f")
        .arg(&by_flags));
    assert_success(&out);
    let requests = fake.requests();
    assert!(!requests.is_empty() && requests.iter().all(|r| r.authorized));
    assert_eq!(records(&by_flags), records(&by_key));
    let db = database_bytes(&by_flags);
    assert!(!db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));

    // Environment variables.
    let (_dir3, by_env) = temp_target();
    let out = run(binary()
        .env("BATON_DEPLOYMENT_ENDPOINT", fake.url())
        .env("BATON_DEPLOYMENT_USERNAME", "governance")
        .env("BATON_DEPLOYMENT_PASSWORD", PASSWORD)
        .arg("-f")
        .arg(&by_env));
    assert_success(&out);
    assert_eq!(records(&by_env), records(&by_key));

    // The config file.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".baton.yaml"),
        format!(
            "deployment-endpoint: {}\ndeployment-username: governance\ndeployment-password: '{PASSWORD}'\nfile: from-file.c1z\n",
            fake.url()
        ),
    )
    .expect("write config");
    let out = run(binary().current_dir(dir.path()));
    assert_success(&out);
    assert_eq!(records(&dir.path().join("from-file.c1z")), records(&by_key));
}

#[test]
fn a_rejected_credential_is_named() {
    let tenant = Tenant::demo()
        .expect("demo")
        .self_managed(EsVersion::V8_15)
        .with_password("governance", PASSWORD);
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    let (_dir, path) = temp_target();
    let wrong = "not-the-right-password";
    let out = run(binary()
        .args(["--deployment-endpoint", &fake.url()])
        .args(["--deployment-username", "governance"])
        .args(["--deployment-password", wrong])
        .arg("-f")
        .arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(wrong), "{stderr}");
    assert!(
        stderr.contains(
            "GET /: 401 Unauthorized: the Elasticsearch username and password were rejected"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--deployment-password / BATON_DEPLOYMENT_PASSWORD"),
        "{stderr}"
    );
    assert!(!path.exists());

    let wrong_key = "V3JvbmdJZDp3cm9uZy1zZWNyZXQ=";
    let out = run(binary()
        .args(["--deployment-endpoint", &fake.url()])
        .args(["--deployment-api-key", wrong_key])
        .arg("-f")
        .arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(wrong_key), "{stderr}");
    assert!(
        stderr.contains("401 Unauthorized: the Elasticsearch API key was rejected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--deployment-api-key / BATON_DEPLOYMENT_API_KEY"),
        "{stderr}"
    );
}

#[test]
fn tls_with_the_clusters_own_ca_and_a_clear_failure_without_it() {
    let ca = TestCa::generate().expect("test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("http_ca.crt");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let tenant = Tenant::demo().expect("demo").self_managed(EsVersion::V9_1);
    let fake = FakeElastic::start_tls(tenant.clone(), &ca.server_cert_pem, &ca.server_key_pem)
        .expect("TLS fake");
    assert!(fake.url().starts_with("https://"));

    let (_d1, path) = temp_target();
    let out = run(deployment_only(&fake, &tenant, &path)
        .arg("--deployment-ca-cert")
        .arg(&ca_file));
    assert_success(&out);
    assert_eq!(
        deployment_part(records(&path)),
        baseline(Tenant::demo().expect("demo"))
    );
    assert!(fake.request_count() > 0);

    // Without the CA: no request gets through, one clear line suggesting the option, no file.
    fake.clear_requests();
    let (_d2, path) = temp_target();
    let out = run(&mut deployment_only(&fake, &tenant, &path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS handshake with 127.0.0.1:"), "{stderr}");
    assert!(
        stderr.contains("is not signed by a trusted CA")
            && stderr.contains("--deployment-ca-cert / BATON_DEPLOYMENT_CA_CERT"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "not retried: {stderr}");
    assert_eq!(fake.request_count(), 0);
    assert!(!path.exists());

    // Another CA (by the variable): still refused, and the message says the given CA did not sign it.
    let other = TestCa::generate().expect("other CA");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, &other.ca_pem).expect("write");
    let out =
        run(deployment_only(&fake, &tenant, &path).env("BATON_DEPLOYMENT_CA_CERT", &other_file));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not signed by the CA certificates given with --deployment-ca-cert"),
        "{stderr}"
    );
    assert_eq!(fake.request_count(), 0);
}

/// The JSON log lines of a run's stderr with this message.
fn logs_with(stderr: &str, msg: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["msg"] == msg)
        .collect()
}

#[test]
fn every_elasticsearch_line_syncs_with_what_its_version_has() {
    let full = baseline(Tenant::demo().expect("demo"));
    let mut without_profiles = Tenant::demo().expect("demo");
    without_profiles.profiles.clear();
    let no_profiles = baseline(without_profiles);
    assert_ne!(full, no_profiles, "the demo tenant has profile users");
    const PROFILES_SKIPPED: &str = "skipping user profiles: Elasticsearch has them from 8.2; users of external realms are known only from role mappings";
    const NO_QUERY_USER: &str = "reading users in one request with GET /_security/user: paging with POST /_security/_query/user needs Elasticsearch 8.14 or later";
    for version in [
        EsVersion::V7_10,
        EsVersion::V7_17,
        EsVersion::V8_13,
        EsVersion::V8_14,
        EsVersion::V8_15,
        EsVersion::V9_1,
    ] {
        let tenant = Tenant::demo().expect("demo").self_managed(version);
        let fake = FakeElastic::start(tenant.clone()).expect("fake");
        let (_dir, path) = temp_target();
        let out = run(deployment_only(&fake, &tenant, &path).args(["--log-format", "json"]));
        assert_success(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let profiles = version.at_least(8, 2);
        let query = version.at_least(8, 14);
        let expected = if profiles { &full } else { &no_profiles };
        assert_eq!(&deployment_part(records(&path)), expected, "{version}");
        let mut lines = vec!["GET /", "GET /_security/_authenticate"];
        if query {
            lines.extend(["POST /_security/_query/user", RESERVED_LOOKUP]);
        } else {
            lines.push("GET /_security/user");
        }
        lines.extend(["GET /_security/role", "GET /_security/role_mapping"]);
        if profiles {
            lines.push("POST /_security/profile/_suggest");
        }
        assert_eq!(request_lines(&fake), lines, "{version}");
        let connected = logs_with(&stderr, "connected to Elasticsearch");
        assert_eq!(connected.len(), 1, "{version}: {stderr}");
        assert_eq!(connected[0]["version"], version.to_string());
        let skipped = logs_with(&stderr, PROFILES_SKIPPED);
        assert_eq!(skipped.len(), usize::from(!profiles), "{version}: {stderr}");
        assert!(skipped.iter().all(|v| v["level"] == "info"));
        let fallback = logs_with(&stderr, NO_QUERY_USER);
        assert_eq!(fallback.len(), usize::from(!query), "{version}: {stderr}");
        assert!(fallback.iter().all(|v| v["level"] == "info"));
        assert!(!stderr.contains(r#""level":"warn""#), "{version}: {stderr}");
    }
}

#[test]
fn large_clusters_are_read_one_page_of_users_per_request() {
    let spec = TenantSpec::named("small").expect("size");
    let generated = Tenant::generate(&spec);
    let native = generated
        .users
        .values()
        .filter(|u| u["metadata"]["_reserved"] != serde_json::Value::Bool(true))
        .count();
    assert_eq!(native, spec.users);
    let expected = baseline(generated.clone());
    // 50 native users: pages of 7 end with a short page (8 requests); pages of 10 end when the total is
    // read (5 requests, no empty page); one page when it holds them all.
    for (size, pages) in [(7, 8), (10, 5), (1000, 1)] {
        let tenant = generated.clone().self_managed(EsVersion::V8_14);
        let fake = FakeElastic::start(tenant.clone()).expect("fake");
        let (_dir, path) = temp_target();
        let out =
            run(deployment_only(&fake, &tenant, &path)
                .args(["--users-page-size", &size.to_string()]));
        assert_success(&out);
        assert_eq!(
            deployment_part(records(&path)),
            expected,
            "page size {size}"
        );
        let requests = fake.requests();
        let queries: Vec<_> = requests
            .iter()
            .filter(|r| r.path == "/_security/_query/user")
            .collect();
        assert_eq!(queries.len(), pages, "page size {size}");
        assert_eq!(
            queries[0].body,
            format!(r#"{{"size":{size},"sort":[{{"username":"asc"}}]}}"#)
        );
        if pages > 1 {
            assert!(
                queries[1].body.contains(r#""search_after":["#),
                "{}",
                queries[1].body
            );
        }
        assert!(!requests.iter().any(|r| r.path == "/_security/user"));
        let credentials = requests
            .iter()
            .filter(|r| is_credential_request(&r.path))
            .count();
        assert_eq!(
            requests.len() - credentials,
            2 + pages + 1 + 3,
            "page size {size}"
        );
    }
}

fn usage_error(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_of_the_planes_the_credentials_and_the_ca_file() {
    let fake = common::demo_fake();
    let (dir, path) = temp_target();
    let file = path.display().to_string();

    let msg = usage_error(binary().args(["sync", "-f", &file]));
    assert!(
        msg.contains("--api-key") && msg.contains("--deployment-endpoint"),
        "{msg}"
    );

    let msg = usage_error(
        binary()
            .args(["--deployment-endpoint", &fake.url()])
            .args(["--deployment-api-key", "a2V5LWlkOmtleS1zZWNyZXQ="])
            .args(["--deployment-username", "governance"])
            .args(["--deployment-password", PASSWORD])
            .args(["-f", &file]),
    );
    assert!(
        msg.contains("--deployment-api-key") && msg.contains("--deployment-password"),
        "{msg}"
    );
    let msg = usage_error(
        binary()
            .args(["--deployment-endpoint", &fake.url()])
            .args(["--deployment-username", "governance"])
            .args(["-f", &file]),
    );
    assert!(msg.contains("--deployment-password"), "{msg}");

    let missing = dir.path().join("no-such-ca.pem");
    let msg = usage_error(
        binary()
            .args(["--deployment-endpoint", &fake.url()])
            .args(["--deployment-api-key", "a2V5LWlkOmtleS1zZWNyZXQ="])
            .arg("--deployment-ca-cert")
            .arg(&missing)
            .args(["-f", &file]),
    );
    assert!(msg.contains(&missing.display().to_string()), "{msg}");

    let no_certs = dir.path().join("key-only.pem");
    let ca = TestCa::generate().expect("CA");
    std::fs::write(&no_certs, &ca.server_key_pem).expect("write");
    let msg = usage_error(
        binary()
            .args(["--deployment-endpoint", &fake.url()])
            .args(["--deployment-api-key", "a2V5LWlkOmtleS1zZWNyZXQ="])
            .env("BATON_DEPLOYMENT_CA_CERT", &no_certs)
            .args(["-f", &file]),
    );
    assert!(
        msg.contains(&no_certs.display().to_string()) && msg.contains("no PEM certificate"),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");

    assert_eq!(fake.request_count(), 0, "usage errors send nothing");
    assert!(!path.exists());
}

#[test]
fn the_password_is_kept_out_of_debug_output() {
    use baton_elastic::cli::Cli;
    use baton_elastic::config::SyncConfig;
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "baton-elastic",
        "--deployment-endpoint",
        "https://es.example:9200",
        "--deployment-username",
        "governance",
        "--deployment-password",
        PASSWORD,
    ])
    .expect("parses");
    assert!(!format!("{cli:?}").contains(PASSWORD));
    let config = SyncConfig::from_args(&cli.global).expect("valid");
    assert!(config.cloud.is_none());
    let text = format!("{config:?}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("governance"), "{text}");
}

#[test]
fn capabilities_need_neither_plane_and_list_every_type() {
    let expected = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/capabilities.json"),
    )
    .expect("snapshot");
    let out = cli_support::binary()
        .arg("capabilities")
        .env("BATON_DEPLOYMENT_ENDPOINT", "https://es.example:9200")
        .env("BATON_DEPLOYMENT_USERNAME", "governance")
        .env("BATON_DEPLOYMENT_PASSWORD", PASSWORD)
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(out.stdout, expected);
}

#[test]
fn without_the_monitor_privilege_the_version_is_unknown_and_the_sync_uses_the_apis_of_every_version(
) {
    let tenant = Tenant::demo().expect("demo").self_managed(EsVersion::V8_15);
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    // Only the first request, `GET /`, is refused.
    fake.inject(elastic_fake::Fault::status("/", 403).method("GET").times(1));
    let (_dir, path) = temp_target();
    let out = run(deployment_only(&fake, &tenant, &path).args(["--log-format", "json"]));
    assert_success(&out);
    assert_eq!(
        deployment_part(records(&path)),
        baseline(Tenant::demo().expect("demo"))
    );
    assert_eq!(
        request_lines(&fake),
        [
            "GET /",
            "GET /_security/_authenticate",
            "GET /_security/user",
            "GET /_security/role",
            "GET /_security/role_mapping",
            "POST /_security/profile/_suggest",
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unknown = logs_with(
        &stderr,
        "the Elasticsearch version is unknown; reading users with GET /_security/user and trying user profiles",
    );
    assert_eq!(unknown.len(), 1, "{stderr}");
    assert_eq!(unknown[0]["level"], "info");
    let reason = unknown[0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("403") && reason.contains("monitor cluster privilege"),
        "{reason}"
    );
}

#[test]
fn grant_and_revoke_use_the_password_and_the_ca_file_too() {
    let ca = TestCa::generate().expect("test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("http_ca.crt");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let tenant = Tenant::demo()
        .expect("demo")
        .self_managed(EsVersion::V8_15)
        .with_password("governance", PASSWORD);
    let fake =
        FakeElastic::start_tls(tenant, &ca.server_cert_pem, &ca.server_key_pem).expect("TLS fake");
    let roles = |fake: &FakeElastic| fake.tenant().users["carol"]["roles"].clone();
    assert_eq!(roles(&fake), serde_json::json!([]));
    for (command, expected) in [
        ("grant", serde_json::json!(["viewer"])),
        ("revoke", serde_json::json!([])),
    ] {
        let out = run(binary()
            .args([command, "role:viewer:member", "deploymentUser:carol"])
            .args(["--deployment-endpoint", &fake.url()])
            .env("BATON_DEPLOYMENT_USERNAME", "governance")
            .env("BATON_DEPLOYMENT_PASSWORD", PASSWORD)
            .env("BATON_DEPLOYMENT_CA_CERT", &ca_file));
        assert_success(&out);
        assert_eq!(roles(&fake), expected, "{command}");
    }
    assert!(fake.requests().iter().all(|r| r.authorized));
}
