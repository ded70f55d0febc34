//! Where and how a client reaches one of the two Elastic APIs: [`Api`], [`Endpoint`] (with its
//! [`Credential`] and extra trusted CA certificates) and [`HttpOptions`].

use crate::Secret;
use reqwest::Certificate;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::fmt;
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

    /// Where the user names extra trusted CA certificates for this API, if anywhere.
    pub fn ca_cert_source(self) -> Option<&'static str> {
        match self {
            Api::Cloud => None,
            Api::Elasticsearch => Some("--deployment-ca-cert / BATON_DEPLOYMENT_CA_CERT"),
        }
    }
}

/// Where the user sets the Elasticsearch username and password.
pub const PASSWORD_SOURCE: &str = "--deployment-username / BATON_DEPLOYMENT_USERNAME and \
     --deployment-password / BATON_DEPLOYMENT_PASSWORD";

/// How a client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: ApiKey <key>`.
    ApiKey(Secret),
    /// HTTP Basic authentication (`Authorization: Basic base64(username:password)`): a native, file, LDAP
    /// or Active Directory user of the cluster. Elasticsearch only.
    Basic { username: String, password: Secret },
}

impl Credential {
    /// Which kind of credential this is, for messages.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::ApiKey(_) => CredentialKind::ApiKey,
            Credential::Basic { .. } => CredentialKind::Password,
        }
    }
}

/// Which kind of credential a client sends (never its value), so that a 401 or 403 can say which one
/// was refused and where it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    Password,
}

/// Where and how to reach one API.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub api: Api,
    pub base_url: Url,
    pub credential: Credential,
    /// CA certificates trusted besides the built-in roots (`--deployment-ca-cert`). Certificates are
    /// always verified.
    pub ca_certificates: CaCertificates,
}

impl Endpoint {
    /// An endpoint reached with an API key and the built-in roots only.
    pub fn with_api_key(api: Api, base_url: Url, api_key: Secret) -> Endpoint {
        Endpoint {
            api,
            base_url,
            credential: Credential::ApiKey(api_key),
            ca_certificates: CaCertificates::default(),
        }
    }
}

/// CA certificates to trust besides the built-in roots, read from a PEM bundle.
#[derive(Clone, Default)]
pub struct CaCertificates(Vec<Certificate>);

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaCertificates({})", self.0.len())
    }
}

/// Why a PEM bundle gives no usable CA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundleError {
    /// No `CERTIFICATE` block at all.
    NoCertificate,
    /// A `CERTIFICATE` block whose base64 or PEM framing is broken.
    BadEncoding,
    /// The `n`th certificate (from 1) is not an X.509 certificate usable as a trust anchor.
    NotACertificate(usize),
}

impl fmt::Display for CaBundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaBundleError::NoCertificate => {
                f.write_str("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            CaBundleError::BadEncoding => {
                f.write_str("a PEM certificate in it is not valid base64")
            }
            CaBundleError::NotACertificate(n) => {
                write!(
                    f,
                    "PEM certificate number {n} in it is not a valid X.509 certificate"
                )
            }
        }
    }
}

impl std::error::Error for CaBundleError {}

impl CaCertificates {
    /// The certificates of a PEM bundle (other PEM blocks, such as keys, are ignored); at least one, each
    /// a valid trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<CaCertificates, CaBundleError> {
        let ders = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| CaBundleError::BadEncoding)?;
        if ders.is_empty() {
            return Err(CaBundleError::NoCertificate);
        }
        let mut certificates = Vec::with_capacity(ders.len());
        for (index, der) in ders.into_iter().enumerate() {
            let mut store = rustls::RootCertStore::empty();
            store
                .add(der.clone())
                .map_err(|_| CaBundleError::NotACertificate(index + 1))?;
            let certificate = Certificate::from_der(der.as_ref())
                .map_err(|_| CaBundleError::NotACertificate(index + 1))?;
            certificates.push(certificate);
        }
        Ok(CaCertificates(certificates))
    }

    /// Whether there are none (only the built-in roots are trusted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many certificates there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The certificates, for the client builder.
    pub(crate) fn certificates(&self) -> &[Certificate] {
        &self.0
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundles_need_a_valid_certificate() {
        assert_eq!(
            CaCertificates::from_pem(b"").map(|c| c.len()),
            Err(CaBundleError::NoCertificate)
        );
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            CaCertificates::from_pem(key_only).map(|c| c.len()),
            Err(CaBundleError::NoCertificate)
        );
        let not_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert_eq!(
            CaCertificates::from_pem(not_base64).map(|c| c.len()),
            Err(CaBundleError::BadEncoding)
        );
        let not_x509 = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            CaCertificates::from_pem(not_x509).map(|c| c.len()),
            Err(CaBundleError::NotACertificate(1))
        );
        assert_eq!(
            format!("{:?}", CaCertificates::default()),
            "CaCertificates(0)"
        );
    }
}
