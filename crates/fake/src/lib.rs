//! A loopback fake of the two Elastic APIs the connector talks to: the Elastic
//! Cloud control-plane API (`/api/v1/...`) and one deployment's Elasticsearch
//! security API (`/_security/...`), both served from one `127.0.0.1` port.
//!
//! Used by the integration tests, by the benchmark and by `sync --demo` (the
//! connector's `demo` feature; a build without it ships no fake). [`FakeElastic::start`] serves a [`Tenant`] (the demo
//! fixtures, an empty tenant, or a generated one), records every request,
//! applies writes to its copy of the tenant, and can inject faults (error
//! statuses, delays, malformed/truncated/oversized bodies, dropped
//! connections) to exercise client error handling.
//!
//! A tenant can also play a versioned Elasticsearch cluster
//! ([`Tenant::with_es_version`], [`Tenant::self_managed`]): `GET /`, endpoints
//! gated by [`EsVersion`], the `_query/user` and `_query/role` APIs, Basic
//! authentication ([`Tenant::with_password`]). With the cargo feature `tls`,
//! `FakeElastic::start_tls` serves the same over HTTPS and `TestCa` makes a
//! throw-away CA and server certificate.
//!
//! ```no_run
//! use elastic_fake::{FakeElastic, Fault, Tenant};
//! let fake = FakeElastic::start(Tenant::demo()?)?;
//! fake.inject(Fault::status("/api/v1/organizations", 429).times(1));
//! println!("Cloud and Elasticsearch at {}", fake.url());
//! # Ok::<(), anyhow::Error>(())
//! ```

mod cloud_writes;
mod cluster;
mod credentials;
mod http;
mod routes;
mod tenant;
#[cfg(feature = "tls")]
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use cluster::{Cluster, EsVersion, CLUSTER_UUID, DEFAULT_CLUSTER_NAME};
pub use tenant::{
    Tenant, TenantSpec, DEMO_CLOUD_API_KEY, DEMO_DEPLOYMENT_API_KEY, DEMO_STAGING_API_KEY,
    STAGING_ES_RESOURCE_ID,
};
#[cfg(feature = "tls")]
pub use tls::TestCa;

use http::{Action, Reply, Request, Response, Server, Transport};
use routes::{Family, Routed, Target};

/// Which of the two APIs a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    /// Elastic Cloud control-plane API (`/api/v1/...`).
    Cloud,
    /// Elasticsearch security API (`/_security/...`; also any unknown path).
    Elasticsearch,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query string exactly as received (still percent-encoded).
    pub path: String,
    /// Whether the `Authorization` header carried the right key for the API.
    pub authorized: bool,
    /// Status code answered; 0 when the connection was dropped unanswered.
    pub status: u16,
    /// Request body (lossy UTF-8).
    pub body: String,
    /// API the path belongs to.
    pub api: Api,
}

/// A misbehaviour to inject into matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this method (case-insensitive); `None` = any.
    pub method: Option<String>,
    /// Only requests whose path (as received, with query) starts with this.
    pub path_prefix: String,
    /// How many requests the fault applies to; `usize::MAX` = forever.
    pub times: usize,
    /// Let this many matching requests through untouched first.
    pub skip: usize,
    /// What to do.
    pub action: FaultAction,
}

/// What an injected [`Fault`] does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status and an error body in the API's own shape
    /// (Cloud `BasicFailedReply` + `x-cloud-error-codes`, or the
    /// Elasticsearch error envelope), with these headers replacing the usual
    /// ones of the same name (`Retry-After`, the `x-ratelimit-*` headers of a
    /// spent Cloud window). The request is not processed (writes are not
    /// applied).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Answer this status with a Cloud `BasicFailedReply` carrying this
    /// error code (and the `x-cloud-error-codes` header), e.g. 404
    /// `organization.membership_not_found`. The request is not processed.
    CloudError { status: u16, code: String },
    /// Sleep, then answer normally.
    Delay(Duration),
    /// Answer 200 with a body that is not valid JSON (writes are not applied).
    Malformed,
    /// Process normally, announce the full `Content-Length`, send only half
    /// of the body, then close the connection.
    Truncated,
    /// Close the connection without answering (writes are not applied).
    Drop,
    /// Process normally and pad the (valid JSON) body with trailing
    /// whitespace to at least this many bytes.
    Oversized(usize),
    /// Process normally, but announce this `Content-Length` (far more than is
    /// sent) and close the connection after the body.
    AnnounceLength(u64),
    /// Answer a write as if it was applied, but keep the tenant unchanged, as
    /// when another client overwrites the object at once.
    LostWrite,
    /// Hold the request until `parties` requests matching a rendezvous fault
    /// have arrived (this one included), then answer normally. A request
    /// still alone after `timeout` is answered anyway and counted in
    /// [`FakeElastic::rendezvous_missed`]: a client that sends its requests
    /// one after another never meets.
    Rendezvous { parties: usize, timeout: Duration },
}

impl Fault {
    /// A fault on every request whose path starts with `path_prefix`,
    /// forever, for any method. Narrow it with [`Fault::method`],
    /// [`Fault::times`] and [`Fault::skip`].
    pub fn new(path_prefix: &str, action: FaultAction) -> Fault {
        Fault {
            method: None,
            path_prefix: path_prefix.to_string(),
            times: usize::MAX,
            skip: 0,
            action,
        }
    }

    /// Answer `status` with an API-shaped error body.
    pub fn status(path_prefix: &str, status: u16) -> Fault {
        Fault::status_with_headers(path_prefix, status, &[])
    }

    /// Answer 429 with a `Retry-After` header.
    pub fn rate_limited(path_prefix: &str, retry_after: &str) -> Fault {
        Fault::status_with_headers(path_prefix, 429, &[("Retry-After", retry_after)])
    }

    /// Answer `status` with an API-shaped error body and these headers.
    pub fn status_with_headers(path_prefix: &str, status: u16, headers: &[(&str, &str)]) -> Fault {
        Fault::new(
            path_prefix,
            FaultAction::Status {
                status,
                headers: headers
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect(),
            },
        )
    }

    /// Answer `status` with a Cloud error body carrying the error `code`.
    pub fn cloud_error(path_prefix: &str, status: u16, code: &str) -> Fault {
        Fault::new(
            path_prefix,
            FaultAction::CloudError {
                status,
                code: code.to_string(),
            },
        )
    }

    /// Hold matching requests until `parties` of them are in flight at once
    /// (see [`FaultAction::Rendezvous`]; 30 s at most).
    pub fn rendezvous(path_prefix: &str, parties: usize) -> Fault {
        Fault::new(
            path_prefix,
            FaultAction::Rendezvous {
                parties,
                timeout: Duration::from_secs(30),
            },
        )
    }

    /// Sleep `delay` before answering normally.
    pub fn delay(path_prefix: &str, delay: Duration) -> Fault {
        Fault::new(path_prefix, FaultAction::Delay(delay))
    }

    /// Answer 200 with a body that is not JSON.
    pub fn malformed(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultAction::Malformed)
    }

    /// Send half of the body, then close.
    pub fn truncated(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultAction::Truncated)
    }

    /// Close the connection without answering.
    pub fn drop_connection(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultAction::Drop)
    }

    /// Pad the body to at least `bytes` bytes.
    pub fn oversized(path_prefix: &str, bytes: usize) -> Fault {
        Fault::new(path_prefix, FaultAction::Oversized(bytes))
    }

    /// Announce a `Content-Length` of `bytes` without sending that much.
    pub fn announce_length(path_prefix: &str, bytes: u64) -> Fault {
        Fault::new(path_prefix, FaultAction::AnnounceLength(bytes))
    }

    /// Answer writes normally but do not apply them.
    pub fn lost_write(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultAction::LostWrite)
    }

    /// Only apply to this HTTP method.
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_string());
        self
    }

    /// Apply to this many requests, then stop.
    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    /// Let this many matching requests through first.
    pub fn skip(mut self, skip: usize) -> Fault {
        self.skip = skip;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && target.starts_with(&self.path_prefix)
    }
}

/// A fault with its counters.
#[derive(Debug)]
struct ActiveFault {
    fault: Fault,
    skip_left: usize,
    remaining: usize,
}

/// Rate-limit window the fake announces on Cloud responses.
const CLOUD_RATE_LIMIT: u64 = 300;

/// State shared by the server threads and the [`FakeElastic`] handle.
struct Shared {
    tenant: Mutex<Tenant>,
    faults: Mutex<Vec<ActiveFault>>,
    log: Mutex<Vec<RecordedRequest>>,
    bytes_served: AtomicU64,
    serving_nanos: AtomicU64,
    cloud_responses: AtomicU64,
    /// Requests that arrived at a rendezvous fault so far.
    rendezvous_arrived: Mutex<usize>,
    rendezvous_met: std::sync::Condvar,
    rendezvous_missed: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Waits until `parties` requests have arrived at rendezvous faults, or `timeout` has passed (then
    /// counted as missed).
    fn rendezvous(&self, parties: usize, timeout: Duration) {
        let mut arrived = lock(&self.rendezvous_arrived);
        *arrived += 1;
        self.rendezvous_met.notify_all();
        let deadline = std::time::Instant::now() + timeout;
        while *arrived < parties {
            let now = std::time::Instant::now();
            if now >= deadline {
                self.rendezvous_missed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            arrived = match self.rendezvous_met.wait_timeout(arrived, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The action of the first matching fault that still applies, updating
    /// its counters. Requests a fault lets through (`skip`) go on to the
    /// faults after it.
    fn take_fault(&self, method: &str, target: &str) -> Option<FaultAction> {
        let mut faults = lock(&self.faults);
        for active in faults.iter_mut() {
            if active.remaining == 0 || !active.fault.matches(method, target) {
                continue;
            }
            if active.skip_left > 0 {
                active.skip_left -= 1;
                continue;
            }
            if active.remaining != usize::MAX {
                active.remaining -= 1;
            }
            return Some(active.fault.action.clone());
        }
        None
    }

    fn route(&self, request: &Request, target: &Target) -> Routed {
        let mut tenant = lock(&self.tenant);
        routes::route(
            &mut tenant,
            &request.method,
            &request.target,
            target,
            request.header("authorization"),
            &request.body,
        )
    }

    /// Headers every response of the API carries.
    fn finish(&self, family: Family, mut routed: Routed) -> Response {
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if family == Family::Cloud {
            let n = self.cloud_responses.fetch_add(1, Ordering::Relaxed);
            let remaining = CLOUD_RATE_LIMIT - 1 - n % CLOUD_RATE_LIMIT;
            headers.push(("x-ratelimit-interval".to_string(), "1m".to_string()));
            headers.push((
                "x-ratelimit-limit".to_string(),
                CLOUD_RATE_LIMIT.to_string(),
            ));
            headers.push(("x-ratelimit-remaining".to_string(), remaining.to_string()));
        } else {
            headers.push(("X-elastic-product".to_string(), "Elasticsearch".to_string()));
        }
        headers.append(&mut routed.headers);
        Response {
            status: routed.status,
            headers,
            body: routed.body,
        }
    }
}

impl http::Handler for Shared {
    fn handle(&self, request: &Request) -> Reply {
        let (target, authorized) = {
            let tenant = lock(&self.tenant);
            let target = Target::parse_for(&tenant, &request.target);
            let auth = routes::check_auth(&tenant, target.family, request.header("authorization"));
            (target, auth == routes::Auth::Ok)
        };
        let family = target.family;
        let fault = self.take_fault(&request.method, &request.target);
        let mut delay = None;
        let action = match fault {
            None => Action::Send(self.finish(family, self.route(request, &target))),
            Some(FaultAction::Delay(d)) => {
                delay = Some(d);
                Action::Send(self.finish(family, self.route(request, &target)))
            }
            Some(FaultAction::Rendezvous { parties, timeout }) => {
                self.rendezvous(parties, timeout);
                Action::Send(self.finish(family, self.route(request, &target)))
            }
            Some(FaultAction::Status { status, headers }) => {
                let routed = {
                    let tenant = lock(&self.tenant);
                    routes::fault_response(
                        &tenant,
                        family,
                        status,
                        &request.method,
                        &request.target,
                        &target,
                        request.header("authorization"),
                    )
                };
                let mut response = self.finish(family, routed);
                for (name, value) in headers {
                    response
                        .headers
                        .retain(|(other, _)| !other.eq_ignore_ascii_case(&name));
                    response.headers.push((name, value));
                }
                Action::Send(response)
            }
            Some(FaultAction::CloudError { status, code }) => {
                let routed = routes::cloud_error(
                    status,
                    &code,
                    &format!("The request failed ({code})"),
                    &[],
                );
                Action::Send(self.finish(family, routed))
            }
            Some(FaultAction::Malformed) => {
                let routed = Routed {
                    status: 200,
                    headers: Vec::new(),
                    body: b"{\"result\": [{\"id\": \"4125567842\", <html>502 Bad Gateway</html>"
                        .to_vec(),
                };
                Action::Send(self.finish(family, routed))
            }
            Some(FaultAction::Truncated) => {
                Action::Truncate(self.finish(family, self.route(request, &target)))
            }
            Some(FaultAction::Drop) => Action::Drop,
            Some(FaultAction::LostWrite) => {
                let routed = {
                    let mut copy = lock(&self.tenant).clone();
                    routes::route(
                        &mut copy,
                        &request.method,
                        &request.target,
                        &target,
                        request.header("authorization"),
                        &request.body,
                    )
                };
                Action::Send(self.finish(family, routed))
            }
            Some(FaultAction::AnnounceLength(length)) => {
                Action::Announce(self.finish(family, self.route(request, &target)), length)
            }
            Some(FaultAction::Oversized(size)) => {
                let mut routed = self.route(request, &target);
                if routed.body.len() < size {
                    routed.body.resize(size, b' ');
                }
                Action::Send(self.finish(family, routed))
            }
        };
        let (status, sent) = match &action {
            Action::Send(response) => (response.status, response.body.len()),
            Action::Truncate(response) => (response.status, response.body.len() / 2),
            Action::Announce(response, _) => (response.status, response.body.len()),
            Action::Drop => (0, 0),
        };
        self.bytes_served.fetch_add(sent as u64, Ordering::Relaxed);
        lock(&self.log).push(RecordedRequest {
            method: request.method.clone(),
            path: request.target.clone(),
            authorized,
            status,
            body: String::from_utf8_lossy(&request.body).into_owned(),
            api: family.api(),
        });
        Reply { delay, action }
    }

    fn served(&self, busy: Duration) {
        let nanos = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.serving_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A running fake Elastic server. Dropping it shuts the server down.
pub struct FakeElastic {
    shared: Arc<Shared>,
    server: Server,
    /// `http` or `https`.
    scheme: &'static str,
}

impl std::fmt::Debug for FakeElastic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeElastic")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeElastic {
    /// Serve `tenant` on `127.0.0.1` at a free port.
    pub fn start(tenant: Tenant) -> std::io::Result<FakeElastic> {
        FakeElastic::start_on(tenant, Transport::Plain)
    }

    /// Serve `tenant` over HTTPS on `127.0.0.1` at a free port, presenting
    /// this PEM certificate chain (leaf first) and PEM private key (cargo
    /// feature `tls`). [`TestCa::generate`] makes a matching set; every
    /// fault works over TLS as over plain HTTP.
    #[cfg(feature = "tls")]
    pub fn start_tls(
        tenant: Tenant,
        cert_chain_pem: &str,
        private_key_pem: &str,
    ) -> std::io::Result<FakeElastic> {
        let config = tls::server_config(cert_chain_pem, private_key_pem)?;
        FakeElastic::start_on(tenant, Transport::Tls(config))
    }

    /// Serve `tenant` over `transport`.
    fn start_on(tenant: Tenant, transport: Transport) -> std::io::Result<FakeElastic> {
        let shared = Arc::new(Shared {
            tenant: Mutex::new(tenant),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            bytes_served: AtomicU64::new(0),
            serving_nanos: AtomicU64::new(0),
            cloud_responses: AtomicU64::new(0),
            rendezvous_arrived: Mutex::new(0),
            rendezvous_met: std::sync::Condvar::new(),
            rendezvous_missed: AtomicU64::new(0),
        });
        let handler: Arc<dyn http::Handler> = shared.clone();
        let scheme = transport.scheme();
        let server = Server::start(handler, transport)?;
        Ok(FakeElastic {
            shared,
            server,
            scheme,
        })
    }

    /// Base URL of both APIs, e.g. `http://127.0.0.1:40123` (`https://…`
    /// when served over TLS; Cloud paths start with `/api/v1`,
    /// Elasticsearch paths with `/_security`).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.server.addr())
    }

    /// The bound address (`127.0.0.1` and the port).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// All requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Add a fault. Faults are consulted in insertion order; the first
    /// matching one that has applications left applies.
    pub fn inject(&self, fault: Fault) {
        let active = ActiveFault {
            skip_left: fault.skip,
            remaining: fault.times,
            fault,
        };
        lock(&self.shared.faults).push(active);
    }

    /// Remove all faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// A copy of the current tenant state (including applied writes).
    pub fn tenant(&self) -> Tenant {
        lock(&self.shared.tenant).clone()
    }

    /// Change the served tenant in place (e.g. to add a user mid-test).
    pub fn update_tenant<R>(&self, change: impl FnOnce(&mut Tenant) -> R) -> R {
        change(&mut lock(&self.shared.tenant))
    }

    /// Total response body bytes sent.
    pub fn bytes_served(&self) -> u64 {
        self.shared.bytes_served.load(Ordering::Relaxed)
    }

    /// Total time spent building and writing responses (injected delays
    /// excluded).
    pub fn serving_time(&self) -> Duration {
        Duration::from_nanos(self.shared.serving_nanos.load(Ordering::Relaxed))
    }

    /// How many requests held by a [`FaultAction::Rendezvous`] were answered
    /// alone, after its timeout.
    pub fn rendezvous_missed(&self) -> u64 {
        self.shared.rendezvous_missed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    const CLOUD: &str = DEMO_CLOUD_API_KEY;
    const ES: &str = DEMO_DEPLOYMENT_API_KEY;

    #[derive(Debug)]
    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        fn headers_named(&self, name: &str) -> Vec<&str> {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect()
        }
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("JSON body")
        }
    }

    fn demo() -> FakeElastic {
        FakeElastic::start(Tenant::demo().expect("demo")).expect("start")
    }

    fn connect(fake: &FakeElastic) -> TcpStream {
        let addr = fake.url().trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    }

    fn write_request(
        stream: &mut TcpStream,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
        close: bool,
    ) {
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(key) = auth {
            text.push_str(&format!("Authorization: ApiKey {key}\r\n"));
        }
        if let Some(body) = body {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        if close {
            text.push_str("Connection: close\r\n");
        }
        text.push_str("\r\n");
        text.push_str(body.unwrap_or(""));
        stream.write_all(text.as_bytes()).expect("write");
    }

    /// Read one response; `Err` when the connection closed before a
    /// complete response arrived.
    fn read_response(reader: &mut BufReader<TcpStream>) -> Result<Resp, String> {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("closed".to_string());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (n, v) = trimmed.split_once(':').ok_or("bad header")?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or("no content-length")?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    fn try_send(
        fake: &FakeElastic,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> Result<Resp, String> {
        let mut stream = connect(fake);
        write_request(&mut stream, method, path, auth, body, true);
        read_response(&mut BufReader::new(stream))
    }

    fn send(
        fake: &FakeElastic,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        try_send(fake, method, path, auth, body).expect("response")
    }

    fn cloud_get(fake: &FakeElastic, path: &str) -> Resp {
        send(fake, "GET", path, Some(CLOUD), None)
    }

    fn es_get(fake: &FakeElastic, path: &str) -> Resp {
        send(fake, "GET", path, Some(ES), None)
    }

    fn es_put(fake: &FakeElastic, path: &str, body: Value) -> Resp {
        send(fake, "PUT", path, Some(ES), Some(&body.to_string()))
    }

    fn es_reason(resp: &Resp) -> String {
        let body = resp.json();
        assert_eq!(body["status"], json!(resp.status), "{body}");
        assert_eq!(
            body["error"]["root_cause"][0]["type"],
            body["error"]["type"]
        );
        body["error"]["reason"]
            .as_str()
            .expect("reason")
            .to_string()
    }

    // ---- authentication -------------------------------------------------

    #[test]
    fn cloud_requires_its_api_key() {
        let fake = demo();
        for auth in [None, Some("wrong"), Some(ES)] {
            let r = send(&fake, "GET", "/api/v1/organizations", auth, None);
            assert_eq!(r.status, 401, "{auth:?}");
            assert_eq!(
                r.json(),
                json!({"errors":[{"code":"root.unauthorized","message":"Credentials were invalid"}]})
            );
            assert_eq!(r.header("x-cloud-error-codes"), Some("root.unauthorized"));
            assert_eq!(r.header("x-ratelimit-limit"), Some("300"));
        }
        let r = cloud_get(&fake, "/api/v1/organizations");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-ratelimit-interval"), Some("1m"));
        let log = fake.requests();
        assert_eq!(log.len(), 4);
        assert_eq!(
            log.iter().map(|r| r.authorized).collect::<Vec<_>>(),
            vec![false, false, false, true]
        );
        assert!(log.iter().all(|r| r.api == Api::Cloud));
        assert_eq!(log[3].status, 200);
    }

    #[test]
    fn cloud_rate_limit_remaining_decreases() {
        let fake = demo();
        let remaining: Vec<u64> = (0..3)
            .map(|_| {
                cloud_get(&fake, "/api/v1/organizations")
                    .header("x-ratelimit-remaining")
                    .and_then(|v| v.parse().ok())
                    .expect("remaining")
            })
            .collect();
        assert!(remaining[0] > remaining[1] && remaining[1] > remaining[2]);
    }

    #[test]
    fn elasticsearch_401_without_credentials() {
        let fake = demo();
        let r = send(&fake, "GET", "/_security/user", None, None);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("X-elastic-product"), Some("Elasticsearch"));
        assert_eq!(r.headers_named("WWW-Authenticate").len(), 3);
        assert_eq!(
            es_reason(&r),
            "missing authentication credentials for REST request [/_security/user]"
        );
        let body = r.json();
        assert_eq!(body["error"]["type"], "security_exception");
        assert_eq!(
            body["error"]["header"]["WWW-Authenticate"],
            json!([
                "Basic realm=\"security\", charset=\"UTF-8\"",
                "Bearer realm=\"security\"",
                "ApiKey"
            ])
        );
        assert_eq!(
            body["error"]["root_cause"][0]["header"],
            body["error"]["header"]
        );
        assert!(!fake.requests()[0].authorized);
        assert_eq!(fake.requests()[0].api, Api::Elasticsearch);
    }

    #[test]
    fn elasticsearch_401_with_a_wrong_key() {
        let fake = demo();
        // base64("other:secret")
        let r = send(
            &fake,
            "GET",
            "/_security/_authenticate",
            Some("b3RoZXI6c2VjcmV0"),
            None,
        );
        assert_eq!(r.status, 401);
        assert_eq!(
            es_reason(&r),
            "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
        );
        assert_eq!(
            r.json()["error"]["additional_unsuccessful_credentials"],
            "API key: unable to find apikey with id other"
        );
        assert_eq!(r.headers_named("WWW-Authenticate").len(), 3);
        // The Cloud key is not an Elasticsearch key.
        assert_eq!(
            send(&fake, "GET", "/_security/user", Some(CLOUD), None).status,
            401
        );
        let r = es_get(&fake, "/_security/_authenticate");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["username"], "governance-svc");
        assert_eq!(r.header("X-elastic-product"), Some("Elasticsearch"));
        assert_eq!(
            fake.requests()
                .iter()
                .map(|r| r.authorized)
                .collect::<Vec<_>>(),
            vec![false, false, true]
        );
    }

    // ---- Cloud routes ---------------------------------------------------

    #[test]
    fn cloud_routes() {
        let fake = demo();
        let orgs = cloud_get(&fake, "/api/v1/organizations").json();
        let list = orgs["organizations"].as_array().expect("organizations");
        assert_eq!(list.len(), 3);
        assert_eq!(orgs.as_object().map(|o| o.len()), Some(1));

        let org = cloud_get(&fake, "/api/v1/organizations/4125567842");
        assert_eq!(org.status, 200);
        assert_eq!(org.json()["name"], "Acme Corp");

        let members = cloud_get(&fake, "/api/v1/organizations/4125567842/members").json();
        assert_eq!(members["members"].as_array().map(Vec::len), Some(5));
        let empty = cloud_get(&fake, "/api/v1/organizations/6620014477/members").json();
        assert_eq!(empty, json!({"members": []}));

        for path in [
            "/api/v1/organizations/999",
            "/api/v1/organizations/999/members",
        ] {
            let r = cloud_get(&fake, path);
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.json()["errors"][0]["code"], "organization.not_found");
            assert_eq!(
                r.header("x-cloud-error-codes"),
                Some("organization.not_found")
            );
        }
        let r = cloud_get(&fake, "/api/v1/nothing/here");
        assert_eq!(r.status, 404);
        assert!(r.json()["errors"][0]["code"].is_string());
        let r = send(&fake, "DELETE", "/api/v1/organizations", Some(CLOUD), None);
        assert_eq!(r.status, 405);
    }

    // ---- Elasticsearch routes -------------------------------------------

    #[test]
    fn elasticsearch_user_routes() {
        let fake = demo();
        let all = es_get(&fake, "/_security/user").json();
        assert_eq!(all.as_object().map(|o| o.len()), Some(13));
        assert_eq!(all["elastic"]["metadata"]["_reserved"], true);

        let some = es_get(
            &fake,
            "/_security/user/jdoe,nobody,alice?with_profile_uid=false",
        );
        assert_eq!(some.status, 200);
        let keys: Vec<String> = some
            .json()
            .as_object()
            .expect("obj")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, vec!["alice", "jdoe"]);

        let missing = es_get(&fake, "/_security/user/nobody,ghost");
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body, b"{}");

        let spaced = es_get(&fake, "/_security/user/svc%20ingest").json();
        assert_eq!(spaced["svc ingest"]["roles"], json!(["metrics_writer"]));
        let colon = es_get(&fake, "/_security/user/ops%3Aoncall").json();
        assert_eq!(colon["ops:oncall"]["username"], "ops:oncall");
        let raw_colon = es_get(&fake, "/_security/user/ops:oncall").json();
        assert_eq!(raw_colon, colon);
    }

    #[test]
    fn elasticsearch_role_and_mapping_routes() {
        let fake = demo();
        let roles = es_get(&fake, "/_security/role").json();
        assert_eq!(roles.as_object().map(|o| o.len()), Some(7));
        let one = es_get(&fake, "/_security/role/logs_reader").json();
        assert_eq!(one["logs_reader"]["description"], "Read access to logs");
        let ghost = es_get(&fake, "/_security/role/ghost_role");
        assert_eq!((ghost.status, ghost.body.as_slice()), (404, &b"{}"[..]));

        let mappings = es_get(&fake, "/_security/role_mapping").json();
        assert_eq!(mappings.as_object().map(|o| o.len()), Some(17));
        let m = es_get(&fake, "/_security/role_mapping/per-user-role,jdoe-direct").json();
        assert!(m["per-user-role"]["role_templates"][0]["template"].is_string());
        assert_eq!(
            m["jdoe-direct"]["rules"],
            json!({"field":{"username":"jdoe"}})
        );
        let missing = es_get(&fake, "/_security/role_mapping/nope");
        assert_eq!((missing.status, missing.body.as_slice()), (404, &b"{}"[..]));

        let unknown = es_get(&fake, "/_security/nothing");
        assert_eq!(unknown.status, 404);
        let other = es_get(&fake, "/");
        assert_eq!(other.status, 404);
        assert_eq!(other.json()["status"], 404);
        let wrong_method = send(&fake, "DELETE", "/_security/role", Some(ES), None);
        assert_eq!(wrong_method.status, 405);
    }

    #[test]
    fn keep_alive_serves_two_requests_on_one_connection() {
        let fake = demo();
        let mut stream = connect(&fake);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        write_request(
            &mut stream,
            "GET",
            "/_security/_authenticate",
            Some(ES),
            None,
            false,
        );
        let first = read_response(&mut reader).expect("first");
        assert_eq!(first.status, 200);
        assert_eq!(first.header("connection"), Some("keep-alive"));
        write_request(
            &mut stream,
            "GET",
            "/api/v1/organizations",
            Some(CLOUD),
            None,
            false,
        );
        let second = read_response(&mut reader).expect("second");
        assert_eq!(second.status, 200);
        // Pipelined: two requests in one write.
        let mut both = Vec::new();
        for path in ["/_security/role/viewer", "/_security/role/editor"] {
            both.extend_from_slice(
                format!("GET {path} HTTP/1.1\r\nAuthorization: ApiKey {ES}\r\n\r\n").as_bytes(),
            );
        }
        stream.write_all(&both).expect("write");
        assert!(read_response(&mut reader).expect("third").json()["viewer"].is_object());
        assert!(read_response(&mut reader).expect("fourth").json()["editor"].is_object());
        assert_eq!(fake.request_count(), 4);
    }

    #[test]
    fn dropping_the_server_closes_idle_connections() {
        let fake = demo();
        let mut stream = connect(&fake);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        write_request(
            &mut stream,
            "GET",
            "/_security/_authenticate",
            Some(ES),
            None,
            false,
        );
        assert_eq!(read_response(&mut reader).expect("first").status, 200);
        drop(fake);
        assert!(read_response(&mut reader).is_err());
    }

    #[test]
    fn chunked_bodies_are_accepted() {
        let fake = demo();
        let mut stream = connect(&fake);
        let body = r#"{"roles":["editor"]}"#;
        let (a, b) = body.split_at(7);
        let text = format!(
            "PUT /_security/user/carol HTTP/1.1\r\nAuthorization: ApiKey {ES}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        stream.write_all(text.as_bytes()).expect("write");
        let r = read_response(&mut BufReader::new(stream)).expect("response");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(fake.tenant().users["carol"]["roles"], json!(["editor"]));
        assert_eq!(fake.requests()[0].body, body);
    }

    #[test]
    fn garbage_requests_get_400_and_a_closed_connection() {
        let fake = demo();
        let mut stream = connect(&fake);
        stream.write_all(b"NONSENSE\r\n\r\n").expect("write");
        let mut reader = BufReader::new(stream);
        assert_eq!(read_response(&mut reader).expect("response").status, 400);
        assert!(read_response(&mut reader).is_err());
        assert_eq!(fake.request_count(), 0);
    }

    // ---- faults -----------------------------------------------------------

    #[test]
    fn status_faults_use_each_apis_error_shape() {
        let fake = demo();
        fake.inject(Fault::rate_limited("/api/v1/organizations", "7").times(1));
        let r = cloud_get(&fake, "/api/v1/organizations");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("Retry-After"), Some("7"));
        let code = r.json()["errors"][0]["code"]
            .as_str()
            .expect("code")
            .to_string();
        assert_eq!(r.header("x-cloud-error-codes"), Some(code.as_str()));
        assert!(r.header("x-ratelimit-remaining").is_some());
        assert_eq!(cloud_get(&fake, "/api/v1/organizations").status, 200);

        for (status, code) in [
            (403, "organization.invalid_access"),
            (404, "organization.not_found"),
            (500, "root.server_error"),
            (503, "root.server_error"),
        ] {
            fake.clear_faults();
            fake.inject(Fault::status("/api/v1/", status));
            let r = cloud_get(&fake, "/api/v1/organizations/4125567842/members");
            assert_eq!(r.status, status);
            assert_eq!(r.json()["errors"][0]["code"], code);
            assert!(r.header("Retry-After").is_none());
        }

        fake.clear_faults();
        fake.inject(Fault::status("/_security/user", 403));
        let r = es_get(&fake, "/_security/user");
        assert_eq!(r.status, 403);
        assert_eq!(
            es_reason(&r),
            "action [cluster:admin/xpack/security/user/get] is unauthorized for API key id [demo-id] of user [governance-svc], this action is granted by the cluster privileges [read_security,manage_security,all]"
        );
        fake.clear_faults();
        fake.inject(Fault::status("/_security/", 429));
        let r = es_get(&fake, "/_security/role_mapping");
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["error"]["type"], "es_rejected_execution_exception");
        fake.clear_faults();
        fake.inject(Fault::status("/_security/", 500));
        let r = es_get(&fake, "/_security/role");
        assert_eq!(r.status, 500);
        es_reason(&r);
        assert_eq!(r.header("X-elastic-product"), Some("Elasticsearch"));
        fake.clear_faults();
        assert_eq!(es_get(&fake, "/_security/role").status, 200);
    }

    #[test]
    fn fault_skip_times_and_method() {
        let fake = demo();
        fake.inject(
            Fault::status("/_security/user", 503)
                .skip(1)
                .times(2)
                .method("get"),
        );
        let statuses: Vec<u16> = (0..5)
            .map(|_| es_get(&fake, "/_security/user").status)
            .collect();
        assert_eq!(statuses, vec![200, 503, 503, 200, 200]);
        // Other methods are not affected.
        fake.inject(Fault::status("/_security/user", 500).method("PUT"));
        assert_eq!(es_get(&fake, "/_security/user/jdoe").status, 200);
        let r = es_put(&fake, "/_security/user/jdoe", json!({"roles": []}));
        assert_eq!(r.status, 500);
        // First matching fault with applications left wins.
        fake.clear_faults();
        fake.inject(Fault::status("/_security/role", 404).times(1));
        fake.inject(Fault::status("/_security/role", 409).times(1));
        let statuses: Vec<u16> = (0..3)
            .map(|_| es_get(&fake, "/_security/role").status)
            .collect();
        assert_eq!(statuses, vec![404, 409, 200]);
    }

    #[test]
    fn delay_fault_sleeps_then_answers() {
        let fake = demo();
        fake.inject(Fault::delay("/_security/_authenticate", Duration::from_millis(300)).times(1));
        let started = Instant::now();
        let r = es_get(&fake, "/_security/_authenticate");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(r.status, 200);
        assert!(fake.serving_time() < Duration::from_millis(300));
    }

    #[test]
    fn malformed_fault_returns_invalid_json() {
        let fake = demo();
        fake.inject(Fault::malformed("/api/v1/organizations"));
        let r = cloud_get(&fake, "/api/v1/organizations");
        assert_eq!(r.status, 200);
        assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    }

    #[test]
    fn truncated_fault_sends_half_the_body_and_closes() {
        let fake = demo();
        fake.inject(Fault::truncated("/_security/user").times(1));
        let mut stream = connect(&fake);
        write_request(&mut stream, "GET", "/_security/user", Some(ES), None, false);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read until close");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .expect("length");
        assert_eq!(body.len(), length / 2);
        assert!(head.starts_with("HTTP/1.1 200"));
        assert_eq!(fake.requests()[0].status, 200);
    }

    #[test]
    fn drop_fault_closes_without_answering() {
        let fake = demo();
        fake.inject(Fault::drop_connection("/api/v1/").times(1));
        assert!(try_send(&fake, "GET", "/api/v1/organizations", Some(CLOUD), None).is_err());
        assert_eq!(fake.requests()[0].status, 0);
        assert_eq!(cloud_get(&fake, "/api/v1/organizations").status, 200);
    }

    #[test]
    fn oversized_fault_pads_a_valid_body() {
        let fake = demo();
        fake.inject(Fault::oversized("/_security/role_mapping", 1 << 20));
        let r = es_get(&fake, "/_security/role_mapping");
        assert_eq!(r.status, 200);
        assert!(r.body.len() >= 1 << 20);
        assert_eq!(r.json().as_object().map(|o| o.len()), Some(17));
        assert!(fake.bytes_served() >= 1 << 20);
    }

    // ---- user writes ------------------------------------------------------

    #[test]
    fn put_user_updates_without_touching_others() {
        let fake = demo();
        let before = fake.tenant();
        let r = send(
            &fake,
            "PUT",
            "/_security/user/old.contractor?refresh=true",
            Some(ES),
            Some(
                r#"{"roles":["viewer","logs_reader"],"full_name":"Old Contractor","metadata":{"contract_end":"2025-12-31"},"enabled":false}"#,
            ),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"created": false}));
        let after = fake.tenant();
        assert_eq!(
            after.users["old.contractor"],
            json!({"username":"old.contractor","roles":["viewer","logs_reader"],"full_name":"Old Contractor",
                   "email":null,"metadata":{"contract_end":"2025-12-31"},"enabled":false})
        );
        for (name, user) in &before.users {
            if name != "old.contractor" {
                assert_eq!(after.users.get(name), Some(user), "{name}");
            }
        }
        assert_eq!(after.role_mappings, before.role_mappings);
        // GET returns the stored shape.
        let got = es_get(&fake, "/_security/user/old.contractor").json();
        assert_eq!(got["old.contractor"], after.users["old.contractor"]);
        assert!(fake.requests()[0].body.contains("logs_reader"));
    }

    #[test]
    fn put_user_defaults_and_creation() {
        let fake = demo();
        // Omitted enabled/full_name/email/metadata: true/null/null/{}.
        let r = es_put(&fake, "/_security/user/jdoe", json!({"roles": ["viewer"]}));
        assert_eq!(r.json(), json!({"created": false}));
        assert_eq!(
            fake.tenant().users["jdoe"],
            json!({"username":"jdoe","roles":["viewer"],"full_name":null,"email":null,"metadata":{},"enabled":true})
        );
        let r = send(
            &fake,
            "POST",
            "/_security/user/new%20user",
            Some(ES),
            Some(r#"{"password":"s3cret-pw","roles":"viewer,editor","username":"new user"}"#),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"created": true}));
        let user = &fake.tenant().users["new user"];
        assert_eq!(user["roles"], json!(["viewer", "editor"]));
        assert!(user.get("password").is_none());
    }

    #[test]
    fn put_user_validation_errors() {
        let fake = demo();
        let cases = [
            (
                "jdoe",
                json!({"roles": [], "profile_uid": "u_1"}),
                "parse_exception",
                "failed to parse add user request. unexpected field [profile_uid]".to_string(),
            ),
            (
                "jdoe",
                json!({"full_name": "x"}),
                "action_request_validation_exception",
                "Validation Failed: 1: roles are missing;".to_string(),
            ),
            (
                "jdoe",
                json!({"roles": [], "metadata": {"_reserved": true}}),
                "action_request_validation_exception",
                "Validation Failed: 1: metadata keys may not start with [_];".to_string(),
            ),
            (
                "brand.new",
                json!({"roles": ["viewer"]}),
                "action_request_validation_exception",
                "Validation Failed: 1: password must be specified unless you are updating an existing user;".to_string(),
            ),
            (
                "elastic",
                json!({"roles": ["superuser"]}),
                "action_request_validation_exception",
                "Validation Failed: 1: user [elastic] is reserved and only the password can be changed;".to_string(),
            ),
            (
                "kibana_system",
                json!({"roles": ["kibana_system"], "password": "longenough"}),
                "action_request_validation_exception",
                "Validation Failed: 1: user [kibana_system] is reserved and only the password can be changed;".to_string(),
            ),
        ];
        for (name, body, kind, reason) in cases {
            let r = es_put(&fake, &format!("/_security/user/{name}"), body.clone());
            assert_eq!(r.status, 400, "{body}");
            assert_eq!(r.json()["error"]["type"], kind, "{body}");
            assert_eq!(es_reason(&r), reason, "{body}");
        }
        let r = es_put(
            &fake,
            "/_security/user/jdoe",
            json!({"roles": [], "username": "bob"}),
        );
        assert_eq!(r.status, 400);
        let r = send(
            &fake,
            "PUT",
            "/_security/user/jdoe",
            Some(ES),
            Some("{not json"),
        );
        assert_eq!(r.status, 400);
        es_reason(&r);
        let r = send(&fake, "PUT", "/_security/user/jdoe", Some(ES), None);
        assert_eq!(r.status, 400);
        assert_eq!(
            fake.tenant(),
            Tenant::demo().expect("demo"),
            "nothing changed"
        );
    }

    // ---- role-mapping writes ----------------------------------------------

    #[test]
    fn put_role_mapping_stores_normalized_request() {
        let fake = demo();
        let body = json!({
            "enabled": true,
            "roles": ["viewer"],
            "rules": {"any": [{"field": {"username": ["jdoe"]}}, {"field": {"username": ["a", "b"]}}]},
            "metadata": {"owner": "test"}
        });
        let r = es_put(
            &fake,
            "/_security/role_mapping/jdoe-direct?refresh=true",
            body,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"role_mapping": {"created": false}}));
        let got = es_get(&fake, "/_security/role_mapping/jdoe-direct").json();
        assert_eq!(
            got["jdoe-direct"],
            json!({"enabled": true, "roles": ["viewer"],
                   "rules": {"any": [{"field": {"username": "jdoe"}}, {"field": {"username": ["a", "b"]}}]},
                   "metadata": {"owner": "test"}})
        );
        // Create, with templates given as an object and no metadata.
        let r = es_put(
            &fake,
            "/_security/role_mapping/new-one",
            json!({"enabled": false, "roles": [], "role_templates": [{"template": {"source": "{{username}}"}}],
                   "rules": {"field": {"realm.name": "saml1"}}}),
        );
        assert_eq!(r.json(), json!({"role_mapping": {"created": true}}));
        assert_eq!(
            fake.tenant().role_mappings["new-one"],
            json!({"enabled": false,
                   "role_templates": [{"template": "{\"source\":\"{{username}}\"}", "format": "string"}],
                   "rules": {"field": {"realm.name": "saml1"}}, "metadata": {}})
        );
    }

    #[test]
    fn put_role_mapping_validation_errors() {
        let fake = demo();
        let rules = json!({"field": {"username": "x"}});
        let cases = [
            (
                json!({"roles": ["viewer"], "rules": rules}),
                "parsing_exception",
                "failed to parse role-mapping [m]. missing field [enabled]",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"]}),
                "parsing_exception",
                "failed to parse role-mapping [m]. missing field [rules]",
            ),
            (
                json!({"enabled": true, "rules": rules}),
                "parsing_exception",
                "failed to parse role-mapping [m]. missing field [roles]",
            ),
            (
                json!({"enabled": true, "roles": [], "rules": rules}),
                "action_request_validation_exception",
                "Validation Failed: 1: role-mapping roles or role-templates are missing;",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"], "role_templates": [{"template": {"source": "x"}}], "rules": rules}),
                "action_request_validation_exception",
                "Validation Failed: 1: role-mapping cannot have both roles and role-templates;",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"], "rules": rules, "metadata": {"_x": 1}}),
                "action_request_validation_exception",
                "Validation Failed: 1: metadata keys may not start with [_];",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"], "rules": {"except": rules}}),
                "parse_exception",
                "failed to parse rules expression. field [except] is not allowed within [rules]",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"], "rules": {"field": {"username": []}}}),
                "parse_exception",
                "failed to parse rules expression. field [username] cannot have null or empty values",
            ),
            (
                json!({"enabled": true, "roles": ["viewer"], "rules": {"field": {"username": "a"}, "all": []}}),
                "parse_exception",
                "failed to parse rules expression. object [rules] contains multiple fields",
            ),
            (
                json!({"enabled": "yes", "roles": ["viewer"], "rules": rules}),
                "parsing_exception",
                "failed to parse role-mapping [m]. expected field [enabled] to be of type boolean but found [string]",
            ),
        ];
        for (body, kind, reason) in cases {
            let r = es_put(&fake, "/_security/role_mapping/m", body.clone());
            assert_eq!(r.status, 400, "{body}");
            assert_eq!(r.json()["error"]["type"], kind, "{body}");
            assert_eq!(es_reason(&r), reason, "{body}");
        }
        // Operator-defined read-only mapping.
        let r = es_put(
            &fake,
            "/_security/role_mapping/sso-read-only-operator-mapping",
            json!({"enabled": true, "roles": ["viewer"], "rules": rules}),
        );
        assert_eq!(r.status, 400);
        fake.update_tenant(|t| {
            t.role_mappings.insert(
                "locked".to_string(),
                json!({"enabled": true, "roles": ["viewer"], "rules": rules, "metadata": {"_read_only": true}}),
            )
        });
        let r = es_put(
            &fake,
            "/_security/role_mapping/locked",
            json!({"enabled": true, "roles": ["viewer"], "rules": rules}),
        );
        assert_eq!(r.status, 400);
        assert!(es_reason(&r).contains("read-only"));
        let r = send(
            &fake,
            "DELETE",
            "/_security/role_mapping/locked",
            Some(ES),
            None,
        );
        assert_eq!(r.status, 400);
        assert!(!fake.tenant().role_mappings.contains_key("m"));
    }

    #[test]
    fn delete_role_mapping() {
        let fake = demo();
        let r = send(
            &fake,
            "DELETE",
            "/_security/role_mapping/svc-regex",
            Some(ES),
            None,
        );
        assert_eq!((r.status, r.json()), (200, json!({"found": true})));
        let r = send(
            &fake,
            "DELETE",
            "/_security/role_mapping/svc-regex",
            Some(ES),
            None,
        );
        assert_eq!((r.status, r.json()), (404, json!({"found": false})));
        assert!(!fake.tenant().role_mappings.contains_key("svc-regex"));
    }

    // ---- accounting and scale ---------------------------------------------

    #[test]
    fn requests_are_recorded_with_bytes_and_time() {
        let fake = demo();
        let r = es_get(&fake, "/_security/user/svc%20ingest?pretty");
        let body = es_put(&fake, "/_security/user/carol", json!({"roles": ["viewer"]}));
        assert_eq!(body.status, 200);
        let log = fake.requests();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].path, "/_security/user/svc%20ingest?pretty");
        assert_eq!(log[0].method, "GET");
        assert_eq!(log[1].method, "PUT");
        assert_eq!(log[1].body, r#"{"roles":["viewer"]}"#);
        assert_eq!(fake.bytes_served(), (r.body.len() + body.body.len()) as u64);
        assert!(fake.serving_time() > Duration::ZERO);
        fake.clear_requests();
        assert_eq!(fake.request_count(), 0);
    }

    #[test]
    fn serves_a_generated_tenant_concurrently() {
        let spec = TenantSpec::named("medium").expect("medium");
        let fake = FakeElastic::start(Tenant::generate(&spec)).expect("start");
        let expected = fake.tenant();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let users = es_get(&fake, "/_security/user").json();
                    assert_eq!(
                        users.as_object().map(|o| o.len()),
                        Some(expected.users.len())
                    );
                    let orgs = cloud_get(&fake, "/api/v1/organizations").json();
                    let id = orgs["organizations"][0]["id"]
                        .as_str()
                        .expect("id")
                        .to_string();
                    let members = cloud_get(&fake, &format!("/api/v1/organizations/{id}/members"));
                    assert_eq!(
                        members.json()["members"].as_array().map(Vec::len),
                        Some(spec.members_per_org)
                    );
                });
            }
        });
        assert_eq!(fake.request_count(), 12);
    }

    // ---- writes lost to another client ------------------------------------

    #[test]
    fn lost_write_answers_but_changes_nothing() {
        let fake = demo();
        fake.inject(Fault::lost_write("/_security/user/carol").method("PUT"));
        let before = fake.tenant();
        let r = es_put(&fake, "/_security/user/carol", json!({"roles": ["viewer"]}));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"created": false}));
        assert_eq!(fake.tenant(), before);
    }

    // ---- versioned clusters -------------------------------------------------

    /// Send with a raw `Authorization` header value (or none).
    fn send_raw_auth(
        fake: &FakeElastic,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut stream = connect(fake);
        let mut text =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(value) = authorization {
            text.push_str(&format!("Authorization: {value}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        text.push_str(body);
        stream.write_all(text.as_bytes()).expect("write");
        read_response(&mut BufReader::new(stream)).expect("response")
    }

    fn base64(input: &str) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64(&format!("{user}:{password}")))
    }

    fn versioned(version: EsVersion) -> FakeElastic {
        FakeElastic::start(Tenant::demo().expect("demo").with_es_version(version)).expect("start")
    }

    fn es_post(fake: &FakeElastic, path: &str, body: &str) -> Resp {
        send(fake, "POST", path, Some(ES), Some(body))
    }

    #[test]
    fn the_default_tenant_plays_no_version() {
        let fake = demo();
        assert_eq!(fake.tenant().cluster, None);
        assert!(fake.tenant().basic_users.is_empty());
        let r = es_post(&fake, "/_security/_query/user", "{}");
        assert_eq!(r.status, 404);
        let r = send_raw_auth(
            &fake,
            "GET",
            "/_security/_authenticate",
            Some(&basic("elastic", "x")),
            None,
        );
        assert_eq!(r.status, 401);
        assert_eq!(
            es_reason(&r),
            "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
        );
    }

    #[test]
    fn root_answers_like_a_node_and_needs_credentials() {
        let fake = versioned(EsVersion::V8_15);
        let r = es_get(&fake, "/");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
        let body = r.json();
        assert_eq!(body["cluster_name"], "5b1d0c7e9a2f4c3b8e6d1a0f9c8b7a65");
        assert_eq!(body["cluster_uuid"], CLUSTER_UUID);
        assert_eq!(body["name"], "instance-0000000000");
        assert_eq!(body["tagline"], "You Know, for Search");
        assert_eq!(body["version"]["number"], "8.15.0");
        assert_eq!(body["version"]["build_flavor"], "default");
        assert_eq!(body["version"]["lucene_version"], "9.11.1");
        assert_eq!(
            body["version"]["minimum_wire_compatibility_version"],
            "7.17.0"
        );
        assert_eq!(
            body["version"]["minimum_index_compatibility_version"],
            "7.0.0"
        );
        let r = send(&fake, "GET", "/", None, None);
        assert_eq!(r.status, 401);
        assert_eq!(
            es_reason(&r),
            "missing authentication credentials for REST request [/]"
        );
        assert_eq!(r.headers_named("WWW-Authenticate").len(), 3);
        let r = send(&fake, "POST", "/", Some(ES), None);
        assert_eq!(r.status, 405);
        let generated = Tenant::generate(&TenantSpec::named("small").expect("small"))
            .self_managed(EsVersion::V7_17);
        let fake = FakeElastic::start(generated).expect("start");
        let body = es_get(&fake, "/").json();
        assert_eq!(body["version"]["number"], "7.17.25");
        assert_eq!(body["name"], "node-1");
        let name = body["cluster_name"].as_str().expect("name");
        assert_eq!(name.len(), 32);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        let fake = FakeElastic::start(
            Tenant::empty("c", DEMO_DEPLOYMENT_API_KEY).self_managed(EsVersion::V9_1),
        )
        .expect("start");
        let body = es_get(&fake, "/").json();
        assert_eq!(body["cluster_name"], DEFAULT_CLUSTER_NAME);
        assert_eq!(body["version"]["number"], "9.1.0");
    }

    #[test]
    fn endpoints_a_version_lacks_are_unknown() {
        let expect_no_handler = |fake: &FakeElastic, method: &str, path: &str| {
            let r = send(fake, method, path, Some(ES), Some("{}"));
            assert_eq!(r.status, 400, "{method} {path}");
            assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
            assert_eq!(
                r.json(),
                json!({"error": format!("no handler found for uri [{path}] and method [{method}]"), "status": 400})
            );
        };
        let fake = versioned(EsVersion::V7_17);
        expect_no_handler(&fake, "POST", "/_security/profile/_suggest");
        expect_no_handler(&fake, "POST", "/_security/_query/user");
        expect_no_handler(&fake, "GET", "/_security/_query/user");
        expect_no_handler(&fake, "POST", "/_security/_query/role");
        expect_no_handler(&fake, "GET", "/_security/nothing");
        expect_no_handler(&fake, "GET", "/_cluster/health");
        assert_eq!(es_get(&fake, "/_security/user").status, 200);
        assert_eq!(es_get(&fake, "/_security/role_mapping").status, 200);
        // Unknown endpoints are refused before authentication, as Elasticsearch does.
        let r = send(&fake, "POST", "/_security/_query/user", None, None);
        assert_eq!(r.status, 400);

        let fake = versioned(EsVersion::V8_13);
        assert_eq!(
            es_post(&fake, "/_security/profile/_suggest", "{}").status,
            200
        );
        expect_no_handler(&fake, "POST", "/_security/_query/user");

        let fake = versioned(EsVersion::V8_14);
        assert_eq!(es_post(&fake, "/_security/_query/user", "{}").status, 200);
        expect_no_handler(&fake, "POST", "/_security/_query/role");

        for version in [EsVersion::V8_15, EsVersion::V9_1] {
            let fake = versioned(version);
            assert_eq!(es_post(&fake, "/_security/_query/user", "{}").status, 200);
            assert_eq!(es_post(&fake, "/_security/_query/role", "{}").status, 200);
            assert_eq!(
                send(&fake, "DELETE", "/_security/_query/user", Some(ES), None).status,
                405
            );
            // Cloud stays on a hosted deployment.
            assert_eq!(cloud_get(&fake, "/api/v1/organizations").status, 200);
        }
    }

    #[test]
    fn a_self_managed_cluster_has_no_cloud_api() {
        let fake = FakeElastic::start(Tenant::demo().expect("demo").self_managed(EsVersion::V8_15))
            .expect("start");
        let r = cloud_get(&fake, "/api/v1/organizations");
        assert_eq!(r.status, 400);
        assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
        assert!(r.header("x-ratelimit-limit").is_none());
        assert_eq!(
            r.json()["error"],
            "no handler found for uri [/api/v1/organizations] and method [GET]"
        );
        assert_eq!(fake.requests()[0].api, Api::Elasticsearch);
        assert_eq!(es_get(&fake, "/_security/_authenticate").status, 200);
    }

    #[test]
    fn query_user_pages_native_users_only() {
        let fake = versioned(EsVersion::V8_15);
        let all = es_post(&fake, "/_security/_query/user", r#"{"size":100}"#).json();
        assert_eq!(all["total"], 7);
        assert_eq!(all["count"], 7);
        let names: Vec<&str> = all["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| u["username"].as_str().expect("username"))
            .collect();
        assert_eq!(
            names,
            [
                "alice",
                "bob",
                "carol",
                "jdoe",
                "old.contractor",
                "ops:oncall",
                "svc ingest"
            ]
        );
        assert!(all["users"][0].get("_sort").is_none(), "unsorted: no _sort");
        assert_eq!(all["users"][3], fake.tenant().users["jdoe"]);
        // Default size 10, GET without a body.
        let r = send(&fake, "GET", "/_security/_query/user", Some(ES), None);
        assert_eq!(r.json()["count"], 7);

        // Three pages of three with search_after.
        let mut seen = Vec::new();
        let mut after: Option<Value> = None;
        let mut counts = Vec::new();
        loop {
            let mut body = json!({"size": 3, "sort": [{"username": "asc"}]});
            if let Some(last) = &after {
                body["search_after"] = last.clone();
            }
            let page = es_post(&fake, "/_security/_query/user", &body.to_string()).json();
            assert_eq!(page["total"], 7);
            let users = page["users"].as_array().expect("users").clone();
            assert_eq!(page["count"], users.len());
            counts.push(users.len());
            for user in &users {
                assert_eq!(user["_sort"], json!([user["username"]]));
                seen.push(user["username"].as_str().expect("name").to_string());
            }
            if users.len() < 3 {
                break;
            }
            after = users.last().map(|u| u["_sort"].clone());
        }
        assert_eq!(counts, [3, 3, 1]);
        assert_eq!(seen, names);
        // search_after resumes right after the given name, even one that does not exist.
        let page = es_post(
            &fake,
            "/_security/_query/user",
            r#"{"sort":["username"],"search_after":["bob"],"size":2}"#,
        )
        .json();
        assert_eq!(page["users"][0]["username"], "carol");
        assert_eq!(page["users"][1]["username"], "jdoe");
        let page = es_post(
            &fake,
            "/_security/_query/user",
            r#"{"sort":{"username":{"order":"asc"}},"search_after":["d"],"size":1}"#,
        )
        .json();
        assert_eq!(page["users"][0]["username"], "jdoe");
        // from paging and descending order.
        let page = es_post(
            &fake,
            "/_security/_query/user",
            r#"{"from":5,"size":5,"sort":["username"]}"#,
        )
        .json();
        assert_eq!(page["count"], 2);
        assert_eq!(page["users"][0]["username"], "ops:oncall");
        let page = es_post(
            &fake,
            "/_security/_query/user",
            r#"{"sort":[{"username":{"order":"desc"}}],"search_after":["jdoe"],"size":1,"query":{"match_all":{}}}"#,
        )
        .json();
        assert_eq!(page["users"][0]["username"], "carol");
    }

    #[test]
    fn query_user_refuses_what_elasticsearch_refuses() {
        let fake = versioned(EsVersion::V8_14);
        let cases = [
            (
                r#"{"from":9995,"size":10}"#,
                "illegal_argument_exception",
                "Result window is too large",
            ),
            (
                r#"{"size":10001}"#,
                "illegal_argument_exception",
                "Result window is too large",
            ),
            (
                r#"{"size":-1}"#,
                "illegal_argument_exception",
                "[size] parameter cannot be negative",
            ),
            (
                r#"{"sort":["roles"]}"#,
                "illegal_argument_exception",
                "sorting is not supported for field [roles]",
            ),
            (
                r#"{"sort":[{"username":"sideways"}]}"#,
                "x_content_parse_exception",
                "failed to parse field [sort]",
            ),
            (
                r#"{"query":{"term":{"username":"jdoe"}}}"#,
                "illegal_argument_exception",
                "Query type [term]",
            ),
            (
                r#"{"query":"jdoe"}"#,
                "x_content_parse_exception",
                "failed to parse field [query]",
            ),
            (
                r#"{"with_profile_uid":true}"#,
                "x_content_parse_exception",
                "unknown field [with_profile_uid]",
            ),
            (
                r#"{"search_after":["bob"]}"#,
                "illegal_argument_exception",
                "without [sort]",
            ),
            (
                r#"{"sort":["username"],"search_after":["a","b"]}"#,
                "illegal_argument_exception",
                "search_after has 2 value(s)",
            ),
            (
                r#"{"sort":["username"],"search_after":["a"],"from":1}"#,
                "illegal_argument_exception",
                "`from` parameter must be set to 0",
            ),
            ("[1]", "parse_exception", "request body must be an object"),
        ];
        for (body, kind, reason) in cases {
            let r = es_post(&fake, "/_security/_query/user", body);
            assert_eq!(r.status, 400, "{body}");
            assert_eq!(r.json()["error"]["type"], kind, "{body}");
            assert!(es_reason(&r).contains(reason), "{body}: {}", es_reason(&r));
        }
        assert_eq!(
            es_post(
                &fake,
                "/_security/_query/user",
                r#"{"from":9990,"size":10}"#
            )
            .status,
            200
        );
        let r = es_post(&fake, "/_security/_query/user?with_profile_uid=true", "{}");
        assert_eq!(r.status, 200);
    }

    #[test]
    fn query_role_lists_custom_roles_with_names() {
        let fake = versioned(EsVersion::V9_1);
        let body = es_post(
            &fake,
            "/_security/_query/role",
            r#"{"sort":["name"],"size":2}"#,
        )
        .json();
        assert_eq!(body["total"], 3);
        assert_eq!(body["count"], 2);
        assert_eq!(body["roles"][0]["name"], "logs_reader");
        assert_eq!(body["roles"][0]["_sort"], json!(["logs_reader"]));
        assert_eq!(
            body["roles"][0]["description"],
            fake.tenant().roles["logs_reader"]["description"]
        );
        let rest = es_post(
            &fake,
            "/_security/_query/role",
            r#"{"sort":["name"],"search_after":["metrics_writer"]}"#,
        )
        .json();
        assert_eq!(rest["roles"].as_array().map(Vec::len), Some(1));
        assert_eq!(rest["roles"][0]["name"], "sre_admin");
        assert_eq!(
            es_post(&fake, "/_security/_query/role", r#"{"sort":["username"]}"#).status,
            400
        );
    }

    #[test]
    fn query_user_pages_a_generated_tenant() {
        let spec = TenantSpec::named("small").expect("small");
        let fake = FakeElastic::start(Tenant::generate(&spec).self_managed(EsVersion::V8_15))
            .expect("start");
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let mut body = json!({"size": 20, "sort": ["username"]});
            if let Some(last) = after.take() {
                body["search_after"] = json!([last]);
            }
            let page = es_post(&fake, "/_security/_query/user", &body.to_string()).json();
            assert_eq!(page["total"], spec.users);
            let users = page["users"].as_array().expect("users").clone();
            for user in &users {
                seen.push(user["username"].as_str().expect("name").to_string());
            }
            if users.len() < 20 {
                break;
            }
            after = seen.last().cloned();
        }
        let expected: Vec<String> = fake
            .tenant()
            .users
            .iter()
            .filter(|(_, u)| u["metadata"]["_reserved"] != json!(true))
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(seen.len(), spec.users);
        assert_eq!(seen, expected);
    }

    #[test]
    fn basic_authentication_with_native_passwords() {
        let tenant = Tenant::demo()
            .expect("demo")
            .self_managed(EsVersion::V8_15)
            .with_password("jdoe", "jdoe-password")
            .with_password("elastic", "changeme")
            .with_password("old.contractor", "still-set")
            .with_password("file_admin", "from-a-file");
        assert_eq!(tenant.basic_users.len(), 4);
        let fake = FakeElastic::start(tenant).expect("start");
        let auth = |user: &str, password: &str| {
            send_raw_auth(
                &fake,
                "GET",
                "/_security/_authenticate",
                Some(&basic(user, password)),
                None,
            )
        };
        let r = auth("jdoe", "jdoe-password");
        assert_eq!(r.status, 200);
        let body = r.json();
        assert_eq!(body["username"], "jdoe");
        assert_eq!(body["roles"], json!(["viewer", "logs_reader"]));
        assert_eq!(body["authentication_type"], "realm");
        assert_eq!(
            body["authentication_realm"],
            json!({"name": "native1", "type": "native"})
        );
        assert_eq!(
            body["lookup_realm"],
            json!({"name": "native1", "type": "native"})
        );
        let body = auth("elastic", "changeme").json();
        assert_eq!(
            body["authentication_realm"],
            json!({"name": "reserved", "type": "reserved"})
        );
        assert_eq!(body["roles"], json!(["superuser"]));
        let body = auth("file_admin", "from-a-file").json();
        assert_eq!(body["authentication_realm"]["type"], "file");
        assert_eq!(body["roles"], json!([]));

        let r = auth("jdoe", "wrong");
        assert_eq!(r.status, 401);
        assert_eq!(
            es_reason(&r),
            "unable to authenticate user [jdoe] for REST request [/_security/_authenticate]"
        );
        assert_eq!(r.headers_named("WWW-Authenticate").len(), 3);
        assert_eq!(
            r.json()["error"]["header"]["WWW-Authenticate"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert_eq!(auth("nobody", "x").status, 401);
        assert_eq!(
            auth("old.contractor", "still-set").status,
            401,
            "disabled user"
        );

        // Every Elasticsearch route takes the password; the API key still works; Cloud does not take it.
        let r = send_raw_auth(
            &fake,
            "GET",
            "/_security/user/jdoe",
            Some(&basic("jdoe", "jdoe-password")),
            None,
        );
        assert_eq!(r.status, 200);
        let r = send_raw_auth(
            &fake,
            "POST",
            "/_security/_query/user",
            Some(&basic("jdoe", "jdoe-password")),
            Some("{}"),
        );
        assert_eq!(r.json()["total"], 7);
        assert_eq!(
            es_get(&fake, "/_security/_authenticate").json()["authentication_type"],
            "api_key"
        );
        let r = send_raw_auth(&fake, "GET", "/", Some(&basic("elastic", "changeme")), None);
        assert_eq!(r.status, 200);
        let log = fake.requests();
        assert!(log[0].authorized);
        assert!(!log[3].authorized);

        let fake = FakeElastic::start(
            Tenant::demo()
                .expect("demo")
                .with_es_version(EsVersion::V8_15)
                .with_password("jdoe", "pw-jdoe"),
        )
        .expect("start");
        let r = send_raw_auth(
            &fake,
            "GET",
            "/api/v1/organizations",
            Some(&basic("jdoe", "pw-jdoe")),
            None,
        );
        assert_eq!(r.status, 401);
        // A 403 fault names the user and its roles.
        fake.inject(Fault::status("/_security/role_mapping", 403).times(1));
        let r = send_raw_auth(
            &fake,
            "GET",
            "/_security/role_mapping",
            Some(&basic("jdoe", "pw-jdoe")),
            None,
        );
        assert_eq!(r.status, 403);
        assert_eq!(
            es_reason(&r),
            "action [cluster:admin/xpack/security/role_mapping/get] is unauthorized for user [jdoe] with effective roles [viewer,logs_reader], this action is granted by the cluster privileges [read_security,manage_security,all]"
        );
    }
}
