//! Fault injection: the real binary against the loopback fake while it rate-limits, fails, stalls and
//! drops connections. Transient faults are retried and the file comes out the same as after a clean
//! run; persistent ones fail with one clear line, in bounded time, leaving the previous file as it was.

mod common;

use common::{demo_fake, dir_entries, records, run, run_ok, sync_args, temp_target, Records};
use elastic_fake::{FakeElastic, Fault, RecordedRequest};
use std::time::{Duration, Instant};

/// What a clean sync of the demo tenant writes, and how many requests it takes.
fn clean_run() -> (Records, usize) {
    let fake = demo_fake();
    let (_dir, path) = temp_target();
    run_ok(&sync_args(&fake, &path));
    (records(&path), fake.request_count())
}

/// The retry warnings in a run's stderr (JSON log lines).
fn retry_warnings(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["msg"] == "retrying HTTP request")
        .collect()
}

fn requests_to(fake: &FakeElastic, path: &str) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

/// Runs a sync against `fake` with the faults already injected; it must succeed and write exactly
/// what a clean run writes, after exactly `extra` more requests than a clean run.
fn assert_recovers(fake: &FakeElastic, extra_args: &[&str], extra: usize) -> String {
    let (clean, clean_requests) = clean_run();
    let (_dir, path) = temp_target();
    let mut args = sync_args(fake, &path);
    args.extend(["--log-format", "json"].map(String::from));
    args.extend(extra_args.iter().map(|a| a.to_string()));
    let out = run_ok(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(records(&path), clean, "same records as a clean run");
    assert_eq!(
        fake.request_count(),
        clean_requests + extra,
        "requests: {:#?}",
        fake.requests()
    );
    assert_eq!(retry_warnings(&stderr).len(), extra, "{stderr}");
    stderr
}

#[test]
fn rate_limits_with_and_without_retry_after_are_waited_out() {
    let fake = demo_fake();
    fake.inject(Fault::status("/api/v1/organizations", 429).times(2));
    fake.inject(Fault::rate_limited("/_security/role_mapping", "1").times(1));
    fake.inject(Fault::rate_limited("/_security/user", "0").times(1));
    let started = Instant::now();
    let stderr = assert_recovers(&fake, &[], 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1"
    );
    let warnings = retry_warnings(&stderr);
    let mapping = warnings
        .iter()
        .find(|w| w["http.path"] == "/_security/role_mapping")
        .expect("role mapping retried");
    assert_eq!(mapping["wait_ms"], 1000, "{mapping}");
    assert_eq!(mapping["cause"], "429 Too Many Requests");
    assert_eq!(mapping["api"], "Elasticsearch API");
    assert_eq!(mapping["http.method"], "GET");
    assert_eq!(mapping["attempt"], 1);
    let user = warnings
        .iter()
        .find(|w| w["http.path"] == "/_security/user")
        .expect("users retried");
    assert_eq!(user["wait_ms"], 0, "{user}");
    let cloud: Vec<_> = warnings
        .iter()
        .filter(|w| w["http.path"] == "/api/v1/organizations")
        .collect();
    assert_eq!(cloud.len(), 2);
    assert_eq!(cloud[0]["attempt"], 1);
    assert_eq!(cloud[1]["attempt"], 2);
    // Without a hint: the fast test backoff (5 ms, then 10 ms, with jitter), not a server-sized wait.
    for w in cloud {
        assert!(w["wait_ms"].as_u64().expect("ms") <= 10, "{w}");
    }
    let statuses: Vec<u16> = requests_to(&fake, "/api/v1/organizations")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[test]
fn an_exhausted_cloud_rate_limit_window_is_waited_out() {
    let fake = demo_fake();
    fake.inject(
        Fault::status_with_headers(
            "/api/v1/organizations",
            429,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-interval", "1s"),
            ],
        )
        .times(1),
    );
    let started = Instant::now();
    let stderr = assert_recovers(&fake, &[], 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let warnings = retry_warnings(&stderr);
    assert_eq!(warnings[0]["wait_ms"], 1000, "{stderr}");
}

#[test]
fn server_errors_every_few_requests_are_retried() {
    let fake = demo_fake();
    fake.inject(Fault::status("/_security/_authenticate", 503).times(1));
    fake.inject(Fault::status("/api/v1/organizations/", 502).times(2));
    fake.inject(Fault::status("/_security/role", 504).times(1));
    fake.inject(Fault::status("/_security/user", 500).times(1));
    assert_recovers(&fake, &[], 5);
    assert_eq!(
        requests_to(&fake, "/_security/_authenticate")
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [503, 200]
    );
}

#[test]
fn dropped_and_truncated_responses_are_retried() {
    let fake = demo_fake();
    fake.inject(Fault::drop_connection("/_security/user").times(2));
    fake.inject(Fault::truncated("/api/v1/organizations").times(1));
    let stderr = assert_recovers(&fake, &[], 3);
    assert!(stderr.contains("cut off after"), "{stderr}");
}

#[test]
fn slow_responses_are_waited_for_and_a_stalled_one_is_retried() {
    let fake = demo_fake();
    // Slow but within the timeout: no retry.
    fake.inject(Fault::delay("/api/v1/", Duration::from_millis(200)).times(3));
    // Past the one-second timeout once: that attempt is abandoned and retried.
    fake.inject(Fault::delay("/_security/role_mapping", Duration::from_secs(3)).times(1));
    // Had the timeout not fired, the 3 s answer would arrive with no retry, and `assert_recovers` fails.
    let stderr = assert_recovers(&fake, &["--http-timeout-seconds", "1"], 1);
    assert!(
        stderr.contains("timed out waiting for 127.0.0.1"),
        "{stderr}"
    );
}

/// A sync that succeeded once, then `faults` and a failing run: it must exit 1 within `bound`, print one error line
/// holding every `expected` text and leave the file and its folder exactly as they were.
fn assert_fails_cleanly(
    fake: &FakeElastic,
    faults: Vec<Fault>,
    change: &dyn Fn(&mut Vec<String>),
    expected: &[&str],
    bound: Duration,
) -> String {
    let (dir, path) = temp_target();
    let mut args = sync_args(fake, &path);
    run_ok(&args);
    let before = std::fs::read(&path).expect("read");
    let entries = dir_entries(dir.path());
    fake.clear_requests();
    for fault in faults {
        fake.inject(fault);
    }
    change(&mut args);
    let started = Instant::now();
    let out = run(&args);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(elapsed < bound, "took {elapsed:?}: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: ") || l.contains(r#""level":"error""#))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert_eq!(stderr.trim_end().lines().last(), Some(errors[0]));
    for needle in expected {
        assert!(
            errors[0].contains(needle),
            "missing {needle:?} in {}",
            errors[0]
        );
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "file unchanged"
    );
    assert_eq!(dir_entries(dir.path()), entries, "no temp files left");
    errors[0].to_owned()
}

fn no_change(_: &mut Vec<String>) {}

fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(pos) => args[pos + 1] = value.to_owned(),
        None => args.extend([flag.to_owned(), value.to_owned()]),
    }
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn rejected_keys_are_not_retried_and_name_the_flag() {
    let fake = demo_fake();
    let line = assert_fails_cleanly(
        &fake,
        vec![Fault::status("/api/v1/organizations", 401)],
        &no_change,
        &[
            "Elastic Cloud API GET /api/v1/organizations: 401 Unauthorized",
            "Elastic Cloud API key was rejected",
            "--api-key / BATON_API_KEY",
        ],
        Duration::from_secs(10),
    );
    assert!(!line.contains("attempts"), "{line}");
    assert_eq!(requests_to(&fake, "/api/v1/organizations").len(), 1);

    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::status("/_security/user", 401)],
        &no_change,
        &[
            "Elasticsearch API GET /_security/user: 401 Unauthorized",
            "--deployment-api-key / BATON_DEPLOYMENT_API_KEY",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(requests_to(&fake, "/_security/user").len(), 1);
}

#[test]
fn a_missing_privilege_is_quoted_and_not_retried() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::status("/_security/role_mapping", 403)],
        &no_change,
        &[
            "GET /_security/role_mapping: 403 Forbidden",
            "granted by the cluster privileges [read_security,manage_security,all]",
            "--deployment-api-key",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(requests_to(&fake, "/_security/role_mapping").len(), 1);
}

#[test]
fn an_unknown_organization_names_the_flag() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        Vec::new(),
        &|args| set_flag(args, "--organization-id", "999"),
        &[
            "Elastic Cloud API GET /api/v1/organizations/999: 404 Not Found",
            "organization.not_found",
            "--organization-id",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(fake.request_count(), 1, "a 404 is not retried");
}

#[test]
fn a_persistent_server_error_gives_up_after_max_retries_attempts() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::status("/_security/user", 500)],
        &|args| set_flag(args, "--max-retries", "3"),
        &[
            "Elasticsearch API GET /_security/user: 500 Internal Server Error",
            "gave up after 3 attempts",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(requests_to(&fake, "/_security/user").len(), 3);

    // The default is five attempts in all; a constant 429 ends the same way.
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::rate_limited("/api/v1/organizations", "0")],
        &no_change,
        &["429 Too Many Requests", "gave up after 5 attempts"],
        Duration::from_secs(10),
    );
    assert_eq!(requests_to(&fake, "/api/v1/organizations").len(), 5);
}

#[test]
fn persistently_truncated_json_names_the_endpoint() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::truncated("/_security/role")],
        &|args| set_flag(args, "--max-retries", "2"),
        &[
            "Elasticsearch API GET /_security/role:",
            "was cut off after",
            "gave up after 2 attempts",
        ],
        Duration::from_secs(10),
    );
}

#[test]
fn a_response_announced_over_the_size_limit_is_refused_without_reading_or_retrying() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::announce_length("/_security/user", 2 << 30)],
        &no_change,
        &[
            "Elasticsearch API GET /_security/user:",
            "larger than the size limit (1024 MiB)",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(
        requests_to(&fake, "/_security/user").len(),
        1,
        "not retried"
    );
}

#[test]
fn a_persistent_stall_times_out_within_bounded_time() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        vec![Fault::delay("/_security/user", Duration::from_secs(5))],
        &|args| {
            set_flag(args, "--http-timeout-seconds", "1");
            set_flag(args, "--max-retries", "2");
        },
        &[
            "GET /_security/user: timed out waiting for 127.0.0.1",
            "--http-timeout-seconds 1",
            "gave up after 2 attempts",
        ],
        Duration::from_secs(8),
    );
    assert_eq!(requests_to(&fake, "/_security/user").len(), 2);
}

#[test]
fn connection_failures_name_the_host() {
    let fake = demo_fake();
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let line = assert_fails_cleanly(
        &fake,
        Vec::new(),
        &|args| set_flag(args, "--deployment-endpoint", &refused),
        &["cannot connect to 127.0.0.1", "gave up after 5 attempts"],
        Duration::from_secs(10),
    );
    // The first deployment request reads the version (`GET /`).
    assert!(
        line.contains("Elasticsearch API GET /: cannot connect"),
        "{line}"
    );

    // The fake speaks plain http, so an https client fails in the TLS handshake; that is not retried.
    let tls = fake.url().replace("http://", "https://");
    let line = assert_fails_cleanly(
        &fake,
        Vec::new(),
        &|args| set_flag(args, "--deployment-endpoint", &tls),
        &[&format!(
            "TLS handshake with {} failed",
            &tls["https://".len()..]
        )],
        Duration::from_secs(10),
    );
    assert!(!line.contains("attempts"), "{line}");
}

#[test]
fn an_unknown_host_is_named_and_not_retried() {
    let fake = demo_fake();
    assert_fails_cleanly(
        &fake,
        Vec::new(),
        &|args| {
            set_flag(
                args,
                "--deployment-endpoint",
                "https://no-such-host.invalid",
            )
        },
        &["cannot resolve the host name no-such-host.invalid"],
        Duration::from_secs(30),
    );
}
