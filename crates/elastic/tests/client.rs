//! The public client against the fake Elastic: which requests are retried, the cap on a server's wait,
//! the body size limit, and keys kept out of every error.

use elastic_api::client::{ApiClient, ApiErrorKind};
use elastic_api::{Api, Endpoint, HttpOptions, Secret};
use elastic_fake::{FakeElastic, Fault, Tenant};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

fn client_for(fake: &FakeElastic, options: HttpOptions) -> ApiClient {
    let endpoint = Endpoint::with_api_key(
        Api::Elasticsearch,
        Url::parse(&fake.url()).expect("url"),
        Secret::new(elastic_fake::DEMO_DEPLOYMENT_API_KEY),
    );
    ApiClient::new(&endpoint, &options, Arc::default()).expect("client")
}

fn fast(max_attempts: u32) -> HttpOptions {
    HttpOptions {
        max_attempts,
        retry_base: Duration::from_millis(1),
        ..HttpOptions::default()
    }
}

#[test]
fn only_requests_safe_to_repeat_are_retried() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    fake.inject(Fault::status("/_security/", 503));
    let client = client_for(&fake, fast(3));
    let body = serde_json::json!({});
    let cases: [(Method, &[&str], usize); 5] = [
        (Method::GET, &["_security", "user"], 3),
        (Method::PUT, &["_security", "role_mapping", "m"], 3),
        (Method::POST, &["_security", "profile", "_suggest"], 3),
        (Method::POST, &["_security", "_query", "user"], 3),
        (Method::POST, &["_security", "user", "someone"], 1),
    ];
    for (method, segments, attempts) in cases {
        fake.clear_requests();
        let err = client
            .send::<_, Value>(method.clone(), segments, &body)
            .expect_err("503 every time");
        assert_eq!(err.status(), Some(503));
        assert_eq!(fake.request_count(), attempts, "{method} {segments:?}");
        let text = err.to_string();
        assert_eq!(
            text.contains("gave up after 3 attempts"),
            attempts == 3,
            "{text}"
        );
    }
}

#[test]
fn client_errors_are_never_retried() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    let client = client_for(&fake, fast(5));
    for status in [400, 401, 403, 404, 409, 422] {
        fake.clear_faults();
        fake.clear_requests();
        fake.inject(Fault::status("/_security/role", status));
        let err = client
            .get::<Value>(&["_security", "role"])
            .expect_err("fails");
        assert_eq!(err.status(), Some(status));
        assert_eq!(fake.request_count(), 1, "{status}");
    }
}

#[test]
fn a_long_retry_after_is_capped_at_the_longest_wait() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    fake.inject(Fault::rate_limited("/_security/role", "3600").times(1));
    let client = client_for(
        &fake,
        HttpOptions {
            max_wait: Duration::from_millis(50),
            ..fast(2)
        },
    );
    let started = Instant::now();
    client
        .get::<Value>(&["_security", "role"])
        .expect("second attempt succeeds");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(50), "waited: {elapsed:?}");
    // The server asked for an hour; anything near a minute means the cap was not applied.
    assert!(elapsed < Duration::from_secs(60), "capped: {elapsed:?}");
    assert_eq!(fake.request_count(), 2);
}

#[test]
fn oversized_bodies_are_refused_without_retry() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    fake.inject(Fault::oversized("/_security/user", 10_000));
    let client = client_for(
        &fake,
        HttpOptions {
            max_body_bytes: 4096,
            ..fast(5)
        },
    );
    let err = client
        .get::<Value>(&["_security", "user"])
        .expect_err("too large");
    assert!(
        matches!(err.kind, ApiErrorKind::TooLarge { limit: 4096 }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("Elasticsearch API GET /_security/user: the response is larger than"),
        "{err}"
    );
    // The configured limit, not the default one.
    assert!(err.to_string().contains("size limit (4096 bytes)"), "{err}");
    assert_eq!(fake.request_count(), 1);
}

#[test]
fn errors_never_show_the_key() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    fake.inject(Fault::status("/_security/user", 401));
    let client = client_for(&fake, fast(1));
    let err = client
        .get::<Value>(&["_security", "user"])
        .expect_err("401");
    let key = elastic_fake::DEMO_DEPLOYMENT_API_KEY;
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains(key), "{text}");
    }
    assert!(err.to_string().contains("--deployment-api-key"), "{err}");
}

#[test]
fn api_keys_fall_back_to_the_list_on_clusters_without_query_api_key() {
    use elastic_api::credentials::ApiKeySource;
    use elastic_api::deployment::DeploymentClient;
    use elastic_fake::EsVersion;
    let fake = FakeElastic::start(Tenant::demo().expect("demo").self_managed(EsVersion::V7_10))
        .expect("fake");
    let client = DeploymentClient::new(client_for(&fake, fast(3)));
    let list = client.api_keys(4, None).expect("keys");
    assert_eq!(list.source, ApiKeySource::List);
    assert!(!list.with_limited_by);
    assert_eq!(list.keys.len(), 10, "invalidated and expired keys too");
    assert_eq!(list.requests, 3);
    let answers: Vec<(String, u16)> = fake
        .requests()
        .into_iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect();
    assert_eq!(
        answers,
        [
            (
                "POST /_security/_query/api_key?with_limited_by=true".to_owned(),
                400
            ),
            ("POST /_security/_query/api_key".to_owned(), 400),
            ("GET /_security/api_key".to_owned(), 200),
        ]
    );

    // A cluster with the query API pages by the size asked for: 10 keys at 4 a page.
    let fake = FakeElastic::start(
        Tenant::demo()
            .expect("demo")
            .with_es_version(EsVersion::V9_1),
    )
    .expect("fake");
    let client = DeploymentClient::new(client_for(&fake, fast(3)));
    let list = client.api_keys(4, None).expect("keys");
    assert_eq!(list.source, ApiKeySource::Query);
    assert!(list.with_limited_by);
    assert_eq!(list.requests, 3);
    assert_eq!(fake.request_count(), 3);
    let mut ids: Vec<&str> = list.keys.iter().map(|k| k.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}
