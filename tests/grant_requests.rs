//! `grant` and `revoke` requests as the command line gives them: entitlement, principal and grant ids,
//! the Go connector's flags, and the deployment flags a change needs. Nothing is sent.

use baton_elastic::cli::{Cli, Command};
use baton_elastic::commands::grant::{go_style_request, GrantConfig, Request, Target};
use baton_elastic::config::UsageError;
use clap::Parser;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["baton-elastic"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("parses")
}

fn request(args: &[&str]) -> anyhow::Result<Request> {
    let cli = cli(args);
    match &cli.command {
        Some(Command::Grant(g)) => Request::from_grant_args(g, &cli.global),
        Some(Command::Revoke(r)) => Request::from_revoke_args(r, &cli.global),
        None => go_style_request(&cli.global).map(|r| r.expect("a request")),
        _ => panic!("not a grant or revoke"),
    }
}

fn usage_message(result: anyhow::Result<Request>) -> String {
    let err = result.expect_err("usage error");
    assert!(err.is::<UsageError>(), "not a usage error: {err:#}");
    err.to_string()
}

#[test]
fn entitlements_and_principals_allow_colons_in_names() {
    let r = request(&["grant", "role:a:b:member", "deploymentUser:ops:oncall"]).expect("ok");
    assert_eq!(r.target, Target::Role("a:b".into()));
    assert_eq!(r.username, "ops:oncall");
    assert!(r.grant && !r.dry_run);
    let r = request(&[
        "revoke",
        "roleMapping:m:member",
        "deploymentUser:x",
        "--dry-run",
    ])
    .expect("ok");
    assert_eq!(r.target, Target::RoleMapping("m".into()));
    assert!(!r.grant && r.dry_run);
    assert_eq!(r.target.entitlement_id(), "roleMapping:m:member");
    assert_eq!(r.principal_id(), "deploymentUser:x");
}

#[test]
fn grant_ids_split_at_the_member_slug() {
    let r = request(&["revoke", "roleMapping:a:b:member:deploymentUser:ops:oncall"]).expect("ok");
    assert_eq!(r.target, Target::RoleMapping("a:b".into()));
    assert_eq!(r.username, "ops:oncall");
    let r = request(&["revoke", "role:viewer:member:deploymentUser:svc ingest"]).expect("ok");
    assert_eq!(r.target, Target::Role("viewer".into()));
    assert_eq!(r.username, "svc ingest");
}

#[test]
fn bad_ids_are_usage_errors() {
    for args in [
        &["grant", "role:viewer", "deploymentUser:jdoe"][..],
        &["grant", "role::member", "deploymentUser:jdoe"],
        &["grant", "organization:1:member", "deploymentUser:jdoe"],
        &["grant", "role:viewer:member", "jdoe"],
        &["grant", "role:viewer:member", "deploymentUser:"],
        &["revoke", "role:viewer:member"],
        &["revoke", "role:viewer:member:user:jdoe"],
        &["revoke", "role:viewer:member:deploymentUser:"],
    ] {
        usage_message(request(args));
    }
    let msg = usage_message(request(&["grant", "role:viewer:member", "user:123"]));
    assert!(msg.contains("only deployment users"), "{msg}");
    let msg = usage_message(request(&["revoke", "role:viewer:member"]));
    assert!(msg.contains("needs the principal"), "{msg}");
}

#[test]
fn go_flags_make_requests() {
    let r = request(&[
        "--grant-entitlement",
        "roleMapping:mapping7:member",
        "--grant-principal-type",
        "deploymentUser",
        "--grant-principal",
        "jacknich",
        "--provisioning",
    ])
    .expect("ok");
    assert_eq!(r.target, Target::RoleMapping("mapping7".into()));
    assert_eq!(r.username, "jacknich");
    assert!(r.grant);
    let r = request(&[
        "--revoke-grant",
        "roleMapping:mapping7:member:deploymentUser:jacknich",
        "--dry-run",
    ])
    .expect("ok");
    assert!(!r.grant && r.dry_run);
    assert_eq!(go_style_request(&cli(&[]).global).expect("ok"), None);
}

#[test]
fn go_flag_mistakes_are_usage_errors() {
    let msg = usage_message(request(&["--grant-entitlement", "role:viewer:member"]));
    assert!(
        msg.contains("missing --grant-principal-type, --grant-principal"),
        "{msg}"
    );
    let msg = usage_message(request(&[
        "--grant-entitlement",
        "role:viewer:member",
        "--revoke-grant",
        "role:viewer:member:deploymentUser:jdoe",
    ]));
    assert!(msg.contains("cannot be combined"), "{msg}");
    let msg = usage_message(request(&[
        "--grant-entitlement",
        "role:viewer:member",
        "--grant-principal-type",
        "user",
        "--grant-principal",
        "jdoe",
    ]));
    assert!(msg.contains("only deployment users"), "{msg}");
    let msg = usage_message(request(&[
        "--revoke-grant",
        "role:viewer:member:deploymentUser:jdoe",
        "grant",
        "role:viewer:member",
        "deploymentUser:jdoe",
    ]));
    assert!(msg.contains("cannot be combined"), "{msg}");
    let global = cli(&["--dry-run"]).global;
    assert!(go_style_request(&global)
        .expect_err("dry run alone")
        .is::<UsageError>());
}

#[test]
fn the_deployment_endpoint_and_key_are_required() {
    let err = GrantConfig::from_args(&cli(&["--deployment-api-key", "k"]).global)
        .expect_err("no endpoint");
    assert!(err.is::<UsageError>() && err.to_string().contains("--deployment-endpoint"));
    let err = GrantConfig::from_args(&cli(&["--deployment-endpoint", "https://es.example"]).global)
        .expect_err("no key");
    assert!(err.is::<UsageError>() && err.to_string().contains("--deployment-api-key"));
    let config = GrantConfig::from_args(
        &cli(&[
            "--deployment-endpoint",
            "https://es.example",
            "--deployment-api-key",
            "k",
        ])
        .global,
    )
    .expect("ok");
    assert!(!format!("{config:?}").contains("\"k\""));
}
