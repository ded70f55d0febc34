//! `roleMapping` resources: one per role mapping, with a `member` entitlement granted to each username
//! that an enabled mapping's rules name literally.

use super::{deployment_user, grant, member_entitlement};
use crate::c1z::SyncRecords;
use crate::deployment::RoleMapping;
use crate::proto::{any, ProfileBuilder, Resource, ResourceId, ResourceType, RoleTrait};
use crate::snapshot::DeploymentSnapshot;

/// Resource type id.
pub const TYPE_ID: &str = "roleMapping";

/// The `roleMapping` resource type.
pub fn resource_type() -> ResourceType {
    ResourceType {
        id: TYPE_ID.to_owned(),
        display_name: "Role Mapping".to_owned(),
        ..ResourceType::default()
    }
}

/// The resource of one mapping; its profile shows a reviewer what the mapping does.
pub fn resource(name: &str, mapping: &RoleMapping) -> Resource {
    let mut profile = ProfileBuilder::new()
        .string("name", name)
        .bool("enabled", mapping.enabled)
        .bool("read_only", mapping.read_only())
        .strings("roles", mapping.roles.iter().map(String::as_str))
        .string("rules", &mapping.rules.to_json());
    if !mapping.role_templates.is_empty() {
        let templates = serde_json::to_string(&mapping.role_templates).unwrap_or_default();
        profile = profile.string("role_templates", &templates);
    }
    Resource {
        id: Some(ResourceId::new(TYPE_ID, name)),
        display_name: name.to_owned(),
        annotations: vec![any(&RoleTrait {
            profile: Some(profile.build()),
        })],
        ..Resource::default()
    }
}

/// Adds mappings, their `member` entitlements, and one grant per literal username of an enabled mapping.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut SyncRecords) {
    for (name, mapping) in &deployment.role_mappings {
        let resource = resource(name, mapping);
        let entitlement = member_entitlement(
            &resource,
            format!("{name} Role Mapping member"),
            format!("Matched by the {name} role mapping"),
            vec![deployment_user::resource_type()],
        );
        if mapping.enabled {
            out.grants.extend(
                mapping
                    .rules
                    .literal_usernames()
                    .into_iter()
                    .map(|u| grant(&entitlement, ResourceId::new(deployment_user::TYPE_ID, u))),
            );
        }
        out.resources.push(resource);
        out.entitlements.push(entitlement);
    }
}
