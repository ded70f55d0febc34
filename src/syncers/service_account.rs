//! `serviceAccount` resources: the deployment's Elasticsearch service accounts (`elastic/fleet-server`,
//! `elastic/kibana`, …) that have at least one token, plus any service account that owns an API key.
//! Their id is `namespace/service`; a separate type rather than a `deploymentUser`, since they are no
//! realm's users and `grant`/`revoke` cannot change them. The profile lists the token names (index and
//! file tokens, never their values) and counts, and a summary of the account's fixed role descriptor.
//! Service accounts have no named roles (the API shows one inline role descriptor), so they get no
//! role grants.

use super::api_key::PrivilegeSummary;
use super::deployment_user::{key_owner_realm, OwnerRealm};
use super::ids;
use super::records::user_trait;
use super::types;
use crate::credentials_fetch::ServiceAccountSnapshot;
use crate::snapshot::DeploymentSnapshot;
use baton_c1z::proto::{
    any, AccountType, ProfileBuilder, Resource, ResourceId, ResourceType, UserStatusValue,
};
use baton_c1z::RecordSink;
use std::collections::BTreeMap;

/// Resource type id.
pub const TYPE_ID: &str = ids::SERVICE_ACCOUNT;

/// The `serviceAccount` resource type.
pub fn resource_type() -> ResourceType {
    types::service_account()
}

/// The resource of one service account; `account` is `None` when only an API key names it.
pub fn resource(name: &str, account: Option<&ServiceAccountSnapshot>) -> Resource {
    let (namespace, service) = name.split_once('/').unwrap_or(("", name));
    let mut profile = ProfileBuilder::new()
        .string("name", name)
        .string("namespace", namespace)
        .string("service", service)
        .bool("listed", account.is_some());
    match account.and_then(|a| a.credentials.as_ref()) {
        Some(credentials) => {
            let file: Vec<&str> = credentials
                .nodes_credentials
                .file_tokens
                .keys()
                .map(String::as_str)
                .collect();
            profile = profile
                .strings("tokens", credentials.tokens.keys().map(String::as_str))
                .strings("file_tokens", file.iter().copied())
                .number(
                    "token_count",
                    (credentials.tokens.len() + file.len()) as f64,
                );
        }
        None => {
            profile = profile.string("tokens_error", "the tokens could not be read");
        }
    }
    if let Some(account) = account {
        profile = PrivilegeSummary::of([&account.account.role_descriptor]).add_to(profile, "");
    }
    let trait_ = user_trait(
        None,
        UserStatusValue::Enabled,
        AccountType::Service,
        name,
        profile.build(),
    );
    Resource {
        id: Some(ResourceId::new(TYPE_ID, name)),
        display_name: name.to_owned(),
        annotations: vec![any(&trait_)],
        ..Resource::default()
    }
}

/// Whether a listed account has a token (or its tokens could not be read, so it may have some).
fn has_tokens(account: &ServiceAccountSnapshot) -> bool {
    account
        .credentials
        .as_ref()
        .is_none_or(|c| !c.tokens.is_empty() || !c.nodes_credentials.file_tokens.is_empty())
}

/// Adds one resource per service account with tokens or owning an API key.
pub fn sync(deployment: &DeploymentSnapshot, out: &mut dyn RecordSink) {
    let mut names: BTreeMap<&str, Option<&ServiceAccountSnapshot>> = deployment
        .service_accounts
        .iter()
        .filter(|(_, account)| has_tokens(account))
        .map(|(name, account)| (name.as_str(), Some(account)))
        .collect();
    for key in &deployment.api_keys {
        if key_owner_realm(key) == OwnerRealm::ServiceAccount {
            names
                .entry(key.username.as_str())
                .or_insert_with(|| deployment.service_accounts.get(&key.username));
        }
    }
    for (name, account) in names {
        out.resource(resource(name, account));
    }
}
