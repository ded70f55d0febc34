//! `user` resources: Elastic Cloud accounts, one per distinct member `user_id`, listed under the first of
//! their organizations by id.

use super::ids;
use super::records::{first_non_blank, user_trait};
use super::types;
use crate::snapshot::Snapshot;
use baton_c1z::proto::{
    any, AccountType, ProfileBuilder, Resource, ResourceId, ResourceType, UserStatusValue,
};
use baton_c1z::RecordSink;
use elastic_api::cloud::Member;
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = ids::USER;

/// The `user` resource type.
pub fn resource_type() -> ResourceType {
    types::user()
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
    let trait_ = user_trait(
        email,
        UserStatusValue::Enabled,
        AccountType::Human,
        email.unwrap_or(member.user_id.as_str()),
        profile,
    );
    Resource {
        id: Some(ResourceId::new(TYPE_ID, &member.user_id)),
        parent_resource_id: Some(ResourceId::new(ids::ORGANIZATION, parent)),
        display_name: display_name.to_owned(),
        annotations: vec![any(&trait_)],
        ..Resource::default()
    }
}

/// Adds one resource per distinct account.
pub fn sync(snapshot: &Snapshot, out: &mut dyn RecordSink) {
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
    for (member, org_ids) in accounts.values() {
        out.resource(resource(member, org_ids));
    }
}
