//! The command line and the checked configuration built from it: flags before and after the subcommand,
//! usage errors, URLs, service mode, and secrets kept out of Debug output.

use baton_elastic::cli::{Cli, Command, GlobalArgs};
use baton_elastic::config::{parse_base_url, refuse_service_mode, SyncConfig, UsageError};
use clap::{CommandFactory, Parser};
use elastic_api::{Api, Credential, Endpoint, Secret};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

fn args(extra: &[&str]) -> GlobalArgs {
    let mut argv = vec!["baton-elastic"];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).expect("parses").global
}

fn usage_message(result: anyhow::Result<SyncConfig>) -> String {
    let err = result.expect_err("usage error");
    assert!(err.is::<UsageError>(), "not a usage error: {err:#}");
    err.to_string()
}

#[test]
fn secret_is_redacted_in_debug() {
    let s = Secret::new("super-secret-key");
    assert_eq!(format!("{s:?}"), "Secret([redacted])");
    let e = Endpoint::with_api_key(Api::Cloud, Url::parse("https://x").expect("url"), s);
    assert!(!format!("{e:?}").contains("super-secret-key"));
}

#[test]
fn missing_api_key_is_a_usage_error() {
    // An explicit empty value counts as missing.
    let msg = usage_message(SyncConfig::from_args(&args(&["--api-key", ""])));
    assert!(msg.contains("--api-key"), "{msg}");
    let msg = parse_base_url("es.example:9243", "--deployment-endpoint", false)
        .expect_err("no scheme")
        .to_string();
    assert!(msg.contains("such as https://es.example:9243"), "{msg}");
}

#[test]
fn deployment_endpoint_and_key_go_together() {
    let msg = usage_message(SyncConfig::from_args(&args(&[
        "--api-key",
        "k",
        "--deployment-endpoint",
        "https://es.example",
    ])));
    assert!(msg.contains("--deployment-api-key"), "{msg}");
    let msg = usage_message(SyncConfig::from_args(&args(&[
        "--api-key",
        "k",
        "--deployment-api-key",
        "d",
    ])));
    assert!(msg.contains("--deployment-endpoint"), "{msg}");
}

#[test]
fn endpoints_must_be_http_urls() {
    for bad in [
        "es.example:9243",
        "ftp://es.example",
        "https://",
        "https://u:p@h",
    ] {
        assert!(
            parse_base_url(bad, "--deployment-endpoint", false).is_err(),
            "{bad} accepted"
        );
    }
    assert!(parse_base_url("https://es.example:9243", "--x", false).is_ok());
}

#[test]
fn plain_http_only_on_loopback_unless_allowed() {
    assert!(parse_base_url("http://127.0.0.1:9200", "--x", false).is_ok());
    assert!(parse_base_url("http://localhost:9200", "--x", false).is_ok());
    assert!(parse_base_url("http://[::1]:9200", "--x", false).is_ok());
    assert!(parse_base_url("http://es.internal:9200", "--x", false).is_err());
    assert!(parse_base_url("http://es.internal:9200", "--x", true).is_ok());
}

#[test]
fn service_mode_is_refused() {
    assert!(refuse_service_mode(&args(&[])).is_ok());
    assert!(refuse_service_mode(&args(&["--client-id", ""])).is_ok());
    for flags in [["--client-id", "abc"], ["--client-secret", "secret-value"]] {
        let err = refuse_service_mode(&args(&flags)).expect_err("refused");
        assert!(err.is::<UsageError>());
        let msg = err.to_string();
        assert!(msg.contains(flags[0]) && msg.contains("one-shot"), "{msg}");
        assert!(!msg.contains("secret-value"), "{msg}");
    }
    let cli =
        Cli::try_parse_from(["baton-elastic", "--client-secret", "secret-value"]).expect("parses");
    assert!(!format!("{cli:?}").contains("secret-value"));
}

#[test]
fn full_config_is_built() {
    let c = SyncConfig::from_args(&args(&[
        "--api-key",
        "k",
        "--deployment-endpoint",
        "https://es.example",
        "--deployment-api-key",
        "d",
        "--organization-id",
        "42",
    ]))
    .expect("valid");
    assert_eq!(c.organization_id.as_deref(), Some("42"));
    assert_eq!(c.deployments.len(), 1);
    assert_eq!(c.deployments[0].label, "es.example");
    let d = &c.deployments[0].endpoint;
    assert_eq!(d.credential, Credential::ApiKey(Secret::new("d")));
    assert_eq!(
        c.cloud.expect("cloud").base_url.as_str(),
        "https://api.elastic-cloud.com/"
    );
    assert_eq!(c.write.keep_sync_count, 2);
    assert_eq!(c.http.max_attempts, 5);
    assert_eq!(c.http.timeout, Duration::from_secs(60));
    assert_eq!(c.http.max_wait, Duration::from_secs(60));
}

#[test]
fn retry_and_timeout_flags_reach_the_http_options() {
    let c = SyncConfig::from_args(&args(&[
        "--api-key",
        "k",
        "--max-retries",
        "2",
        "--http-timeout-seconds",
        "7",
    ]))
    .expect("valid");
    assert_eq!(c.http.max_attempts, 2);
    assert_eq!(c.http.timeout, Duration::from_secs(7));
}

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

fn parsed(argv: &[&str], env: &[(&str, &str)]) -> GlobalArgs {
    let mut full = vec!["baton-elastic"];
    full.extend_from_slice(argv);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    baton_elastic::config_file::parse_command_line(full, None, |name| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::ffi::OsString::from(v))
    })
    .expect("parses")
    .global
}

#[test]
fn each_credential_belongs_to_the_endpoint_before_it() {
    let args = parsed(
        &[
            "sync",
            "--deployment-endpoint",
            "https://a.example",
            "--deployment-api-key",
            "ka",
            "--deployment-endpoint",
            "https://b.example:9200",
            "--deployment-username",
            "u",
            "--deployment-password",
            "p",
        ],
        &[],
    );
    let c = SyncConfig::from_args(&args).expect("valid");
    let labels: Vec<&str> = c.deployments.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, ["a.example", "b.example:9200"]);
    assert_eq!(
        c.deployments[0].endpoint.credential,
        Credential::ApiKey(Secret::new("ka"))
    );
    assert_eq!(
        c.deployments[1].endpoint.credential,
        Credential::Basic {
            username: "u".into(),
            password: Secret::new("p")
        }
    );
    for (argv, env, expected) in [
        (
            vec!["--deployment-api-key", "k", "--deployment-endpoint", "https://a.example", "--deployment-endpoint", "https://b.example", "--deployment-api-key", "k2"],
            vec![],
            "comes before the first --deployment-endpoint",
        ),
        (
            vec!["--deployment-endpoint", "https://a.example", "--deployment-api-key", "k", "--deployment-api-key", "k2", "--deployment-endpoint", "https://b.example"],
            vec![],
            "given twice for deployment 1",
        ),
        (
            vec!["--deployment-endpoint", "https://a.example", "--deployment-api-key", "k", "--deployment-endpoint", "https://a.example/x", "--deployment-api-key", "k2"],
            vec![],
            "two deployments have the endpoint host a.example",
        ),
        (
            vec!["--deployment-endpoint", "https://a.example", "--deployment-api-key", "k", "--deployment-endpoint", "https://b.example"],
            vec![],
            "deployment 2 (--deployment-endpoint #2): --deployment-endpoint is set but no credential",
        ),
    ] {
        let msg = usage_message(SyncConfig::from_args(&parsed(&argv, &env)));
        assert!(msg.contains(expected), "{argv:?}: {msg}");
    }
}

#[test]
fn the_config_file_list_is_checked_line_by_line() {
    use baton_elastic::config_file::parse_file;
    let path = std::path::Path::new("c.yaml");
    let (entries, deployments) = parse_file(
        "log-level: warn\ndeployments:\n  - endpoint: https://a.example\n    api-key: 'k1'\n  -   endpoint: https://b.example\n      username: u\n      password: \"p\"\n      ca-cert: /ca.pem\nfile: x.c1z\n",
        path,
    )
    .expect("parses");
    assert_eq!(entries.len(), 2);
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0].line, 3);
    assert_eq!(deployments[0].api_key, Some(Secret::new("k1")));
    assert_eq!(deployments[1].username.as_deref(), Some("u"));
    assert_eq!(deployments[1].ca_cert, Some(PathBuf::from("/ca.pem")));
    assert!(
        !format!("{deployments:?}").contains("k1"),
        "keys stay out of Debug"
    );
    for (text, expected) in [
        (
            "deployments:\n  - endpoint: a\n    token: x\n",
            "line 3: unknown key \"token\"",
        ),
        (
            "deployments:\n  - endpoint: a\n    endpoint: b\n",
            "line 3: duplicate key \"endpoint\"",
        ),
        ("deployments:\n", "`deployments:` has no items"),
        ("deployments: x\n", "takes a list"),
        (
            "deployments:\n  - endpoint: a\n      api-key: k\n",
            "line 3: expected a `- key: value` item",
        ),
        (
            "deployment-api-key: k\ndeployments:\n  - endpoint: a\n",
            "are both set",
        ),
        ("  indented: x\n", "line 1: indented line"),
    ] {
        let err = parse_file(text, path).expect_err(text).to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}
