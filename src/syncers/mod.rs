//! Turns a [`Snapshot`] into Baton records: resource types, resources, entitlements and grants, in a
//! fixed order of types (parents before children) and sorted within each type.

pub mod deployment;
pub mod deployment_user;
pub mod organization;
pub mod role;
pub mod role_mapping;
pub mod user;

use crate::snapshot::{DeploymentSnapshot, Snapshot};
use anyhow::Context;
use baton_c1z::proto::{
    any, AccountType, Email, Entitlement, Grant, Purpose, Resource, ResourceId, ResourceType,
    SkipEntitlementsAndGrants, Struct, Trait, UserStatus, UserStatusValue, UserTrait,
};
use baton_c1z::{RecordSink, SyncRecords};

/// The slug of every membership entitlement.
pub const MEMBER: &str = "member";

/// The resource types, in the order they are written.
pub fn resource_types() -> Vec<ResourceType> {
    vec![
        organization::resource_type(),
        deployment::resource_type(),
        user::resource_type(),
        role::resource_type(),
        deployment_user::resource_type(),
        role_mapping::resource_type(),
    ]
}

/// All records of one sync, with `GrantExpandable` grants expanded in memory. All six types are always
/// present, also without a deployment.
pub fn records(snapshot: &Snapshot) -> anyhow::Result<SyncRecords> {
    let mut out = direct_records(snapshot);
    baton_c1z::expand::expand_records(&mut out).context("expand grants in memory")?;
    Ok(out)
}

/// The records of one sync before expansion: direct grants, some carrying `GrantExpandable`.
pub fn direct_records(snapshot: &Snapshot) -> SyncRecords {
    let mut out = SyncRecords {
        resource_types: resource_types(),
        resources: Vec::new(),
        entitlements: Vec::new(),
        grants: Vec::new(),
    };
    emit(snapshot, &mut out);
    out
}

/// Hands every resource, entitlement and direct grant of one sync to `out`, in the order they are
/// written: organizations, deployments, users, roles, deployment users, role mappings. The resource
/// types are [`resource_types`]; expansion is left to the sink's owner.
pub fn emit(snapshot: &Snapshot, out: &mut dyn RecordSink) {
    organization::sync(snapshot, out);
    deployment::sync(snapshot, out);
    user::sync(snapshot, out);
    let no_deployment = DeploymentSnapshot::default();
    let deployment = snapshot.deployment.as_ref().unwrap_or(&no_deployment);
    role::sync(deployment, out);
    deployment_user::sync(deployment, out);
    role_mapping::sync(deployment, out);
}

/// `<type>:<resource>:<slug>`, Baton's entitlement id.
pub fn entitlement_id(resource: &ResourceId, slug: &str) -> String {
    format!("{}:{}:{slug}", resource.resource_type, resource.resource)
}

/// `<entitlement id>:<principal type>:<principal id>`, Baton's grant id.
pub fn grant_id(entitlement_id: &str, principal: &ResourceId) -> String {
    format!(
        "{entitlement_id}:{}:{}",
        principal.resource_type, principal.resource
    )
}

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

/// A grant of `entitlement` to `principal`, shaped as Baton's `NewGrant` builds it: the entitlement
/// carries only its id and resource, the principal only its id.
pub fn grant(entitlement: &Entitlement, principal: ResourceId) -> Grant {
    Grant {
        entitlement: Some(Entitlement {
            id: entitlement.id.clone(),
            resource: entitlement.resource.clone(),
            ..Entitlement::default()
        }),
        id: grant_id(&entitlement.id, &principal),
        principal: Some(Resource {
            id: Some(principal),
            ..Resource::default()
        }),
        annotations: Vec::new(),
        sources: None,
    }
}

/// A resource type of users: trait USER, and no entitlements or grants of its own.
pub fn user_resource_type(id: &str, display_name: &str) -> ResourceType {
    ResourceType {
        id: id.to_owned(),
        display_name: display_name.to_owned(),
        traits: vec![Trait::User as i32],
        annotations: vec![any(&SkipEntitlementsAndGrants {})],
        ..ResourceType::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_baton_formats_without_escaping() {
        let rid = ResourceId::new("roleMapping", "ops: on-call");
        let eid = entitlement_id(&rid, MEMBER);
        assert_eq!(eid, "roleMapping:ops: on-call:member");
        let principal = ResourceId::new("deploymentUser", "svc ingest");
        assert_eq!(
            grant_id(&eid, &principal),
            "roleMapping:ops: on-call:member:deploymentUser:svc ingest"
        );
    }

    #[test]
    fn grants_carry_only_ids_and_the_entitlement_resource() {
        let resource = Resource {
            id: Some(ResourceId::new("role", "viewer")),
            display_name: "viewer".into(),
            ..Resource::default()
        };
        let ent = member_entitlement(
            &resource,
            "viewer Role member".into(),
            "d".into(),
            vec![deployment_user::resource_type()],
        );
        let g = grant(&ent, ResourceId::new("deploymentUser", "jdoe"));
        assert_eq!(g.id, "role:viewer:member:deploymentUser:jdoe");
        let e = g.entitlement.expect("entitlement");
        assert_eq!(e.id, "role:viewer:member");
        assert_eq!(e.resource, Some(resource));
        assert!(e.display_name.is_empty() && e.grantable_to.is_empty());
        let p = g.principal.expect("principal");
        assert!(p.display_name.is_empty());
    }

    #[test]
    fn all_six_types_exist_without_any_data() {
        let records = records(&Snapshot::default()).expect("expands");
        let ids: Vec<&str> = records
            .resource_types
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "organization",
                "deployment",
                "user",
                "role",
                "deploymentUser",
                "roleMapping"
            ]
        );
        assert!(records.resources.is_empty() && records.grants.is_empty());
    }
}
