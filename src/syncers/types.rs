//! The ten resource types, in the order they are written; the syncers name each other's types (as
//! `grantable_to`) from here.

use super::ids;
use baton_c1z::proto::{any, ResourceType, SkipEntitlementsAndGrants, Trait};

/// All resource types, in the order they are written.
pub fn all() -> Vec<ResourceType> {
    vec![
        organization(),
        deployment(),
        user(),
        project(),
        role(),
        deployment_user(),
        role_mapping(),
        group(),
        service_account(),
        api_key(),
    ]
}

/// The `project` resource type (Serverless projects).
pub fn project() -> ResourceType {
    ResourceType {
        id: ids::PROJECT.to_owned(),
        display_name: "Serverless Project".to_owned(),
        traits: vec![Trait::App as i32],
        ..ResourceType::default()
    }
}

/// The `organization` resource type.
pub fn organization() -> ResourceType {
    ResourceType {
        id: ids::ORGANIZATION.to_owned(),
        display_name: "Organization".to_owned(),
        ..ResourceType::default()
    }
}

/// The `deployment` resource type.
pub fn deployment() -> ResourceType {
    ResourceType {
        id: ids::DEPLOYMENT.to_owned(),
        display_name: "Deployment".to_owned(),
        traits: vec![Trait::App as i32],
        ..ResourceType::default()
    }
}

/// The `user` resource type.
pub fn user() -> ResourceType {
    user_resource_type(ids::USER, "User")
}

/// The `role` resource type.
pub fn role() -> ResourceType {
    ResourceType {
        id: ids::ROLE.to_owned(),
        display_name: "Deployment Role".to_owned(),
        traits: vec![Trait::Role as i32],
        ..ResourceType::default()
    }
}

/// The `deploymentUser` resource type.
pub fn deployment_user() -> ResourceType {
    user_resource_type(ids::DEPLOYMENT_USER, "Deployment User")
}

/// The `roleMapping` resource type.
pub fn role_mapping() -> ResourceType {
    ResourceType {
        id: ids::ROLE_MAPPING.to_owned(),
        display_name: "Role Mapping".to_owned(),
        ..ResourceType::default()
    }
}

/// The `group` resource type: trait GROUP, and no entitlements or grants of its own (its members are
/// known only to the identity provider).
pub fn group() -> ResourceType {
    ResourceType {
        id: ids::GROUP.to_owned(),
        display_name: "Group".to_owned(),
        traits: vec![Trait::Group as i32],
        annotations: vec![any(&SkipEntitlementsAndGrants {})],
        ..ResourceType::default()
    }
}

/// The `serviceAccount` resource type.
pub fn service_account() -> ResourceType {
    user_resource_type(ids::SERVICE_ACCOUNT, "Service Account")
}

/// The `apiKey` resource type: credentials (trait SECRET), each with an `owner` entitlement.
pub fn api_key() -> ResourceType {
    ResourceType {
        id: ids::API_KEY.to_owned(),
        display_name: "API Key".to_owned(),
        traits: vec![Trait::Secret as i32],
        ..ResourceType::default()
    }
}

/// A resource type of users: trait USER, and no entitlements or grants of its own.
fn user_resource_type(id: &str, display_name: &str) -> ResourceType {
    ResourceType {
        id: id.to_owned(),
        display_name: display_name.to_owned(),
        traits: vec![Trait::User as i32],
        annotations: vec![any(&SkipEntitlementsAndGrants {})],
        ..ResourceType::default()
    }
}
