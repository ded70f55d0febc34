//! Where the deployment plane sits in the estate: when the Cloud plane lists the deployment whose
//! Elasticsearch resource id is the configured endpoint's `cluster_name` (`GET /`), that deployment's
//! roles, deployment users, role mappings and groups are written as its children. Otherwise (a
//! self-managed cluster, no Cloud key, a deployment outside the synced organizations) they stay top
//! level.

use super::deployment;
use super::ids;
use crate::snapshot::Snapshot;
use baton_c1z::proto::{Entitlement, Grant, Resource, ResourceId};
use baton_c1z::RecordSink;

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
