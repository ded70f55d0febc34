//! `organization` resources: one per Elastic Cloud organization, with a `member` entitlement granted to
//! each of its members, and the organization-wide cloud roles (`organization-admin`, `billing-admin`,
//! `deployment-admin|editor|viewer` for all deployments) granted from the members' role assignments.

use super::assignments::{deployment_assignments, organization_assignments};
use super::ids::{self, DEPLOYMENT_ROLES, ORGANIZATION_ROLES};
use super::project;
use super::records::{assignment_entitlement, grant, member_entitlement};
use super::types;
use crate::snapshot::Snapshot;
use baton_c1z::proto::{any, ChildResourceType, Entitlement, Resource, ResourceId, ResourceType};
use baton_c1z::RecordSink;
use elastic_api::cloud::Organization;
use std::collections::BTreeSet;

/// Resource type id.
pub const TYPE_ID: &str = ids::ORGANIZATION;

/// The `organization` resource type.
pub fn resource_type() -> ResourceType {
    types::organization()
}

/// The resource of one organization; its members and deployments are listed under it.
pub fn resource(org: &Organization) -> Resource {
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &org.id)),
        display_name: org.name.clone(),
        annotations: vec![
            any(&ChildResourceType {
                resource_type_id: ids::USER.to_owned(),
            }),
            any(&ChildResourceType {
                resource_type_id: ids::DEPLOYMENT.to_owned(),
            }),
            any(&ChildResourceType {
                resource_type_id: ids::PROJECT.to_owned(),
            }),
        ],
        ..Resource::default()
    }
}

/// The organization role entitlements, in a fixed order.
fn role_entitlements(resource: &Resource, org: &Organization) -> Vec<Entitlement> {
    let mut out = Vec::with_capacity(24);
    for (slug, name) in ORGANIZATION_ROLES {
        out.push(assignment_entitlement(
            resource,
            slug,
            name.to_owned(),
            format!("{name} of the {} Elastic Cloud organization", org.name),
            vec![types::user()],
        ));
    }
    for (slug, kind) in DEPLOYMENT_ROLES {
        let title = capitalized(kind);
        out.push(assignment_entitlement(
            resource,
            slug,
            format!("Deployment {kind} (all deployments)"),
            format!(
                "{title} of every deployment of the {} Elastic Cloud organization, including future ones",
                org.name
            ),
            vec![types::user()],
        ));
    }
    out
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Adds organizations, their entitlements, one `member` grant per member and one grant per
/// organization-wide role assignment.
pub fn sync(snapshot: &Snapshot, out: &mut dyn RecordSink) {
    for org in &snapshot.organizations {
        let resource = resource(org);
        let entitlement = member_entitlement(
            &resource,
            format!("{} Organization member", org.name),
            format!("Member of the {} Elastic Cloud organization", org.name),
            vec![types::user()],
        );
        let members = snapshot
            .members
            .get(&org.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let member_ids: BTreeSet<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
        for user_id in member_ids {
            out.grant(grant(&entitlement, ResourceId::new(ids::USER, user_id)));
        }
        let mut holders: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut roles = role_entitlements(&resource, org);
        roles.extend(project::organization_entitlements(&resource, &org.name));
        for (role_id, users) in project::all_projects_holders(members, &org.id) {
            for user_id in users {
                holders.insert((role_id, user_id));
            }
        }
        for member in members {
            // Each scope grants only its own roles: an organization role in a deployment assignment (or
            // the reverse) is not a valid assignment and grants nothing.
            for a in organization_assignments(member, &org.id) {
                if ORGANIZATION_ROLES
                    .iter()
                    .any(|(slug, _)| *slug == a.role_id)
                {
                    holders.insert((a.role_id.as_str(), member.user_id.as_str()));
                }
            }
            for a in deployment_assignments(member, &org.id) {
                if a.all == Some(true)
                    && DEPLOYMENT_ROLES.iter().any(|(slug, _)| *slug == a.role_id)
                {
                    holders.insert((a.role_id.as_str(), member.user_id.as_str()));
                }
            }
        }
        for role in &roles {
            for (_, user_id) in holders
                .range((role.slug.as_str(), "")..)
                .take_while(|(slug, _)| *slug == role.slug)
            {
                out.grant(grant(role, ResourceId::new(ids::USER, user_id)));
            }
        }
        out.resource(resource);
        out.entitlement(entitlement);
        for role in roles {
            out.entitlement(role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::SyncRecords;
    use elastic_api::cloud::Member;

    #[test]
    fn each_scope_grants_only_its_own_roles() {
        let member: Member = serde_json::from_value(serde_json::json!({
            "organization_id": "1", "user_id": "u1",
            "role_assignments": {
                "organization": [
                    {"role_id": "billing-admin", "organization_id": "1"},
                    {"role_id": "deployment-admin", "organization_id": "1"}
                ],
                "deployment": [
                    {"role_id": "organization-admin", "organization_id": "1", "all": true},
                    {"role_id": "deployment-viewer", "organization_id": "1", "all": true}
                ]
            }
        }))
        .expect("member");
        let snapshot = Snapshot {
            organizations: vec![Organization {
                id: "1".into(),
                name: "One".into(),
            }],
            members: [("1".to_owned(), vec![member])].into_iter().collect(),
            ..Snapshot::default()
        };
        let mut out = SyncRecords::default();
        sync(&snapshot, &mut out);
        let granted: Vec<&str> = out
            .grants
            .iter()
            .filter_map(|g| g.entitlement.as_ref())
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            granted,
            [
                "organization:1:member",
                "organization:1:billing-admin",
                "organization:1:deployment-viewer"
            ]
        );
    }
}
