//! The fake over HTTPS (cargo feature `tls`): a client that trusts the
//! generated test CA gets the same answers as over plain HTTP, a client that
//! does not is refused during the handshake, and every fault kind still
//! behaves as it does without TLS.
#![cfg(feature = "tls")]

use std::time::Duration;

use elastic_fake::{FakeElastic, Fault, Tenant, TestCa, DEMO_DEPLOYMENT_API_KEY};
use reqwest::blocking::Client;

fn start() -> (FakeElastic, TestCa) {
    let ca = TestCa::generate().expect("generate CA");
    let fake = FakeElastic::start_tls(
        Tenant::demo().expect("demo"),
        &ca.server_cert_pem,
        &ca.server_key_pem,
    )
    .expect("start");
    (fake, ca)
}

fn trusting(ca: &TestCa) -> Client {
    Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).expect("CA"))
        .tls_built_in_root_certs(false)
        .build()
        .expect("client")
}

fn get(
    client: &Client,
    fake: &FakeElastic,
    path: &str,
) -> reqwest::Result<reqwest::blocking::Response> {
    client
        .get(format!("{}{path}", fake.url()))
        .header("Authorization", format!("ApiKey {DEMO_DEPLOYMENT_API_KEY}"))
        .send()
}

#[test]
fn https_works_with_the_ca_and_fails_without_it() {
    let (fake, ca) = start();
    assert!(
        fake.url().starts_with("https://127.0.0.1:"),
        "{}",
        fake.url()
    );
    let client = trusting(&ca);
    let response = get(&client, &fake, "/_security/_authenticate").expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-elastic-product")
            .and_then(|v| v.to_str().ok()),
        Some("Elasticsearch")
    );
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(body["username"], "governance-svc");
    // Keep-alive: a second request on the pooled connection.
    let users: serde_json::Value = get(&client, &fake, "/_security/user")
        .expect("request")
        .json()
        .expect("json");
    assert!(users.get("jdoe").is_some());
    // localhost is in the certificate too.
    let by_name = format!("https://localhost:{}/_security/role", fake.addr().port());
    let response = client
        .get(by_name)
        .header("Authorization", format!("ApiKey {DEMO_DEPLOYMENT_API_KEY}"))
        .send()
        .expect("request by name");
    assert_eq!(response.status(), 200);

    let untrusting = Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let error = get(&untrusting, &fake, "/_security/_authenticate").expect_err("untrusted");
    assert!(error.is_connect() || error.is_request(), "{error:?}");
    let other_ca = TestCa::generate().expect("other CA");
    let error = get(&trusting(&other_ca), &fake, "/_security/_authenticate").expect_err("wrong CA");
    assert!(error.is_connect() || error.is_request(), "{error:?}");
    // Requests that never finished a handshake are not recorded.
    assert_eq!(fake.request_count(), 3);
}

#[test]
fn plain_http_to_the_tls_port_gets_no_answer() {
    let (fake, _ca) = start();
    let plain = format!("http://{}/_security/_authenticate", fake.addr());
    assert!(Client::new().get(plain).send().is_err());
    assert_eq!(fake.request_count(), 0);
}

#[test]
fn every_fault_kind_works_over_tls() {
    let (fake, ca) = start();
    let client = trusting(&ca);

    fake.inject(Fault::status("/_security/role_mapping", 503).times(1));
    let response = get(&client, &fake, "/_security/role_mapping").expect("status fault");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(body["status"], 503);

    fake.inject(Fault::delay("/_security/role", Duration::from_millis(20)).times(1));
    assert_eq!(
        get(&client, &fake, "/_security/role")
            .expect("delay")
            .status(),
        200
    );

    fake.inject(Fault::malformed("/_security/user").times(1));
    let text = get(&client, &fake, "/_security/user")
        .expect("malformed")
        .text()
        .expect("text");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());

    fake.inject(Fault::oversized("/_security/user", 1 << 20).times(1));
    let text = get(&client, &fake, "/_security/user")
        .expect("oversized")
        .text()
        .expect("text");
    assert!(text.len() >= 1 << 20);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());

    fake.inject(Fault::truncated("/_security/user").times(1));
    let result = get(&client, &fake, "/_security/user").and_then(|r| r.bytes());
    assert!(result.is_err(), "truncated body must fail");

    fake.inject(Fault::announce_length("/_security/user", 1 << 30).times(1));
    let result = get(&client, &fake, "/_security/user").and_then(|r| r.bytes());
    assert!(result.is_err(), "short body must fail");

    fake.inject(Fault::drop_connection("/_security/user").times(1));
    assert!(get(&client, &fake, "/_security/user").is_err());

    // And the server still answers afterwards.
    assert_eq!(
        get(&client, &fake, "/_security/user")
            .expect("after")
            .status(),
        200
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 200, 200, 200, 200, 200, 0, 200]);
}
