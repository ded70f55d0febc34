//! Builders of the records the syncers write: assignment entitlements, grants shaped as Baton's
//! `NewGrant` builds them, and user traits.

use super::ids::{entitlement_id, grant_id, MEMBER};
use baton_c1z::proto::{
    AccountType, Email, Entitlement, Grant, Purpose, Resource, ResourceId, ResourceType, Struct,
    UserStatus, UserStatusValue, UserTrait,
};
use baton_c1z::writer::slim_entitlement;

/// A `member` assignment entitlement on `resource`, grantable to the given types.
pub fn member_entitlement(
    resource: &Resource,
    display_name: String,
    description: String,
    grantable_to: Vec<ResourceType>,
) -> Entitlement {
    assignment_entitlement(resource, MEMBER, display_name, description, grantable_to)
}

/// An assignment entitlement `slug` on `resource`, grantable to the given types.
pub fn assignment_entitlement(
    resource: &Resource,
    slug: &str,
    display_name: String,
    description: String,
    grantable_to: Vec<ResourceType>,
) -> Entitlement {
    let id = resource
        .id
        .as_ref()
        .map(|rid| entitlement_id(rid, slug))
        .unwrap_or_default();
    Entitlement {
        resource: Some(resource.clone()),
        id,
        display_name,
        description,
        grantable_to,
        annotations: Vec::new(),
        purpose: Purpose::Assignment as i32,
        slug: slug.to_owned(),
    }
}

/// A grant of `entitlement` to `principal`, shaped as Baton's `NewGrant` builds it, with the entitlement
/// as a grant row stores it ([`slim_entitlement`]: its id, and its resource's id, parent and display
/// name) and the principal carrying only its id.
pub fn grant(entitlement: &Entitlement, principal: ResourceId) -> Grant {
    Grant {
        entitlement: Some(slim_entitlement(entitlement)),
        id: grant_id(&entitlement.id, &principal),
        principal: Some(Resource {
            id: Some(principal),
            ..Resource::default()
        }),
        annotations: Vec::new(),
        sources: None,
    }
}

/// A `UserTrait` with an optional primary email, a status (always present, as older readers require),
/// an account type, a login and a profile.
pub fn user_trait(
    email: Option<&str>,
    status: UserStatusValue,
    account_type: AccountType,
    login: &str,
    profile: Struct,
) -> UserTrait {
    UserTrait {
        emails: email
            .map(|address| Email {
                address: address.to_owned(),
                is_primary: true,
            })
            .into_iter()
            .collect(),
        status: Some(UserStatus {
            status: status as i32,
            details: String::new(),
        }),
        profile: Some(profile),
        account_type: account_type as i32,
        login: login.to_owned(),
        ..UserTrait::default()
    }
}

/// The first of `candidates` that is present and not blank.
pub fn first_non_blank<'a>(candidates: &[Option<&'a str>]) -> Option<&'a str> {
    candidates
        .iter()
        .flatten()
        .copied()
        .find(|s| !s.trim().is_empty())
}
