//! Pending Elastic Cloud invitations as `user` resources: one per invited email (id
//! `invitation:<email>`, see [`ids::INVITATION_PREFIX`]), under the first organization that invited
//! it, whose status and profile say it is an invitation (email, expiry). Each holds the grants its
//! `role_assignments` will give on acceptance, read with the members' assignment rules, each marked
//! `GrantMetadata{pending: true, …}`. An invitation is not a membership, so it gets no
//! `organization:<id>:member` grant. Expired and accepted invitations are left out when fetched.

use super::assignments::{deployment_assignments_of, organization_assignments_of};
use super::ids::{self, entitlement_id, role_entitlement_id, DEPLOYMENT_ROLES, ORGANIZATION_ROLES};
use super::records::{grant, user_trait};
use super::{deployment, organization};
use crate::snapshot::Snapshot;
use baton_c1z::proto::{
    any, AccountType, Entitlement, GrantMetadata, ProfileBuilder, Resource, ResourceId,
    UserStatusValue,
};
use baton_c1z::RecordSink;
use elastic_api::cloud_admin::Invitation;
use std::collections::{BTreeMap, BTreeSet};

/// The resource of one invited email, from its first invitation and the ids of all organizations that
/// invited it.
pub fn resource(invitation: &Invitation, organization_ids: &[&str]) -> Resource {
    let parent = organization_ids.first().copied().unwrap_or_default();
    let profile = ProfileBuilder::new()
        .string("email", &invitation.email)
        .bool("invited", true)
        .string("status", "invited")
        .string("organization_id", parent)
        .strings("organization_ids", organization_ids.iter().copied())
        .opt_string("created_at", invitation.created_at.as_deref())
        .opt_string(
            "expires_at",
            Some(invitation.expires_at.as_str()).filter(|e| !e.is_empty()),
        )
        .build();
    let mut trait_ = user_trait(
        Some(&invitation.email),
        UserStatusValue::Unspecified,
        AccountType::Human,
        &invitation.email,
        profile,
    );
    if let Some(status) = trait_.status.as_mut() {
        status.details = match invitation.expires_at.as_str() {
            "" => "invited, not yet accepted".to_owned(),
            expiry => format!("invited, not yet accepted (the invitation expires {expiry})"),
        };
    }
    Resource {
        id: Some(ResourceId::new(
            ids::USER,
            &ids::invitation_id(&invitation.email),
        )),
        parent_resource_id: Some(ResourceId::new(ids::ORGANIZATION, parent)),
        display_name: format!("{} (invited)", invitation.email),
        annotations: vec![any(&trait_)],
        ..Resource::default()
    }
}

/// The entitlement ids (with their resources) an invitation to `org_id` gives on acceptance.
fn pending_entitlements(
    snapshot: &Snapshot,
    owners: &BTreeMap<&str, &str>,
    homes: &BTreeSet<&str>,
    org_id: &str,
    invitation: &Invitation,
) -> BTreeMap<String, Resource> {
    let mut out = BTreeMap::new();
    let Some(org) = snapshot.organizations.iter().find(|o| o.id == org_id) else {
        return out;
    };
    let ra = invitation.role_assignments.as_ref();
    for a in organization_assignments_of(ra, org_id, org_id) {
        if ORGANIZATION_ROLES
            .iter()
            .any(|(slug, _)| *slug == a.role_id)
        {
            out.insert(
                role_entitlement_id(org_id, &a.role_id),
                organization::resource(org),
            );
        }
    }
    for a in deployment_assignments_of(ra, org_id, org_id) {
        let Some((role, slug)) = DEPLOYMENT_ROLES.iter().find(|(role, _)| *role == a.role_id)
        else {
            continue;
        };
        if a.all == Some(true) {
            out.insert(
                role_entitlement_id(org_id, role),
                organization::resource(org),
            );
            continue;
        }
        for id in &a.deployment_ids {
            if owners.get(id.as_str()) != Some(&org_id) {
                continue;
            }
            if let Some(d) = snapshot.deployments.iter().find(|d| &d.id == id) {
                let resource = deployment::resource(d, org_id, homes.contains(d.id.as_str()), None);
                if let Some(rid) = &resource.id {
                    out.insert(entitlement_id(rid, slug), resource);
                }
            }
        }
    }
    out
}

/// Adds one `user` resource per invited email and its pending grants; `homes` are the deployments
/// whose security API was read.
pub fn sync(snapshot: &Snapshot, homes: &BTreeSet<&str>, out: &mut dyn RecordSink) {
    let owners = deployment::owners(snapshot);
    let mut invited: BTreeMap<&str, (&Invitation, Vec<&str>)> = BTreeMap::new();
    for org in &snapshot.organizations {
        for invitation in snapshot.invitations.get(&org.id).into_iter().flatten() {
            let entry = invited
                .entry(invitation.email.as_str())
                .or_insert_with(|| (invitation, Vec::new()));
            entry.1.push(org.id.as_str());
        }
    }
    for (email, (first, org_ids)) in &invited {
        let principal = ResourceId::new(ids::USER, &ids::invitation_id(email));
        let mut seen = BTreeSet::new();
        for org_id in org_ids {
            let Some(invitation) = snapshot
                .invitations
                .get(*org_id)
                .and_then(|list| list.iter().find(|i| i.email == *email))
            else {
                continue;
            };
            for (id, resource) in pending_entitlements(snapshot, &owners, homes, org_id, invitation)
            {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let entitlement = Entitlement {
                    id,
                    resource: Some(resource),
                    ..Entitlement::default()
                };
                let mut g = grant(&entitlement, principal.clone());
                let metadata = ProfileBuilder::new()
                    .bool("pending", true)
                    .string("invitation", email)
                    .string("organization_id", org_id)
                    .opt_string(
                        "expires_at",
                        Some(invitation.expires_at.as_str()).filter(|e| !e.is_empty()),
                    )
                    .string(
                        "note",
                        "a pending invitation: the role is given when the invitation is accepted",
                    )
                    .build();
                g.annotations.push(any(&GrantMetadata {
                    metadata: Some(metadata),
                }));
                out.grant(g);
            }
        }
        out.resource(resource(first, org_ids));
    }
}
