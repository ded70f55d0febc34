//! Where the deployment plane sits in the estate: when the Cloud plane lists the deployment whose
//! Elasticsearch resource id is the configured endpoint's `cluster_name` (`GET /`), that deployment's
//! roles, deployment users, role mappings and groups are written as its children. Otherwise (a
//! self-managed cluster, no Cloud key, a deployment outside the synced organizations) they stay top
//! level.
//!
//! On that deployment, each Cloud deployment role also gives a stack role (Cloud SSO): `admin`
//! (Deployment admin, and Organization owner through the organization) gives `superuser`, `editor` gives
//! `editor`, `viewer` gives `viewer`. This is written as a `GrantExpandable` grant of the role's
//! `member` entitlement to the `deployment` resource, naming the deployment entitlement as its source and
//! limited to `user` holders, so expansion gives every Cloud user who holds the deployment entitlement the
//! role, with the deployment entitlement as the grant's source.

use super::deployment;
use super::ids::{self, entitlement_id};
use super::records::{grant, member_entitlement};
use super::role;
use crate::snapshot::{DeploymentSnapshot, Snapshot};
use baton_c1z::proto::{any, Entitlement, Grant, GrantExpandable, Resource, ResourceId};
use baton_c1z::RecordSink;

/// The stack role each `deployment` entitlement slug gives on the deployment through Cloud SSO.
pub const SSO_ROLES: [(&str, &str); 3] = [
    ("admin", "superuser"),
    ("editor", "editor"),
    ("viewer", "viewer"),
];

/// The resource types listed under a deployment whose security API was read.
pub const CHILD_TYPES: [&str; 4] = [
    ids::ROLE,
    ids::DEPLOYMENT_USER,
    ids::ROLE_MAPPING,
    ids::GROUP,
];

/// The id of the Cloud deployment the configured endpoint belongs to, when the sync writes it: its
/// Elasticsearch resource id is the endpoint's `cluster_name`.
pub fn home_deployment(snapshot: &Snapshot) -> Option<&str> {
    let name = snapshot.deployment.as_ref()?.cluster_name.as_deref()?;
    let owners = deployment::owners(snapshot);
    snapshot
        .deployments
        .iter()
        .filter(|d| owners.contains_key(d.id.as_str()))
        .find(|d| {
            d.resources
                .iter()
                .any(|r| r.kind == "elasticsearch" && r.id == name)
        })
        .map(|d| d.id.as_str())
}

/// Sets the parent of every resource handed on (and of the resource inside entitlements and grants) to
/// one deployment, when there is one.
pub struct ParentedSink<'a> {
    parent: Option<ResourceId>,
    inner: &'a mut dyn RecordSink,
}

impl<'a> ParentedSink<'a> {
    /// Hands records on to `inner`, under the deployment `deployment_id` when given.
    pub fn new(deployment_id: Option<&str>, inner: &'a mut dyn RecordSink) -> Self {
        ParentedSink {
            parent: deployment_id.map(|id| ResourceId::new(ids::DEPLOYMENT, id)),
            inner,
        }
    }

    fn adopt(&self, resource: &mut Resource) {
        if resource.parent_resource_id.is_none() {
            resource.parent_resource_id.clone_from(&self.parent);
        }
    }

    fn adopt_entitlement(&self, entitlement: &mut Entitlement) {
        if let Some(resource) = entitlement.resource.as_mut() {
            self.adopt(resource);
        }
    }
}

impl RecordSink for ParentedSink<'_> {
    fn resource(&mut self, mut resource: Resource) {
        self.adopt(&mut resource);
        self.inner.resource(resource);
    }

    fn entitlement(&mut self, mut entitlement: Entitlement) {
        self.adopt_entitlement(&mut entitlement);
        self.inner.entitlement(entitlement);
    }

    fn grant(&mut self, mut grant: Grant) {
        if let Some(entitlement) = grant.entitlement.as_mut() {
            self.adopt_entitlement(entitlement);
        }
        self.inner.grant(grant);
    }
}

/// The expandable grants of the stack roles Cloud SSO gives on the deployment `home` (see the module
/// documentation), for the roles the deployment knows. Handed to the [`ParentedSink`] of the plane, so
/// that the roles carry their parent.
pub fn sso_grants(home: Option<&str>, deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    let Some(home) = home else {
        return;
    };
    let known = role::known_roles(deployment);
    let principal = ResourceId::new(ids::DEPLOYMENT, home);
    for (slug, name) in SSO_ROLES {
        let Some(role) = known.get(name) else {
            continue;
        };
        let entitlement = member_entitlement(
            &role::resource(name, *role),
            String::new(),
            String::new(),
            Vec::new(),
        );
        let mut g = grant(&entitlement, principal.clone());
        g.annotations.push(any(&GrantExpandable {
            entitlement_ids: vec![entitlement_id(&principal, slug)],
            shallow: false,
            resource_type_ids: vec![ids::USER.to_owned()],
        }));
        out.grant(g);
    }
}
