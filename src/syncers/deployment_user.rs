//! `deploymentUser` resources: the deployment's native users (reserved ones too), the users of external
//! realms who have a user profile, every other username a role mapping names literally, and, for a
//! native username a mapping names, that name's external-realm user (`external:<name>`, see
//! [`ids::EXTERNAL_TWIN_PREFIX`]): mappings never apply to native users. The owners of API keys are
//! deployment users too: an owner of the native realm is the native user, an owner of another realm is
//! that realm's user, identified as profile users are (by username, or `external:<name>` when a native
//! user has the name), created when no list names them.

use super::ids;
use super::records::{first_non_blank, user_trait};
use super::types;
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{
    any, AccountType, ProfileBuilder, Resource, ResourceId, ResourceType, Struct, UserStatusValue,
};
use baton_c1z::RecordSink;
use elastic_api::credentials::ApiKey;
use elastic_api::deployment::{Profile, User};
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = ids::DEPLOYMENT_USER;

/// The `deploymentUser` resource type.
pub fn resource_type() -> ResourceType {
    types::deployment_user()
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

/// The resource of the external-realm user who logs in as `username`, where a native user has that
/// name too (a role mapping names it).
pub fn external_twin_resource(username: &str) -> Resource {
    let profile = ProfileBuilder::new()
        .string("username", username)
        .bool("reserved", false)
        .string("realm", "external")
        .string(
            "note",
            "the user of an external realm (SAML, OIDC, LDAP…) who logs in with this username; the native user of the same name is another principal, to whom role mappings never apply",
        )
        .build();
    let mut resource = user_resource(
        username,
        &format!("{username} (external realm)"),
        None,
        UserStatusValue::Unspecified,
        AccountType::Human,
        profile,
    );
    resource.id = Some(ResourceId::new(TYPE_ID, &ids::external_twin_id(username)));
    resource
}

/// Native usernames that a role mapping names literally, or that own an API key through another
/// realm: each has an external-realm twin.
pub fn external_twins(deployment: &DeploymentSnapshot) -> std::collections::BTreeSet<&str> {
    deployment
        .role_mappings
        .values()
        .flat_map(|m| m.rules.literal_usernames())
        .chain(
            deployment
                .api_keys
                .iter()
                .filter(|k| matches!(key_owner_realm(k), OwnerRealm::External))
                .map(|k| k.username.as_str()),
        )
        .filter(|u| deployment.users.contains_key(*u))
        .collect()
}

/// The kind of realm an API key's owner authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerRealm {
    /// The native realm (or the reserved realm of the built-in users): the owner is a native user.
    Native,
    /// A service account (`_service_account`): the owner is a `serviceAccount`.
    ServiceAccount,
    /// Any other realm (file, SAML, OIDC, LDAP, Cloud SSO…).
    External,
}

/// Which kind of realm owns `key`: by `realm_type` (8.14+), else by the realm's name (`reserved`,
/// `default_native` and names starting with `native` are the native realm's usual names).
pub fn key_owner_realm(key: &ApiKey) -> OwnerRealm {
    let realm = key.realm.as_deref().unwrap_or_default();
    let kind = key.realm_type.as_deref();
    if kind == Some("_service_account") || realm == "_service_account" {
        return OwnerRealm::ServiceAccount;
    }
    let native = match kind {
        Some(kind) => matches!(kind, "native" | "reserved"),
        None => realm == "reserved" || realm == "default_native" || realm.starts_with("native"),
    };
    if native {
        OwnerRealm::Native
    } else {
        OwnerRealm::External
    }
}

/// The resource id of the principal that owns `key`: `serviceAccount:<name>` for a service account,
/// `deploymentUser:<username>` for a native user and for external users, except `external:<username>`
/// when a native user has the name.
pub fn key_owner_id(key: &ApiKey, deployment: &DeploymentSnapshot) -> ResourceId {
    match key_owner_realm(key) {
        OwnerRealm::ServiceAccount => ResourceId::new(ids::SERVICE_ACCOUNT, &key.username),
        OwnerRealm::Native => ResourceId::new(TYPE_ID, &key.username),
        OwnerRealm::External if deployment.users.contains_key(&key.username) => {
            ResourceId::new(TYPE_ID, &ids::external_twin_id(&key.username))
        }
        OwnerRealm::External => ResourceId::new(TYPE_ID, &key.username),
    }
}

/// The resource of a user known only because they own an API key.
pub fn key_owner_resource(username: &str, realm: Option<&str>) -> Resource {
    let profile = ProfileBuilder::new()
        .string("username", username)
        .bool("reserved", false)
        .string("realm", realm.unwrap_or("external"))
        .string("note", "known from the API keys this user owns")
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

/// The resource of an external-realm user known from their user profile.
pub fn profile_resource(profile: &Profile) -> Resource {
    let user = &profile.user;
    let email = first_non_blank(&[user.email.as_deref()]);
    let full_name = first_non_blank(&[user.full_name.as_deref()]);
    let profile_struct = ProfileBuilder::new()
        .string("username", &user.username)
        .opt_string("full_name", full_name)
        .opt_string("email", email)
        .bool("enabled", profile.enabled)
        .bool("reserved", false)
        .string("realm", user.realm_name.as_deref().unwrap_or("external"))
        .string("profile_uid", &profile.uid)
        .strings("roles", user.roles.iter().map(String::as_str))
        .build();
    let status = if profile.enabled {
        UserStatusValue::Enabled
    } else {
        UserStatusValue::Disabled
    };
    user_resource(
        &user.username,
        full_name.unwrap_or(&user.username),
        email,
        status,
        AccountType::Human,
        profile_struct,
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

/// How a deployment user is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KnownUser<'a> {
    /// A native user (`GET /_security/user`).
    Native(&'a User),
    /// An external-realm user with a user profile.
    Profile(&'a Profile),
    /// A username only a role mapping names.
    Named,
    /// A user known only as the owner of an API key, with the owner's realm name.
    KeyOwner(Option<&'a str>),
}

/// Every deployment user, sorted by username. A profile whose username is a native user's is that
/// user; of several profiles with one username (different realms), the first by uid is kept.
pub fn known_users(deployment: &DeploymentSnapshot) -> BTreeMap<&str, KnownUser<'_>> {
    let mut users: BTreeMap<&str, KnownUser<'_>> = deployment
        .users
        .values()
        .map(|u| (u.username.as_str(), KnownUser::Native(u)))
        .collect();
    for profile in &deployment.profiles {
        users
            .entry(profile.user.username.as_str())
            .or_insert(KnownUser::Profile(profile));
    }
    for mapping in deployment.role_mappings.values() {
        for username in mapping.rules.literal_usernames() {
            users.entry(username).or_insert(KnownUser::Named);
        }
    }
    for key in &deployment.api_keys {
        if key_owner_realm(key) != OwnerRealm::ServiceAccount {
            users
                .entry(key.username.as_str())
                .or_insert(KnownUser::KeyOwner(key.realm.as_deref()));
        }
    }
    users
}

/// Adds one resource per deployment user.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    for (username, user) in known_users(deployment) {
        out.resource(match user {
            KnownUser::Native(user) => native_resource(user),
            KnownUser::Profile(profile) => profile_resource(profile),
            KnownUser::Named => external_resource(username),
            KnownUser::KeyOwner(realm) => key_owner_resource(username, realm),
        });
    }
    for username in external_twins(deployment) {
        out.resource(external_twin_resource(username));
    }
}
