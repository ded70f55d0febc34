//! What can go wrong with an API call, and how a failure is told to the user.
//!
//! [`ApiError`] names the API, method, path and what happened ([`ApiErrorKind`]); [`SetupError`] is a
//! client that cannot be built. The error text Elastic put in an error body is summarised in either
//! API's shape (the Cloud `errors[]` list, the Elasticsearch `error` object), and transport failures are
//! classified by the types in their error chain (reqwest, I/O error kinds, rustls), never by the words
//! of their messages, which quote the URL.

use crate::endpoint::PASSWORD_SOURCE;
use crate::retry::{Failed, Retry};
use crate::{Api, CredentialKind, HttpOptions};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::error::Error as StdError;
use std::fmt;
use std::io::ErrorKind as IoKind;
use url::Url;

/// What went wrong with one API call.
#[derive(Debug)]
pub enum ApiErrorKind {
    /// The server answered with a non-success status. `codes` are the machine error codes of an
    /// Elastic Cloud error body (`errors[].code`, e.g. `organization.membership_not_found`), in order.
    Status {
        status: u16,
        detail: String,
        codes: Vec<String>,
    },
    /// No usable answer: DNS, connection, TLS or timeout.
    Transport(String),
    /// The body was not the JSON expected.
    Decode(String),
    /// The body exceeded the configured limit ([`HttpOptions::max_body_bytes`]), in bytes.
    TooLarge { limit: u64 },
}

/// A failed API call, naming the API, method and path.
#[derive(Debug)]
pub struct ApiError {
    pub api: Api,
    /// The kind of credential the client sent, so that a 401 or 403 names it.
    pub credential: CredentialKind,
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

    /// The Elastic Cloud error codes of the answer (`errors[].code`); empty for other failures.
    pub fn codes(&self) -> &[String] {
        match &self.kind {
            ApiErrorKind::Status { codes, .. } => codes,
            _ => &[],
        }
    }

    /// Whether the server answered `status` with the Elastic Cloud error code `code`.
    pub fn is_cloud_error(&self, status: u16, code: &str) -> bool {
        self.status() == Some(status) && self.codes().iter().any(|c| c == code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let call = format!("{} {} {}", self.api.name(), self.method, self.path);
        match &self.kind {
            ApiErrorKind::Status {
                status: 401,
                detail,
                ..
            } if self.credential == CredentialKind::Password => write!(
                f,
                "{call}: 401 Unauthorized: the Elasticsearch username and password were rejected ({detail}); check {PASSWORD_SOURCE}"
            ),
            ApiErrorKind::Status {
                status: 403,
                detail,
                ..
            } if self.credential == CredentialKind::Password => write!(
                f,
                "{call}: 403 Forbidden: the Elasticsearch user lacks a privilege ({detail}); give the user set by --deployment-username / BATON_DEPLOYMENT_USERNAME that privilege"
            ),
            ApiErrorKind::Status {
                status: 401,
                detail,
                ..
            } => write!(
                f,
                "{call}: 401 Unauthorized: the {} key was rejected ({detail}); check {}",
                self.api.name(),
                self.api.key_source()
            ),
            ApiErrorKind::Status {
                status: 403,
                detail,
                ..
            } => write!(
                f,
                "{call}: 403 Forbidden: the {} key lacks a privilege ({detail}); give the key set by {} that privilege",
                self.api.name(),
                self.api.key_source()
            ),
            ApiErrorKind::Status { status, detail, .. } => {
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
            ApiErrorKind::TooLarge { limit } => write!(
                f,
                "{call}: the response is larger than the size limit ({}); refusing to read it",
                size(*limit)
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// A byte count in MiB when it is a whole number of them, else in bytes.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// A client that cannot be built: a key that cannot go into a header, or a TLS set-up failure.
#[derive(Debug)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// A JSON error by position and category only: serde's messages may quote body text.
pub(crate) fn describe_json(e: &serde_json::Error) -> String {
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

/// The machine error codes of an Elastic Cloud error body (`errors[].code`), in order; empty for any
/// other body.
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<CloudErrors>(body)
        .map(|cloud| cloud.errors.into_iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

/// The error text Elastic put in an error body, in either API's shape.
pub(crate) fn error_detail(body: &[u8]) -> String {
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

/// The host of a URL, with its port when the URL gives one, for messages.
pub(crate) fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// An error and its causes, outermost first. Unlike [`StdError::source`], which skips the error an
/// [`std::io::Error`] wraps, this also visits that wrapped error, so that a rustls or reqwest error
/// inside an I/O error is seen.
fn causes<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        out.push(err);
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => None,
            },
            None => err.source(),
        };
    }
    out
}

/// The I/O error kinds in an error chain.
fn io_kinds(e: &(dyn StdError + 'static)) -> Vec<IoKind> {
    causes(e)
        .into_iter()
        .filter_map(|c| c.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
        .collect()
}

/// Whether an error chain says a deadline passed: reqwest's own timeout (which covers hyper's), or an
/// I/O error of kind `TimedOut`.
fn is_timeout(e: &(dyn StdError + 'static)) -> bool {
    causes(e).into_iter().any(|c| {
        c.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == IoKind::TimedOut)
    })
}

/// Whether an error chain holds a rustls error: the TLS handshake itself failed (a bad or untrusted
/// certificate, a peer that does not speak TLS). A connection dropped or reset during the handshake is
/// an I/O error, not this.
fn is_tls_failure(e: &(dyn StdError + 'static)) -> bool {
    causes(e)
        .into_iter()
        .any(|c| c.downcast_ref::<rustls::Error>().is_some())
}

/// Whether an error chain holds the rustls error for a certificate chain that leads to no trusted root:
/// a self-signed certificate or one signed by a private CA that is not trusted (`UnknownIssuer`), or one
/// whose issuer's name is trusted but with another key (`BadSignature`), as with the CA file of an
/// earlier installation of the cluster.
fn is_unknown_issuer(e: &(dyn StdError + 'static)) -> bool {
    causes(e).into_iter().any(|c| {
        matches!(
            c.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            ))
        )
    })
}

/// Whether a connection failure is the peer or the network cutting it, which another attempt may not
/// meet.
fn is_connection_cut(e: &(dyn StdError + 'static)) -> bool {
    io_kinds(e).into_iter().any(|kind| {
        matches!(
            kind,
            IoKind::ConnectionRefused
                | IoKind::ConnectionReset
                | IoKind::ConnectionAborted
                | IoKind::NotConnected
                | IoKind::BrokenPipe
                | IoKind::UnexpectedEof
                | IoKind::AddrNotAvailable
        )
    })
}

/// The messages of the causes below reqwest's own error, which are the only ones that never quote the
/// URL.
fn cause_messages(e: &reqwest::Error) -> Vec<String> {
    match e.source() {
        Some(source) => causes(source).iter().map(|c| c.to_string()).collect(),
        None => Vec::new(),
    }
}

/// The innermost message of an error chain: the most specific one.
fn innermost(e: &(dyn StdError + 'static)) -> String {
    causes(e).last().map(|c| c.to_string()).unwrap_or_default()
}

/// How a name resolution failed, if it did.
///
/// Neither reqwest nor hyper-util gives a resolver failure a type of its own (hyper-util's connect error
/// is private, and the standard library reports `getaddrinfo` failures as an I/O error of an unnamed
/// kind), so this one case is recognised by the words hyper-util and the standard library put in the
/// causes below reqwest's error; those never include the URL.
fn dns_failure(e: &reqwest::Error) -> Option<Retry> {
    let messages = cause_messages(e).join(": ").to_ascii_lowercase();
    if !(messages.contains("dns error") || messages.contains("failed to lookup address")) {
        return None;
    }
    Some(if messages.contains("temporary failure") {
        Retry::Always
    } else {
        Retry::Never
    })
}

/// A transport failure in words a person can act on, and whether to retry. The URL never holds a key.
///
/// For a certificate whose issuer is not trusted, the message says how to trust the cluster's CA
/// (`api`'s CA option; `custom_ca` says whether one was given already).
pub(crate) fn transport_failure(
    e: &reqwest::Error,
    url: &Url,
    options: &HttpOptions,
    api: Api,
    custom_ca: bool,
) -> Failed {
    let host = host_and_port(url);
    let cause = innermost(e);
    if e.is_connect() {
        if let Some(retry) = dns_failure(e) {
            return Failed::transport(
                format!("cannot resolve the host name {host} ({cause}); check the URL"),
                retry,
            );
        }
        if is_timeout(e) {
            return Failed::transport(
                format!(
                    "cannot connect to {host}: no answer within {} s",
                    options.connect_timeout.as_secs()
                ),
                Retry::Always,
            );
        }
        if !is_connection_cut(e) && is_tls_failure(e) {
            if let (true, Some(option)) = (is_unknown_issuer(e), api.ca_cert_source()) {
                let advice = if custom_ca {
                    format!("the certificate of {host} is not signed by the CA certificates given with {option} nor by a built-in root; give the CA that issued it (for a self-managed cluster, config/certs/http_ca.crt)")
                } else {
                    format!("the certificate of {host} is not signed by a trusted CA; if the cluster uses its own CA (a self-managed cluster: config/certs/http_ca.crt), give its PEM file with {option}")
                };
                return Failed::transport(
                    format!("TLS handshake with {host} failed ({cause}); {advice}"),
                    Retry::Never,
                );
            }
            return Failed::transport(
                format!(
                    "TLS handshake with {host} failed ({cause}); check that the URL is the https endpoint and that its certificate is valid"
                ),
                Retry::Never,
            );
        }
        return Failed::transport(format!("cannot connect to {host}: {cause}"), Retry::Always);
    }
    if is_timeout(e) {
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

/// A failure while reading a response body of `announced` bytes (if the server said), after `read`
/// bytes arrived.
pub(crate) fn body_failure(
    e: &std::io::Error,
    url: &Url,
    announced: Option<u64>,
    read: usize,
) -> Failed {
    let host = host_and_port(url);
    let message = match announced {
        Some(total) if is_timeout(e) => {
            format!("timed out reading the response from {host} after {read} of {total} bytes")
        }
        Some(total) => format!(
            "the response from {host} was cut off after {read} of {total} bytes ({})",
            innermost(e)
        ),
        None => format!("reading the response from {host} failed: {}", innermost(e)),
    };
    Failed::transport(message, Retry::IfRepeatable)
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
        assert_eq!(error_codes(body), ["root.unauthorized"]);
        assert!(error_codes(br#"{"error":"no handler found"}"#).is_empty());
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
    fn sizes_are_shown_in_mib_when_whole() {
        assert_eq!(size(1 << 30), "1024 MiB");
        assert_eq!(size(4096), "4096 bytes");
        assert_eq!(size((1 << 20) + 1), "1048577 bytes");
    }

    #[test]
    fn causes_look_inside_io_errors() {
        let tls = std::io::Error::new(IoKind::InvalidData, rustls::Error::DecryptError);
        assert!(is_tls_failure(&tls));
        assert!(!is_connection_cut(&tls));
        let reset = std::io::Error::new(IoKind::ConnectionReset, "tls certificate handshake");
        assert!(!is_tls_failure(&reset), "words are not types");
        assert!(is_connection_cut(&reset));
        let unknown = std::io::Error::new(
            IoKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_unknown_issuer(&unknown) && is_tls_failure(&unknown));
        assert!(!is_unknown_issuer(&tls));
        let words = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert!(!is_unknown_issuer(&words), "words are not types");
        let timed_out = std::io::Error::other(std::io::Error::from(IoKind::TimedOut));
        assert!(is_timeout(&timed_out));
        let words = std::io::Error::other("timed out, deadline passed");
        assert!(!is_timeout(&words), "words are not types");
    }
}
