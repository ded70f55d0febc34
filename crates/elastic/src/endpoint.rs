//! Where and how a client reaches one of the two Elastic APIs: [`Api`], [`Endpoint`] and [`HttpOptions`].

use crate::Secret;
use std::time::Duration;
use url::Url;

/// Which of the two Elastic APIs a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Cloud,
    Elasticsearch,
}

impl Api {
    /// The API's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Api::Cloud => "Elastic Cloud API",
            Api::Elasticsearch => "Elasticsearch API",
        }
    }

    /// Where the user sets this API's key.
    pub fn key_source(self) -> &'static str {
        match self {
            Api::Cloud => "--api-key / BATON_API_KEY",
            Api::Elasticsearch => "--deployment-api-key / BATON_DEPLOYMENT_API_KEY",
        }
    }
}

/// Where and how to reach one API.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub api: Api,
    pub base_url: Url,
    pub api_key: Secret,
}

/// HTTP behaviour shared by both clients.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bound on one attempt of one request, body included (`--http-timeout-seconds`).
    pub timeout: Duration,
    /// Bound on opening a connection.
    pub connect_timeout: Duration,
    /// Attempts per request at most, counting the first (`--max-retries`); 1 means no retry.
    pub max_attempts: u32,
    /// First backoff wait when the server gives no hint; it doubles with each attempt (with jitter).
    pub retry_base: Duration,
    /// Longest single wait between attempts, whatever the server asks for.
    pub max_wait: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            retry_base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
            max_body_bytes: crate::client::MAX_BODY_BYTES,
        }
    }
}
