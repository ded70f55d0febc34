//! Which of a member's Elastic Cloud role assignments apply to an organization: read by the
//! `organization` syncer (organization-wide roles) and the `deployment` syncer (roles on one deployment).

use elastic_api::cloud::{DeploymentRoleAssignment, Member, OrganizationRoleAssignment};

/// The organization-scope assignments of a member that apply to `org_id` (an assignment without an
/// organization id applies to the membership's organization).
pub fn organization_assignments<'a>(
    member: &'a Member,
    org_id: &'a str,
) -> impl Iterator<Item = &'a OrganizationRoleAssignment> + 'a {
    member
        .role_assignments
        .iter()
        .flat_map(|ra| ra.organization.iter())
        .filter(move |a| {
            a.organization_id
                .as_deref()
                .unwrap_or(&member.organization_id)
                == org_id
        })
}

/// The deployment-scope assignments of a member that apply to `org_id`.
pub fn deployment_assignments<'a>(
    member: &'a Member,
    org_id: &'a str,
) -> impl Iterator<Item = &'a DeploymentRoleAssignment> + 'a {
    member
        .role_assignments
        .iter()
        .flat_map(|ra| ra.deployment.iter())
        .filter(move |a| {
            a.organization_id
                .as_deref()
                .unwrap_or(&member.organization_id)
                == org_id
        })
}
