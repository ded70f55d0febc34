//! HTTPS for the fake (cargo feature `tls`): a rustls server configuration
//! (ring provider) built from a PEM certificate chain and key, and
//! [`TestCa`], a throw-away certificate authority with a server certificate
//! for `127.0.0.1` and `localhost`, so tests can trust the fake through a CA
//! file the way a client trusts a self-managed cluster's `http_ca.crt`.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A freshly generated certificate authority and a server certificate it
/// signed, all PEM-encoded. The server certificate names `localhost` and
/// `127.0.0.1` and is valid for server authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCa {
    /// The CA certificate: what a client adds to its trusted roots.
    pub ca_pem: String,
    /// The server certificate (leaf only; the CA is the issuer).
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8).
    pub server_key_pem: String,
}

impl TestCa {
    /// Generate a new CA and server certificate (ECDSA P-256 keys).
    pub fn generate() -> anyhow::Result<TestCa> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "elastic-fake test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer)?;
        Ok(TestCa {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, no client
/// authentication) for this PEM certificate chain (leaf first) and PEM
/// private key (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn server_config(
    cert_chain_pem: &str,
    private_key_pem: &str,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("certificate chain: no certificate".to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
        .map_err(|e| invalid(format!("private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}
