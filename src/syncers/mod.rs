//! Turns a [`Snapshot`] into Baton records: resource types, resources, entitlements and grants, in a
//! fixed order of types (parents before children) and sorted within each type.

pub mod api_key;
pub mod assignments;
pub mod deployment;
pub mod deployment_user;
pub mod estate;
pub mod group;
pub mod ids;
pub mod invitation;
pub mod organization;
pub mod project;
pub mod records;
pub mod role;
pub mod role_mapping;
pub mod scope;
pub mod service_account;
pub mod types;
pub mod user;

use crate::snapshot::{DeploymentSnapshot, Snapshot};
use anyhow::Context;
use baton_c1z::proto::ResourceType;
use baton_c1z::{RecordSink, SyncRecords};

/// The resource types, in the order they are written.
pub fn resource_types() -> Vec<ResourceType> {
    types::all()
}

/// All records of one sync, with `GrantExpandable` grants expanded in memory. All ten types are always
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

/// One syncer of a deployment's objects: the deployment, the Cloud deployment it belongs to when
/// known, and where its records go.
type ClusterStep = fn(&DeploymentSnapshot, Option<&str>, &mut dyn RecordSink);

/// The syncers of a deployment's objects, in the order their records are written.
const CLUSTER_STEPS: [ClusterStep; 7] = [
    |cluster, _, out| role::sync(cluster, out),
    |cluster, home, out| estate::sso_grants(home, cluster, out),
    |cluster, _, out| deployment_user::sync(cluster, out),
    |cluster, _, out| role_mapping::sync(cluster, out),
    |cluster, _, out| group::sync(cluster, out),
    |cluster, _, out| service_account::sync(cluster, out),
    |cluster, _, out| api_key::sync(cluster, out),
];

/// Hands every resource, entitlement and direct grant of one sync to `out`, in the order they are
/// written: organizations, deployments (and a placeholder for each configured endpoint that could not
/// be read and is no known Cloud deployment), users (and pending invitations), Serverless projects,
/// then of every configured deployment (by label) roles, deployment users, role mappings, groups,
/// service accounts, API keys, each under its Cloud deployment when it is known (see [`estate`]). The
/// resource types are [`resource_types`]; expansion is left to the sink's owner.
pub fn emit(snapshot: &Snapshot, out: &mut dyn RecordSink) {
    let placement = estate::Placement::of(snapshot);
    let home_ids = placement.home_ids();
    organization::sync(snapshot, out);
    deployment::sync(snapshot, &home_ids, &placement.unread, out);
    placement.unread_placeholders(out);
    user::sync(snapshot, out);
    invitation::sync(snapshot, &home_ids, out);
    project::sync(snapshot, out);
    let names: Vec<Option<&str>> = placement
        .homes
        .iter()
        .map(|home| {
            home.and_then(|id| snapshot.deployments.iter().find(|d| d.id == id))
                .map(|d| d.name.as_str())
        })
        .collect();
    for step in CLUSTER_STEPS {
        for ((cluster, home), name) in snapshot.clusters.iter().zip(&placement.homes).zip(&names) {
            let mut out = estate::ClusterSink::new(*home, cluster, *name, out);
            step(cluster, *home, &mut out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ids::{entitlement_id, grant_id, MEMBER};
    use super::records::{grant, member_entitlement};
    use super::*;
    use baton_c1z::proto::{Resource, ResourceId};

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
    fn all_ten_types_exist_without_any_data() {
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
                "project",
                "role",
                "deploymentUser",
                "roleMapping",
                "group",
                "serviceAccount",
                "apiKey"
            ]
        );
        assert!(records.resources.is_empty() && records.grants.is_empty());
    }
}
