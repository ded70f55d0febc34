//! The estate in one file: the deployment plane placed under the Cloud deployment it belongs to, when the
//! endpoint's `GET /` names a deployment the Cloud plane lists, and left top level otherwise.

mod common;

use baton_c1z::proto::{find_annotation, AppTrait, ChildResourceType, Kind};
use baton_c1z::reader::ResourceRow;
use common::{open, run_ok, sync_args, temp_target};
use elastic_fake::{EsVersion, FakeElastic, Tenant};
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

/// `prod-logs`, whose Elasticsearch resource id the versioned demo cluster reports as `cluster_name`.
const PROD_LOGS: &str = "0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d";
const PLANE: [&str; 4] = ["role", "deploymentUser", "roleMapping", "group"];

fn resources(path: &Path) -> Vec<ResourceRow> {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    file.resources(&sync).expect("resources")
}

/// The parent (`type:id`) of every deployment-plane resource, by external id.
fn plane_parents(rows: &[ResourceRow]) -> BTreeMap<String, Option<String>> {
    rows.iter()
        .filter(|r| PLANE.contains(&r.resource_type_id.as_str()))
        .map(|r| {
            let parent = r
                .data
                .parent_resource_id
                .as_ref()
                .map(|p| format!("{}:{}", p.resource_type, p.resource));
            let column = r
                .parent_resource_type_id
                .as_ref()
                .zip(r.parent_resource_id.as_ref())
                .map(|(t, id)| format!("{t}:{id}"));
            assert_eq!(
                parent, column,
                "{}: the row's parent columns",
                r.external_id
            );
            (r.external_id.clone(), parent)
        })
        .collect()
}

/// The `ChildResourceType` annotations of each deployment resource, by deployment id.
fn child_types(rows: &[ResourceRow]) -> BTreeMap<String, Vec<String>> {
    rows.iter()
        .filter(|r| r.resource_type_id == "deployment")
        .map(|r| {
            let types = r
                .data
                .annotations
                .iter()
                .filter(|a| a.type_url.ends_with("c1.connector.v2.ChildResourceType"))
                .map(|a| {
                    ChildResourceType::decode(a.value.as_slice())
                        .expect("decodes")
                        .resource_type_id
                })
                .collect();
            let id = r.data.id.as_ref().expect("id").resource.clone();
            (id, types)
        })
        .collect()
}

fn sync(tenant: Tenant, deployment_only: bool) -> Vec<ResourceRow> {
    let fake = FakeElastic::start(tenant).expect("fake");
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    if deployment_only {
        let at = args.iter().position(|a| a == "--cloud-url").expect("flag");
        args.drain(at..at + 4);
    }
    run_ok(&args);
    resources(&path)
}

#[test]
fn the_deployment_the_endpoint_names_holds_its_roles_users_mappings_and_groups() {
    let rows = sync(
        Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::V8_15),
        false,
    );
    let parents = plane_parents(&rows);
    for t in PLANE {
        assert!(
            parents.keys().any(|k| k.starts_with(&format!("{t}:"))),
            "the demo tenant has {t} resources"
        );
    }
    let home = format!("deployment:{PROD_LOGS}");
    for (id, parent) in &parents {
        assert_eq!(parent.as_deref(), Some(home.as_str()), "{id}");
    }
    let children = child_types(&rows);
    assert_eq!(
        children[PROD_LOGS], PLANE,
        "prod-logs lists the plane's types"
    );
    assert!(
        children
            .iter()
            .filter(|(id, _)| id.as_str() != PROD_LOGS)
            .all(|(_, types)| types.is_empty()),
        "only prod-logs: {children:?}"
    );
    // The same resources as when the deployment is not known, only placed under it.
    let unplaced = sync(Tenant::demo().expect("demo"), false);
    assert_eq!(
        plane_parents(&unplaced).keys().collect::<Vec<_>>(),
        parents.keys().collect::<Vec<_>>()
    );
}

#[test]
fn without_a_known_deployment_the_security_objects_stay_top_level() {
    // The unversioned demo (no GET /), the deployment plane alone, and a cluster name no deployment has.
    let mut stranger = Tenant::demo()
        .expect("demo")
        .with_es_version(EsVersion::V8_15);
    if let Some(cluster) = stranger.cluster.as_mut() {
        cluster.cluster_name = "ffffffffffffffffffffffffffffffff".to_string();
    }
    for (name, rows) in [
        ("unversioned", sync(Tenant::demo().expect("demo"), false)),
        (
            "deployment only",
            sync(
                Tenant::demo().expect("demo").self_managed(EsVersion::V8_15),
                true,
            ),
        ),
        ("unknown cluster name", sync(stranger, false)),
    ] {
        let parents = plane_parents(&rows);
        assert!(!parents.is_empty(), "{name}");
        assert!(parents.values().all(Option::is_none), "{name}: {parents:?}");
        assert!(
            child_types(&rows).values().all(Vec::is_empty),
            "{name}: no deployment lists children"
        );
    }
}

#[test]
fn cloud_deployment_roles_give_their_stack_roles_on_the_known_deployment() {
    let fake = common::versioned_demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let on = |slug: &str| vec![format!("deployment:{PROD_LOGS}:{slug}")];
    let expected: BTreeMap<String, Vec<String>> = [
        // The expandable grants themselves, to the deployment.
        (format!("role:editor:member:deployment:{PROD_LOGS}"), vec![]),
        (
            format!("role:superuser:member:deployment:{PROD_LOGS}"),
            vec![],
        ),
        (format!("role:viewer:member:deployment:{PROD_LOGS}"), vec![]),
        // Bob: Deployment editor of prod-logs by id, Deployment viewer of every Corp deployment.
        ("role:editor:member:user:3310087745".into(), on("editor")),
        ("role:viewer:member:user:3310087745".into(), on("viewer")),
        // Ada: Organization owner of Acme Corp, so admin of prod-logs.
        ("role:superuser:member:user:2894412301".into(), on("admin")),
        // The pending invitation of new.hire: editor of prod-logs, viewer of every deployment.
        (
            "role:editor:member:user:invitation:new.hire@acme.example".into(),
            on("editor"),
        ),
        (
            "role:viewer:member:user:invitation:new.hire@acme.example".into(),
            on("viewer"),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(common::sso_grants(&path), expected);
    let out = common::binary()
        .args(["inspect", "access", "-t", "user", "-r", "2894412301", "-f"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("superuser on prod-logs (Deployment Role)\n    └── member via Admin on prod-logs (Deployment)\n"),
        "{stdout}"
    );

    // Without a known deployment, Cloud users get no stack role.
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    assert_eq!(common::sso_grants(&path), BTreeMap::new());
}

const CORP_SIEM: &str = "7d2f0a9c4b1e4f8a9c3d5e7f1a2b4c6d";
const LABS_SEARCH: &str = "c866244b611442d585e23a0cc8c9434c";

#[test]
fn serverless_projects_with_their_roles_and_assignments() {
    let mut tenant = Tenant::demo().expect("demo");
    // Bob: T1 analyst of corp-siem by id.
    let bob = tenant
        .members
        .get_mut("4125567842")
        .and_then(|m| m.iter_mut().find(|m| m["user_id"] == "3310087745"))
        .expect("bob");
    bob["role_assignments"]["project"] = serde_json::json!({"security": [
        {"role_id": "security-t1-analyst", "organization_id": "4125567842", "all": false, "project_ids": [CORP_SIEM]},
        {"role_id": "security-viewer", "organization_id": "4125567842", "all": true, "application_roles": ["soc-reader"]}
    ]});
    let fake = FakeElastic::start(tenant).expect("fake");
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(&fake, &path));
    assert!(String::from_utf8_lossy(&out.stdout).contains("  project                 2"));
    let rows = resources(&path);
    let siem = rows
        .iter()
        .find(|r| r.external_id == format!("project:{CORP_SIEM}"))
        .expect("corp-siem");
    assert_eq!(siem.parent_resource_id.as_deref(), Some("4125567842"));
    assert_eq!(siem.data.display_name, "corp-siem");
    let app: AppTrait = find_annotation(&siem.data.annotations)
        .expect("decodes")
        .expect("an AppTrait");
    let profile = app.profile.expect("profile");
    let field = |name: &str| match profile.fields.get(name).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(field("type"), "security");
    assert_eq!(field("alias"), "corp-siem-d4e5f6");
    assert_eq!(field("region"), "gcp-us-central1");
    assert_eq!(
        field("endpoint_ingest"),
        "https://corp-siem-d4e5f6.ingest.us-central1.gcp.elastic.cloud"
    );
    let file = open(&path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    let entitlements: Vec<String> = file
        .entitlements(&sync)
        .expect("entitlements")
        .into_iter()
        .filter(|e| e.resource_type_id == "project")
        .map(|e| e.external_id)
        .collect();
    // 13 security roles, 3 Elasticsearch roles, and the custom role Bob is assigned on every security
    // project.
    assert_eq!(entitlements.len(), 13 + 3 + 1);
    assert!(entitlements.contains(&format!("project:{CORP_SIEM}:custom:soc-reader")));
    assert!(entitlements.contains(&format!("project:{LABS_SEARCH}:elasticsearch-developer")));
    let grants = common::grants_with_sources(&path, |g| {
        g.resource_type_id == "project" && g.principal_resource_type_id == "user"
    });
    let expected: BTreeMap<String, Vec<String>> = [
        (
            format!("project:{CORP_SIEM}:security-t1-analyst:user:3310087745"),
            vec![],
        ),
        (
            format!("project:{CORP_SIEM}:custom:soc-reader:user:3310087745"),
            vec![],
        ),
        // security-viewer on every security project: through the organization.
        (
            format!("project:{CORP_SIEM}:security-viewer:user:3310087745"),
            vec!["organization:4125567842:security-viewer".to_owned()],
        ),
        (
            format!("project:{LABS_SEARCH}:elasticsearch-admin:user:6639001122"),
            vec!["organization:5093318764:elasticsearch-admin".to_owned()],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(grants, expected);
}

#[test]
fn a_key_without_serverless_access_is_a_warning() {
    let mut tenant = Tenant::demo().expect("demo");
    tenant.serverless_forbidden = true;
    let fake = FakeElastic::start(tenant).expect("fake");
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(["--log-format".into(), "json".into()]);
    let out = run_ok(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "warn")
        .collect();
    assert_eq!(warnings.len(), 3, "one per project type: {stderr}");
    assert!(warnings.iter().all(|w| w["msg"]
        .as_str()
        .is_some_and(|m| m.starts_with("Serverless projects are not readable"))));
    assert!(resources(&path)
        .iter()
        .all(|r| r.resource_type_id != "project"));
}
