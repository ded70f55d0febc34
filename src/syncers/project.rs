//! `project` resources: Elastic Cloud Serverless projects, children of their organization, with one
//! entitlement per predefined Cloud role of the project's type (`elasticsearch-admin`, …). Members
//! assigned a project role for the project by id get a direct grant; an assignment with `all: true`
//! (every project of the type, also future ones) is the organization entitlement of that role, which
//! reaches every project of the type through a `GrantExpandable` grant to the organization, as for
//! deployments.
//!
//! Custom project roles are the `application_roles` of the assignments: each one an assignment names
//! for a project (by id, or with `all: true` for every project of its type) is a `custom:<role>`
//! entitlement of the project, granted directly to the assigned members. Custom roles no assignment
//! names are not listed: the projects API gives them only one project at a time
//! (`GET /api/v1/serverless/projects/<type>/<id>/roles`), which would cost a request per project, and
//! a custom role gives nobody access until an assignment names it.

use super::ids::{self, role_entitlement_id};
use super::records::{assignment_entitlement, grant};
use super::types;
use crate::snapshot::Snapshot;
use baton_c1z::proto::{
    any, AppTrait, Entitlement, GrantExpandable, ProfileBuilder, Resource, ResourceId, ResourceType,
};
use baton_c1z::RecordSink;
use elastic_api::cloud::{Member, ProjectRoleAssignment};
use elastic_api::serverless::{predefined_roles, Project, PROJECT_TYPES};
use std::collections::{BTreeMap, BTreeSet};

/// Resource type id.
pub const TYPE_ID: &str = ids::PROJECT;

/// The `project` resource type.
pub fn resource_type() -> ResourceType {
    types::project()
}

/// The project-scope assignments of one type of a member that apply to `org_id`.
pub fn project_assignments<'a>(
    member: &'a Member,
    org_id: &'a str,
    project_type: &'a str,
) -> impl Iterator<Item = &'a ProjectRoleAssignment> + 'a {
    member
        .role_assignments
        .iter()
        .flat_map(move |ra| match project_type {
            "elasticsearch" => ra.project.elasticsearch.iter(),
            "observability" => ra.project.observability.iter(),
            "security" => ra.project.security.iter(),
            _ => [].iter(),
        })
        .filter(move |a| {
            a.organization_id
                .as_deref()
                .unwrap_or(&member.organization_id)
                == org_id
                && predefined_roles(project_type).contains(&a.role_id.as_str())
        })
}

/// The display name of a project role: `elasticsearch-admin` is `Admin`, `security-t1-analyst` is
/// `T1 analyst`.
pub fn role_title(project_type: &str, role_id: &str) -> String {
    let bare = role_id
        .strip_prefix(project_type)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or(role_id)
        .replace('-', " ");
    let mut chars = bare.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The organization entitlements of the project roles with `all: true` (every project of the type).
pub fn organization_entitlements(resource: &Resource, org_name: &str) -> Vec<Entitlement> {
    let mut out = Vec::new();
    for project_type in PROJECT_TYPES {
        for role_id in predefined_roles(project_type) {
            let title = role_title(project_type, role_id);
            out.push(assignment_entitlement(
                resource,
                role_id,
                format!("{project_type} project {} (all {project_type} projects)", title.to_lowercase()),
                format!(
                    "{title} of every {project_type} Serverless project of the {org_name} Elastic Cloud organization, including future ones"
                ),
                vec![types::user()],
            ));
        }
    }
    out
}

/// The user ids of the members of `org_id` assigned each project role with `all: true`, by role id.
pub fn all_projects_holders<'a>(
    members: &'a [Member],
    org_id: &'a str,
) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for member in members {
        for project_type in PROJECT_TYPES {
            for a in project_assignments(member, org_id, project_type) {
                if a.all == Some(true) {
                    out.entry(a.role_id.as_str())
                        .or_default()
                        .insert(member.user_id.as_str());
                }
            }
        }
    }
    out
}

/// The resource of one project, under its organization.
pub fn resource(project: &Project) -> Resource {
    let mut profile = ProfileBuilder::new()
        .string("id", &project.id)
        .string("name", &project.name)
        .string("type", &project.project_type)
        .opt_string("region", project.region_id.as_deref())
        .opt_string("alias", project.alias.as_deref())
        .opt_string("cloud_id", project.cloud_id.as_deref())
        .string("organization_id", &project.metadata.organization_id);
    for (name, url) in &project.endpoints {
        profile = profile.string(&format!("endpoint_{name}"), url);
    }
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &project.id)),
        parent_resource_id: Some(ResourceId::new(
            ids::ORGANIZATION,
            &project.metadata.organization_id,
        )),
        display_name: project.name.clone(),
        annotations: vec![any(&AppTrait {
            profile: Some(profile.build()),
            ..AppTrait::default()
        })],
        ..Resource::default()
    }
}

/// The prefix of the entitlement slug of a custom project role: `custom:<role name>`.
pub const CUSTOM_ROLE_PREFIX: &str = "custom:";

/// The custom roles (`application_roles`) the assignments of `members` name for `project`, with the
/// user ids of the members they are assigned to.
pub fn custom_role_holders<'a>(
    members: &'a [Member],
    org_id: &'a str,
    project: &'a Project,
) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for member in members {
        for a in project_assignments(member, org_id, &project.project_type) {
            if a.all == Some(true) || a.project_ids.contains(&project.id) {
                for role in &a.application_roles {
                    out.entry(role.as_str())
                        .or_default()
                        .insert(member.user_id.as_str());
                }
            }
        }
    }
    out
}

/// Adds the projects of the synced organizations, their role entitlements, direct grants from
/// assignments naming them, and the expandable grants to their organization.
pub fn sync(snapshot: &Snapshot, out: &mut dyn RecordSink) {
    let synced: BTreeSet<&str> = snapshot
        .organizations
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    for project in &snapshot.projects {
        let org_id = project.metadata.organization_id.as_str();
        if !synced.contains(org_id) {
            continue;
        }
        let members = snapshot
            .members
            .get(org_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let resource = resource(project);
        let org_principal = ResourceId::new(ids::ORGANIZATION, org_id);
        for role_id in predefined_roles(&project.project_type) {
            let title = role_title(&project.project_type, role_id);
            let entitlement = assignment_entitlement(
                &resource,
                role_id,
                title.clone(),
                format!("{title} of the {} Serverless project", project.name),
                vec![types::user(), types::organization()],
            );
            let direct: BTreeSet<&str> = members
                .iter()
                .filter(|m| {
                    project_assignments(m, org_id, &project.project_type).any(|a| {
                        a.role_id == *role_id
                            && a.all != Some(true)
                            && a.project_ids.contains(&project.id)
                    })
                })
                .map(|m| m.user_id.as_str())
                .collect();
            for user_id in direct {
                out.grant(grant(&entitlement, ResourceId::new(ids::USER, user_id)));
            }
            let mut via_org = grant(&entitlement, org_principal.clone());
            via_org.annotations.push(any(&GrantExpandable {
                entitlement_ids: vec![role_entitlement_id(org_id, role_id)],
                shallow: false,
                resource_type_ids: Vec::new(),
            }));
            out.grant(via_org);
            out.entitlement(entitlement);
        }
        for (role, holders) in custom_role_holders(members, org_id, project) {
            let entitlement = assignment_entitlement(
                &resource,
                &format!("{CUSTOM_ROLE_PREFIX}{role}"),
                format!("{role} (custom role)"),
                format!(
                    "The custom role {role} of the {} Serverless project, given by Cloud role assignments",
                    project.name
                ),
                vec![types::user()],
            );
            for user_id in holders {
                out.grant(grant(&entitlement, ResourceId::new(ids::USER, user_id)));
            }
            out.entitlement(entitlement);
        }
        out.resource(resource);
    }
}
