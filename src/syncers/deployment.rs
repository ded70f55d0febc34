//! `deployment` resources: Elastic Cloud deployments, children of their organization, with `admin`,
//! `editor` and `viewer` entitlements. Members assigned a deployment role for the deployment by id get a
//! direct grant; the organization-wide roles (and Organization owners, for `admin`) reach every
//! deployment through a `GrantExpandable` grant to the organization, which expansion turns into one grant
//! per holder.
//!
//! The deployment list does not say which organization a deployment belongs to: it is the organization
//! of the assignments that name it by id (the lowest organization id if several do), else the first
//! organization synced; a deployment named only by assignments of organizations outside the sync is left
//! out, and so is, when one organization is synced while the key sees others, a deployment no assignment
//! names.

use super::assignments::deployment_assignments;
use super::estate::{self, CHILD_TYPES};
use super::ids::{self, role_entitlement_id, DEPLOYMENT_ROLES};
use super::records::{assignment_entitlement, grant};
use super::types;
use crate::snapshot::Snapshot;
use baton_c1z::proto::{
    any, AppTrait, ChildResourceType, GrantExpandable, ProfileBuilder, Resource, ResourceId,
    ResourceType,
};
use baton_c1z::RecordSink;
use elastic_api::cloud::Deployment;
use std::collections::{BTreeMap, BTreeSet};

/// Resource type id.
pub const TYPE_ID: &str = ids::DEPLOYMENT;

/// The `deployment` resource type.
pub fn resource_type() -> ResourceType {
    types::deployment()
}

/// The resource of one deployment, under its organization; `home` when its security API was read, so
/// that its roles, deployment users, role mappings and groups are listed under it; `unread` the error of
/// a configured endpoint of it that could not be read (`--continue-on-deployment-error`).
pub fn resource(
    deployment: &Deployment,
    org_id: &str,
    home: bool,
    unread: Option<&str>,
) -> Resource {
    let es = deployment.elasticsearch();
    let profile = ProfileBuilder::new()
        .string("id", &deployment.id)
        .string("name", &deployment.name)
        .opt_string("region", deployment.region())
        .opt_string("elasticsearch_resource_id", es.map(|r| r.id.as_str()))
        .opt_string("cloud_id", es.and_then(|r| r.cloud_id.as_deref()))
        .string("organization_id", org_id)
        .opt_string(estate::UNREAD_KEY, unread)
        .build();
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &deployment.id)),
        parent_resource_id: Some(ResourceId::new(ids::ORGANIZATION, org_id)),
        display_name: deployment.name.clone(),
        annotations: std::iter::once(any(&AppTrait {
            profile: Some(profile),
            ..AppTrait::default()
        }))
        .chain(CHILD_TYPES.iter().filter(|_| home).map(|t| {
            any(&ChildResourceType {
                resource_type_id: (*t).to_owned(),
            })
        }))
        .collect(),
        ..Resource::default()
    }
}

/// The organization of each deployment in the sync (see the module documentation).
pub fn owners(snapshot: &Snapshot) -> BTreeMap<&str, &str> {
    let synced: BTreeSet<&str> = snapshot
        .organizations
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    let mut named: BTreeMap<&str, &str> = BTreeMap::new();
    for member in snapshot.members.values().flatten() {
        for a in member
            .role_assignments
            .iter()
            .flat_map(|ra| ra.deployment.iter())
        {
            let org = a
                .organization_id
                .as_deref()
                .unwrap_or(&member.organization_id);
            for id in &a.deployment_ids {
                let entry = named.entry(id.as_str()).or_insert(org);
                if org < *entry {
                    *entry = org;
                }
            }
        }
    }
    // When the key also sees organizations outside the sync, a deployment none of the synced
    // assignments name may be any of theirs: claiming it would grant the synced organization's
    // deployment roles on another organization's deployment.
    let first = if snapshot.organizations_outside {
        None
    } else {
        synced.first().copied()
    };
    snapshot
        .deployments
        .iter()
        .filter_map(|d| {
            let org = named.get(d.id.as_str()).copied().or(first)?;
            synced.contains(org).then_some((d.id.as_str(), org))
        })
        .collect()
}

/// Adds deployments, their entitlements, direct grants from assignments naming them, and the
/// expandable grants to their organization. `homes` are the deployments whose security API was read,
/// `unread` the errors of those whose configured endpoint could not be read.
pub fn sync(
    snapshot: &Snapshot,
    homes: &BTreeSet<&str>,
    unread: &BTreeMap<&str, &str>,
    out: &mut dyn RecordSink,
) {
    let owners = owners(snapshot);
    // (deployment id, slug) -> user ids assigned that role on that deployment by id.
    let mut direct: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for org in &snapshot.organizations {
        for member in snapshot.members.get(&org.id).into_iter().flatten() {
            for a in deployment_assignments(member, &org.id) {
                if a.all == Some(true) {
                    continue;
                }
                let Some((_, slug)) = DEPLOYMENT_ROLES.iter().find(|(role, _)| *role == a.role_id)
                else {
                    continue;
                };
                for id in &a.deployment_ids {
                    if owners.get(id.as_str()) == Some(&org.id.as_str()) {
                        direct
                            .entry((id.as_str(), slug))
                            .or_default()
                            .insert(member.user_id.as_str());
                    }
                }
            }
        }
    }
    for deployment in &snapshot.deployments {
        let Some(org_id) = owners.get(deployment.id.as_str()).copied() else {
            continue;
        };
        let resource = resource(
            deployment,
            org_id,
            homes.contains(deployment.id.as_str()),
            unread.get(deployment.id.as_str()).copied(),
        );
        let org_principal = ResourceId::new(ids::ORGANIZATION, org_id);
        for (role, slug) in DEPLOYMENT_ROLES {
            let title = match slug {
                "admin" => "Admin",
                "editor" => "Editor",
                _ => "Viewer",
            };
            let entitlement = assignment_entitlement(
                &resource,
                slug,
                title.to_owned(),
                format!("{title} of the {} deployment", deployment.name),
                vec![types::user(), types::organization()],
            );
            for u in direct
                .get(&(deployment.id.as_str(), slug))
                .into_iter()
                .flatten()
            {
                out.grant(grant(&entitlement, ResourceId::new(ids::USER, u)));
            }
            let mut sources = vec![role_entitlement_id(org_id, role)];
            if slug == "admin" {
                sources.push(role_entitlement_id(org_id, "organization-admin"));
            }
            let mut via_org = grant(&entitlement, org_principal.clone());
            via_org.annotations.push(any(&GrantExpandable {
                entitlement_ids: sources,
                shallow: false,
                resource_type_ids: Vec::new(),
            }));
            out.grant(via_org);
            out.entitlement(entitlement);
        }
        out.resource(resource);
    }
}
