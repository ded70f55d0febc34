//! `deploymentUser` resources: the deployment's native users (reserved ones too), plus every username a
//! role mapping names literally that is not a native user (an external-realm user).

use super::{first_non_blank, user_resource_type, user_trait};
use crate::c1z::SyncRecords;
use crate::deployment::User;
use crate::proto::{
    any, AccountType, ProfileBuilder, Resource, ResourceId, ResourceType, Struct, UserStatusValue,
};
use crate::snapshot::DeploymentSnapshot;
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = "deploymentUser";

/// The `deploymentUser` resource type.
pub fn resource_type() -> ResourceType {
    user_resource_type(TYPE_ID, "Deployment User")
}

/// The resource of a native user.
pub fn native_resource(user: &User) -> Resource {
    let email = first_non_blank(&[user.email.as_deref()]);
    let full_name = first_non_blank(&[user.full_name.as_deref()]);
    let reserved = user.reserved();
    let profile = ProfileBuilder::new()
        .string("username", &user.username)
        .opt_string("full_name", full_name)
        .opt_string("email", email)
        .bool("enabled", user.enabled)
        .bool("reserved", reserved)
        .string("realm", "native")
        .build();
    let status = if user.enabled {
        UserStatusValue::Enabled
    } else {
        UserStatusValue::Disabled
    };
    let account_type = if reserved {
        AccountType::System
    } else {
        AccountType::Human
    };
    user_resource(
        &user.username,
        full_name.unwrap_or(&user.username),
        email,
        status,
        account_type,
        profile,
    )
}

/// The resource of a user known only because a role mapping names it.
pub fn external_resource(username: &str) -> Resource {
    let profile = ProfileBuilder::new()
        .string("username", username)
        .bool("reserved", false)
        .string("realm", "external")
        .build();
    user_resource(
        username,
        username,
        None,
        UserStatusValue::Unspecified,
        AccountType::Human,
        profile,
    )
}

fn user_resource(
    username: &str,
    display_name: &str,
    email: Option<&str>,
    status: UserStatusValue,
    account_type: AccountType,
    profile: Struct,
) -> Resource {
    let trait_ = user_trait(email, status, account_type, username, profile);
    Resource {
        id: Some(ResourceId::new(TYPE_ID, username)),
        display_name: display_name.to_owned(),
        annotations: vec![any(&trait_)],
        ..Resource::default()
    }
}

/// Every deployment user, sorted by username: `Some(user)` for native users, `None` for usernames that
/// only a role mapping names.
pub fn known_users(deployment: &DeploymentSnapshot) -> BTreeMap<&str, Option<&User>> {
    let mut users: BTreeMap<&str, Option<&User>> = deployment
        .users
        .values()
        .map(|u| (u.username.as_str(), Some(u)))
        .collect();
    for mapping in deployment.role_mappings.values() {
        for username in mapping.rules.literal_usernames() {
            users.entry(username).or_insert(None);
        }
    }
    users
}

/// Adds one resource per deployment user.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut SyncRecords) {
    out.resources.extend(
        known_users(deployment)
            .into_iter()
            .map(|(username, user)| match user {
                Some(user) => native_resource(user),
                None => external_resource(username),
            }),
    );
}
