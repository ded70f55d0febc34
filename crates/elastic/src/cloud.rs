//! The Elastic Cloud API: organizations, their members (with their cloud role assignments) and deployments.

use crate::client::{ApiClient, ApiError};
use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes `null` as the type's default (Elastic sends both `null` and absent for empty lists).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

/// Body of `GET /api/v1/organizations`.
#[derive(Debug, Deserialize)]
pub struct OrganizationList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub organizations: Vec<Organization>,
}

/// One member of an organization.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Member {
    pub organization_id: String,
    pub user_id: String,
    #[serde(default)]
    pub member_since: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role_assignments: Option<RoleAssignments>,
}

/// Body of `GET /api/v1/organizations/{id}/members`.
#[derive(Debug, Deserialize)]
pub struct Memberships {
    #[serde(default, deserialize_with = "null_as_default")]
    pub members: Vec<Member>,
}

/// A member's cloud role assignments, by scope. Serialized (as the body of a role-assignment write or an
/// invitation) without the empty scopes and absent fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RoleAssignments {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub platform: Vec<PlatformRoleAssignment>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub organization: Vec<OrganizationRoleAssignment>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deployment: Vec<DeploymentRoleAssignment>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "ProjectRoleAssignments::is_empty"
    )]
    pub project: ProjectRoleAssignments,
}

impl RoleAssignments {
    /// Whether no scope holds an assignment.
    pub fn is_empty(&self) -> bool {
        self.platform.is_empty()
            && self.organization.is_empty()
            && self.deployment.is_empty()
            && self.project.is_empty()
    }
}

/// A platform-scope assignment (Elastic-internal).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PlatformRoleAssignment {
    pub role_id: String,
}

/// An organization-scope assignment such as `organization-admin`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OrganizationRoleAssignment {
    pub role_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// A deployment-scope assignment: for all deployments, or for the listed ones.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DeploymentRoleAssignment {
    pub role_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deployment_ids: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub application_roles: Vec<String>,
}

/// Serverless project assignments, by project kind.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ProjectRoleAssignments {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub elasticsearch: Vec<ProjectRoleAssignment>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub observability: Vec<ProjectRoleAssignment>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security: Vec<ProjectRoleAssignment>,
}

impl ProjectRoleAssignments {
    /// Whether no project kind holds an assignment.
    pub fn is_empty(&self) -> bool {
        self.elasticsearch.is_empty() && self.observability.is_empty() && self.security.is_empty()
    }
}

/// A project-scope assignment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProjectRoleAssignment {
    pub role_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub project_ids: Vec<String>,
    /// Custom roles of the project(s) the member gets on signing in.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub application_roles: Vec<String>,
}

/// One resource of a deployment (Elasticsearch, Kibana, ...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeploymentResource {
    #[serde(default)]
    pub ref_id: Option<String>,
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub cloud_id: Option<String>,
}

/// A deployment as `GET /api/v1/deployments` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<DeploymentResource>,
}

impl Deployment {
    /// The first Elasticsearch resource, which carries the deployment's region and cluster id.
    pub fn elasticsearch(&self) -> Option<&DeploymentResource> {
        self.resources.iter().find(|r| r.kind == "elasticsearch")
    }

    /// The region of the Elasticsearch resource, else of any resource.
    pub fn region(&self) -> Option<&str> {
        self.elasticsearch()
            .and_then(|r| r.region.as_deref())
            .or_else(|| self.resources.iter().find_map(|r| r.region.as_deref()))
    }
}

/// Body of `GET /api/v1/deployments`.
#[derive(Debug, Deserialize)]
pub struct DeploymentList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub deployments: Vec<Deployment>,
}

/// Client of the Elastic Cloud API.
#[derive(Debug)]
pub struct CloudClient {
    pub(crate) api: ApiClient,
}

impl CloudClient {
    /// Wraps an authenticated client whose base URL is the Cloud API root.
    pub fn new(api: ApiClient) -> Self {
        CloudClient { api }
    }

    /// Every organization the key can see (`GET /api/v1/organizations`).
    pub fn organizations(&self) -> Result<Vec<Organization>, ApiError> {
        let list: OrganizationList = self.api.get(&["api", "v1", "organizations"])?;
        Ok(list.organizations)
    }

    /// One organization (`GET /api/v1/organizations/{id}`).
    pub fn organization(&self, id: &str) -> Result<Organization, ApiError> {
        self.api.get(&["api", "v1", "organizations", id])
    }

    /// All members of an organization, in one request.
    pub fn members(&self, organization_id: &str) -> Result<Vec<Member>, ApiError> {
        let list: Memberships =
            self.api
                .get(&["api", "v1", "organizations", organization_id, "members"])?;
        Ok(list.members)
    }

    /// The client underneath, for the requests of [`crate::cloud_admin`].
    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    /// Every deployment the key can see, in one request (`GET /api/v1/deployments`).
    pub fn deployments(&self) -> Result<Vec<Deployment>, ApiError> {
        let list: DeploymentList = self.api.get(&["api", "v1", "deployments"])?;
        Ok(list.deployments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_with_absent_or_null_parts() {
        let body = r#"{"members":[
          {"organization_id":"1","user_id":"u1","member_since":"2023-04-11T09:12:44Z","name":"Ada","email":"ada@x",
           "role_assignments":{"organization":[{"role_id":"organization-admin","organization_id":"1"}],"deployment":[],"project":{}}},
          {"organization_id":"1","user_id":"u2","member_since":"2024-01-30T16:02:10Z",
           "role_assignments":{"deployment":[{"role_id":"deployment-editor","organization_id":"1","all":false,"deployment_ids":["d1"]}],"organization":null}},
          {"organization_id":"1","user_id":"u3","member_since":"2024-01-30T16:02:10Z","name":null}]}"#;
        let m: Memberships = serde_json::from_str(body).expect("parses");
        assert_eq!(m.members.len(), 3);
        let ra = m.members[0].role_assignments.as_ref().expect("ra");
        assert_eq!(ra.organization[0].role_id, "organization-admin");
        let ra = m.members[1].role_assignments.as_ref().expect("ra");
        assert!(ra.organization.is_empty());
        assert_eq!(ra.deployment[0].deployment_ids, ["d1"]);
        assert_eq!(m.members[2].name, None);
        assert!(m.members[2].role_assignments.is_none());
    }

    #[test]
    fn deployments_parse_with_their_resources() {
        let body = r#"{"deployments":[{"id":"d1","name":"prod-logs","resources":[
          {"ref_id":"main-kibana","elasticsearch_cluster_ref_id":"main-elasticsearch","id":"k1","kind":"kibana","region":"gcp-us-central1"},
          {"ref_id":"main-elasticsearch","id":"es1","kind":"elasticsearch","region":"gcp-us-central1","cloud_id":"prod-logs:xyz"}]},
          {"id":"d2","name":"bare","resources":null}]}"#;
        let list: DeploymentList = serde_json::from_str(body).expect("parses");
        let d = &list.deployments[0];
        assert_eq!(d.elasticsearch().map(|r| r.id.as_str()), Some("es1"));
        assert_eq!(d.region(), Some("gcp-us-central1"));
        assert!(list.deployments[1].elasticsearch().is_none());
        assert_eq!(list.deployments[1].region(), None);
    }
}
