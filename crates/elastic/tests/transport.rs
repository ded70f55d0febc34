//! Transport failures of the public client, against real sockets: a connection the server cuts is retried
//! as a transient failure whatever words the URL holds, and only a real TLS failure is reported as one.

use elastic_api::client::{ApiClient, ApiErrorKind};
use elastic_api::{Api, Endpoint, HttpOptions, Secret};
use elastic_fake::{FakeElastic, Fault, Tenant};
use serde_json::Value;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The path segments of a name full of the words a TLS failure's message holds.
const WORDY: [&str; 3] = ["_security", "user", "tls-certificate-handshake"];

fn client(base: &str, max_attempts: u32) -> ApiClient {
    let endpoint = Endpoint::with_api_key(
        Api::Elasticsearch,
        Url::parse(base).expect("url"),
        Secret::new(elastic_fake::DEMO_DEPLOYMENT_API_KEY),
    );
    let options = HttpOptions {
        max_attempts,
        retry_base: Duration::from_millis(1),
        ..HttpOptions::default()
    };
    ApiClient::new(&endpoint, &options, Arc::default()).expect("client")
}

/// A server that accepts every connection and closes it at once, counting them.
fn cutting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            // Counted before the close the client waits for.
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (format!("https://{addr}"), accepted)
}

#[test]
fn a_cut_https_connection_is_retried_whatever_the_path_says() {
    let (base, accepted) = cutting_server();
    let err = client(&base, 3)
        .get::<Value>(&WORDY)
        .expect_err("no answer");
    let text = err.to_string();
    assert!(matches!(err.kind, ApiErrorKind::Transport(_)), "{text}");
    assert!(!text.contains("TLS handshake"), "{text}");
    let host = &base["https://".len()..];
    assert!(
        text.contains(&format!("cannot connect to {host}")),
        "{text}"
    );
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn a_dropped_or_failing_request_with_tls_words_in_its_path_is_retried() {
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    let client = client(&fake.url(), 3);
    fake.inject(Fault::drop_connection("/_security/user/tls"));
    let err = client.get::<Value>(&WORDY).expect_err("dropped");
    let text = err.to_string();
    assert!(!text.contains("TLS"), "{text}");
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert_eq!(fake.request_count(), 3);

    fake.clear_faults();
    fake.clear_requests();
    fake.inject(Fault::status("/_security/user/tls", 503));
    let err = client.get::<Value>(&WORDY).expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert!(!err.to_string().contains("TLS"), "{err}");
    assert_eq!(fake.request_count(), 3);
}

#[test]
fn a_real_tls_failure_says_so_and_is_not_retried() {
    // The fake speaks plain http: an https client fails in the handshake.
    let fake = FakeElastic::start(Tenant::demo().expect("demo")).expect("fake");
    let base = fake.url().replace("http://", "https://");
    let err = client(&base, 3).get::<Value>(&WORDY).expect_err("not TLS");
    let text = err.to_string();
    let host = &base["https://".len()..];
    assert!(
        text.contains(&format!("TLS handshake with {host} failed")),
        "{text}"
    );
    assert!(!text.contains("gave up"), "{text}");
}

#[test]
fn a_refused_connection_names_the_host_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let err = client(&format!("https://{addr}"), 2)
        .get::<Value>(&WORDY)
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("cannot connect to {addr}")),
        "{text}"
    );
    assert!(text.contains("gave up after 2 attempts"), "{text}");
}
