//! Fetches every list the sync needs exactly once, into a [`Snapshot`] of sorted collections.

use crate::credentials_fetch::{self, ServiceAccountSnapshot};
use crate::logging;
use anyhow::Context;
use baton_c1z::clock;
use elastic_api::cloud::{CloudClient, Deployment, Member, Organization};
use elastic_api::cloud_admin::Invitation;
use elastic_api::cluster::EsVersion;
use elastic_api::credentials::ApiKey;
use elastic_api::deployment::{Authentication, DeploymentClient, Profile, Role, RoleMapping, User};
use elastic_api::serverless::{Project, PROJECT_TYPES};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a deployment's security API holds.
#[derive(Debug, Clone, Default)]
pub struct DeploymentSnapshot {
    /// The deployment's label (its endpoint host) when the sync reads several deployments: the ids of
    /// its objects then start with `<label>/`. `None` with one deployment, whose ids are unprefixed.
    pub label: Option<String>,
    /// The endpoint's host (with its port when the URL names one), also with one deployment.
    pub host: Option<String>,
    /// `cluster_name` of `GET /`: on Elastic Cloud the Elasticsearch resource id of the deployment, which
    /// tells which Cloud deployment this is. `None` when `GET /` did not answer.
    pub cluster_name: Option<String>,
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
    /// Serverless projects of every type, sorted by id; empty when the key may not read them.
    pub projects: Vec<Project>,
    /// The security objects of each configured deployment, sorted by label (one unlabelled deployment
    /// when only one is configured).
    pub clusters: Vec<DeploymentSnapshot>,
    /// The deployments that could not be read (with `--continue-on-deployment-error`), sorted by label.
    pub missing_clusters: Vec<MissingCluster>,
}

/// A configured deployment whose security API could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingCluster {
    /// Its label (endpoint host).
    pub label: String,
    /// Why, as the error said it.
    pub error: String,
}

/// One configured deployment to read, with its label (see [`DeploymentSnapshot::label`]).
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    pub label: &'a str,
    pub client: &'a DeploymentClient,
}

/// How many deployments' security APIs are read at the same time.
pub const CONCURRENT_CLUSTERS: usize = 4;

/// Which lists a sync reads. A list left out is not requested and stays empty in the [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// `GET /api/v1/organizations` (or the one organization of `--organization-id`).
    pub organizations: bool,
    /// The members list of each organization (needs the organizations).
    pub members: bool,
    /// `GET /api/v1/deployments`.
    pub deployments: bool,
    /// `GET /api/v1/serverless/projects/<type>`, one per project type.
    pub projects: bool,
    /// `GET /_security/user`.
    pub users: bool,
    /// `GET /_security/role`.
    pub roles: bool,
    /// `GET /_security/role_mapping`.
    pub role_mappings: bool,
    /// `POST /_security/profile/_suggest`.
    pub profiles: bool,
    /// The pending invitations of each organization (needs the organizations).
    pub invitations: bool,
    /// The deployment's API keys.
    pub api_keys: bool,
    /// The deployment's service accounts and their tokens.
    pub service_accounts: bool,
}

impl Needs {
    /// Every list: a full sync.
    pub const ALL: Needs = Needs {
        organizations: true,
        members: true,
        deployments: true,
        projects: true,
        users: true,
        roles: true,
        role_mappings: true,
        profiles: true,
        invitations: true,
        api_keys: true,
        service_accounts: true,
    };

    /// Nothing at all.
    pub const NONE: Needs = Needs {
        organizations: false,
        members: false,
        deployments: false,
        projects: false,
        users: false,
        roles: false,
        role_mappings: false,
        profiles: false,
        invitations: false,
        api_keys: false,
        service_accounts: false,
    };

    /// Whether any list of the deployment's security API is read (then `_authenticate` is called first).
    pub fn deployment(&self) -> bool {
        self.users
            || self.roles
            || self.role_mappings
            || self.profiles
            || self.api_keys
            || self.service_accounts
    }

    /// Both sets of lists.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            organizations: self.organizations || other.organizations,
            members: self.members || other.members,
            deployments: self.deployments || other.deployments,
            projects: self.projects || other.projects,
            users: self.users || other.users,
            roles: self.roles || other.roles,
            role_mappings: self.role_mappings || other.role_mappings,
            profiles: self.profiles || other.profiles,
            invitations: self.invitations || other.invitations,
            api_keys: self.api_keys || other.api_keys,
            service_accounts: self.service_accounts || other.service_accounts,
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
        let clusters: Vec<Cluster<'_>> = deployment
            .map(|client| Cluster { label: "", client })
            .into_iter()
            .collect();
        Snapshot::fetch_planes(
            Some(cloud),
            &clusters,
            false,
            organization_id,
            &Needs::ALL,
            progress,
        )
    }

    /// Reads the lists `needs` names, one request per list (the others stay empty), of Elastic Cloud when
    /// `cloud` is given and of each deployment of `clusters`: either plane alone, or both. Without Cloud
    /// there are no organizations, members or deployments. One deployment is read after Cloud; several
    /// are read at the same time as Cloud and as each other (at most [`CONCURRENT_CLUSTERS`] at once). A deployment that cannot be read
    /// fails the fetch, or with `continue_on_error` is recorded in [`Snapshot::missing_clusters`] with
    /// a warning.
    pub fn fetch_planes(
        cloud: Option<&CloudClient>,
        clusters: &[Cluster<'_>],
        continue_on_error: bool,
        organization_id: Option<&str>,
        needs: &Needs,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Snapshot> {
        let clusters = if needs.deployment() { clusters } else { &[] };
        let fetch_cloud = |progress: &mut dyn Progress| match cloud {
            Some(cloud) => fetch_cloud(cloud, organization_id, needs, progress),
            None => Ok(Snapshot::default()),
        };
        let (snapshot, read) = match clusters {
            [] => (fetch_cloud(progress), Vec::new()),
            // One deployment is read after Cloud, so that a Cloud failure sends it no request.
            [one] => {
                let snapshot = fetch_cloud(progress)?;
                let result = fetch_deployment(one.client, needs, progress);
                (Ok(snapshot), vec![(0, result, Vec::new())])
            }
            _ => fetch_concurrently(clusters, needs, || fetch_cloud(progress)),
        };
        let mut snapshot = snapshot?;
        let labelled = clusters.len() > 1;
        for (i, result, lists) in read {
            for (list, count) in lists {
                progress.fetched(&list, count);
            }
            let label = clusters[i].label;
            match result {
                Ok(mut cluster) => {
                    cluster.label = labelled.then(|| label.to_owned());
                    cluster.host = Some(label.to_owned()).filter(|l| !l.is_empty());
                    snapshot.clusters.push(cluster);
                }
                Err(e) if continue_on_error => {
                    let error = format!("{e:#}");
                    logging::warn(
                        "a deployment could not be read; the file holds the others and records this one as missing (--continue-on-deployment-error)",
                        &[
                            ("deployment", Value::from(label)),
                            ("error", Value::from(error.as_str())),
                        ],
                    );
                    snapshot.missing_clusters.push(MissingCluster {
                        label: label.to_owned(),
                        error,
                    });
                }
                Err(e) if labelled => {
                    return Err(e.context(format!(
                        "cannot read deployment {label} (--continue-on-deployment-error writes the others)"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        snapshot.clusters.sort_by(|a, b| a.label.cmp(&b.label));
        snapshot
            .missing_clusters
            .sort_by(|a, b| a.label.cmp(&b.label));
        Ok(snapshot)
    }
}

/// What reading one deployment gave: its index among the clusters, the result and the lists it read.
type ClusterRead = (
    usize,
    anyhow::Result<DeploymentSnapshot>,
    Vec<(String, usize)>,
);

/// Reads several deployments at the same time, at most [`CONCURRENT_CLUSTERS`] at once, while
/// `cloud` runs on this thread; the deployments' results in the order of `clusters`.
fn fetch_concurrently<T>(
    clusters: &[Cluster<'_>],
    needs: &Needs,
    cloud: impl FnOnce() -> T,
) -> (T, Vec<ClusterRead>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (cloud, mut read): (T, Vec<ClusterRead>) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clusters.len().min(CONCURRENT_CLUSTERS))
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(cluster) = clusters.get(i) else {
                            break done;
                        };
                        let mut lists = Fetched::default();
                        let result =
                            logging::with_field("deployment", Value::from(cluster.label), || {
                                fetch_deployment(cluster.client, needs, &mut lists)
                            });
                        done.push((i, result, lists.0));
                    }
                })
            })
            .collect();
        let cloud = cloud();
        let read = workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        (cloud, read)
    });
    read.sort_by_key(|(i, _, _)| *i);
    (cloud, read)
}

/// The lists one deployment's fetch read (on its own thread), reported once the fetch is joined.
#[derive(Debug, Default)]
struct Fetched(Vec<(String, usize)>);

impl Progress for Fetched {
    fn fetched(&mut self, list: &str, count: usize) {
        self.0.push((list.to_owned(), count));
    }
}

fn fetch_cloud(
    cloud: &CloudClient,
    organization_id: Option<&str>,
    needs: &Needs,
    progress: &mut dyn Progress,
) -> anyhow::Result<Snapshot> {
    let needs_organizations = needs.organizations
        || needs.members
        || needs.deployments
        || needs.invitations
        || needs.projects;
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
    let mut invitations = BTreeMap::new();
    for org in organizations.iter().filter(|_| needs.invitations) {
        let list = credentials_fetch::invitations(cloud, &org.id, clock::now().to_utc())?;
        progress.fetched("invitations", list.len());
        invitations.insert(org.id.clone(), list);
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

    let projects = if needs.projects {
        fetch_projects(cloud, progress)?
    } else {
        Vec::new()
    };

    Ok(Snapshot {
        organizations,
        members,
        invitations,
        organizations_outside,
        deployments,
        projects,
        clusters: Vec::new(),
        missing_clusters: Vec::new(),
    })
}

/// The Serverless projects of every type, one request per type. A key without Serverless access
/// (401, 403 or 404 on a list) gives a warning and no projects of that type.
fn fetch_projects(
    cloud: &CloudClient,
    progress: &mut dyn Progress,
) -> anyhow::Result<Vec<Project>> {
    let mut projects = Vec::new();
    for project_type in PROJECT_TYPES {
        match cloud.projects(project_type) {
            Ok(list) => projects.extend(list),
            Err(e) if matches!(e.status(), Some(401 | 403 | 404)) => {
                logging::warn(
                    "Serverless projects are not readable with this Cloud API key; the file holds none of this type",
                    &[
                        ("project_type", Value::from(project_type)),
                        ("error", Value::from(e.to_string())),
                    ],
                );
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot list Elastic Cloud Serverless {project_type} projects")
                })
            }
        }
    }
    projects.sort_by(|a, b| a.id.cmp(&b.id));
    projects.dedup_by(|a, b| a.id == b.id);
    progress.fetched("projects", projects.len());
    Ok(projects)
}

/// The cluster's version from `GET /`, or `None` (said once at info level) when the answer does not tell
/// it: a credential without the `monitor` privilege (403), a proxy or fake without the route, a number
/// that does not parse. A rejected credential (401) and transport failures stop the sync.
/// The cluster's version and `cluster_name` from `GET /`.
fn cluster_version(
    client: &DeploymentClient,
) -> anyhow::Result<(Option<EsVersion>, Option<String>)> {
    let unknown = |why: String, name: Option<String>| {
        logging::info(
            "the Elasticsearch version is unknown; reading users with GET /_security/user and trying user profiles",
            &[("reason", Value::from(why))],
        );
        Ok((None, name))
    };
    match client.cluster_info() {
        Ok(info) => match info.version() {
            Some(version) => {
                let name = Some(info.cluster_name.clone()).filter(|n| !n.is_empty());
                logging::info(
                    "connected to Elasticsearch",
                    &[
                        ("version", Value::from(version.to_string())),
                        ("cluster_name", Value::from(info.cluster_name.as_str())),
                    ],
                );
                Ok((Some(version), name))
            }
            None => unknown(
                format!(
                    "GET / gave the version number {:?}, which does not parse",
                    info.version.number
                ),
                Some(info.cluster_name.clone()).filter(|n| !n.is_empty()),
            ),
        },
        Err(e) if e.status() == Some(403) => unknown(
            format!("{e}; an API key or user needs the monitor cluster privilege to read GET /"),
            None,
        ),
        Err(e) if e.status().is_some_and(|s| s != 401 && s < 500) => unknown(e.to_string(), None),
        Err(e) => Err(e).context("cannot reach the deployment (GET /, which gives its version)"),
    }
}

fn fetch_deployment(
    client: &DeploymentClient,
    needs: &Needs,
    progress: &mut dyn Progress,
) -> anyhow::Result<DeploymentSnapshot> {
    let (version, cluster_name) = cluster_version(client)?;
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
    let users = match version {
        _ if !needs.users => BTreeMap::new(),
        Some(version) if version.has_query_user() => client
            .users_paged()
            .context("cannot list deployment users")?,
        known => {
            if let Some(version) = known {
                logging::info(
                    "reading users in one request with GET /_security/user: paging with POST /_security/_query/user needs Elasticsearch 8.14 or later",
                    &[("version", Value::from(version.to_string()))],
                );
            }
            client.users().context("cannot list deployment users")?
        }
    };
    if needs.users {
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
    let profiles = match version {
        _ if !needs.profiles => Vec::new(),
        Some(version) if !version.has_user_profiles() => {
            logging::info(
                "skipping user profiles: Elasticsearch has them from 8.2; users of external realms are known only from role mappings",
                &[("version", Value::from(version.to_string()))],
            );
            Vec::new()
        }
        _ => fetch_profiles(client)?,
    };
    if needs.profiles {
        progress.fetched("profiles", profiles.len());
    }
    let mut api_keys = Vec::new();
    if needs.api_keys {
        api_keys = credentials_fetch::api_keys(client, version, clock::now().timestamp_millis())?;
        progress.fetched("API keys", api_keys.len());
    }
    let mut service_accounts = BTreeMap::new();
    if needs.service_accounts {
        service_accounts = credentials_fetch::service_accounts(client)?;
        progress.fetched("service accounts", service_accounts.len());
    }
    Ok(DeploymentSnapshot {
        label: None,
        host: None,
        cluster_name,
        principal: Some(principal),
        users,
        roles,
        role_mappings,
        profiles,
        api_keys,
        service_accounts,
    })
}

/// User profiles, best effort: a key that may not read them (403), or a cluster without the API (400, 404, 410),
/// gives a warning and no profiles; a list cut at the request's size gives a warning too.
fn fetch_profiles(client: &DeploymentClient) -> anyhow::Result<Vec<Profile>> {
    let answer = match client.profiles() {
        Ok(answer) => answer,
        // 400 and 410: a cluster without the API (Elasticsearch before 8.2 answers an unknown endpoint
        // with 400; serverless with 410).
        Err(e) if matches!(e.status(), Some(400 | 403 | 404 | 410)) => {
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
