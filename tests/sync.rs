//! End-to-end sync tests: the real binary against the loopback fake of both Elastic APIs, with the
//! artifact read back as Baton reads it (magic, zstd, SQLite rows, decoded protobuf).

mod common;

use baton_c1z::proto::{
    find_annotation, has_annotation, profile_bool, profile_string, AccountType, ChildResourceType,
    ExternalResourceMatchId, GrantExpandable, GrantMetadata, GroupTrait, Resource, RoleTrait,
    SkipEntitlementsAndGrants, Trait, UserStatusValue, UserTrait,
};
use baton_c1z::reader::C1zFile;
use common::*;
use elastic_fake::Api;
use std::collections::{BTreeMap, BTreeSet};

const ORGS: [&str; 3] = ["4125567842", "5093318764", "6620014477"];
const ACCOUNTS: [&str; 6] = [
    "2894412301",
    "3310087745",
    "3978120456",
    "4410287733",
    "5120934412",
    "6639001122",
];
const API_ROLES: [&str; 7] = [
    "editor",
    "kibana_admin",
    "logs_reader",
    "metrics_writer",
    "sre_admin",
    "superuser",
    "viewer",
];
const REFERENCED_ROLES: [&str; 10] = [
    "_user_carla.cloud",
    "apm_system",
    "beats_system",
    "ghost_mapping_role",
    "ghost_role",
    "kibana_system",
    "logstash_system",
    "qa_tester",
    "remote_monitoring_agent",
    "remote_monitoring_collector",
];
/// Deployments: (id, organization).
const DEPLOYMENTS: [(&str, &str); 4] = [
    ("0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d", "4125567842"),
    ("3f6b1d8e0c2a4f7b9d1e3c5a7f9b2d4e", "4125567842"),
    ("7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b", "5093318764"),
    ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "5093318764"),
];
/// External-realm users known from their user profile (not native users).
const PROFILE_USERS: [&str; 10] = [
    "2894412301",
    "3310087745",
    "carla.cloud",
    "contractor-jane",
    "es-admin",
    "lee.left",
    "mallory",
    "qa-bot",
    "sam.saml",
    "svc-etl-01",
];
const ORG_ROLES: [&str; 5] = [
    "organization-admin",
    "billing-admin",
    "deployment-admin",
    "deployment-editor",
    "deployment-viewer",
];
/// The demo tenant's Serverless projects: (id, type, organization).
const PROJECTS: [(&str, &str, &str); 2] = [
    ("7d2f0a9c4b1e4f8a9c3d5e7f1a2b4c6d", "security", "4125567842"),
    (
        "c866244b611442d585e23a0cc8c9434c",
        "elasticsearch",
        "5093318764",
    ),
];
/// The predefined project roles, by project type.
fn project_roles(project_type: &str) -> Vec<String> {
    let bare: &[&str] = match project_type {
        "elasticsearch" => &["admin", "developer", "viewer"],
        "observability" => &["admin", "editor", "viewer"],
        _ => &[
            "admin",
            "editor",
            "viewer",
            "t1-analyst",
            "t2-analyst",
            "t3-analyst",
            "threat-intel-analyst",
            "rule-author",
            "soc-manager",
            "endpoint-operations-analyst",
            "platform-engineer",
            "detections-admin",
            "endpoint-policy-manager",
        ],
    };
    bare.iter().map(|r| format!("{project_type}-{r}")).collect()
}
const NATIVE_USERS: [&str; 13] = [
    "alice",
    "apm_system",
    "beats_system",
    "bob",
    "carol",
    "elastic",
    "jdoe",
    "kibana_system",
    "logstash_system",
    "old.contractor",
    "ops:oncall",
    "remote_monitoring_user",
    "svc ingest",
];
const EXTERNAL_USERS: [&str; 9] = [
    "dave",
    "erin",
    "es-system",
    "esadmin",
    "esadmin01",
    "esadmin02",
    "former.admin",
    "frank",
    "j?smith",
];
/// Users known only as the owners of API keys (a file-realm user and an OIDC user).
const KEY_OWNERS: [&str; 2] = ["ci.robot", "governance-svc"];
/// Pending invitations (`user` resources).
const INVITED: [&str; 3] = [
    "invitation:auditor@partner.example",
    "invitation:intern@acme.example",
    "invitation:new.hire@acme.example",
];
/// Service accounts with tokens.
const SERVICE_ACCOUNTS: [&str; 2] = ["elastic/fleet-server", "elastic/kibana"];
/// Active API keys (not invalidated, not expired) and their owners' principal ids.
const API_KEYS: [(&str, &str); 8] = [
    ("AdaSs0Bd0cW1mF3pQ7dE", "deploymentUser:2894412301"),
    ("CcsRp1Bd0cW1mF3vB4hJ", "deploymentUser:alice"),
    ("Ci9rObBd0cW1mF3zX1fG", "deploymentUser:ci.robot"),
    (
        "FlEetAg1d0cW1mF3nM5k",
        "serviceAccount:elastic/fleet-server",
    ),
    ("Qm4tYhRBd0cW1mF3sD2b", "deploymentUser:external:jdoe"),
    ("S4mDsh8Bd0cW1mF3kL9c", "deploymentUser:sam.saml"),
    ("demo-id", "deploymentUser:governance-svc"),
    ("k7Rz2pQBd0cW1mF3x9aA", "deploymentUser:jdoe"),
];
/// External-realm users whose username is also a native user's, named by a mapping (`external:<name>`).
const EXTERNAL_TWINS: [&str; 1] = ["external:jdoe"];
const MAPPINGS: [&str; 17] = [
    "admins-any",
    "contractor-wildcard",
    "disabled-mapping",
    "esadmins-list",
    "except-user",
    "ghost-role-mapping",
    "jdoe-direct",
    "ldap-groups",
    "ldap-subtree",
    "mixed-values",
    "per-user-role",
    "saml-only-admin",
    "saml-realm",
    "sso-read-only-operator-mapping",
    "svc-regex",
    "terminated-complex",
    "typed-values",
];

fn expected_resources() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(ORGS.iter().map(|id| format!("organization:{id}")));
    out.extend(DEPLOYMENTS.iter().map(|(id, _)| format!("deployment:{id}")));
    out.extend(ACCOUNTS.iter().map(|id| format!("user:{id}")));
    out.extend(INVITED.iter().map(|id| format!("user:{id}")));
    out.extend(
        SERVICE_ACCOUNTS
            .iter()
            .map(|id| format!("serviceAccount:{id}")),
    );
    out.extend(API_KEYS.iter().map(|(id, _)| format!("apiKey:{id}")));
    out.extend(PROJECTS.iter().map(|(id, _, _)| format!("project:{id}")));
    out.extend(
        API_ROLES
            .iter()
            .chain(REFERENCED_ROLES.iter())
            .map(|id| format!("role:{id}")),
    );
    out.extend(
        NATIVE_USERS
            .iter()
            .chain(EXTERNAL_USERS.iter())
            .chain(EXTERNAL_TWINS.iter())
            .chain(PROFILE_USERS.iter())
            .chain(KEY_OWNERS.iter())
            .map(|id| format!("deploymentUser:{id}")),
    );
    out.extend(MAPPINGS.iter().map(|id| format!("roleMapping:{id}")));
    out.extend(GROUPS.iter().map(|id| format!("group:{id}")));
    out
}

/// The groups that alone make their members match a mapping, by normalized DN: `admins-any` and
/// `ldap-groups` name `cn=admins,dc=acme,dc=com` in two spellings, which are one group.
const GROUPS: [&str; 2] = [
    "cn=admins,dc=acme,dc=com",
    "cn=ops,ou=groups,dc=acme,dc=com",
];

/// (mapping, group) of every group grant.
const GROUP_MEMBERS: [(&str, &str); 3] = [
    ("admins-any", "cn=admins,dc=acme,dc=com"),
    ("ldap-groups", "cn=admins,dc=acme,dc=com"),
    ("ldap-groups", "cn=ops,ou=groups,dc=acme,dc=com"),
];

fn expected_entitlements() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(ORGS.iter().map(|id| format!("organization:{id}:member")));
    for org in ORGS {
        out.extend(ORG_ROLES.iter().map(|r| format!("organization:{org}:{r}")));
        for t in ["elasticsearch", "observability", "security"] {
            out.extend(
                project_roles(t)
                    .iter()
                    .map(|r| format!("organization:{org}:{r}")),
            );
        }
    }
    for (p, t, _) in PROJECTS {
        out.extend(project_roles(t).iter().map(|r| format!("project:{p}:{r}")));
    }
    for (d, _) in DEPLOYMENTS {
        out.extend(["admin", "editor", "viewer"].map(|k| format!("deployment:{d}:{k}")));
    }
    out.extend(
        API_ROLES
            .iter()
            .chain(REFERENCED_ROLES.iter())
            .map(|id| format!("role:{id}:member")),
    );
    out.extend(MAPPINGS.iter().map(|id| format!("roleMapping:{id}:member")));
    out.extend(API_KEYS.iter().map(|(id, _)| format!("apiKey:{id}:owner")));
    out
}

fn expected_grants() -> BTreeSet<String> {
    let org_members = [
        ("4125567842", &ACCOUNTS[..5]),
        (
            "5093318764",
            &["2894412301", "3310087745", "6639001122"][..],
        ),
    ];
    let role_holders = [
        ("superuser", "elastic"),
        ("kibana_system", "kibana_system"),
        ("logstash_system", "logstash_system"),
        ("beats_system", "beats_system"),
        ("apm_system", "apm_system"),
        ("remote_monitoring_collector", "remote_monitoring_user"),
        ("remote_monitoring_agent", "remote_monitoring_user"),
        ("viewer", "jdoe"),
        ("logs_reader", "jdoe"),
        ("viewer", "old.contractor"),
        ("metrics_writer", "svc ingest"),
        ("editor", "ops:oncall"),
        ("sre_admin", "alice"),
        ("ghost_role", "alice"),
        ("viewer", "bob"),
        // Roles recorded in user profiles.
        ("superuser", "2894412301"),
        ("viewer", "3310087745"),
        ("_user_carla.cloud", "carla.cloud"),
        ("viewer", "contractor-jane"),
        ("viewer", "es-admin"),
        ("viewer", "lee.left"),
        ("viewer", "mallory"),
        ("logs_reader", "qa-bot"),
        ("viewer", "qa-bot"),
        ("qa_tester", "qa-bot"),
        ("editor", "sam.saml"),
        ("viewer", "sam.saml"),
        ("metrics_writer", "svc-etl-01"),
    ];
    let mapping_members = [
        // Mappings never apply to the native jdoe: the member is the external-realm user `jdoe`.
        ("jdoe-direct", "external:jdoe"),
        ("esadmins-list", "esadmin01"),
        ("esadmins-list", "esadmin02"),
        ("admins-any", "esadmin"),
        ("terminated-complex", "es-admin"),
        ("terminated-complex", "es-system"),
        ("mixed-values", "dave"),
        ("mixed-values", "j?smith"),
        ("ghost-role-mapping", "erin"),
        ("sso-read-only-operator-mapping", "frank"),
        // Evaluated: profile users whose known username and realm make the rules true.
        ("contractor-wildcard", "contractor-jane"),
        ("except-user", "lee.left"),
        ("except-user", "sam.saml"),
        ("mixed-values", "qa-bot"),
        ("per-user-role", "carla.cloud"),
        ("saml-realm", "lee.left"),
        ("saml-realm", "mallory"),
        ("saml-realm", "sam.saml"),
        ("svc-regex", "svc-etl-01"),
    ];
    let org_roles = [
        ("4125567842", "organization-admin", "2894412301"),
        ("4125567842", "billing-admin", "3978120456"),
        ("4125567842", "deployment-viewer", "3310087745"),
        // Pending invitations, marked as such.
        (
            "4125567842",
            "billing-admin",
            "invitation:auditor@partner.example",
        ),
        (
            "4125567842",
            "deployment-viewer",
            "invitation:new.hire@acme.example",
        ),
        ("5093318764", "organization-admin", "6639001122"),
        ("5093318764", "billing-admin", "6639001122"),
        ("5093318764", "deployment-admin", "2894412301"),
        ("5093318764", "deployment-editor", "6639001122"),
        ("5093318764", "elasticsearch-admin", "6639001122"),
    ];
    let deployment_direct = [
        (
            "0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d",
            "editor",
            "invitation:new.hire@acme.example",
        ),
        ("0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d", "editor", "3310087745"),
        ("7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b", "viewer", "3310087745"),
        ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "viewer", "3310087745"),
    ];
    let mapping_roles = [
        ("admins-any", "kibana_admin"),
        ("admins-any", "superuser"),
        ("contractor-wildcard", "viewer"),
        ("esadmins-list", "superuser"),
        ("except-user", "editor"),
        ("ghost-role-mapping", "ghost_mapping_role"),
        ("jdoe-direct", "logs_reader"),
        ("ldap-groups", "viewer"),
        ("ldap-subtree", "editor"),
        ("mixed-values", "logs_reader"),
        ("mixed-values", "viewer"),
        ("saml-only-admin", "kibana_admin"),
        ("saml-realm", "viewer"),
        ("sso-read-only-operator-mapping", "viewer"),
        ("svc-regex", "metrics_writer"),
        ("terminated-complex", "viewer"),
        ("typed-values", "viewer"),
    ];
    let mut out = BTreeSet::new();
    out.extend(
        org_roles
            .iter()
            .map(|(o, r, u)| format!("organization:{o}:{r}:user:{u}")),
    );
    out.extend(
        deployment_direct
            .iter()
            .map(|(d, k, u)| format!("deployment:{d}:{k}:user:{u}")),
    );
    for (d, o) in DEPLOYMENTS {
        out.extend(
            ["admin", "editor", "viewer"].map(|k| format!("deployment:{d}:{k}:organization:{o}")),
        );
    }
    for (p, t, o) in PROJECTS {
        out.extend(
            project_roles(t)
                .iter()
                .map(|r| format!("project:{p}:{r}:organization:{o}")),
        );
    }
    out.extend(
        mapping_roles
            .iter()
            .map(|(m, r)| format!("role:{r}:member:roleMapping:{m}")),
    );
    out.extend(expected_expanded().into_keys());
    for (org, members) in org_members {
        out.extend(
            members
                .iter()
                .map(|u| format!("organization:{org}:member:user:{u}")),
        );
    }
    out.extend(
        role_holders
            .iter()
            .map(|(r, u)| format!("role:{r}:member:deploymentUser:{u}")),
    );
    out.extend(
        mapping_members
            .iter()
            .map(|(m, u)| format!("roleMapping:{m}:member:deploymentUser:{u}")),
    );
    out.extend(
        GROUP_MEMBERS
            .iter()
            .map(|(m, g)| format!("roleMapping:{m}:member:group:{g}")),
    );
    out.extend(
        API_KEYS
            .iter()
            .map(|(id, owner)| format!("apiKey:{id}:owner:{owner}")),
    );
    out
}

/// Every grant with `sources`, with its sources (entitlement id, `is_direct`): grants created by
/// expansion have only their source; direct grants that expansion reached also name themselves.
fn expected_expanded() -> BTreeMap<String, Vec<(String, bool)>> {
    let corp = "4125567842";
    let labs = "5093318764";
    let mut out = BTreeMap::new();
    let mut add = |grant: String, sources: &[(&str, bool)]| {
        out.insert(
            grant,
            sources.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect(),
        );
    };
    // Organization-wide roles reach every deployment of the organization.
    for (d, o) in DEPLOYMENTS {
        let via = |role: &str| format!("organization:{o}:{role}");
        if o == corp {
            add(
                format!("deployment:{d}:admin:user:2894412301"),
                &[(&via("organization-admin"), false)],
            );
            add(
                format!("deployment:{d}:viewer:user:3310087745"),
                &[(&via("deployment-viewer"), false)],
            );
            add(
                format!("deployment:{d}:viewer:user:invitation:new.hire@acme.example"),
                &[(&via("deployment-viewer"), false)],
            );
        } else {
            assert_eq!(o, labs);
            add(
                format!("deployment:{d}:admin:user:2894412301"),
                &[(&via("deployment-admin"), false)],
            );
            add(
                format!("deployment:{d}:admin:user:6639001122"),
                &[(&via("organization-admin"), false)],
            );
            add(
                format!("deployment:{d}:editor:user:6639001122"),
                &[(&via("deployment-editor"), false)],
            );
        }
    }
    // Margaret's elasticsearch-admin for all projects reaches labs-search.
    add(
        "project:c866244b611442d585e23a0cc8c9434c:elasticsearch-admin:user:6639001122".into(),
        &[("organization:5093318764:elasticsearch-admin", false)],
    );
    // Role mappings give their roles to their members.
    for (role, user, mapping) in [
        ("kibana_admin", "esadmin", "admins-any"),
        ("superuser", "esadmin", "admins-any"),
        ("superuser", "esadmin01", "esadmins-list"),
        ("superuser", "esadmin02", "esadmins-list"),
        ("editor", "lee.left", "except-user"),
        ("ghost_mapping_role", "erin", "ghost-role-mapping"),
        ("logs_reader", "dave", "mixed-values"),
        ("logs_reader", "j?smith", "mixed-values"),
        ("viewer", "dave", "mixed-values"),
        ("viewer", "j?smith", "mixed-values"),
        ("viewer", "frank", "sso-read-only-operator-mapping"),
        ("viewer", "es-system", "terminated-complex"),
        ("logs_reader", "external:jdoe", "jdoe-direct"),
    ] {
        add(
            format!("role:{role}:member:deploymentUser:{user}"),
            &[(&format!("roleMapping:{mapping}:member"), false)],
        );
    }
    // ... and to the groups that make their members match.
    for (role, group, mapping) in [
        ("kibana_admin", GROUPS[0], "admins-any"),
        ("superuser", GROUPS[0], "admins-any"),
        ("viewer", GROUPS[0], "ldap-groups"),
        ("viewer", GROUPS[1], "ldap-groups"),
    ] {
        add(
            format!("role:{role}:member:group:{group}"),
            &[(&format!("roleMapping:{mapping}:member"), false)],
        );
    }
    // Direct grants (native roles, profile roles) that a mapping also gives.
    for (role, user, mapping) in [
        ("editor", "sam.saml", "except-user"),
        ("logs_reader", "qa-bot", "mixed-values"),
        ("metrics_writer", "svc-etl-01", "svc-regex"),
        ("viewer", "contractor-jane", "contractor-wildcard"),
        ("viewer", "es-admin", "terminated-complex"),
        ("viewer", "lee.left", "saml-realm"),
        ("viewer", "mallory", "saml-realm"),
        ("viewer", "qa-bot", "mixed-values"),
        ("viewer", "sam.saml", "saml-realm"),
    ] {
        add(
            format!("role:{role}:member:deploymentUser:{user}"),
            &[
                (&format!("role:{role}:member"), true),
                (&format!("roleMapping:{mapping}:member"), false),
            ],
        );
    }
    out
}

struct Synced {
    resources: BTreeMap<String, Resource>,
    entitlements: BTreeSet<String>,
    grants: BTreeSet<String>,
    type_ids: Vec<String>,
}

fn read_default_sync(file: &C1zFile) -> Synced {
    let sync = file
        .default_sync()
        .expect("query")
        .expect("a finished sync");
    let type_ids = file
        .resource_types(&sync.sync_id)
        .expect("types")
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    let resources = file
        .resources(&sync.sync_id)
        .expect("resources")
        .into_iter()
        .map(|r| (r.external_id, r.data))
        .collect();
    let entitlements = file
        .entitlements(&sync.sync_id)
        .expect("entitlements")
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    let grants = file
        .grants(&sync.sync_id)
        .expect("grants")
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    Synced {
        resources,
        entitlements,
        grants,
        type_ids,
    }
}

fn user_trait(r: &Resource) -> UserTrait {
    find_annotation::<UserTrait>(&r.annotations)
        .expect("decodes")
        .expect("has a UserTrait")
}

#[test]
fn demo_tenant_sync_writes_exactly_the_expected_records() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));

    let bytes = std::fs::read(&path).expect("artifact");
    assert_eq!(&bytes[..5], b"C1ZF\0");
    assert_eq!(
        &bytes[5..9],
        [0x28, 0xB5, 0x2F, 0xFD],
        "a zstd frame follows"
    );

    let file = open(&path);
    let runs = file.sync_runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_type, "full");
    assert!(runs[0].ended_at.is_some());
    assert_eq!(runs[0].sync_id.len(), 27);

    let synced = read_default_sync(&file);
    assert_eq!(
        synced.type_ids,
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
        ]
    );
    let resource_ids: BTreeSet<String> = synced.resources.keys().cloned().collect();
    assert_eq!(resource_ids, expected_resources());
    assert_eq!(synced.entitlements, expected_entitlements());
    assert_eq!(synced.grants, expected_grants());
}

#[test]
fn a_full_sync_makes_one_request_per_list_with_the_right_key_for_each_api() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let requests = fake.requests();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        lines,
        [
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
            // The version first (the unversioned fake has no `GET /`: 404, and the sync goes on).
            "GET /",
            "GET /_security/_authenticate",
            "GET /_security/user",
            "GET /_security/role",
            "GET /_security/role_mapping",
            "POST /_security/profile/_suggest",
            "POST /_security/_query/api_key?with_limited_by=true",
            "GET /_security/service",
            // The service account API has no request for every account's tokens: one per account.
            "GET /_security/service/elastic/enterprise-search-server/credential",
            "GET /_security/service/elastic/fleet-server/credential",
            "GET /_security/service/elastic/kibana/credential",
        ]
    );
    assert_eq!(requests[16].body, r#"{"size":10000}"#);
    assert_eq!(
        requests[17].body,
        r#"{"size":1000,"sort":[{"creation":"asc"},{"name":"asc"},"_doc"]}"#
    );
    assert!(requests.iter().all(|r| r.authorized), "{requests:?}");
    assert!(requests[..11].iter().all(|r| matches!(r.api, Api::Cloud)));
    assert!(requests[11..]
        .iter()
        .all(|r| matches!(r.api, Api::Elasticsearch)));
}

#[test]
fn resources_carry_traits_names_parents_and_profiles() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync");

    let types: BTreeMap<String, _> = file
        .resource_types(&sync.sync_id)
        .expect("types")
        .into_iter()
        .map(|r| (r.external_id, r.data))
        .collect();
    assert_eq!(types["organization"].traits, Vec::<i32>::new());
    assert_eq!(types["user"].traits, [Trait::User as i32]);
    assert_eq!(types["role"].display_name, "Deployment Role");
    assert_eq!(types["deploymentUser"].traits, [Trait::User as i32]);
    assert!(has_annotation::<SkipEntitlementsAndGrants>(
        &types["user"].annotations
    ));
    assert!(has_annotation::<SkipEntitlementsAndGrants>(
        &types["deploymentUser"].annotations
    ));
    assert!(types["roleMapping"].traits.is_empty());

    let rows: BTreeMap<String, _> = file
        .resources(&sync.sync_id)
        .expect("resources")
        .into_iter()
        .map(|r| (r.external_id.clone(), r))
        .collect();

    let org = &rows["organization:4125567842"];
    assert_eq!(org.data.display_name, "Acme Corp");
    let child: ChildResourceType = find_annotation(&org.data.annotations)
        .expect("decodes")
        .expect("child type");
    assert_eq!(child.resource_type_id, "user");
    assert_eq!(org.parent_resource_id, None);

    // Ada is in both organizations: her parent is the first by id.
    let ada = &rows["user:2894412301"];
    assert_eq!(ada.parent_resource_type_id.as_deref(), Some("organization"));
    assert_eq!(ada.parent_resource_id.as_deref(), Some("4125567842"));
    assert_eq!(ada.data.display_name, "Ada Lovelace");
    let t = user_trait(&ada.data);
    assert_eq!(t.login, "ada@acme.example");
    assert_eq!(t.emails[0].address, "ada@acme.example");
    assert!(t.emails[0].is_primary);
    let profile = t.profile.expect("profile");
    assert_eq!(
        profile_string(&profile, "member_since"),
        Some("2023-04-11T09:12:44Z")
    );

    // Display name falls back to the email, then to the user id.
    assert_eq!(
        rows["user:3978120456"].data.display_name,
        "grace.h@acme.example"
    );
    assert_eq!(rows["user:4410287733"].data.display_name, "4410287733");
    assert_eq!(
        user_trait(&rows["user:4410287733"].data).login,
        "4410287733"
    );

    let elastic = user_trait(&rows["deploymentUser:elastic"].data);
    assert_eq!(elastic.account_type, AccountType::System as i32);
    let old = &rows["deploymentUser:old.contractor"].data;
    assert_eq!(old.display_name, "Old Contractor");
    let old = user_trait(old);
    assert_eq!(
        old.status.expect("status").status,
        UserStatusValue::Disabled as i32
    );
    assert_eq!(old.login, "old.contractor");
    assert_eq!(old.account_type, AccountType::Human as i32);
    assert_eq!(rows["deploymentUser:carol"].data.display_name, "carol");
    let dave = user_trait(&rows["deploymentUser:dave"].data);
    assert_eq!(
        dave.status.expect("status").status,
        UserStatusValue::Unspecified as i32
    );
    assert_eq!(
        profile_string(&dave.profile.expect("profile"), "realm"),
        Some("external")
    );

    let role = |id: &str| -> prost_types::Struct {
        find_annotation::<RoleTrait>(&rows[id].data.annotations)
            .expect("decodes")
            .expect("role trait")
            .profile
            .expect("profile")
    };
    assert_eq!(
        profile_bool(&role("role:superuser"), "reserved"),
        Some(true)
    );
    assert_eq!(
        profile_bool(&role("role:logs_reader"), "reserved"),
        Some(false)
    );
    assert_eq!(
        profile_bool(&role("role:ghost_role"), "defined"),
        Some(false)
    );
    assert_eq!(profile_bool(&role("role:viewer"), "defined"), Some(true));

    let mapping = role("roleMapping:esadmins-list");
    assert_eq!(profile_bool(&mapping, "enabled"), Some(true));
    assert_eq!(
        profile_string(&mapping, "rules"),
        Some(r#"{"field":{"username":["esadmin01","esadmin02"]}}"#)
    );
    let templated = role("roleMapping:per-user-role");
    assert!(profile_string(&templated, "role_templates").is_some());
    assert_eq!(
        profile_bool(&role("roleMapping:disabled-mapping"), "enabled"),
        Some(false)
    );
}

#[test]
fn entitlements_and_grants_reference_real_objects() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync");
    let resources: BTreeSet<String> = file
        .resources(&sync.sync_id)
        .expect("resources")
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    let entitlements = file.entitlements(&sync.sync_id).expect("entitlements");
    let by_id: BTreeMap<&str, _> = entitlements
        .iter()
        .map(|e| (e.external_id.as_str(), &e.data))
        .collect();
    let org = by_id["organization:4125567842:member"];
    assert_eq!(org.display_name, "Acme Corp Organization member");
    assert_eq!(org.slug, "member");
    assert_eq!(org.purpose, 1, "ASSIGNMENT");
    assert_eq!(org.grantable_to[0].id, "user");
    assert_eq!(
        by_id["role:viewer:member"].display_name,
        "viewer Role member"
    );
    assert_eq!(
        by_id["roleMapping:jdoe-direct:member"].display_name,
        "jdoe-direct Role Mapping member"
    );
    assert_eq!(
        by_id["roleMapping:jdoe-direct:member"].grantable_to[0].id,
        "deploymentUser"
    );
    for row in &entitlements {
        let rid = row
            .data
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .expect("resource id");
        assert_eq!(row.resource_type_id, rid.resource_type);
        assert_eq!(row.resource_id, rid.resource);
        assert!(resources.contains(&format!("{}:{}", rid.resource_type, rid.resource)));
    }
    for row in file.grants(&sync.sync_id).expect("grants") {
        let g = &row.data;
        let e = g.entitlement.as_ref().expect("entitlement");
        let p = g
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .expect("principal");
        assert_eq!(row.entitlement_id, e.id);
        assert!(by_id.contains_key(e.id.as_str()), "{}", e.id);
        assert_eq!(row.principal_resource_type_id, p.resource_type);
        assert_eq!(row.principal_resource_id, p.resource);
        assert!(
            resources.contains(&format!("{}:{}", p.resource_type, p.resource)),
            "principal of {} is not a resource",
            row.external_id
        );
        assert_eq!(
            row.external_id,
            format!("{}:{}:{}", e.id, p.resource_type, p.resource)
        );
        assert!(row.expansion.is_none());
    }
}

#[test]
fn without_a_deployment_all_ten_types_are_still_written() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let (cloud_key, _) = demo_keys();
    run_ok(&[
        "--cloud-url".into(),
        fake.url(),
        "--api-key".into(),
        cloud_key,
        "-f".into(),
        path.display().to_string(),
    ]);
    // Organizations, members and invitations of each organization, deployments, 3 project lists.
    assert_eq!(fake.request_count(), 1 + 3 + 3 + 1 + 3);
    let synced = read_default_sync(&open(&path));
    assert_eq!(synced.type_ids.len(), 10);
    // Organizations, deployments, accounts, pending invitations and projects.
    assert_eq!(synced.resources.len(), 3 + 4 + 6 + 3 + 2);
    // Per organization: member, 5 Cloud roles, 19 project roles; 3 per deployment; 13 + 3 on projects.
    assert_eq!(synced.entitlements.len(), 3 * 25 + 4 * 3 + 13 + 3);
    // 8 memberships, 8 organization roles, 3 direct and 12 organization deployment grants, 16
    // organization project grants, 11 expanded; for invitations 2 organization roles, 1 direct
    // deployment grant and 2 expanded.
    assert_eq!(synced.grants.len(), 8 + 8 + 3 + 12 + 16 + 11 + 2 + 1 + 2);
}

#[test]
fn organization_id_limits_the_sync_to_one_organization() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(["--organization-id".into(), "5093318764".into()]);
    run_ok(&args);
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths[..2],
        [
            "/api/v1/organizations/5093318764",
            "/api/v1/organizations/5093318764/members"
        ]
    );
    let synced = read_default_sync(&open(&path));
    let orgs: Vec<&String> = synced
        .resources
        .keys()
        .filter(|k| k.starts_with("organization:"))
        .collect();
    assert_eq!(orgs, ["organization:5093318764"]);
    let users = synced
        .resources
        .keys()
        .filter(|k| k.starts_with("user:"))
        .count();
    // Three members and one pending invitation.
    assert_eq!(users, 3 + 1);
}

/// The deployments of the default sync of `path`, by id, with their parent organization; fails if a
/// grant's entitlement, resource or principal, or a grant source, is not in the same sync.
fn deployments_of_a_consistent_sync(path: &std::path::Path) -> BTreeMap<String, String> {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("sync").sync_id;
    let resources: BTreeMap<(String, String), Resource> = file
        .resources(&sync)
        .expect("resources")
        .into_iter()
        .map(|r| {
            let id = r.data.id.clone().expect("id");
            ((id.resource_type, id.resource), r.data)
        })
        .collect();
    let entitlements: BTreeSet<String> = file
        .entitlements(&sync)
        .expect("entitlements")
        .into_iter()
        .map(|e| e.external_id)
        .collect();
    for g in file.grants(&sync).expect("grants") {
        let id = &g.external_id;
        assert!(
            entitlements.contains(&g.entitlement_id),
            "{id}: entitlement"
        );
        let resource = (g.resource_type_id.clone(), g.resource_id.clone());
        assert!(resources.contains_key(&resource), "{id}: resource");
        let principal = (g.principal_resource_type_id, g.principal_resource_id);
        assert!(resources.contains_key(&principal), "{id}: principal");
        for source in g.data.sources.iter().flat_map(|s| &s.sources) {
            assert!(entitlements.contains(&source.key), "{id}: source");
        }
    }
    resources
        .iter()
        .filter(|((kind, _), _)| kind == "deployment")
        .map(|((_, id), r)| {
            let parent = r.parent_resource_id.clone().expect("parent").resource;
            (id.clone(), parent)
        })
        .collect()
}

#[test]
fn one_organization_gets_only_its_own_deployments_and_a_consistent_file() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let full: BTreeMap<String, String> = DEPLOYMENTS
        .iter()
        .map(|(d, o)| ((*d).to_owned(), (*o).to_owned()))
        .collect();
    for with_deployment in [true, false] {
        let mut base = sync_args(&fake, &path);
        if !with_deployment {
            base.drain(4..8);
        }
        run_ok(&base);
        assert_eq!(deployments_of_a_consistent_sync(&path), full);
        for org in ORGS {
            let mut args = base.clone();
            args.extend(["--organization-id".into(), org.into()]);
            run_ok(&args);
            let synced = deployments_of_a_consistent_sync(&path);
            for (deployment, owner) in &synced {
                assert_eq!(owner, org, "{deployment}");
                assert_eq!(full[deployment], *owner, "{deployment} is another's");
            }
        }
    }
    // Named by an assignment of its members: Acme Corp's prod-logs; Acme Labs' two.
    let mut args = sync_args(&fake, &path);
    args.extend(["--organization-id".into(), ORGS[1].into()]);
    run_ok(&args);
    let labs: Vec<String> = deployments_of_a_consistent_sync(&path)
        .into_keys()
        .collect();
    assert_eq!(labs, [DEPLOYMENTS[2].0, DEPLOYMENTS[3].0]);
    // A key that sees only the synced organization: every deployment is that organization's.
    fake.update_tenant(|t| {
        t.organizations.retain(|o| o["id"] == ORGS[2]);
    });
    let mut args = sync_args(&fake, &path);
    args.extend(["--organization-id".into(), ORGS[2].into()]);
    run_ok(&args);
    let archive = deployments_of_a_consistent_sync(&path);
    assert_eq!(archive.len(), 4);
    assert!(archive.values().all(|o| o == ORGS[2]), "{archive:?}");
}

#[test]
fn an_unknown_organization_id_fails_with_a_clear_message() {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(["--organization-id".into(), "999".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("organization 999"), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert!(dir_entries(dir.path()).is_empty(), "nothing written");
}

#[test]
fn repeated_syncs_keep_the_newest_two() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let args = sync_args(&fake, &path);
    let mut ids = Vec::new();
    for _ in 0..3 {
        run_ok(&args);
        let file = open(&path);
        ids.push(file.default_sync().expect("q").expect("sync").sync_id);
    }
    let file = open(&path);
    let kept: Vec<String> = file
        .sync_runs()
        .expect("runs")
        .into_iter()
        .map(|r| r.sync_id)
        .collect();
    assert_eq!(kept, ids[1..]);
    let stale: i64 = file
        .connection()
        .query_row(
            "select count(*) from v1_grants where sync_id = ?1",
            [&ids[0]],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stale, 0, "rows of the dropped sync are gone");
    for id in &ids[1..] {
        assert_eq!(
            file.grants(id).expect("grants").len(),
            expected_grants().len()
        );
    }
}

#[test]
fn keep_sync_count_comes_from_the_environment() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let args = sync_args(&fake, &path);
    for _ in 0..2 {
        let out = output(binary().args(&args).env("BATON_KEEP_SYNC_COUNT", "1"));
        assert!(out.status.success());
    }
    assert_eq!(open(&path).sync_runs().expect("runs").len(), 1);
}

fn assert_failure_leaves_file_untouched(extra: &[&str], expected: &[&str]) {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    let args = sync_args(&fake, &path);
    run_ok(&args);
    let before = std::fs::read(&path).expect("read");
    let entries = dir_entries(dir.path());

    let mut bad = args.clone();
    for pair in extra.chunks(2) {
        let pos = bad.iter().position(|a| a == pair[0]).expect("flag present");
        bad[pos + 1] = pair[1].to_owned();
    }
    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in expected {
        assert!(stderr.contains(needle), "missing {needle:?} in {stderr}");
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(r#""level":"error""#))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().last(),
        Some(errors[0]),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "file unchanged"
    );
    assert_eq!(dir_entries(dir.path()), entries, "no temp files left");
}

#[test]
fn a_rejected_cloud_key_fails_and_keeps_the_previous_file() {
    assert_failure_leaves_file_untouched(
        &["--api-key", "wrong-cloud-key"],
        &["401", "Elastic Cloud API", "--api-key"],
    );
}

#[test]
fn a_rejected_deployment_key_fails_and_keeps_the_previous_file() {
    assert_failure_leaves_file_untouched(
        &["--deployment-api-key", "wrong-deployment-key"],
        &[
            "401",
            "Elasticsearch API",
            "/_security/_authenticate",
            "--deployment-api-key",
        ],
    );
}

#[test]
fn an_unreachable_deployment_fails_and_keeps_the_previous_file() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    assert_failure_leaves_file_untouched(
        &["--deployment-endpoint", &endpoint],
        &["cannot connect to 127.0.0.1"],
    );
}

#[test]
fn an_existing_file_that_is_not_a_c1z_is_an_error_and_left_alone() {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    std::fs::write(&path, b"not a c1z file\n").expect("write");
    let out = run(&sync_args(&fake, &path));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a c1z"));
    assert_eq!(std::fs::read(&path).expect("read"), b"not a c1z file\n");
    assert_eq!(dir_entries(dir.path()), set(["sync.c1z"]));
}

#[test]
fn an_existing_v3_file_is_named_as_the_newer_format_and_left_alone() {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    let bytes = b"C1Z3\0\x04\0\0\0\x0a\x02v3".to_vec();
    std::fs::write(&path, &bytes).expect("write");
    let out = run(&sync_args(&fake, &path));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer v3 c1z format"), "{stderr}");
    assert!(stderr.contains("`baton` CLI and baton-sdk"), "{stderr}");
    assert!(!stderr.contains("not a c1z"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
    assert_eq!(dir_entries(dir.path()), set(["sync.c1z"]));
}

#[test]
fn usage_errors_exit_with_2_and_one_line() {
    let (_dir, path) = temp_target();
    let file = path.display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["-f", &file], "--api-key"),
        (
            &[
                "-f",
                &file,
                "--api-key",
                "k",
                "--deployment-endpoint",
                "https://es.example",
            ],
            "--deployment-api-key",
        ),
        (
            &[
                "-f",
                &file,
                "--api-key",
                "k",
                "--deployment-endpoint",
                "es.example:9243",
                "--deployment-api-key",
                "d",
            ],
            "--deployment-endpoint",
        ),
        (
            &[
                "-f",
                &file,
                "--api-key",
                "k",
                "--cloud-url",
                "http://cloud.example",
            ],
            "plain http",
        ),
    ];
    for (args, needle) in cases {
        let out = output(binary().args(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(!path.exists());
    }
}

#[test]
fn deployment_flags_from_the_environment_must_also_come_together() {
    let (_dir, path) = temp_target();
    let out = output(
        binary()
            .args(["-f", &path.display().to_string()])
            .env("BATON_API_KEY", "k")
            .env("BATON_DEPLOYMENT_ENDPOINT", "https://es.example"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--deployment-api-key"));
}

#[test]
fn keys_never_appear_in_output_even_at_debug_level() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let (cloud_key, deployment_key) = demo_keys();
    let mut args = sync_args(&fake, &path);
    args.extend(["--log-level".into(), "debug".into()]);
    let ok = run_ok(&args);
    let mut bad = args.clone();
    let pos = bad
        .iter()
        .position(|a| a == "--deployment-api-key")
        .expect("flag");
    bad[pos + 1] = "another-secret-key".into();
    let failed = run(&bad);
    for out in [ok, failed] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("HTTP request complete"),
            "debug logs are on: {all}"
        );
        for key in [
            cloud_key.as_str(),
            deployment_key.as_str(),
            "another-secret-key",
        ] {
            assert!(!all.contains(key), "key leaked: {all}");
        }
    }
    let db = open(&path);
    let conn = db.connection();
    for key in [cloud_key.as_str(), deployment_key.as_str()] {
        for table in [
            "v1_resource_types",
            "v1_resources",
            "v1_entitlements",
            "v1_grants",
        ] {
            let n: i64 = conn
                .query_row(
                    &format!("select count(*) from {table} where instr(data, ?1) > 0"),
                    [key.as_bytes()],
                    |r| r.get(0),
                )
                .expect("query");
            assert_eq!(n, 0, "{key} in {table}");
        }
    }
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let mut args = sync_args(&fake, &path);
    args.extend(["--log-format".into(), "json".into()]);
    let out = run_ok(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert!(v["level"].is_string() && v["msg"].is_string() && v["ts"].is_number());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("grants"), "summary on stdout: {stdout}");
}

#[test]
fn the_demo_command_needs_no_account() {
    let (_dir, path) = temp_target();
    let out = output(binary().args(["sync", "--demo", "-f", &path.display().to_string()]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("demo tenant"), "{stdout}");
    // 8 Cloud requests (invitations too) and 3 project lists; prod-logs (8.15): `GET /`,
    // `_authenticate`, a page of users and the built-in users, roles, mappings, profiles, API keys,
    // service accounts and their 3 token lists; staging-search the same without token lists.
    assert!(stdout.contains("32 API requests"), "{stdout}");
    let synced = read_default_sync(&open(&path));
    // The single-deployment demo's grants, now under prod-logs' label, and staging-search's own.
    let prod = "prod-logs.es.demo";
    let labelled: Vec<&String> = synced
        .grants
        .iter()
        .filter(|g| g.contains(&format!(":{prod}/")))
        .collect();
    assert!(!labelled.is_empty());
    for id in [
        format!("role:{prod}/viewer:member:deploymentUser:{prod}/sam.saml"),
        format!("role:{prod}/superuser:member:user:2894412301"),
        "role:staging-search.es.demo/search_admin:member:deploymentUser:staging-search.es.demo/search-admin".to_owned(),
    ] {
        assert!(synced.grants.contains(&id), "{id}: {:?}", synced.grants);
    }
    assert_eq!(synced.grants.len(), 188);
}

#[test]
fn version_and_help_go_to_stdout() {
    let out = output(binary().arg("-v"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("baton-elastic version {}", env!("CARGO_PKG_VERSION"))
    );
    let out = output(binary().arg("--help"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--deployment-endpoint"));
}

#[test]
fn malformed_json_names_the_endpoint_and_keeps_the_previous_file() {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    let args = sync_args(&fake, &path);
    run_ok(&args);
    let before = std::fs::read(&path).expect("read");
    fake.inject(elastic_fake::Fault::malformed("/_security/role_mapping"));
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("GET /_security/role_mapping"), "{stderr}");
    assert!(stderr.contains("malformed JSON"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
    assert_eq!(dir_entries(dir.path()), set(["sync.c1z"]));
}

#[test]
fn a_stalled_server_hits_the_request_timeout() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    fake.inject(elastic_fake::Fault::delay(
        "/_security/user",
        std::time::Duration::from_secs(5),
    ));
    let mut args = sync_args(&fake, &path);
    args.extend(["--http-timeout-seconds".into(), "1".into()]);
    args.extend(["--max-retries".into(), "1".into()]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(!path.exists());
}

#[cfg(unix)]
#[test]
fn an_interrupted_sync_keeps_the_previous_file_and_leaves_nothing_behind() {
    let fake = demo_fake();
    let (dir, path) = temp_target();
    let work = tempfile::tempdir().expect("work dir");
    let args = sync_args(&fake, &path);
    run_ok(&args);
    let before = std::fs::read(&path).expect("read");
    fake.inject(elastic_fake::Fault::delay(
        "/_security/role_mapping",
        std::time::Duration::from_secs(10),
    ));
    for signal in ["INT", "TERM"] {
        fake.clear_requests();
        let child = binary()
            .args(&args)
            .env("BATON_C1Z_TEMP_DIR", work.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // The role-mapping list is held for 10 s once it arrives: by then the writer has loaded the
        // previous file into its working copy, so there is something to clean up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/_security/role_mapping"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "SIG{signal}: no request"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let working = dir_entries(work.path());
        assert_eq!(working.len(), 1, "SIG{signal}: {working:?}");
        assert!(
            working.iter().all(|name| name.starts_with("baton-c1z-")),
            "SIG{signal}: {working:?}"
        );
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(130), "SIG{signal}");
        assert_eq!(std::fs::read(&path).expect("read"), before, "SIG{signal}");
        assert_eq!(dir_entries(dir.path()), set(["sync.c1z"]), "SIG{signal}");
        assert!(dir_entries(work.path()).is_empty(), "SIG{signal}");
    }
}

#[test]
fn a_generated_tenant_still_takes_one_request_per_list() {
    use elastic_fake::{FakeElastic, Tenant, TenantSpec};
    let spec = TenantSpec::named("small").expect("size");
    let tenant = Tenant::generate(&spec);
    let fake = FakeElastic::start(tenant.clone()).expect("fake");
    let (_dir, path) = temp_target();
    run_ok(&[
        "--cloud-url".into(),
        fake.url(),
        "--api-key".into(),
        tenant.cloud_api_key.clone(),
        "--deployment-endpoint".into(),
        fake.url(),
        "--deployment-api-key".into(),
        tenant.deployment_api_key.clone(),
        "-f".into(),
        path.display().to_string(),
    ]);
    // Organizations; members and invitations of each; deployments; 3 project lists; `GET /`,
    // authenticate, users, roles, role mappings, profiles, one page of API keys and the (empty) service
    // account list.
    assert_eq!(
        fake.request_count(),
        1 + 2 * spec.organizations + 1 + 3 + 1 + 5 + 2
    );
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync").sync_id;
    let resources = file.resources(&sync).expect("resources");
    let native = resources
        .iter()
        .filter(|r| r.resource_type_id == "deploymentUser")
        .count();
    assert!(native >= tenant.users.len());
    let role_grants = file
        .grants(&sync)
        .expect("grants")
        .iter()
        .filter(|g| {
            let direct = g
                .data
                .sources
                .as_ref()
                .is_none_or(|s| s.sources.iter().any(|e| e.key == g.entitlement_id));
            g.resource_type_id == "role"
                && tenant.users.contains_key(&g.principal_resource_id)
                && direct
        })
        .count();
    let expected: usize = tenant
        .users
        .values()
        .map(|u| {
            let roles: BTreeSet<&str> = u["roles"]
                .as_array()
                .expect("roles")
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            roles.len()
        })
        .sum();
    assert_eq!(role_grants, expected);
}

fn sources_of(g: &baton_c1z::proto::Grant) -> Vec<(String, bool)> {
    g.sources
        .iter()
        .flat_map(|s| s.sources.iter())
        .map(|e| (e.key.clone(), e.value.as_ref().is_some_and(|v| v.is_direct)))
        .collect()
}

#[test]
fn expanded_grants_carry_exactly_their_sources() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync").sync_id;
    let grants = file.grants(&sync).expect("grants");
    let with_sources: BTreeMap<String, Vec<(String, bool)>> = grants
        .iter()
        .filter(|g| g.data.sources.is_some())
        .map(|g| (g.external_id.clone(), sources_of(&g.data)))
        .collect();
    assert_eq!(with_sources, expected_expanded());
    let by_id: BTreeMap<&str, _> = grants
        .iter()
        .map(|g| (g.external_id.as_str(), &g.data))
        .collect();
    // A created grant carries the target entitlement slim (its id and its resource's id and name; the
    // rest is in the entitlement's own row) and the source grant's principal.
    let created = by_id["deployment:7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b:admin:user:6639001122"];
    let e = created.entitlement.as_ref().expect("entitlement");
    assert_eq!(e.id, "deployment:7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b:admin");
    assert_eq!((e.display_name.as_str(), e.slug.as_str()), ("", ""));
    let resource = e.resource.as_ref().expect("resource");
    assert_eq!(
        resource.id.as_ref().map(|id| id.resource.as_str()),
        Some("7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b")
    );
    assert!(!resource.display_name.is_empty());
    assert!(
        resource.annotations.is_empty(),
        "no trait profile in a grant"
    );
    let stored = file.entitlements(&sync).expect("entitlements");
    let full = stored
        .iter()
        .find(|row| row.data.id == e.id)
        .expect("the entitlement's own row");
    assert_eq!(full.data.display_name, "Admin");
    assert_eq!(full.data.slug, "admin");
    assert_eq!(
        created
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .map(|id| id.resource.as_str()),
        Some("6639001122")
    );
    assert!(created.annotations.is_empty());
    // The expandable grants stay, with their annotation in the blob and no expansion column.
    let via_org = grants
        .iter()
        .find(|g| {
            g.external_id
                == "deployment:0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d:admin:organization:4125567842"
        })
        .expect("expandable grant");
    assert!(via_org.expansion.is_none() && !via_org.needs_expansion);
    let expandable: baton_c1z::proto::GrantExpandable = find_annotation(&via_org.data.annotations)
        .expect("decodes")
        .expect("present");
    assert_eq!(
        expandable.entitlement_ids,
        [
            "organization:4125567842:deployment-admin",
            "organization:4125567842:organization-admin"
        ]
    );
    let mapping_grant = by_id["role:viewer:member:roleMapping:saml-realm"];
    let expandable: baton_c1z::proto::GrantExpandable = find_annotation(&mapping_grant.annotations)
        .expect("decodes")
        .expect("present");
    assert_eq!(
        expandable.entitlement_ids,
        ["roleMapping:saml-realm:member"]
    );
    // Mappings with role templates give no role grants, and say so.
    assert!(!grants
        .iter()
        .any(|g| g.principal_resource_id == "per-user-role" && g.resource_type_id == "role"));
    let templated = file
        .resources(&sync)
        .expect("resources")
        .into_iter()
        .find(|r| r.external_id == "roleMapping:per-user-role")
        .expect("mapping");
    let profile = find_annotation::<RoleTrait>(&templated.data.annotations)
        .expect("decodes")
        .expect("trait")
        .profile
        .expect("profile");
    assert_eq!(profile_bool(&profile, "expands_to_roles"), Some(false));
    assert!(profile_string(&profile, "role_expansion").is_some_and(|s| s.contains("templates")));
}

#[test]
fn conditional_mapping_grants_name_the_assumed_conditions() {
    use baton_c1z::proto::GrantMetadata;
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync").sync_id;
    let mut conditional = BTreeMap::new();
    for g in file.grants(&sync).expect("grants") {
        if let Some(m) = find_annotation::<GrantMetadata>(&g.data.annotations).expect("decodes") {
            let fields = m.metadata.expect("metadata");
            if fields.fields.contains_key("pending") {
                // A pending invitation's grant (see invitations_are_users_with_pending_grants).
                continue;
            }
            if !fields.fields.contains_key("assumed_conditions") {
                // The external-realm twin of a native user: marked, not conditional.
                assert_eq!(
                    g.external_id,
                    "roleMapping:jdoe-direct:member:deploymentUser:external:jdoe"
                );
                assert!(profile_string(&fields, "principal")
                    .is_some_and(|p| p.contains("do not apply to the native user")));
                continue;
            }
            let assumed: Vec<String> = match fields
                .fields
                .get("assumed_conditions")
                .and_then(|v| v.kind.clone())
            {
                Some(prost_types::value::Kind::ListValue(list)) => list
                    .values
                    .into_iter()
                    .filter_map(|v| match v.kind {
                        Some(prost_types::value::Kind::StringValue(s)) => Some(s),
                        _ => None,
                    })
                    .collect(),
                other => panic!("assumed_conditions: {other:?}"),
            };
            assert_eq!(
                profile_string(&fields, "role_mapping"),
                Some("terminated-complex")
            );
            conditional.insert(g.external_id, assumed);
        }
    }
    let assumed = vec![
        r#"{"except":{"field":{"metadata.terminated_date":null}}}"#.to_owned(),
        r#"{"field":{"groups":"cn=people,dc=acme,dc=com"}}"#.to_owned(),
    ];
    assert_eq!(
        conditional,
        BTreeMap::from([
            (
                "roleMapping:terminated-complex:member:deploymentUser:es-admin".to_owned(),
                assumed.clone()
            ),
            (
                "roleMapping:terminated-complex:member:deploymentUser:es-system".to_owned(),
                assumed
            ),
        ])
    );
}

#[test]
fn deployments_sit_under_their_organization_with_a_profile() {
    use baton_c1z::proto::AppTrait;
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync").sync_id;
    let rows: BTreeMap<String, _> = file
        .resources(&sync)
        .expect("resources")
        .into_iter()
        .map(|r| (r.external_id.clone(), r))
        .collect();
    let d = &rows["deployment:0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d"];
    assert_eq!(d.parent_resource_type_id.as_deref(), Some("organization"));
    assert_eq!(d.parent_resource_id.as_deref(), Some("4125567842"));
    assert_eq!(d.data.display_name, "prod-logs");
    let profile = find_annotation::<AppTrait>(&d.data.annotations)
        .expect("decodes")
        .expect("app trait")
        .profile
        .expect("profile");
    assert_eq!(profile_string(&profile, "region"), Some("gcp-us-central1"));
    assert_eq!(
        profile_string(&profile, "elasticsearch_resource_id"),
        Some("5b1d0c7e9a2f4c3b8e6d1a0f9c8b7a65")
    );
    assert_eq!(
        profile_string(&profile, "id"),
        Some("0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d")
    );
    // Named by no assignment: the first organization's.
    assert_eq!(
        rows["deployment:3f6b1d8e0c2a4f7b9d1e3c5a7f9b2d4e"]
            .parent_resource_id
            .as_deref(),
        Some("4125567842")
    );
    assert_eq!(
        rows["deployment:a1b2c3d4e5f60718293a4b5c6d7e8f90"]
            .parent_resource_id
            .as_deref(),
        Some("5093318764")
    );
    let children: Vec<String> = rows["organization:5093318764"]
        .data
        .annotations
        .iter()
        .filter_map(|a| {
            <ChildResourceType as prost::Message>::decode(a.value.as_slice())
                .ok()
                .filter(|_| a.type_url.ends_with("ChildResourceType"))
                .map(|c| c.resource_type_id)
        })
        .collect();
    assert_eq!(children, ["user", "deployment", "project"]);
    // Profile users: realm and status.
    let lee = user_trait(&rows["deploymentUser:lee.left"].data);
    assert_eq!(
        lee.status.expect("status").status,
        UserStatusValue::Disabled as i32
    );
    assert_eq!(
        profile_string(&lee.profile.expect("profile"), "realm"),
        Some("saml1")
    );
    let sam = user_trait(&rows["deploymentUser:sam.saml"].data);
    assert_eq!(
        sam.status.expect("status").status,
        UserStatusValue::Enabled as i32
    );
    // jdoe has a profile too, but stays the native user.
    let jdoe = user_trait(&rows["deploymentUser:jdoe"].data);
    assert_eq!(
        profile_string(&jdoe.profile.expect("profile"), "realm"),
        Some("native")
    );
}

fn sync_with_profile_fault(fault: elastic_fake::Fault) -> (Synced, String) {
    let fake = demo_fake();
    fake.inject(fault);
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(&fake, &path));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (read_default_sync(&open(&path)), stderr)
}

#[test]
fn unreadable_profiles_are_a_warning_not_a_failure() {
    for status in [403, 404] {
        let (synced, stderr) = sync_with_profile_fault(elastic_fake::Fault::status(
            "/_security/profile/_suggest",
            status,
        ));
        assert!(
            stderr.contains("user profiles are not readable")
                && stderr.contains(&status.to_string()),
            "{status}: {stderr}"
        );
        // Profile users are gone (sam.saml stays, known as the owner of an API key).
        assert!(
            !synced.resources.contains_key("deploymentUser:mallory"),
            "{status}"
        );
        assert!(synced.resources.contains_key("deploymentUser:es-system"));
        assert!(synced
            .grants
            .contains("roleMapping:esadmins-list:member:deploymentUser:esadmin01"));
        // Without its profile, es-admin's realm is unknown: saml-only-admin, which names es-admin, now
        // gives a conditional grant instead of none.
        assert!(synced
            .grants
            .contains("roleMapping:saml-only-admin:member:deploymentUser:es-admin"));
    }
}

#[test]
fn a_partial_profile_list_is_reported() {
    let mut tenant = elastic_fake::Tenant::demo().expect("demo");
    for i in 0..10_001 {
        tenant.profiles.push(serde_json::json!({
            "uid": format!("u_extra_{i:05}"),
            "user": {"username": format!("extra{i:05}"), "realm_name": "oidc2", "roles": []},
            "enabled": true
        }));
    }
    let fake = elastic_fake::FakeElastic::start(tenant).expect("fake");
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(&fake, &path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the user profile list is partial"),
        "{stderr}"
    );
    assert!(
        stderr.contains("10012") && stderr.contains("10000"),
        "{stderr}"
    );
    let synced = read_default_sync(&open(&path));
    let users = synced
        .resources
        .keys()
        .filter(|k| k.starts_with("deploymentUser:"))
        .count();
    // The fake answers the first 10,000 profiles: the demo's 11 (10 of them not native users) and
    // 9,989 extra ones; plus 13 native users, 9 users only mappings name, 1 external twin and 2 users
    // only API keys name.
    assert_eq!(users, 13 + 9 + 1 + 10 + 9_989 + 2);
}

#[test]
fn an_explicit_sync_refuses_dry_run_and_ignores_grant_variables_with_a_warning() {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    let mut args = vec!["--dry-run".to_owned(), "sync".to_owned()];
    args.extend(sync_args(&fake, &path));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dry-run belongs to grant and revoke"));
    assert!(!path.exists());

    let mut args = vec!["sync".to_owned()];
    args.extend(sync_args(&fake, &path));
    let out = output(
        binary()
            .args(&args)
            .env("BATON_GRANT_ENTITLEMENT", "role:superuser:member"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("are ignored by `sync`"));
    assert!(path.exists());
    assert!(
        fake.requests().iter().all(|r| r.method == "GET"
            || r.path.ends_with("/_suggest")
            || r.path.starts_with("/_security/_query/")),
        "a sync only reads"
    );
}

/// Syncs the demo tenant after `change`, returning what the file holds and the log output.
fn sync_changed(change: impl FnOnce(&mut elastic_fake::Tenant)) -> (Synced, String) {
    let fake = demo_fake();
    fake.update_tenant(change);
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(&fake, &path));
    (
        read_default_sync(&open(&path)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_mapping_with_unreadable_rules_keeps_its_resource_roles_and_literal_names() {
    let (synced, stderr) = sync_changed(|t| {
        t.role_mappings.insert(
            "future-rules".into(),
            serde_json::json!({
                "enabled": true,
                "roles": ["viewer"],
                "rules": {"any": [
                    {"field": {"username": ["erin", "zed-*"]}},
                    {"some_future_operator": {"field": {"groups": "x"}}}
                ]},
                "metadata": {}
            }),
        );
    });
    let mapping = &synced.resources["roleMapping:future-rules"];
    let role_trait = find_annotation::<RoleTrait>(&mapping.annotations)
        .expect("decodes")
        .expect("role trait");
    let note = profile_string(&role_trait.profile.expect("profile"), "rules_error")
        .expect("a note on the rules")
        .to_owned();
    assert!(note.contains("cannot evaluate"), "{note}");
    assert!(synced
        .entitlements
        .contains("roleMapping:future-rules:member"));
    // The role grant of the mapping stays, and so does the literal name; the wildcard is not evaluated.
    assert!(synced
        .grants
        .contains("role:viewer:member:roleMapping:future-rules"));
    let members: Vec<&String> = synced
        .grants
        .iter()
        .filter(|g| g.starts_with("roleMapping:future-rules:member:"))
        .collect();
    assert_eq!(
        members,
        ["roleMapping:future-rules:member:deploymentUser:erin"]
    );
    assert!(
        stderr.contains("cannot evaluate") && stderr.contains("future-rules"),
        "{stderr}"
    );
}

#[test]
fn native_users_never_get_a_mapping_membership_or_its_roles() {
    let (synced, _) = sync_changed(|t| {
        t.role_mappings.insert(
            "saml-alice-admin".into(),
            serde_json::json!({
                "enabled": true,
                "roles": ["superuser"],
                "rules": {"all": [
                    {"field": {"username": "alice"}},
                    {"field": {"realm.name": "saml1"}}
                ]},
                "metadata": {}
            }),
        );
    });
    // alice is a native user: the mapping cannot apply to her, so she holds no superuser.
    assert!(!synced
        .grants
        .contains("roleMapping:saml-alice-admin:member:deploymentUser:alice"));
    assert!(!synced
        .grants
        .contains("role:superuser:member:deploymentUser:alice"));
    // The SSO user who logs in as alice is another principal, a conditional member (realm unknown).
    assert!(synced
        .resources
        .contains_key("deploymentUser:external:alice"));
    assert!(synced
        .grants
        .contains("roleMapping:saml-alice-admin:member:deploymentUser:external:alice"));
    assert!(synced
        .grants
        .contains("role:superuser:member:deploymentUser:external:alice"));
    let twin = user_trait(&synced.resources["deploymentUser:external:alice"]);
    assert_eq!(twin.login, "alice");
}

#[test]
fn a_role_only_a_mapping_names_has_its_resource_and_entitlement() {
    let (synced, _) = sync_changed(|_| {});
    // `ghost_mapping_role` is named by `ghost-role-mapping` and returned by no API.
    assert!(synced.resources.contains_key("role:ghost_mapping_role"));
    assert!(synced
        .entitlements
        .contains("role:ghost_mapping_role:member"));
    assert!(synced
        .grants
        .contains("role:ghost_mapping_role:member:roleMapping:ghost-role-mapping"));
    let role =
        find_annotation::<RoleTrait>(&synced.resources["role:ghost_mapping_role"].annotations)
            .expect("decodes")
            .expect("role trait");
    assert_eq!(
        profile_bool(&role.profile.expect("profile"), "defined"),
        Some(false)
    );
    // Every grant's entitlement is a row of the file.
    for g in &synced.grants {
        let entitlement = g.split(":deploymentUser:").next().expect("split");
        let entitlement = entitlement.split(":roleMapping:").next().expect("split");
        let entitlement = entitlement.split(":group:").next().expect("split");
        if entitlement.starts_with("role:") || entitlement.starts_with("roleMapping:") {
            assert!(synced.entitlements.contains(entitlement), "{g}");
        }
    }
}

/// The `assumed_conditions` of a grant's `GrantMetadata`.
fn assumed_conditions(grant: &baton_c1z::proto::Grant) -> Vec<String> {
    let metadata = find_annotation::<GrantMetadata>(&grant.annotations)
        .expect("decodes")
        .and_then(|m| m.metadata)
        .expect("grant metadata");
    match metadata
        .fields
        .get("assumed_conditions")
        .and_then(|v| v.kind.as_ref())
    {
        Some(prost_types::value::Kind::ListValue(list)) => list
            .values
            .iter()
            .filter_map(|v| match &v.kind {
                Some(prost_types::value::Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        other => panic!("assumed_conditions: {other:?}"),
    }
}

#[test]
fn groups_that_alone_make_members_are_group_principals_matched_by_external_id() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        t.role_mappings.insert(
            "except-group".into(),
            serde_json::json!({
                "enabled": true,
                "roles": ["viewer"],
                "rules": {"all": [
                    {"field": {"username": "erin"}},
                    {"except": {"field": {"groups": "cn=banned,dc=acme,dc=com"}}}
                ]},
                "metadata": {}
            }),
        );
    });
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    let file = open(&path);
    let sync = file.default_sync().expect("q").expect("sync").sync_id;
    let types: BTreeMap<String, _> = file
        .resource_types(&sync)
        .expect("types")
        .into_iter()
        .map(|r| (r.external_id, r.data))
        .collect();
    assert_eq!(types["group"].display_name, "Group");
    assert_eq!(types["group"].traits, [Trait::Group as i32]);
    let grants: BTreeMap<String, baton_c1z::proto::Grant> = file
        .grants(&sync)
        .expect("grants")
        .into_iter()
        .map(|g| (g.external_id, g.data))
        .collect();
    let group_grants: Vec<&String> = grants
        .keys()
        .filter(|id| id.contains(":member:group:") && id.starts_with("roleMapping:"))
        .collect();
    let expected: Vec<String> = GROUP_MEMBERS
        .iter()
        .map(|(m, g)| format!("roleMapping:{m}:member:group:{g}"))
        .collect();
    assert_eq!(group_grants, expected.iter().collect::<Vec<_>>());
    for (mapping, group) in GROUP_MEMBERS {
        let g = &grants[&format!("roleMapping:{mapping}:member:group:{group}")];
        let principal = g
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .expect("id");
        assert_eq!(
            (
                principal.resource_type.as_str(),
                principal.resource.as_str()
            ),
            ("group", group)
        );
        // Annotated as the Go connector does: the match id first, then the shallow expandable.
        assert_eq!(g.annotations.len(), 2);
        assert!(g.annotations[0]
            .type_url
            .ends_with("c1.connector.v2.ExternalResourceMatchID"));
        let matched = find_annotation::<ExternalResourceMatchId>(&g.annotations)
            .expect("decodes")
            .expect("match id");
        assert_eq!(matched.id, group);
        let expandable = find_annotation::<GrantExpandable>(&g.annotations)
            .expect("decodes")
            .expect("expandable");
        assert_eq!(
            expandable.entitlement_ids,
            [format!("bid:e:group/{group}:member")]
        );
        assert!(expandable.shallow);
    }
    // One principal for both spellings, named as first written (mappings by name).
    let resources: BTreeMap<String, Resource> = file
        .resources(&sync)
        .expect("resources")
        .into_iter()
        .map(|r| (r.external_id, r.data))
        .collect();
    let groups: Vec<&String> = resources
        .keys()
        .filter(|k| k.starts_with("group:"))
        .collect();
    assert_eq!(
        groups,
        [
            "group:cn=admins,dc=acme,dc=com",
            "group:cn=ops,ou=groups,dc=acme,dc=com"
        ]
    );
    let admins = &resources["group:cn=admins,dc=acme,dc=com"];
    assert_eq!(admins.display_name, "cn=admins,dc=acme,dc=com");
    assert!(has_annotation::<GroupTrait>(&admins.annotations));
    // A group pattern gives no grant, only a profile entry on the mapping.
    let role = find_annotation::<RoleTrait>(&resources["roleMapping:ldap-groups"].annotations)
        .expect("decodes")
        .expect("role trait");
    let profile = role.profile.expect("profile");
    let patterns = format!("{:?}", profile.fields.get("group_patterns"));
    assert!(
        patterns.contains("*,ou=contractors,dc=acme,dc=com"),
        "{patterns}"
    );
    assert!(!grants.keys().any(|k| k.contains("ou=contractors")));
    // A group that is one condition of an `all`, or under an `except`, gives no group grant; the
    // conditional member's metadata names it.
    assert!(!grants
        .keys()
        .any(|k| k.contains("cn=people") || k.contains("cn=banned")));
    let es_system = &grants["roleMapping:terminated-complex:member:deploymentUser:es-system"];
    assert!(
        assumed_conditions(es_system)
            .contains(&r#"{"field":{"groups":"cn=people,dc=acme,dc=com"}}"#.to_owned()),
        "{:?}",
        assumed_conditions(es_system)
    );
    let erin = &grants["roleMapping:except-group:member:deploymentUser:erin"];
    assert_eq!(
        assumed_conditions(erin),
        [r#"{"except":{"field":{"groups":"cn=banned,dc=acme,dc=com"}}}"#]
    );
}
