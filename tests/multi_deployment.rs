//! Several deployments in one sync: each deployment's security objects as distinct resources whose ids
//! start with the endpoint host, under their Cloud deployment, with the Cloud SSO stack roles of each;
//! the deployments read at the same time; one failing deployment failing the run unless
//! `--continue-on-deployment-error`; grant and revoke picking the deployment from the ids; the config
//! file's `deployments:` list.

mod common;

use baton_c1z::proto::{find_annotation, AppTrait};
use common::{binary, open, output, run, run_ok, stderr, sync_args, temp_target};
use elastic_fake::{FakeElastic, Fault, Tenant, DEMO_STAGING_API_KEY};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `prod-logs` and `staging-search`, the demo deployments whose security APIs the test serves.
const PROD_LOGS: &str = "0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d";
const STAGING: &str = "3f6b1d8e0c2a4f7b9d1e3c5a7f9b2d4e";

fn host(fake: &FakeElastic) -> String {
    fake.url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// The demo Cloud with prod-logs' security API, and staging-search's on a second server.
fn estate() -> (FakeElastic, FakeElastic) {
    let prod = common::versioned_demo_fake();
    let staging = FakeElastic::start(Tenant::demo_staging().expect("staging")).expect("fake");
    (prod, staging)
}

fn both_args(prod: &FakeElastic, staging: &FakeElastic, path: &Path) -> Vec<String> {
    let mut args = sync_args(prod, path);
    args.extend([
        "--deployment-endpoint".to_owned(),
        staging.url(),
        "--deployment-api-key".to_owned(),
        DEMO_STAGING_API_KEY.to_owned(),
    ]);
    args
}

/// `type:id` → (parent `type:id`, display name) of every resource of the newest sync.
fn resources(path: &Path) -> BTreeMap<String, (Option<String>, String)> {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    file.resources(&sync)
        .expect("resources")
        .into_iter()
        .map(|r| {
            let parent = r
                .data
                .parent_resource_id
                .as_ref()
                .map(|p| format!("{}:{}", p.resource_type, p.resource));
            (r.external_id.clone(), (parent, r.data.display_name.clone()))
        })
        .collect()
}

#[test]
fn each_deployment_has_its_own_resources_under_its_cloud_deployment() {
    let (prod, staging) = estate();
    let (_dir, path) = temp_target();
    run_ok(&both_args(&prod, &staging, &path));
    let (p, s) = (host(&prod), host(&staging));
    let rows = resources(&path);
    let prod_parent = Some(format!("deployment:{PROD_LOGS}"));
    let staging_parent = Some(format!("deployment:{STAGING}"));
    // Every object of a deployment carries its host, and sits under its deployment.
    let mut seen = BTreeSet::new();
    for (id, (parent, display)) in &rows {
        let Some((kind, rest)) = id.split_once(':') else {
            continue;
        };
        if !["role", "deploymentUser", "roleMapping", "group"].contains(&kind) {
            continue;
        }
        let (label, _) = rest.split_once('/').expect("labelled id");
        let (expected_parent, name) = if label == p {
            (&prod_parent, "prod-logs")
        } else {
            assert_eq!(label, s, "{id}");
            (&staging_parent, "staging-search")
        };
        assert_eq!(parent, expected_parent, "{id}");
        assert!(display.ends_with(&format!(" ({name})")), "{id}: {display}");
        seen.insert((kind, label == p));
    }
    assert_eq!(
        seen.len(),
        8,
        "both deployments have all four types: {seen:?}"
    );
    // The same role on both deployments is two resources.
    assert_eq!(
        rows[&format!("role:{s}/viewer")],
        (staging_parent.clone(), "viewer (staging-search)".to_owned())
    );
    assert_eq!(
        rows[&format!("role:{p}/viewer")],
        (prod_parent.clone(), "viewer (prod-logs)".to_owned())
    );
    // Staging's own objects, exactly.
    let staging_objects: BTreeSet<&str> = rows
        .keys()
        .filter_map(|id| id.split_once(&format!(":{s}/")).map(|_| id.as_str()))
        .collect();
    let expected: BTreeSet<String> = [
        "role:{s}/superuser",
        "role:{s}/viewer",
        "role:{s}/editor",
        "role:{s}/search_admin",
        "roleMapping:{s}/qa-editors",
        "roleMapping:{s}/search-team",
        "group:{s}/cn=search,ou=groups,dc=acme,dc=example",
        "deploymentUser:{s}/search-admin",
        "deploymentUser:{s}/qa.tester",
        "deploymentUser:{s}/old.contractor",
        "deploymentUser:{s}/sam.saml",
        "deploymentUser:{s}/search-oncall",
    ]
    .iter()
    .map(|t| t.replace("{s}", &s))
    .chain(
        [
            "elastic",
            "kibana_system",
            "logstash_system",
            "beats_system",
            "apm_system",
            "remote_monitoring_user",
        ]
        .iter()
        .map(|u| format!("deploymentUser:{s}/{u}")),
    )
    .chain(
        [
            "kibana_system",
            "logstash_system",
            "beats_system",
            "apm_system",
            "remote_monitoring_collector",
            "remote_monitoring_agent",
        ]
        .iter()
        .map(|r| format!("role:{s}/{r}")),
    )
    .collect();
    let got: BTreeSet<String> = staging_objects.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(missing.is_empty(), "missing {missing:?}; got {got:?}");
    // Both deployments list their children.
    let file = open(&path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    let deployments = file.resources(&sync).expect("resources");
    for id in [PROD_LOGS, STAGING] {
        let row = deployments
            .iter()
            .find(|r| r.external_id == format!("deployment:{id}"))
            .expect("deployment");
        assert!(
            row.data
                .annotations
                .iter()
                .any(|a| a.type_url.ends_with("ChildResourceType")),
            "{id} lists child types"
        );
    }
}

#[test]
fn cloud_roles_give_their_stack_roles_on_each_deployment() {
    let (prod, staging) = estate();
    let (_dir, path) = temp_target();
    run_ok(&both_args(&prod, &staging, &path));
    let (p, s) = (host(&prod), host(&staging));
    let on = |d: &str, slug: &str| vec![format!("deployment:{d}:{slug}")];
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (label, d) in [(&p, PROD_LOGS), (&s, STAGING)] {
        for role in ["editor", "superuser", "viewer"] {
            expected.insert(format!("role:{label}/{role}:member:deployment:{d}"), vec![]);
        }
        // Ada: Organization owner of Acme Corp, whose deployments both are: admin, so superuser.
        expected.insert(
            format!("role:{label}/superuser:member:user:2894412301"),
            on(d, "admin"),
        );
        // Bob: Deployment viewer of every Corp deployment.
        expected.insert(
            format!("role:{label}/viewer:member:user:3310087745"),
            on(d, "viewer"),
        );
        // The invitee: viewer of every deployment.
        expected.insert(
            format!("role:{label}/viewer:member:user:invitation:new.hire@acme.example"),
            on(d, "viewer"),
        );
    }
    // On prod-logs only: Bob and the invitee are editors of it by id.
    expected.insert(
        format!("role:{p}/editor:member:user:3310087745"),
        on(PROD_LOGS, "editor"),
    );
    expected.insert(
        format!("role:{p}/editor:member:user:invitation:new.hire@acme.example"),
        on(PROD_LOGS, "editor"),
    );
    assert_eq!(common::sso_grants(&path), expected);

    // The effective access says which deployment, and through which Cloud role.
    let out = output(
        binary()
            .args(["inspect", "access", "-t", "user", "-r", "2894412301", "-f"])
            .arg(&path),
    );
    assert!(out.status.success());
    let text = common::stdout(&out);
    assert!(
        text.contains("superuser (staging-search) (Deployment Role)\n    └── member via Admin on staging-search (Deployment)\n")
            || text.contains("superuser (staging-search) (Deployment Role)\n│   └── member via Admin on staging-search (Deployment)\n"),
        "{text}"
    );
}

#[test]
fn deployments_are_read_at_the_same_time() {
    // One server reached under two host names: two deployments, whose first security requests each
    // wait for the other's. Read one after the other, the first would wait alone.
    let fake = common::versioned_demo_fake();
    fake.inject(Fault::rendezvous("/_security/_authenticate", 2));
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    let second = fake.url().replace("127.0.0.1", "localhost");
    args.extend([
        "--deployment-endpoint".to_owned(),
        second,
        "--deployment-api-key".to_owned(),
        common::demo_keys().1,
    ]);
    run_ok(&args);
    assert_eq!(fake.rendezvous_missed(), 0, "both were in flight at once");
    let auth = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/_security/_authenticate")
        .count();
    assert_eq!(auth, 2);
}

#[test]
fn a_failing_deployment_fails_the_run_unless_told_to_continue() {
    let (prod, staging) = estate();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&prod, &path));
    let before = std::fs::read(&path).expect("file");
    staging.inject(Fault::status("/_security/role", 500));
    let args = both_args(&prod, &staging, &path);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot read deployment {}", host(&staging))),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&path).expect("file"),
        before,
        "file unchanged"
    );

    let mut args = args;
    args.push("--continue-on-deployment-error".to_owned());
    run_ok(&args);
    let rows = resources(&path);
    let s = host(&staging);
    let p = host(&prod);
    assert!(rows.keys().all(|id| !id.contains(&format!(":{s}/"))));
    assert!(
        rows.contains_key(&format!("role:{p}/viewer")),
        "prod-logs is written"
    );
    // The missing deployment is in the file, with its error.
    let (parent, display) = &rows[&format!("deployment:{s}")];
    assert_eq!(
        (parent, display.as_str()),
        (&None, format!("{s} (not read)").as_str())
    );
    let file = open(&path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    let row = file
        .resources(&sync)
        .expect("resources")
        .into_iter()
        .find(|r| r.external_id == format!("deployment:{s}"))
        .expect("placeholder");
    let app = find_annotation::<AppTrait>(&row.data.annotations)
        .expect("decodes")
        .expect("app trait");
    let profile = app.profile.expect("profile");
    let error = baton_c1z::proto::profile_string(&profile, "security_api_unread").expect("error");
    assert!(error.contains("500"), "{error}");
}

#[test]
fn grant_and_revoke_pick_the_deployment_from_the_ids() {
    let (prod, staging) = estate();
    let s = host(&staging);
    let (cloud_key, prod_key) = common::demo_keys();
    let deployments = |cmd: &mut std::process::Command| {
        cmd.args(["--api-key", &cloud_key, "--cloud-url", &prod.url()])
            .args(["--deployment-endpoint", &prod.url()])
            .args(["--deployment-api-key", &prod_key])
            .args(["--deployment-endpoint", &staging.url()])
            .args(["--deployment-api-key", DEMO_STAGING_API_KEY]);
    };
    let mut cmd = binary();
    cmd.args([
        "grant",
        &format!("role:{s}/search_admin:member"),
        &format!("deploymentUser:{s}/qa.tester"),
    ]);
    deployments(&mut cmd);
    let out = output(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let roles = staging.tenant().users["qa.tester"]["roles"].clone();
    assert_eq!(roles, serde_json::json!(["viewer", "search_admin"]));
    assert!(
        !prod.requests().iter().any(|r| r.method == "PUT"),
        "prod-logs is not written"
    );

    // Ids without the host, or of two deployments, are usage errors.
    for (entitlement, principal) in [
        (
            "role:viewer:member".to_owned(),
            "deploymentUser:qa.tester".to_owned(),
        ),
        (
            format!("role:{s}/viewer:member"),
            format!("deploymentUser:{}/qa.tester", host(&prod)),
        ),
        (
            "role:nowhere.example/viewer:member".to_owned(),
            "deploymentUser:nowhere.example/qa.tester".to_owned(),
        ),
    ] {
        let mut cmd = binary();
        cmd.args(["revoke", &entitlement, &principal]);
        deployments(&mut cmd);
        let out = output(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{entitlement}: {}",
            stderr(&out)
        );
    }
    let mut cmd = binary();
    cmd.args([
        "revoke",
        &format!("role:{s}/search_admin:member:deploymentUser:{s}/qa.tester"),
    ]);
    deployments(&mut cmd);
    let out = output(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        staging.tenant().users["qa.tester"]["roles"],
        serde_json::json!(["viewer"])
    );
}

#[test]
fn the_config_file_lists_the_deployments() {
    let (prod, staging) = estate();
    let (dir, path) = temp_target();
    let (cloud_key, prod_key) = common::demo_keys();
    let config = dir.path().join("baton.yaml");
    std::fs::write(
        &config,
        format!(
            "api-key: {cloud_key}\ncloud-url: {}\ndeployments:\n  - endpoint: {}\n    api-key: {prod_key}\n  - endpoint: {}\n    api-key: \"{DEMO_STAGING_API_KEY}\"\n",
            prod.url(),
            prod.url(),
            staging.url()
        ),
    )
    .expect("config");
    let out = output(
        binary()
            .env("BATON_CONFIG_PATH", &config)
            .args(["-f"])
            .arg(&path),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = resources(&path);
    assert!(rows.contains_key(&format!("role:{}/search_admin", host(&staging))));
    assert!(rows.contains_key(&format!("role:{}/viewer", host(&prod))));
}

#[test]
fn what_a_deployment_logs_names_it() {
    let (prod, staging) = estate();
    staging.inject(Fault::status("/_security/profile", 403));
    let (_dir, path) = temp_target();
    let mut args = both_args(&prod, &staging, &path);
    args.extend(["--log-format".to_owned(), "json".to_owned()]);
    let out = run_ok(&args);
    let warnings: Vec<serde_json::Value> = common::log_lines(&out)
        .into_iter()
        .filter(|l| l["level"] == "warn")
        .collect();
    let profiles: Vec<&serde_json::Value> = warnings
        .iter()
        .filter(|w| {
            w["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("user profiles"))
        })
        .collect();
    assert_eq!(profiles.len(), 1, "{warnings:?}");
    assert_eq!(profiles[0]["deployment"], host(&staging));
}
