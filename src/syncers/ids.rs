//! The ids the syncers write: resource type ids, entitlement slugs, the cloud roles and the formats of
//! entitlement and grant ids. Every syncer takes them from here, so no syncer imports another for an id.

use baton_c1z::proto::ResourceId;

/// The `organization` resource type id.
pub const ORGANIZATION: &str = "organization";
/// The `deployment` resource type id.
pub const DEPLOYMENT: &str = "deployment";
/// The `user` resource type id (Elastic Cloud accounts).
pub const USER: &str = "user";
/// The `role` resource type id (deployment roles).
pub const ROLE: &str = "role";
/// The `deploymentUser` resource type id.
pub const DEPLOYMENT_USER: &str = "deploymentUser";
/// The `roleMapping` resource type id.
pub const ROLE_MAPPING: &str = "roleMapping";

/// The `project` resource type id (Serverless projects).
pub const PROJECT: &str = "project";

/// The `group` resource type id (groups role mappings name).
pub const GROUP: &str = "group";
/// The `serviceAccount` resource type id (Elasticsearch service accounts, `namespace/service`).
pub const SERVICE_ACCOUNT: &str = "serviceAccount";
/// The `apiKey` resource type id (Elasticsearch API keys).
pub const API_KEY: &str = "apiKey";

/// Prefix of the `user` id of a pending invitation: `invitation:<email>`. Cloud user ids are numbers, so
/// the two never meet.
pub const INVITATION_PREFIX: &str = "invitation:";

/// The `user` id of the pending invitation of `email`.
pub fn invitation_id(email: &str) -> String {
    format!("{INVITATION_PREFIX}{email}")
}

/// The slug of an API key's ownership entitlement.
pub const OWNER: &str = "owner";

/// The slug of every membership entitlement.
pub const MEMBER: &str = "member";

/// The organization-scope cloud roles (entitlement slugs on `organization`), with their display names.
pub const ORGANIZATION_ROLES: [(&str, &str); 2] = [
    ("organization-admin", "Organization owner"),
    ("billing-admin", "Billing admin"),
];

/// The deployment-scope cloud roles (entitlement slugs on `organization`), with the slug of the matching
/// `deployment` entitlement.
pub const DEPLOYMENT_ROLES: [(&str, &str); 3] = [
    ("deployment-admin", "admin"),
    ("deployment-editor", "editor"),
    ("deployment-viewer", "viewer"),
];

/// `<type>:<resource>:<slug>`, Baton's entitlement id.
pub fn entitlement_id(resource: &ResourceId, slug: &str) -> String {
    format!("{}:{}:{slug}", resource.resource_type, resource.resource)
}

/// `<entitlement id>:<principal type>:<principal id>`, Baton's grant id.
pub fn grant_id(entitlement_id: &str, principal: &ResourceId) -> String {
    format!(
        "{entitlement_id}:{}:{}",
        principal.resource_type, principal.resource
    )
}

/// The id of the organization role entitlement `slug` (e.g. `deployment-admin`) of `org_id`.
pub fn role_entitlement_id(org_id: &str, slug: &str) -> String {
    format!("{ORGANIZATION}:{org_id}:{slug}")
}

/// Prefix of the `deploymentUser` id of an external-realm user whose username is also a native user's:
/// role mappings never apply to the native realm, so the user a mapping matches as `alice` is the one
/// who logs in as `alice` through an external realm (SAML, OIDC, LDAP…), a different principal from the
/// native user `alice`. Its id is `external:alice`.
pub const EXTERNAL_TWIN_PREFIX: &str = "external:";

/// The `deploymentUser` id of the external-realm user `username` when a native user has that name.
pub fn external_twin_id(username: &str) -> String {
    format!("{EXTERNAL_TWIN_PREFIX}{username}")
}

/// The username a role mapping matches for the `deploymentUser` id `id`: the id itself, or without
/// [`EXTERNAL_TWIN_PREFIX`] for the external-realm twin of a native user.
pub fn mapping_username(id: &str) -> &str {
    id.strip_prefix(EXTERNAL_TWIN_PREFIX).unwrap_or(id)
}

/// Separates a deployment's label from a name in the ids of a sync of several deployments. Labels are
/// URL hosts (with a port), which never contain it.
pub const CLUSTER_SEPARATOR: char = '/';

/// The id of the object `id` (a role name, a username...) of the deployment `label`, when a sync reads
/// several deployments: `<label>/<id>`.
pub fn cluster_id(label: &str, id: &str) -> String {
    format!("{label}{CLUSTER_SEPARATOR}{id}")
}

/// Splits a [`cluster_id`] into the label and the object's id (at the first `/`).
pub fn split_cluster_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(CLUSTER_SEPARATOR)
        .filter(|(label, rest)| !label.is_empty() && !rest.is_empty())
}

/// Escapes `\`, `/` and `:` in one part of a Baton id, as baton-sdk's `bid` package does.
fn bid_part(part: &str) -> String {
    part.replace('\\', "\\\\")
        .replace('/', "\\/")
        .replace(':', "\\:")
}

/// The Baton id (`bid:e:<type>/<id>:<slug>`, baton-sdk `bid.MakeBid`) of the entitlement `slug` on a
/// resource without a parent. It names the entitlement across files, where an entitlement id would
/// name one in this file only.
pub fn entitlement_bid(resource: &ResourceId, slug: &str) -> String {
    format!(
        "bid:e:{}/{}:{}",
        bid_part(&resource.resource_type),
        bid_part(&resource.resource),
        bid_part(slug)
    )
}
