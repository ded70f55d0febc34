//! `user` resources: Elastic Cloud accounts, one per distinct member `user_id`, listed under the first of
//! their organizations by id.

use super::{first_non_blank, organization};
use crate::c1z::SyncRecords;
use crate::cloud::Member;
use crate::proto::{
    any, AccountType, Email, ProfileBuilder, Resource, ResourceId, ResourceType,
    SkipEntitlementsAndGrants, Trait, UserStatus, UserStatusValue, UserTrait,
};
use crate::snapshot::Snapshot;
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = "user";

/// The `user` resource type.
pub fn resource_type() -> ResourceType {
    ResourceType {
        id: TYPE_ID.to_owned(),
        display_name: "User".to_owned(),
        traits: vec![Trait::User as i32],
        annotations: vec![any(&SkipEntitlementsAndGrants {})],
        ..ResourceType::default()
    }
}

/// The resource of one account, from its first membership and the ids of all its organizations.
pub fn resource(member: &Member, organization_ids: &[&str]) -> Resource {
    let parent = organization_ids
        .first()
        .copied()
        .unwrap_or(member.organization_id.as_str());
    let email = first_non_blank(&[member.email.as_deref()]);
    let display_name =
        first_non_blank(&[member.name.as_deref(), email]).unwrap_or(member.user_id.as_str());
    let profile = ProfileBuilder::new()
        .string("user_id", &member.user_id)
        .opt_string("name", first_non_blank(&[member.name.as_deref()]))
        .opt_string("email", email)
        .string("organization_id", parent)
        .strings("organization_ids", organization_ids.iter().copied())
        .opt_string("member_since", member.member_since.as_deref())
        .build();
    let trait_ = UserTrait {
        emails: email
            .map(|address| Email {
                address: address.to_owned(),
                is_primary: true,
            })
            .into_iter()
            .collect(),
        status: Some(UserStatus {
            status: UserStatusValue::Enabled as i32,
            details: String::new(),
        }),
        profile: Some(profile),
        account_type: AccountType::Human as i32,
        login: email.unwrap_or(member.user_id.as_str()).to_owned(),
        login_aliases: Vec::new(),
    };
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &member.user_id)),
        parent_resource_id: Some(ResourceId::new(organization::TYPE_ID, parent)),
        display_name: display_name.to_owned(),
        annotations: vec![any(&trait_)],
        ..Resource::default()
    }
}

/// Adds one resource per distinct account.
pub fn sync(snapshot: &Snapshot, out: &mut SyncRecords) {
    let mut accounts: BTreeMap<&str, (&Member, Vec<&str>)> = BTreeMap::new();
    for org in &snapshot.organizations {
        for member in snapshot.members.get(&org.id).into_iter().flatten() {
            let entry = accounts
                .entry(member.user_id.as_str())
                .or_insert_with(|| (member, Vec::new()));
            if entry.1.last() != Some(&org.id.as_str()) {
                entry.1.push(org.id.as_str());
            }
        }
    }
    out.resources.extend(
        accounts
            .values()
            .map(|(member, org_ids)| resource(member, org_ids)),
    );
}
