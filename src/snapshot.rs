//! Fetches every list the sync needs exactly once, into a [`Snapshot`] of sorted collections.

use crate::logging;
use anyhow::Context;
use elastic_api::cloud::{CloudClient, Deployment, Member, Organization};
use elastic_api::deployment::{Authentication, DeploymentClient, Profile, Role, RoleMapping, User};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a deployment's security API holds.
#[derive(Debug, Clone, Default)]
pub struct DeploymentSnapshot {
    pub principal: Option<Authentication>,
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    pub role_mappings: BTreeMap<String, RoleMapping>,
    /// User profiles (users who logged in to Kibana), sorted by uid; empty when they could not be read.
    pub profiles: Vec<Profile>,
}

/// Everything read from Elastic in one sync.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Organizations, sorted by id.
    pub organizations: Vec<Organization>,
    /// Members by organization id.
    pub members: BTreeMap<String, Vec<Member>>,
    /// Whether the key sees organizations that are not synced (with `--organization-id`): the deployment
    /// list then mixes their deployments with the synced organization's.
    pub organizations_outside: bool,
    /// Deployments, sorted by id.
    pub deployments: Vec<Deployment>,
    /// The deployment's security objects, when a deployment is configured.
    pub deployment: Option<DeploymentSnapshot>,
}

/// Which lists a sync reads. A list left out is not requested and stays empty in the [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// `GET /api/v1/organizations` (or the one organization of `--organization-id`).
    pub organizations: bool,
    /// The members list of each organization (needs the organizations).
    pub members: bool,
    /// `GET /api/v1/deployments`.
    pub deployments: bool,
    /// `GET /_security/user`.
    pub users: bool,
    /// `GET /_security/role`.
    pub roles: bool,
    /// `GET /_security/role_mapping`.
    pub role_mappings: bool,
    /// `POST /_security/profile/_suggest`.
    pub profiles: bool,
}

impl Needs {
    /// Every list: a full sync.
    pub const ALL: Needs = Needs {
        organizations: true,
        members: true,
        deployments: true,
        users: true,
        roles: true,
        role_mappings: true,
        profiles: true,
    };

    /// Nothing at all.
    pub const NONE: Needs = Needs {
        organizations: false,
        members: false,
        deployments: false,
        users: false,
        roles: false,
        role_mappings: false,
        profiles: false,
    };

    /// Whether any list of the deployment's security API is read (then `_authenticate` is called first).
    pub fn deployment(&self) -> bool {
        self.users || self.roles || self.role_mappings || self.profiles
    }

    /// Both sets of lists.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            organizations: self.organizations || other.organizations,
            members: self.members || other.members,
            deployments: self.deployments || other.deployments,
            users: self.users || other.users,
            roles: self.roles || other.roles,
            role_mappings: self.role_mappings || other.role_mappings,
            profiles: self.profiles || other.profiles,
        }
    }
}

/// One step of the fetch, reported to the caller (for progress display).
pub trait Progress {
    /// A list was fetched: its name and how many items it held.
    fn fetched(&mut self, list: &str, count: usize);

    /// A step other than fetching began (e.g. writing the file).
    fn step(&mut self, _name: &str) {}
}

impl Progress for () {
    fn fetched(&mut self, _list: &str, _count: usize) {}
}

impl Snapshot {
    /// Reads Elastic Cloud (and the deployment, when given), one request per list.
    pub fn fetch(
        cloud: &CloudClient,
        deployment: Option<&DeploymentClient>,
        organization_id: Option<&str>,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Snapshot> {
        Snapshot::fetch_some(cloud, deployment, organization_id, &Needs::ALL, progress)
    }

    /// Reads the lists `needs` names, one request per list; the others stay empty.
    pub fn fetch_some(
        cloud: &CloudClient,
        deployment: Option<&DeploymentClient>,
        organization_id: Option<&str>,
        needs: &Needs,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Snapshot> {
        let needs_organizations = needs.organizations || needs.members || needs.deployments;
        let mut organizations = match organization_id {
            _ if !needs_organizations => Vec::new(),
            Some(id) => vec![cloud
                .organization(id)
                .with_context(|| format!("cannot read organization {id} (--organization-id)"))?],
            None => cloud
                .organizations()
                .context("cannot list Elastic Cloud organizations")?,
        };
        organizations.sort_by(|a, b| a.id.cmp(&b.id));
        organizations.dedup_by(|a, b| a.id == b.id);
        progress.fetched("organizations", organizations.len());

        let mut members = BTreeMap::new();
        for org in organizations
            .iter()
            .filter(|_| needs.members || needs.deployments)
        {
            let mut list = cloud
                .members(&org.id)
                .with_context(|| format!("cannot list the members of organization {}", org.id))?;
            list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            progress.fetched("members", list.len());
            members.insert(org.id.clone(), list);
        }

        let organizations_outside = match organization_id {
            Some(_) if !needs.deployments => false,
            Some(id) => cloud
                .organizations()
                .context("cannot list Elastic Cloud organizations (to tell which deployments are those of --organization-id)")?
                .iter()
                .any(|o| o.id != id),
            None => false,
        };

        let mut deployments = if needs.deployments {
            cloud
                .deployments()
                .context("cannot list Elastic Cloud deployments")?
        } else {
            Vec::new()
        };
        deployments.sort_by(|a, b| a.id.cmp(&b.id));
        deployments.dedup_by(|a, b| a.id == b.id);
        if needs.deployments {
            progress.fetched("deployments", deployments.len());
        }

        let deployment = match deployment {
            Some(client) if needs.deployment() => Some(fetch_deployment(client, needs, progress)?),
            _ => None,
        };
        Ok(Snapshot {
            organizations,
            members,
            organizations_outside,
            deployments,
            deployment,
        })
    }
}

fn fetch_deployment(
    client: &DeploymentClient,
    needs: &Needs,
    progress: &mut dyn Progress,
) -> anyhow::Result<DeploymentSnapshot> {
    let principal = client
        .authenticate()
        .context("cannot authenticate to the deployment")?;
    logging::debug(
        "authenticated to the deployment",
        &[
            ("username", Value::from(principal.username.as_str())),
            (
                "authentication_type",
                Value::from(principal.authentication_type.as_deref().unwrap_or("")),
            ),
        ],
    );
    let mut users = BTreeMap::new();
    if needs.users {
        users = client.users().context("cannot list deployment users")?;
        progress.fetched("users", users.len());
    }
    let mut roles = BTreeMap::new();
    if needs.roles {
        roles = client.roles().context("cannot list deployment roles")?;
        progress.fetched("roles", roles.len());
    }
    let mut role_mappings = BTreeMap::new();
    if needs.role_mappings {
        role_mappings = client
            .role_mappings()
            .context("cannot list deployment role mappings")?;
        progress.fetched("role mappings", role_mappings.len());
    }
    let mut profiles = Vec::new();
    if needs.profiles {
        profiles = fetch_profiles(client)?;
        progress.fetched("profiles", profiles.len());
    }
    Ok(DeploymentSnapshot {
        principal: Some(principal),
        users,
        roles,
        role_mappings,
        profiles,
    })
}

/// User profiles, best effort: a key that may not read them (403), or a cluster without the API (404),
/// gives a warning and no profiles; a list cut at the request's size gives a warning too.
fn fetch_profiles(client: &DeploymentClient) -> anyhow::Result<Vec<Profile>> {
    let answer = match client.profiles() {
        Ok(answer) => answer,
        Err(e) if matches!(e.status(), Some(403 | 404)) => {
            logging::warn(
                "user profiles are not readable; users of external realms are known only from role mappings",
                &[("error", Value::from(e.to_string()))],
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).context("cannot list deployment user profiles"),
    };
    let mut profiles = answer.profiles;
    if answer.total.value > profiles.len() as u64 {
        logging::warn(
            "the user profile list is partial: the API returns at most one page",
            &[
                ("total", Value::from(answer.total.value)),
                ("returned", Value::from(profiles.len())),
            ],
        );
    }
    profiles.sort_by(|a, b| a.uid.cmp(&b.uid));
    profiles.dedup_by(|a, b| a.uid == b.uid);
    Ok(profiles)
}
