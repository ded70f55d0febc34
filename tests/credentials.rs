//! Credentials in the access review: API keys (every shape, owners, paging, fallbacks), service
//! accounts and pending Cloud invitations, synced by the real binary from the fake and read back as
//! Baton reads the file.

mod common;

use baton_c1z::proto::{
    find_annotation, profile_bool, profile_string, AccountType, CredentialType, GrantMetadata,
    Kind, Resource, ResourceId, ResourceType, SecretTrait, Struct, Trait, UserStatusValue,
    UserTrait,
};
use common::*;
use elastic_fake::{EsVersion, FakeElastic, Fault, Tenant};
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

/// Resources, grants (with their metadata) and stderr of one sync of `fake`.
struct Synced {
    resources: BTreeMap<String, Resource>,
    grants: BTreeMap<String, Option<Struct>>,
    types: BTreeMap<String, ResourceType>,
    stderr: String,
}

fn sync(fake: &FakeElastic) -> Synced {
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(fake, &path));
    read(&path, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn read(path: &Path, stderr: String) -> Synced {
    let file = open(path);
    let sync = file.default_sync().expect("query").expect("sync").sync_id;
    Synced {
        resources: file
            .resources(&sync)
            .expect("resources")
            .into_iter()
            .map(|r| (r.external_id, r.data))
            .collect(),
        grants: file
            .grants(&sync)
            .expect("grants")
            .into_iter()
            .map(|g| {
                let metadata = find_annotation::<GrantMetadata>(&g.data.annotations)
                    .expect("decodes")
                    .and_then(|m| m.metadata);
                (g.external_id, metadata)
            })
            .collect(),
        types: file
            .resource_types(&sync)
            .expect("types")
            .into_iter()
            .map(|t| (t.external_id, t.data))
            .collect(),
        stderr,
    }
}

fn secret(r: &Resource) -> SecretTrait {
    find_annotation::<SecretTrait>(&r.annotations)
        .expect("decodes")
        .expect("has a SecretTrait")
}

fn strings(profile: &Struct, key: &str) -> Vec<String> {
    match profile.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::ListValue(list)) => list
            .values
            .iter()
            .filter_map(|v| match &v.kind {
                Some(Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn api_keys(synced: &Synced) -> Vec<&str> {
    synced
        .resources
        .keys()
        .filter_map(|k| k.strip_prefix("apiKey:"))
        .collect()
}

#[test]
fn api_keys_of_every_shape_carry_a_secret_trait_read_back_exactly() {
    let fake = demo_fake();
    let synced = sync(&fake);
    let key_type = &synced.types["apiKey"];
    assert_eq!(key_type.traits, [Trait::Secret as i32]);
    assert_eq!(Trait::Secret as i32, 5, "TRAIT_SECRET in the Go SDK");
    // Expired (old-export) and invalidated (revoked-key) keys are left out, and counted in the log.
    assert_eq!(
        api_keys(&synced),
        [
            "AdaSs0Bd0cW1mF3pQ7dE",
            "CcsRp1Bd0cW1mF3vB4hJ",
            "Ci9rObBd0cW1mF3zX1fG",
            "FlEetAg1d0cW1mF3nM5k",
            "Qm4tYhRBd0cW1mF3sD2b",
            "S4mDsh8Bd0cW1mF3kL9c",
            "demo-id",
            "k7Rz2pQBd0cW1mF3x9aA"
        ]
    );
    assert!(
        synced.stderr.contains(r#""invalidated":1"#) && synced.stderr.contains(r#""expired":1"#),
        "{}",
        synced.stderr
    );

    // A REST key with its own role descriptors, owned by a SAML user who has a profile.
    let sam = &synced.resources["apiKey:S4mDsh8Bd0cW1mF3kL9c"];
    assert_eq!(sam.display_name, "sam-dashboards");
    let t = secret(sam);
    let owner = ResourceId::new("deploymentUser", "sam.saml");
    assert_eq!(t.identity_id.as_ref(), Some(&owner));
    assert_eq!(t.created_by_id.as_ref(), Some(&owner));
    assert_eq!(t.credential_type, CredentialType::StaticSecret as i32);
    assert_eq!(t.credential_detail, "elasticsearch_api_key");
    let created = t.created_at.expect("created");
    assert_eq!((created.seconds, created.nanos), (1_742_000_000, 0));
    assert_eq!(sam.created_at, Some(created));
    assert_eq!(t.expires_at, None, "never expires");
    assert_eq!(t.last_used_at, None, "Elasticsearch does not report it");
    let p = t.profile.expect("profile");
    assert_eq!(sam.profile.as_ref(), Some(&p));
    assert_eq!(profile_string(&p, "type"), Some("rest"));
    assert_eq!(profile_string(&p, "realm"), Some("saml1"));
    assert_eq!(
        profile_string(&p, "owner_id"),
        Some("deploymentUser:sam.saml")
    );
    assert_eq!(profile_string(&p, "expires"), Some("never"));
    assert_eq!(profile_string(&p, "metadata"), Some(r#"{"app":"grafana"}"#));
    assert_eq!(profile_bool(&p, "inherits_owner_privileges"), Some(false));
    assert_eq!(strings(&p, "cluster_privileges"), ["monitor"]);
    assert_eq!(
        strings(&p, "index_privileges"),
        ["logs-*,metrics-*: read,view_index_metadata"]
    );
    assert_eq!(strings(&p, "limited_by_roles"), ["viewer"]);

    // A key without role descriptors can do everything its (native) owner can.
    let jdoe = secret(&synced.resources["apiKey:k7Rz2pQBd0cW1mF3x9aA"]);
    assert_eq!(
        jdoe.identity_id,
        Some(ResourceId::new("deploymentUser", "jdoe"))
    );
    assert_eq!(
        jdoe.expires_at.map(|e| e.seconds),
        Some(4_102_444_800),
        "2100-01-01"
    );
    let p = jdoe.profile.expect("profile");
    assert_eq!(profile_bool(&p, "inherits_owner_privileges"), Some(true));
    assert!(strings(&p, "index_privileges").is_empty());
    assert_eq!(strings(&p, "limited_by_roles"), ["logs_reader", "viewer"]);
    assert_eq!(
        strings(&p, "limited_by_index_privileges"),
        [
            ".alerts*,.preview.alerts*: read,view_index_metadata",
            ".siem-signals*,.lists-*,.items-*: read,view_index_metadata",
            "/~(([.]|ilm-history-).*)/: read,view_index_metadata",
            "logs-*: read,view_index_metadata"
        ]
    );

    // A cross-cluster key shows what it gives remote clusters.
    let ccs = secret(&synced.resources["apiKey:CcsRp1Bd0cW1mF3vB4hJ"]);
    assert_eq!(ccs.credential_detail, "elasticsearch_cross_cluster_api_key");
    let p = ccs.profile.expect("profile");
    assert_eq!(profile_string(&p, "type"), Some("cross_cluster"));
    assert_eq!(
        strings(&p, "cluster_privileges"),
        ["cross_cluster_replication", "cross_cluster_search"]
    );
    assert!(profile_string(&p, "access").is_some_and(|a| a.contains("replication")));

    // Every key is owned: one owner grant, purpose OWNERSHIP.
    for id in api_keys(&synced) {
        let owner = secret(&synced.resources[&format!("apiKey:{id}")])
            .identity_id
            .expect("owner");
        let grant = format!(
            "apiKey:{id}:owner:{}:{}",
            owner.resource_type, owner.resource
        );
        assert!(synced.grants.contains_key(&grant), "{grant}");
        assert!(
            synced
                .resources
                .contains_key(&format!("{}:{}", owner.resource_type, owner.resource)),
            "the owner of {id} is a resource in the file"
        );
    }
}

#[test]
fn key_owners_use_the_ids_of_their_realm_users() {
    let fake = demo_fake();
    let synced = sync(&fake);
    let owner = |id: &str| {
        secret(&synced.resources[&format!("apiKey:{id}")])
            .identity_id
            .map(|o| format!("{}:{}", o.resource_type, o.resource))
    };
    // The native jdoe, and jdoe of the LDAP realm: the external-realm twin role mappings also use.
    assert_eq!(
        owner("k7Rz2pQBd0cW1mF3x9aA").as_deref(),
        Some("deploymentUser:jdoe")
    );
    assert_eq!(
        owner("Qm4tYhRBd0cW1mF3sD2b").as_deref(),
        Some("deploymentUser:external:jdoe")
    );
    // A Cloud SSO user: the profile user of the same username (the Cloud user id).
    assert_eq!(
        owner("AdaSs0Bd0cW1mF3pQ7dE").as_deref(),
        Some("deploymentUser:2894412301")
    );
    // A service account owns the keys Fleet creates.
    assert_eq!(
        owner("FlEetAg1d0cW1mF3nM5k").as_deref(),
        Some("serviceAccount:elastic/fleet-server")
    );
    // Owners no other list names become deployment users, with their realm.
    for (user, realm) in [("ci.robot", "oidc1"), ("governance-svc", "default_file")] {
        let r = &synced.resources[&format!("deploymentUser:{user}")];
        let t = find_annotation::<UserTrait>(&r.annotations)
            .expect("decodes")
            .expect("user trait");
        assert_eq!(
            t.status.map(|s| s.status),
            Some(UserStatusValue::Unspecified as i32)
        );
        let p = t.profile.expect("profile");
        assert_eq!(profile_string(&p, "realm"), Some(realm), "{user}");
        assert!(profile_string(&p, "note").is_some_and(|n| n.contains("API keys")));
    }
}

#[test]
fn api_keys_are_read_one_request_per_page() {
    let mut tenant = Tenant::demo().expect("demo");
    let template = tenant.api_keys[1].clone();
    for i in 0..2_345 {
        let mut key = template.clone();
        key["id"] = format!("bulk{i:05}").into();
        key["name"] = format!("bulk-{i:05}").into();
        key["creation"] = (1_750_000_000_000_i64 + i64::from(i % 700)).into();
        tenant.api_keys.push(key);
    }
    let fake = FakeElastic::start(tenant).expect("fake");
    let synced = sync(&fake);
    let pages: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/_security/_query/api_key"))
        .map(|r| r.body)
        .collect();
    // 2,355 keys at 1,000 a page: three requests, each after the last key of the one before.
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(!pages[0].contains("search_after"));
    assert!(pages[1].contains("search_after") && pages[2].contains("search_after"));
    // Many keys share a creation time: the name and index order keep the pages disjoint and complete.
    assert_eq!(api_keys(&synced).len(), 8 + 2_345);
}

#[test]
fn a_key_that_may_not_read_limited_by_still_lists_the_keys() {
    let fake = demo_fake();
    fake.inject(Fault::status(
        "/_security/_query/api_key?with_limited_by=true",
        403,
    ));
    let synced = sync(&fake);
    let paths: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("api_key"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        [
            "/_security/_query/api_key?with_limited_by=true",
            "/_security/_query/api_key"
        ]
    );
    assert_eq!(api_keys(&synced).len(), 8);
    let p = secret(&synced.resources["apiKey:k7Rz2pQBd0cW1mF3x9aA"])
        .profile
        .expect("profile");
    assert!(!p.fields.contains_key("limited_by_roles"));
    assert!(synced.stderr.contains("limited_by"), "{}", synced.stderr);
}

#[test]
fn before_8_5_keys_are_queried_without_limited_by_and_older_fields() {
    let fake = FakeElastic::start(
        Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::new(8, 4, 3)),
    )
    .expect("fake");
    let synced = sync(&fake);
    let answers: Vec<(String, u16)> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("api_key"))
        .map(|r| (r.path, r.status))
        .collect();
    // The version from `GET /` says that 8.4 has the query but not `with_limited_by`: one request.
    assert_eq!(answers, [("/_security/_query/api_key".to_owned(), 200)]);
    // Without `type` (8.10) every key reads as a REST key; without `realm_type` (8.14) the realm's
    // name tells the native realm.
    let p = secret(&synced.resources["apiKey:k7Rz2pQBd0cW1mF3x9aA"])
        .profile
        .expect("profile");
    assert_eq!(profile_string(&p, "type"), Some("rest"));
    assert_eq!(profile_string(&p, "realm_type"), None);
    assert_eq!(profile_string(&p, "owner_id"), Some("deploymentUser:jdoe"));
}

#[test]
fn unreadable_credentials_are_warnings_not_failures() {
    let fake = demo_fake();
    fake.inject(Fault::status("/_security/_query/api_key", 403));
    fake.inject(Fault::status("/_security/service", 403));
    fake.inject(Fault::status(
        "/api/v1/organizations/4125567842/invitations",
        403,
    ));
    let synced = sync(&fake);
    for warning in [
        "API keys are not readable",
        "service accounts are not readable",
        "invitations are not readable",
    ] {
        assert!(
            synced.stderr.contains(warning),
            "{warning}: {}",
            synced.stderr
        );
    }
    assert!(synced.stderr.contains("403"));
    assert!(api_keys(&synced).is_empty());
    assert!(!synced
        .resources
        .keys()
        .any(|k| k.starts_with("serviceAccount:")));
    // The other organization's invitation is still read.
    assert!(!synced
        .resources
        .contains_key("user:invitation:new.hire@acme.example"));
    assert!(synced
        .resources
        .contains_key("user:invitation:intern@acme.example"));
    // The rest of the sync is whole.
    assert!(synced.resources.contains_key("deploymentUser:jdoe"));
}

#[test]
fn invitations_are_users_with_pending_grants() {
    let fake = demo_fake();
    let synced = sync(&fake);
    let invited: Vec<&str> = synced
        .resources
        .keys()
        .filter_map(|k| k.strip_prefix("user:invitation:"))
        .collect();
    // The expired invitation (stale@acme.example) is left out.
    assert_eq!(
        invited,
        [
            "auditor@partner.example",
            "intern@acme.example",
            "new.hire@acme.example"
        ]
    );
    let r = &synced.resources["user:invitation:new.hire@acme.example"];
    assert_eq!(r.display_name, "new.hire@acme.example (invited)");
    assert_eq!(
        r.parent_resource_id,
        Some(ResourceId::new("organization", "4125567842"))
    );
    let t = find_annotation::<UserTrait>(&r.annotations)
        .expect("decodes")
        .expect("user trait");
    assert_eq!(t.emails[0].address, "new.hire@acme.example");
    assert_eq!(t.account_type, AccountType::Human as i32);
    let status = t.status.expect("status");
    assert_eq!(status.status, UserStatusValue::Unspecified as i32);
    assert!(status.details.contains("invited") && status.details.contains("2099-12-01"));
    let p = t.profile.expect("profile");
    assert_eq!(profile_bool(&p, "invited"), Some(true));
    assert_eq!(
        profile_string(&p, "expires_at"),
        Some("2099-12-01T10:00:00Z")
    );

    let pending: BTreeMap<&str, &Struct> = synced
        .grants
        .iter()
        .filter(|(id, _)| id.contains(":user:invitation:new.hire@acme.example"))
        .filter_map(|(id, m)| m.as_ref().map(|m| (id.as_str(), m)))
        .collect();
    assert_eq!(
        pending.keys().copied().collect::<Vec<_>>(),
        [
            "deployment:0e3a7c9d2b1f4e6a8c5d7f9b1a3c5e7d:editor:user:invitation:new.hire@acme.example",
            "organization:4125567842:deployment-viewer:user:invitation:new.hire@acme.example"
        ]
    );
    for m in pending.values() {
        assert_eq!(profile_bool(m, "pending"), Some(true));
        assert_eq!(
            profile_string(m, "invitation"),
            Some("new.hire@acme.example")
        );
    }
    // Expansion gives the organization-wide role on each deployment (its source is the pending grant).
    assert!(synced.grants.contains_key(
        "deployment:3f6b1d8e0c2a4f7b9d1e3c5a7f9b2d4e:viewer:user:invitation:new.hire@acme.example"
    ));
    // An invitation is not a membership; one without role assignments holds nothing.
    assert!(!synced
        .grants
        .keys()
        .any(|g| g.contains(":member:user:invitation:")));
    assert!(!synced
        .grants
        .keys()
        .any(|g| g.ends_with(":user:invitation:intern@acme.example")));
}

#[test]
fn service_accounts_with_tokens_list_their_token_names() {
    let fake = demo_fake();
    let synced = sync(&fake);
    let accounts: Vec<&str> = synced
        .resources
        .keys()
        .filter_map(|k| k.strip_prefix("serviceAccount:"))
        .collect();
    // elastic/enterprise-search-server has no token.
    assert_eq!(accounts, ["elastic/fleet-server", "elastic/kibana"]);
    let r = &synced.resources["serviceAccount:elastic/fleet-server"];
    let t = find_annotation::<UserTrait>(&r.annotations)
        .expect("decodes")
        .expect("user trait");
    assert_eq!(t.account_type, AccountType::Service as i32);
    let p = t.profile.expect("profile");
    assert_eq!(strings(&p, "tokens"), ["fleet-token-1", "token-2025"]);
    assert_eq!(strings(&p, "file_tokens"), ["fleet-file-token"]);
    match p.fields.get("token_count").and_then(|v| v.kind.as_ref()) {
        Some(Kind::NumberValue(n)) => assert_eq!(*n, 3.0),
        other => panic!("token_count: {other:?}"),
    }
    assert!(strings(&p, "cluster_privileges").contains(&"manage_own_api_key".to_owned()));
    assert_eq!(synced.types["serviceAccount"].traits, [Trait::User as i32]);
    // The list once, then one credentials request per account: the API has none for all of them.
    let service: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/_security/service"))
        .map(|r| r.path)
        .collect();
    assert_eq!(service.len(), 1 + 3, "{service:?}");
}

#[test]
fn older_readers_keep_an_unknown_trait_value() {
    // A reader whose Trait enum stops at APP (v0.1.14) decodes TRAIT_SECRET as the number 5: proto3
    // enums are open. prost does the same for any value it does not know.
    let rt = ResourceType {
        id: "apiKey".into(),
        traits: vec![Trait::Secret as i32, 99],
        ..ResourceType::default()
    };
    let back = ResourceType::decode(rt.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(back.traits, [5, 99]);
    assert_eq!(Trait::try_from(5), Ok(Trait::Secret));
}

#[test]
fn no_secret_or_invitation_token_reaches_the_file() {
    let mut tenant = Tenant::demo().expect("demo");
    // Even an answer that carried a key's secret (as only the create API's does) leaves no trace.
    tenant.api_keys[1]["api_key"] = "s3cr3t-api-key-value".into();
    tenant.api_keys[1]["encoded"] = "czNjcjN0LWFwaS1rZXktdmFsdWU=".into();
    let tokens: Vec<String> = tenant
        .invitations
        .values()
        .flatten()
        .filter_map(|i| i["token"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(tokens.len(), 4);
    let fake = FakeElastic::start(tenant).expect("fake");
    let (_dir, path) = temp_target();
    let out = run_ok(&sync_args(&fake, &path));
    let bytes = std::fs::read(&path).expect("artifact");
    let db = zstd::decode_all(&bytes[5..]).expect("zstd");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let contains = |needle: &str| db.windows(needle.len()).any(|w| w == needle.as_bytes());
    for secret in tokens.iter().map(String::as_str).chain([
        "s3cr3t-api-key-value",
        "czNjcjN0LWFwaS1rZXktdmFsdWU=",
        "demo-deployment-key",
    ]) {
        assert!(!contains(secret), "{secret} is in the file");
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
    // The keys themselves are there, by id and name.
    assert!(contains("k7Rz2pQBd0cW1mF3x9aA") && contains("jdoe-logs-ingest"));
}
