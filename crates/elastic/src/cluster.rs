//! What `GET /` says about an Elasticsearch cluster: its names and version, and which security APIs a
//! version has (user profiles since 8.2, `_query/user` since 8.14).

use serde::Deserialize;
use std::fmt;

/// An Elasticsearch release, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EsVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl EsVersion {
    /// The first release with user profiles (`POST /_security/profile/_suggest`).
    pub const USER_PROFILES: EsVersion = EsVersion::new(8, 2, 0);
    /// The first release with `POST /_security/_query/user`.
    pub const QUERY_USER: EsVersion = EsVersion::new(8, 14, 0);
    /// The first release with `POST /_security/_query/api_key`.
    pub const QUERY_API_KEY: EsVersion = EsVersion::new(7, 15, 0);
    /// The first release whose API key answers take `with_limited_by`.
    pub const API_KEY_LIMITED_BY: EsVersion = EsVersion::new(8, 5, 0);

    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> EsVersion {
        EsVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses `8.15.0`, `8.15` or `8`, ignoring a suffix such as `-SNAPSHOT`; `None` for anything else.
    pub fn parse(text: &str) -> Option<EsVersion> {
        let core = text.trim().split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let mut next = || match parts.next() {
            Some(part) => part.parse::<u32>().ok(),
            None => Some(0),
        };
        let minor = next()?;
        let patch = next()?;
        parts
            .next()
            .is_none()
            .then_some(EsVersion::new(major, minor, patch))
    }

    /// Whether this release has user profiles.
    pub fn has_user_profiles(self) -> bool {
        self >= EsVersion::USER_PROFILES
    }

    /// Whether this release has `_query/api_key`.
    pub fn has_query_api_key(self) -> bool {
        self >= EsVersion::QUERY_API_KEY
    }

    /// Whether this release answers API key requests `with_limited_by`.
    pub fn has_api_key_limited_by(self) -> bool {
        self >= EsVersion::API_KEY_LIMITED_BY
    }

    /// Whether this release has `_query/user`.
    pub fn has_query_user(self) -> bool {
        self >= EsVersion::QUERY_USER
    }
}

impl fmt::Display for EsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// `version` of `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    pub number: String,
    /// Set by forks (e.g. `opensearch`); absent on Elasticsearch.
    #[serde(default)]
    pub distribution: Option<String>,
}

/// Body of `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClusterInfo {
    /// The node's name.
    #[serde(default)]
    pub name: String,
    /// On Elastic Cloud, the deployment's Elasticsearch resource id.
    #[serde(default)]
    pub cluster_name: String,
    #[serde(default)]
    pub cluster_uuid: String,
    pub version: VersionInfo,
}

impl ClusterInfo {
    /// The Elasticsearch version, when the number parses.
    pub fn version(&self) -> Option<EsVersion> {
        EsVersion::parse(&self.version.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_gate_the_apis() {
        assert_eq!(EsVersion::parse("8.15.0"), Some(EsVersion::new(8, 15, 0)));
        assert_eq!(EsVersion::parse("7.17"), Some(EsVersion::new(7, 17, 0)));
        assert_eq!(
            EsVersion::parse("9.1.0-SNAPSHOT"),
            Some(EsVersion::new(9, 1, 0))
        );
        assert_eq!(EsVersion::parse("x.1"), None);
        assert_eq!(EsVersion::parse("8.1.2.3"), None);
        assert!(!EsVersion::new(8, 1, 9).has_user_profiles());
        assert!(EsVersion::new(8, 2, 0).has_user_profiles());
        assert!(!EsVersion::new(8, 13, 4).has_query_user());
        assert!(EsVersion::new(8, 14, 0).has_query_user());
        assert!(EsVersion::new(9, 0, 0).has_query_user());
        let body = r#"{"name":"node-1","cluster_name":"c","cluster_uuid":"u","version":{"number":"7.10.2","build_flavor":"default"},"tagline":"You Know, for Search"}"#;
        let info: ClusterInfo = serde_json::from_str(body).expect("parses");
        assert_eq!(info.version(), Some(EsVersion::new(7, 10, 2)));
    }
}
