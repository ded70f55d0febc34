//! `organization` resources: one per Elastic Cloud organization, with a `member` entitlement granted to
//! each of its members.

use super::{grant, member_entitlement, user};
use crate::c1z::SyncRecords;
use crate::cloud::Organization;
use crate::proto::{any, ChildResourceType, Resource, ResourceId, ResourceType};
use crate::snapshot::Snapshot;
use std::collections::BTreeSet;

/// Resource type id.
pub const TYPE_ID: &str = "organization";

/// The `organization` resource type.
pub fn resource_type() -> ResourceType {
    ResourceType {
        id: TYPE_ID.to_owned(),
        display_name: "Organization".to_owned(),
        ..ResourceType::default()
    }
}

/// The resource of one organization; its members are listed under it.
pub fn resource(org: &Organization) -> Resource {
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &org.id)),
        display_name: org.name.clone(),
        annotations: vec![any(&ChildResourceType {
            resource_type_id: user::TYPE_ID.to_owned(),
        })],
        ..Resource::default()
    }
}

/// Adds organizations, their `member` entitlements and one grant per member.
pub fn sync(snapshot: &Snapshot, out: &mut SyncRecords) {
    for org in &snapshot.organizations {
        let resource = resource(org);
        let entitlement = member_entitlement(
            &resource,
            format!("{} Organization member", org.name),
            format!("Member of the {} Elastic Cloud organization", org.name),
            vec![user::resource_type()],
        );
        let members: BTreeSet<&str> = snapshot
            .members
            .get(&org.id)
            .into_iter()
            .flatten()
            .map(|m| m.user_id.as_str())
            .collect();
        out.grants.extend(
            members
                .into_iter()
                .map(|user_id| grant(&entitlement, ResourceId::new(user::TYPE_ID, user_id))),
        );
        out.resources.push(resource);
        out.entitlements.push(entitlement);
    }
}
