//! The data a fake Elastic tenant serves: Cloud organizations, members and
//! deployments plus one deployment's security objects (users, roles, role
//! mappings, user profiles).
//!
//! Objects are kept as `serde_json::Value`s shaped exactly as Elastic returns
//! them, so the fake can serialize them straight into response bodies. Three
//! ways to get a tenant: [`Tenant::demo`] (the hand-written fixtures under
//! `fixtures/`, compiled into the binary), [`Tenant::empty`], and
//! [`Tenant::generate`] (a deterministic synthetic tenant of any size, for
//! benchmarks).

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use serde_json::{json, Map, Value};

use super::cluster::{Cluster, EsVersion, CLUSTER_UUID, DEFAULT_CLUSTER_NAME};

/// Cloud API key of the demo and generated tenants.
pub const DEMO_CLOUD_API_KEY: &str = "demo-cloud-api-key";
/// Deployment (Elasticsearch) API key of the demo and generated tenants:
/// base64 of `demo-id:demo-deployment-key`.
pub const DEMO_DEPLOYMENT_API_KEY: &str = "ZGVtby1pZDpkZW1vLWRlcGxveW1lbnQta2V5";

const ORGANIZATIONS_JSON: &str = include_str!("../fixtures/cloud/organizations.json");
/// One members file per demo organization, keyed by organization id.
const MEMBERS_JSON: &[(&str, &str)] = &[
    (
        "4125567842",
        include_str!("../fixtures/cloud/members/4125567842.json"),
    ),
    (
        "5093318764",
        include_str!("../fixtures/cloud/members/5093318764.json"),
    ),
    (
        "6620014477",
        include_str!("../fixtures/cloud/members/6620014477.json"),
    ),
];
const DEPLOYMENTS_JSON: &str = include_str!("../fixtures/cloud/deployments.json");
const PROJECTS_JSON: &str = include_str!("../fixtures/cloud/projects.json");
const PROFILES_JSON: &str = include_str!("../fixtures/deployment/profiles.json");
const AUTHENTICATE_JSON: &str = include_str!("../fixtures/deployment/authenticate.json");
const USERS_JSON: &str = include_str!("../fixtures/deployment/users.json");
const ROLES_JSON: &str = include_str!("../fixtures/deployment/roles.json");
const ROLE_MAPPINGS_JSON: &str = include_str!("../fixtures/deployment/role_mappings.json");
const API_KEYS_JSON: &str = include_str!("../fixtures/deployment/api_keys.json");
const SERVICE_ACCOUNTS_JSON: &str = include_str!("../fixtures/deployment/service_accounts.json");
const SERVICE_TOKENS_JSON: &str = include_str!("../fixtures/deployment/service_tokens.json");
const INVITATIONS_JSON: &str = include_str!("../fixtures/cloud/invitations.json");
const STAGING_USERS_JSON: &str = include_str!("../fixtures/staging/users.json");
const STAGING_ROLES_JSON: &str = include_str!("../fixtures/staging/roles.json");
const STAGING_ROLE_MAPPINGS_JSON: &str = include_str!("../fixtures/staging/role_mappings.json");

/// Key of the demo's second deployment, `staging-search`: base64 of `staging-id:staging-key`.
pub const DEMO_STAGING_API_KEY: &str = "c3RhZ2luZy1pZDpzdGFnaW5nLWtleQ==";

/// Elasticsearch resource id of the demo's `staging-search` deployment, its cluster's `cluster_name`.
pub const STAGING_ES_RESOURCE_ID: &str = "c4e6a8b0d2f4e6a8c0b2d4f6a8c0e2b4";

/// Everything one fake Elastic account serves. Holds fake keys only, so it is
/// fine for it to derive `Debug`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Key expected in `Authorization: ApiKey <key>` on Cloud requests.
    pub cloud_api_key: String,
    /// Key expected in `Authorization: ApiKey <key>` on Elasticsearch requests.
    pub deployment_api_key: String,
    /// Organization objects, as served by `GET /api/v1/organizations`.
    pub organizations: Vec<Value>,
    /// Organization id -> OrganizationMembership objects.
    pub members: BTreeMap<String, Vec<Value>>,
    /// Body of `GET /_security/_authenticate`.
    pub authenticate: Value,
    /// Username -> User object, as `GET /_security/user` returns it.
    pub users: BTreeMap<String, Value>,
    /// Role name -> Role object.
    pub roles: BTreeMap<String, Value>,
    /// Mapping name -> RoleMapping object, as `GET /_security/role_mapping`
    /// returns it.
    pub role_mappings: BTreeMap<String, Value>,
    /// Deployment objects, as served by `GET /api/v1/deployments`.
    pub deployments: Vec<Value>,
    /// Serverless project objects of every type, as `GET
    /// /api/v1/serverless/projects/<type>` serves those of its `type`.
    pub projects: Vec<Value>,
    /// Whether the Cloud API key may read Serverless projects; when not,
    /// the project lists answer 403.
    pub serverless_forbidden: bool,
    /// User profile objects, as `POST /_security/profile/_suggest` returns
    /// them (served in this order, at most `size` of them).
    pub profiles: Vec<Value>,
    /// The Elasticsearch cluster the tenant plays: version, names, whether
    /// the Cloud API is served. `None` (every built-in tenant) is the
    /// unversioned fake: all endpoints, no `GET /`, unknown paths 404. Set it
    /// with [`Tenant::with_es_version`] or [`Tenant::self_managed`].
    pub cluster: Option<Cluster>,
    /// API key objects as `GET /_security/api_key?with_limited_by=true` returns them (invalidated and
    /// expired ones too), in creation order; `_query/api_key` sorts and pages them, and `limited_by` is
    /// left out unless asked for.
    pub api_keys: Vec<Value>,
    /// `namespace/service` -> `{"role_descriptor": {...}}`, as `GET /_security/service` returns it.
    pub service_accounts: BTreeMap<String, Value>,
    /// `namespace/service` -> `{"tokens": [names], "file_tokens": [names]}`: the service account's
    /// tokens in the security index and in the nodes' `service_tokens` files (names only).
    pub service_tokens: BTreeMap<String, Value>,
    /// Organization id -> OrganizationInvitation objects (with their tokens), as
    /// `GET /api/v1/organizations/{id}/invitations` returns them (`expired` is worked out from
    /// `expires_at` when served); `POST` adds to them.
    pub invitations: BTreeMap<String, Vec<Value>>,
    /// Username -> password accepted in `Authorization: Basic` on
    /// Elasticsearch requests (besides the API key). Empty (the default):
    /// Basic credentials are refused like any other wrong credential. A name
    /// that is no native user in [`Tenant::users`] authenticates as a
    /// file-realm user without roles.
    pub basic_users: BTreeMap<String, String>,
    /// The Cloud role ids the Cloud API key may assign and remove. `None`
    /// (the default): every role, as an Organization owner's key. `Some`:
    /// a role-assignment write naming any other role answers 403
    /// `role_assignments.unauthorized_role_assignments` and changes nothing
    /// (set it with [`Tenant::with_cloud_key_roles`]).
    pub cloud_key_assignable_roles: Option<Vec<String>>,
}

/// Size of a generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSpec {
    /// Number of Cloud organizations.
    pub organizations: usize,
    /// Members in each organization.
    pub members_per_org: usize,
    /// Regular native users (the 6 reserved users come on top).
    pub users: usize,
    /// Custom roles (the 4 reserved roles come on top).
    pub roles: usize,
    /// Role mappings.
    pub role_mappings: usize,
    /// Each regular user gets between 1 and this many roles.
    pub max_roles_per_user: usize,
    /// Deployments of each organization.
    pub deployments_per_org: usize,
    /// User profiles of external-realm users.
    pub profiles: usize,
    /// Of the role mappings, how many (the first ones) match every SSO user: `username: "*"` and
    /// realm-wide rules, each giving 1-2 roles.
    pub match_all_mappings: usize,
}

impl TenantSpec {
    /// The named benchmark sizes: `small`, `medium`, `large`, `xl`, and `sso-xl` (`xl` with 200 role
    /// mappings that match all of its 10,000 SSO users) and `sso-large` (a tenth of it).
    pub fn named(name: &str) -> Option<TenantSpec> {
        let (organizations, members_per_org, users, roles, role_mappings, deployments, profiles) =
            match name {
                "small" => (2, 20, 50, 10, 5, 2, 20),
                "medium" => (3, 300, 1_000, 100, 50, 2, 500),
                "large" => (5, 2_000, 10_000, 500, 300, 3, 3_000),
                "xl" | "sso-xl" => (20, 5_000, 100_000, 5_000, 2_000, 2, 10_000),
                "sso-large" => (5, 2_000, 10_000, 500, 300, 3, 1_000),
                _ => return None,
            };
        let match_all_mappings = match name {
            "sso-xl" => 200,
            "sso-large" => 20,
            _ => 0,
        };
        Some(TenantSpec {
            organizations,
            members_per_org,
            users,
            roles,
            role_mappings,
            max_roles_per_user: 5,
            deployments_per_org: deployments,
            profiles,
            match_all_mappings,
        })
    }
}

impl Tenant {
    /// The demo tenant, parsed from the fixtures compiled into the binary.
    pub fn demo() -> anyhow::Result<Tenant> {
        let organizations = match parse("cloud/organizations.json", ORGANIZATIONS_JSON)? {
            Value::Object(mut body) => match body.remove("organizations") {
                Some(Value::Array(list)) => list,
                _ => {
                    return Err(anyhow!(
                        "cloud/organizations.json: no `organizations` array"
                    ))
                }
            },
            _ => return Err(anyhow!("cloud/organizations.json: not an object")),
        };
        let mut members = BTreeMap::new();
        for (org_id, text) in MEMBERS_JSON {
            let file = format!("cloud/members/{org_id}.json");
            let list = match parse(&file, text)? {
                Value::Object(mut body) => match body.remove("members") {
                    Some(Value::Array(list)) => list,
                    _ => return Err(anyhow!("{file}: no `members` array")),
                },
                _ => return Err(anyhow!("{file}: not an object")),
            };
            members.insert((*org_id).to_string(), list);
        }
        Ok(Tenant {
            cloud_api_key: DEMO_CLOUD_API_KEY.to_string(),
            deployment_api_key: DEMO_DEPLOYMENT_API_KEY.to_string(),
            organizations,
            members,
            authenticate: parse("deployment/authenticate.json", AUTHENTICATE_JSON)?,
            users: parse_keyed("deployment/users.json", USERS_JSON)?,
            roles: parse_keyed("deployment/roles.json", ROLES_JSON)?,
            role_mappings: parse_keyed("deployment/role_mappings.json", ROLE_MAPPINGS_JSON)?,
            deployments: parse_list("cloud/deployments.json", DEPLOYMENTS_JSON, "deployments")?,
            projects: parse_list("cloud/projects.json", PROJECTS_JSON, "items")?,
            serverless_forbidden: false,
            profiles: parse_list("deployment/profiles.json", PROFILES_JSON, "profiles")?,
            api_keys: parse_list("deployment/api_keys.json", API_KEYS_JSON, "api_keys")?,
            service_accounts: parse_keyed(
                "deployment/service_accounts.json",
                SERVICE_ACCOUNTS_JSON,
            )?,
            service_tokens: parse_keyed("deployment/service_tokens.json", SERVICE_TOKENS_JSON)?,
            invitations: serde_json::from_str(INVITATIONS_JSON)
                .context("parse demo fixture cloud/invitations.json")?,
            cluster: None,
            basic_users: BTreeMap::new(),
            cloud_key_assignable_roles: None,
        })
    }

    /// The security API of the demo's second deployment, `staging-search` (fixtures in `staging/`):
    /// Elasticsearch 8.15 reporting the deployment's Elasticsearch resource id as `cluster_name`, with
    /// its own users, roles and role mappings, and no Cloud data.
    pub fn demo_staging() -> anyhow::Result<Tenant> {
        let mut tenant = Tenant::empty("", DEMO_STAGING_API_KEY);
        tenant.users = parse_keyed("staging/users.json", STAGING_USERS_JSON)?;
        tenant.roles = parse_keyed("staging/roles.json", STAGING_ROLES_JSON)?;
        tenant.role_mappings =
            parse_keyed("staging/role_mappings.json", STAGING_ROLE_MAPPINGS_JSON)?;
        let mut tenant = tenant.self_managed(EsVersion::V8_15);
        if let Some(cluster) = tenant.cluster.as_mut() {
            cluster.cluster_name = STAGING_ES_RESOURCE_ID.to_string();
            cluster.node_name = "instance-0000000001".to_string();
        }
        Ok(tenant)
    }

    /// A tenant with the given keys and no data at all (the authenticate body
    /// describes an API key owned by `governance-svc`).
    pub fn empty(cloud_api_key: &str, deployment_api_key: &str) -> Tenant {
        Tenant {
            cloud_api_key: cloud_api_key.to_string(),
            deployment_api_key: deployment_api_key.to_string(),
            organizations: Vec::new(),
            members: BTreeMap::new(),
            authenticate: default_authenticate(deployment_api_key),
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            role_mappings: BTreeMap::new(),
            deployments: Vec::new(),
            projects: Vec::new(),
            serverless_forbidden: false,
            profiles: Vec::new(),
            api_keys: Vec::new(),
            service_accounts: BTreeMap::new(),
            service_tokens: BTreeMap::new(),
            invitations: BTreeMap::new(),
            cluster: None,
            basic_users: BTreeMap::new(),
            cloud_key_assignable_roles: None,
        }
    }

    /// A synthetic tenant of the given size, using the demo keys. The same
    /// spec always produces the same tenant.
    pub fn generate(spec: &TenantSpec) -> Tenant {
        Generator::new(spec).run()
    }

    /// This tenant as an Elastic Cloud deployment running Elasticsearch
    /// `version`: `GET /` answers, endpoints newer than `version` are
    /// refused, the Cloud API stays. The cluster name is the Elasticsearch
    /// resource id of the tenant's first Cloud deployment (for the demo
    /// tenant `5b1d0c7e9a2f4c3b8e6d1a0f9c8b7a65`, `prod-logs`), or
    /// [`DEFAULT_CLUSTER_NAME`] when it has none.
    pub fn with_es_version(mut self, version: EsVersion) -> Tenant {
        self.cluster = Some(Cluster {
            version,
            cluster_name: self.es_resource_id(),
            cluster_uuid: CLUSTER_UUID.to_string(),
            node_name: "instance-0000000000".to_string(),
            cloud_api: true,
        });
        self
    }

    /// This tenant as a self-managed cluster running Elasticsearch
    /// `version`: as [`Tenant::with_es_version`], but the Cloud API paths are
    /// unknown endpoints (400) and the node is called `node-1`. The Cloud
    /// data stays in the tenant, unserved.
    pub fn self_managed(self, version: EsVersion) -> Tenant {
        let mut tenant = self.with_es_version(version);
        if let Some(cluster) = tenant.cluster.as_mut() {
            cluster.cloud_api = false;
            cluster.node_name = "node-1".to_string();
        }
        tenant
    }

    /// Accept `Authorization: Basic` for `username` with `password` on
    /// Elasticsearch requests (see [`Tenant::basic_users`]).
    pub fn with_password(mut self, username: &str, password: &str) -> Tenant {
        self.basic_users
            .insert(username.to_string(), password.to_string());
        self
    }

    /// Let the Cloud API key assign and remove only these Cloud role ids
    /// (see [`Tenant::cloud_key_assignable_roles`]); an empty list: none.
    pub fn with_cloud_key_roles(mut self, role_ids: &[&str]) -> Tenant {
        self.cloud_key_assignable_roles = Some(role_ids.iter().map(|r| r.to_string()).collect());
        self
    }

    /// The id of the first Elasticsearch resource among the Cloud
    /// deployments, or [`DEFAULT_CLUSTER_NAME`].
    fn es_resource_id(&self) -> String {
        self.deployments
            .iter()
            .filter_map(|d| d.get("resources").and_then(Value::as_array))
            .flatten()
            .find(|r| r.get("kind").and_then(Value::as_str) == Some("elasticsearch"))
            .and_then(|r| r.get("id").and_then(Value::as_str))
            .unwrap_or(DEFAULT_CLUSTER_NAME)
            .to_string()
    }

    /// Total number of memberships over all organizations.
    pub fn member_count(&self) -> usize {
        self.members.values().map(Vec::len).sum()
    }
}

fn parse(file: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("parse demo fixture {file}"))
}

/// The array under `key` in a fixture object.
fn parse_list(file: &str, text: &str, key: &str) -> anyhow::Result<Vec<Value>> {
    match parse(file, text)? {
        Value::Object(mut body) => match body.remove(key) {
            Some(Value::Array(list)) => Ok(list),
            _ => Err(anyhow!("{file}: no `{key}` array")),
        },
        _ => Err(anyhow!("{file}: not an object")),
    }
}

fn parse_keyed(file: &str, text: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    serde_json::from_str(text).with_context(|| format!("parse demo fixture {file}"))
}

/// An `_authenticate` body for an API key owned by `governance-svc`.
pub(crate) fn default_authenticate(deployment_api_key: &str) -> Value {
    let key_id =
        super::routes::api_key_id(deployment_api_key).unwrap_or_else(|| "fake-key-id".to_string());
    json!({
        "username": "governance-svc",
        "roles": ["governance_reader"],
        "full_name": null,
        "email": null,
        "metadata": {},
        "enabled": true,
        "authentication_realm": {"name": "_es_api_key", "type": "_es_api_key"},
        "lookup_realm": {"name": "_es_api_key", "type": "_es_api_key"},
        "authentication_type": "api_key",
        "api_key": {"id": key_id, "name": "governance-sync"}
    })
}

/// The six built-in users every deployment returns (`metadata._reserved`).
pub(crate) fn reserved_users() -> Vec<(String, Value)> {
    let builtins: [(&str, &[&str]); 6] = [
        ("elastic", &["superuser"]),
        ("kibana_system", &["kibana_system"]),
        ("logstash_system", &["logstash_system"]),
        ("beats_system", &["beats_system"]),
        ("apm_system", &["apm_system"]),
        (
            "remote_monitoring_user",
            &["remote_monitoring_collector", "remote_monitoring_agent"],
        ),
    ];
    builtins
        .iter()
        .map(|(name, roles)| {
            (
                (*name).to_string(),
                json!({
                    "username": name,
                    "roles": roles,
                    "full_name": null,
                    "email": null,
                    "metadata": {"_reserved": true},
                    "enabled": true
                }),
            )
        })
        .collect()
}

/// Built-in roles used by generated tenants (`metadata._reserved`).
fn reserved_roles() -> Vec<(String, Value)> {
    let kibana = |privilege: &str| json!([{"application": "kibana-.kibana", "privileges": [privilege], "resources": ["*"]}]);
    let not_dot = "/~(([.]|ilm-history-).*)/";
    vec![
        (
            "superuser".to_string(),
            json!({
                "cluster": ["all"],
                "indices": [
                    {"names": ["*"], "privileges": ["all"], "allow_restricted_indices": false},
                    {"names": ["*"], "privileges": ["monitor", "read", "view_index_metadata", "read_cross_cluster"], "allow_restricted_indices": true}
                ],
                "applications": [{"application": "*", "privileges": ["*"], "resources": ["*"]}],
                "run_as": ["*"],
                "metadata": {"_reserved": true},
                "transient_metadata": {"enabled": true}
            }),
        ),
        (
            "viewer".to_string(),
            json!({
                "cluster": [],
                "indices": [{"names": [not_dot], "privileges": ["read", "view_index_metadata"], "allow_restricted_indices": false}],
                "applications": kibana("read"),
                "run_as": [],
                "metadata": {"_reserved": true},
                "transient_metadata": {"enabled": true}
            }),
        ),
        (
            "editor".to_string(),
            json!({
                "cluster": [],
                "indices": [
                    {"names": [not_dot], "privileges": ["read", "view_index_metadata"], "allow_restricted_indices": false},
                    {"names": ["observability-annotations"], "privileges": ["read", "view_index_metadata", "write"], "allow_restricted_indices": false}
                ],
                "applications": kibana("all"),
                "run_as": [],
                "metadata": {"_reserved": true},
                "transient_metadata": {"enabled": true}
            }),
        ),
        (
            "kibana_admin".to_string(),
            json!({
                "cluster": [],
                "indices": [],
                "applications": kibana("all"),
                "run_as": [],
                "metadata": {"_reserved": true},
                "transient_metadata": {"enabled": true}
            }),
        ),
    ]
}

/// xorshift64* PRNG: tiny, fast and fully deterministic.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish value in `0..n`; 0 when `n` is 0.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    /// True with probability `1/n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// 32 lowercase hex digits, like Cloud deployment ids.
    fn hex_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }

    /// An RFC 3339 UTC timestamp between 2019 and 2025.
    fn timestamp(&mut self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            2019 + self.below(7),
            1 + self.below(12),
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60)
        )
    }
}

/// Builds a [`Tenant`] from a [`TenantSpec`].
struct Generator<'a> {
    spec: &'a TenantSpec,
    rng: XorShift,
    /// Role names users and mappings draw from (custom then reserved).
    role_names: Vec<String>,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a TenantSpec) -> Self {
        let mut role_names: Vec<String> = (1..=spec.roles).map(role_name).collect();
        role_names.extend(
            ["viewer", "editor", "kibana_admin", "superuser"]
                .iter()
                .map(|s| s.to_string()),
        );
        Generator {
            spec,
            rng: XorShift(0x9E37_79B9_7F4A_7C15),
            role_names,
        }
    }

    fn run(mut self) -> Tenant {
        let mut tenant = Tenant::empty(DEMO_CLOUD_API_KEY, DEMO_DEPLOYMENT_API_KEY);
        self.cloud(&mut tenant);
        tenant.users = self.users();
        tenant.roles = self.roles();
        tenant.role_mappings = self.role_mappings();
        tenant.profiles = self.profiles();
        tenant
    }

    /// Up to `max` distinct role names (at least one when `max > 0`).
    fn pick_roles(&mut self, max: usize) -> Vec<String> {
        if max == 0 || self.role_names.is_empty() {
            return Vec::new();
        }
        let want = 1 + self.rng.below(max);
        let mut picked: Vec<String> = Vec::with_capacity(want);
        for _ in 0..want {
            // Custom roles are drawn far more often than the built-ins.
            let index = if self.spec.roles > 0 && !self.rng.one_in(10) {
                self.rng.below(self.spec.roles)
            } else {
                self.spec.roles + self.rng.below(self.role_names.len() - self.spec.roles)
            };
            let name = &self.role_names[index];
            if !picked.contains(name) {
                picked.push(name.clone());
            }
        }
        picked
    }

    fn cloud(&mut self, tenant: &mut Tenant) {
        let per_org = self.spec.members_per_org;
        for o in 0..self.spec.organizations {
            let org_id = (4_200_000_000u64 + o as u64 * 1_009).to_string();
            let deployment_ids: Vec<String> = (0..self.spec.deployments_per_org)
                .map(|_| self.rng.hex_id())
                .collect();
            for (d, id) in deployment_ids.iter().enumerate() {
                let es_id = self.rng.hex_id();
                let region = ["gcp-us-central1", "aws-eu-west-1", "azure-westeurope"][d % 3];
                tenant.deployments.push(json!({
                    "id": id,
                    "name": format!("org{:03}-deployment-{}", o + 1, d + 1),
                    "resources": [
                        {"ref_id": "main-elasticsearch", "id": es_id, "kind": "elasticsearch", "region": region},
                        {"ref_id": "main-kibana", "elasticsearch_cluster_ref_id": "main-elasticsearch",
                         "id": self.rng.hex_id(), "kind": "kibana", "region": region}
                    ]
                }));
            }
            tenant.organizations.push(json!({
                "id": org_id,
                "name": format!("Generated Org {:03}", o + 1),
                "billing_contacts": [format!("billing@org{:03}.example", o + 1)],
                "operational_contacts": []
            }));
            let mut list = Vec::with_capacity(per_org);
            for j in 0..per_org {
                // Every tenth member of a later org is also in the previous one.
                let person = if o > 0 && j % 10 == 5 {
                    (o - 1) * per_org + j
                } else {
                    o * per_org + j
                };
                let mut member = Map::new();
                member.insert("organization_id".into(), json!(org_id));
                member.insert(
                    "user_id".into(),
                    json!((2_000_000_000u64 + person as u64).to_string()),
                );
                if person % 53 != 7 {
                    member.insert("name".into(), json!(format!("Person {person:06}")));
                }
                if person % 97 != 7 {
                    member.insert(
                        "email".into(),
                        json!(format!("person{person:06}@corp.example")),
                    );
                }
                member.insert("member_since".into(), json!(self.rng.timestamp()));
                if let Some(assignments) = self.role_assignments(&org_id, j, &deployment_ids) {
                    member.insert("role_assignments".into(), assignments);
                }
                list.push(Value::Object(member));
            }
            tenant.members.insert(org_id, list);
        }
    }

    fn role_assignments(
        &mut self,
        org_id: &str,
        index: usize,
        deployments: &[String],
    ) -> Option<Value> {
        if index == 0 {
            return Some(json!({
                "organization": [{"role_id": "organization-admin", "organization_id": org_id}],
                "deployment": []
            }));
        }
        let deployment_role = |role: &str, all: bool, ids: Vec<&String>| {
            if all {
                json!({"role_id": role, "organization_id": org_id, "all": true})
            } else {
                json!({"role_id": role, "organization_id": org_id, "all": false, "deployment_ids": ids})
            }
        };
        // Mostly no role beyond membership, so that each deployment's direct and expanded grants stay
        // near a tenth of the organization's members.
        let choice = self.rng.below(40);
        let first = self.rng.below(deployments.len());
        let second = self.rng.below(deployments.len());
        Some(match choice {
            0 => json!({"organization": [{"role_id": "billing-admin", "organization_id": org_id}]}),
            1 => json!({"deployment": [deployment_role("deployment-viewer", true, Vec::new())]}),
            2 => json!({"deployment": [deployment_role("deployment-editor", true, Vec::new())]}),
            3 => json!({"deployment": [deployment_role("deployment-admin", true, Vec::new())]}),
            4 => {
                let mut ids: Vec<&String> = deployments.iter().skip(first).take(1).collect();
                if second != first {
                    ids.extend(deployments.get(second));
                }
                json!({"deployment": [
                    deployment_role("deployment-viewer", true, Vec::new()),
                    deployment_role("deployment-editor", false, ids)
                ]})
            }
            5 | 6 if !deployments.is_empty() => json!({"deployment": [
                deployment_role("deployment-viewer", false, deployments.iter().skip(first).take(1).collect())
            ]}),
            7 => json!({"project": {"elasticsearch": [
                {"role_id": "elasticsearch-admin", "organization_id": org_id, "all": true}
            ]}}),
            // An assignment for another organization, which this one ignores.
            8 => json!({"deployment": [
                {"role_id": "deployment-admin", "organization_id": "1", "all": true}
            ]}),
            9 => json!({"organization": [], "deployment": []}),
            _ => return None,
        })
    }

    fn users(&mut self) -> BTreeMap<String, Value> {
        let mut users: BTreeMap<String, Value> = reserved_users().into_iter().collect();
        for i in 1..=self.spec.users {
            let name = user_name(i);
            let roles = self.pick_roles(self.spec.max_roles_per_user);
            let email = if i % 20 == 0 {
                Value::Null
            } else {
                json!(format!("{name}@corp.example"))
            };
            let metadata = if i % 10 == 3 {
                json!({"department": format!("dept-{:02}", i % 40)})
            } else {
                json!({})
            };
            let enabled = !self.rng.one_in(100);
            users.insert(
                name.clone(),
                json!({
                    "username": name,
                    "roles": roles,
                    "full_name": format!("User {i:06}"),
                    "email": email,
                    "metadata": metadata,
                    "enabled": enabled
                }),
            );
        }
        users
    }

    fn roles(&mut self) -> BTreeMap<String, Value> {
        let mut roles: BTreeMap<String, Value> = reserved_roles().into_iter().collect();
        for i in 1..=self.spec.roles {
            let cluster = if self.rng.one_in(3) {
                json!(["monitor"])
            } else {
                json!([])
            };
            let privileges = match self.rng.below(3) {
                0 => json!(["read", "view_index_metadata"]),
                1 => json!(["read", "write"]),
                _ => json!(["all"]),
            };
            let mut role = json!({
                "cluster": cluster,
                "indices": [{
                    "names": [format!("index-{i:04}-*")],
                    "privileges": privileges,
                    "allow_restricted_indices": false
                }],
                "applications": [],
                "run_as": [],
                "metadata": {"owner": format!("team-{:02}", i % 17)},
                "transient_metadata": {"enabled": true}
            });
            if i % 3 == 0 {
                role["description"] = json!(format!("Generated role {i}"));
            }
            roles.insert(role_name(i), role);
        }
        roles
    }

    /// Name of a random existing regular user (or a name nobody has).
    fn some_user(&mut self) -> String {
        if self.spec.users == 0 {
            return "nobody".to_string();
        }
        user_name(1 + self.rng.below(self.spec.users))
    }

    fn role_mappings(&mut self) -> BTreeMap<String, Value> {
        let mut mappings = BTreeMap::new();
        for i in 1..=self.spec.role_mappings {
            if i <= self.spec.match_all_mappings {
                let rules = if i % 2 == 0 {
                    json!({"field": {"username": "*"}})
                } else {
                    json!({"any": [
                        {"field": {"realm.name": "cloud-saml-kibana"}},
                        {"field": {"realm.name": ["saml1", "saml2", "ldap1", "oidc1"]}}
                    ]})
                };
                let roles = self.pick_roles(2);
                mappings.insert(
                    format!("mapping{i:04}"),
                    json!({"enabled": true, "roles": roles, "rules": rules, "metadata": {"owner": "sso"}}),
                );
                continue;
            }
            let rules = match i % 10 {
                0 => json!({"field": {"username": self.some_user()}}),
                1 => {
                    let count = 2 + self.rng.below(4);
                    let mut names: Vec<String> = (0..count).map(|_| self.some_user()).collect();
                    names.sort();
                    names.dedup();
                    if names.len() == 1 {
                        json!({"field": {"username": names[0]}})
                    } else {
                        json!({"field": {"username": names}})
                    }
                }
                2 => json!({"field": {"realm.name": format!("saml{}", 1 + i % 3)}}),
                3 => json!({"any": [
                    {"field": {"username": self.some_user()}},
                    {"field": {"groups": format!("cn=group{i:04},ou=groups,dc=corp,dc=example")}}
                ]}),
                4 => json!({"all": [
                    {"field": {"dn": format!("*,ou=unit{:02},dc=corp,dc=example", i % 50)}},
                    {"field": {"realm.name": "ldap1"}}
                ]}),
                5 => json!({"all": [
                    {"field": {"realm.name": "saml1"}},
                    {"except": {"field": {"username": self.some_user()}}}
                ]}),
                6 => json!({"field": {"username": format!("user{:04}*", i % 1000)}}),
                7 => json!({"field": {"username": format!("/user0{:02}[0-9]{{3}}/", i % 100)}}),
                8 => json!({"all": [
                    {"any": [
                        {"field": {"username": [self.some_user(), self.some_user()]}},
                        {"field": {"groups": "cn=admins,dc=corp,dc=example"}}
                    ]},
                    {"except": {"field": {"metadata.terminated_date": null}}}
                ]}),
                _ => json!({"field": {"realm.name": "cloud-saml"}}),
            };
            let mut mapping = Map::new();
            mapping.insert("enabled".into(), json!(i % 25 != 0));
            if i % 10 == 9 {
                mapping.insert(
                    "role_templates".into(),
                    json!([{"template": "{\"source\":\"_user_{{username}}\"}", "format": "string"}]),
                );
            } else {
                let roles = self.pick_roles(3);
                if !roles.is_empty() {
                    mapping.insert("roles".into(), json!(roles));
                } else {
                    mapping.insert("roles".into(), json!(["viewer"]));
                }
            }
            mapping.insert("rules".into(), rules);
            mapping.insert(
                "metadata".into(),
                json!({"owner": format!("team-{:02}", i % 17)}),
            );
            mappings.insert(format!("mapping{i:04}"), Value::Object(mapping));
        }
        mappings
    }
}

impl Generator<'_> {
    /// User profiles: mostly Cloud SSO users, some of OIDC, LDAP and two SAML realms, one of a native
    /// user, about 2% disabled.
    fn profiles(&mut self) -> Vec<Value> {
        let mut profiles = Vec::with_capacity(self.spec.profiles);
        for k in 0..self.spec.profiles {
            let realm = match self.rng.below(100) {
                0 => "saml1",
                1 => "saml2",
                2..=9 => "ldap1",
                10..=19 => "oidc1",
                _ => "cloud-saml-kibana",
            };
            let (username, realm) = if k == 0 && self.spec.users > 0 {
                (user_name(1), "default_native")
            } else if realm == "cloud-saml-kibana" {
                ((3_000_000_000u64 + k as u64).to_string(), realm)
            } else {
                (format!("{realm}.person{k:06}"), realm)
            };
            let roles = self.pick_roles(2);
            profiles.push(json!({
                "uid": format!("u_{k:06}_{}", self.rng.hex_id()),
                "user": {
                    "username": username,
                    "realm_name": realm,
                    "roles": roles,
                    "email": format!("profile{k:06}@corp.example"),
                    "full_name": format!("Profile {k:06}")
                },
                "enabled": !self.rng.one_in(50),
                "data": {},
                "labels": {}
            }));
        }
        profiles
    }
}

fn user_name(i: usize) -> String {
    format!("user{i:06}")
}

fn role_name(i: usize) -> String {
    format!("role{i:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_parses_and_has_the_documented_population() {
        let t = Tenant::demo().expect("demo");
        assert_eq!(t.cloud_api_key, "demo-cloud-api-key");
        assert_eq!(t.organizations.len(), 3);
        let names: Vec<&str> = t
            .organizations
            .iter()
            .filter_map(|o| o["name"].as_str())
            .collect();
        assert!(names.contains(&"Acme Corp") && names.contains(&"Acme Labs"));
        // Every organization has a members list; exactly one is empty.
        for org in &t.organizations {
            let id = org["id"].as_str().expect("id");
            assert!(t.members.contains_key(id), "members for {id}");
            for m in &t.members[id] {
                assert_eq!(m["organization_id"], json!(id));
                assert!(m["user_id"].is_string() && m["member_since"].is_string());
            }
        }
        assert_eq!(t.members.values().filter(|m| m.is_empty()).count(), 1);
        assert_eq!(t.member_count(), 8);
        let all: Vec<&Value> = t.members.values().flatten().collect();
        let ada = all.iter().filter(|m| m["user_id"] == "2894412301").count();
        assert_eq!(ada, 2, "Ada is in two orgs");
        assert!(all
            .iter()
            .any(|m| m.get("name").is_none() && m.get("email").is_some()));
        assert!(all
            .iter()
            .any(|m| m.get("name").is_none() && m.get("email").is_none()));
        assert!(all.iter().any(|m| m.get("role_assignments").is_none()));

        assert_eq!(t.authenticate["username"], "governance-svc");
        assert_eq!(t.authenticate["authentication_type"], "api_key");

        for name in [
            "elastic",
            "kibana_system",
            "logstash_system",
            "beats_system",
            "apm_system",
            "remote_monitoring_user",
        ] {
            assert_eq!(t.users[name]["metadata"]["_reserved"], true, "{name}");
        }
        for name in [
            "jdoe",
            "old.contractor",
            "svc ingest",
            "ops:oncall",
            "alice",
            "bob",
            "carol",
        ] {
            let user = &t.users[name];
            assert_eq!(user["username"], json!(name));
            for key in ["roles", "full_name", "email", "metadata", "enabled"] {
                assert!(user.get(key).is_some(), "{name}.{key}");
            }
        }
        assert_eq!(t.users["old.contractor"]["enabled"], false);
        assert_eq!(t.users["bob"]["roles"], json!(["viewer", "viewer"]));
        assert_eq!(t.users["carol"]["roles"], json!([]));
        assert!(t.users["alice"]["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("ghost_role")));
        assert!(!t.roles.contains_key("ghost_role"));
        for name in ["superuser", "viewer", "editor", "kibana_admin"] {
            assert_eq!(t.roles[name]["metadata"]["_reserved"], true, "{name}");
        }
        assert!(t.roles["logs_reader"]["description"].is_string());
        assert!(t.roles.contains_key("metrics_writer") && t.roles.contains_key("sre_admin"));

        assert_eq!(t.role_mappings.len(), 17);
        for (name, m) in &t.role_mappings {
            assert!(m["enabled"].is_boolean(), "{name}");
            assert!(m["rules"].is_object(), "{name}");
            assert!(m["metadata"].is_object(), "{name}");
            let roles = m.get("roles").and_then(Value::as_array);
            let templates = m.get("role_templates").and_then(Value::as_array);
            assert!(
                roles.is_some_and(|r| !r.is_empty()) != templates.is_some_and(|t| !t.is_empty()),
                "{name}: exactly one of roles/role_templates"
            );
        }
        assert_eq!(
            t.role_mappings["jdoe-direct"]["rules"],
            json!({"field": {"username": "jdoe"}})
        );
        assert_eq!(t.role_mappings["disabled-mapping"]["enabled"], false);
        assert!(t.role_mappings["per-user-role"]["role_templates"][0]["template"].is_string());
        assert_eq!(
            t.role_mappings["ghost-role-mapping"]["roles"],
            json!(["ghost_mapping_role"])
        );
        assert_eq!(
            t.role_mappings["sso-read-only-operator-mapping"]["metadata"]["_read_only"],
            true
        );
    }

    #[test]
    fn demo_credentials_and_invitations_cover_every_case() {
        let t = Tenant::demo().expect("demo");
        assert_eq!(t.api_keys.len(), 10);
        let count = |f: &dyn Fn(&Value) -> bool| t.api_keys.iter().filter(|k| f(k)).count();
        assert_eq!(count(&|k| k["invalidated"] == true), 1);
        assert_eq!(count(&|k| k["type"] == "cross_cluster"), 1);
        assert_eq!(count(&|k| k["realm_type"] == "_service_account"), 1);
        assert!(count(&|k| k["role_descriptors"] == json!({})) >= 2);
        assert!(count(&|k| k.get("expiration").is_none()) >= 2);
        assert!(t.api_keys.iter().all(|k| k.get("api_key").is_none()));
        assert_eq!(t.service_accounts.len(), 3);
        assert!(t
            .service_tokens
            .keys()
            .all(|k| t.service_accounts.contains_key(k)));
        assert_eq!(t.invitations.values().map(Vec::len).sum::<usize>(), 4);
        assert_eq!(
            t.invitations
                .values()
                .flatten()
                .filter(|i| i["expired"] == true)
                .count(),
            1
        );
    }

    #[test]
    fn demo_deployments_and_profiles_cover_every_case() {
        let t = Tenant::demo().expect("demo");
        assert_eq!(t.deployments.len(), 4);
        for d in &t.deployments {
            let es = d["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .find(|r| r["kind"] == "elasticsearch")
                .expect("an Elasticsearch resource");
            assert!(es["region"].is_string() && es["id"].is_string());
        }
        assert_eq!(t.profiles.len(), 11);
        let realms: Vec<&str> = t
            .profiles
            .iter()
            .filter_map(|p| p["user"]["realm_name"].as_str())
            .collect();
        for realm in [
            "saml1",
            "oidc1",
            "ldap1",
            "cloud-saml-kibana",
            "default_native",
        ] {
            assert!(realms.contains(&realm), "{realm}");
        }
        assert_eq!(
            t.profiles.iter().filter(|p| p["enabled"] == false).count(),
            1
        );
        let native = t
            .profiles
            .iter()
            .filter(|p| {
                p["user"]["username"]
                    .as_str()
                    .is_some_and(|u| t.users.contains_key(u))
            })
            .count();
        assert_eq!(native, 1, "one profile is a native user's");
    }

    #[test]
    fn demo_mapping_rules_pass_the_grammar_check_unchanged() {
        let t = Tenant::demo().expect("demo");
        for (name, m) in &t.role_mappings {
            let normalized = super::super::routes::check_rules(&m["rules"]).expect(name);
            assert_eq!(&normalized, &m["rules"], "{name} is stored normalized");
        }
    }

    #[test]
    fn code_reserved_users_match_the_fixture() {
        let t = Tenant::demo().expect("demo");
        for (name, user) in reserved_users() {
            assert_eq!(t.users.get(&name), Some(&user), "{name}");
        }
        for (name, role) in reserved_roles() {
            assert_eq!(t.roles[&name]["metadata"], role["metadata"], "{name}");
        }
    }

    #[test]
    fn empty_tenant_has_no_data() {
        let t = Tenant::empty("a", "b");
        assert!(t.organizations.is_empty() && t.users.is_empty() && t.role_mappings.is_empty());
        assert_eq!(t.authenticate["username"], "governance-svc");
    }

    #[test]
    fn named_specs() {
        let small = TenantSpec::named("small").expect("small");
        assert_eq!(
            (
                small.organizations,
                small.members_per_org,
                small.users,
                small.roles,
                small.role_mappings
            ),
            (2, 20, 50, 10, 5)
        );
        assert_eq!(TenantSpec::named("xl").map(|s| s.users), Some(100_000));
        assert_eq!(TenantSpec::named("medium").map(|s| s.roles), Some(100));
        assert_eq!(
            TenantSpec::named("large").map(|s| s.role_mappings),
            Some(300)
        );
        assert!(TenantSpec::named("huge").is_none());
    }

    #[test]
    fn generate_is_deterministic_and_sized() {
        let spec = TenantSpec::named("medium").expect("medium");
        let a = Tenant::generate(&spec);
        let b = Tenant::generate(&spec);
        assert_eq!(a, b);
        assert_eq!(a.organizations.len(), 3);
        assert_eq!(a.member_count(), 900);
        assert_eq!(a.users.len(), 1_000 + 6);
        assert_eq!(a.roles.len(), 100 + 4);
        assert_eq!(a.role_mappings.len(), 50);
        assert_eq!(a.deployments.len(), 3 * 2);
        assert_eq!(a.profiles.len(), 500);
        let deployment_ids: Vec<&str> = a
            .deployments
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        let named: Vec<&str> = a
            .members
            .values()
            .flatten()
            .flat_map(|m| {
                m["role_assignments"]["deployment"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .flat_map(|a| a["deployment_ids"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        assert!(!named.is_empty());
        assert!(named.iter().all(|id| deployment_ids.contains(id)));
        let disabled = a.users.values().filter(|u| u["enabled"] == false).count();
        assert!(
            (1..=40).contains(&disabled),
            "about 1% disabled: {disabled}"
        );
        for (name, user) in &a.users {
            let roles = user["roles"].as_array().expect("roles");
            if user["metadata"]["_reserved"] != true {
                assert!((1..=5).contains(&roles.len()), "{name}");
            }
        }
        for (name, m) in &a.role_mappings {
            let normalized = super::super::routes::check_rules(&m["rules"]).expect(name);
            assert_eq!(&normalized, &m["rules"], "{name}");
        }
        // Some members appear in two organizations.
        let first: Vec<&Value> = a.members.values().next().expect("org").iter().collect();
        let shared = a
            .members
            .values()
            .nth(1)
            .expect("org")
            .iter()
            .filter(|m| first.iter().any(|f| f["user_id"] == m["user_id"]))
            .count();
        assert!(shared > 0);
    }

    #[test]
    fn sso_sizes_start_with_mappings_that_match_every_sso_user() {
        let mut spec = TenantSpec::named("sso-large").expect("a named size");
        assert_eq!(spec.match_all_mappings, 20);
        assert_eq!(
            TenantSpec::named("sso-xl").map(|s| s.match_all_mappings),
            Some(200)
        );
        spec.users = 10;
        spec.members_per_org = 2;
        spec.profiles = 5;
        let t = Tenant::generate(&spec);
        assert_eq!(
            t.role_mappings["mapping0002"]["rules"],
            json!({"field": {"username": "*"}})
        );
        assert_eq!(
            t.role_mappings["mapping0001"]["rules"]["any"][0],
            json!({"field": {"realm.name": "cloud-saml-kibana"}})
        );
        assert!(t.role_mappings["mapping0021"]["rules"] != json!({"field": {"username": "*"}}));
        for i in 1..=20 {
            let m = &t.role_mappings[&format!("mapping{i:04}")];
            let roles = m["roles"].as_array().expect("roles").len();
            assert!((1..=2).contains(&roles), "mapping{i:04}: {roles} roles");
        }
    }

    #[test]
    fn generate_handles_zero_sizes() {
        let spec = TenantSpec {
            organizations: 1,
            members_per_org: 0,
            users: 0,
            roles: 0,
            role_mappings: 12,
            max_roles_per_user: 0,
            deployments_per_org: 0,
            profiles: 0,
            match_all_mappings: 0,
        };
        let t = Tenant::generate(&spec);
        assert_eq!(t.users.len(), 6);
        assert_eq!(t.role_mappings.len(), 12);
        assert_eq!(t.member_count(), 0);
    }
}
