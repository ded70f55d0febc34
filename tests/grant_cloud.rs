//! End-to-end `grant` and `revoke` of the Elastic Cloud entitlements: Cloud role assignments, member
//! removal and invitations, run as the real binary against the stateful fake. Each test checks the
//! outcome line, the exit status, the exact writes sent and the fake's state afterwards, and that no
//! other member changed.

mod common;

use baton_elastic::cli::{Cli, Command};
use baton_elastic::commands::grant::{go_style_request, Request, Target};
use baton_elastic::config::UsageError;
use baton_elastic::provision::cloud_role::CloudRole;
use clap::Parser;
use common::*;
use elastic_fake::{FakeElastic, Fault, RecordedRequest, Tenant};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Output;

const ACME: &str = "4125567842";
const LABS: &str = "5093318764";
/// Acme Corp's only Organization owner.
const ADA: &str = "2894412301";
/// Deployment viewer of every Acme Corp deployment, editor of prod-logs.
const BOB: &str = "3310087745";
/// Acme Corp's billing admin.
const GRACE: &str = "3978120456";
/// An Acme Corp member without roles.
const PLAIN: &str = "4410287733";
/// prod-logs, an Acme Corp deployment.
const PROD_LOGS: &str = "0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d";
/// staging-search, an Acme Corp deployment no assignment names.
const STAGING: &str = "3f6b1d8e0c2a4f7b9d1e3c5a7f9b2d4e";

fn cloud_flags(fake: &FakeElastic) -> Vec<String> {
    let (key, _) = demo_keys();
    vec![
        "--cloud-url".into(),
        fake.url(),
        "--api-key".into(),
        key,
        "--log-format".into(),
        "json".into(),
    ]
}

fn baton(fake: &FakeElastic, args: &[&str]) -> Output {
    let mut all = cloud_flags(fake);
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run(&all)
}

/// Asserts a failure with exit status 1 and returns stderr.
fn expect_failure(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// Requests other than GET.
fn writes(fake: &FakeElastic) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

fn member(tenant: &Tenant, org: &str, user_id: &str) -> Option<Value> {
    tenant.members[org]
        .iter()
        .find(|m| m["user_id"] == user_id)
        .cloned()
}

/// A member's assignments as a set: `organization:<role>`, `all:<role>` and `<deployment>:<role>`, each
/// with the organization it is for.
fn assignments(tenant: &Tenant, org: &str, user_id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(m) = member(tenant, org, user_id) else {
        return out;
    };
    let ra = &m["role_assignments"];
    for a in ra["organization"].as_array().into_iter().flatten() {
        out.insert(format!(
            "{}/organization:{}",
            a["organization_id"].as_str().unwrap_or(org),
            a["role_id"].as_str().expect("role_id")
        ));
    }
    for a in ra["deployment"].as_array().into_iter().flatten() {
        let owner = a["organization_id"].as_str().unwrap_or(org);
        let role = a["role_id"].as_str().expect("role_id");
        if a["all"] == true {
            out.insert(format!("{owner}/all:{role}"));
        }
        for id in a["deployment_ids"].as_array().into_iter().flatten() {
            out.insert(format!("{owner}/{}:{role}", id.as_str().expect("id")));
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts every member of every organization, except `user_id` in `org`, is byte-identical to
/// `before`, and that no organization gained or lost any other member.
fn others_unchanged(before: &Tenant, after: &Tenant, org: &str, user_id: &str) {
    let text = |v: &Value| serde_json::to_string(v).expect("json");
    assert_eq!(
        before.members.keys().collect::<Vec<_>>(),
        after.members.keys().collect::<Vec<_>>()
    );
    for (org_id, list) in &before.members {
        for m in list {
            let id = m["user_id"].as_str().expect("user_id");
            if org_id == org && id == user_id {
                continue;
            }
            let now = member(after, org_id, id).unwrap_or_else(|| panic!("{org_id}/{id} gone"));
            assert_eq!(text(m), text(&now), "member {org_id}/{id}");
        }
        let ids = |t: &Tenant| -> BTreeSet<String> {
            t.members[org_id]
                .iter()
                .filter_map(|m| m["user_id"].as_str().map(str::to_owned))
                .filter(|id| !(org_id == org && id == user_id))
                .collect()
        };
        assert_eq!(ids(before), ids(after), "members of {org_id}");
    }
    assert_eq!(before.organizations, after.organizations);
    assert_eq!(before.deployments, after.deployments);
    assert_eq!(before.users, after.users);
    assert_eq!(before.role_mappings, after.role_mappings);
}

fn role_assignment_path(user_id: &str) -> String {
    format!("/api/v1/users/{user_id}/role_assignments")
}

/// Grants `entitlement` to `user:<PLAIN>` twice and revokes it twice, checking the outcome, the one write
/// and its body, and the member's assignments after each step.
fn round_trip(entitlement: &str, body: Value, held: &[&str]) {
    let fake = demo_fake();
    let before = fake.tenant();
    assert_eq!(assignments(&before, ACME, PLAIN), set(&[]), "{entitlement}");
    let principal = format!("user:{PLAIN}");

    let out = baton(&fake, &["grant", entitlement, &principal]);
    expect_outcome(&out, "granted", entitlement, &principal);
    let sent = writes(&fake);
    assert_eq!(sent.len(), 1, "{entitlement}: {sent:?}");
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].path, role_assignment_path(PLAIN));
    assert_eq!(
        serde_json::from_str::<Value>(&sent[0].body).expect("json"),
        body,
        "{entitlement}"
    );
    assert_eq!(
        assignments(&fake.tenant(), ACME, PLAIN),
        set(held),
        "{entitlement}"
    );
    others_unchanged(&before, &fake.tenant(), ACME, PLAIN);

    fake.clear_requests();
    let out = baton(&fake, &["grant", entitlement, &principal]);
    expect_outcome(&out, "already_granted", entitlement, &principal);
    assert!(writes(&fake).is_empty(), "{entitlement}");
    assert_eq!(assignments(&fake.tenant(), ACME, PLAIN), set(held));

    fake.clear_requests();
    let out = baton(&fake, &["revoke", entitlement, &principal]);
    expect_outcome(&out, "revoked", entitlement, &principal);
    let sent = writes(&fake);
    assert_eq!(sent.len(), 1, "{entitlement}: {sent:?}");
    assert_eq!(sent[0].method, "DELETE");
    assert_eq!(sent[0].path, role_assignment_path(PLAIN));
    assert_eq!(
        serde_json::from_str::<Value>(&sent[0].body).expect("json"),
        body
    );
    assert_eq!(assignments(&fake.tenant(), ACME, PLAIN), set(&[]));

    fake.clear_requests();
    let grant_id = format!("{entitlement}:{principal}");
    let out = baton(&fake, &["revoke", &grant_id]);
    expect_outcome(&out, "already_revoked", entitlement, &principal);
    assert!(writes(&fake).is_empty(), "{entitlement}");
    assert_eq!(assignments(&fake.tenant(), ACME, PLAIN), set(&[]));
    others_unchanged(&before, &fake.tenant(), ACME, PLAIN);
}

#[test]
fn organization_roles_are_granted_and_revoked_exactly_once() {
    for role in ["organization-admin", "billing-admin"] {
        round_trip(
            &format!("organization:{ACME}:{role}"),
            json!({"organization": [{"role_id": role, "organization_id": ACME}]}),
            &[&format!("{ACME}/organization:{role}")],
        );
    }
}

#[test]
fn all_deployment_roles_are_granted_and_revoked_exactly_once() {
    for role in ["deployment-admin", "deployment-editor", "deployment-viewer"] {
        round_trip(
            &format!("organization:{ACME}:{role}"),
            json!({"deployment": [{"role_id": role, "organization_id": ACME, "all": true}]}),
            &[&format!("{ACME}/all:{role}")],
        );
    }
}

#[test]
fn per_deployment_roles_are_granted_and_revoked_exactly_once() {
    for (slug, role) in [
        ("admin", "deployment-admin"),
        ("editor", "deployment-editor"),
        ("viewer", "deployment-viewer"),
    ] {
        round_trip(
            &format!("deployment:{STAGING}:{slug}"),
            json!({"deployment": [{"role_id": role, "organization_id": ACME, "all": false, "deployment_ids": [STAGING]}]}),
            &[&format!("{ACME}/{STAGING}:{role}")],
        );
    }
}

#[test]
fn revoking_one_deployment_keeps_the_other_deployments_of_the_assignment() {
    let fake = demo_fake();
    let labs_ml = "7c2e9a4b6d8f0a1c3e5b7d9f1a2c4e6b";
    let sandbox = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let before = fake.tenant();
    assert_eq!(
        assignments(&before, LABS, BOB),
        set(&[
            &format!("{LABS}/{labs_ml}:deployment-viewer"),
            &format!("{LABS}/{sandbox}:deployment-viewer")
        ])
    );
    let entitlement = format!("deployment:{labs_ml}:viewer");
    let principal = format!("user:{BOB}");
    let out = baton(&fake, &["revoke", &entitlement, &principal]);
    expect_outcome(&out, "revoked", &entitlement, &principal);
    assert_eq!(
        assignments(&fake.tenant(), LABS, BOB),
        set(&[&format!("{LABS}/{sandbox}:deployment-viewer")])
    );
    others_unchanged(&before, &fake.tenant(), LABS, BOB);
    // Bob's Acme Corp membership is another member record: untouched.
    assert_eq!(
        member(&before, ACME, BOB),
        member(&fake.tenant(), ACME, BOB)
    );
}

#[test]
fn a_deployment_role_held_for_all_deployments_is_already_granted_and_cannot_be_revoked_alone() {
    let fake = demo_fake();
    let before = fake.tenant();
    let entitlement = format!("deployment:{PROD_LOGS}:viewer");
    let principal = format!("user:{BOB}");
    let out = baton(&fake, &["grant", &entitlement, &principal]);
    let line = expect_outcome(&out, "already_granted", &entitlement, &principal);
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("organization:{ACME}:deployment-viewer"))),
        "{line}"
    );
    let out = baton(&fake, &["revoke", &entitlement, &principal]);
    let err = expect_failure(&out);
    assert!(err.contains("all-deployments assignment"), "{err}");
    assert!(
        err.contains(&format!(
            r#"{{\"role_id\":\"deployment-viewer\",\"organization_id\":\"{ACME}\",\"all\":true}}"#
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "revoke organization:{ACME}:deployment-viewer user:{BOB} instead"
        )),
        "{err}"
    );
    // The Organization owner is admin of every deployment the same way.
    let entitlement = format!("deployment:{PROD_LOGS}:admin");
    let out = baton(&fake, &["revoke", &entitlement, &format!("user:{ADA}")]);
    let err = expect_failure(&out);
    assert!(
        err.contains(&format!("organization:{ACME}:organization-admin")),
        "{err}"
    );
    let out = baton(&fake, &["grant", &entitlement, &format!("user:{ADA}")]);
    expect_outcome(
        &out,
        "already_granted",
        &entitlement,
        &format!("user:{ADA}"),
    );
    assert!(writes(&fake).is_empty());
    assert_eq!(before, fake.tenant());
}

#[test]
fn the_last_organization_owner_is_neither_removed_nor_demoted() {
    let fake = demo_fake();
    let before = fake.tenant();
    let principal = format!("user:{ADA}");
    for entitlement in [
        format!("organization:{ACME}:member"),
        format!("organization:{ACME}:organization-admin"),
    ] {
        let out = baton(&fake, &["revoke", &entitlement, &principal]);
        let err = expect_failure(&out);
        assert!(err.contains("only Organization owner"), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }
    assert!(writes(&fake).is_empty());
    assert_eq!(before, fake.tenant());
    // With a second owner, the first can go.
    let out = baton(
        &fake,
        &[
            "grant",
            &format!("organization:{ACME}:organization-admin"),
            &format!("user:{GRACE}"),
        ],
    );
    outcome(&out);
    let entitlement = format!("organization:{ACME}:member");
    let out = baton(&fake, &["revoke", &entitlement, &principal]);
    expect_outcome(&out, "revoked", &entitlement, &principal);
    assert!(member(&fake.tenant(), ACME, ADA).is_none());
    assert!(
        member(&fake.tenant(), LABS, ADA).is_some(),
        "other orgs keep her"
    );
}

#[test]
fn a_member_is_removed_once() {
    let fake = demo_fake();
    let before = fake.tenant();
    let entitlement = format!("organization:{ACME}:member");
    let principal = format!("user:{GRACE}");
    let out = baton(&fake, &["revoke", &entitlement, &principal]);
    expect_outcome(&out, "revoked", &entitlement, &principal);
    let sent = writes(&fake);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (
            sent[0].method.as_str(),
            sent[0].path.as_str(),
            sent[0].body.as_str()
        ),
        (
            "DELETE",
            "/api/v1/organizations/4125567842/members/3978120456",
            ""
        )
    );
    assert!(member(&fake.tenant(), ACME, GRACE).is_none());
    others_unchanged(&before, &fake.tenant(), ACME, GRACE);

    fake.clear_requests();
    let grant_id = format!("{entitlement}:{principal}");
    let out = run(&[cloud_flags(&fake), vec!["--revoke-grant".into(), grant_id]].concat());
    expect_outcome(&out, "already_revoked", &entitlement, &principal);
    assert!(writes(&fake).is_empty());
    // Granting membership to a user id cannot add them back: only an invitation can.
    let out = baton(&fake, &["grant", &entitlement, &principal]);
    let err = expect_failure(&out);
    assert!(err.contains("only by invitation"), "{err}");
}

#[test]
fn membership_not_found_on_removal_is_already_revoked() {
    let fake = demo_fake();
    let path = format!("/api/v1/organizations/{ACME}/members/{PLAIN}");
    fake.inject(
        Fault::cloud_error(&path, 404, "organization.membership_not_found")
            .method("DELETE")
            .times(1),
    );
    let entitlement = format!("organization:{ACME}:member");
    let principal = format!("user:{PLAIN}");
    let out = baton(&fake, &["revoke", &entitlement, &principal]);
    let line = expect_outcome(&out, "already_revoked", &entitlement, &principal);
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains("organization.membership_not_found")),
        "{line}"
    );
    assert_eq!(writes(&fake).len(), 1);
    // Another 404 is an error, not a no-op.
    fake.inject(
        Fault::cloud_error(&path, 404, "organization.not_found")
            .method("DELETE")
            .times(1),
    );
    let err = expect_failure(&baton(&fake, &["revoke", &entitlement, &principal]));
    assert!(err.contains("organization.not_found"), "{err}");
}

#[test]
fn an_invitation_is_sent_once_with_its_roles_and_expiry() {
    let fake = demo_fake();
    let before = fake.tenant();
    let entitlement = format!("organization:{ACME}:member");
    let principal = "user:jane@example.com";
    let billing = format!("organization:{ACME}:billing-admin");
    let viewer = format!("deployment:{PROD_LOGS}:viewer");
    let args = [
        "grant",
        &entitlement,
        principal,
        "--invite-role",
        &billing,
        "--invite-role",
        &viewer,
        "--invite-expires-in",
        "7d",
    ];
    let out = baton(&fake, &args);
    let line = expect_outcome(&out, "granted", &entitlement, principal);
    let invitations = fake.tenant().invitations[ACME].clone();
    let before_count = before.invitations.get(ACME).map_or(0, Vec::len);
    assert_eq!(invitations.len(), before_count + 1, "one invitation added");
    let sent = invitations
        .iter()
        .find(|i| i["email"] == "jane@example.com")
        .expect("the new invitation");
    assert_eq!(sent["email"], "jane@example.com");
    assert_eq!(line["invitation_expires_at"], sent["expires_at"], "{line}");
    assert!(
        line["msg"]
            .as_str()
            .is_some_and(|m| m.contains(sent["expires_at"].as_str().expect("expires_at"))),
        "{line}"
    );
    assert_eq!(
        sent["role_assignments"],
        json!({
            "organization": [{"role_id": "billing-admin", "organization_id": ACME}],
            "deployment": [{"role_id": "deployment-viewer", "organization_id": ACME, "all": false, "deployment_ids": [PROD_LOGS]}]
        })
    );
    let posts = writes(&fake);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0].path,
        format!("/api/v1/organizations/{ACME}/invitations")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&posts[0].body).expect("json"),
        json!({"emails": ["jane@example.com"], "expires_in": "7d", "role_assignments": sent["role_assignments"]})
    );
    // An invitation makes no one a member yet.
    assert_eq!(before.members, fake.tenant().members);

    fake.clear_requests();
    let out = baton(&fake, &args);
    let line = expect_outcome(&out, "already_granted", &entitlement, principal);
    assert_eq!(line["invitation_expires_at"], sent["expires_at"]);
    assert!(writes(&fake).is_empty());
    assert_eq!(fake.tenant().invitations[ACME], invitations);

    // A member's own address is already granted too.
    let out = baton(&fake, &["grant", &entitlement, "user:ada@acme.example"]);
    let line = expect_outcome(
        &out,
        "already_granted",
        &entitlement,
        "user:ada@acme.example",
    );
    assert_eq!(line["user_id"], ADA);
    assert!(writes(&fake).is_empty());
}

#[test]
fn an_expired_invitation_is_sent_again() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        t.invitations.insert(
            ACME.to_owned(),
            vec![json!({"token": "old", "email": "jane@example.com", "created_at": "2020-01-01T00:00:00Z",
                "expires_at": "2020-01-04T00:00:00Z", "expired": true, "organization": {"id": ACME, "name": "Acme Corp"}})],
        );
    });
    let entitlement = format!("organization:{ACME}:member");
    let out = baton(&fake, &["grant", &entitlement, "user:jane@example.com"]);
    expect_outcome(&out, "granted", &entitlement, "user:jane@example.com");
    let invitations = fake.tenant().invitations[ACME].clone();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0]["expired"], false);
    assert_ne!(invitations[0]["token"], "old");
    let posts = writes(&fake);
    assert_eq!(
        serde_json::from_str::<Value>(&posts[0].body).expect("json"),
        json!({"emails": ["jane@example.com"]})
    );
}

#[test]
fn a_key_without_permission_gets_a_message_naming_the_role_it_needs() {
    let tenant = Tenant::demo()
        .expect("demo")
        .with_cloud_key_roles(&["deployment-viewer"]);
    let fake = FakeElastic::start(tenant).expect("fake");
    let before = fake.tenant();
    let entitlement = format!("organization:{ACME}:billing-admin");
    let out = baton(&fake, &["grant", &entitlement, &format!("user:{PLAIN}")]);
    let err = expect_failure(&out);
    assert!(err.contains("`billing-admin`"), "{err}");
    assert!(
        err.contains("Organization owner role (`organization-admin`)"),
        "{err}"
    );
    assert!(
        err.contains("role_assignments.unauthorized_role_assignments"),
        "{err}"
    );
    assert!(err.contains("--api-key"), "{err}");
    let sent = writes(&fake);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, 403);
    assert_eq!(before, fake.tenant());
    // A role the key may assign goes through.
    let entitlement = format!("organization:{ACME}:deployment-viewer");
    let out = baton(&fake, &["grant", &entitlement, &format!("user:{PLAIN}")]);
    expect_outcome(&out, "granted", &entitlement, &format!("user:{PLAIN}"));
}

#[test]
fn dry_run_prints_the_exact_requests_and_sends_nothing() {
    let fake = demo_fake();
    let before = fake.tenant();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "grant".into(),
                format!("deployment:{STAGING}:editor"),
                format!("user:{PLAIN}"),
                "--dry-run".into(),
            ],
            format!(
                "POST /api/v1/users/{PLAIN}/role_assignments\n{{\"deployment\":[{{\"role_id\":\"deployment-editor\",\"organization_id\":\"{ACME}\",\"all\":false,\"deployment_ids\":[\"{STAGING}\"]}}]}}\n"
            ),
        ),
        (
            vec![
                "revoke".into(),
                format!("organization:{ACME}:billing-admin"),
                format!("user:{GRACE}"),
                "--dry-run".into(),
            ],
            format!(
                "DELETE /api/v1/users/{GRACE}/role_assignments\n{{\"organization\":[{{\"role_id\":\"billing-admin\",\"organization_id\":\"{ACME}\"}}]}}\n"
            ),
        ),
        (
            vec![
                "revoke".into(),
                format!("organization:{ACME}:member"),
                format!("user:{BOB}"),
                "--dry-run".into(),
            ],
            format!("DELETE /api/v1/organizations/{ACME}/members/{BOB}\n"),
        ),
        (
            vec![
                "grant".into(),
                format!("organization:{ACME}:member"),
                "user:jane@example.com".into(),
                "--invite-role".into(),
                format!("organization:{ACME}:deployment-admin"),
                "--dry-run".into(),
            ],
            format!(
                "POST /api/v1/organizations/{ACME}/invitations\n{{\"emails\":[\"jane@example.com\"],\"role_assignments\":{{\"deployment\":[{{\"role_id\":\"deployment-admin\",\"organization_id\":\"{ACME}\",\"all\":true}}]}}}}\n"
            ),
        ),
        (
            vec![
                "--grant-entitlement".into(),
                format!("organization:{ACME}:organization-admin"),
                "--grant-principal-type".into(),
                "user".into(),
                "--grant-principal".into(),
                PLAIN.into(),
                "--dry-run".into(),
            ],
            format!(
                "POST /api/v1/users/{PLAIN}/role_assignments\n{{\"organization\":[{{\"role_id\":\"organization-admin\",\"organization_id\":\"{ACME}\"}}]}}\n"
            ),
        ),
        (
            vec![
                "grant".into(),
                format!("organization:{ACME}:billing-admin"),
                format!("user:{GRACE}"),
                "--dry-run".into(),
            ],
            format!(
                "nothing would be sent: user:{GRACE} already holds organization:{ACME}:billing-admin\n"
            ),
        ),
    ];
    for (args, expected) in cases {
        let out = run(&[cloud_flags(&fake), args.clone()].concat());
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "{args:?}");
        let line = outcome(&out);
        assert!(
            ["would_grant", "would_revoke", "already_granted"]
                .contains(&line["outcome"].as_str().unwrap_or("")),
            "{line}"
        );
    }
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    assert_eq!(before, fake.tenant());
}

#[test]
fn go_flags_grant_and_revoke_cloud_roles() {
    let fake = demo_fake();
    let before = fake.tenant();
    let entitlement = format!("deployment:{PROD_LOGS}:editor");
    let go_grant = vec![
        "--grant-entitlement".to_owned(),
        entitlement.clone(),
        "--grant-principal-type".into(),
        "user".into(),
        "--grant-principal".into(),
        PLAIN.into(),
        "--provisioning".into(),
    ];
    let principal = format!("user:{PLAIN}");
    let out = run(&[cloud_flags(&fake), go_grant].concat());
    expect_outcome(&out, "granted", &entitlement, &principal);
    assert_eq!(
        assignments(&fake.tenant(), ACME, PLAIN),
        set(&[&format!("{ACME}/{PROD_LOGS}:deployment-editor")])
    );
    let go_revoke = vec![
        "--revoke-grant".to_owned(),
        format!("{entitlement}:{principal}"),
    ];
    let out = run(&[cloud_flags(&fake), go_revoke].concat());
    expect_outcome(&out, "revoked", &entitlement, &principal);
    assert_eq!(assignments(&fake.tenant(), ACME, PLAIN), set(&[]));
    others_unchanged(&before, &fake.tenant(), ACME, PLAIN);
}

#[test]
fn a_grant_to_someone_who_is_not_a_member_fails_and_sends_nothing() {
    let fake = demo_fake();
    let entitlement = format!("organization:{ACME}:billing-admin");
    let err = expect_failure(&baton(&fake, &["grant", &entitlement, "user:999"]));
    assert!(
        err.contains("is not a member of organization 4125567842"),
        "{err}"
    );
    assert!(writes(&fake).is_empty());
    let out = baton(&fake, &["revoke", &entitlement, "user:999"]);
    expect_outcome(&out, "already_revoked", &entitlement, "user:999");
    let err = expect_failure(&baton(
        &fake,
        &["grant", "deployment:nope:viewer", &format!("user:{PLAIN}")],
    ));
    assert!(err.contains("no deployment `nope`"), "{err}");
    assert!(writes(&fake).is_empty());
}

#[test]
fn the_cloud_key_is_required() {
    let fake = demo_fake();
    let out = run(&[
        "--cloud-url".to_owned(),
        fake.url(),
        "grant".into(),
        format!("organization:{ACME}:billing-admin"),
        format!("user:{PLAIN}"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--api-key"), "{}", stderr(&out));
    assert_eq!(fake.request_count(), 0);
}

// ---- ids and flags, parsed without a server --------------------------------------------------------

fn request(args: &[&str]) -> anyhow::Result<Request> {
    let mut argv = vec!["baton-elastic"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("parses");
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
fn cloud_entitlements_principals_and_grant_ids_parse() {
    let r = request(&["grant", "organization:1:billing-admin", "user:42"]).expect("ok");
    assert_eq!(
        r.target,
        Target::OrganizationRole {
            organization: "1".into(),
            role: CloudRole::BillingAdmin
        }
    );
    assert_eq!(r.principal_id(), "user:42");
    let r = request(&["revoke", "deployment:d1:viewer:user:42"]).expect("ok");
    assert_eq!(
        r.target,
        Target::DeploymentRole {
            deployment: "d1".into(),
            role: CloudRole::DeploymentViewer
        }
    );
    assert_eq!((r.username.as_str(), r.grant), ("42", false));
    assert_eq!(r.target.entitlement_id(), "deployment:d1:viewer");
    let r = request(&["revoke", "organization:1:member:user:42"]).expect("ok");
    assert_eq!(r.target, Target::OrganizationMember("1".into()));
    let r = request(&[
        "grant",
        "organization:1:member",
        "user:jane@example.com",
        "--invite-role",
        "organization:1:deployment-viewer",
        "--invite-role",
        "deployment:d1:admin",
        "--invite-role",
        "deployment:d1:admin",
        "--invite-expires-in",
        "7d",
    ])
    .expect("ok");
    assert_eq!(r.invite_roles.len(), 2, "duplicates are dropped");
    assert_eq!(r.invite_expires_in.as_deref(), Some("7d"));
}

#[test]
fn cloud_id_mistakes_are_usage_errors() {
    let msg = usage_message(request(&[
        "grant",
        "organization:1:member",
        "deploymentUser:x",
    ]));
    assert!(msg.contains("granted to Cloud users"), "{msg}");
    let msg = usage_message(request(&["grant", "deployment:d1:owner", "user:42"]));
    assert!(msg.contains("deployment:<id>:admin|editor|viewer"), "{msg}");
    let msg = usage_message(request(&[
        "grant",
        "organization:1:billing-admin",
        "user:a@b.c",
    ]));
    assert!(msg.contains("e-mail address"), "{msg}");
    let msg = usage_message(request(&[
        "grant",
        "organization:1:member",
        "user:42",
        "--invite-role",
        "organization:1:billing-admin",
    ]));
    assert!(msg.contains("must be an e-mail address"), "{msg}");
    let msg = usage_message(request(&[
        "grant",
        "organization:1:member",
        "user:a@b.c",
        "--invite-role",
        "organization:2:billing-admin",
    ]));
    assert!(msg.contains("organization 1"), "{msg}");
    let msg = usage_message(request(&[
        "grant",
        "organization:1:member",
        "user:a@b.c",
        "--invite-expires-in",
        "soon",
    ]));
    assert!(msg.contains("7d"), "{msg}");
    let msg = usage_message(request(&[
        "--grant-entitlement",
        "organization:1:billing-admin",
        "--grant-principal-type",
        "deploymentUser",
        "--grant-principal",
        "42",
    ]));
    assert!(msg.contains("granted to Cloud users"), "{msg}");
    let msg = usage_message(request(&["revoke", "organization:1:billing-admin"]));
    assert!(msg.contains("`user:<user id>`"), "{msg}");
    for args in [
        &["revoke", "organization:1:member", "user:a@b.c"][..],
        &["revoke", "organization:1:member:user:a@b.c"],
        &["--revoke-grant", "organization:1:member:user:a@b.c"],
    ] {
        let msg = usage_message(request(args));
        assert!(msg.contains("not the e-mail address"), "{args:?}: {msg}");
    }
}

/// The principals of the grants of `entitlement` in the newest sync of `file`.
fn holders(file: &std::path::Path, entitlement: &str) -> BTreeSet<String> {
    let out = run_ok(&[
        "inspect".to_owned(),
        "grants".into(),
        "-e".into(),
        entitlement.into(),
        "-o".into(),
        "json".into(),
        "-f".into(),
        file.display().to_string(),
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let id = &g["principal"]["id"];
            Some(format!(
                "{}:{}",
                id["resourceType"].as_str()?,
                id["resource"].as_str()?
            ))
        })
        .collect()
}

#[test]
fn a_sync_after_a_grant_shows_it_and_after_the_revoke_no_longer() {
    let fake = demo_fake();
    let (_dir, file) = temp_target();
    let entitlement = format!("deployment:{STAGING}:viewer");
    let principal = format!("user:{PLAIN}");
    run_ok(&sync_args(&fake, &file));
    assert!(!holders(&file, &entitlement).contains(&principal));
    outcome(&baton(&fake, &["grant", &entitlement, &principal]));
    run_ok(&sync_args(&fake, &file));
    assert!(holders(&file, &entitlement).contains(&principal));
    let owner = format!("organization:{ACME}:organization-admin");
    outcome(&baton(&fake, &["grant", &owner, &principal]));
    outcome(&baton(&fake, &["revoke", &entitlement, &principal]));
    run_ok(&sync_args(&fake, &file));
    assert!(!holders(&file, &entitlement).contains(&principal));
    assert_eq!(
        holders(&file, &owner),
        set(&[&format!("user:{ADA}"), &principal])
    );
}

#[test]
fn a_write_that_does_not_show_when_read_back_fails() {
    let fake = demo_fake();
    let before = fake.tenant();
    fake.inject(Fault::lost_write(&role_assignment_path(PLAIN)));
    let entitlement = format!("organization:{ACME}:billing-admin");
    let err = expect_failure(&baton(
        &fake,
        &["grant", &entitlement, &format!("user:{PLAIN}")],
    ));
    assert!(
        err.contains("succeeded but reading the members back"),
        "{err}"
    );
    assert!(err.contains("missing"), "{err}");
    fake.inject(Fault::lost_write(&format!(
        "/api/v1/organizations/{ACME}/members/{GRACE}"
    )));
    let err = expect_failure(&baton(
        &fake,
        &[
            "revoke",
            &format!("organization:{ACME}:member"),
            &format!("user:{GRACE}"),
        ],
    ));
    assert!(err.contains("still lists user 3978120456"), "{err}");
    fake.inject(
        Fault::lost_write(&format!("/api/v1/organizations/{ACME}/invitations")).method("POST"),
    );
    let err = expect_failure(&baton(
        &fake,
        &[
            "grant",
            &format!("organization:{ACME}:member"),
            "user:jane@example.com",
        ],
    ));
    assert!(err.contains("shows no pending invitation"), "{err}");
    assert_eq!(before, fake.tenant());
}
