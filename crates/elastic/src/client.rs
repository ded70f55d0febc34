//! One HTTP client per Elastic API: authentication, timeouts, URL encoding, sending, status checks,
//! bounded bodies and typed JSON.
//!
//! Every failure becomes an [`ApiError`] naming the API, method, path and status, with the error text that
//! Elastic put in the body (see [`crate::error`]). Error bodies are never decoded as data. Keys are only
//! ever placed in a header marked sensitive, and no header is ever logged. Transient failures are retried
//! up to [`HttpOptions::max_attempts`] attempts in all, as [`crate::retry`] decides.

use crate::error::{body_failure, describe_json, error_codes, error_detail, transport_failure};
pub use crate::error::{ApiError, ApiErrorKind, SetupError};
use crate::retry::{
    gave_up, jitter, repeatable, server_wait, wait_before_retry, Failed, Retry, RETRIED_STATUSES,
};
use crate::{Api, Credential, CredentialKind, Endpoint, HttpOptions, Secret};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use url::Url;

/// Largest response body accepted by default (the biggest real lists are tens of MB).
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

/// An authenticated client for one API.
pub struct ApiClient {
    api: Api,
    base: Url,
    credential: CredentialKind,
    /// The username and password of Basic authentication, sent on each request (reqwest marks the
    /// header sensitive); `None` with an API key, which is a default header.
    basic: Option<(String, Secret)>,
    custom_ca: bool,
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
    /// Builds a client for `endpoint`; an API key goes into a sensitive default header, a password into
    /// each request's sensitive `Authorization` header. The endpoint's CA certificates are trusted besides
    /// the built-in roots; certificates are always verified.
    pub fn new(
        endpoint: &Endpoint,
        options: &HttpOptions,
        stats: Arc<RequestStats>,
    ) -> Result<ApiClient, SetupError> {
        let mut headers = HeaderMap::new();
        let mut basic = None;
        match &endpoint.credential {
            Credential::ApiKey(key) => {
                let mut auth = HeaderValue::from_str(&format!("ApiKey {}", key.expose()))
                    .map_err(|_| {
                        SetupError(format!(
                            "the {} key contains characters that cannot be sent in a header; check {}",
                            endpoint.api.name(),
                            endpoint.api.key_source()
                        ))
                    })?;
                auth.set_sensitive(true);
                headers.insert(AUTHORIZATION, auth);
            }
            Credential::Basic { username, password } => {
                basic = Some((username.clone(), password.clone()));
            }
        }
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("baton-elastic/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none());
        for certificate in endpoint.ca_certificates.certificates() {
            builder = builder.add_root_certificate(certificate.clone());
        }
        let client = builder.build().map_err(|e| {
            SetupError(format!(
                "cannot set up the {} client: {e}",
                endpoint.api.name()
            ))
        })?;
        Ok(ApiClient {
            api: endpoint.api,
            base: endpoint.base_url.clone(),
            credential: endpoint.credential.kind(),
            basic,
            custom_ca: !endpoint.ca_certificates.is_empty(),
            client,
            stats,
            options: options.clone(),
        })
    }

    /// The API this client talks to.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The kind of credential this client sends.
    pub fn credential(&self) -> CredentialKind {
        self.credential
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
        self.call::<(), T>(Method::GET, segments, &[], None)
    }

    /// `GET` a JSON document with query parameters (`?name=value&…`, encoded).
    pub fn get_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        self.call::<(), T>(Method::GET, segments, query, None)
    }

    /// Sends `body` as JSON with `method` and query parameters, and decodes the JSON answer.
    pub fn send_query<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, ApiError> {
        self.call(method, segments, query, Some(body))
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

    /// `DELETE` without a body, decoding the JSON answer.
    pub fn delete<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call::<(), T>(Method::DELETE, segments, &[], None)
    }

    /// Sends `body` as JSON with `method` and decodes the JSON answer.
    pub fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ApiError> {
        self.call(method, segments, &[], Some(body))
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        if let Some(dot) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(ApiError {
                api: self.api,
                credential: self.credential,
                method,
                path: format!("{}/{}", self.base.path().trim_end_matches('/'), segments.join("/")),
                kind: ApiErrorKind::Transport(format!(
                    "the name {dot:?} cannot be sent: a URL path segment `.` or `..` is removed by every HTTP client, so the request would address another object; nothing was sent"
                )),
            });
        }
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let error = |kind| ApiError {
            api: self.api,
            credential: self.credential,
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
            let wait = wait_before_retry(failed.server_wait, attempt, &self.options, jitter());
            log::warn!(api = self.api.name(), "http.method" = method.as_str(), "http.host" = url.host_str().unwrap_or(""), "http.path" = url.path(), cause = failed.cause, attempt = attempt, max_attempts = max_attempts, wait_ms = wait.as_millis() as u64; "retrying HTTP request");
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// One attempt: the success body, or why it failed and whether another attempt may help.
    fn attempt(&self, method: &Method, url: &Url, body: Option<&[u8]>) -> Result<Vec<u8>, Failed> {
        let started = Instant::now();
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some((username, password)) = &self.basic {
            request = request.basic_auth(username, Some(password.expose()));
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_vec());
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .map_err(|e| transport_failure(&e, url, &self.options, self.api, self.custom_ca))?;
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
                codes: error_codes(&bytes),
            },
            retry,
            server_wait,
        })
    }
}

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

fn read_body(response: Response, limit: u64, url: &Url) -> Result<Vec<u8>, Failed> {
    let too_large = || Failed {
        kind: ApiErrorKind::TooLarge { limit },
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
        return Err(body_failure(&e, url, announced, bytes.len()));
    }
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_percent_encode_each_segment() {
        let endpoint = Endpoint::with_api_key(
            Api::Elasticsearch,
            Url::parse("https://es.example:9243/prefix/").expect("url"),
            crate::Secret::new("k"),
        );
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
        let endpoint = Endpoint::with_api_key(
            Api::Elasticsearch,
            Url::parse("https://es.example:9243/prefix").expect("url"),
            crate::Secret::new("k"),
        );
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
