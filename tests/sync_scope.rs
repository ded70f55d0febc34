//! The sync-scope options of baton-sdk (`--sync-resource-types`, `--skip-grants`,
//! `--skip-entitlements-and-grants`): the real binary against the fake, the requests it sends compared
//! with a full run's, and the records it writes compared with a full run's, read back as Baton does.

mod common;

use baton_c1z::proto::{Entitlement, Grant, Resource};
use common::*;
use elastic_fake::FakeElastic;
use std::collections::BTreeMap;
use std::path::Path;

/// What one sync wrote: its type, its resource types, and its records by id.
struct Written {
    sync_type: String,
    type_ids: Vec<String>,
    resources: BTreeMap<String, Resource>,
    entitlements: BTreeMap<String, Entitlement>,
    grants: BTreeMap<String, Grant>,
}

/// The newest sync in `path` (finished, of any type).
fn newest(path: &Path) -> Written {
    let file = open(path);
    let run = file
        .sync_runs()
        .expect("runs")
        .into_iter()
        .last()
        .expect("a sync");
    assert!(run.ended_at.is_some(), "finished");
    let id = run.sync_id;
    Written {
        sync_type: run.sync_type,
        type_ids: file
            .resource_types(&id)
            .expect("types")
            .into_iter()
            .map(|t| t.external_id)
            .collect(),
        resources: file
            .resources(&id)
            .expect("resources")
            .into_iter()
            .map(|r| (r.external_id, r.data))
            .collect(),
        entitlements: file
            .entitlements(&id)
            .expect("entitlements")
            .into_iter()
            .map(|e| (e.external_id, e.data))
            .collect(),
        grants: file
            .grants(&id)
            .expect("grants")
            .into_iter()
            .map(|g| (g.external_id, g.data))
            .collect(),
    }
}

/// A full sync of a fresh demo fake: what it wrote and the requests it sent.
fn full_run() -> (Written, Vec<String>) {
    scoped_run(&[])
}

/// A sync of a fresh demo fake with `extra` flags: what it wrote and the requests it sent.
fn scoped_run(extra: &[&str]) -> (Written, Vec<String>) {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    run_ok(&args);
    (newest(&path), requests(&fake))
}

fn requests(fake: &FakeElastic) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The type of the resource an entitlement is on.
fn entitlement_type(e: &Entitlement) -> &str {
    e.resource
        .as_ref()
        .and_then(|r| r.id.as_ref())
        .map_or("", |id| id.resource_type.as_str())
}

/// The records of `full` whose type (a grant's: its entitlement's resource type) is in `types`.
fn restrict(full: &Written, types: &[&str]) -> Written {
    let keep = |t: &str| types.contains(&t);
    Written {
        sync_type: full.sync_type.clone(),
        type_ids: full.type_ids.clone(),
        resources: full
            .resources
            .iter()
            .filter(|(_, r)| keep(r.id.as_ref().map_or("", |id| id.resource_type.as_str())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        entitlements: full
            .entitlements
            .iter()
            .filter(|(_, e)| keep(entitlement_type(e)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        grants: full
            .grants
            .iter()
            .filter(|(_, g)| keep(g.entitlement.as_ref().map_or("", entitlement_type)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

const ALL_TYPES: [&str; 10] = [
    "organization",
    "deployment",
    "user",
    "project",
    "role",
    "deploymentUser",
    "roleMapping",
    "group",
    "serviceAccount",
    "apiKey",
];

const FULL_REQUESTS: [&str; 22] = [
    "GET /api/v1/organizations",
    "GET /api/v1/organizations/4125567842/members",
    "GET /api/v1/organizations/5093318764/members",
    "GET /api/v1/organizations/6620014477/members",
    "GET /api/v1/organizations/4125567842/invitations",
    "GET /api/v1/organizations/5093318764/invitations",
    "GET /api/v1/organizations/6620014477/invitations",
    "GET /api/v1/deployments",
    "GET /api/v1/serverless/projects/elasticsearch",
    "GET /api/v1/serverless/projects/observability",
    "GET /api/v1/serverless/projects/security",
    "GET /",
    "GET /_security/_authenticate",
    "GET /_security/user",
    "GET /_security/role",
    "GET /_security/role_mapping",
    "POST /_security/profile/_suggest",
    "POST /_security/_query/api_key?with_limited_by=true",
    "GET /_security/service",
    "GET /_security/service/elastic/enterprise-search-server/credential",
    "GET /_security/service/elastic/fleet-server/credential",
    "GET /_security/service/elastic/kibana/credential",
];

#[test]
fn a_full_run_sends_twenty_two_requests_and_records_a_full_sync() {
    let (full, requests) = full_run();
    assert_eq!(requests, FULL_REQUESTS);
    assert_eq!(full.sync_type, "full");
    assert_eq!(full.type_ids, ALL_TYPES);
    assert!(!full.grants.is_empty());
}

#[test]
fn sync_resource_types_writes_only_those_types_and_reads_only_what_they_need() {
    let (full, _) = full_run();
    // Organizations: the organization list, and the members for the grants; no deployment request.
    let (orgs, requests) = scoped_run(&["--sync-resource-types", "organization"]);
    // Organizations, and for the grants the members and the invitations of each.
    assert_eq!(requests, FULL_REQUESTS[..7]);
    let expected = restrict(&full, &["organization"]);
    assert_eq!(
        orgs.sync_type, "full",
        "as baton-sdk records a type-filtered sync"
    );
    assert_eq!(
        orgs.type_ids, ALL_TYPES,
        "the other types are written, empty"
    );
    assert_eq!(orgs.resources, expected.resources);
    assert_eq!(orgs.entitlements, expected.entitlements);
    assert_eq!(orgs.grants, expected.grants);
    assert_eq!(orgs.resources.len(), 3);
    assert!(!orgs.grants.is_empty());

    // Role mappings and groups: only the deployment's lists that member evaluation needs.
    let (mappings, requests) = scoped_run(&["--sync-resource-types", "roleMapping,group"]);
    assert_eq!(
        requests,
        [
            "GET /",
            "GET /_security/_authenticate",
            "GET /_security/user",
            "GET /_security/role_mapping",
            "POST /_security/profile/_suggest",
        ]
    );
    let expected = restrict(&full, &["roleMapping", "group"]);
    assert_eq!(mappings.resources, expected.resources);
    assert_eq!(mappings.entitlements, expected.entitlements);
    assert_eq!(mappings.grants, expected.grants);
    assert!(mappings.grants.keys().any(|g| g.contains(":member:group:")));
    assert!(mappings
        .resources
        .keys()
        .all(|r| r.starts_with("roleMapping:") || r.starts_with("group:")));
}

#[test]
fn skip_grants_keeps_entitlements_and_skip_entitlements_and_grants_records_resources_only() {
    let (full, _) = full_run();
    let (no_grants, requests) = scoped_run(&["--skip-grants"]);
    // Every list is still needed for the resources (parents, referenced roles and users).
    assert_eq!(requests, FULL_REQUESTS);
    assert_eq!(no_grants.sync_type, "full");
    assert_eq!(no_grants.resources, full.resources);
    assert_eq!(no_grants.entitlements, full.entitlements);
    assert!(no_grants.grants.is_empty());

    let (resources_only, requests) = scoped_run(&["--skip-entitlements-and-grants"]);
    assert_eq!(requests, FULL_REQUESTS);
    assert_eq!(resources_only.sync_type, "resources_only");
    assert_eq!(resources_only.type_ids, ALL_TYPES);
    assert_eq!(resources_only.resources, full.resources);
    assert!(resources_only.entitlements.is_empty() && resources_only.grants.is_empty());

    // Skipping grants drops the requests only grants need.
    let (mappings, requests) =
        scoped_run(&["--sync-resource-types", "roleMapping", "--skip-grants"]);
    assert_eq!(
        requests,
        [
            "GET /",
            "GET /_security/_authenticate",
            "GET /_security/role_mapping"
        ]
    );
    assert_eq!(
        mappings.entitlements,
        restrict(&full, &["roleMapping"]).entitlements
    );
    assert!(mappings.grants.is_empty());
    let (orgs, requests) = scoped_run(&[
        "--sync-resource-types",
        "organization",
        "--skip-entitlements-and-grants",
    ]);
    assert_eq!(requests, ["GET /api/v1/organizations"]);
    assert_eq!(orgs.resources, restrict(&full, &["organization"]).resources);
}

#[test]
fn readers_show_the_newest_full_sync_while_stats_show_a_newer_resources_only_one() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let mut args = sync_args(&fake, &path);
    args.push("--skip-entitlements-and-grants".into());
    run_ok(&args);
    let file = open(&path);
    let runs = file.sync_runs().expect("runs");
    let types: Vec<&str> = runs.iter().map(|r| r.sync_type.as_str()).collect();
    assert_eq!(types, ["full", "resources_only"]);
    // The list views read the newest finished full sync, as Baton's readers do.
    let default = file.default_sync().expect("q").expect("sync");
    assert_eq!(default.sync_id, runs[0].sync_id);
    assert!(!file.grants(&default.sync_id).expect("grants").is_empty());
    let syncs = binary()
        .args(["inspect", "syncs", "-f"])
        .arg(&path)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&syncs.stdout);
    assert!(text.contains("resources_only"), "{text}");
    // `stats` reads the newest finished sync of any type: the resources-only one.
    let stats = binary()
        .args(["inspect", "stats", "-o", "json", "-f"])
        .arg(&path)
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("json");
    assert_eq!(doc["grants"], 0, "{doc}");
    assert_eq!(doc["entitlements"], 0, "{doc}");
    assert_eq!(doc["organization"], 3, "{doc}");
}

#[test]
fn sync_resource_types_from_the_environment_and_unknown_types_are_usage_errors() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let out = output(
        binary()
            .args(sync_args(&fake, &path))
            .env("BATON_SYNC_RESOURCE_TYPES", "organization"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(requests(&fake), FULL_REQUESTS[..7]);
    assert!(newest(&path)
        .resources
        .keys()
        .all(|k| k.starts_with("organization:")));

    let fake = demo_fake();
    let (dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(["--sync-resource-types".into(), "role,groups".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid resource type 'groups'"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "organization, deployment, user, project, role, deploymentUser, roleMapping, group"
        ),
        "lists the valid types: {stderr}"
    );
    assert_eq!(fake.request_count(), 0, "nothing is sent");
    assert!(dir_entries(dir.path()).is_empty());
}
