//! `roleMapping` resources: one per role mapping, with a `member` entitlement, and, for enabled mappings,
//! the grants that say who a mapping covers and which roles it gives.
//!
//! Members: role mappings never apply to native users, so no native user is a member. Every external
//! user (profile users, usernames a mapping names, and the external-realm twin `external:<name>` of a
//! native username a mapping names) is evaluated against the rules in three-valued logic
//! (`rules::CompiledRule`). True makes a member; unknown makes a member only when a `username`
//! condition names the user, and that grant carries `GrantMetadata` listing the conditions assumed;
//! false gives nothing. A mapping whose rules have a form the grammar does not know is not evaluated:
//! the users it names literally are its members, marked as such, and its profile says why. Roles: each
//! role of the mapping's `roles` gets a grant of its `member` entitlement to the mapping, expandable
//! from the mapping's `member` entitlement. Mappings with `role_templates` compute their roles at login
//! and expand to nothing. Groups: each group value that alone makes a user a member (the whole rule, or
//! directly inside a top-level `any`) gets a grant to its `group` principal, matched to another
//! connector's group by `ExternalResourceMatchID` and expandable (shallow) from that group's `member`
//! entitlement; group patterns are listed on the mapping's profile instead.

use super::deployment_user::{self, KnownUser};
use super::ids::{self, entitlement_id, MEMBER};
use super::records::{grant, member_entitlement};
use super::{group, role, types};
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{
    any, Entitlement, ExternalResourceMatchId, GrantExpandable, GrantMetadata, ProfileBuilder,
    Resource, ResourceId, ResourceType, RoleTrait,
};
use baton_c1z::RecordSink;
use elastic_api::deployment::RoleMapping;
use elastic_api::rules::{CompiledRule, MappingRules, Membership, Subject};
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
    let patterns = group::group_patterns(mapping);
    if !patterns.is_empty() {
        profile = profile
            .strings("group_patterns", patterns.iter().copied())
            .string(
                "group_patterns_note",
                "members of the groups these patterns match are members; the groups cannot be listed, so no group grant is derived",
            );
    }
    if let MappingRules::Unreadable { error, .. } = &mapping.rules {
        profile = profile.string(
            "rules_error",
            &format!("the rules have a form this version cannot evaluate ({error}); only the usernames they name literally are shown as members"),
        );
    }
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

/// A user the rules are evaluated against: what is known of them, and their principal id.
struct External<'a> {
    subject: Subject<'a>,
    id: String,
    /// The external-realm twin of a native user.
    twin: bool,
}

/// The users the rules are evaluated against: every external user, with what is known of them.
fn external_subjects(deployment: &DeploymentSnapshot) -> Vec<External<'_>> {
    let mut out: Vec<External<'_>> = deployment_user::known_users(deployment)
        .into_iter()
        .filter_map(|(username, user)| {
            let realm = match user {
                KnownUser::Native(_) => return None,
                KnownUser::Profile(p) => p.user.realm_name.as_deref(),
                KnownUser::Named => None,
                KnownUser::KeyOwner(realm) => realm,
            };
            Some(External {
                subject: Subject { username, realm },
                id: username.to_owned(),
                twin: false,
            })
        })
        .collect();
    out.extend(
        deployment_user::external_twins(deployment)
            .into_iter()
            .map(|username| External {
                subject: Subject {
                    username,
                    realm: None,
                },
                id: ids::external_twin_id(username),
                twin: true,
            }),
    );
    out
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
            vec![types::deployment_user(), types::group()],
        );
        if let MappingRules::Unreadable { error, .. } = &mapping.rules {
            crate::logging::warn(
                "a role mapping's rules have a form this version cannot evaluate; only the usernames they name literally are members",
                &[
                    ("role_mapping", serde_json::Value::from(name.as_str())),
                    ("error", serde_json::Value::from(error.as_str())),
                ],
            );
        }
        if mapping.enabled {
            member_grants(name, mapping, &externals, &entitlement, out);
            group_grants(mapping, &entitlement, out);
            role_grants(mapping, deployment, &resource, out);
        }
        out.resource(resource);
        out.entitlement(entitlement);
    }
}

/// Why a member grant holds, for its `GrantMetadata`.
enum Evaluation {
    Member,
    Conditional(Vec<String>),
    /// The rules could not be read; the user is named literally.
    Literal,
}

fn member_grants(
    name: &str,
    mapping: &RoleMapping,
    externals: &[External<'_>],
    entitlement: &Entitlement,
    out: &mut dyn RecordSink,
) {
    let mut members: Vec<(&External<'_>, Evaluation)> = Vec::new();
    match &mapping.rules {
        MappingRules::Parsed(rules) => {
            let rule = CompiledRule::compile(rules);
            for external in externals {
                match rule.membership(&external.subject) {
                    Membership::Member => members.push((external, Evaluation::Member)),
                    Membership::Conditional { assumed } => {
                        members.push((external, Evaluation::Conditional(assumed)))
                    }
                    Membership::No => {}
                }
            }
        }
        MappingRules::Unreadable { .. } => {
            let named = mapping.rules.literal_usernames();
            members.extend(
                externals
                    .iter()
                    .filter(|e| named.contains(e.subject.username))
                    .map(|e| (e, Evaluation::Literal)),
            );
        }
    }
    members.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    for (external, evaluation) in members {
        let mut g = grant(
            entitlement,
            ResourceId::new(ids::DEPLOYMENT_USER, &external.id),
        );
        let mut metadata = ProfileBuilder::new().string("role_mapping", name);
        let mut annotate = external.twin;
        match &evaluation {
            Evaluation::Member => {}
            Evaluation::Conditional(assumed) => {
                annotate = true;
                metadata = metadata
                    .string(
                        "evaluation",
                        "conditional: the rules could not be fully checked; a username condition matches",
                    )
                    .strings("assumed_conditions", assumed.iter().map(String::as_str));
            }
            Evaluation::Literal => {
                annotate = true;
                metadata = metadata.string(
                    "evaluation",
                    "not evaluated: the rules have a form this version cannot read; they name this username literally",
                );
            }
        }
        if external.twin {
            metadata = metadata.string(
                "principal",
                &format!(
                    "the external-realm user who logs in as {}; role mappings do not apply to the native user of that name",
                    external.subject.username
                ),
            );
        }
        if annotate {
            g.annotations.push(any(&GrantMetadata {
                metadata: Some(metadata.build()),
            }));
        }
        out.grant(g);
    }
}

/// A grant of the mapping's `member` entitlement to each group sufficient for membership, annotated as
/// the Go connector annotates them: `ExternalResourceMatchID{id}` with the group's id, so that Baton's
/// syncer, given another connector's file, hands the grant to that file's resource with this id; and a
/// shallow `GrantExpandable` from the group's `member` entitlement (by Baton id, as it lives in that
/// file), so that the group's direct members get the mapping.
fn group_grants(mapping: &RoleMapping, entitlement: &Entitlement, out: &mut dyn RecordSink) {
    for id in group::mapping_groups(mapping).into_keys() {
        let principal = ResourceId::new(ids::GROUP, &id);
        let source = ids::entitlement_bid(&principal, MEMBER);
        let mut g = grant(entitlement, principal);
        g.annotations.push(any(&ExternalResourceMatchId { id }));
        g.annotations.push(any(&GrantExpandable {
            entitlement_ids: vec![source],
            shallow: true,
            resource_type_ids: Vec::new(),
        }));
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
