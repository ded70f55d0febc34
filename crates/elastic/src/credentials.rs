//! Credentials of a deployment: Elasticsearch API keys (`POST /_security/_query/api_key`, paged, or
//! `GET /_security/api_key` on clusters before 7.15) and service accounts with their tokens
//! (`GET /_security/service`, `GET /_security/service/{ns}/{svc}/credential`).
//!
//! Only what a key or token *is* is read: ids, names, owners, dates and privileges. Elasticsearch never
//! returns an API key's secret or a token's value from these APIs, and the types here have no field
//! that could hold one.

use crate::client::ApiError;
use crate::cloud::null_as_default;
use crate::cluster::EsVersion;
use crate::deployment::{DeploymentClient, Metadata};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Index names of a role descriptor: one pattern or a list (Elasticsearch accepts and may return both).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Names {
    /// A single pattern.
    One(String),
    /// Several patterns.
    Many(Vec<String>),
}

impl Default for Names {
    fn default() -> Self {
        Names::Many(Vec::new())
    }
}

impl Names {
    /// The patterns, in the order given.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Names::One(name) => vec![name.clone()],
            Names::Many(names) => names.clone(),
        }
    }
}

/// One `indices` (or `remote_indices`) entry of a role descriptor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IndexPrivileges {
    #[serde(default)]
    pub names: Names,
    #[serde(default, deserialize_with = "null_as_default")]
    pub privileges: Vec<String>,
    /// Remote clusters, for `remote_indices`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<String>,
}

/// One `applications` entry of a role descriptor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApplicationPrivileges {
    pub application: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub privileges: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
}

/// An inline role, as API keys and service accounts carry them; only what a reviewer is shown is typed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RoleDescriptor {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub indices: Vec<IndexPrivileges>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub applications: Vec<ApplicationPrivileges>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub run_as: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub remote_indices: Vec<IndexPrivileges>,
}

/// An Elasticsearch API key, as the key APIs list it (never with its secret).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKey {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `rest` or `cross_cluster` (8.10+; absent before: `rest`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Creation time, epoch milliseconds.
    #[serde(default)]
    pub creation: Option<i64>,
    /// Expiry time, epoch milliseconds; absent for a key that never expires.
    #[serde(default)]
    pub expiration: Option<i64>,
    #[serde(default)]
    pub invalidated: bool,
    /// When it was invalidated, epoch milliseconds (8.12+).
    #[serde(default)]
    pub invalidation: Option<i64>,
    /// The owner's username.
    #[serde(default)]
    pub username: String,
    /// The owner's realm name.
    #[serde(default)]
    pub realm: Option<String>,
    /// The owner's realm type (8.14+).
    #[serde(default)]
    pub realm_type: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// The key's own privileges; empty means "everything the owner can do".
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_descriptors: BTreeMap<String, RoleDescriptor>,
    /// A snapshot of the owner's privileges (only with `with_limited_by`).
    #[serde(default)]
    pub limited_by: Option<Vec<BTreeMap<String, RoleDescriptor>>>,
    /// What a cross-cluster key gives access to.
    #[serde(default)]
    pub access: Option<Value>,
    #[serde(default)]
    pub profile_uid: Option<String>,
    /// Sort values of a `_query` answer, for `search_after`.
    #[serde(rename = "_sort", default)]
    pub sort: Option<Vec<Value>>,
}

impl ApiKey {
    /// `rest` or `cross_cluster`.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("rest")
    }

    /// Whether the key had expired at `now_ms` (epoch milliseconds).
    pub fn expired_at(&self, now_ms: i64) -> bool {
        self.expiration.is_some_and(|e| e <= now_ms)
    }
}

/// Body of `POST /_security/_query/api_key`.
#[derive(Debug, Deserialize)]
struct ApiKeyPage {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    api_keys: Vec<ApiKey>,
}

/// Request of one `_query/api_key` page.
#[derive(Debug, Serialize)]
struct ApiKeyQuery<'a> {
    size: u32,
    sort: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_after: Option<&'a [Value]>,
}

/// Keys per `_query/api_key` page by default.
pub const API_KEY_PAGE_SIZE: u32 = 1000;

/// Which API listed the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeySource {
    /// `POST /_security/_query/api_key`, paged.
    Query,
    /// `GET /_security/api_key`, in one answer (clusters before 7.15).
    List,
}

/// Every API key the key may see, and how they were read.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKey>,
    pub source: ApiKeySource,
    /// Whether `limited_by` (the owners' privileges) was asked for and given.
    pub with_limited_by: bool,
    /// Requests sent (including refused ones that led to a fallback).
    pub requests: u32,
}

/// Whether a status means "this cluster has no such endpoint or parameter": Elasticsearch answers
/// unknown endpoints and unknown URL parameters with 400 (and a wrong method with 405); the fake
/// without a version answers 404.
fn not_supported(e: &ApiError) -> bool {
    matches!(e.status(), Some(400 | 404 | 405))
}

/// The services of `GET /_security/service`, keyed `namespace/service`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceAccount {
    #[serde(default)]
    pub role_descriptor: RoleDescriptor,
}

/// Node counts of a credentials answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FileTokens {
    /// Token name -> the nodes that have it in their `service_tokens` file.
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_tokens: BTreeMap<String, Value>,
}

/// Body of `GET /_security/service/{ns}/{svc}/credential`: the token names (never their values).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceCredentials {
    #[serde(default)]
    pub service_account: String,
    #[serde(default)]
    pub count: u64,
    /// Tokens kept in the security index, by name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tokens: BTreeMap<String, Value>,
    #[serde(default)]
    pub nodes_credentials: FileTokens,
}

impl DeploymentClient {
    /// Every API key the key may see (invalidated and expired ones too), sorted by creation, name and
    /// index order. Reads `POST /_security/_query/api_key?with_limited_by=true` page by page
    /// (`search_after`, `page_size` keys each); when the cluster refuses `with_limited_by` (403: it
    /// needs `manage_api_key`; 400 before 8.5) the same without it; when it has no `_query/api_key`
    /// (before 7.15), `GET /_security/api_key` once. Other failures, and a 403 without
    /// `with_limited_by`, are returned.
    ///
    /// A known `version` skips the requests that release cannot answer.
    pub fn api_keys(
        &self,
        page_size: u32,
        version: Option<EsVersion>,
    ) -> Result<ApiKeyList, ApiError> {
        let mut requests = 0;
        let query = version.is_none_or(EsVersion::has_query_api_key);
        if query && version.is_none_or(EsVersion::has_api_key_limited_by) {
            match self.query_api_keys(page_size, true, &mut requests) {
                Ok(keys) => {
                    return Ok(ApiKeyList {
                        keys,
                        source: ApiKeySource::Query,
                        with_limited_by: true,
                        requests,
                    })
                }
                Err(e) if e.status() == Some(403) || not_supported(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if query {
            match self.query_api_keys(page_size, false, &mut requests) {
                Ok(keys) => {
                    return Ok(ApiKeyList {
                        keys,
                        source: ApiKeySource::Query,
                        with_limited_by: false,
                        requests,
                    })
                }
                Err(e) if not_supported(&e) => {}
                Err(e) => return Err(e),
            }
        }
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default, deserialize_with = "null_as_default")]
            api_keys: Vec<ApiKey>,
        }
        requests += 1;
        let listed: Listed = self.api.get(&["_security", "api_key"])?;
        Ok(ApiKeyList {
            keys: listed.api_keys,
            source: ApiKeySource::List,
            with_limited_by: false,
            requests,
        })
    }

    fn query_api_keys(
        &self,
        page_size: u32,
        with_limited_by: bool,
        requests: &mut u32,
    ) -> Result<Vec<ApiKey>, ApiError> {
        let page_size = page_size.max(1);
        let query: &[(&str, &str)] = if with_limited_by {
            &[("with_limited_by", "true")]
        } else {
            &[]
        };
        let sort = serde_json::json!([{"creation": "asc"}, {"name": "asc"}, "_doc"]);
        let mut keys: Vec<ApiKey> = Vec::new();
        let mut after: Option<Vec<Value>> = None;
        loop {
            let body = ApiKeyQuery {
                size: page_size,
                sort: sort.clone(),
                search_after: after.as_deref(),
            };
            *requests += 1;
            let page: ApiKeyPage = self.api.send_query(
                Method::POST,
                &["_security", "_query", "api_key"],
                query,
                &body,
            )?;
            let count = page.count.unwrap_or(page.api_keys.len() as u64);
            let next = page.api_keys.last().and_then(|k| k.sort.clone());
            keys.extend(page.api_keys);
            match next {
                Some(values) if count >= u64::from(page_size) => after = Some(values),
                _ => break,
            }
        }
        Ok(keys)
    }

    /// The service accounts, keyed `namespace/service` (one request).
    pub fn service_accounts(&self) -> Result<BTreeMap<String, ServiceAccount>, ApiError> {
        self.api.get(&["_security", "service"])
    }

    /// The token names of one service account (`namespace/service`); one request.
    pub fn service_credentials(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<ServiceCredentials, ApiError> {
        self.api
            .get(&["_security", "service", namespace, service, "credential"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_parse_in_every_shape() {
        let body = r#"{"total":3,"count":3,"api_keys":[
          {"id":"k1","name":"governance-sync","type":"rest","creation":1736510400000,"expiration":1744286400000,
           "invalidated":false,"username":"governance-svc","realm":"native1","realm_type":"native","metadata":{"purpose":"iga"},
           "role_descriptors":{"reader":{"cluster":["read_security"],"indices":[{"names":"logs-*","privileges":["read"]}]}},
           "limited_by":[{"governance_reader":{"cluster":["read_security","monitor"]}}],"_sort":[1736510400000,"governance-sync",0]},
          {"id":"k2","name":null,"creation":1,"invalidated":true,"username":"sam","realm":"saml1","metadata":null,"role_descriptors":{}},
          {"id":"k3","name":"ccs","type":"cross_cluster","creation":2,"invalidated":false,"username":"x","realm":"r",
           "access":{"search":[{"names":["logs-*"]}]},"role_descriptors":{"cross_cluster":{"cluster":["cross_cluster_search"],"indices":[{"names":["logs-*"],"privileges":["read"]}]}}}]}"#;
        let page: ApiKeyPage = serde_json::from_str(body).expect("parses");
        assert_eq!(page.count, Some(3));
        let keys = page.api_keys;
        assert_eq!(
            keys[0].role_descriptors["reader"].indices[0].names.to_vec(),
            ["logs-*"]
        );
        assert_eq!(keys[0].limited_by.as_ref().map(Vec::len), Some(1));
        assert_eq!(keys[0].sort.as_ref().map(Vec::len), Some(3));
        assert!(keys[0].expired_at(1744286400000) && !keys[0].expired_at(1744286399999));
        assert_eq!(keys[1].kind(), "rest");
        assert!(keys[1].role_descriptors.is_empty() && keys[1].metadata.is_empty());
        assert_eq!(keys[2].kind(), "cross_cluster");
        assert!(!keys[2].expired_at(i64::MAX));
    }

    #[test]
    fn credentials_parse_without_values() {
        let body = r#"{"service_account":"elastic/fleet-server","count":3,"tokens":{"token1":{},"token42":{}},
          "nodes_credentials":{"_nodes":{"total":3,"successful":3,"failed":0},"file_tokens":{"my-token":{"nodes":["node0","node1"]}}}}"#;
        let c: ServiceCredentials = serde_json::from_str(body).expect("parses");
        assert_eq!(c.count, 3);
        assert_eq!(c.tokens.keys().collect::<Vec<_>>(), ["token1", "token42"]);
        assert_eq!(c.nodes_credentials.file_tokens.len(), 1);
    }
}
