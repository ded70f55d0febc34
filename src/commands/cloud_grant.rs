//! `grant` and `revoke` of the Elastic Cloud entitlements: Cloud role assignments
//! (`organization:<o>:<role>`, `deployment:<d>:<slug>`) and organization membership
//! (`organization:<o>:member`: removing a member, inviting an e-mail address).
//!
//! Every change reads the organization's members (with their role assignments) first, decides with
//! [`crate::provision::cloud_role`] and [`crate::provision::organization`], sends exactly one write, and
//! reads the members (or invitations) again to confirm it shows. `--dry-run` does the reads and prints the
//! write instead. The organization of a deployment is found as the sync finds it
//! ([`crate::syncers::deployment::owners`]).

use super::grant::{already, done, print_request, Details, Outcome, Request, Target};
use crate::logging;
use crate::provision::cloud_role::{
    add_assignment, assignment, holding, is_last_owner, Broader, CloudRole, Holding, Scope,
};
use crate::provision::organization::{member, member_with_email, pending_invitations};
use crate::snapshot::Snapshot;
use crate::syncers;
use anyhow::{anyhow, bail, Context};
use elastic_api::client::ApiError;
use elastic_api::cloud::{CloudClient, Member, RoleAssignments};
use elastic_api::cloud_admin::{
    InvitationRequest, ALREADY_BELONGS, INVALID_TARGET_USER_ID, INVITATION_ALREADY_EXISTS,
    MEMBERSHIP_NOT_FOUND, UNAUTHORIZED_ROLE_ASSIGNMENTS,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;

/// Does the reads, the change and the confirmation of one Cloud grant or revoke; with `dry_run`, prints
/// the write to `out` instead. `organization_id` is `--organization-id`.
pub fn execute(
    client: &CloudClient,
    organization_id: Option<&str>,
    request: &Request,
    out: &mut dyn Write,
) -> anyhow::Result<(Outcome, Details)> {
    match &request.target {
        Target::OrganizationRole { organization, role } => {
            let members = read_members(client, organization)?;
            role_assignment(client, request, organization, members, *role, None, out)
        }
        Target::DeploymentRole { deployment, role } => {
            let (owners, snapshot) = deployment_owners(client, organization_id)?;
            let org = owner_of(&owners, deployment)?;
            let members = snapshot.members.get(&org).cloned().unwrap_or_default();
            role_assignment(
                client,
                request,
                &org,
                members,
                *role,
                Some(deployment.as_str()),
                out,
            )
        }
        Target::OrganizationMember(org) if request.grant => {
            if crate::provision::organization::is_email(&request.username) {
                invite(client, organization_id, request, org, out)
            } else {
                let members = read_members(client, org)?;
                if member(&members, &request.username).is_some() {
                    return Ok((already(request, out)?, Details::default()));
                }
                bail!(
                    "user {} is not a member of organization {org} (GET {} lists no such member), and Elastic Cloud adds members only by invitation: grant organization:{org}:member user:<their e-mail address>",
                    request.username,
                    members_path(client, org)
                )
            }
        }
        Target::OrganizationMember(org) => remove_member(client, request, org, out),
        Target::Role(_) | Target::RoleMapping(_) => bail!(
            "{} is a deployment entitlement, which the Elastic Cloud API cannot change",
            request.target.entitlement_id()
        ),
    }
}

fn members_path(client: &CloudClient, org: &str) -> String {
    client.path(&["api", "v1", "organizations", org, "members"])
}

fn read_members(client: &CloudClient, org: &str) -> anyhow::Result<Vec<Member>> {
    client
        .members(org)
        .with_context(|| format!("cannot list the members of organization {org}"))
}

/// Each deployment's organization, as the sync decides it, and the snapshot it was decided from.
fn deployment_owners(
    client: &CloudClient,
    organization_id: Option<&str>,
) -> anyhow::Result<(BTreeMap<String, String>, Snapshot)> {
    let snapshot = Snapshot::fetch(client, None, organization_id, &mut ())?;
    let owners = syncers::deployment::owners(&snapshot)
        .into_iter()
        .map(|(d, o)| (d.to_owned(), o.to_owned()))
        .collect();
    Ok((owners, snapshot))
}

fn owner_of(owners: &BTreeMap<String, String>, deployment: &str) -> anyhow::Result<String> {
    owners.get(deployment).cloned().ok_or_else(|| {
        anyhow!(
            "there is no deployment `{deployment}` among the deployments of the organizations the key sees (GET /api/v1/deployments), or its organization cannot be told (see --organization-id)"
        )
    })
}

/// What a role-assignment write failure means, by status and Elastic's error code.
fn write_error(
    error: ApiError,
    role: CloudRole,
    org: &str,
    user_id: &str,
    grant: bool,
) -> anyhow::Error {
    if error.is_cloud_error(403, UNAUTHORIZED_ROLE_ASSIGNMENTS) {
        return anyhow!(
            "the Elastic Cloud API key may not {} the Cloud role `{}`: Cloud role assignments are managed by Organization owners, so the key set by --api-key / BATON_API_KEY needs the Organization owner role (`organization-admin`) of organization {org}; nothing was changed ({error})",
            if grant { "assign" } else { "remove" },
            role.role_id()
        );
    }
    if error.is_cloud_error(400, INVALID_TARGET_USER_ID) {
        return anyhow::Error::new(error).context(format!(
            "Elastic Cloud does not take user {user_id} as a member of organization {org}; nothing was changed"
        ));
    }
    anyhow::Error::new(error).context(format!(
        "cannot {} the Cloud role `{}` {} user {user_id}",
        if grant { "assign" } else { "remove" },
        role.role_id(),
        if grant { "to" } else { "from" }
    ))
}

/// A broader assignment's explanation, for a refused revoke or an already-granted note.
fn through(broader: &[Broader], org: &str) -> String {
    broader
        .iter()
        .map(|b| {
            format!(
                "{} (the entitlement {})",
                b.describe(org),
                b.entitlement_id(org)
            )
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn holding_of(
    members: &[Member],
    org: &str,
    user_id: &str,
    role: CloudRole,
    scope: Scope<'_>,
) -> Holding {
    member(members, user_id)
        .map(|m| holding(m, org, role, scope))
        .unwrap_or_default()
}

/// Grants or revokes one Cloud role assignment of `request.username` in `org` (on `deployment`, or for
/// the organization / all deployments), given the members as just read.
fn role_assignment(
    client: &CloudClient,
    request: &Request,
    org: &str,
    members: Vec<Member>,
    role: CloudRole,
    deployment: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<(Outcome, Details)> {
    let user_id = request.username.as_str();
    let entitlement = request.target.entitlement_id();
    let scope = match deployment {
        Some(d) => Scope::Deployment(d),
        None => Scope::Organization,
    };
    let path_members = members_path(client, org);
    let current = holding_of(&members, org, user_id, role, scope);
    if request.grant {
        if member(&members, user_id).is_none() {
            bail!(
                "user {user_id} is not a member of organization {org} (GET {path_members} lists no such member): Cloud roles go to members only; invite them with `grant organization:{org}:member user:<e-mail address> --invite-role {entitlement}`"
            );
        }
        if current.held() {
            let note = (!current.direct)
                .then(|| format!("held through {}", through(&current.broader, org)));
            return Ok((
                already(request, out)?,
                Details {
                    note,
                    fields: Vec::new(),
                },
            ));
        }
    } else {
        if !current.broader.is_empty() {
            bail!(
                "user:{user_id} holds {entitlement} through {}; revoking {entitlement} cannot take it away: revoke {} user:{user_id} instead; nothing was changed",
                through(&current.broader, org),
                current
                    .broader
                    .iter()
                    .map(|b| b.entitlement_id(org))
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
        }
        if !current.direct {
            return Ok((already(request, out)?, Details::default()));
        }
        if role == CloudRole::OrganizationAdmin && is_last_owner(&members, org, user_id) {
            bail!(
                "user {user_id} is the only Organization owner (organization-admin) of organization {org}: revoking it would leave the organization without an owner; make another member owner first (grant organization:{org}:organization-admin user:<user id>); nothing was changed"
            );
        }
    }
    let body = assignment(org, role, scope);
    let path = client.path(&CloudClient::role_assignments_path(user_id));
    let method = if request.grant { "POST" } else { "DELETE" };
    if request.dry_run {
        print_request(out, method, &path, Some(&body))?;
        return Ok((done(request), Details::default()));
    }
    let sent = if request.grant {
        client.add_role_assignments(user_id, &body)
    } else {
        client.remove_role_assignments(user_id, &body)
    };
    sent.map_err(|e| write_error(e, role, org, user_id, request.grant))?;
    let after = client.members(org).with_context(|| {
        format!("cannot read the members of organization {org} back after {method} {path}")
    })?;
    let now = holding_of(&after, org, user_id, role, scope);
    if now.direct != request.grant {
        bail!(
            "{method} {path} succeeded but reading the members back (GET {path_members}) shows the assignment {} {}; someone else may have changed the user's roles at the same time",
            serde_json::to_string(&body).unwrap_or_default(),
            if request.grant { "missing" } else { "still there" }
        );
    }
    Ok((done(request), Details::default()))
}

/// Removes the member `request.username` from `org`.
fn remove_member(
    client: &CloudClient,
    request: &Request,
    org: &str,
    out: &mut dyn Write,
) -> anyhow::Result<(Outcome, Details)> {
    let user_id = request.username.as_str();
    if crate::provision::organization::is_email(user_id) {
        bail!(
            "revoke organization:{org}:member takes the member's user id (`user:<user id>`), not an e-mail address"
        );
    }
    let members = read_members(client, org)?;
    if member(&members, user_id).is_none() {
        return Ok((already(request, out)?, Details::default()));
    }
    if is_last_owner(&members, org, user_id) {
        bail!(
            "user {user_id} is the only Organization owner (organization-admin) of organization {org}: removing them would leave the organization without an owner; make another member owner first (grant organization:{org}:organization-admin user:<user id>); nothing was changed"
        );
    }
    let segments = ["api", "v1", "organizations", org, "members", user_id];
    let path = client.path(&segments);
    if request.dry_run {
        print_request::<Value>(out, "DELETE", &path, None)?;
        return Ok((done(request), Details::default()));
    }
    match client.remove_member(org, user_id) {
        Ok(()) => {}
        Err(e) if e.is_cloud_error(404, MEMBERSHIP_NOT_FOUND) => {
            return Ok((
                Outcome::AlreadyRevoked,
                Details {
                    note: Some(format!(
                        "Elastic Cloud answered {MEMBERSHIP_NOT_FOUND}: user {user_id} is no longer a member"
                    )),
                    fields: Vec::new(),
                },
            ));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot remove user {user_id} from organization {org}"
            )))
        }
    }
    let after = client.members(org).with_context(|| {
        format!("cannot read the members of organization {org} back after DELETE {path}")
    })?;
    if member(&after, user_id).is_some() {
        bail!(
            "DELETE {path} succeeded but reading the members back (GET {}) still lists user {user_id}; someone else may have changed the organization at the same time",
            members_path(client, org)
        );
    }
    Ok((done(request), Details::default()))
}

/// Invites the e-mail address `request.username` to `org`, with the role assignments of
/// `request.invite_roles`.
fn invite(
    client: &CloudClient,
    organization_id: Option<&str>,
    request: &Request,
    org: &str,
    out: &mut dyn Write,
) -> anyhow::Result<(Outcome, Details)> {
    let email = request.username.as_str();
    let members = read_members(client, org)?;
    if let Some(m) = member_with_email(&members, email) {
        return Ok((
            already(request, out)?,
            Details {
                note: Some(format!("{email} is already the member user:{}", m.user_id)),
                fields: vec![("user_id", Value::from(m.user_id.as_str()))],
            },
        ));
    }
    let invitations_path = client.path(&["api", "v1", "organizations", org, "invitations"]);
    let invitations = client
        .invitations(org)
        .with_context(|| format!("cannot list the invitations of organization {org}"))?;
    let mut roles = RoleAssignments::default();
    let deployment_roles = request
        .invite_roles
        .iter()
        .any(|t| matches!(t, Target::DeploymentRole { .. }));
    let owners = if deployment_roles {
        deployment_owners(client, organization_id)?.0
    } else {
        BTreeMap::new()
    };
    for target in &request.invite_roles {
        match target {
            Target::OrganizationRole { role, .. } => {
                add_assignment(&mut roles, org, *role, Scope::Organization)
            }
            Target::DeploymentRole { deployment, role } => {
                let owner = owner_of(&owners, deployment)?;
                if owner != org {
                    bail!(
                        "--invite-role {}: the deployment `{deployment}` is one of organization {owner}, not of organization {org}",
                        target.entitlement_id()
                    );
                }
                add_assignment(&mut roles, org, *role, Scope::Deployment(deployment));
            }
            _ => {}
        }
    }
    if let Some(pending) = pending_invitations(&invitations, email).first() {
        let held = pending.role_assignments.clone().unwrap_or_default();
        if !request.invite_roles.is_empty() && !same_assignments(&held, &roles) {
            logging::warn(
                &format!(
                    "the pending invitation of {email} carries other role assignments ({}) than asked for ({}); it is left as it is: invitations cannot be edited, only cancelled and sent again",
                    serde_json::to_string(&held).unwrap_or_default(),
                    serde_json::to_string(&roles).unwrap_or_default()
                ),
                &[("organization_id", Value::from(org))],
            );
        }
        return Ok((
            already(request, out)?,
            Details {
                note: Some(format!(
                    "a pending invitation of {email} expires at {}",
                    pending.expires_at
                )),
                fields: vec![(
                    "invitation_expires_at",
                    Value::from(pending.expires_at.as_str()),
                )],
            },
        ));
    }
    let body = InvitationRequest {
        emails: vec![email.to_owned()],
        expires_in: request.invite_expires_in.clone(),
        role_assignments: (!roles.is_empty()).then_some(roles),
    };
    if request.dry_run {
        print_request(out, "POST", &invitations_path, Some(&body))?;
        return Ok((done(request), Details::default()));
    }
    let created = match client.invite(org, &body) {
        Ok(list) => list,
        Err(e)
            if e.is_cloud_error(400, INVITATION_ALREADY_EXISTS)
                || e.is_cloud_error(400, ALREADY_BELONGS) =>
        {
            return Ok((
                Outcome::AlreadyGranted,
                Details {
                    note: Some(format!("Elastic Cloud answered {}", e.codes().join(", "))),
                    fields: Vec::new(),
                },
            ));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot invite {email} to organization {org}")))
        }
    };
    let after = client.invitations(org).with_context(|| {
        format!(
            "cannot read the invitations of organization {org} back after POST {invitations_path}"
        )
    })?;
    let Some(sent) = pending_invitations(&after, email).first().copied().cloned() else {
        bail!(
            "POST {invitations_path} succeeded but reading the invitations back (GET {invitations_path}) shows no pending invitation of {email}"
        );
    };
    let expires_at = created
        .iter()
        .find(|i| i.email.eq_ignore_ascii_case(email))
        .map(|i| i.expires_at.clone())
        .unwrap_or(sent.expires_at);
    Ok((
        done(request),
        Details {
            note: Some(format!("invitation sent; it expires at {expires_at}")),
            fields: vec![("invitation_expires_at", Value::from(expires_at))],
        },
    ))
}

/// Whether two sets of assignments hold the same organization and deployment roles, in any order.
fn same_assignments(a: &RoleAssignments, b: &RoleAssignments) -> bool {
    let key = |ra: &RoleAssignments| {
        let mut keys: Vec<String> = ra
            .organization
            .iter()
            .map(|o| o.role_id.clone())
            .chain(ra.deployment.iter().map(|d| {
                let mut ids = d.deployment_ids.clone();
                ids.sort();
                format!("{}-{}-{}", d.role_id, d.all == Some(true), ids.join(","))
            }))
            .collect();
        keys.sort();
        keys
    };
    key(a) == key(b)
}
