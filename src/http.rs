//! One HTTP client per Elastic API: authentication, timeouts, status checks, bounded bodies and typed JSON.
//!
//! Every failure becomes an [`ApiError`] naming the API, method, path and status, with the error text that
//! Elastic put in the body (both the Cloud `errors[]` shape and the Elasticsearch `error` shape). Error
//! bodies are never decoded as data. Keys are only ever placed in a header marked sensitive.

use crate::config::{Api, Endpoint, HttpOptions};
use crate::logging;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
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
                "{call}: 403 Forbidden: the key lacks a privilege ({detail})"
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
                "{call}: the response is larger than {} MiB",
                MAX_BODY_BYTES >> 20
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// An authenticated client for one API.
pub struct ApiClient {
    api: Api,
    base: Url,
    client: Client,
    stats: Arc<RequestStats>,
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
    ) -> anyhow::Result<ApiClient> {
        let mut auth = HeaderValue::from_str(&format!("ApiKey {}", endpoint.api_key.expose()))
            .map_err(|_| {
                anyhow::anyhow!(
                    "the {} key contains characters that cannot be sent in a header; check {}",
                    endpoint.api.name(),
                    endpoint.api.key_source()
                )
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
                anyhow::anyhow!("cannot set up the {} client: {e}", endpoint.api.name())
            })?;
        Ok(ApiClient {
            api: endpoint.api,
            base: endpoint.base_url.clone(),
            client,
            stats,
        })
    }

    /// The API this client talks to.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The URL of `segments` under the base URL, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
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
        let url = self.url(segments);
        let error = |kind| ApiError {
            api: self.api,
            method: method.clone(),
            path: url.path().to_owned(),
            kind,
        };
        let started = Instant::now();
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .map_err(|e| error(ApiErrorKind::Transport(describe_transport(&e, &url))))?;
        let status = response.status();
        let bytes = read_body(response).map_err(error)?;
        self.stats
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        logging::debug(
            "HTTP request complete",
            &[
                ("api", Value::from(self.api.name())),
                ("http.method", Value::from(method.as_str())),
                ("http.host", Value::from(url.host_str().unwrap_or(""))),
                ("http.path", Value::from(url.path())),
                ("http.status_code", Value::from(status.as_u16())),
                ("bytes", Value::from(bytes.len())),
                (
                    "duration_ms",
                    Value::from(started.elapsed().as_millis() as u64),
                ),
            ],
        );
        if !status.is_success() {
            return Err(error(ApiErrorKind::Status {
                status: status.as_u16(),
                detail: error_detail(&bytes),
            }));
        }
        serde_json::from_slice(&bytes).map_err(|e| error(ApiErrorKind::Decode(describe_json(&e))))
    }
}

fn read_body(response: Response) -> Result<Vec<u8>, ApiErrorKind> {
    let mut bytes =
        Vec::with_capacity(response.content_length().unwrap_or(0).min(MAX_BODY_BYTES) as usize);
    response
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ApiErrorKind::Transport(format!("reading the response failed: {e}")))?;
    if bytes.len() as u64 > MAX_BODY_BYTES {
        return Err(ApiErrorKind::TooLarge);
    }
    Ok(bytes)
}

/// A transport failure in words a person can act on. The URL never holds a key.
fn describe_transport(e: &reqwest::Error, url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let cause = causes.last().cloned().unwrap_or_else(|| e.to_string());
    if e.is_timeout() {
        format!("timed out waiting for {host}")
    } else if e.is_connect() {
        format!("cannot connect to {host}: {cause}")
    } else {
        format!("request to {host} failed: {cause}")
    }
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

    #[test]
    fn urls_percent_encode_each_segment() {
        let endpoint = Endpoint {
            api: Api::Elasticsearch,
            base_url: Url::parse("https://es.example:9243/prefix/").expect("url"),
            api_key: crate::config::Secret::new("k"),
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
}
