//! `apiKey` resources: one per active Elasticsearch API key of the deployment (invalidated and expired
//! keys are left out when fetched), each carrying a `SecretTrait` that names its owner (as both
//! `created_by_id` and `identity_id`: a key acts as the user who created it), its creation and expiry,
//! and a profile that summarises what the key may do. Elasticsearch does not report when a key was last
//! used, so `last_used_at` is never set. The secret itself is never read.
//!
//! Each key has one `owner` entitlement (purpose OWNERSHIP), granted to its owner, so that an access
//! review lists a user's keys among their access. The key's privileges are inline role descriptors, not
//! named roles, so it gets no role grants; its profile shows them instead.

use super::deployment_user;
use super::ids::{self, OWNER};
use super::records::{assignment_entitlement, grant};
use super::types;
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{
    any, CredentialType, ProfileBuilder, Purpose, Resource, ResourceId, ResourceType, SecretTrait,
    Timestamp,
};
use baton_c1z::RecordSink;
use elastic_api::credentials::{ApiKey, RoleDescriptor};
use std::collections::{BTreeMap, BTreeSet};

/// Resource type id.
pub const TYPE_ID: &str = ids::API_KEY;

/// The `apiKey` resource type.
pub fn resource_type() -> ResourceType {
    types::api_key()
}

/// Epoch milliseconds as a protobuf timestamp.
pub fn timestamp_ms(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Epoch milliseconds in RFC 3339 (UTC), for profiles.
fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A compact, sorted summary of role descriptors: cluster privileges, one `patterns: privileges` line
/// per index entry (remote ones prefixed with their clusters), application privileges and `run_as`.
pub struct PrivilegeSummary {
    pub cluster: BTreeSet<String>,
    pub indices: BTreeSet<String>,
    pub applications: BTreeSet<String>,
    pub run_as: BTreeSet<String>,
}

impl PrivilegeSummary {
    /// The summary of all `descriptors` together.
    pub fn of<'a>(descriptors: impl IntoIterator<Item = &'a RoleDescriptor>) -> PrivilegeSummary {
        let mut out = PrivilegeSummary {
            cluster: BTreeSet::new(),
            indices: BTreeSet::new(),
            applications: BTreeSet::new(),
            run_as: BTreeSet::new(),
        };
        for d in descriptors {
            out.cluster.extend(d.cluster.iter().cloned());
            for i in &d.indices {
                out.indices.insert(format!(
                    "{}: {}",
                    i.names.to_vec().join(","),
                    i.privileges.join(",")
                ));
            }
            for i in &d.remote_indices {
                out.indices.insert(format!(
                    "{} (remote {}): {}",
                    i.names.to_vec().join(","),
                    i.clusters.join(","),
                    i.privileges.join(",")
                ));
            }
            for a in &d.applications {
                out.applications.insert(format!(
                    "{} {}: {}",
                    a.application,
                    a.resources.join(","),
                    a.privileges.join(",")
                ));
            }
            out.run_as.extend(d.run_as.iter().cloned());
        }
        out
    }

    /// Adds the summary to a profile under `prefix` + `cluster_privileges`, `index_privileges`,
    /// `application_privileges`, `run_as`.
    pub fn add_to(&self, profile: ProfileBuilder, prefix: &str) -> ProfileBuilder {
        profile
            .strings(
                &format!("{prefix}cluster_privileges"),
                self.cluster.iter().map(String::as_str),
            )
            .strings(
                &format!("{prefix}index_privileges"),
                self.indices.iter().map(String::as_str),
            )
            .strings(
                &format!("{prefix}application_privileges"),
                self.applications.iter().map(String::as_str),
            )
            .strings(
                &format!("{prefix}run_as"),
                self.run_as.iter().map(String::as_str),
            )
    }
}

/// The resource of one key, owned by `owner`.
pub fn resource(key: &ApiKey, owner: &ResourceId) -> Resource {
    let name = key.name.as_deref().filter(|n| !n.trim().is_empty());
    let inherits = key.role_descriptors.is_empty();
    let mut profile = ProfileBuilder::new()
        .string("id", &key.id)
        .opt_string("name", name)
        .string("type", key.kind())
        .string("owner", &key.username)
        .opt_string("realm", key.realm.as_deref())
        .opt_string("realm_type", key.realm_type.as_deref())
        .string(
            "owner_id",
            &format!("{}:{}", owner.resource_type, owner.resource),
        )
        .opt_string("created", key.creation.map(rfc3339_ms).as_deref())
        .string(
            "expires",
            &key.expiration
                .map(rfc3339_ms)
                .unwrap_or_else(|| "never".to_owned()),
        )
        .string(
            "metadata",
            &serde_json::to_string(&key.metadata).unwrap_or_default(),
        )
        .bool("inherits_owner_privileges", inherits)
        .strings(
            "role_descriptors",
            key.role_descriptors.keys().map(String::as_str),
        );
    profile = PrivilegeSummary::of(key.role_descriptors.values()).add_to(profile, "");
    if let Some(limited_by) = &key.limited_by {
        let owner_roles: BTreeMap<&str, &RoleDescriptor> = limited_by
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
            .collect();
        profile = profile.strings("limited_by_roles", owner_roles.keys().copied());
        profile =
            PrivilegeSummary::of(owner_roles.values().copied()).add_to(profile, "limited_by_");
    }
    if let Some(access) = &key.access {
        profile = profile.string("access", &serde_json::to_string(access).unwrap_or_default());
    }
    let profile = profile.build();
    let detail = match key.kind() {
        "cross_cluster" => "elasticsearch_cross_cluster_api_key",
        _ => "elasticsearch_api_key",
    };
    let created_at = key.creation.map(timestamp_ms);
    let trait_ = SecretTrait {
        profile: Some(profile.clone()),
        created_at,
        expires_at: key.expiration.map(timestamp_ms),
        last_used_at: None,
        created_by_id: Some(owner.clone()),
        identity_id: Some(owner.clone()),
        credential_type: CredentialType::StaticSecret as i32,
        credential_detail: detail.to_owned(),
    };
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &key.id)),
        display_name: name.unwrap_or(&key.id).to_owned(),
        annotations: vec![any(&trait_)],
        profile: Some(profile),
        created_at,
        ..Resource::default()
    }
}

/// Adds one resource per active key, its `owner` entitlement and the grant of it to the owner.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    for key in &deployment.api_keys {
        let owner = deployment_user::key_owner_id(key, deployment);
        let resource = resource(key, &owner);
        let mut entitlement = assignment_entitlement(
            &resource,
            OWNER,
            format!("{} API Key owner", resource.display_name),
            format!(
                "Owns the {} API key and can use it with the owner's privileges",
                resource.display_name
            ),
            vec![types::deployment_user(), types::service_account()],
        );
        entitlement.purpose = Purpose::Ownership as i32;
        out.grant(grant(&entitlement, owner));
        out.resource(resource);
        out.entitlement(entitlement);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_split_milliseconds() {
        let t = timestamp_ms(1_736_510_400_123);
        assert_eq!((t.seconds, t.nanos), (1_736_510_400, 123_000_000));
        assert_eq!(rfc3339_ms(1_736_510_400_000), "2025-01-10T12:00:00Z");
    }
}
