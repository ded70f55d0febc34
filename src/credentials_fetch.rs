//! Fetches the credential lists of a sync: the deployment's API keys and service accounts, and each
//! organization's pending invitations. Each is best effort where a key may lack the privilege: a 403
//! is a warning and an empty list, never a failed sync.

use crate::logging;
use anyhow::Context;
use elastic_api::client::ApiError;
use elastic_api::cloud::CloudClient;
use elastic_api::cloud_admin::Invitation;
use elastic_api::cluster::EsVersion;
use elastic_api::credentials::{ApiKey, ServiceAccount, ServiceCredentials, API_KEY_PAGE_SIZE};
use elastic_api::deployment::DeploymentClient;
use serde_json::Value;
use std::collections::BTreeMap;

/// A service account with the names of its tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccountSnapshot {
    pub account: ServiceAccount,
    /// `None` when its credentials could not be read.
    pub credentials: Option<ServiceCredentials>,
}

fn forbidden(e: &ApiError) -> bool {
    e.status() == Some(403)
}

/// The active API keys, sorted by id: invalidated keys and keys expired at `now_ms` are left out,
/// and how many of each were is logged.
pub fn api_keys(
    client: &DeploymentClient,
    version: Option<EsVersion>,
    now_ms: i64,
) -> anyhow::Result<Vec<ApiKey>> {
    let list = match client.api_keys(API_KEY_PAGE_SIZE, version) {
        Ok(list) => list,
        Err(e) if forbidden(&e) => {
            logging::warn(
                "API keys are not readable; the sync goes on without them",
                &[("error", Value::from(e.to_string()))],
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).context("cannot list the deployment's API keys"),
    };
    if !list.with_limited_by {
        logging::info(
            "the API keys' owner privileges (limited_by) are not readable: that needs the manage_api_key privilege or Elasticsearch 8.5",
            &[],
        );
    }
    let total = list.keys.len();
    let invalidated = list.keys.iter().filter(|k| k.invalidated).count();
    let expired = list
        .keys
        .iter()
        .filter(|k| !k.invalidated && k.expired_at(now_ms))
        .count();
    let mut keys: Vec<ApiKey> = list
        .keys
        .into_iter()
        .filter(|k| !k.invalidated && !k.expired_at(now_ms))
        .collect();
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    keys.dedup_by(|a, b| a.id == b.id);
    logging::info(
        "read the deployment's API keys; invalidated and expired keys are left out",
        &[
            ("listed", Value::from(total)),
            ("active", Value::from(keys.len())),
            ("invalidated", Value::from(invalidated)),
            ("expired", Value::from(expired)),
            ("requests", Value::from(list.requests)),
        ],
    );
    Ok(keys)
}

/// The service accounts with their token names: one request for the list and one per account for
/// its credentials (the API has no request for all of them).
pub fn service_accounts(
    client: &DeploymentClient,
) -> anyhow::Result<BTreeMap<String, ServiceAccountSnapshot>> {
    let accounts = match client.service_accounts() {
        Ok(accounts) => accounts,
        Err(e) if matches!(e.status(), Some(403 | 404 | 410)) => {
            logging::warn(
                "service accounts are not readable; the sync goes on without them",
                &[("error", Value::from(e.to_string()))],
            );
            return Ok(BTreeMap::new());
        }
        Err(e) => return Err(e).context("cannot list the deployment's service accounts"),
    };
    let mut out = BTreeMap::new();
    for (name, account) in accounts {
        let Some((namespace, service)) = name.split_once('/') else {
            continue;
        };
        let credentials = match client.service_credentials(namespace, service) {
            Ok(credentials) => Some(credentials),
            Err(e) if forbidden(&e) => {
                logging::warn(
                    "a service account's tokens are not readable",
                    &[
                        ("service_account", Value::from(name.as_str())),
                        ("error", Value::from(e.to_string())),
                    ],
                );
                None
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot list the tokens of the service account {name}")
                })
            }
        };
        out.insert(
            name,
            ServiceAccountSnapshot {
                account,
                credentials,
            },
        );
    }
    Ok(out)
}

/// The pending invitations of an organization, sorted by email: expired ones (by their `expired`
/// flag, or an `expires_at` before `now`) and accepted ones are left out. A 403 is a warning.
pub fn invitations(
    cloud: &CloudClient,
    organization_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Invitation>> {
    let list = match cloud.invitations(organization_id) {
        Ok(list) => list,
        Err(e) if forbidden(&e) => {
            logging::warn(
                "the organization's invitations are not readable; the sync goes on without them",
                &[
                    ("organization_id", Value::from(organization_id)),
                    ("error", Value::from(e.to_string())),
                ],
            );
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot list the invitations of organization {organization_id}")
            })
        }
    };
    let listed = list.len();
    let mut pending: Vec<Invitation> = list
        .into_iter()
        .filter(|i| i.accepted_at.is_none() && !expired(i, now))
        .collect();
    pending.sort_by(|a, b| a.email.cmp(&b.email));
    pending.dedup_by(|a, b| a.email == b.email);
    if listed > pending.len() {
        logging::info(
            "expired or accepted invitations are left out",
            &[
                ("organization_id", Value::from(organization_id)),
                ("left_out", Value::from(listed - pending.len())),
            ],
        );
    }
    Ok(pending)
}

fn expired(invitation: &Invitation, now: chrono::DateTime<chrono::Utc>) -> bool {
    invitation.expired
        || chrono::DateTime::parse_from_rfc3339(&invitation.expires_at).is_ok_and(|t| t <= now)
}
