//! The estate in one file: the deployment plane placed under the Cloud deployment it belongs to, when the
//! endpoint's `GET /` names a deployment the Cloud plane lists, and left top level otherwise.

mod common;

use baton_c1z::proto::ChildResourceType;
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

/// `role:<r>:member` grants to Cloud users, with their sources, of a sync of `path`.
fn sso_grants(path: &Path) -> BTreeMap<String, Vec<String>> {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("a sync").sync_id;
    file.grants(&sync)
        .expect("grants")
        .into_iter()
        .filter(|g| {
            g.resource_type_id == "role"
                && ["user", "deployment"].contains(&g.principal_resource_type_id.as_str())
        })
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

#[test]
fn cloud_deployment_roles_give_their_stack_roles_on_the_known_deployment() {
    let fake = FakeElastic::start(
        Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::V8_15),
    )
    .expect("fake");
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
    ]
    .into_iter()
    .collect();
    assert_eq!(sso_grants(&path), expected);
    let out = common::binary()
        .args(["inspect", "access", "-t", "user", "-r", "2894412301", "-f"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("superuser (Deployment Role)\n    └── member via Admin\n"),
        "{stdout}"
    );

    // Without a known deployment, Cloud users get no stack role.
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    assert_eq!(sso_grants(&path), BTreeMap::new());
}
