//! The credential APIs of the fake Elasticsearch: API keys (`GET /_security/api_key` and the paged
//! `_query/api_key`) and service-account credentials.
//!
//! Keys are served from [`Tenant::api_keys`]. `limited_by` is only included with
//! `?with_limited_by=true`, which clusters before 8.5 refuse as an unrecognized parameter (400), and
//! fields newer than the cluster's version (`type` 8.10, `invalidation` 8.12, `realm_type` 8.14) are
//! left out, as those releases leave them out. `_query/api_key` takes `from`, `size` (default 10),
//! `sort` over `creation`, `expiration`, `name`, `username` and `_doc` (index order), `search_after` and
//! a `match_all` (or no) `query`, and answers `_sort` values on each key when sorted.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::routes::{es_error, parse_object, Routed};
use super::tenant::Tenant;

/// Largest `from + size` a `_query` search takes.
const MAX_RESULT_WINDOW: u64 = 10_000;

/// The value of query parameter `name` in a request target, if given.
fn query_param<'a>(request_target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = request_target.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request asks for `limited_by`; an error when the cluster's version has no such
/// parameter.
fn wants_limited_by(tenant: &Tenant, request_target: &str) -> Result<bool, Routed> {
    let Some(value) = query_param(request_target, "with_limited_by") else {
        return Ok(false);
    };
    if tenant
        .cluster
        .as_ref()
        .is_some_and(|c| !c.version.at_least(8, 5))
    {
        let path = request_target.split('?').next().unwrap_or_default();
        return Err(es_error(
            400,
            "illegal_argument_exception",
            &format!("request [{path}] contains unrecognized parameter: [with_limited_by]"),
        ));
    }
    Ok(value.is_empty() || value == "true")
}

/// A key as this cluster serves it.
fn served_key(tenant: &Tenant, key: &Value, limited_by: bool) -> Value {
    let mut key = key.clone();
    if let Value::Object(map) = &mut key {
        if !limited_by {
            map.remove("limited_by");
        }
        if let Some(cluster) = &tenant.cluster {
            for (field, major, minor) in [
                ("type", 8, 10),
                ("invalidation", 8, 12),
                ("realm_type", 8, 14),
            ] {
                if !cluster.version.at_least(major, minor) {
                    map.remove(field);
                }
            }
        }
    }
    key
}

/// `GET /_security/api_key`: every key, in one answer.
pub(crate) fn list_api_keys(tenant: &Tenant, request_target: &str) -> Routed {
    let limited_by = match wants_limited_by(tenant, request_target) {
        Ok(wanted) => wanted,
        Err(routed) => return routed,
    };
    let keys: Vec<Value> = tenant
        .api_keys
        .iter()
        .map(|k| served_key(tenant, k, limited_by))
        .collect();
    Routed::json(200, &json!({ "api_keys": keys }))
}

/// A sort value: numbers before strings, missing values last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Num(i64),
    Str(String),
    Missing,
}

impl SortValue {
    fn of(value: Option<&Value>) -> SortValue {
        match value {
            Some(Value::Number(n)) => SortValue::Num(n.as_i64().unwrap_or(i64::MAX)),
            Some(Value::String(s)) => SortValue::Str(s.clone()),
            _ => SortValue::Missing,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            SortValue::Num(n) => json!(n),
            SortValue::Str(s) => json!(s),
            SortValue::Missing => Value::Null,
        }
    }
}

const SORTABLE: [&str; 5] = ["creation", "expiration", "name", "username", "_doc"];

/// The `(field, descending)` list of a `sort`.
fn parse_sort(sort: &Value) -> Result<Vec<(String, bool)>, Routed> {
    let bad = |what: &Value| {
        es_error(
            400,
            "x_content_parse_exception",
            &format!("[query_api_keys_request] failed to parse field [sort]: {what}"),
        )
    };
    let entries: Vec<&Value> = match sort {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for entry in entries {
        let (field, descending) = match entry {
            Value::String(field) => (field.clone(), false),
            Value::Object(map) if map.len() == 1 => {
                let Some((field, spec)) = map.iter().next() else {
                    return Err(bad(entry));
                };
                let direction = match spec {
                    Value::String(d) => d.clone(),
                    Value::Object(options) => options
                        .get("order")
                        .and_then(Value::as_str)
                        .unwrap_or("asc")
                        .to_string(),
                    _ => return Err(bad(entry)),
                };
                match direction.to_ascii_lowercase().as_str() {
                    "asc" => (field.clone(), false),
                    "desc" => (field.clone(), true),
                    _ => return Err(bad(entry)),
                }
            }
            _ => return Err(bad(entry)),
        };
        if !SORTABLE.contains(&field.as_str()) {
            return Err(es_error(
                400,
                "illegal_argument_exception",
                &format!("sorting is not supported for field [{field}]"),
            ));
        }
        out.push((field, descending));
    }
    Ok(out)
}

fn compare(a: &[SortValue], b: &[SortValue], sort: &[(String, bool)]) -> Ordering {
    for ((x, y), (_, descending)) in a.iter().zip(b).zip(sort) {
        let order = x.cmp(y);
        let order = if *descending { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// `POST|GET /_security/_query/api_key` (see the module documentation).
pub(crate) fn query_api_keys(tenant: &Tenant, request_target: &str, body: &[u8]) -> Routed {
    let limited_by = match wants_limited_by(tenant, request_target) {
        Ok(wanted) => wanted,
        Err(routed) => return routed,
    };
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
    if let Some(key) = request.keys().find(|k| {
        !matches!(
            k.as_str(),
            "query" | "from" | "size" | "sort" | "search_after"
        )
    }) {
        return parse_error(format!("[query_api_keys_request] unknown field [{key}]"));
    }
    match request.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(query)) if query.len() == 1 && query.contains_key("match_all") => {}
        Some(_) => {
            return illegal("this query is not currently supported by this fake".to_string())
        }
    }
    let number = |field: &str| -> Result<u64, Routed> {
        match request.get(field) {
            None | Some(Value::Null) => Ok(if field == "size" { 10 } else { 0 }),
            Some(value) => value.as_u64().ok_or_else(|| {
                parse_error(format!(
                    "[query_api_keys_request] failed to parse field [{field}]"
                ))
            }),
        }
    };
    let (from, size) = match (number("from"), number("size")) {
        (Ok(from), Ok(size)) => (from, size),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if from.saturating_add(size) > MAX_RESULT_WINDOW {
        return illegal(format!(
            "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{}].",
            from.saturating_add(size)
        ));
    }
    let sort = match request.get("sort") {
        None | Some(Value::Null) => Vec::new(),
        Some(sort) => match parse_sort(sort) {
            Ok(sort) => sort,
            Err(routed) => return routed,
        },
    };
    let after: Option<Vec<SortValue>> = match request.get("search_after") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => {
            if sort.is_empty() {
                return illegal("[search_after] cannot be used without [sort]".to_string());
            }
            if values.len() != sort.len() {
                return illegal(format!(
                    "search_after has {} value(s) but sort has {}.",
                    values.len(),
                    sort.len()
                ));
            }
            Some(values.iter().map(|v| SortValue::of(Some(v))).collect())
        }
        Some(_) => {
            return parse_error(
                "[query_api_keys_request] failed to parse field [search_after]".to_string(),
            )
        }
    };
    let mut keyed: Vec<(Vec<SortValue>, &Value)> = tenant
        .api_keys
        .iter()
        .enumerate()
        .map(|(doc, key)| {
            let values = sort
                .iter()
                .map(|(field, _)| match field.as_str() {
                    "_doc" => SortValue::Num(i64::try_from(doc).unwrap_or(i64::MAX)),
                    other => SortValue::of(key.get(other)),
                })
                .collect();
            (values, key)
        })
        .collect();
    keyed.sort_by(|a, b| compare(&a.0, &b.0, &sort));
    let total = keyed.len();
    let page: Vec<Value> = keyed
        .into_iter()
        .filter(|(values, _)| {
            after
                .as_ref()
                .is_none_or(|after| compare(values, after, &sort) == Ordering::Greater)
        })
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|(values, key)| {
            let mut key = served_key(tenant, key, limited_by);
            if let (false, Value::Object(map)) = (sort.is_empty(), &mut key) {
                map.insert(
                    "_sort".to_string(),
                    Value::Array(values.iter().map(SortValue::to_json).collect()),
                );
            }
            key
        })
        .collect();
    Routed::json(
        200,
        &json!({"total": total, "count": page.len(), "api_keys": page}),
    )
}

/// `GET /_security/service/{ns}/{svc}/credential`: the token names of one service account.
pub(crate) fn service_credentials(tenant: &Tenant, namespace: &str, service: &str) -> Routed {
    let name = format!("{namespace}/{service}");
    if !tenant.service_accounts.contains_key(&name) {
        return es_error(
            404,
            "resource_not_found_exception",
            &format!("service account [{name}] does not exist"),
        );
    }
    let names = |field: &str| -> Vec<String> {
        tenant
            .service_tokens
            .get(&name)
            .and_then(|t| t.get(field))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let tokens = names("tokens");
    let file_tokens = names("file_tokens");
    let index: Map<String, Value> = tokens.iter().map(|t| (t.clone(), json!({}))).collect();
    let files: Map<String, Value> = file_tokens
        .iter()
        .map(|t| (t.clone(), json!({"nodes": ["instance-0000000000"]})))
        .collect();
    Routed::json(
        200,
        &json!({
            "service_account": name,
            "count": tokens.len() + file_tokens.len(),
            "tokens": index,
            "nodes_credentials": {
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "file_tokens": files
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::EsVersion;

    fn call(tenant: &Tenant, target: &str, body: &str) -> (u16, Value) {
        let routed = query_api_keys(tenant, target, body.as_bytes());
        (
            routed.status,
            serde_json::from_slice(&routed.body).expect("json"),
        )
    }

    #[test]
    fn query_pages_with_search_after_in_sort_order() {
        let tenant = Tenant::demo().expect("demo");
        let body = r#"{"size":4,"sort":[{"creation":"asc"},{"name":"asc"},"_doc"]}"#;
        let (status, first) = call(&tenant, "/_security/_query/api_key", body);
        assert_eq!(status, 200);
        assert_eq!(first["total"], 10);
        assert_eq!(first["count"], 4);
        assert!(first["api_keys"][0].get("limited_by").is_none());
        let last = first["api_keys"][3]["_sort"].clone();
        let next = format!(
            r#"{{"size":4,"sort":[{{"creation":"asc"}},{{"name":"asc"}},"_doc"],"search_after":{last}}}"#
        );
        let (_, second) = call(
            &tenant,
            "/_security/_query/api_key?with_limited_by=true",
            &next,
        );
        assert_eq!(second["count"], 4);
        assert!(second["api_keys"][0].get("limited_by").is_some());
        let creations = |page: &Value| -> Vec<i64> {
            page["api_keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k["creation"].as_i64())
                .collect()
        };
        let mut all = creations(&first);
        all.extend(creations(&second));
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert_eq!(
            call(&tenant, "/_security/_query/api_key", r#"{"sort":["id"]}"#).0,
            400
        );
        assert_eq!(
            call(
                &tenant,
                "/_security/_query/api_key",
                r#"{"search_after":[1]}"#
            )
            .0,
            400
        );
    }

    #[test]
    fn old_versions_lack_parameters_and_fields() {
        let tenant = Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::V8_13);
        let (status, body) = call(
            &tenant,
            "/_security/_query/api_key?with_limited_by=true",
            "",
        );
        assert_eq!(status, 200, "{body}");
        assert!(body["api_keys"][0].get("realm_type").is_none());
        assert!(body["api_keys"][0].get("type").is_some());
        let tenant = Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::new(8, 4, 3));
        let (status, body) = call(
            &tenant,
            "/_security/_query/api_key?with_limited_by=true",
            "",
        );
        assert_eq!(status, 400);
        assert_eq!(body["error"]["type"], "illegal_argument_exception");
        let (status, body) = call(&tenant, "/_security/_query/api_key", "");
        assert_eq!(status, 200);
        assert!(body["api_keys"][0].get("type").is_none());
    }

    #[test]
    fn credentials_list_token_names_only() {
        let tenant = Tenant::demo().expect("demo");
        let routed = service_credentials(&tenant, "elastic", "fleet-server");
        let body: Value = serde_json::from_slice(&routed.body).expect("json");
        assert_eq!(body["count"], 3);
        assert!(body["tokens"]["fleet-token-1"].is_object());
        assert!(body["nodes_credentials"]["file_tokens"]["fleet-file-token"].is_object());
        assert_eq!(service_credentials(&tenant, "elastic", "nope").status, 404);
    }
}
