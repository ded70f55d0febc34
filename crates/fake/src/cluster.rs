//! The Elasticsearch cluster a tenant can play: its version, names and the
//! `GET /` body, and which security endpoints exist in which release.
//!
//! A tenant without a [`Cluster`] is the fake as it always was: every
//! endpoint the fake knows, no `GET /`. With one, the fake answers `GET /`
//! like a real node, refuses endpoints the version does not have the way
//! Elasticsearch refuses unknown endpoints (400 `no handler found`), and
//! serves the `_query` APIs of the versions that have them.

use std::fmt;

use serde_json::{json, Value};

/// An Elasticsearch release, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EsVersion {
    /// Major version, e.g. `8`.
    pub major: u32,
    /// Minor version, e.g. `15`.
    pub minor: u32,
    /// Patch version, e.g. `0`.
    pub patch: u32,
}

impl EsVersion {
    /// 7.10.2, the last release under the Apache 2.0 licence (what many
    /// long-lived clusters still run).
    pub const V7_10: EsVersion = EsVersion::new(7, 10, 2);
    /// 7.17.25, the last 7.x line: no profiles, no `_query/user`.
    pub const V7_17: EsVersion = EsVersion::new(7, 17, 25);
    /// 8.13.4: profiles, but no `_query/user` yet.
    pub const V8_13: EsVersion = EsVersion::new(8, 13, 4);
    /// 8.14.3: the first line with `_query/user`.
    pub const V8_14: EsVersion = EsVersion::new(8, 14, 3);
    /// 8.15.0: `_query/user` and `_query/role`.
    pub const V8_15: EsVersion = EsVersion::new(8, 15, 0);
    /// 9.1.0.
    pub const V9_1: EsVersion = EsVersion::new(9, 1, 0);

    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> EsVersion {
        EsVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parse `8.15.0`, `8.15` or `8`, ignoring a `-SNAPSHOT`-style suffix;
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<EsVersion> {
        let core = text.trim().split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.');
        let mut next = |required: bool| match parts.next() {
            Some(part) => part.parse::<u32>().ok(),
            None if required => None,
            None => Some(0),
        };
        let version = EsVersion::new(next(true)?, next(false)?, next(false)?);
        parts.next().is_none().then_some(version)
    }

    /// Whether this release is `major.minor` or later.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The Lucene release the Elasticsearch line ships (approximate for
    /// lines the fake does not list).
    fn lucene(self) -> &'static str {
        match (self.major, self.minor) {
            (..=6, _) => "7.7.3",
            (7, ..=9) => "8.6.2",
            (7, 10 | 11) => "8.7.0",
            (7, 12) => "8.8.0",
            (7, 13) => "8.8.2",
            (7, 14 | 15) => "8.9.0",
            (7, 16) => "8.10.1",
            (7, _) => "8.11.3",
            (8, 0 | 1) => "9.0.0",
            (8, 2) => "9.1.0",
            (8, 3) => "9.2.0",
            (8, 4) => "9.3.0",
            (8, 5) => "9.4.1",
            (8, 6) => "9.4.2",
            (8, 7) => "9.5.0",
            (8, 8) => "9.6.0",
            (8, 9 | 10) => "9.7.0",
            (8, 11) => "9.8.0",
            (8, 12) => "9.9.2",
            (8, 13 | 14) => "9.10.0",
            (8, 15) => "9.11.1",
            (8, 16 | 17) => "9.12.0",
            (8, _) => "9.12.2",
            (9, 0) => "10.1.0",
            (9, 1) => "10.2.2",
            _ => "10.3.1",
        }
    }

    /// Oldest node version this one talks to: the last minor of the
    /// previous major.
    fn minimum_wire_compatibility(self) -> String {
        match self.major {
            ..=7 => "6.8.0".to_string(),
            8 => "7.17.0".to_string(),
            major => format!("{}.18.0", major - 1),
        }
    }

    /// Oldest index version this one reads: the previous major's first
    /// release.
    fn minimum_index_compatibility(self) -> String {
        match self.major {
            ..=7 => "6.0.0-beta1".to_string(),
            major => format!("{}.0.0", major - 1),
        }
    }
}

impl fmt::Display for EsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Cluster name used when a tenant has no Cloud deployment to borrow an
/// Elasticsearch resource id from.
pub const DEFAULT_CLUSTER_NAME: &str = "a3f5c1e9b7d24068ace13579bdf02468";

/// The `cluster_uuid` the fake reports.
pub const CLUSTER_UUID: &str = "Xq3kT9bLQ2u1mZ8rVw4yNg";

/// The Elasticsearch cluster a tenant plays (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Release reported by `GET /` and used to decide which endpoints exist.
    pub version: EsVersion,
    /// `cluster_name` of `GET /`. On Elastic Cloud this is the deployment's
    /// Elasticsearch resource id (32 hex digits).
    pub cluster_name: String,
    /// `cluster_uuid` of `GET /`.
    pub cluster_uuid: String,
    /// `name` (the node name) of `GET /`.
    pub node_name: String,
    /// Whether the Cloud API (`/api/v1/...`) is served too. A self-managed
    /// cluster has none: those paths then get Elasticsearch's 400 for an
    /// unknown endpoint.
    pub cloud_api: bool,
}

impl Cluster {
    /// The body of `GET /`.
    pub(crate) fn root_body(&self) -> Value {
        json!({
            "name": self.node_name,
            "cluster_name": self.cluster_name,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.version.to_string(),
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "7d41d2b4c0e8f6a31b59e2c7a8d04f1e6b3c9a52",
                "build_date": "2024-08-05T10:05:34.233336849Z",
                "build_snapshot": false,
                "lucene_version": self.version.lucene(),
                "minimum_wire_compatibility_version": self.version.minimum_wire_compatibility(),
                "minimum_index_compatibility_version": self.version.minimum_index_compatibility()
            },
            "tagline": "You Know, for Search"
        })
    }

    /// Whether the release has the security endpoint whose path segments
    /// (after `/_security`) are `rest`. Endpoints not listed exist in every
    /// version the fake plays (users, roles, role mappings, authenticate).
    pub(crate) fn has_endpoint(&self, rest: &[String]) -> bool {
        let first = rest.first().map(String::as_str);
        let second = rest.get(1).map(String::as_str);
        let (major, minor) = match (first, second) {
            (Some("profile"), _) => (8, 2),
            (Some("_query"), Some("user")) => (8, 14),
            (Some("_query"), Some("role")) => (8, 15),
            (Some("_query"), Some("api_key")) => (7, 15),
            _ => return true,
        };
        self.version.at_least(major, minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(EsVersion::parse("8.15.0"), Some(EsVersion::V8_15));
        assert_eq!(EsVersion::parse("7.17"), Some(EsVersion::new(7, 17, 0)));
        assert_eq!(EsVersion::parse("9"), Some(EsVersion::new(9, 0, 0)));
        assert_eq!(
            EsVersion::parse("8.16.0-SNAPSHOT"),
            Some(EsVersion::new(8, 16, 0))
        );
        for bad in ["", "x", "8.x", "8.1.2.3", "8..1"] {
            assert_eq!(EsVersion::parse(bad), None, "{bad}");
        }
        assert!(EsVersion::V7_17 < EsVersion::V8_13);
        assert!(EsVersion::V8_14.at_least(8, 14));
        assert!(!EsVersion::V8_13.at_least(8, 14));
        assert!(EsVersion::V9_1.at_least(8, 15));
        assert_eq!(EsVersion::V7_17.to_string(), "7.17.25");
    }

    #[test]
    fn endpoints_follow_the_release_history() {
        let cluster = |version| Cluster {
            version,
            cluster_name: DEFAULT_CLUSTER_NAME.to_string(),
            cluster_uuid: CLUSTER_UUID.to_string(),
            node_name: "node-1".to_string(),
            cloud_api: false,
        };
        let path = |p: &str| p.split('/').map(str::to_string).collect::<Vec<_>>();
        let table = [
            ("profile/_suggest", [false, false, true, true, true, true]),
            ("_query/user", [false, false, false, true, true, true]),
            ("_query/role", [false, false, false, false, true, true]),
            ("_query/api_key", [false, true, true, true, true, true]),
            ("user", [true; 6]),
            ("role_mapping", [true; 6]),
        ];
        let versions = [
            EsVersion::V7_10,
            EsVersion::V7_17,
            EsVersion::V8_13,
            EsVersion::V8_14,
            EsVersion::V8_15,
            EsVersion::V9_1,
        ];
        for (endpoint, expected) in table {
            for (version, want) in versions.iter().zip(expected) {
                assert_eq!(
                    cluster(*version).has_endpoint(&path(endpoint)),
                    want,
                    "{endpoint} on {version}"
                );
            }
        }
        let root = cluster(EsVersion::V7_17).root_body();
        assert_eq!(root["version"]["number"], "7.17.25");
        assert_eq!(
            root["version"]["minimum_wire_compatibility_version"],
            "6.8.0"
        );
        let root = cluster(EsVersion::V9_1).root_body();
        assert_eq!(root["version"]["lucene_version"], "10.2.2");
        assert_eq!(
            root["version"]["minimum_index_compatibility_version"],
            "8.0.0"
        );
    }
}
