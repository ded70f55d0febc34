//! The Elastic Cloud writes the fake applies to its [`Tenant`]: adding and
//! removing a user's role assignments, removing members, and sending,
//! listing and cancelling invitations.
//!
//! Answers follow Elastic's: `200 {}` for role-assignment writes and
//! removals, `201` with the new invitations, and `BasicFailedReply` errors
//! with the codes of the Cloud API (`role_assignments.invalid_target_user_id`,
//! `role_assignments.unauthorized_role_assignments`,
//! `organization.membership_not_found`, `organization.invitation_already_exists`,
//! ...). Role assignments are held per role and deployment: removing
//! `deployment-viewer` for `[d1]` from an assignment for `[d1, d2]` leaves
//! `[d2]`. Adding an assignment that is already held, or removing one that
//! is not, changes nothing and still answers 200.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::routes::{cloud_error, Routed};
use super::tenant::Tenant;

const ORGANIZATION_ROLES: [&str; 2] = ["organization-admin", "billing-admin"];
const DEPLOYMENT_ROLES: [&str; 3] = ["deployment-admin", "deployment-editor", "deployment-viewer"];

/// The answer to a Cloud write path, or `None` for a path this module does
/// not serve.
pub(crate) fn route(
    tenant: &mut Tenant,
    method: &str,
    rest: &[String],
    body: &[u8],
) -> Option<Routed> {
    let parts: Vec<&str> = rest.iter().map(String::as_str).collect();
    Some(match (parts.as_slice(), method) {
        (["users", user_id, "role_assignments"], "POST") => {
            role_assignments(tenant, user_id, body, true)
        }
        (["users", user_id, "role_assignments"], "DELETE") => {
            role_assignments(tenant, user_id, body, false)
        }
        (["users", _, "role_assignments"], _) => not_allowed(method),
        (["organizations", org, "members", user_ids], "DELETE") => {
            remove_members(tenant, org, user_ids)
        }
        (["organizations", _, "members", _], _) => not_allowed(method),
        (["organizations", org, "invitations"], "GET") => list_invitations(tenant, org),
        (["organizations", org, "invitations"], "POST") => invite(tenant, org, body),
        (["organizations", _, "invitations"], _) => not_allowed(method),
        (["organizations", org, "invitations", tokens], "DELETE") => {
            cancel_invitations(tenant, org, tokens)
        }
        (["organizations", _, "invitations", _], _) => not_allowed(method),
        _ => return None,
    })
}

fn not_allowed(method: &str) -> Routed {
    cloud_error(
        405,
        "root.method_not_allowed",
        &format!("Method [{method}] is not allowed on this resource"),
        &[],
    )
}

fn invalid(message: &str, field: &str) -> Routed {
    cloud_error(400, "root.invalid_data", message, &[field])
}

fn org_exists(tenant: &Tenant, org: &str) -> bool {
    tenant
        .organizations
        .iter()
        .any(|o| o.get("id").and_then(Value::as_str) == Some(org))
}

fn org_not_found() -> Routed {
    cloud_error(
        404,
        "organization.not_found",
        "Organization not found",
        &["organization_id"],
    )
}

fn ok_empty() -> Routed {
    Routed::json(200, &json!({}))
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Routed> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid("The request body is not a JSON object", "body")),
    }
}

/// One organization-scope or deployment-scope assignment of a write.
#[derive(Debug, Clone, PartialEq)]
enum Assignment {
    Organization {
        role_id: String,
        org: String,
    },
    AllDeployments {
        role_id: String,
        org: String,
    },
    Deployments {
        role_id: String,
        org: String,
        ids: Vec<String>,
    },
}

impl Assignment {
    fn role_id(&self) -> &str {
        match self {
            Assignment::Organization { role_id, .. }
            | Assignment::AllDeployments { role_id, .. }
            | Assignment::Deployments { role_id, .. } => role_id,
        }
    }

    fn org(&self) -> &str {
        match self {
            Assignment::Organization { org, .. }
            | Assignment::AllDeployments { org, .. }
            | Assignment::Deployments { org, .. } => org,
        }
    }
}

fn string_field<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str)
}

/// Checks a RoleAssignments object and lists its assignments. Only the
/// organization and deployment scopes are accepted (with an empty
/// `platform` and `project`).
fn parse_assignments(tenant: &Tenant, value: &Value) -> Result<Vec<Assignment>, Routed> {
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "role_assignments must be an object",
            "role_assignments",
        ));
    };
    let mut out = Vec::new();
    for (scope, items) in object {
        let empty = match items {
            Value::Array(list) => list.is_empty(),
            Value::Object(map) => map.values().all(|v| v.as_array().is_none_or(Vec::is_empty)),
            Value::Null => true,
            _ => false,
        };
        match scope.as_str() {
            "platform" | "project" if empty => continue,
            "platform" => {
                return Err(cloud_error(
                    403,
                    "role_assignments.unauthorized_role_assignments",
                    "You are not allowed to assign platform roles",
                    &["platform"],
                ))
            }
            "project" => {
                return Err(invalid(
                    "Project role assignments are not served by this fake",
                    "project",
                ))
            }
            "organization" | "deployment" => {}
            other => return Err(invalid(&format!("Unknown scope [{other}]"), other)),
        }
        let Some(list) = items.as_array() else {
            if items.is_null() {
                continue;
            }
            return Err(invalid(&format!("[{scope}] must be an array"), scope));
        };
        for item in list {
            let (Some(role_id), Some(org)) = (
                string_field(item, "role_id"),
                string_field(item, "organization_id"),
            ) else {
                return Err(invalid(
                    &format!("Each [{scope}] assignment needs role_id and organization_id"),
                    scope,
                ));
            };
            if !org_exists(tenant, org) {
                return Err(org_not_found());
            }
            let valid_roles: &[&str] = if scope == "organization" {
                &ORGANIZATION_ROLES
            } else {
                &DEPLOYMENT_ROLES
            };
            if !valid_roles.contains(&role_id) {
                return Err(invalid(
                    &format!("The role [{role_id}] is not a valid {scope} role"),
                    "role_id",
                ));
            }
            let (role_id, org) = (role_id.to_string(), org.to_string());
            if scope == "organization" {
                out.push(Assignment::Organization { role_id, org });
                continue;
            }
            let all = item.get("all").and_then(Value::as_bool).unwrap_or(false);
            let ids: Vec<String> = match item.get("deployment_ids") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ids)) => match ids
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                {
                    Some(ids) => ids,
                    None => {
                        return Err(invalid("deployment_ids must be strings", "deployment_ids"))
                    }
                },
                Some(_) => {
                    return Err(invalid("deployment_ids must be an array", "deployment_ids"))
                }
            };
            match (all, ids.is_empty()) {
                (true, true) => out.push(Assignment::AllDeployments { role_id, org }),
                (true, false) => {
                    return Err(invalid(
                        "deployment_ids must be absent when all is true",
                        "deployment_ids",
                    ))
                }
                (false, true) => {
                    return Err(invalid(
                        "deployment_ids are required when all is false",
                        "deployment_ids",
                    ))
                }
                (false, false) => {
                    let known = |id: &str| {
                        tenant
                            .deployments
                            .iter()
                            .any(|d| d.get("id").and_then(Value::as_str) == Some(id))
                    };
                    if let Some(unknown) = ids.iter().find(|id| !known(id)) {
                        return Err(invalid(
                            &format!("The deployment [{unknown}] does not exist"),
                            "deployment_ids",
                        ));
                    }
                    out.push(Assignment::Deployments { role_id, org, ids });
                }
            }
        }
    }
    Ok(out)
}

/// `POST` (add) or `DELETE` (remove) `/api/v1/users/{user_id}/role_assignments`.
fn role_assignments(tenant: &mut Tenant, user_id: &str, body: &[u8], add: bool) -> Routed {
    let body = match parse_body(body) {
        Ok(body) => Value::Object(body),
        Err(routed) => return routed,
    };
    let assignments = match parse_assignments(tenant, &body) {
        Ok(list) => list,
        Err(routed) => return routed,
    };
    if let Some(allowed) = &tenant.cloud_key_assignable_roles {
        if let Some(refused) = assignments
            .iter()
            .find(|a| !allowed.iter().any(|r| r == a.role_id()))
        {
            return cloud_error(
                403,
                "role_assignments.unauthorized_role_assignments",
                &format!(
                    "You are not authorized to manage the role assignment [{}]",
                    refused.role_id()
                ),
                &["role_assignments"],
            );
        }
    }
    // Every organization named must hold the user as a member.
    for assignment in &assignments {
        let member = tenant.members.get(assignment.org()).is_some_and(|list| {
            list.iter()
                .any(|m| m.get("user_id").and_then(Value::as_str) == Some(user_id))
        });
        if !member {
            return cloud_error(
                400,
                "role_assignments.invalid_target_user_id",
                &format!(
                    "The user [{user_id}] is not a member of the organization [{}]",
                    assignment.org()
                ),
                &["user_id"],
            );
        }
    }
    for assignment in &assignments {
        let Some(member) = tenant.members.get_mut(assignment.org()).and_then(|list| {
            list.iter_mut()
                .find(|m| m.get("user_id").and_then(Value::as_str) == Some(user_id))
        }) else {
            continue;
        };
        apply(member, assignment, add);
    }
    ok_empty()
}

/// The `role_assignments.<scope>` array of a member, created when absent.
fn scope_list<'a>(member: &'a mut Value, scope: &str) -> Option<&'a mut Vec<Value>> {
    let object = member.as_object_mut()?;
    let assignments = object
        .entry("role_assignments")
        .or_insert_with(|| json!({}));
    if !assignments.is_object() {
        *assignments = json!({});
    }
    let list = assignments
        .as_object_mut()?
        .entry(scope)
        .or_insert(json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut()
}

fn apply(member: &mut Value, assignment: &Assignment, add: bool) {
    let member_org = string_field(member, "organization_id")
        .unwrap_or_default()
        .to_string();
    let same = move |item: &Value, role_id: &str, org: &str| {
        string_field(item, "role_id") == Some(role_id)
            && string_field(item, "organization_id").unwrap_or(&member_org) == org
    };
    match assignment {
        Assignment::Organization { role_id, org } => {
            let Some(list) = scope_list(member, "organization") else {
                return;
            };
            let held = list.iter().any(|item| same(item, role_id, org));
            if add && !held {
                list.push(json!({"role_id": role_id, "organization_id": org}));
            } else if !add {
                list.retain(|item| !same(item, role_id, org));
            }
        }
        Assignment::AllDeployments { role_id, org } => {
            let Some(list) = scope_list(member, "deployment") else {
                return;
            };
            let is_all = |item: &Value| item.get("all").and_then(Value::as_bool) == Some(true);
            let held = list
                .iter()
                .any(|item| same(item, role_id, org) && is_all(item));
            if add && !held {
                list.push(json!({"role_id": role_id, "organization_id": org, "all": true}));
            } else if !add {
                list.retain(|item| !(same(item, role_id, org) && is_all(item)));
            }
        }
        Assignment::Deployments { role_id, org, ids } => {
            let Some(list) = scope_list(member, "deployment") else {
                return;
            };
            let listed = |item: &Value| item.get("all").and_then(Value::as_bool) != Some(true);
            let ids_of = |item: &Value| -> Vec<String> {
                item.get("deployment_ids")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if add {
                let held: Vec<String> = list
                    .iter()
                    .filter(|item| same(item, role_id, org) && listed(item))
                    .flat_map(ids_of)
                    .collect();
                let missing: Vec<&String> = ids.iter().filter(|id| !held.contains(id)).collect();
                if missing.is_empty() {
                    return;
                }
                match list
                    .iter_mut()
                    .find(|item| same(item, role_id, org) && listed(item))
                {
                    Some(item) => {
                        let mut all_ids = ids_of(item);
                        all_ids.extend(missing.into_iter().cloned());
                        item["deployment_ids"] = json!(all_ids);
                    }
                    None => list.push(json!({
                        "role_id": role_id,
                        "organization_id": org,
                        "all": false,
                        "deployment_ids": missing
                    })),
                }
            } else {
                for item in list.iter_mut() {
                    if same(item, role_id, org) && listed(item) {
                        let kept: Vec<String> = ids_of(item)
                            .into_iter()
                            .filter(|id| !ids.contains(id))
                            .collect();
                        item["deployment_ids"] = json!(kept);
                    }
                }
                list.retain(|item| {
                    !(same(item, role_id, org) && listed(item) && ids_of(item).is_empty())
                });
            }
        }
    }
}

/// `DELETE /api/v1/organizations/{org}/members/{user_ids}` (comma-separated).
fn remove_members(tenant: &mut Tenant, org: &str, user_ids: &str) -> Routed {
    if !org_exists(tenant, org) {
        return org_not_found();
    }
    let ids: Vec<&str> = user_ids.split(',').map(str::trim).collect();
    let members = tenant.members.entry(org.to_string()).or_default();
    let is_member = |id: &str| {
        members
            .iter()
            .any(|m| m.get("user_id").and_then(Value::as_str) == Some(id))
    };
    if let Some(missing) = ids.iter().find(|id| !is_member(id)) {
        return cloud_error(
            404,
            "organization.membership_not_found",
            &format!("The user [{missing}] is not a member of the organization [{org}]"),
            &["user_ids"],
        );
    }
    members.retain(|m| {
        !m.get("user_id")
            .and_then(Value::as_str)
            .is_some_and(|id| ids.contains(&id))
    });
    ok_empty()
}

/// Now, as Elastic writes dates: `2025-05-02T10:00:00Z`.
fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `seconds` since the epoch as an RFC 3339 UTC date.
pub(crate) fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// `expires_in` such as `3d`, `12h` or `30m`, in seconds.
fn parse_expires_in(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        _ => return None,
    };
    (number > 0).then(|| number.saturating_mul(scale))
}

/// An invitation as served: `expired` says whether `expires_at` has passed.
fn served_invitation(invitation: &Value, now: &str) -> Value {
    let mut out = invitation.clone();
    let passed = string_field(invitation, "expires_at").is_some_and(|at| at <= now);
    let stored = invitation
        .get("expired")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    out["expired"] = json!(stored || passed);
    out
}

fn pending(invitation: &Value, now: &str) -> bool {
    let served = served_invitation(invitation, now);
    served["expired"] != json!(true) && invitation.get("accepted_at").is_none_or(Value::is_null)
}

fn list_invitations(tenant: &Tenant, org: &str) -> Routed {
    if !org_exists(tenant, org) {
        return org_not_found();
    }
    let now = rfc3339(now_seconds());
    let list: Vec<Value> = tenant
        .invitations
        .get(org)
        .map(|l| l.iter().map(|i| served_invitation(i, &now)).collect())
        .unwrap_or_default();
    Routed::json(200, &json!({ "invitations": list }))
}

/// A token no other invitation of the tenant has.
fn new_token(tenant: &Tenant, org: &str, email: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let taken = |token: &str| {
        tenant
            .invitations
            .values()
            .flatten()
            .any(|i| string_field(i, "token") == Some(token))
    };
    for byte in org.bytes().chain(email.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    loop {
        let token = format!("{hash:016x}");
        if !taken(&token) {
            return token;
        }
        hash = hash.wrapping_mul(0x0100_0000_01b3).wrapping_add(1);
    }
}

/// `POST /api/v1/organizations/{org}/invitations`.
fn invite(tenant: &mut Tenant, org: &str, body: &[u8]) -> Routed {
    let Some(organization) = tenant
        .organizations
        .iter()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(org))
        .cloned()
    else {
        return org_not_found();
    };
    let body = match parse_body(body) {
        Ok(body) => body,
        Err(routed) => return routed,
    };
    let emails: Vec<String> = match body.get("emails").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            match list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
            {
                Some(emails) => emails,
                None => return invalid("emails must be strings", "emails"),
            }
        }
        _ => return invalid("emails is required", "emails"),
    };
    let lifetime = match body.get("expires_in") {
        None | Some(Value::Null) => 3 * 86_400,
        Some(Value::String(text)) => match parse_expires_in(text) {
            Some(seconds) => seconds,
            None => return invalid("expires_in must look like 3d, 12h or 30m", "expires_in"),
        },
        Some(_) => return invalid("expires_in must be a string", "expires_in"),
    };
    let role_assignments = match body.get("role_assignments") {
        None | Some(Value::Null) => None,
        Some(value) => match parse_assignments(tenant, value) {
            Ok(list) if list.iter().any(|a| a.org() != org) => {
                return invalid(
                    "Role assignments of an invitation must be of its organization",
                    "role_assignments",
                )
            }
            Ok(_) => Some(value.clone()),
            Err(routed) => return routed,
        },
    };
    let now_secs = now_seconds();
    let now = rfc3339(now_secs);
    for email in &emails {
        let (name, domain) = email.split_once('@').unwrap_or_default();
        if name.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace) {
            return cloud_error(
                400,
                "organization.invitation_invalid_email",
                &format!("The e-mail address [{email}] is not valid"),
                &["emails"],
            );
        }
        let member = tenant
            .members
            .get(org)
            .into_iter()
            .flatten()
            .any(|m| string_field(m, "email").is_some_and(|e| e.eq_ignore_ascii_case(email)));
        if member {
            return cloud_error(
                400,
                "organization.user_organization_already_belongs",
                &format!("The user [{email}] already belongs to the organization"),
                &["emails"],
            );
        }
        let invited = tenant.invitations.get(org).into_iter().flatten().any(|i| {
            string_field(i, "email").is_some_and(|e| e.eq_ignore_ascii_case(email))
                && pending(i, &now)
        });
        if invited {
            return cloud_error(
                400,
                "organization.invitation_already_exists",
                &format!("An invitation for [{email}] already exists"),
                &["emails"],
            );
        }
    }
    let mut created = Vec::new();
    for email in &emails {
        let token = new_token(tenant, org, email);
        let mut invitation = json!({
            "token": token,
            "email": email,
            "created_at": now,
            "expires_at": rfc3339(now_secs.saturating_add(lifetime)),
            "expired": false,
            "organization": organization,
        });
        if let Some(ra) = &role_assignments {
            invitation["role_assignments"] = ra.clone();
        }
        let list = tenant.invitations.entry(org.to_string()).or_default();
        // An expired invitation of the same address is replaced.
        list.retain(|i| !string_field(i, "email").is_some_and(|e| e.eq_ignore_ascii_case(email)));
        list.push(invitation.clone());
        created.push(invitation);
    }
    Routed::json(201, &json!({ "invitations": created }))
}

/// `DELETE /api/v1/organizations/{org}/invitations/{tokens}` (comma-separated).
fn cancel_invitations(tenant: &mut Tenant, org: &str, tokens: &str) -> Routed {
    if !org_exists(tenant, org) {
        return org_not_found();
    }
    let tokens: Vec<&str> = tokens.split(',').map(str::trim).collect();
    let list = tenant.invitations.entry(org.to_string()).or_default();
    if let Some(missing) = tokens
        .iter()
        .find(|t| !list.iter().any(|i| string_field(i, "token") == Some(**t)))
    {
        return cloud_error(
            404,
            "organization.invitation_not_found",
            &format!("The invitation [{missing}] was not found"),
            &["invitation_tokens"],
        );
    }
    list.retain(|i| !string_field(i, "token").is_some_and(|t| tokens.contains(&t)));
    ok_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_746_180_000), "2025-05-02T10:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_expires_in("7d"), Some(7 * 86_400));
        assert_eq!(parse_expires_in("12h"), Some(12 * 3_600));
        assert_eq!(parse_expires_in("0d"), None);
        assert_eq!(parse_expires_in("d"), None);
        assert_eq!(parse_expires_in("3w"), None);
    }

    fn call(tenant: &mut Tenant, method: &str, path: &str, body: &str) -> (u16, Value) {
        let rest: Vec<String> = path.split('/').map(str::to_string).collect();
        let routed = route(tenant, method, &rest, body.as_bytes()).expect("served");
        let code = routed
            .headers
            .iter()
            .find(|(n, _)| n == "x-cloud-error-codes")
            .map(|(_, v)| v.clone());
        let body: Value = serde_json::from_slice(&routed.body).expect("json");
        if let Some(code) = code {
            assert_eq!(body["errors"][0]["code"], json!(code));
        }
        (routed.status, body)
    }

    fn code(body: &Value) -> &str {
        body["errors"][0]["code"].as_str().unwrap_or("")
    }

    #[test]
    fn writes_answer_with_the_cloud_status_codes() {
        let mut t = Tenant::demo().expect("demo");
        // The invitations below are the only ones.
        t.invitations.clear();
        let before = t.clone();
        let body =
            r#"{"organization":[{"role_id":"billing-admin","organization_id":"4125567842"}]}"#;
        let (status, reply) = call(&mut t, "POST", "users/999/role_assignments", body);
        assert_eq!(
            (status, code(&reply)),
            (400, "role_assignments.invalid_target_user_id")
        );
        let bad = r#"{"deployment":[{"role_id":"deployment-viewer","organization_id":"4125567842","all":true,"deployment_ids":["x"]}]}"#;
        assert_eq!(
            call(&mut t, "POST", "users/4410287733/role_assignments", bad).0,
            400
        );
        let wrong_scope =
            r#"{"organization":[{"role_id":"deployment-viewer","organization_id":"4125567842"}]}"#;
        assert_eq!(
            call(
                &mut t,
                "POST",
                "users/4410287733/role_assignments",
                wrong_scope
            )
            .0,
            400
        );
        assert_eq!(t, before);
        let mut limited = before.clone().with_cloud_key_roles(&["deployment-viewer"]);
        let (status, reply) = call(
            &mut limited,
            "POST",
            "users/4410287733/role_assignments",
            body,
        );
        assert_eq!(
            (status, code(&reply)),
            (403, "role_assignments.unauthorized_role_assignments")
        );
        assert_eq!(limited.members, before.members);
        let (status, reply) = call(&mut t, "POST", "users/4410287733/role_assignments", body);
        assert_eq!((status, reply), (200, json!({})));
        assert_eq!(
            call(&mut t, "DELETE", "users/4410287733/role_assignments", body).0,
            200
        );

        let (status, reply) = call(&mut t, "DELETE", "organizations/4125567842/members/999", "");
        assert_eq!(
            (status, code(&reply)),
            (404, "organization.membership_not_found")
        );
        let (status, reply) = call(&mut t, "DELETE", "organizations/1/members/999", "");
        assert_eq!((status, code(&reply)), (404, "organization.not_found"));
        assert_eq!(
            call(
                &mut t,
                "DELETE",
                "organizations/4125567842/members/4410287733",
                ""
            )
            .0,
            200
        );
        assert_eq!(
            t.members["4125567842"].len(),
            before.members["4125567842"].len() - 1
        );

        let invite = r#"{"emails":["new@acme.example"],"expires_in":"7d"}"#;
        let (status, reply) = call(
            &mut t,
            "POST",
            "organizations/4125567842/invitations",
            invite,
        );
        assert_eq!(status, 201);
        assert_eq!(reply["invitations"][0]["email"], "new@acme.example");
        let (status, reply) = call(
            &mut t,
            "POST",
            "organizations/4125567842/invitations",
            invite,
        );
        assert_eq!(
            (status, code(&reply)),
            (400, "organization.invitation_already_exists")
        );
        let member = r#"{"emails":["ada@acme.example"]}"#;
        let (status, reply) = call(
            &mut t,
            "POST",
            "organizations/4125567842/invitations",
            member,
        );
        assert_eq!(
            (status, code(&reply)),
            (400, "organization.user_organization_already_belongs")
        );
        let bad = r#"{"emails":["not-an-address"]}"#;
        let (status, reply) = call(&mut t, "POST", "organizations/4125567842/invitations", bad);
        assert_eq!(
            (status, code(&reply)),
            (400, "organization.invitation_invalid_email")
        );
        let (status, reply) = call(&mut t, "GET", "organizations/4125567842/invitations", "");
        assert_eq!(status, 200);
        assert_eq!(reply["invitations"].as_array().map(Vec::len), Some(1));
        let token = reply["invitations"][0]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let path = format!("organizations/4125567842/invitations/{token}");
        assert_eq!(call(&mut t, "DELETE", &path, "").0, 200);
        let (status, reply) = call(&mut t, "DELETE", &path, "");
        assert_eq!(
            (status, code(&reply)),
            (404, "organization.invitation_not_found")
        );
    }

    fn member(assignments: Value) -> Value {
        json!({"organization_id": "1", "user_id": "u", "role_assignments": assignments})
    }

    #[test]
    fn deployment_assignments_are_held_per_deployment() {
        let mut m = member(json!({"deployment": [
            {"role_id": "deployment-viewer", "organization_id": "1", "all": false, "deployment_ids": ["d1", "d2"]}
        ]}));
        let ids = |ids: &[&str]| Assignment::Deployments {
            role_id: "deployment-viewer".into(),
            org: "1".into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
        };
        apply(&mut m, &ids(&["d1"]), false);
        assert_eq!(
            m["role_assignments"]["deployment"],
            json!([{"role_id": "deployment-viewer", "organization_id": "1", "all": false, "deployment_ids": ["d2"]}])
        );
        apply(&mut m, &ids(&["d2", "d3"]), true);
        assert_eq!(
            m["role_assignments"]["deployment"][0]["deployment_ids"],
            json!(["d2", "d3"])
        );
        apply(&mut m, &ids(&["d2", "d3"]), false);
        assert_eq!(m["role_assignments"]["deployment"], json!([]));
        let all = Assignment::AllDeployments {
            role_id: "deployment-viewer".into(),
            org: "1".into(),
        };
        apply(&mut m, &all, true);
        apply(&mut m, &all, true);
        assert_eq!(
            m["role_assignments"]["deployment"],
            json!([{"role_id": "deployment-viewer", "organization_id": "1", "all": true}])
        );
    }
}
