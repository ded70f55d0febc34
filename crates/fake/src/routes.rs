//! Routing, authentication, error bodies and write validation of the fake
//! Elastic APIs.
//!
//! Paths under `/api/v1/` belong to the Elastic Cloud API, paths under
//! `/_security/` to the Elasticsearch security API; everything else is a 404.
//! Error bodies follow each API's envelope: Cloud's `BasicFailedReply`
//! (`{"errors":[{"code","message"}]}` plus an `x-cloud-error-codes` header)
//! and Elasticsearch's `{"error":{...},"status":N}`. Writes are checked the way
//! Elasticsearch checks them (PUT user, PUT role mapping including the full
//! rules grammar) before they change the [`Tenant`].
//!
//! A tenant that plays a versioned cluster ([`Tenant::cluster`]) also answers
//! `GET /`, the `_query/user` and `_query/role` APIs, refuses endpoints its
//! version lacks (and, when self-managed, the Cloud API) with Elasticsearch's
//! 400 for an unknown endpoint, and accepts `Authorization: Basic` for the
//! passwords in [`Tenant::basic_users`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::cloud_writes;
use super::tenant::Tenant;
use super::Api;

/// Built-in user names Elasticsearch refuses to update through PUT user.
const RESERVED_USERNAMES: &[&str] = &[
    "elastic",
    "kibana",
    "kibana_system",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_user",
];

/// Name suffix Elasticsearch reserves for operator-defined role mappings.
const OPERATOR_MAPPING_SUFFIX: &str = "-read-only-operator-mapping";

/// A response built by the routes, before the common headers are added.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Routed {
    pub(crate) fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Routed {
        Routed {
            status,
            headers: Vec::new(),
            body: to_bytes(body),
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Routed {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Serialize once; the values served cannot fail to serialize, but never
/// panic if one somehow does.
fn to_bytes<T: Serialize + ?Sized>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec())
}

/// Which API a request path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Cloud,
    Elasticsearch,
    /// Neither prefix: always 404.
    Other,
}

impl Family {
    /// The API a request is recorded under (unknown paths count as
    /// Elasticsearch: the deployment endpoint is the generic one).
    pub fn api(self) -> Api {
        match self {
            Family::Cloud => Api::Cloud,
            Family::Elasticsearch | Family::Other => Api::Elasticsearch,
        }
    }
}

/// A request target split into its parts.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Which API the path belongs to.
    pub family: Family,
    /// Percent-decoded path segments after the API prefix (`/api/v1` or
    /// `/_security`); empty segments are dropped.
    pub rest: Vec<String>,
}

impl Target {
    pub fn parse(target: &str) -> Target {
        let path = target
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string();
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let (family, skip) = match segments.as_slice() {
            [api, v1, ..] if api == "api" && v1 == "v1" => (Family::Cloud, 2),
            [security, ..] if security == "_security" => (Family::Elasticsearch, 1),
            _ => (Family::Other, 0),
        };
        Target {
            family,
            rest: segments.into_iter().skip(skip).collect(),
        }
    }
}

impl Target {
    /// [`Target::parse`], with Cloud paths counted as unknown when the
    /// tenant plays a cluster without the Cloud API.
    pub fn parse_for(tenant: &Tenant, target: &str) -> Target {
        let mut parsed = Target::parse(target);
        let no_cloud = tenant.cluster.as_ref().is_some_and(|c| !c.cloud_api);
        if parsed.family == Family::Cloud && no_cloud {
            parsed = Target {
                family: Family::Other,
                rest: target
                    .split(['?', '#'])
                    .next()
                    .unwrap_or_default()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(percent_decode)
                    .collect(),
            };
        }
        parsed
    }
}

/// Decode `%XX` escapes; malformed escapes are kept literally.
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Result of checking the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    Ok,
    Missing,
    Wrong,
}

/// Check `Authorization: ApiKey <key>` against the key of the path's API.
pub(crate) fn check_auth(tenant: &Tenant, family: Family, header: Option<&str>) -> Auth {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Auth::Missing;
    };
    let expected = match family {
        Family::Cloud => &tenant.cloud_api_key,
        Family::Elasticsearch | Family::Other => &tenant.deployment_api_key,
    };
    match header.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("ApiKey") && key.trim() == expected => {
            Auth::Ok
        }
        Some(_) if family != Family::Cloud && basic_user(tenant, header).is_some() => Auth::Ok,
        _ => Auth::Wrong,
    }
}

/// The `user:password` pair of an `Authorization: Basic` header.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, credential) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let text = String::from_utf8(base64_decode(credential.trim())?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The user an `Authorization: Basic` header authenticates: the password
/// matches [`Tenant::basic_users`] and the user is not a disabled native
/// user.
pub(crate) fn basic_user(tenant: &Tenant, header: &str) -> Option<String> {
    if tenant.basic_users.is_empty() {
        return None;
    }
    let (user, password) = basic_credentials(header)?;
    if tenant.basic_users.get(&user) != Some(&password) {
        return None;
    }
    let disabled = tenant
        .users
        .get(&user)
        .is_some_and(|u| u["enabled"] == Value::Bool(false));
    (!disabled).then_some(user)
}

/// The `_authenticate` body of a user logged in with a password: the native
/// realm (`reserved` for built-in users), or the file realm for a name that
/// is no native user.
fn realm_authenticate(tenant: &Tenant, username: &str) -> Value {
    let user = tenant.users.get(username);
    let reserved = RESERVED_USERNAMES.contains(&username)
        || user.is_some_and(|u| u["metadata"]["_reserved"] == Value::Bool(true));
    let realm = match (reserved, user.is_some()) {
        (true, _) => json!({"name": "reserved", "type": "reserved"}),
        (false, true) => json!({"name": "native1", "type": "native"}),
        (false, false) => json!({"name": "default_file", "type": "file"}),
    };
    let field =
        |name: &str, default: Value| user.and_then(|u| u.get(name)).cloned().unwrap_or(default);
    json!({
        "username": username,
        "roles": field("roles", json!([])),
        "full_name": field("full_name", Value::Null),
        "email": field("email", Value::Null),
        "metadata": field("metadata", json!({})),
        "enabled": true,
        "authentication_realm": realm,
        "lookup_realm": realm,
        "authentication_type": "realm"
    })
}

/// The id part of an Elasticsearch API key credential (`base64(id:secret)`).
pub(crate) fn api_key_id(credential: &str) -> Option<String> {
    let decoded = base64_decode(credential.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, _) = text.split_once(':')?;
    Some(id.to_string())
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------

/// A Cloud `BasicFailedReply` with its `x-cloud-error-codes` header.
pub(crate) fn cloud_error(status: u16, code: &str, message: &str, fields: &[&str]) -> Routed {
    let mut error = json!({"code": code, "message": message});
    if !fields.is_empty() {
        error["fields"] = json!(fields);
    }
    Routed::json(status, &json!({"errors": [error]})).with_header("x-cloud-error-codes", code)
}

/// An Elasticsearch error envelope.
pub(crate) fn es_error(status: u16, kind: &str, reason: &str) -> Routed {
    let cause = json!({"type": kind, "reason": reason});
    Routed::json(
        status,
        &json!({
            "error": {"root_cause": [cause], "type": kind, "reason": reason},
            "status": status
        }),
    )
}

/// A routing-layer Elasticsearch error, where `error` is a plain string.
pub(crate) fn es_plain_error(status: u16, reason: &str) -> Routed {
    Routed::json(status, &json!({"error": reason, "status": status}))
}

fn validation_failed(messages: &[String]) -> Routed {
    let mut reason = String::from("Validation Failed: ");
    for (i, message) in messages.iter().enumerate() {
        reason.push_str(&format!("{}: {};", i + 1, message));
    }
    es_error(400, "action_request_validation_exception", &reason)
}

const WWW_AUTHENTICATE: [&str; 3] = [
    "Basic realm=\"security\", charset=\"UTF-8\"",
    "Bearer realm=\"security\"",
    "ApiKey",
];

/// The Elasticsearch 401 for missing or wrong credentials; `basic` says
/// whether the tenant takes passwords (then a refused `Basic` header names
/// its user).
fn es_unauthorized(auth: Auth, target: &str, header: Option<&str>, basic: bool) -> Routed {
    let mut cause = Map::new();
    cause.insert("type".into(), json!("security_exception"));
    let basic_name = header
        .filter(|_| basic)
        .and_then(basic_credentials)
        .map(|(user, _)| user);
    if auth == Auth::Missing {
        cause.insert(
            "reason".into(),
            json!(format!(
                "missing authentication credentials for REST request [{target}]"
            )),
        );
    } else if let Some(user) = basic_name {
        cause.insert(
            "reason".into(),
            json!(format!(
                "unable to authenticate user [{user}] for REST request [{target}]"
            )),
        );
    } else {
        cause.insert(
            "reason".into(),
            json!("unable to authenticate with provided credentials and anonymous access is not allowed for this request"),
        );
        let presented = header
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("ApiKey"))
            .map(|(_, key)| key.trim());
        if let Some(key) = presented {
            let id = api_key_id(key).unwrap_or_else(|| key.to_string());
            cause.insert(
                "additional_unsuccessful_credentials".into(),
                json!(format!("API key: unable to find apikey with id {id}")),
            );
        }
    }
    cause.insert(
        "header".into(),
        json!({"WWW-Authenticate": WWW_AUTHENTICATE}),
    );
    let mut error = cause.clone();
    error.insert("root_cause".into(), json!([Value::Object(cause)]));
    let mut routed = Routed::json(401, &json!({"error": error, "status": 401}));
    for value in WWW_AUTHENTICATE {
        routed = routed.with_header("WWW-Authenticate", value);
    }
    routed
}

fn cloud_unauthorized() -> Routed {
    cloud_error(401, "root.unauthorized", "Credentials were invalid", &[])
}

/// The response for an injected `Status` fault, in the right API's shape.
pub(crate) fn fault_response(
    tenant: &Tenant,
    family: Family,
    status: u16,
    method: &str,
    request_target: &str,
    target: &Target,
    auth_header: Option<&str>,
) -> Routed {
    if family == Family::Cloud {
        return match status {
            401 => cloud_unauthorized(),
            403 => cloud_error(
                403,
                "organization.invalid_access",
                "You do not have access to this organization",
                &[],
            ),
            404 => cloud_error(
                404,
                "organization.not_found",
                "Organization not found",
                &["organization_id"],
            ),
            429 => cloud_error(
                429,
                "root.rate_limit_exceeded",
                "Too many requests; the rate limit was exceeded, retry later",
                &[],
            ),
            500..=599 => cloud_error(
                status,
                "root.server_error",
                "There was an internal server error, retry later",
                &[],
            ),
            400 => cloud_error(400, "root.invalid_request", "The request was invalid", &[]),
            _ => cloud_error(status, "root.request_failed", "The request failed", &[]),
        };
    }
    match status {
        401 => es_unauthorized(
            Auth::Wrong,
            request_target,
            auth_header,
            !tenant.basic_users.is_empty(),
        ),
        403 if auth_header.and_then(|h| basic_user(tenant, h)).is_some() => {
            let user = auth_header
                .and_then(|h| basic_user(tenant, h))
                .unwrap_or_default();
            let body = realm_authenticate(tenant, &user);
            let roles: Vec<&str> = body["roles"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let (action, privileges) = es_action(method, target);
            es_error(
                403,
                "security_exception",
                &format!(
                    "action [{action}] is unauthorized for user [{user}] with effective roles [{}], this action is granted by the cluster privileges [{privileges}]",
                    roles.join(",")
                ),
            )
        }
        403 => {
            let key_id = tenant.authenticate["api_key"]["id"]
                .as_str()
                .unwrap_or("demo");
            let user = tenant.authenticate["username"]
                .as_str()
                .unwrap_or("governance-svc");
            let (action, privileges) = es_action(method, target);
            es_error(
                403,
                "security_exception",
                &format!(
                    "action [{action}] is unauthorized for API key id [{key_id}] of user [{user}], this action is granted by the cluster privileges [{privileges}]"
                ),
            )
        }
        404 => es_error(404, "resource_not_found_exception", "resource not found"),
        409 => es_error(
            409,
            "version_conflict_engine_exception",
            "version conflict, document already exists",
        ),
        429 => es_error(
            429,
            "es_rejected_execution_exception",
            "rejected execution of TimedRunnable on EsThreadPoolExecutor[name = instance-0000000001/security-token-key, queue capacity = 1000, active threads = 8, queued tasks = 1000]",
        ),
        503 => es_error(
            503,
            "cluster_block_exception",
            "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];",
        ),
        500..=599 => es_error(status, "exception", "internal server error"),
        400 => es_error(400, "illegal_argument_exception", "bad request"),
        _ => es_error(status, "exception", "request failed"),
    }
}

/// The transport action and granting privileges for a security request.
fn es_action(method: &str, target: &Target) -> (String, &'static str) {
    let object = match target.rest.first().map(String::as_str) {
        Some("_authenticate") => "user/authenticate",
        Some("_query") if target.rest.get(1).is_some_and(|s| s == "user") => {
            return (
                "cluster:admin/xpack/security/user/query".to_string(),
                "read_security,manage_security,all",
            )
        }
        Some("_query") if target.rest.get(1).is_some_and(|s| s == "role") => {
            return (
                "cluster:admin/xpack/security/role/query".to_string(),
                "read_security,manage_security,all",
            )
        }
        Some("_query") if target.rest.get(1).is_some_and(|s| s == "api_key") => {
            return (
                "cluster:admin/xpack/security/api_key/query".to_string(),
                "manage_own_api_key,read_security,manage_api_key,manage_security,all",
            )
        }
        Some("api_key") => {
            return (
                "cluster:admin/xpack/security/api_key/get".to_string(),
                "manage_own_api_key,read_security,manage_api_key,manage_security,all",
            )
        }
        Some("service") if target.rest.len() > 3 => {
            return (
                "cluster:admin/xpack/security/service_account/credential/get".to_string(),
                "read_security,manage_service_account,manage_security,all",
            )
        }
        Some("service") => {
            return (
                "cluster:admin/xpack/security/service_account/get".to_string(),
                "manage_service_account,manage_security,all",
            )
        }
        Some("role") => "role",
        Some("role_mapping") => "role_mapping",
        _ => "user",
    };
    if object == "user/authenticate" {
        return (
            "cluster:admin/xpack/security/user/authenticate".to_string(),
            "read_security,manage_security,all",
        );
    }
    let (verb, privileges) = match method {
        "PUT" | "POST" => ("put", "manage_security,all"),
        "DELETE" => ("delete", "manage_security,all"),
        _ => ("get", "read_security,manage_security,all"),
    };
    (
        format!("cluster:admin/xpack/security/{object}/{verb}"),
        privileges,
    )
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

/// Route one authenticated-or-not request. Locks nothing itself: the caller
/// holds the tenant for the duration (reads serialize straight from it).
pub(crate) fn route(
    tenant: &mut Tenant,
    method: &str,
    request_target: &str,
    target: &Target,
    auth_header: Option<&str>,
    body: &[u8],
) -> Routed {
    let auth = check_auth(tenant, target.family, auth_header);
    let basic = !tenant.basic_users.is_empty();
    if let Some(cluster) = &tenant.cluster {
        // Elasticsearch looks the handler up before it authenticates.
        let root = target.family == Family::Other && target.rest.is_empty();
        let known = match target.family {
            Family::Cloud => true,
            Family::Elasticsearch => cluster.has_endpoint(&target.rest),
            Family::Other => root,
        };
        if !known {
            return no_handler(request_target, method, 400);
        }
        if root {
            return match (auth, method) {
                (Auth::Ok, "GET") => Routed::json(200, &cluster.root_body()),
                (Auth::Ok, _) => es_method_not_allowed(request_target, method, "HEAD, GET"),
                _ => es_unauthorized(auth, request_target, auth_header, basic),
            };
        }
    }
    let password_user = auth_header.and_then(|h| basic_user(tenant, h));
    match target.family {
        Family::Cloud if auth != Auth::Ok => cloud_unauthorized(),
        Family::Cloud => cloud_route(tenant, method, request_target, &target.rest, body),
        Family::Elasticsearch if auth != Auth::Ok => {
            es_unauthorized(auth, request_target, auth_header, basic)
        }
        Family::Elasticsearch => match (password_user, target.rest.as_slice(), method) {
            (Some(user), [only], "GET") if only == "_authenticate" => {
                Routed::json(200, &realm_authenticate(tenant, &user))
            }
            _ => es_route(tenant, method, request_target, &target.rest, body),
        },
        Family::Other => no_handler(request_target, method, 404),
    }
}

/// Elasticsearch's answer for a path it has no handler for: a plain-string
/// error, 404 from the unversioned fake, 400 from a versioned cluster.
fn no_handler(request_target: &str, method: &str, status: u16) -> Routed {
    es_plain_error(
        status,
        &format!("no handler found for uri [{request_target}] and method [{method}]"),
    )
}

fn cloud_method_not_allowed(method: &str) -> Routed {
    cloud_error(
        405,
        "root.method_not_allowed",
        &format!("Method [{method}] is not allowed on this resource"),
        &[],
    )
}

#[derive(Serialize)]
struct OrganizationList<'a> {
    organizations: &'a [Value],
}

#[derive(Serialize)]
struct MemberList<'a> {
    members: &'a [Value],
}

fn cloud_route(
    tenant: &mut Tenant,
    method: &str,
    request_target: &str,
    rest: &[String],
    body: &[u8],
) -> Routed {
    if let Some(routed) = cloud_writes::route(tenant, method, rest, body) {
        return routed;
    }
    let find_org = |id: &str| {
        tenant
            .organizations
            .iter()
            .find(|org| org.get("id").and_then(Value::as_str) == Some(id))
    };
    let org_not_found = || {
        cloud_error(
            404,
            "organization.not_found",
            "Organization not found",
            &["organization_id"],
        )
    };
    let parts: Vec<&str> = rest.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["organizations"] => {
            if method != "GET" {
                return cloud_method_not_allowed(method);
            }
            Routed::json(
                200,
                &OrganizationList {
                    organizations: &tenant.organizations,
                },
            )
        }
        ["organizations", id] => {
            if method != "GET" {
                return cloud_method_not_allowed(method);
            }
            match find_org(id) {
                Some(org) => Routed::json(200, org),
                None => org_not_found(),
            }
        }
        ["organizations", id, "members"] => {
            if method != "GET" {
                return cloud_method_not_allowed(method);
            }
            if find_org(id).is_none() {
                return org_not_found();
            }
            let members = tenant.members.get(*id).map(Vec::as_slice).unwrap_or(&[]);
            Routed::json(200, &MemberList { members })
        }
        ["deployments"] => {
            if method != "GET" {
                return cloud_method_not_allowed(method);
            }
            Routed::json(200, &json!({"deployments": tenant.deployments}))
        }
        ["serverless", "projects", kind @ ("elasticsearch" | "observability" | "security")] => {
            if method != "GET" {
                return cloud_method_not_allowed(method);
            }
            if tenant.serverless_forbidden {
                return cloud_error(
                    403,
                    "root.unauthorized.rbac",
                    "The supplied authentication is not authorized to access Serverless projects",
                    &[],
                );
            }
            let items: Vec<&Value> = tenant
                .projects
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some(*kind))
                .collect();
            Routed::json(200, &json!({"items": items}))
        }
        _ => cloud_error(
            404,
            "root.resource_not_found",
            &format!("The requested resource [{request_target}] could not be found"),
            &[],
        ),
    }
}

fn es_method_not_allowed(request_target: &str, method: &str, allowed: &str) -> Routed {
    es_plain_error(
        405,
        &format!(
            "Incorrect HTTP method for uri [{request_target}] and method [{method}], allowed: [{allowed}]"
        ),
    )
}

fn es_route(
    tenant: &mut Tenant,
    method: &str,
    request_target: &str,
    rest: &[String],
    body: &[u8],
) -> Routed {
    let parts: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (parts.as_slice(), method) {
        (["_authenticate"], "GET") => Routed::json(200, &tenant.authenticate),
        (["_authenticate"], _) => es_method_not_allowed(request_target, method, "GET"),
        (["user"], "GET") => get_named(&tenant.users, None),
        (["user", names], "GET") => get_named(&tenant.users, Some(names)),
        (["user", name], "PUT" | "POST") => put_user(tenant, name, body),
        (["user"], _) => es_method_not_allowed(request_target, method, "GET"),
        (["user", _], _) => es_method_not_allowed(request_target, method, "GET, PUT, POST"),
        (["role"], "GET") => get_named(&tenant.roles, None),
        (["role", names], "GET") => get_named(&tenant.roles, Some(names)),
        (["role"] | ["role", _], _) => es_method_not_allowed(request_target, method, "GET"),
        (["role_mapping"], "GET") => get_named(&tenant.role_mappings, None),
        (["role_mapping", names], "GET") => get_named(&tenant.role_mappings, Some(names)),
        (["role_mapping", name], "PUT" | "POST") => put_role_mapping(tenant, name, body),
        (["role_mapping", name], "DELETE") => delete_role_mapping(tenant, name),
        (["role_mapping"], _) => es_method_not_allowed(request_target, method, "GET"),
        (["role_mapping", _], _) => {
            es_method_not_allowed(request_target, method, "GET, PUT, POST, DELETE")
        }
        (["profile", "_suggest"], "POST" | "GET") => suggest_profiles(tenant, body),
        (["profile", "_suggest"], _) => es_method_not_allowed(request_target, method, "GET, POST"),
        (["_query", "api_key"], "POST" | "GET") => {
            super::credentials::query_api_keys(tenant, request_target, body)
        }
        (["_query", "api_key"], _) => es_method_not_allowed(request_target, method, "GET, POST"),
        (["api_key"], "GET") => super::credentials::list_api_keys(tenant, request_target),
        (["service"], "GET") => Routed::json(200, &tenant.service_accounts),
        (["service", namespace, service, "credential"], "GET") => {
            super::credentials::service_credentials(tenant, namespace, service)
        }
        (["_query", "user"], "POST" | "GET") if tenant.cluster.is_some() => {
            query_objects(native_users(tenant), body, &QUERY_USERS)
        }
        (["_query", "role"], "POST" | "GET") if tenant.cluster.is_some() => {
            query_objects(native_roles(tenant), body, &QUERY_ROLES)
        }
        (["_query", "user" | "role"], _) if tenant.cluster.is_some() => {
            es_method_not_allowed(request_target, method, "GET, POST")
        }
        _ if tenant.cluster.is_some() => no_handler(request_target, method, 400),
        _ => no_handler(request_target, method, 404),
    }
}

/// One of the `_query` APIs over a keyed collection.
struct QueryKind {
    /// Name of the body's parser, as quoted in parse errors.
    payload: &'static str,
    /// The field that holds the object's key, the only one sortable here.
    key: &'static str,
    /// The response's array field.
    list: &'static str,
}

const QUERY_USERS: QueryKind = QueryKind {
    payload: "query_user_request",
    key: "username",
    list: "users",
};

const QUERY_ROLES: QueryKind = QueryKind {
    payload: "query_role_request",
    key: "name",
    list: "roles",
};

/// Largest `from + size` a `_query` search takes.
const MAX_RESULT_WINDOW: u64 = 10_000;

fn is_reserved(name: &str, object: &Value) -> bool {
    object["metadata"]["_reserved"] == Value::Bool(true) || RESERVED_USERNAMES.contains(&name)
}

/// Native users without the built-in ones, in username order.
fn native_users(tenant: &Tenant) -> Vec<(String, Value)> {
    tenant
        .users
        .iter()
        .filter(|(name, user)| !is_reserved(name, user))
        .map(|(name, user)| (name.clone(), user.clone()))
        .collect()
}

/// Native roles without the built-in ones, in name order, each with its
/// `name` added as `_query/role` answers them.
fn native_roles(tenant: &Tenant) -> Vec<(String, Value)> {
    tenant
        .roles
        .iter()
        .filter(|(_, role)| role["metadata"]["_reserved"] != Value::Bool(true))
        .map(|(name, role)| {
            let mut role = role.clone();
            if let Value::Object(map) = &mut role {
                map.insert("name".to_string(), json!(name));
            }
            (name.clone(), role)
        })
        .collect()
}

/// Read the `sort` of a `_query` body: `"key"`, `{"key": "asc"}`,
/// `{"key": {"order": "desc"}}`, or an array of one of those. `Ok(None)` for
/// an empty array; `Ok(Some(true))` for descending.
fn parse_sort(sort: &Value, kind: &QueryKind) -> Result<Option<bool>, Routed> {
    let unsupported = |field: &str| {
        es_error(
            400,
            "illegal_argument_exception",
            &format!("sorting is not supported for field [{field}]"),
        )
    };
    let bad = |what: &Value| {
        es_error(
            400,
            "x_content_parse_exception",
            &format!("[{}] failed to parse field [sort]: {what}", kind.payload),
        )
    };
    let entries: Vec<&Value> = match sort {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut order = None;
    for entry in entries {
        let (field, descending) = match entry {
            Value::String(field) => (field.as_str(), false),
            Value::Object(map) if map.len() == 1 => {
                let Some((field, spec)) = map.iter().next() else {
                    return Err(bad(entry));
                };
                let direction = match spec {
                    Value::String(d) => d.as_str(),
                    Value::Object(options) => match options.get("order").and_then(Value::as_str) {
                        Some(d) => d,
                        None if options.is_empty() => "asc",
                        None => return Err(bad(entry)),
                    },
                    _ => return Err(bad(entry)),
                };
                let descending = match direction.to_ascii_lowercase().as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(bad(entry)),
                };
                (field.as_str(), descending)
            }
            _ => return Err(bad(entry)),
        };
        if field != kind.key || order.is_some() {
            return Err(unsupported(field));
        }
        order = Some(descending);
    }
    Ok(order)
}

/// `POST|GET /_security/_query/{user,role}` over `items` (in key order):
/// `query` (absent or `match_all`), `from`, `size` (default 10), `sort` by
/// the key, `search_after`. Answers `{"total","count",<list>}` with `_sort`
/// on each object when sorted.
fn query_objects(items: Vec<(String, Value)>, body: &[u8], kind: &QueryKind) -> Routed {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match parse_object(body) {
            Ok(map) => map,
            Err(routed) => return routed,
        }
    };
    let illegal = |reason: String| es_error(400, "illegal_argument_exception", &reason);
    let parse_error = |reason: String| es_error(400, "x_content_parse_exception", &reason);
    let number = |field: &str| -> Result<Option<u64>, Routed> {
        match request.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => match (value.as_u64(), value.as_i64()) {
                (Some(n), _) => Ok(Some(n)),
                (None, Some(n)) => Err(illegal(format!(
                    "[{field}] parameter cannot be negative but was [{n}]"
                ))),
                _ => Err(parse_error(format!(
                    "[{}] failed to parse field [{field}]",
                    kind.payload
                ))),
            },
        }
    };
    if let Some(key) = request.keys().find(|k| {
        !matches!(
            k.as_str(),
            "query" | "from" | "size" | "sort" | "search_after"
        )
    }) {
        return parse_error(format!("[{}] unknown field [{key}]", kind.payload));
    }
    match request.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(query)) => {
            let mut kinds = query.keys();
            match (kinds.next().map(String::as_str), kinds.next()) {
                (Some("match_all"), None) => {}
                (Some(other), None) => {
                    return illegal(format!(
                        "Query type [{other}] is not currently supported by this fake"
                    ))
                }
                _ => {
                    return parse_error(format!("[{}] failed to parse field [query]", kind.payload))
                }
            }
        }
        Some(_) => return parse_error(format!("[{}] failed to parse field [query]", kind.payload)),
    }
    let (from, size) = match (number("from"), number("size")) {
        (Ok(from), Ok(size)) => (from.unwrap_or(0), size.unwrap_or(10)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let window = from.saturating_add(size);
    if window > MAX_RESULT_WINDOW {
        return illegal(format!(
            "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{window}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting."
        ));
    }
    let descending = match request.get("sort") {
        None | Some(Value::Null) => None,
        Some(sort) => match parse_sort(sort, kind) {
            Ok(order) => order,
            Err(routed) => return routed,
        },
    };
    let after: Option<String> = match request.get("search_after") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => {
            if descending.is_none() {
                return illegal("[search_after] cannot be used without [sort]".to_string());
            }
            if values.len() != 1 {
                return illegal(format!(
                    "search_after has {} value(s) but sort has 1.",
                    values.len()
                ));
            }
            match &values[0] {
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        }
        Some(_) => {
            return parse_error(format!(
                "[{}] failed to parse field [search_after]",
                kind.payload
            ))
        }
    };
    if after.is_some() && from > 0 {
        return illegal(
            "`from` parameter must be set to 0 when `search_after` is used".to_string(),
        );
    }
    let total = items.len();
    let mut ordered = items;
    if descending == Some(true) {
        ordered.reverse();
    }
    let page: Vec<Value> = ordered
        .into_iter()
        .filter(|(name, _)| match (&after, descending) {
            (Some(after), Some(true)) => name.as_str() < after.as_str(),
            (Some(after), _) => name.as_str() > after.as_str(),
            (None, _) => true,
        })
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|(name, mut object)| {
            if descending.is_some() {
                if let Value::Object(map) = &mut object {
                    map.insert("_sort".to_string(), json!([name]));
                }
            }
            object
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("total".to_string(), json!(total));
    answer.insert("count".to_string(), json!(page.len()));
    answer.insert(kind.list.to_string(), Value::Array(page));
    Routed::json(200, &Value::Object(answer))
}

/// `POST /_security/profile/_suggest`: accepts only `name`, `size` (at most
/// 10000, default 10), `hint` and `data`; answers the first `size` profiles
/// with the total count, and no paging.
fn suggest_profiles(tenant: &Tenant, body: &[u8]) -> Routed {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match parse_object(body) {
            Ok(map) => map,
            Err(routed) => return routed,
        }
    };
    if let Some(key) = request
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "size" | "hint" | "data"))
    {
        return es_error(
            400,
            "x_content_parse_exception",
            &format!("[suggest_profiles_request_payload] unknown field [{key}]"),
        );
    }
    let size = match request.get("size") {
        None => 10,
        Some(v) => match v.as_u64() {
            Some(n) if n <= 10_000 => n as usize,
            _ => return validation_failed(&["[size] must be between 0 and 10000".to_owned()]),
        },
    };
    let profiles: Vec<&Value> = tenant.profiles.iter().take(size).collect();
    Routed::json(
        200,
        &json!({
            "took": 1,
            "total": {"value": tenant.profiles.len(), "relation": "eq"},
            "profiles": profiles
        }),
    )
}

/// GET of a keyed collection: everything, or the comma-separated names that
/// exist; 404 `{}` when none of the named entries exists.
fn get_named(map: &BTreeMap<String, Value>, names: Option<&str>) -> Routed {
    let wanted: Vec<&str> = names
        .map(|n| n.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if wanted.is_empty() {
        return Routed::json(200, map);
    }
    let found: BTreeMap<&str, &Value> = wanted
        .iter()
        .filter_map(|name| map.get_key_value(*name))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    if found.is_empty() {
        return Routed::json(404, &json!({}));
    }
    Routed::json(200, &found)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parse a request body that must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Routed> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(es_error(400, "parse_exception", "request body is required"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(es_error(
            400,
            "parse_exception",
            &format!(
                "request body must be an object, found [{}]",
                json_type(&other)
            ),
        )),
        Err(err) => Err(es_error(
            400,
            "x_content_parse_exception",
            &format!("failed to parse request body: {err}"),
        )),
    }
}

fn has_underscore_keys(metadata: &Map<String, Value>) -> bool {
    metadata.keys().any(|k| k.starts_with('_'))
}

/// Elasticsearch's username rule: 1..=507 printable Basic Latin characters,
/// no leading or trailing whitespace.
fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 507
        && name.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !name.starts_with(' ')
        && !name.ends_with(' ')
}

/// `PUT|POST /_security/user/{name}`.
fn put_user(tenant: &mut Tenant, name: &str, body: &[u8]) -> Routed {
    let body = match parse_object(body) {
        Ok(body) => body,
        Err(error) => return error,
    };
    let parse_error = |message: String| {
        es_error(
            400,
            "parse_exception",
            &format!("failed to parse add user request. {message}"),
        )
    };
    let type_error = |field: &str, expected: &str, value: &Value| {
        parse_error(format!(
            "expected field [{field}] to be of type {expected} but found [{}]",
            json_type(value)
        ))
    };

    let mut password: Option<&str> = None;
    let mut password_hash: Option<&str> = None;
    let mut roles: Option<Vec<Value>> = None;
    let mut full_name = Value::Null;
    let mut email = Value::Null;
    let mut metadata = Map::new();
    let mut enabled = true;
    for (key, value) in &body {
        match key.as_str() {
            "password" => match value {
                Value::String(s) => password = Some(s),
                Value::Null => {}
                other => return type_error(key, "string", other),
            },
            "password_hash" => match value {
                Value::String(s) => password_hash = Some(s),
                Value::Null => {}
                other => return type_error(key, "string", other),
            },
            "roles" => match value {
                Value::Array(items) => {
                    if let Some(bad) = items.iter().find(|v| !v.is_string()) {
                        return type_error("roles", "string", bad);
                    }
                    roles = Some(items.clone());
                }
                Value::String(list) => {
                    roles = Some(
                        list.split(',')
                            .filter(|s| !s.is_empty())
                            .map(|s| json!(s))
                            .collect(),
                    );
                }
                Value::Null => {}
                other => return type_error(key, "array", other),
            },
            "full_name" => match value {
                Value::String(_) | Value::Null => full_name = value.clone(),
                other => return type_error(key, "string", other),
            },
            "email" => match value {
                Value::String(_) | Value::Null => email = value.clone(),
                other => return type_error(key, "string", other),
            },
            "metadata" => match value {
                Value::Object(map) => metadata = map.clone(),
                Value::Null => {}
                other => return type_error(key, "object", other),
            },
            "enabled" => match value {
                Value::Bool(b) => enabled = *b,
                other => return type_error(key, "boolean", other),
            },
            "username" => match value {
                Value::String(s) if s == name => {}
                Value::String(s) => {
                    return parse_error(format!(
                        "username in body [{s}] does not match username in path [{name}]"
                    ))
                }
                other => return type_error(key, "string", other),
            },
            other => return parse_error(format!("unexpected field [{other}]")),
        }
    }

    let mut problems = Vec::new();
    if !valid_username(name) {
        problems.push(format!(
            "Invalid username [{name}]... Usernames must be at least [1] and no more than [507] characters. They can contain alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in the Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed."
        ));
    }
    if roles.is_none() {
        problems.push("roles are missing".to_string());
    }
    if has_underscore_keys(&metadata) {
        problems.push("metadata keys may not start with [_]".to_string());
    }
    if password.is_some() && password_hash.is_some() {
        problems.push("only one of [password, password_hash] can be provided".to_string());
    }
    if password.is_some_and(|p| p.chars().count() < 6) {
        problems.push("passwords must be at least [6] characters long".to_string());
    }
    if !problems.is_empty() {
        return validation_failed(&problems);
    }

    let existing = tenant.users.get(name);
    let reserved = RESERVED_USERNAMES.contains(&name)
        || existing.is_some_and(|u| u["metadata"]["_reserved"] == Value::Bool(true));
    if reserved {
        return validation_failed(&[format!(
            "user [{name}] is reserved and only the password can be changed"
        )]);
    }
    let created = existing.is_none();
    if created && password.is_none() && password_hash.is_none() {
        return validation_failed(&[
            "password must be specified unless you are updating an existing user".to_string(),
        ]);
    }
    tenant.users.insert(
        name.to_string(),
        json!({
            "username": name,
            "roles": roles.unwrap_or_default(),
            "full_name": full_name,
            "email": email,
            "metadata": metadata,
            "enabled": enabled
        }),
    );
    Routed::json(200, &json!({"created": created}))
}

fn is_read_only(mapping: Option<&Value>) -> bool {
    mapping.is_some_and(|m| m["metadata"]["_read_only"] == Value::Bool(true))
}

fn read_only_error(name: &str) -> Routed {
    es_error(
        400,
        "illegal_argument_exception",
        &format!(
            "role mapping [{name}] is an operator-defined read-only mapping and cannot be changed through the API"
        ),
    )
}

/// `PUT|POST /_security/role_mapping/{name}`.
fn put_role_mapping(tenant: &mut Tenant, name: &str, body: &[u8]) -> Routed {
    let body = match parse_object(body) {
        Ok(body) => body,
        Err(error) => return error,
    };
    let parsing_error = |message: String| {
        es_error(
            400,
            "parsing_exception",
            &format!("failed to parse role-mapping [{name}]. {message}"),
        )
    };
    let type_error = |field: &str, expected: &str, value: &Value| {
        parsing_error(format!(
            "expected field [{field}] to be of type {expected} but found [{}]",
            json_type(value)
        ))
    };

    let mut enabled: Option<bool> = None;
    let mut roles: Option<Vec<Value>> = None;
    let mut templates: Option<Vec<Value>> = None;
    let mut rules: Option<Value> = None;
    let mut metadata = Map::new();
    for (key, value) in &body {
        match key.as_str() {
            "enabled" => match value {
                Value::Bool(b) => enabled = Some(*b),
                other => return type_error(key, "boolean", other),
            },
            "roles" => match value {
                Value::Array(items) => {
                    if let Some(bad) = items.iter().find(|v| !v.is_string()) {
                        return type_error("roles", "string", bad);
                    }
                    roles = Some(items.clone());
                }
                other => return type_error(key, "array", other),
            },
            "role_templates" => match value {
                Value::Array(items) => {
                    let mut normalized = Vec::with_capacity(items.len());
                    for item in items {
                        match normalize_template(item) {
                            Ok(t) => normalized.push(t),
                            Err(message) => return parsing_error(message),
                        }
                    }
                    templates = Some(normalized);
                }
                other => return type_error(key, "array", other),
            },
            "rules" => match check_rules(value) {
                Ok(normalized) => rules = Some(normalized),
                Err(message) => return es_error(400, "parse_exception", &message),
            },
            "metadata" => match value {
                Value::Object(map) => metadata = map.clone(),
                other => return type_error(key, "object", other),
            },
            other => return parsing_error(format!("unexpected field [{other}]")),
        }
    }
    let Some(enabled) = enabled else {
        return parsing_error("missing field [enabled]".to_string());
    };
    let Some(rules) = rules else {
        return parsing_error("missing field [rules]".to_string());
    };
    if roles.is_none() && templates.is_none() {
        return parsing_error("missing field [roles]".to_string());
    }
    let roles = roles.unwrap_or_default();
    let templates = templates.unwrap_or_default();

    let mut problems = Vec::new();
    if roles.is_empty() && templates.is_empty() {
        problems.push("role-mapping roles or role-templates are missing".to_string());
    }
    if !roles.is_empty() && !templates.is_empty() {
        problems.push("role-mapping cannot have both roles and role-templates".to_string());
    }
    if has_underscore_keys(&metadata) {
        problems.push("metadata keys may not start with [_]".to_string());
    }
    if name.ends_with(OPERATOR_MAPPING_SUFFIX) {
        problems.push(format!(
            "Invalid mapping name [{name}]. [{OPERATOR_MAPPING_SUFFIX}] is not an allowed suffix"
        ));
    }
    if !problems.is_empty() {
        return validation_failed(&problems);
    }
    let existing = tenant.role_mappings.get(name);
    if is_read_only(existing) {
        return read_only_error(name);
    }
    let created = existing.is_none();

    let mut stored = Map::new();
    stored.insert("enabled".into(), json!(enabled));
    if !roles.is_empty() {
        stored.insert("roles".into(), Value::Array(roles));
    }
    if !templates.is_empty() {
        stored.insert("role_templates".into(), Value::Array(templates));
    }
    stored.insert("rules".into(), rules);
    stored.insert("metadata".into(), Value::Object(metadata));
    tenant
        .role_mappings
        .insert(name.to_string(), Value::Object(stored));
    Routed::json(200, &json!({"role_mapping": {"created": created}}))
}

/// `DELETE /_security/role_mapping/{name}`.
fn delete_role_mapping(tenant: &mut Tenant, name: &str) -> Routed {
    if is_read_only(tenant.role_mappings.get(name)) {
        return read_only_error(name);
    }
    match tenant.role_mappings.remove(name) {
        Some(_) => Routed::json(200, &json!({"found": true})),
        None => Routed::json(404, &json!({"found": false})),
    }
}

/// Check one `role_templates` entry and return it as Elasticsearch stores
/// it: `{"template": "<JSON string>", "format": "string"|"json"}`.
fn normalize_template(item: &Value) -> Result<Value, String> {
    let Value::Object(map) = item else {
        return Err(format!(
            "expected a role template object but found [{}]",
            json_type(item)
        ));
    };
    let mut template: Option<String> = None;
    let mut format = "string".to_string();
    for (key, value) in map {
        match key.as_str() {
            "template" => {
                let object = match value {
                    Value::Object(object) => object.clone(),
                    Value::String(text) => match serde_json::from_str::<Value>(text) {
                        Ok(Value::Object(object)) => object,
                        _ => return Err(format!("role template [{text}] is not a JSON object")),
                    },
                    other => {
                        return Err(format!(
                            "expected field [template] to be an object or a string but found [{}]",
                            json_type(other)
                        ))
                    }
                };
                if !object.contains_key("source") {
                    return Err("role template is missing [source]".to_string());
                }
                template = Some(match value {
                    Value::String(text) => text.clone(),
                    _ => serde_json::to_string(&object).unwrap_or_default(),
                });
            }
            "format" => match value.as_str() {
                Some(f @ ("string" | "json")) => format = f.to_string(),
                _ => return Err(format!("unknown role template format [{value}]")),
            },
            other => return Err(format!("unexpected field [{other}] in role template")),
        }
    }
    let Some(template) = template else {
        return Err("role template is missing [template]".to_string());
    };
    Ok(json!({"template": template, "format": format}))
}

// ---------------------------------------------------------------------------
// Rules grammar (Elasticsearch role-mapping rules: field, any, all, except)
// ---------------------------------------------------------------------------

/// Check a role-mapping `rules` expression against the grammar
///
/// ```text
/// RULE    := {"any":[RULE,...]} | {"all":[ALLITEM,...]} | {"field":{NAME: VALUE | [VALUE,...]}}
/// ALLITEM := RULE | {"except": RULE}
/// VALUE   := string | integer | true | false | null
/// ```
///
/// and return it normalized the way Elasticsearch serializes it (single-value
/// `field` arrays become scalars, fractional numbers are truncated to
/// integers). The error is the `reason` of a 400 `parse_exception`.
pub(crate) fn check_rules(rules: &Value) -> Result<Value, String> {
    check_rule(rules, "rules", false)
}

fn rule_error(message: String) -> String {
    format!("failed to parse rules expression. {message}")
}

fn check_rule(rule: &Value, parent: &str, except_allowed: bool) -> Result<Value, String> {
    let Value::Object(object) = rule else {
        return Err(rule_error(format!(
            "expected an object but found [{}] instead",
            json_type(rule)
        )));
    };
    let mut entries = object.iter();
    let (key, value) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => {
            return Err(rule_error(format!(
                "object [{parent}] does not contain any fields"
            )))
        }
        (Some(_), Some(_)) => {
            return Err(rule_error(format!(
                "object [{parent}] contains multiple fields"
            )))
        }
    };
    let normalized = match key.as_str() {
        "any" | "all" => {
            let Value::Array(items) = value else {
                return Err(rule_error(format!(
                    "field [{key}] must be an array but found [{}]",
                    json_type(value)
                )));
            };
            let allow = key == "all";
            let checked = items
                .iter()
                .map(|item| check_rule(item, key, allow))
                .collect::<Result<Vec<_>, _>>()?;
            Value::Array(checked)
        }
        "except" => {
            if !except_allowed {
                return Err(rule_error(format!(
                    "field [except] is not allowed within [{parent}]"
                )));
            }
            check_rule(value, "except", false)?
        }
        "field" => check_field(value)?,
        other => {
            return Err(rule_error(format!(
                "field [{other}] is not recognised in object [{parent}]"
            )))
        }
    };
    let mut out = Map::new();
    out.insert(key.clone(), normalized);
    Ok(Value::Object(out))
}

fn check_field(value: &Value) -> Result<Value, String> {
    let Value::Object(object) = value else {
        return Err(rule_error(format!(
            "field [field] must be an object but found [{}]",
            json_type(value)
        )));
    };
    let mut entries = object.iter();
    let (name, values) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => {
            return Err(rule_error(
                "object [field] does not contain any fields".to_string(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(rule_error(
                "object [field] contains multiple fields".to_string(),
            ))
        }
    };
    let normalized = match values {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(rule_error(format!(
                    "field [{name}] cannot have null or empty values"
                )));
            }
            let mut scalars = items
                .iter()
                .map(field_value)
                .collect::<Result<Vec<_>, _>>()?;
            if scalars.len() == 1 {
                scalars.remove(0)
            } else {
                Value::Array(scalars)
            }
        }
        other => field_value(other)?,
    };
    let mut out = Map::new();
    out.insert(name.clone(), normalized);
    Ok(Value::Object(out))
}

fn field_value(value: &Value) -> Result<Value, String> {
    match value {
        // `/…/` is a regular expression; a string that starts with `/` but is not one is refused.
        Value::String(s) if s.starts_with('/') && (s.len() < 2 || !s.ends_with('/')) => {
            Err(rule_error(format!(
                "invalid pattern [{s}]: a regular expression must end with [/]"
            )))
        }
        Value::Array(_) | Value::Object(_) => Err(rule_error(format!(
            "expected a field value but found [{}] instead",
            json_type(value)
        ))),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            // Elasticsearch reads rule numbers as longs.
            Ok(json!(n.as_f64().unwrap_or(0.0).trunc() as i64))
        }
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("svc%20ingest"), "svc ingest");
        assert_eq!(percent_decode("ops%3Aoncall"), "ops:oncall");
        assert_eq!(percent_decode("a%2Cb"), "a,b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn targets_are_classified() {
        let t = Target::parse("/api/v1/organizations/42/members?x=1");
        assert_eq!(t.family, Family::Cloud);
        assert_eq!(t.rest, vec!["organizations", "42", "members"]);
        let t = Target::parse("/_security/user/svc%20ingest?refresh=true");
        assert_eq!(t.family, Family::Elasticsearch);
        assert_eq!(t.rest, vec!["user", "svc ingest"]);
        assert_eq!(Target::parse("/").family, Family::Other);
        assert_eq!(Target::parse("/api/v2/x").family, Family::Other);
    }

    #[test]
    fn api_key_ids_are_decoded() {
        assert_eq!(
            api_key_id("ZGVtby1pZDpkZW1vLWRlcGxveW1lbnQta2V5").as_deref(),
            Some("demo-id")
        );
        assert_eq!(api_key_id("not base64!"), None);
    }

    #[test]
    fn rules_grammar_accepts_every_documented_form() {
        let examples = [
            json!({"field":{"username":"jdoe"}}),
            json!({"field":{"username":["esadmin01","esadmin02"]}}),
            json!({"any":[{"field":{"username":"esadmin"}},{"field":{"groups":"cn=admins,dc=acme,dc=com"}}]}),
            json!({"all":[{"any":[{"field":{"dn":"*,ou=admin,dc=acme,dc=com"}},{"field":{"username":["es-admin","es-system"]}}]},
                {"field":{"groups":"cn=people,dc=acme,dc=com"}},
                {"except":{"field":{"metadata.terminated_date":null}}}]}),
            json!({"all":[{"except":{"all":[{"except":{"field":{"username":"x"}}}]}}]}),
            json!({"any":[]}),
            json!({"all":[]}),
            json!({"field":{"metadata.n":[1, true, null, "x"]}}),
        ];
        for rule in examples {
            assert_eq!(check_rules(&rule), Ok(rule.clone()), "{rule}");
        }
    }

    #[test]
    fn rules_grammar_normalizes() {
        assert_eq!(
            check_rules(&json!({"any":[{"field":{"username":["jdoe"]}}]})),
            Ok(json!({"any":[{"field":{"username":"jdoe"}}]}))
        );
        assert_eq!(
            check_rules(&json!({"field":{"metadata.n":[1.7, 2]}})),
            Ok(json!({"field":{"metadata.n":[1, 2]}}))
        );
    }

    #[test]
    fn rules_grammar_rejects_unterminated_regular_expressions() {
        for bad in [
            json!({"field": {"username": "/svc-.*"}}),
            json!({"field": {"username": ["a", "/"]}}),
        ] {
            let err = check_rules(&bad).expect_err("refused");
            assert!(err.contains("invalid pattern"), "{err}");
        }
        assert!(check_rules(&json!({"field": {"username": "/svc-.*/"}})).is_ok());
    }

    #[test]
    fn rules_grammar_rejects_bad_forms() {
        let bad = [
            (
                json!({"field":{"username":"a"},"any":[]}),
                "contains multiple fields",
            ),
            (json!({}), "does not contain any fields"),
            (
                json!({"field":{"username":"a","dn":"b"}}),
                "contains multiple fields",
            ),
            (
                json!({"fields":{"username":"a"}}),
                "is not recognised in object [rules]",
            ),
            (
                json!({"except":{"field":{"username":"a"}}}),
                "field [except] is not allowed within [rules]",
            ),
            (
                json!({"any":[{"except":{"field":{"username":"a"}}}]}),
                "field [except] is not allowed within [any]",
            ),
            (
                json!({"all":[{"except":{"except":{"field":{"username":"a"}}}}]}),
                "field [except] is not allowed within [except]",
            ),
            (json!({"field":{"username":[]}}), "null or empty values"),
            (
                json!({"field":{"username":[["a"]]}}),
                "expected a field value but found [array]",
            ),
            (
                json!({"field":{"username":{"a":1}}}),
                "expected a field value but found [object]",
            ),
            (
                json!({"any":{"field":{"username":"a"}}}),
                "must be an array",
            ),
            (json!("jdoe"), "expected an object"),
        ];
        for (rule, expected) in bad {
            let error = check_rules(&rule).expect_err(&rule.to_string());
            assert!(
                error.starts_with("failed to parse rules expression. "),
                "{error}"
            );
            assert!(error.contains(expected), "{rule}: {error}");
        }
    }

    #[test]
    fn templates_are_stored_as_json_strings() {
        let t = normalize_template(&json!({"template":{"source":"_user_{{username}}"}}))
            .expect("template");
        assert_eq!(
            t,
            json!({"template":"{\"source\":\"_user_{{username}}\"}","format":"string"})
        );
        let t = normalize_template(&json!({"template":"{\"source\":\"x\"}","format":"json"}))
            .expect("template");
        assert_eq!(t, json!({"template":"{\"source\":\"x\"}","format":"json"}));
        assert!(normalize_template(&json!({"template":"nope"})).is_err());
        assert!(normalize_template(&json!({"template":{"source":"x"},"format":"xml"})).is_err());
        assert!(normalize_template(&json!({"format":"string"})).is_err());
    }

    #[test]
    fn profile_suggest_takes_only_its_fields_and_caps_the_size() {
        let mut tenant = Tenant::demo().expect("demo");
        let mut call = |body: &str| {
            let routed = es_route(
                &mut tenant,
                "POST",
                "/_security/profile/_suggest",
                &["profile".to_owned(), "_suggest".to_owned()],
                body.as_bytes(),
            );
            let value: Value = serde_json::from_slice(&routed.body).expect("json");
            (routed.status, value)
        };
        let (status, body) = call(r#"{"size":10000}"#);
        assert_eq!(status, 200);
        assert_eq!(body["total"]["value"], 11);
        assert_eq!(body["profiles"].as_array().map(Vec::len), Some(11));
        let (status, body) = call(r#"{"name":"","size":2}"#);
        assert_eq!(status, 200);
        assert_eq!(body["profiles"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["total"]["value"], 11);
        let (_, body) = call("");
        assert_eq!(
            body["profiles"].as_array().map(Vec::len),
            Some(10),
            "default size"
        );
        assert_eq!(call(r#"{"size":10001}"#).0, 400);
        assert_eq!(call(r#"{"from":10}"#).0, 400);
    }

    #[test]
    fn deployments_are_listed_in_one_answer() {
        let mut tenant = Tenant::demo().expect("demo");
        let routed = cloud_route(
            &mut tenant,
            "GET",
            "/api/v1/deployments",
            &["deployments".to_owned()],
            b"",
        );
        assert_eq!(routed.status, 200);
        let body: Value = serde_json::from_slice(&routed.body).expect("json");
        assert_eq!(body["deployments"].as_array().map(Vec::len), Some(4));
        let routed = cloud_route(
            &mut tenant,
            "POST",
            "/api/v1/deployments",
            &["deployments".to_owned()],
            b"",
        );
        assert_ne!(routed.status, 200);
    }

    #[test]
    fn projects_are_listed_per_type_from_the_tenant() {
        let mut tenant = Tenant::demo().expect("demo");
        let list = |tenant: &mut Tenant, kind: &str| {
            let rest: Vec<String> = ["serverless", "projects", kind]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let routed = cloud_route(tenant, "GET", "/api/v1/serverless/projects", &rest, b"");
            let body: Value = serde_json::from_slice(&routed.body).expect("json");
            let names: Vec<String> = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            (routed.status, names)
        };
        assert_eq!(
            list(&mut tenant, "elasticsearch"),
            (200, vec!["labs-search".to_owned()])
        );
        assert_eq!(list(&mut tenant, "observability"), (200, vec![]));
        assert_eq!(
            list(&mut tenant, "security"),
            (200, vec!["corp-siem".to_owned()])
        );
        assert_eq!(list(&mut tenant, "search").0, 404);
        // The tenant is the state: a project added later is served.
        tenant
            .projects
            .push(serde_json::json!({"id": "p3", "name": "obs", "type": "observability"}));
        assert_eq!(
            list(&mut tenant, "observability"),
            (200, vec!["obs".to_owned()])
        );
        tenant.serverless_forbidden = true;
        assert_eq!(list(&mut tenant, "security").0, 403);
    }
}
