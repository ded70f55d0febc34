//! `group` resources: the directory and identity-provider groups that role mappings name, one per
//! distinct group value (compared as Elasticsearch compares them: normalized DNs, else case-insensitive
//! names). A group is a principal of the mapping's `member` entitlement where the group alone makes its
//! members match (the whole rule, or directly inside a top-level `any`); the `roleMapping` syncer writes
//! those grants. Its members are only known to the identity provider, so the type has no entitlements
//! or grants of its own; a ConductorOne tenant matches the group to the one another connector (LDAP,
//! Okta, Entra…) synced, by the grants' `ExternalResourceMatchID`.

use super::ids;
use super::types;
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{any, GroupTrait, ProfileBuilder, Resource, ResourceId, ResourceType};
use baton_c1z::RecordSink;
use elastic_api::deployment::RoleMapping;
use elastic_api::rules::{classify, normalize_dn, Pattern};
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = ids::GROUP;

/// The `group` resource type.
pub fn resource_type() -> ResourceType {
    types::group()
}

/// The groups a mapping's rules make sufficient for membership, by principal id (the normalized value),
/// with the value first written. Patterns (wildcards such as `*,ou=x,dc=y`, regular expressions) name no
/// group that can be listed and are left out: see [`group_patterns`]. Disabled mappings and rules this
/// version cannot read give none.
pub fn mapping_groups(mapping: &RoleMapping) -> BTreeMap<String, &str> {
    let mut out = BTreeMap::new();
    if !mapping.enabled {
        return out;
    }
    let Some(rule) = mapping.rules.parsed() else {
        return out;
    };
    for value in rule.sufficient_group_values() {
        if let Pattern::Literal(literal) = classify(value) {
            out.entry(normalize_dn(literal)).or_insert(literal);
        }
    }
    out
}

/// The group patterns that alone make a user a member (where a literal would give a group grant):
/// recorded on the mapping's profile, since the groups they match cannot be listed.
pub fn group_patterns(mapping: &RoleMapping) -> Vec<&str> {
    mapping
        .rules
        .parsed()
        .map(|rule| {
            rule.sufficient_group_values()
                .into_iter()
                .filter(|v| !matches!(classify(v), Pattern::Literal(_)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every group of every mapping, by principal id, with the value first written (mappings by name).
pub fn known_groups(deployment: &DeploymentSnapshot) -> BTreeMap<String, &str> {
    let mut out = BTreeMap::new();
    for mapping in deployment.role_mappings.values() {
        for (id, written) in mapping_groups(mapping) {
            out.entry(id).or_insert(written);
        }
    }
    out
}

/// The resource of one group.
pub fn resource(id: &str, written: &str) -> Resource {
    let profile = ProfileBuilder::new()
        .string("name", written)
        .string("normalized", id)
        .build();
    Resource {
        id: Some(ResourceId::new(TYPE_ID, id)),
        display_name: written.to_owned(),
        annotations: vec![any(&GroupTrait {
            icon: None,
            profile: Some(profile),
        })],
        ..Resource::default()
    }
}

/// Adds one resource per group the role mappings name.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    for (id, written) in known_groups(deployment) {
        out.resource(resource(&id, written));
    }
}
