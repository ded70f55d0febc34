//! End-to-end `grant` and `revoke` tests: the real binary against the stateful loopback fake, checking
//! the outcome line, the exit status, the requests sent and the tenant state afterwards.

mod common;

use common::*;
use elastic_fake::{FakeElastic, Fault, RecordedRequest, Tenant};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Output;

/// The deployment flags for `fake`.
fn es_flags(fake: &FakeElastic) -> Vec<String> {
    let (_, key) = demo_keys();
    vec![
        "--deployment-endpoint".into(),
        fake.url(),
        "--deployment-api-key".into(),
        key,
        "--log-format".into(),
        "json".into(),
    ]
}

/// Runs the binary with the deployment flags followed by `args`.
fn baton(fake: &FakeElastic, args: &[&str]) -> Output {
    let mut all = es_flags(fake);
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run(&all)
}

/// Requests other than GET.
fn writes(fake: &FakeElastic) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

fn mapping(fake: &FakeElastic, name: &str) -> Value {
    fake.tenant().role_mappings[name].clone()
}

fn user(fake: &FakeElastic, name: &str) -> Value {
    fake.tenant().users[name].clone()
}

/// Asserts every user and mapping except the named ones is byte-identical to `before`.
fn others_unchanged(before: &Tenant, after: &Tenant, user: Option<&str>, mapping: Option<&str>) {
    let text = |v: &Value| serde_json::to_string(v).expect("json");
    let keys =
        |a: &std::collections::BTreeMap<String, Value>| a.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&before.users), keys(&after.users));
    assert_eq!(keys(&before.role_mappings), keys(&after.role_mappings));
    for (name, value) in &before.users {
        if Some(name.as_str()) != user {
            assert_eq!(text(value), text(&after.users[name]), "user {name}");
        }
    }
    for (name, value) in &before.role_mappings {
        if Some(name.as_str()) != mapping {
            assert_eq!(
                text(value),
                text(&after.role_mappings[name]),
                "mapping {name}"
            );
        }
    }
    assert_eq!(before.roles, after.roles);
}

/// A rule in a canonical form that ignores what does not change who it matches: value order, scalar or
/// list, order inside `any`/`all`, and an `any` of one rule.
fn canonical(rule: &Value) -> Value {
    let obj = rule.as_object().expect("rule object");
    let (key, value) = obj.iter().next().expect("one key");
    match key.as_str() {
        "field" => {
            let (name, values) = value
                .as_object()
                .expect("field")
                .iter()
                .next()
                .expect("name");
            let mut list: Vec<String> = match values {
                Value::Array(items) => items.iter().map(Value::to_string).collect(),
                other => vec![other.to_string()],
            };
            list.sort();
            list.dedup();
            json!({"field": {name: list}})
        }
        "except" => json!({"except": canonical(value)}),
        "any" | "all" => {
            let mut items: Vec<Value> = value
                .as_array()
                .expect("list")
                .iter()
                .map(canonical)
                .collect();
            if key == "any" && items.len() == 1 {
                return items.remove(0);
            }
            items.sort_by_key(Value::to_string);
            json!({ key.as_str(): items })
        }
        other => panic!("unknown rule key {other}"),
    }
}

/// A mapping with its rules in canonical form.
fn equivalent(mapping: &Value) -> Value {
    let mut m = mapping.clone();
    m["rules"] = canonical(&mapping["rules"]);
    m
}

fn grant_mapping(fake: &FakeElastic, name: &str, user: &str) -> Output {
    baton(
        fake,
        &[
            "grant",
            &format!("roleMapping:{name}:member"),
            &format!("deploymentUser:{user}"),
        ],
    )
}

fn revoke_mapping(fake: &FakeElastic, name: &str, user: &str) -> Output {
    baton(
        fake,
        &[
            "revoke",
            &format!("roleMapping:{name}:member"),
            &format!("deploymentUser:{user}"),
        ],
    )
}

const EDITABLE_MAPPINGS: [&str; 12] = [
    "admins-any",
    "contractor-wildcard",
    "esadmins-list",
    "except-user",
    "ghost-role-mapping",
    "jdoe-direct",
    "ldap-subtree",
    "mixed-values",
    "per-user-role",
    "saml-realm",
    "svc-regex",
    "terminated-complex",
];

#[test]
fn grant_then_revoke_restores_every_rule_shape_and_touches_nothing_else() {
    let fake = demo_fake();
    let original = fake.tenant();
    for name in EDITABLE_MAPPINGS.iter().copied().chain(["typed-values"]) {
        let entitlement = format!("roleMapping:{name}:member");
        let before = fake.tenant();
        fake.clear_requests();
        expect_outcome(
            &grant_mapping(&fake, name, "newbie"),
            "granted",
            &entitlement,
            "deploymentUser:newbie",
        );
        let granted = mapping(&fake, name);
        others_unchanged(&before, &fake.tenant(), None, Some(name));
        // Roles, templates, metadata and enabled are sent back as read.
        for key in ["enabled", "roles", "role_templates", "metadata"] {
            assert_eq!(
                granted.get(key),
                before.role_mappings[name].get(key),
                "{name} {key}"
            );
        }
        let puts = writes(&fake);
        assert_eq!(puts.len(), 1, "{name}");
        assert_eq!(puts[0].method, "PUT");
        assert_eq!(puts[0].status, 200, "{name}: {}", puts[0].body);
        // The new member is a literal the sync will see.
        let rules: elastic_api::rules::Rule =
            serde_json::from_value(granted["rules"].clone()).expect("rules");
        assert!(
            rules.literal_usernames().contains("newbie"),
            "{name}: {granted}"
        );

        expect_outcome(
            &revoke_mapping(&fake, name, "newbie"),
            "revoked",
            &entitlement,
            "deploymentUser:newbie",
        );
        assert_eq!(
            equivalent(&mapping(&fake, name)),
            equivalent(&original.role_mappings[name]),
            "{name}"
        );
        others_unchanged(&before, &fake.tenant(), None, Some(name));
    }
}

#[test]
fn revoke_then_grant_of_existing_members_restores_the_mapping() {
    let fake = demo_fake();
    let original = fake.tenant();
    for (name, member) in [
        ("jdoe-direct", "jdoe"),
        ("esadmins-list", "esadmin01"),
        ("esadmins-list", "esadmin02"),
        ("admins-any", "esadmin"),
        ("mixed-values", "dave"),
        ("mixed-values", "j?smith"),
        ("ghost-role-mapping", "erin"),
    ] {
        let before = fake.tenant();
        let out = revoke_mapping(&fake, name, member);
        expect_outcome(
            &out,
            "revoked",
            &format!("roleMapping:{name}:member"),
            &format!("deploymentUser:{member}"),
        );
        let rules: elastic_api::rules::Rule =
            serde_json::from_value(mapping(&fake, name)["rules"].clone()).expect("rules");
        assert!(!rules.literal_usernames().contains(member), "{name}");
        others_unchanged(&before, &fake.tenant(), None, Some(name));
        expect_outcome(
            &grant_mapping(&fake, name, member),
            "granted",
            &format!("roleMapping:{name}:member"),
            &format!("deploymentUser:{member}"),
        );
        assert_eq!(
            equivalent(&mapping(&fake, name)),
            equivalent(&original.role_mappings[name]),
            "{name} {member}"
        );
    }
}

#[test]
fn revoking_the_last_member_keeps_the_mapping_matching_no_one_and_warns() {
    let fake = demo_fake();
    let out = revoke_mapping(&fake, "jdoe-direct", "jdoe");
    expect_outcome(
        &out,
        "revoked",
        "roleMapping:jdoe-direct:member",
        "deploymentUser:jdoe",
    );
    let after = mapping(&fake, "jdoe-direct");
    assert_eq!(after["rules"], json!({"any": []}));
    assert_eq!(after["roles"], json!(["logs_reader"]));
    assert_eq!(after["metadata"], json!({"owner": "sre"}));
    let warn = log_lines(&out)
        .into_iter()
        .find(|l| l["level"] == "warn")
        .expect("a warning");
    assert!(
        warn["msg"].as_str().expect("msg").contains("match no one"),
        "{warn}"
    );
}

#[test]
fn revoking_one_of_several_conditions_warns_about_the_rest() {
    let fake = demo_fake();
    let out = revoke_mapping(&fake, "admins-any", "esadmin");
    expect_outcome(
        &out,
        "revoked",
        "roleMapping:admins-any:member",
        "deploymentUser:esadmin",
    );
    assert_eq!(
        mapping(&fake, "admins-any")["rules"],
        json!({"any": [{"field": {"groups": "cn=admins,dc=acme,dc=com"}}]})
    );
    let warn = log_lines(&out)
        .into_iter()
        .find(|l| l["level"] == "warn")
        .expect("a warning");
    assert!(
        warn["msg"].as_str().expect("msg").contains("groups"),
        "{warn}"
    );
}

#[test]
fn repeated_grants_and_revokes_succeed_without_writing() {
    let fake = demo_fake();
    let before = fake.tenant();
    let cases: [(&str, &str, &str, &str); 8] = [
        (
            "grant",
            "role:viewer:member",
            "deploymentUser:jdoe",
            "already_granted",
        ),
        (
            "grant",
            "role:viewer:member",
            "deploymentUser:bob",
            "already_granted",
        ),
        (
            "revoke",
            "role:editor:member",
            "deploymentUser:jdoe",
            "already_revoked",
        ),
        (
            "grant",
            "roleMapping:jdoe-direct:member",
            "deploymentUser:jdoe",
            "already_granted",
        ),
        (
            "grant",
            "roleMapping:mixed-values:member",
            "deploymentUser:j?smith",
            "already_granted",
        ),
        (
            "revoke",
            "roleMapping:esadmins-list:member",
            "deploymentUser:zoe",
            "already_revoked",
        ),
        // mallory is excluded by the mapping already.
        (
            "revoke",
            "roleMapping:except-user:member",
            "deploymentUser:mallory",
            "already_revoked",
        ),
        // A disabled mapping matches nobody.
        (
            "revoke",
            "roleMapping:disabled-mapping:member",
            "deploymentUser:zoe",
            "already_revoked",
        ),
    ];
    for (command, entitlement, principal, expected) in cases {
        expect_outcome(
            &baton(&fake, &[command, entitlement, principal]),
            expected,
            entitlement,
            principal,
        );
    }
    // After a real grant and revoke, repeating each is a no-op.
    for (command, expected) in [
        ("grant", "granted"),
        ("grant", "already_granted"),
        ("revoke", "revoked"),
        ("revoke", "already_revoked"),
    ] {
        let out = baton(
            &fake,
            &[
                command,
                "roleMapping:saml-realm:member",
                "deploymentUser:zoe",
            ],
        );
        assert_eq!(outcome(&out)["outcome"], expected);
        let out = baton(
            &fake,
            &[command, "role:logs_reader:member", "deploymentUser:carol"],
        );
        assert_eq!(outcome(&out)["outcome"], expected);
    }
    let puts = writes(&fake);
    assert_eq!(puts.len(), 4, "{puts:#?}");
    // The wrapped rule is left as `any:[R]`, which matches the same users as R.
    others_unchanged(&before, &fake.tenant(), None, Some("saml-realm"));
    assert_eq!(
        mapping(&fake, "saml-realm")["rules"],
        json!({"any": [{"field": {"realm.name": "saml1"}}]})
    );
    assert_eq!(
        equivalent(&mapping(&fake, "saml-realm")),
        equivalent(&before.role_mappings["saml-realm"])
    );
}

#[test]
fn a_role_grant_keeps_the_disabled_state_and_metadata() {
    let fake = demo_fake();
    let before = fake.tenant();
    let out = baton(
        &fake,
        &[
            "grant",
            "role:logs_reader:member",
            "deploymentUser:old.contractor",
        ],
    );
    expect_outcome(
        &out,
        "granted",
        "role:logs_reader:member",
        "deploymentUser:old.contractor",
    );
    let after = user(&fake, "old.contractor");
    assert_eq!(after["roles"], json!(["viewer", "logs_reader"]));
    assert_eq!(after["enabled"], json!(false));
    assert_eq!(after["metadata"], json!({"contract_end": "2024-12-31"}));
    assert_eq!(after["full_name"], json!("Old Contractor"));
    others_unchanged(&before, &fake.tenant(), Some("old.contractor"), None);
    let put = writes(&fake).pop().expect("a PUT");
    assert_eq!(put.path, "/_security/user/old.contractor");
    let body: Value = serde_json::from_str(&put.body).expect("json body");
    assert_eq!(
        body,
        json!({"roles":["viewer","logs_reader"],"full_name":"Old Contractor","email":null,
               "metadata":{"contract_end":"2024-12-31"},"enabled":false})
    );
    let out = baton(
        &fake,
        &[
            "revoke",
            "role:logs_reader:member",
            "deploymentUser:old.contractor",
        ],
    );
    expect_outcome(
        &out,
        "revoked",
        "role:logs_reader:member",
        "deploymentUser:old.contractor",
    );
    assert_eq!(fake.tenant(), before);
}

#[test]
fn a_role_that_no_longer_exists_can_still_be_revoked() {
    let fake = demo_fake();
    let out = baton(
        &fake,
        &["revoke", "role:ghost_role:member", "deploymentUser:alice"],
    );
    expect_outcome(
        &out,
        "revoked",
        "role:ghost_role:member",
        "deploymentUser:alice",
    );
    assert_eq!(user(&fake, "alice")["roles"], json!(["sre_admin"]));
    // Every copy of a duplicated role goes.
    let out = baton(
        &fake,
        &["revoke", "role:viewer:member", "deploymentUser:bob"],
    );
    expect_outcome(&out, "revoked", "role:viewer:member", "deploymentUser:bob");
    assert_eq!(user(&fake, "bob")["roles"], json!([]));
}

#[test]
fn dry_run_prints_the_exact_request_and_sends_nothing() {
    for (entitlement, principal) in [
        ("role:logs_reader:member", "deploymentUser:svc ingest"),
        ("roleMapping:saml-realm:member", "deploymentUser:ops:oncall"),
    ] {
        let fake = demo_fake();
        let before = fake.tenant();
        let out = baton(&fake, &["grant", entitlement, principal, "--dry-run"]);
        let line = outcome(&out);
        assert_eq!(line["outcome"], "would_grant");
        assert!(writes(&fake).is_empty());
        assert_eq!(fake.tenant(), before);
        let printed = stdout(&out);
        let mut lines = printed.lines();
        let request_line = lines.next().expect("request line");
        let body = lines.next().expect("body line");
        assert_eq!(lines.next(), None);
        // The real run sends exactly what the dry run printed.
        let out = baton(&fake, &["grant", entitlement, principal]);
        assert_eq!(outcome(&out)["outcome"], "granted");
        let put = writes(&fake).pop().expect("a PUT");
        assert_eq!(request_line, format!("PUT {}", put.path));
        assert_eq!(body, put.body);
        // Nothing to send now.
        fake.clear_requests();
        let out = baton(&fake, &["grant", entitlement, principal, "--dry-run"]);
        assert_eq!(outcome(&out)["outcome"], "already_granted");
        assert!(
            stdout(&out).starts_with("nothing would be sent: "),
            "{}",
            stdout(&out)
        );
        assert!(writes(&fake).is_empty());
    }
    let fake = demo_fake();
    let out = baton(
        &fake,
        &[
            "revoke",
            "roleMapping:esadmins-list:member:deploymentUser:esadmin01",
            "--dry-run",
        ],
    );
    assert_eq!(outcome(&out)["outcome"], "would_revoke");
    assert_eq!(
        stdout(&out),
        "PUT /_security/role_mapping/esadmins-list\n{\"enabled\":true,\"roles\":[\"superuser\"],\"rules\":{\"field\":{\"username\":\"esadmin02\"}},\"metadata\":{\"owner\":\"iam-team\"}}\n"
    );
    assert!(writes(&fake).is_empty());
}

/// Runs a failing command and checks exit 1, one error line with every expected piece, and no change.
fn assert_fails(fake: &FakeElastic, args: &[&str], expected: &[&str]) {
    let before = fake.tenant();
    let out = baton(fake, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    let lines = log_lines(&out);
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "{args:?}: {}", stderr(&out));
    assert_eq!(lines.last(), Some(errors[0]), "the error line comes last");
    let error = errors[0]["error"].as_str().expect("error text");
    for piece in expected {
        assert!(error.contains(piece), "{args:?}: {error:?} lacks {piece:?}");
    }
    assert!(stdout(&out).is_empty());
    assert_eq!(fake.tenant(), before, "{args:?} changed the tenant");
}

#[test]
fn every_error_case_exits_1_with_its_message_and_changes_nothing() {
    let fake = demo_fake();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["grant", "role:viewer:member", "deploymentUser:zoe"],
            &["no native user `zoe`", "role mappings"],
        ),
        (
            &["revoke", "role:viewer:member", "deploymentUser:zoe"],
            &["no native user `zoe`"],
        ),
        (
            &["grant", "role:viewer:member", "deploymentUser:elastic"],
            &["`elastic` is a built-in (reserved) user", "password"],
        ),
        (
            &[
                "revoke",
                "role:kibana_system:member",
                "deploymentUser:kibana_system",
            ],
            &["reserved"],
        ),
        (
            &["grant", "role:no_such_role:member", "deploymentUser:jdoe"],
            &["no role `no_such_role`"],
        ),
        (
            &["revoke", "role:no_such_role:member", "deploymentUser:jdoe"],
            &["no role `no_such_role`"],
        ),
        (
            &[
                "grant",
                "roleMapping:no-such-mapping:member",
                "deploymentUser:jdoe",
            ],
            &["no role mapping `no-such-mapping`"],
        ),
        (
            &[
                "revoke",
                "roleMapping:no-such-mapping:member",
                "deploymentUser:jdoe",
            ],
            &["no role mapping `no-such-mapping`"],
        ),
        (
            &[
                "grant",
                "roleMapping:sso-read-only-operator-mapping:member",
                "deploymentUser:zoe",
            ],
            &["operator-defined", "cannot be changed"],
        ),
        (
            &[
                "revoke",
                "roleMapping:sso-read-only-operator-mapping:member",
                "deploymentUser:frank",
            ],
            &["operator-defined"],
        ),
        (
            &[
                "grant",
                "roleMapping:disabled-mapping:member",
                "deploymentUser:zoe",
            ],
            &["`disabled-mapping` is disabled"],
        ),
        (
            &[
                "revoke",
                "roleMapping:contractor-wildcard:member",
                "deploymentUser:contractor-zoe",
            ],
            &[
                "still be matched",
                "the wildcard `contractor-*` at rules",
                "nothing was changed",
            ],
        ),
        (
            &[
                "revoke",
                "roleMapping:mixed-values:member",
                "deploymentUser:dev-joe",
            ],
            &["the wildcard `dev-*`"],
        ),
        (
            &[
                "revoke",
                "roleMapping:terminated-complex:member",
                "deploymentUser:es-admin",
            ],
            &[
                "would still be named",
                "the username `es-admin` at rules.all[0].any[1]",
                "groups",
                "nothing was changed",
            ],
        ),
        (
            &[
                "revoke",
                "roleMapping:svc-regex:member",
                "deploymentUser:svc-etl-01",
            ],
            &[
                "still be matched",
                "the regular expression `/svc-[a-z]+-[0-9]{2}/` at rules",
            ],
        ),
    ];
    for (args, expected) in cases {
        fake.clear_requests();
        assert_fails(&fake, args, expected);
        assert!(writes(&fake).is_empty(), "{args:?} wrote");
    }
}

#[test]
fn a_refused_write_names_the_request_and_changes_nothing() {
    let fake = demo_fake();
    fake.inject(Fault::status("/_security/role_mapping/saml-realm", 403).method("PUT"));
    assert_fails(
        &fake,
        &[
            "grant",
            "roleMapping:saml-realm:member",
            "deploymentUser:zoe",
        ],
        &[
            "cannot update the role mapping `saml-realm`",
            "PUT /_security/role_mapping/saml-realm",
            "403",
        ],
    );
    fake.inject(Fault::status("/_security/user/jdoe", 500).method("PUT"));
    assert_fails(
        &fake,
        &["grant", "role:editor:member", "deploymentUser:jdoe"],
        &[
            "cannot update the roles of `jdoe`",
            "PUT /_security/user/jdoe",
            "500",
            "gave up after 5 attempts",
        ],
    );
    let puts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/_security/user/jdoe")
        .count();
    assert_eq!(
        puts, 5,
        "the full-replace write is retried up to --max-retries"
    );
}

#[test]
fn a_write_lost_to_another_client_is_reported() {
    let fake = demo_fake();
    fake.inject(Fault::lost_write("/_security/").method("PUT"));
    assert_fails(
        &fake,
        &[
            "grant",
            "roleMapping:saml-realm:member",
            "deploymentUser:zoe",
        ],
        &["reading the role mapping `saml-realm` back", "someone else"],
    );
    assert_fails(
        &fake,
        &["revoke", "role:viewer:member", "deploymentUser:jdoe"],
        &["reading `jdoe` back", "still there", "someone else"],
    );
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let fake = demo_fake();
    let (_, key) = demo_keys();
    let url = fake.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "grant",
                "role:viewer:member",
                "deploymentUser:jdoe",
                "--deployment-api-key",
                &key,
            ],
            "--deployment-endpoint",
        ),
        (
            vec![
                "grant",
                "role:viewer:member",
                "deploymentUser:jdoe",
                "--deployment-endpoint",
                &url,
            ],
            "--deployment-api-key",
        ),
        (
            vec![
                "grant",
                "role:viewer",
                "deploymentUser:jdoe",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "not an entitlement id",
        ),
        (
            vec![
                "grant",
                "role:viewer:member",
                "user:1",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "only deployment users",
        ),
        (
            vec![
                "revoke",
                "role:viewer:member",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "needs the principal",
        ),
        (
            vec![
                "revoke",
                "role:viewer:member:user:1",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "not a grant id",
        ),
        (
            vec![
                "--grant-entitlement",
                "role:viewer:member",
                "--grant-principal",
                "jdoe",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "missing --grant-principal-type",
        ),
        (
            vec![
                "--grant-entitlement",
                "role:viewer:member",
                "--revoke-grant",
                "role:viewer:member:deploymentUser:jdoe",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "cannot be combined",
        ),
        (
            vec![
                "grant",
                "role:viewer:member",
                "deploymentUser:jdoe",
                "--revoke-grant",
                "x",
                "--deployment-endpoint",
                &url,
                "--deployment-api-key",
                &key,
            ],
            "cannot be combined",
        ),
        (
            vec![
                "grant",
                "role:viewer:member",
                "deploymentUser:jdoe",
                "--deployment-endpoint",
                "es.example:9243",
                "--deployment-api-key",
                &key,
            ],
            "--deployment-endpoint",
        ),
    ];
    for (args, expected) in cases {
        let mut all: Vec<String> = vec!["--log-format".into(), "console".into()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
        assert!(!err.contains(&key), "{err}");
    }
    assert_eq!(fake.request_count(), 0);
}

#[test]
fn go_style_flags_and_variables_grant_and_revoke() {
    let fake = demo_fake();
    let out = baton(
        &fake,
        &[
            "--grant-entitlement",
            "roleMapping:saml-realm:member",
            "--grant-principal-type",
            "deploymentUser",
            "--grant-principal",
            "ops:oncall",
            "--provisioning",
        ],
    );
    expect_outcome(
        &out,
        "granted",
        "roleMapping:saml-realm:member",
        "deploymentUser:ops:oncall",
    );
    let out = baton(
        &fake,
        &[
            "--revoke-grant",
            "roleMapping:saml-realm:member:deploymentUser:ops:oncall",
        ],
    );
    expect_outcome(
        &out,
        "revoked",
        "roleMapping:saml-realm:member",
        "deploymentUser:ops:oncall",
    );
    assert_eq!(
        mapping(&fake, "saml-realm")["rules"],
        json!({"any": [{"field": {"realm.name": "saml1"}}]})
    );

    // The same through BATON_* variables, endpoint and key included.
    let (_, key) = demo_keys();
    let out = output(
        binary()
            .env("BATON_DEPLOYMENT_ENDPOINT", fake.url())
            .env("BATON_DEPLOYMENT_API_KEY", &key)
            .env("BATON_LOG_FORMAT", "json")
            .env("BATON_GRANT_ENTITLEMENT", "role:metrics_writer:member")
            .env("BATON_GRANT_PRINCIPAL_TYPE", "deploymentUser")
            .env("BATON_GRANT_PRINCIPAL", "carol"),
    );
    expect_outcome(
        &out,
        "granted",
        "role:metrics_writer:member",
        "deploymentUser:carol",
    );
    let out = output(
        binary()
            .env("BATON_DEPLOYMENT_ENDPOINT", fake.url())
            .env("BATON_DEPLOYMENT_API_KEY", &key)
            .env("BATON_LOG_FORMAT", "json")
            .env(
                "BATON_REVOKE_GRANT",
                "role:metrics_writer:member:deploymentUser:carol",
            )
            .arg("--dry-run"),
    );
    assert_eq!(outcome(&out)["outcome"], "would_revoke");
    assert!(
        stdout(&out).starts_with("PUT /_security/user/carol\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(user(&fake, "carol")["roles"], json!(["metrics_writer"]));
}

#[test]
fn names_with_colons_and_spaces_work() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        let mut m = t.role_mappings["saml-realm"].clone();
        m["rules"] = json!({"field": {"username": "svc ingest"}});
        t.role_mappings.insert("team:ops:member".into(), m);
    });
    let out = baton(
        &fake,
        &[
            "grant",
            "role:logs_reader:member",
            "deploymentUser:ops:oncall",
        ],
    );
    expect_outcome(
        &out,
        "granted",
        "role:logs_reader:member",
        "deploymentUser:ops:oncall",
    );
    assert_eq!(
        user(&fake, "ops:oncall")["roles"],
        json!(["editor", "logs_reader"])
    );
    let out = baton(
        &fake,
        &[
            "grant",
            "roleMapping:team:ops:member:member",
            "deploymentUser:ops:oncall",
        ],
    );
    expect_outcome(
        &out,
        "granted",
        "roleMapping:team:ops:member:member",
        "deploymentUser:ops:oncall",
    );
    assert_eq!(
        mapping(&fake, "team:ops:member")["rules"],
        json!({"field": {"username": ["svc ingest", "ops:oncall"]}})
    );
    let out = baton(
        &fake,
        &[
            "revoke",
            "roleMapping:team:ops:member:member:deploymentUser:svc ingest",
        ],
    );
    expect_outcome(
        &out,
        "revoked",
        "roleMapping:team:ops:member:member",
        "deploymentUser:svc ingest",
    );
    assert_eq!(
        mapping(&fake, "team:ops:member")["rules"],
        json!({"field": {"username": "ops:oncall"}})
    );
    let paths: BTreeSet<String> = writes(&fake).into_iter().map(|r| r.path).collect();
    assert!(paths.contains("/_security/user/ops:oncall"), "{paths:?}");
    assert!(
        paths.contains("/_security/role_mapping/team:ops:member"),
        "{paths:?}"
    );
}

#[test]
fn the_console_outcome_is_one_sentence() {
    let fake = demo_fake();
    let (_, key) = demo_keys();
    let args: Vec<String> = [
        "--deployment-endpoint",
        &fake.url(),
        "--deployment-api-key",
        &key,
        "--log-format",
        "console",
        "--log-level",
        "info",
        "grant",
        "role:viewer:member",
        "deploymentUser:carol",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = run_ok(&args);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.trim_end()
            .ends_with("INFO  granted role:viewer:member to deploymentUser:carol"),
        "{err}"
    );
    let out = run_ok(&args);
    assert!(stderr(&out)
        .trim_end()
        .ends_with("INFO  already granted role:viewer:member to deploymentUser:carol"));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_sync_after_a_grant_shows_the_new_grants() {
    let fake = demo_fake();
    let (_dir, file) = temp_target();
    let out = grant_mapping(&fake, "saml-realm", "zoe");
    assert_eq!(outcome(&out)["outcome"], "granted");
    let out = baton(
        &fake,
        &["grant", "role:logs_reader:member", "deploymentUser:carol"],
    );
    assert_eq!(outcome(&out)["outcome"], "granted");
    let out = revoke_mapping(&fake, "esadmins-list", "esadmin01");
    assert_eq!(outcome(&out)["outcome"], "revoked");
    run_ok(&sync_args(&fake, &file));
    let c1z = open(&file);
    let sync = c1z.default_sync().expect("query").expect("a sync");
    let grants: BTreeSet<String> = c1z
        .grants(&sync.sync_id)
        .expect("grants")
        .into_iter()
        .map(|g| g.external_id)
        .collect();
    for expected in [
        "roleMapping:saml-realm:member:deploymentUser:zoe",
        "role:logs_reader:member:deploymentUser:carol",
        "roleMapping:esadmins-list:member:deploymentUser:esadmin02",
    ] {
        assert!(grants.contains(expected), "{expected} missing");
    }
    assert!(!grants.contains("roleMapping:esadmins-list:member:deploymentUser:esadmin01"));
}

#[test]
fn dot_names_are_refused_and_tabs_are_sent_encoded() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        for name in ["..", "tab\tx"] {
            let mut u = t.users["jdoe"].clone();
            u["username"] = json!(name);
            t.users.insert(name.into(), u);
        }
    });
    let before = fake.tenant();
    let grant: [&str; 3] = ["grant", "role:editor:member", "deploymentUser:.."];
    let dry_run: [&str; 4] = [
        "grant",
        "role:editor:member",
        "deploymentUser:..",
        "--dry-run",
    ];
    for args in [&grant[..], &dry_run[..]] {
        fake.clear_requests();
        let out = baton(&fake, args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("nothing was sent"),
            "{}",
            stderr(&out)
        );
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    }
    fake.clear_requests();
    let out = baton(
        &fake,
        &[
            "grant",
            "role:editor:member",
            "deploymentUser:tab\tx",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("PUT /_security/user/tab%09x\n"),
        "{}",
        stdout(&out)
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths[0], "/_security/user/tab%09x");
    assert_eq!(fake.tenant(), before);
}

#[cfg(unix)]
#[test]
fn an_interrupted_grant_says_the_change_may_have_been_applied() {
    let fake = demo_fake();
    // The write is held for 30 s once it arrives: the signal then comes while the PUT is in flight.
    fake.inject(
        Fault::delay(
            "/_security/user/old.contractor",
            std::time::Duration::from_secs(30),
        )
        .method("PUT"),
    );
    let mut args = es_flags(&fake);
    args.extend([
        "grant".into(),
        "role:logs_reader:member".into(),
        "deploymentUser:old.contractor".into(),
    ]);
    let child = binary()
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !writes(&fake).iter().any(|r| r.method == "PUT") {
        assert!(std::time::Instant::now() < deadline, "no PUT arrived");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("may or may not have been applied"),
        "{stderr}"
    );
    assert!(!stderr.contains("unchanged"), "{stderr}");
}

#[test]
fn a_grant_that_overrides_an_except_says_so_also_in_a_dry_run() {
    let fake = demo_fake();
    let except = r#"{"except":{"field":{"username":"mallory"}}}"#;
    let out = baton(
        &fake,
        &[
            "grant",
            "roleMapping:except-user:member",
            "deploymentUser:mallory",
            "--dry-run",
        ],
    );
    assert_eq!(outcome(&out)["outcome"], "would_grant");
    let printed = stdout(&out);
    let first = printed.lines().next().expect("a line");
    assert!(
        first.starts_with("warning: ") && first.contains(except) && first.contains("overrides"),
        "{printed}"
    );
    let warns_about = |out: &Output| {
        log_lines(out)
            .into_iter()
            .any(|l| l["level"] == "warn" && l["msg"].as_str().is_some_and(|m| m.contains(except)))
    };
    assert!(warns_about(&out), "{}", stderr(&out));
    assert!(writes(&fake).is_empty());
    let out = grant_mapping(&fake, "except-user", "mallory");
    expect_outcome(
        &out,
        "granted",
        "roleMapping:except-user:member",
        "deploymentUser:mallory",
    );
    assert!(warns_about(&out), "{}", stderr(&out));
    // A user the exclusion does not name gets no such warning.
    let out = grant_mapping(&fake, "except-user", "ops:oncall");
    assert!(!stderr(&out).contains("overrides"), "{}", stderr(&out));
}

#[test]
fn the_external_realm_twin_of_a_native_user_is_edited_by_its_username() {
    let fake = demo_fake();
    // `jdoe-direct` names jdoe; the sync shows that membership on `deploymentUser:external:jdoe`.
    let out = grant_mapping(&fake, "jdoe-direct", "external:jdoe");
    expect_outcome(
        &out,
        "already_granted",
        "roleMapping:jdoe-direct:member",
        "deploymentUser:external:jdoe",
    );
    let out = revoke_mapping(&fake, "jdoe-direct", "external:jdoe");
    expect_outcome(
        &out,
        "revoked",
        "roleMapping:jdoe-direct:member",
        "deploymentUser:external:jdoe",
    );
    assert!(!mapping(&fake, "jdoe-direct").to_string().contains("jdoe\""));
}

#[test]
fn a_mapping_whose_rules_cannot_be_read_is_not_edited() {
    let fake = demo_fake();
    fake.update_tenant(|t| {
        t.role_mappings.insert(
            "future-rules".into(),
            json!({"enabled": true, "roles": ["viewer"],
                   "rules": {"some_future_operator": {"field": {"username": "erin"}}}, "metadata": {}}),
        );
    });
    let before = fake.tenant();
    let out = grant_mapping(&fake, "future-rules", "erin");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert!(writes(&fake).is_empty());
    assert_eq!(fake.tenant(), before);
}
