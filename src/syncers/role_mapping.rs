//! `roleMapping` resources: one per role mapping, with a `member` entitlement, and, for enabled mappings,
//! the grants that say who a mapping covers and which roles it gives.
//!
//! Members: a native user the rules name literally keeps a grant (native users are never evaluated);
//! every external user (profile users and usernames a mapping names) is evaluated against the rules in
//! three-valued logic (`rules::CompiledRule`). True makes a member; unknown makes a member only when a
//! `username` condition names the user, and that grant carries `GrantMetadata` listing the conditions
//! assumed; false gives nothing. Roles: each role of the mapping's `roles` gets a grant of its `member`
//! entitlement to the mapping, expandable from the mapping's `member` entitlement. Mappings with
//! `role_templates` compute their roles at login and expand to nothing.

use super::deployment_user::{self, KnownUser};
use super::ids::{self, entitlement_id, MEMBER};
use super::records::{grant, member_entitlement};
use super::{role, types};
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{
    any, Entitlement, GrantExpandable, GrantMetadata, ProfileBuilder, Resource, ResourceId,
    ResourceType, RoleTrait,
};
use baton_c1z::RecordSink;
use elastic_api::deployment::RoleMapping;
use elastic_api::rules::{CompiledRule, Membership, Subject};
use std::collections::BTreeSet;

/// Resource type id.
pub const TYPE_ID: &str = ids::ROLE_MAPPING;

/// The `roleMapping` resource type.
pub fn resource_type() -> ResourceType {
    types::role_mapping()
}

/// The resource of one mapping; its profile shows a reviewer what the mapping does.
pub fn resource(name: &str, mapping: &RoleMapping) -> Resource {
    let templated = !mapping.role_templates.is_empty();
    let mut profile = ProfileBuilder::new()
        .string("name", name)
        .bool("enabled", mapping.enabled)
        .bool("read_only", mapping.read_only())
        .strings("roles", mapping.roles.iter().map(String::as_str))
        .string("rules", &mapping.rules.to_json())
        .bool("expands_to_roles", !templated && !mapping.roles.is_empty());
    if templated {
        let templates = serde_json::to_string(&mapping.role_templates).unwrap_or_default();
        profile = profile.string("role_templates", &templates).string(
            "role_expansion",
            "none: role templates compute the roles at login, so no role grants are derived",
        );
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

/// The users the rules are evaluated against: every external user, with what is known of them.
fn external_subjects(deployment: &DeploymentSnapshot) -> Vec<Subject<'_>> {
    deployment_user::known_users(deployment)
        .into_iter()
        .filter_map(|(username, user)| match user {
            KnownUser::Native(_) => None,
            KnownUser::Profile(p) => Some(Subject {
                username,
                realm: p.user.realm_name.as_deref(),
            }),
            KnownUser::Named => Some(Subject {
                username,
                realm: None,
            }),
        })
        .collect()
}

/// Adds mappings, their `member` entitlements, member grants and role grants.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    let externals = external_subjects(deployment);
    for (name, mapping) in &deployment.role_mappings {
        let resource = resource(name, mapping);
        let entitlement = member_entitlement(
            &resource,
            format!("{name} Role Mapping member"),
            format!("Matched by the {name} role mapping"),
            vec![types::deployment_user()],
        );
        if mapping.enabled {
            member_grants(name, mapping, deployment, &externals, &entitlement, out);
            role_grants(mapping, deployment, &resource, out);
        }
        out.resource(resource);
        out.entitlement(entitlement);
    }
}

fn member_grants(
    name: &str,
    mapping: &RoleMapping,
    deployment: &DeploymentSnapshot,
    externals: &[Subject<'_>],
    entitlement: &Entitlement,
    out: &mut dyn RecordSink,
) {
    let principal = |u: &str| ResourceId::new(ids::DEPLOYMENT_USER, u);
    let mut members: Vec<(&str, Option<Vec<String>>)> = mapping
        .rules
        .literal_usernames()
        .into_iter()
        .filter(|u| deployment.users.contains_key(*u))
        .map(|u| (u, None))
        .collect();
    let rule = CompiledRule::compile(&mapping.rules);
    for subject in externals {
        match rule.membership(subject) {
            Membership::Member => members.push((subject.username, None)),
            Membership::Conditional { assumed } => members.push((subject.username, Some(assumed))),
            Membership::No => {}
        }
    }
    members.sort_by(|a, b| a.0.cmp(b.0));
    for (username, assumed) in members {
        let mut g = grant(entitlement, principal(username));
        if let Some(assumed) = assumed {
            let metadata = ProfileBuilder::new()
                .string("role_mapping", name)
                .string(
                    "evaluation",
                    "conditional: the rules could not be fully checked; a username condition matches",
                )
                .strings("assumed_conditions", assumed.iter().map(String::as_str))
                .build();
            g.annotations.push(any(&GrantMetadata {
                metadata: Some(metadata),
            }));
        }
        out.grant(g);
    }
}

fn role_grants(
    mapping: &RoleMapping,
    deployment: &DeploymentSnapshot,
    mapping_resource: &Resource,
    out: &mut dyn RecordSink,
) {
    let Some(mapping_id) = mapping_resource.id.clone() else {
        return;
    };
    let source = entitlement_id(&mapping_id, MEMBER);
    let roles: BTreeSet<&str> = mapping.roles.iter().map(String::as_str).collect();
    for role_name in roles {
        let role_resource = role::resource(role_name, deployment.roles.get(role_name));
        let role_entitlement = Entitlement {
            id: role_resource
                .id
                .as_ref()
                .map(|rid| entitlement_id(rid, MEMBER))
                .unwrap_or_default(),
            resource: Some(role_resource),
            ..Entitlement::default()
        };
        let mut g = grant(&role_entitlement, mapping_id.clone());
        g.annotations.push(any(&GrantExpandable {
            entitlement_ids: vec![source.clone()],
            shallow: false,
            resource_type_ids: Vec::new(),
        }));
        out.grant(g);
    }
}
