//! `role` resources: deployment roles, both those the API returns and those only referred to by a user, a
//! user profile or a role mapping, with a `member` entitlement granted to each native user holding the
//! role and to each external user whose profile records it (role mappings' grants are added by the
//! `roleMapping` syncer).

use super::deployment_user::{self, KnownUser};
use super::ids;
use super::records::{grant, member_entitlement};
use super::types;
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{any, ProfileBuilder, Resource, ResourceId, ResourceType, RoleTrait};
use baton_c1z::RecordSink;
use elastic_api::deployment::Role;
use std::collections::{BTreeMap, BTreeSet};

/// Resource type id.
pub const TYPE_ID: &str = ids::ROLE;

/// The `role` resource type.
pub fn resource_type() -> ResourceType {
    types::role()
}

/// The resource of one role; `role` is `None` when only a reference to the name is known.
pub fn resource(name: &str, role: Option<&Role>) -> Resource {
    let profile = ProfileBuilder::new()
        .string("name", name)
        .bool("defined", role.is_some())
        .bool("reserved", role.is_some_and(Role::reserved))
        .opt_string(
            "description",
            role.and_then(|r| r.description.as_deref())
                .filter(|d| !d.is_empty()),
        )
        .build();
    Resource {
        id: Some(ResourceId::new(TYPE_ID, name)),
        display_name: name.to_owned(),
        annotations: vec![any(&RoleTrait {
            profile: Some(profile),
        })],
        ..Resource::default()
    }
}

/// Every role name known to the deployment: returned by the API, or named by a user, a profile or a
/// mapping.
pub fn known_roles(deployment: &DeploymentSnapshot) -> BTreeMap<&str, Option<&Role>> {
    let mut roles: BTreeMap<&str, Option<&Role>> = deployment
        .roles
        .iter()
        .map(|(name, role)| (name.as_str(), Some(role)))
        .collect();
    let referenced = deployment
        .users
        .values()
        .flat_map(|u| u.roles.iter())
        .chain(deployment.profiles.iter().flat_map(|p| p.user.roles.iter()))
        .chain(
            deployment
                .role_mappings
                .values()
                .flat_map(|m| m.roles.iter()),
        );
    for name in referenced {
        roles.entry(name.as_str()).or_insert(None);
    }
    roles
}

/// Adds roles, their `member` entitlements and one grant per user holding each role directly.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    let mut holders: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (username, user) in deployment_user::known_users(deployment) {
        let roles = match user {
            KnownUser::Native(user) => &user.roles,
            KnownUser::Profile(profile) => &profile.user.roles,
            KnownUser::Named | KnownUser::KeyOwner(_) => continue,
        };
        for role in roles {
            holders.entry(role.as_str()).or_default().insert(username);
        }
    }
    for (name, role) in known_roles(deployment) {
        let resource = resource(name, role);
        let entitlement = member_entitlement(
            &resource,
            format!("{name} Role member"),
            format!("Holds the {name} role on the deployment"),
            vec![types::deployment_user(), types::role_mapping()],
        );
        for username in holders.get(name).into_iter().flatten() {
            out.grant(grant(
                &entitlement,
                ResourceId::new(ids::DEPLOYMENT_USER, username),
            ));
        }
        out.resource(resource);
        out.entitlement(entitlement);
    }
}
