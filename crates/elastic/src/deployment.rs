//! The Elasticsearch security API of one deployment: the authenticated principal, native users, roles,
//! role mappings and user profiles.

use crate::client::{ApiClient, ApiError};
use crate::cloud::null_as_default;
use crate::cluster::ClusterInfo;
use crate::rules::{MappingRules, Rule};
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Free-form metadata as Elasticsearch stores it.
pub type Metadata = BTreeMap<String, Value>;

/// Whether metadata marks a built-in object (`_reserved: true`).
pub fn is_reserved(metadata: &Metadata) -> bool {
    metadata.get("_reserved") == Some(&Value::Bool(true))
}

/// A realm reference in an authentication answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RealmRef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// API key details in an authentication answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKeyRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Body of `GET /_security/_authenticate`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Authentication {
    pub username: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub authentication_realm: Option<RealmRef>,
    #[serde(default)]
    pub authentication_type: Option<String>,
    #[serde(default)]
    pub api_key: Option<ApiKeyRef>,
}

fn default_true() -> bool {
    true
}

/// A native user as `GET /_security/user` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    pub username: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl User {
    /// Whether this is a built-in user.
    pub fn reserved(&self) -> bool {
        is_reserved(&self.metadata)
    }
}

/// A role as `GET /_security/role` returns it; only what this tool reads is typed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Role {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub run_as: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub description: Option<String>,
}

impl Role {
    /// Whether this is a built-in role.
    pub fn reserved(&self) -> bool {
        is_reserved(&self.metadata)
    }
}

/// One role template of a mapping. `template` is kept as Elasticsearch sent it: usually a string holding
/// JSON (`{"source":"..."}`), sometimes an object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RoleTemplate {
    pub template: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// A role mapping as `GET /_security/role_mapping` returns it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RoleMapping {
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_templates: Vec<RoleTemplate>,
    /// Decoded on their own: rules of a shape the grammar does not know are kept as JSON.
    pub rules: MappingRules,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

impl RoleMapping {
    /// Whether an operator defined it (it cannot be changed through the API).
    pub fn read_only(&self) -> bool {
        self.metadata.get("_read_only") == Some(&Value::Bool(true))
    }
}

/// The user a profile belongs to, as its last login recorded it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProfileUser {
    pub username: String,
    #[serde(default)]
    pub realm_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

/// A user profile (`POST /_security/profile/_suggest`): someone who has logged in to Kibana.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Profile {
    pub uid: String,
    pub user: ProfileUser,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// `total` of a suggest answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct ProfileTotal {
    #[serde(default)]
    pub value: u64,
}

/// Body of `POST /_security/profile/_suggest`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProfileSuggestions {
    #[serde(default)]
    pub total: ProfileTotal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub profiles: Vec<Profile>,
}

/// Request body of `POST /_security/profile/_suggest`.
#[derive(Debug, Clone, Copy, Serialize)]
struct SuggestRequest {
    size: u32,
}

/// The most profiles one suggest request may ask for; the API has no paging.
pub const MAX_PROFILES: u32 = 10_000;

/// Users per `_query/user` page unless the client is told otherwise.
pub const DEFAULT_USERS_PAGE_SIZE: u32 = 1_000;

/// The built-in users of the reserved realm, which `_query/user` leaves out.
pub const RESERVED_USERNAMES: [&str; 7] = [
    "elastic",
    "kibana",
    "kibana_system",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_user",
];

/// Request body of `POST /_security/_query/user`: sorted by username, after the last page's sort value.
#[derive(Debug, Clone, Serialize)]
struct QueryUsersRequest<'a> {
    size: u32,
    sort: [SortByUsername; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    search_after: Option<&'a [Value]>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct SortByUsername {
    username: &'static str,
}

/// One user of a `_query/user` page, with its sort values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct QueriedUser {
    #[serde(flatten)]
    user: User,
    #[serde(rename = "_sort", default)]
    sort: Option<Vec<Value>>,
}

/// Body of `POST /_security/_query/user`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct QueryUsersPage {
    #[serde(default)]
    total: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    users: Vec<QueriedUser>,
}

/// Client of a deployment's Elasticsearch security API.
#[derive(Debug)]
pub struct DeploymentClient {
    pub(crate) api: ApiClient,
    users_page_size: u32,
}

impl DeploymentClient {
    /// Wraps an authenticated client whose base URL is the deployment endpoint.
    pub fn new(api: ApiClient) -> Self {
        DeploymentClient {
            api,
            users_page_size: DEFAULT_USERS_PAGE_SIZE,
        }
    }

    /// The same client asking for `size` users per `_query/user` page (at least 1).
    pub fn with_users_page_size(mut self, size: u32) -> Self {
        self.users_page_size = size.max(1);
        self
    }

    /// The cluster's names and version (`GET /`; API keys need the `monitor` cluster privilege).
    pub fn cluster_info(&self) -> Result<ClusterInfo, ApiError> {
        self.api.get(&[])
    }

    /// All native users, keyed by username, read with `POST /_security/_query/user` (Elasticsearch 8.14
    /// and later) one page of [`DeploymentClient::with_users_page_size`] users per request, sorted by
    /// username and continued with `search_after`, plus the built-in users (which that API leaves out)
    /// in one `GET /_security/user/<names>`. The same users as [`DeploymentClient::users`].
    pub fn users_paged(&self) -> Result<BTreeMap<String, User>, ApiError> {
        let size = self.users_page_size.max(1);
        let mut users = BTreeMap::new();
        let mut after: Option<Vec<Value>> = None;
        let mut read: u64 = 0;
        loop {
            let page: QueryUsersPage = self.api.send(
                Method::POST,
                &["_security", "_query", "user"],
                &QueryUsersRequest {
                    size,
                    sort: [SortByUsername { username: "asc" }],
                    search_after: after.as_deref(),
                },
            )?;
            let count = page.users.len();
            read += count as u64;
            let last_sort = page.users.last().and_then(|u| u.sort.clone());
            for queried in page.users {
                users.insert(queried.user.username.clone(), queried.user);
            }
            if count < size as usize || read >= page.total {
                break;
            }
            let stuck = || ApiError {
                api: self.api.api(),
                credential: self.api.credential(),
                method: Method::POST,
                path: self.path(&["_security", "_query", "user"]),
                kind: crate::client::ApiErrorKind::Decode(
                    "a full page of users gives no new sort value to continue from".to_owned(),
                ),
            };
            match last_sort {
                Some(sort) if after.as_ref() != Some(&sort) => after = Some(sort),
                _ => return Err(stuck()),
            }
        }
        let reserved: Option<BTreeMap<String, User>> =
            self.api
                .get_optional(&["_security", "user", &RESERVED_USERNAMES.join(",")])?;
        users.extend(reserved.unwrap_or_default());
        Ok(users)
    }

    /// Who the key authenticates as; fails fast on a bad key.
    pub fn authenticate(&self) -> Result<Authentication, ApiError> {
        self.api.get(&["_security", "_authenticate"])
    }

    /// All native users, reserved ones included, keyed by username (one request).
    pub fn users(&self) -> Result<BTreeMap<String, User>, ApiError> {
        self.api.get(&["_security", "user"])
    }

    /// All roles the API returns, keyed by name (one request).
    pub fn roles(&self) -> Result<BTreeMap<String, Role>, ApiError> {
        self.api.get(&["_security", "role"])
    }

    /// All role mappings, keyed by name (one request).
    pub fn role_mappings(&self) -> Result<BTreeMap<String, RoleMapping>, ApiError> {
        self.api.get(&["_security", "role_mapping"])
    }

    /// Up to [`MAX_PROFILES`] user profiles, in one request.
    pub fn profiles(&self) -> Result<ProfileSuggestions, ApiError> {
        self.api.send(
            reqwest::Method::POST,
            &["_security", "profile", "_suggest"],
            &SuggestRequest { size: MAX_PROFILES },
        )
    }

    // ---- single objects and writes, for grant and revoke ----

    /// The path (percent-encoded) of `segments` on this deployment, as a request would use it.
    pub fn path(&self, segments: &[&str]) -> String {
        self.api.url(segments).path().to_owned()
    }

    /// One object of a keyed collection (`user`, `role`, `role_mapping`), or `None` when absent. A name
    /// holding `,` would be read as a list, so such names are picked from the whole collection.
    fn one<T: DeserializeOwned>(&self, kind: &str, name: &str) -> Result<Option<T>, ApiError> {
        let found: Option<BTreeMap<String, T>> = if name.contains(',') {
            Some(self.api.get(&["_security", kind])?)
        } else {
            self.api.get_optional(&["_security", kind, name])?
        };
        Ok(found.and_then(|mut all| all.remove(name)))
    }

    /// One native user, or `None` when there is no such native user.
    pub fn user(&self, username: &str) -> Result<Option<User>, ApiError> {
        self.one("user", username)
    }

    /// One role, or `None` when the API does not know it.
    pub fn role(&self, name: &str) -> Result<Option<Role>, ApiError> {
        self.one("role", name)
    }

    /// One role mapping, or `None` when there is none of that name.
    pub fn role_mapping(&self, name: &str) -> Result<Option<RoleMapping>, ApiError> {
        self.one("role_mapping", name)
    }

    /// Replaces a native user's roles, names, metadata and enabled flag (`PUT /_security/user/<u>`); the
    /// password is kept.
    pub fn put_user(&self, username: &str, body: &UserUpdate) -> Result<(), ApiError> {
        self.api
            .send::<_, IgnoredAny>(Method::PUT, &["_security", "user", username], body)
            .map(drop)
    }

    /// Replaces a role mapping (`PUT /_security/role_mapping/<name>`).
    pub fn put_role_mapping(&self, name: &str, body: &RoleMappingUpdate) -> Result<(), ApiError> {
        self.api
            .send::<_, IgnoredAny>(Method::PUT, &["_security", "role_mapping", name], body)
            .map(drop)
    }
}

/// Metadata without the keys starting with `_`, which Elasticsearch refuses in a write.
pub fn writable_metadata(metadata: &Metadata) -> Metadata {
    metadata
        .iter()
        .filter(|(key, _)| !key.starts_with('_'))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Body of `PUT /_security/user/<u>` for an existing user: everything the update replaces, no password.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserUpdate {
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Metadata,
    /// Always sent: an omitted `enabled` would re-enable a disabled user.
    pub enabled: bool,
}

impl UserUpdate {
    /// The user as read, with `roles` replaced.
    pub fn with_roles(user: &User, roles: Vec<String>) -> UserUpdate {
        UserUpdate {
            roles,
            full_name: user.full_name.clone(),
            email: user.email.clone(),
            metadata: writable_metadata(&user.metadata),
            enabled: user.enabled,
        }
    }
}

/// Body of `PUT /_security/role_mapping/<name>`: the whole mapping, since the write replaces it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleMappingUpdate {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role_templates: Vec<RoleTemplate>,
    pub rules: Rule,
    pub metadata: Metadata,
}

impl RoleMappingUpdate {
    /// The mapping as read, with `rules` replaced.
    pub fn with_rules(mapping: &RoleMapping, rules: Rule) -> RoleMappingUpdate {
        RoleMappingUpdate {
            enabled: mapping.enabled,
            roles: mapping.roles.clone(),
            role_templates: mapping.role_templates.clone(),
            rules,
            metadata: writable_metadata(&mapping.metadata),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_keyed_by_name_with_nulls() {
        let body = r#"{"elastic":{"username":"elastic","roles":["superuser"],"full_name":null,"email":null,"metadata":{"_reserved":true},"enabled":true},
          "old.contractor":{"username":"old.contractor","roles":[],"full_name":"Old Contractor","email":null,"metadata":{},"enabled":false}}"#;
        let users: BTreeMap<String, User> = serde_json::from_str(body).expect("parses");
        assert!(users["elastic"].reserved());
        assert!(!users["old.contractor"].enabled);
        assert!(!users["old.contractor"].reserved());
    }

    #[test]
    fn role_mappings_parse_with_templates_and_scalar_fields() {
        let body = r#"{"per-user-role":{"enabled":true,"role_templates":[{"template":"{\"source\":\"_user_{{username}}\"}","format":"string"}],
           "rules":{"field":{"realm.name":"cloud-saml"}},"metadata":{}},
           "ops":{"enabled":false,"roles":["superuser"],"rules":{"any":[{"field":{"username":["a","b"]}}]},"metadata":{"_read_only":true}}}"#;
        let m: BTreeMap<String, RoleMapping> = serde_json::from_str(body).expect("parses");
        assert!(m["per-user-role"].roles.is_empty());
        assert_eq!(m["per-user-role"].role_templates.len(), 1);
        assert!(m["ops"].read_only());
        assert!(!m["ops"].enabled);
    }

    #[test]
    fn profile_suggestions_parse_with_optional_parts() {
        let body = r#"{"total":{"value":3,"relation":"eq"},"took":2,"profiles":[
          {"uid":"u_1","user":{"username":"sam","realm_name":"saml1","roles":["viewer"],"email":null,"full_name":"Sam"},"data":{},"labels":{}},
          {"uid":"u_2","user":{"username":"lee","roles":null},"enabled":false,"data":{}}]}"#;
        let s: ProfileSuggestions = serde_json::from_str(body).expect("parses");
        assert_eq!(s.total.value, 3);
        assert_eq!(s.profiles.len(), 2);
        assert!(s.profiles[0].enabled);
        assert_eq!(s.profiles[0].user.realm_name.as_deref(), Some("saml1"));
        assert!(!s.profiles[1].enabled);
        assert!(s.profiles[1].user.roles.is_empty());
        assert_eq!(
            serde_json::to_string(&SuggestRequest { size: MAX_PROFILES }).expect("json"),
            r#"{"size":10000}"#
        );
    }
}
