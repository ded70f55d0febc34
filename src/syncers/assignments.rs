//! Which Elastic Cloud role assignments apply to an organization: read by the `organization` syncer
//! (organization-wide roles), the `deployment` syncer (roles on one deployment) and the `invitation`
//! syncer (the roles a pending invitation gives on acceptance).

use elastic_api::cloud::{
    DeploymentRoleAssignment, Member, OrganizationRoleAssignment, RoleAssignments,
};

/// The organization-scope assignments of a member that apply to `org_id` (an assignment without an
/// organization id applies to the membership's organization).
pub fn organization_assignments<'a>(
    member: &'a Member,
    org_id: &'a str,
) -> impl Iterator<Item = &'a OrganizationRoleAssignment> + 'a {
    organization_assignments_of(
        member.role_assignments.as_ref(),
        &member.organization_id,
        org_id,
    )
}

/// The deployment-scope assignments of a member that apply to `org_id`.
pub fn deployment_assignments<'a>(
    member: &'a Member,
    org_id: &'a str,
) -> impl Iterator<Item = &'a DeploymentRoleAssignment> + 'a {
    deployment_assignments_of(
        member.role_assignments.as_ref(),
        &member.organization_id,
        org_id,
    )
}

/// The organization-scope assignments among `assignments` that apply to `org_id`, where an assignment
/// without an organization id applies to `home_org`.
pub fn organization_assignments_of<'a>(
    assignments: Option<&'a RoleAssignments>,
    home_org: &'a str,
    org_id: &'a str,
) -> impl Iterator<Item = &'a OrganizationRoleAssignment> + 'a {
    assignments
        .into_iter()
        .flat_map(|ra| ra.organization.iter())
        .filter(move |a| a.organization_id.as_deref().unwrap_or(home_org) == org_id)
}

/// The deployment-scope assignments among `assignments` that apply to `org_id` (see
/// [`organization_assignments_of`]).
pub fn deployment_assignments_of<'a>(
    assignments: Option<&'a RoleAssignments>,
    home_org: &'a str,
    org_id: &'a str,
) -> impl Iterator<Item = &'a DeploymentRoleAssignment> + 'a {
    assignments
        .into_iter()
        .flat_map(|ra| ra.deployment.iter())
        .filter(move |a| a.organization_id.as_deref().unwrap_or(home_org) == org_id)
}
