//! One HTTP client per Elastic API: authentication, timeouts, status checks, bounded bodies and typed JSON.
//!
//! Every failure becomes an [`ApiError`] naming the API, method, path and status, with the error text that
//! Elastic put in the body (both the Cloud `errors[]` shape and the Elasticsearch `error` shape). Error
//! bodies are never decoded as data. Keys are only ever placed in a header marked sensitive, and no header
//! is ever logged.
//!
//! Transient failures (429, 500, 502, 503, 504, refused or reset connections, timeouts, cut-off bodies) are
//! retried up to [`HttpOptions::max_attempts`] attempts in all, for requests that are safe to repeat: reads
//! (including the POST reads such as `_suggest` and `_query`) and full-replace `PUT` writes. A request that
//! never reached the server is repeated whatever its method. The wait before the next attempt is what the
//! server asks for (`Retry-After` in seconds or as an HTTP date; or, on a 429 with
//! `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` or for one `x-ratelimit-interval`), otherwise an
//! exponential backoff with jitter; never longer than [`HttpOptions::max_wait`].

use crate::{Api, Endpoint, HttpOptions};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Largest response body accepted (the biggest real lists are tens of MB).
pub const MAX_BODY_BYTES: u64 = 1 << 30;

/// Counters shared by the clients of one run.
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl RequestStats {
    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Response body bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// What went wrong with one API call.
#[derive(Debug)]
pub enum ApiErrorKind {
    /// The server answered with a non-success status.
    Status { status: u16, detail: String },
    /// No usable answer: DNS, connection, TLS or timeout.
    Transport(String),
    /// The body was not the JSON expected.
    Decode(String),
    /// The body exceeded [`MAX_BODY_BYTES`].
    TooLarge,
}

/// A failed API call, naming the API, method and path.
#[derive(Debug)]
pub struct ApiError {
    pub api: Api,
    pub method: Method,
    pub path: String,
    pub kind: ApiErrorKind,
}

impl ApiError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ApiErrorKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = format!("{} {} {}", self.api.name(), self.method, self.path);
        match &self.kind {
            ApiErrorKind::Status {
                status: 401,
                detail,
            } => write!(
                f,
                "{call}: 401 Unauthorized: the {} key was rejected ({detail}); check {}",
                self.api.name(),
                self.api.key_source()
            ),
            ApiErrorKind::Status {
                status: 403,
                detail,
            } => write!(
                f,
                "{call}: 403 Forbidden: the {} key lacks a privilege ({detail}); give the key set by {} that privilege",
                self.api.name(),
                self.api.key_source()
            ),
            ApiErrorKind::Status { status, detail } => {
                let reason = StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "{call}: {status} {reason}: {detail}")
            }
            ApiErrorKind::Transport(msg) => write!(f, "{call}: {msg}"),
            ApiErrorKind::Decode(msg) => {
                write!(f, "{call}: malformed JSON in the response ({msg})")
            }
            ApiErrorKind::TooLarge => write!(
                f,
                "{call}: the response is larger than the size limit ({} MiB); refusing to read it",
                MAX_BODY_BYTES >> 20
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// A client that cannot be built: a key that cannot go into a header, or a TLS set-up failure.
#[derive(Debug)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// An authenticated client for one API.
pub struct ApiClient {
    api: Api,
    base: Url,
    client: Client,
    stats: Arc<RequestStats>,
    options: HttpOptions,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("api", &self.api)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// Builds a client for `endpoint`; its key goes into a sensitive default header.
    pub fn new(
        endpoint: &Endpoint,
        options: &HttpOptions,
        stats: Arc<RequestStats>,
    ) -> Result<ApiClient, SetupError> {
        let mut auth = HeaderValue::from_str(&format!("ApiKey {}", endpoint.api_key.expose()))
            .map_err(|_| {
                SetupError(format!(
                    "the {} key contains characters that cannot be sent in a header; check {}",
                    endpoint.api.name(),
                    endpoint.api.key_source()
                ))
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("baton-elastic/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                SetupError(format!(
                    "cannot set up the {} client: {e}",
                    endpoint.api.name()
                ))
            })?;
        Ok(ApiClient {
            api: endpoint.api,
            base: endpoint.base_url.clone(),
            client,
            stats,
            options: options.clone(),
        })
    }

    /// The API this client talks to.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The URL of `segments` under the base URL, each segment percent-encoded. Tabs and line breaks
    /// are encoded too (a URL parser would otherwise drop them and address another name); `.` and `..`
    /// cannot be sent as segments at all (a request naming one is refused).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        let mut path = url.path().trim_end_matches('/').to_owned();
        for segment in segments {
            path.push('/');
            push_encoded_segment(&mut path, segment);
        }
        url.set_path(&path);
        url
    }

    /// `GET` a JSON document.
    pub fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call::<(), T>(Method::GET, segments, None)
    }

    /// `GET` a JSON document, where 404 means "absent" rather than an error.
    pub fn get_optional<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Option<T>, ApiError> {
        match self.get(segments) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `body` as JSON with `method` and decodes the JSON answer.
    pub fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ApiError> {
        self.call(method, segments, Some(body))
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        if let Some(dot) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(ApiError {
                api: self.api,
                method,
                path: format!("{}/{}", self.base.path().trim_end_matches('/'), segments.join("/")),
                kind: ApiErrorKind::Transport(format!(
                    "the name {dot:?} cannot be sent: a URL path segment `.` or `..` is removed by every HTTP client, so the request would address another object; nothing was sent"
                )),
            });
        }
        let url = self.url(segments);
        let error = |kind| ApiError {
            api: self.api,
            method: method.clone(),
            path: url.path().to_owned(),
            kind,
        };
        let body = body.map(serde_json::to_vec).transpose().map_err(|_| {
            error(ApiErrorKind::Transport(
                "cannot encode the request body as JSON".to_owned(),
            ))
        })?;
        let repeatable = repeatable(&method, &url);
        let max_attempts = self.options.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let failed = match self.attempt(&method, &url, body.as_deref()) {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| error(ApiErrorKind::Decode(describe_json(&e))));
                }
                Err(failed) => failed,
            };
            let retry = match failed.retry {
                Retry::Never => false,
                Retry::IfRepeatable => repeatable,
                Retry::Always => true,
            };
            if !retry || attempt >= max_attempts {
                let kind = if retry && attempt > 1 {
                    gave_up(failed.kind, attempt)
                } else {
                    failed.kind
                };
                return Err(error(kind));
            }
            let wait = failed
                .server_wait
                .unwrap_or_else(|| backoff(self.options.retry_base, attempt))
                .min(self.options.max_wait);
            log::warn!(api = self.api.name(), "http.method" = method.as_str(), "http.host" = url.host_str().unwrap_or(""), "http.path" = url.path(), cause = failed.cause, attempt = attempt, max_attempts = max_attempts, wait_ms = wait.as_millis() as u64; "retrying HTTP request");
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// One attempt: the success body, or why it failed and whether another attempt may help.
    fn attempt(&self, method: &Method, url: &Url, body: Option<&[u8]>) -> Result<Vec<u8>, Failed> {
        let started = Instant::now();
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_vec());
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .map_err(|e| transport_failure(&e, url, &self.options))?;
        let status = response.status();
        let server_wait = server_wait(status, response.headers(), chrono::Utc::now());
        let bytes = read_body(response, self.options.max_body_bytes, url)?;
        self.stats
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        log::debug!(api = self.api.name(), "http.method" = method.as_str(), "http.host" = url.host_str().unwrap_or(""), "http.path" = url.path(), "http.status_code" = status.as_u16(), bytes = bytes.len(), duration_ms = started.elapsed().as_millis() as u64; "HTTP request complete");
        if status.is_success() {
            return Ok(bytes);
        }
        let retry = if RETRIED_STATUSES.contains(&status.as_u16()) {
            Retry::IfRepeatable
        } else {
            Retry::Never
        };
        Err(Failed {
            cause: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
            kind: ApiErrorKind::Status {
                status: status.as_u16(),
                detail: error_detail(&bytes),
            },
            retry,
            server_wait,
        })
    }
}

/// Statuses that say "try again later": rate limited, or a server or gateway failing for now.
const RETRIED_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// Path segments of the Elasticsearch APIs that are read with POST.
const POST_READS: [&str; 5] = [
    "_suggest",
    "_query",
    "_search",
    "_has_privileges",
    "_authenticate",
];

/// Appends `segment` to `path` percent-encoded as one path segment: what the `url` crate encodes in a
/// segment of an http(s) URL (controls, non-ASCII, space, `"`, `#`, `%`, `/`, `<`, `>`, `?`, `\`, the
/// backquote, `{`, `}`), with tabs and line breaks encoded rather than dropped.
fn push_encoded_segment(path: &mut String, segment: &str) {
    for byte in segment.bytes() {
        let keep = byte.is_ascii_graphic()
            && !matches!(
                byte,
                b'"' | b'#' | b'%' | b'/' | b'<' | b'>' | b'?' | b'\\' | b'`' | b'{' | b'}'
            );
        if keep {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Whether sending the same request again cannot change anything beyond what one success would:
/// reads, and `PUT` (every write this client sends is a full replacement). A `POST` counts when it
/// is one of the read APIs.
fn repeatable(method: &Method, url: &Url) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::PUT => true,
        Method::POST => url
            .path_segments()
            .is_some_and(|mut segments| segments.any(|s| POST_READS.contains(&s))),
        _ => false,
    }
}

/// Whether a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Retrying cannot help (a client error, a bad certificate, an unknown host).
    Never,
    /// Transient, but the server may have acted on the request: retry only if it is repeatable.
    IfRepeatable,
    /// The request never reached the server: retry whatever it is.
    Always,
}

/// A failed attempt.
#[derive(Debug)]
struct Failed {
    kind: ApiErrorKind,
    retry: Retry,
    /// Short cause for the retry log line.
    cause: String,
    /// How long the server asked us to wait, if it said.
    server_wait: Option<Duration>,
}

impl Failed {
    fn transport(message: String, retry: Retry) -> Failed {
        Failed {
            cause: message.clone(),
            kind: ApiErrorKind::Transport(message),
            retry,
            server_wait: None,
        }
    }
}

/// The final error after the last of several attempts says so.
fn gave_up(kind: ApiErrorKind, attempts: u32) -> ApiErrorKind {
    let suffix = format!(" (gave up after {attempts} attempts)");
    match kind {
        ApiErrorKind::Status { status, detail } => ApiErrorKind::Status {
            status,
            detail: detail + &suffix,
        },
        ApiErrorKind::Transport(message) => ApiErrorKind::Transport(message + &suffix),
        other => other,
    }
}

/// Exponential backoff with "equal jitter": for the `attempt`-th failure, a random wait between half
/// and all of `base × 2^(attempt-1)`.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let half = full / 2;
    let random = getrandom::u64().unwrap_or(u64::MAX / 2);
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    half + half.mul_f64(fraction)
}

/// How long the server asks the client to wait before trying again, if it says: `Retry-After` (seconds
/// or an HTTP date), or on a 429 with `x-ratelimit-remaining: 0` the Elastic Cloud window headers.
fn server_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(wait) = text(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(wait);
    }
    if status != StatusCode::TOO_MANY_REQUESTS
        || text("x-ratelimit-remaining").and_then(leading_integer) != Some(0)
    {
        return None;
    }
    if let Some(reset) = text("x-ratelimit-reset").and_then(leading_integer) {
        // Seconds from now, or a Unix time when it is that large.
        let now_secs = u64::try_from(now.timestamp()).unwrap_or(0);
        return Some(Duration::from_secs(if reset > 1_000_000_000 {
            reset.saturating_sub(now_secs)
        } else {
            reset
        }));
    }
    text("x-ratelimit-interval").and_then(parse_interval)
}

/// A `Retry-After` value: whole seconds, or an HTTP date in any of the three formats a recipient must
/// accept (IMF-fixdate, and the obsolete RFC 850 and asctime forms); a date in the past means now.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = match chrono::DateTime::parse_from_rfc2822(value) {
        Ok(date) => date.with_timezone(&chrono::Utc),
        Err(_) => ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
            .iter()
            .find_map(|format| chrono::NaiveDateTime::parse_from_str(value, format).ok())?
            .and_utc(),
    };
    Some(
        date.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The leading whole number of a header such as `297` or `300, 300;w=60`.
fn leading_integer(value: &str) -> Option<u64> {
    let digits: String = value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A window length such as `1m`, `60s`, `60`, `500ms` or `1h`.
fn parse_interval(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let number: u64 = value[..split].parse().ok()?;
    match value[split..].trim() {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => Some(Duration::from_secs(number.saturating_mul(60))),
        "h" => Some(Duration::from_secs(number.saturating_mul(3600))),
        _ => None,
    }
}

fn read_body(response: Response, limit: u64, url: &Url) -> Result<Vec<u8>, Failed> {
    let too_large = || Failed {
        kind: ApiErrorKind::TooLarge,
        retry: Retry::Never,
        cause: "response too large".to_owned(),
        server_wait: None,
    };
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Never trust the announced length for more than a modest first allocation.
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(limit).min(16 << 20) as usize);
    if let Err(e) = response
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        let host = host_and_port(url);
        let message = match announced {
            Some(total) if e.kind() == std::io::ErrorKind::TimedOut || is_timeout(&e) => format!(
                "timed out reading the response from {host} after {} of {total} bytes",
                bytes.len()
            ),
            Some(total) => format!(
                "the response from {host} was cut off after {} of {total} bytes ({})",
                bytes.len(),
                innermost(&e)
            ),
            None => format!("reading the response from {host} failed: {}", innermost(&e)),
        };
        return Err(Failed::transport(message, Retry::IfRepeatable));
    }
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The host of a URL, with its port when the URL gives one, for messages.
fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Whether an I/O error wraps a timeout.
fn is_timeout(e: &std::io::Error) -> bool {
    chain(e)
        .iter()
        .any(|c| c.contains("timed out") || c.contains("deadline"))
}

/// The messages of an error and its sources, outermost first.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut causes = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    causes
}

/// The innermost message of an error chain: the most specific one.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    chain(e).pop().unwrap_or_default()
}

/// Whether an error chain holds an I/O error of `kind`.
fn has_io_kind(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        current = err.source();
    }
    false
}

/// A transport failure in words a person can act on, and whether to retry. The URL never holds a key.
fn transport_failure(e: &reqwest::Error, url: &Url, options: &HttpOptions) -> Failed {
    let host = host_and_port(url);
    let cause = innermost(e);
    let all = chain(e).join(": ").to_ascii_lowercase();
    if e.is_connect() {
        if all.contains("dns error") || all.contains("failed to lookup address") {
            let retry = if all.contains("temporary failure") {
                Retry::Always
            } else {
                Retry::Never
            };
            return Failed::transport(
                format!("cannot resolve the host name {host} ({cause}); check the URL"),
                retry,
            );
        }
        if e.is_timeout() {
            return Failed::transport(
                format!(
                    "cannot connect to {host}: no answer within {} s",
                    options.connect_timeout.as_secs()
                ),
                Retry::Always,
            );
        }
        if url.scheme() == "https" && is_tls_failure(e, &all) {
            return Failed::transport(
                format!(
                    "TLS handshake with {host} failed ({cause}); check that the URL is the https endpoint and that its certificate is valid"
                ),
                Retry::Never,
            );
        }
        return Failed::transport(format!("cannot connect to {host}: {cause}"), Retry::Always);
    }
    if e.is_timeout() {
        return Failed::transport(
            format!(
                "timed out waiting for {host} (no answer within --http-timeout-seconds {})",
                options.timeout.as_secs()
            ),
            Retry::IfRepeatable,
        );
    }
    Failed::transport(
        format!("request to {host} failed: {cause}"),
        Retry::IfRepeatable,
    )
}

/// Whether a connection failure happened in the TLS handshake (rustls reports its errors as invalid
/// data, and certificate problems by name).
fn is_tls_failure(e: &reqwest::Error, all: &str) -> bool {
    has_io_kind(e, std::io::ErrorKind::InvalidData)
        || ["certificate", "tls", "handshake", "corrupt message"]
            .iter()
            .any(|word| all.contains(word))
}

/// A JSON error by position and category only: serde's messages may quote body text.
fn describe_json(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "the body ends too early",
        Category::Syntax => "not valid JSON",
        Category::Data => "unexpected structure",
        Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[derive(Deserialize)]
struct CloudErrors {
    errors: Vec<CloudError>,
}

#[derive(Deserialize)]
struct CloudError {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct EsErrorBody {
    error: EsErrorField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EsErrorField {
    Text(String),
    Cause(EsErrorCause),
}

#[derive(Deserialize)]
struct EsErrorCause {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The error text Elastic put in an error body, in either API's shape.
fn error_detail(body: &[u8]) -> String {
    if let Ok(cloud) = serde_json::from_slice::<CloudErrors>(body) {
        let parts: Vec<String> = cloud
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    if let Ok(es) = serde_json::from_slice::<EsErrorBody>(body) {
        return match es.error {
            EsErrorField::Text(text) => text,
            EsErrorField::Cause(cause) => match cause.reason {
                Some(reason) => format!("{}: {reason}", cause.kind),
                None => cause.kind,
            },
        };
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) || body == b"{}" {
        return "no error details in the response".to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        excerpt.push('…');
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_error_bodies_are_summarised() {
        let body =
            br#"{"errors":[{"code":"root.unauthorized","message":"Credentials were invalid"}]}"#;
        assert_eq!(
            error_detail(body),
            "root.unauthorized: Credentials were invalid"
        );
    }

    #[test]
    fn elasticsearch_error_bodies_are_summarised() {
        let body = br#"{"error":{"root_cause":[],"type":"security_exception","reason":"action [x] is unauthorized"},"status":403}"#;
        assert_eq!(
            error_detail(body),
            "security_exception: action [x] is unauthorized"
        );
        assert_eq!(
            error_detail(br#"{"error":"no handler found"}"#),
            "no handler found"
        );
        assert_eq!(error_detail(b"{}"), "no error details in the response");
    }

    #[test]
    fn json_errors_do_not_quote_the_body() {
        let e = serde_json::from_str::<Vec<u32>>(r#"["secret-value"]"#).expect_err("fails");
        let text = describe_json(&e);
        assert!(!text.contains("secret-value"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }

    use chrono::TimeZone;
    use elastic_fake::{FakeElastic, Fault, Tenant};
    use serde_json::Value;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn retry_after_accepts_the_obsolete_http_date_formats() {
        // RFC 850 and asctime dates, which HTTP recipients must still accept.
        assert_eq!(
            parse_retry_after("Sunday, 01-Mar-26 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun Mar  1 12:00:45 2026", now()),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_retry_after("Sun Mar 1 11:00:00 2026", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("Sunday, 01-Mar-26 12:00:30", now()), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn rate_limit_headers_set_the_wait_only_when_the_window_is_spent() {
        let spent = headers(&[
            ("x-ratelimit-interval", "1m"),
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
        ]);
        let too_many = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            server_wait(too_many, &spent, now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            server_wait(StatusCode::SERVICE_UNAVAILABLE, &spent, now()),
            None
        );
        let left = headers(&[
            ("x-ratelimit-interval", "1m"),
            ("x-ratelimit-remaining", "12"),
        ]);
        assert_eq!(server_wait(too_many, &left, now()), None, "backoff instead");
        let reset = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")]);
        assert_eq!(
            server_wait(too_many, &reset, now()),
            Some(Duration::from_secs(9))
        );
        let epoch = format!("{}", now().timestamp() + 20);
        let mut absolute = headers(&[("x-ratelimit-remaining", "0")]);
        absolute.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&epoch).expect("value"),
        );
        assert_eq!(
            server_wait(too_many, &absolute, now()),
            Some(Duration::from_secs(20))
        );
        let both = headers(&[("retry-after", "3"), ("x-ratelimit-remaining", "0")]);
        assert_eq!(
            server_wait(StatusCode::SERVICE_UNAVAILABLE, &both, now()),
            Some(Duration::from_secs(3)),
            "Retry-After wins"
        );
        assert_eq!(parse_interval("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_interval("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_interval("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_interval("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_interval("a while"), None);
        assert_eq!(leading_integer("500, 500;w=1"), Some(500));
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..20 {
                let wait = backoff(base, attempt);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
        }
        assert!(backoff(Duration::from_secs(1), 40) >= Duration::from_secs(1 << 19));
    }

    fn client_for(fake: &FakeElastic, options: HttpOptions) -> ApiClient {
        let endpoint = Endpoint {
            api: Api::Elasticsearch,
            base_url: Url::parse(&fake.url()).expect("url"),
            api_key: crate::Secret::new(elastic_fake::DEMO_DEPLOYMENT_API_KEY),
        };
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
        assert!(matches!(err.kind, ApiErrorKind::TooLarge), "{err}");
        assert!(
            err.to_string()
                .starts_with("Elasticsearch API GET /_security/user: the response is larger than"),
            "{err}"
        );
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
    fn urls_percent_encode_each_segment() {
        let endpoint = Endpoint {
            api: Api::Elasticsearch,
            base_url: Url::parse("https://es.example:9243/prefix/").expect("url"),
            api_key: crate::Secret::new("k"),
        };
        let client =
            ApiClient::new(&endpoint, &HttpOptions::default(), Arc::default()).expect("client");
        let url = client.url(&["_security", "user", "svc ingest/a:b"]);
        assert_eq!(
            url.as_str(),
            "https://es.example:9243/prefix/_security/user/svc%20ingest%2Fa:b"
        );
        assert!(!format!("{client:?}").contains("ApiKey"));
    }

    #[test]
    fn urls_keep_tabs_line_breaks_and_dots_of_a_name() {
        let endpoint = Endpoint {
            api: Api::Elasticsearch,
            base_url: Url::parse("https://es.example:9243/prefix").expect("url"),
            api_key: crate::Secret::new("k"),
        };
        let client =
            ApiClient::new(&endpoint, &HttpOptions::default(), Arc::default()).expect("client");
        let url = client.url(&[
            "_security",
            "user",
            "tab\tx\r\n",
            "a.b",
            "...",
            "%2e%2e",
            "x\\y",
        ]);
        assert_eq!(
            url.path(),
            "/prefix/_security/user/tab%09x%0D%0A/a.b/.../%252e%252e/x%5Cy"
        );
        for name in [".", ".."] {
            let err = client
                .get::<serde_json::Value>(&["_security", "user", name])
                .expect_err("refused");
            assert_eq!(err.path, format!("/prefix/_security/user/{name}"));
            assert!(err.to_string().contains("nothing was sent"), "{err}");
        }
    }
}
