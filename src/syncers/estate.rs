//! Where each configured deployment sits in the estate. When the Cloud plane lists the deployment whose
//! Elasticsearch resource id is the endpoint's `cluster_name` (`GET /`), or the first label of the
//! endpoint's host, that deployment's roles, deployment users, role mappings and groups are written as
//! its children. Otherwise (a self-managed cluster, no Cloud key, a deployment outside the synced
//! organizations) they stay top level.
//!
//! A sync may read several deployments. With one, ids are the Go connector's (`role:viewer`). With
//! several, the objects of each are distinct resources: their ids start with the deployment's label,
//! its endpoint host (`role:prod-logs.es.example.com/viewer`, see [`ids::cluster_id`]), and their
//! display names end with the deployment's name (`viewer (prod-logs)`).
//!
//! On a deployment of the Cloud plane, each Cloud deployment role also gives a stack role (Cloud SSO):
//! `admin` (Deployment admin, and Organization owner through the organization) gives `superuser`,
//! `editor` gives `editor`, `viewer` gives `viewer`. This is written as a `GrantExpandable` grant of the
//! role's `member` entitlement to the `deployment` resource, naming the deployment entitlement as its
//! source and limited to `user` holders, so expansion gives every Cloud user who holds the deployment
//! entitlement the role, with the deployment entitlement as the grant's source.

use super::deployment;
use super::ids::{self, entitlement_id};
use super::records::{grant, member_entitlement};
use super::role;
use crate::snapshot::{DeploymentSnapshot, MissingCluster, Snapshot};
use baton_c1z::proto::{
    any, find_annotation, Annotation, AppTrait, Entitlement, Grant, GrantExpandable,
    ProfileBuilder, Resource, ResourceId, SecretTrait,
};
use baton_c1z::RecordSink;
use std::collections::{BTreeMap, BTreeSet};

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

/// The profile key of a Cloud deployment (or of the placeholder of an endpoint no Cloud deployment is
/// known for) whose configured endpoint could not be read: the error.
pub const UNREAD_KEY: &str = "security_api_unread";

/// Where the configured deployments sit among the Cloud deployments the sync writes, worked out once
/// per sync. A configured deployment belongs to the Cloud deployment whose Elasticsearch resource id is
/// the endpoint's `cluster_name` (`GET /`), else the first label of the endpoint's host
/// (`<es-resource-id>.<region host>`, the form Cloud gives each deployment).
#[derive(Debug, Default)]
pub struct Placement<'a> {
    /// The Cloud deployment of each of the snapshot's clusters, in their order.
    pub homes: Vec<Option<&'a str>>,
    /// The error of each Cloud deployment whose configured endpoint could not be read
    /// (`--continue-on-deployment-error`), found by the endpoint's host.
    pub unread: BTreeMap<&'a str, &'a str>,
    /// The endpoints that could not be read and are no known Cloud deployment.
    pub unplaced: Vec<&'a MissingCluster>,
}

impl<'a> Placement<'a> {
    /// Places the clusters and the missing clusters of `snapshot`.
    pub fn of(snapshot: &'a Snapshot) -> Placement<'a> {
        let owners = deployment::owners(snapshot);
        // Elasticsearch resource id -> Cloud deployment id, for the deployments the sync writes.
        let mut by_es_id: BTreeMap<&str, &str> = BTreeMap::new();
        for d in snapshot
            .deployments
            .iter()
            .filter(|d| owners.contains_key(d.id.as_str()))
        {
            for r in d.resources.iter().filter(|r| r.kind == "elasticsearch") {
                by_es_id.entry(r.id.as_str()).or_insert(d.id.as_str());
            }
        }
        let of_host = |host: &str| {
            host.split(['.', ':'])
                .next()
                .and_then(|first| by_es_id.get(first).copied())
        };
        let homes = snapshot
            .clusters
            .iter()
            .map(|cluster| {
                cluster
                    .cluster_name
                    .as_deref()
                    .and_then(|name| by_es_id.get(name).copied())
                    .or_else(|| cluster.host.as_deref().and_then(of_host))
            })
            .collect();
        let mut unread = BTreeMap::new();
        let mut unplaced = Vec::new();
        for missing in &snapshot.missing_clusters {
            match of_host(&missing.label) {
                Some(id) => {
                    unread.entry(id).or_insert(missing.error.as_str());
                }
                None => unplaced.push(missing),
            }
        }
        Placement {
            homes,
            unread,
            unplaced,
        }
    }

    /// The Cloud deployments that hold a configured deployment's objects.
    pub fn home_ids(&self) -> BTreeSet<&'a str> {
        self.homes.iter().flatten().copied().collect()
    }

    /// A top-level `deployment` resource for each configured endpoint that could not be read and is no
    /// known Cloud deployment, so that the file says which deployment is missing: id and name the
    /// label, the profile its endpoint and error.
    pub fn unread_placeholders(&self, out: &mut dyn RecordSink) {
        for missing in &self.unplaced {
            let profile = ProfileBuilder::new()
                .string("endpoint_host", &missing.label)
                .string(UNREAD_KEY, &missing.error)
                .build();
            out.resource(Resource {
                id: Some(ResourceId::new(ids::DEPLOYMENT, &missing.label)),
                display_name: format!("{} (not read)", missing.label),
                annotations: vec![any(&AppTrait {
                    profile: Some(profile),
                    ..AppTrait::default()
                })],
                ..Resource::default()
            });
        }
    }
}

/// The resource types whose ids and display names carry the deployment when a sync reads several.
pub const CLUSTER_TYPES: [&str; 6] = [
    ids::ROLE,
    ids::DEPLOYMENT_USER,
    ids::ROLE_MAPPING,
    ids::GROUP,
    ids::SERVICE_ACCOUNT,
    ids::API_KEY,
];

/// Hands on the records of one configured deployment: under its Cloud deployment when that is known
/// (the parent of every resource without one, also inside entitlements and grants), and, when the sync
/// reads several deployments, with the deployment's label in the ids of the [`CLUSTER_TYPES`]
/// (`role:<label>/<name>`, see [`ids::cluster_id`]) and its name in their display names
/// (`<name> (<deployment>)`), everywhere an id appears: resources, entitlements, grants, principals,
/// `GrantExpandable` sources and `SecretTrait` owners.
pub struct ClusterSink<'a> {
    parent: Option<ResourceId>,
    /// The label, when ids carry it.
    label: Option<String>,
    /// What display names append, when ids carry the label: ` (<deployment name or label>)`.
    suffix: String,
    inner: &'a mut dyn RecordSink,
}

impl<'a> ClusterSink<'a> {
    /// Hands records on to `inner`, under the Cloud deployment `deployment_id` when given, with the
    /// cluster's label in ids when it has one; `name` is what display names carry then.
    pub fn new(
        deployment_id: Option<&str>,
        cluster: &DeploymentSnapshot,
        name: Option<&str>,
        inner: &'a mut dyn RecordSink,
    ) -> Self {
        let label = cluster.label.clone();
        let suffix = match (&label, name) {
            (Some(_), Some(name)) => format!(" ({name})"),
            (Some(label), None) => format!(" ({label})"),
            (None, _) => String::new(),
        };
        ClusterSink {
            parent: deployment_id.map(|id| ResourceId::new(ids::DEPLOYMENT, id)),
            label,
            suffix,
            inner,
        }
    }

    fn labelled(&self, id: &mut ResourceId) {
        if let Some(label) = &self.label {
            if CLUSTER_TYPES.contains(&id.resource_type.as_str()) {
                id.resource = ids::cluster_id(label, &id.resource);
            }
        }
    }

    fn entitlement_id(&self, id: &str) -> String {
        let Some(label) = &self.label else {
            return id.to_owned();
        };
        for t in CLUSTER_TYPES {
            if let Some(rest) = id.strip_prefix(t).and_then(|r| r.strip_prefix(':')) {
                return format!("{t}:{}", ids::cluster_id(label, rest));
            }
        }
        id.to_owned()
    }

    fn adopt(&self, resource: &mut Resource) {
        let Some(id) = resource.id.as_mut() else {
            return;
        };
        let clustered = CLUSTER_TYPES.contains(&id.resource_type.as_str());
        self.labelled(id);
        if resource.parent_resource_id.is_none() {
            resource.parent_resource_id.clone_from(&self.parent);
        } else if let Some(parent) = resource.parent_resource_id.as_mut() {
            self.labelled(parent);
        }
        if clustered && !self.suffix.is_empty() {
            resource.display_name.push_str(&self.suffix);
            self.relabel_owner(resource);
        }
    }

    /// The owner ids of a `SecretTrait` (API keys) name deployment users and service accounts.
    fn relabel_owner(&self, resource: &mut Resource) {
        for annotation in &mut resource.annotations {
            if !annotation.type_url.ends_with(SecretTrait::TYPE_NAME) {
                continue;
            }
            let Ok(Some(mut secret)) =
                find_annotation::<SecretTrait>(std::slice::from_ref(annotation))
            else {
                continue;
            };
            for id in [secret.created_by_id.as_mut(), secret.identity_id.as_mut()]
                .into_iter()
                .flatten()
            {
                self.labelled(id);
            }
            *annotation = any(&secret);
        }
    }

    fn adopt_entitlement(&self, entitlement: &mut Entitlement) {
        if self.label.is_some() {
            entitlement.id = self.entitlement_id(&entitlement.id);
        }
        if let Some(resource) = entitlement.resource.as_mut() {
            if !self.suffix.is_empty()
                && !entitlement.display_name.is_empty()
                && CLUSTER_TYPES.contains(
                    &resource
                        .id
                        .as_ref()
                        .map_or("", |id| id.resource_type.as_str()),
                )
            {
                if let Some(rest) = entitlement
                    .display_name
                    .strip_prefix(resource.display_name.as_str())
                {
                    entitlement.display_name =
                        format!("{}{}{rest}", resource.display_name, self.suffix);
                }
            }
            self.adopt(resource);
        }
    }
}

impl RecordSink for ClusterSink<'_> {
    fn resource(&mut self, mut resource: Resource) {
        self.adopt(&mut resource);
        self.inner.resource(resource);
    }

    fn entitlement(&mut self, mut entitlement: Entitlement) {
        self.adopt_entitlement(&mut entitlement);
        self.inner.entitlement(entitlement);
    }

    fn grant(&mut self, mut grant: Grant) {
        if self.label.is_some() {
            if let Some(principal) = grant.principal.as_mut() {
                if let Some(id) = principal.id.as_mut() {
                    self.labelled(id);
                }
            }
            for annotation in &mut grant.annotations {
                if !annotation.type_url.ends_with(GrantExpandable::TYPE_NAME) {
                    continue;
                }
                if let Ok(Some(mut expandable)) =
                    find_annotation::<GrantExpandable>(std::slice::from_ref(annotation))
                {
                    for id in &mut expandable.entitlement_ids {
                        *id = self.entitlement_id(id);
                    }
                    *annotation = any(&expandable);
                }
            }
        }
        if let Some(entitlement) = grant.entitlement.as_mut() {
            self.adopt_entitlement(entitlement);
        }
        if self.label.is_some() {
            if let (Some(entitlement), Some(principal)) = (
                grant.entitlement.as_ref(),
                grant.principal.as_ref().and_then(|p| p.id.as_ref()),
            ) {
                grant.id = ids::grant_id(&entitlement.id, principal);
            }
        }
        self.inner.grant(grant);
    }
}

/// The expandable grants of the stack roles Cloud SSO gives on the deployment `home` (see the module
/// documentation), for the roles the deployment knows. Handed to the [`ClusterSink`] of the
/// deployment, so that the roles carry their parent (and label).
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

#[cfg(test)]
mod tests {
    use super::*;
    use baton_c1z::proto::{Resource, SecretTrait};
    use baton_c1z::SyncRecords;
    use elastic_api::cloud::{Deployment, Organization};

    fn snapshot() -> Snapshot {
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "id": "d1", "name": "prod-logs",
            "resources": [{"ref_id": "main-elasticsearch", "id": "abc123", "kind": "elasticsearch"}]
        }))
        .expect("deployment");
        Snapshot {
            organizations: vec![Organization {
                id: "o1".into(),
                name: "Org".into(),
            }],
            deployments: vec![deployment],
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_endpoint_host_names_the_deployment_when_get_root_does_not() {
        let mut snapshot = snapshot();
        let cluster = |name: Option<&str>, host: &str| DeploymentSnapshot {
            cluster_name: name.map(str::to_owned),
            host: Some(host.to_owned()),
            ..DeploymentSnapshot::default()
        };
        snapshot.clusters = vec![
            cluster(None, "abc123.us-central1.gcp.cloud.es.io"),
            cluster(None, "abc123:9243"),
            cluster(None, "prod-logs-x1.es.example"),
            // A `cluster_name` no deployment has leaves the host to tell.
            cluster(Some("zzz"), "abc123.es.example"),
            cluster(Some("zzz"), "127.0.0.1:9200"),
            cluster(Some("abc123"), "127.0.0.1:9200"),
        ];
        assert_eq!(
            Placement::of(&snapshot).homes,
            [Some("d1"), Some("d1"), None, Some("d1"), None, Some("d1")]
        );
    }

    #[test]
    fn an_unread_deployment_is_recorded_on_its_cloud_deployment_or_in_a_placeholder() {
        let mut snapshot = snapshot();
        snapshot.missing_clusters = vec![
            crate::snapshot::MissingCluster {
                label: "abc123.es.example".into(),
                error: "HTTP 500".into(),
            },
            crate::snapshot::MissingCluster {
                label: "es9.internal:9200".into(),
                error: "connection refused".into(),
            },
        ];
        let placement = Placement::of(&snapshot);
        assert_eq!(placement.unread.get("d1").copied(), Some("HTTP 500"));
        let mut out = SyncRecords::default();
        placement.unread_placeholders(&mut out);
        let ids: Vec<_> = out.resources.iter().map(|r| r.id.clone()).collect();
        assert_eq!(
            ids,
            [Some(ResourceId::new(ids::DEPLOYMENT, "es9.internal:9200"))]
        );
        assert_eq!(
            out.resources[0].display_name,
            "es9.internal:9200 (not read)"
        );
    }

    #[test]
    fn a_labelled_sink_puts_the_label_in_every_id_of_the_deployment() {
        let cluster = DeploymentSnapshot {
            label: Some("es1:9200".into()),
            ..DeploymentSnapshot::default()
        };
        let mut out = SyncRecords::default();
        let mut sink = ClusterSink::new(Some("d1"), &cluster, Some("prod-logs"), &mut out);
        let owner = ResourceId::new(ids::DEPLOYMENT_USER, "jdoe");
        sink.resource(Resource {
            id: Some(ResourceId::new(ids::API_KEY, "k1")),
            display_name: "key".into(),
            annotations: vec![any(&SecretTrait {
                created_by_id: Some(owner.clone()),
                identity_id: Some(owner.clone()),
                ..SecretTrait::default()
            })],
            ..Resource::default()
        });
        let mapping = Resource {
            id: Some(ResourceId::new(ids::ROLE_MAPPING, "m")),
            display_name: "m".into(),
            ..Resource::default()
        };
        let role = role::resource("viewer", None);
        let entitlement =
            member_entitlement(&role, "viewer Role member".into(), String::new(), vec![]);
        sink.entitlement(entitlement.clone());
        let mut g = grant(&entitlement, mapping.id.clone().expect("id"));
        g.annotations.push(any(&GrantExpandable {
            entitlement_ids: vec!["roleMapping:m:member".into(), "deployment:d1:admin".into()],
            shallow: false,
            resource_type_ids: vec![],
        }));
        sink.grant(g);
        drop(sink);

        let key = &out.resources[0];
        assert_eq!(key.id, Some(ResourceId::new(ids::API_KEY, "es1:9200/k1")));
        assert_eq!(key.display_name, "key (prod-logs)");
        assert_eq!(
            key.parent_resource_id,
            Some(ResourceId::new(ids::DEPLOYMENT, "d1"))
        );
        let secret: SecretTrait = find_annotation(&key.annotations)
            .expect("decodes")
            .expect("secret");
        let labelled = ResourceId::new(ids::DEPLOYMENT_USER, "es1:9200/jdoe");
        assert_eq!(secret.created_by_id.as_ref(), Some(&labelled));
        assert_eq!(secret.identity_id.as_ref(), Some(&labelled));

        let e = &out.entitlements[0];
        assert_eq!(e.id, "role:es1:9200/viewer:member");
        assert_eq!(e.display_name, "viewer (prod-logs) Role member");
        let g = &out.grants[0];
        assert_eq!(g.id, "role:es1:9200/viewer:member:roleMapping:es1:9200/m");
        let expandable: GrantExpandable = find_annotation(&g.annotations)
            .expect("decodes")
            .expect("expandable");
        assert_eq!(
            expandable.entitlement_ids,
            ["roleMapping:es1:9200/m:member", "deployment:d1:admin"]
        );
    }
}
