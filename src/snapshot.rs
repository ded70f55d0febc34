//! Fetches every list the sync needs exactly once, into a [`Snapshot`] of sorted collections.

use crate::credentials_fetch::{self, ServiceAccountSnapshot};
use crate::logging;
use anyhow::Context;
use baton_c1z::clock;
use elastic_api::cloud::{CloudClient, Deployment, Member, Organization};
use elastic_api::credentials::ApiKey;
use elastic_api::deployment::{Authentication, DeploymentClient, Profile, Role, RoleMapping, User};
use elastic_api::invitations::Invitation;
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
    /// Active API keys (neither invalidated nor expired), sorted by id; empty when not readable.
    pub api_keys: Vec<ApiKey>,
    /// Service accounts with their token names, keyed `namespace/service`; empty when not readable.
    pub service_accounts: BTreeMap<String, ServiceAccountSnapshot>,
}

/// Everything read from Elastic in one sync.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Organizations, sorted by id.
    pub organizations: Vec<Organization>,
    /// Members by organization id.
    pub members: BTreeMap<String, Vec<Member>>,
    /// Pending (not expired, not accepted) invitations by organization id, sorted by email.
    pub invitations: BTreeMap<String, Vec<Invitation>>,
    /// Whether the key sees organizations that are not synced (with `--organization-id`): the deployment
    /// list then mixes their deployments with the synced organization's.
    pub organizations_outside: bool,
    /// Deployments, sorted by id.
    pub deployments: Vec<Deployment>,
    /// The deployment's security objects, when a deployment is configured.
    pub deployment: Option<DeploymentSnapshot>,
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
        let mut organizations = match organization_id {
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
        for org in &organizations {
            let mut list = cloud
                .members(&org.id)
                .with_context(|| format!("cannot list the members of organization {}", org.id))?;
            list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            progress.fetched("members", list.len());
            members.insert(org.id.clone(), list);
        }
        let mut invitations = BTreeMap::new();
        for org in &organizations {
            let list = credentials_fetch::invitations(cloud, &org.id, clock::now().to_utc())?;
            progress.fetched("invitations", list.len());
            invitations.insert(org.id.clone(), list);
        }

        let organizations_outside = match organization_id {
            Some(id) => cloud
                .organizations()
                .context("cannot list Elastic Cloud organizations (to tell which deployments are those of --organization-id)")?
                .iter()
                .any(|o| o.id != id),
            None => false,
        };

        let mut deployments = cloud
            .deployments()
            .context("cannot list Elastic Cloud deployments")?;
        deployments.sort_by(|a, b| a.id.cmp(&b.id));
        deployments.dedup_by(|a, b| a.id == b.id);
        progress.fetched("deployments", deployments.len());

        let deployment = match deployment {
            Some(client) => Some(fetch_deployment(client, progress)?),
            None => None,
        };
        Ok(Snapshot {
            organizations,
            members,
            invitations,
            organizations_outside,
            deployments,
            deployment,
        })
    }
}

fn fetch_deployment(
    client: &DeploymentClient,
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
    let users = client.users().context("cannot list deployment users")?;
    progress.fetched("users", users.len());
    let roles = client.roles().context("cannot list deployment roles")?;
    progress.fetched("roles", roles.len());
    let role_mappings = client
        .role_mappings()
        .context("cannot list deployment role mappings")?;
    progress.fetched("role mappings", role_mappings.len());
    let profiles = fetch_profiles(client)?;
    progress.fetched("profiles", profiles.len());
    let api_keys = credentials_fetch::api_keys(client, clock::now().timestamp_millis())?;
    progress.fetched("API keys", api_keys.len());
    let service_accounts = credentials_fetch::service_accounts(client)?;
    progress.fetched("service accounts", service_accounts.len());
    Ok(DeploymentSnapshot {
        principal: Some(principal),
        users,
        roles,
        role_mappings,
        profiles,
        api_keys,
        service_accounts,
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
