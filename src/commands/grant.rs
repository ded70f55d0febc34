//! `grant` and `revoke`: change one deployment user's role membership or one role mapping's members, or
//! one Elastic Cloud role assignment or organization membership.
//!
//! Ids are parsed here (entitlement, principal, grant id, and the Go connector's flags); the object is
//! read, the change computed by [`crate::provision`], written back, read again to confirm, and the
//! outcome reported as one log line. `--dry-run` does the reads and prints the write instead. The
//! Elastic Cloud side runs in [`super::cloud_grant`].

use crate::cli::{GlobalArgs, GrantArgs, LogFormat, RevokeArgs};
use crate::config::{self, parse_base_url, UsageError};
use crate::provision::cloud_role::CloudRole;
use crate::provision::organization::{is_email, valid_lifetime};
use crate::syncers::ids;
use crate::{logging, provision};
use anyhow::{bail, Context};
use elastic_api::client::{ApiClient, RequestStats};
use elastic_api::cloud::CloudClient;
use elastic_api::deployment::{DeploymentClient, RoleMappingUpdate, UserUpdate};
use elastic_api::rules::MappingRules;
use elastic_api::{Endpoint, HttpOptions};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;

/// The principal type of the deployment entitlements: a deployment user.
pub const PRINCIPAL_TYPE: &str = "deploymentUser";
/// The principal type of the Elastic Cloud entitlements: a Cloud user (or, to invite, an e-mail address).
pub const CLOUD_PRINCIPAL_TYPE: &str = "user";
const MEMBER_SLUG: &str = "member";

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Builds a [`Target`] of one kind from a name.
type MakeTarget = fn(String) -> Target;

/// What the membership is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `role:<name>:member`: the role in a native user's `roles`.
    Role(String),
    /// `roleMapping:<name>:member`: the username in a role mapping's rules.
    RoleMapping(String),
    /// `organization:<id>:member`: membership of an Elastic Cloud organization.
    OrganizationMember(String),
    /// `organization:<id>:<role id>`: an organization role (`organization-admin`, `billing-admin`) or a
    /// deployment role for all deployments (`deployment-admin|editor|viewer`, an assignment with
    /// `all: true`).
    OrganizationRole {
        organization: String,
        role: CloudRole,
    },
    /// `deployment:<id>:admin|editor|viewer`: a deployment role assignment naming that deployment.
    DeploymentRole { deployment: String, role: CloudRole },
}

impl Target {
    /// The entitlement id, as the `.c1z` file writes it.
    pub fn entitlement_id(&self) -> String {
        match self {
            Target::Role(name) => format!("role:{name}:{MEMBER_SLUG}"),
            Target::RoleMapping(name) => format!("roleMapping:{name}:{MEMBER_SLUG}"),
            Target::OrganizationMember(org) => format!("organization:{org}:{MEMBER_SLUG}"),
            Target::OrganizationRole { organization, role } => {
                format!("organization:{organization}:{}", role.role_id())
            }
            Target::DeploymentRole { deployment, role } => format!(
                "deployment:{deployment}:{}",
                role.deployment_slug().unwrap_or_default()
            ),
        }
    }

    /// Whether the entitlement is one of Elastic Cloud (changed through the Cloud API).
    pub fn is_cloud(&self) -> bool {
        !matches!(self, Target::Role(_) | Target::RoleMapping(_))
    }

    /// The type of the principals the entitlement is granted to.
    pub fn principal_type(&self) -> &'static str {
        if self.is_cloud() {
            CLOUD_PRINCIPAL_TYPE
        } else {
            PRINCIPAL_TYPE
        }
    }

    /// Splits `<type>:<rest>` into the target kind and the rest.
    fn split_type(id: &str) -> Option<(MakeTarget, &str)> {
        if let Some(rest) = id.strip_prefix("role:") {
            Some((Target::Role, rest))
        } else {
            id.strip_prefix("roleMapping:")
                .map(|rest| (Target::RoleMapping as MakeTarget, rest))
        }
    }

    /// Parses the Elastic Cloud entitlement ids `organization:<id>:<slug>` and
    /// `deployment:<id>:<slug>`.
    fn parse_cloud(id: &str) -> Option<Target> {
        if let Some(rest) = id.strip_prefix("organization:") {
            let (org, slug) = rest.rsplit_once(':')?;
            if org.is_empty() {
                return None;
            }
            if slug == MEMBER_SLUG {
                return Some(Target::OrganizationMember(org.to_owned()));
            }
            return CloudRole::from_role_id(slug).map(|role| Target::OrganizationRole {
                organization: org.to_owned(),
                role,
            });
        }
        let rest = id.strip_prefix("deployment:")?;
        let (deployment, slug) = rest.rsplit_once(':')?;
        if deployment.is_empty() {
            return None;
        }
        CloudRole::from_deployment_slug(slug).map(|role| Target::DeploymentRole {
            deployment: deployment.to_owned(),
            role,
        })
    }
}

/// One membership change the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    /// The principal's id: the deployment username, or for Elastic Cloud entitlements the Cloud user id
    /// (an e-mail address for an invitation).
    pub username: String,
    /// Grant (true) or revoke (false).
    pub grant: bool,
    /// Send nothing; print the request that would be sent.
    pub dry_run: bool,
    /// For an invitation: the role entitlements the invitee gets on accepting (`--invite-role`).
    pub invite_roles: Vec<Target>,
    /// For an invitation: how long it is valid (`--invite-expires-in`, e.g. `7d`).
    pub invite_expires_in: Option<String>,
}

const ENTITLEMENT_FORMS: &str = "`role:<name>:member`, `roleMapping:<name>:member`, `organization:<id>:member`, `organization:<id>:organization-admin|billing-admin|deployment-admin|deployment-editor|deployment-viewer` or `deployment:<id>:admin|editor|viewer`";

/// Parses an entitlement id: `role:<name>:member` or `roleMapping:<name>:member` (the name may contain
/// `:`), or one of the Elastic Cloud entitlements `organization:<id>:<slug>`, `deployment:<id>:<slug>`.
pub fn parse_entitlement(id: &str) -> anyhow::Result<Target> {
    let parsed = Target::split_type(id)
        .and_then(|(kind, rest)| {
            rest.strip_suffix(":member")
                .filter(|name| !name.is_empty())
                .map(|name| kind(name.to_owned()))
        })
        .or_else(|| Target::parse_cloud(id));
    parsed.ok_or_else(|| {
        usage(format!(
            "{id:?} is not an entitlement id this connector can change: expected {ENTITLEMENT_FORMS}"
        ))
    })
}

/// Parses `deploymentUser:<username>`; the username may contain `:`.
pub fn parse_principal(id: &str) -> anyhow::Result<String> {
    match id.split_once(':') {
        Some((PRINCIPAL_TYPE, name)) if !name.is_empty() => Ok(name.to_owned()),
        Some((kind, _)) if kind != PRINCIPAL_TYPE => Err(principal_type_error(kind)),
        _ => Err(usage(format!(
            "{id:?} is not a principal id: expected `{PRINCIPAL_TYPE}:<username>`"
        ))),
    }
}

/// Parses the principal of `target`: `deploymentUser:<username>` for the deployment entitlements,
/// `user:<user id>` (or `user:<e-mail address>` to invite) for the Elastic Cloud ones.
pub fn parse_principal_for(target: &Target, id: &str) -> anyhow::Result<String> {
    if !target.is_cloud() {
        return parse_principal(id);
    }
    match id.split_once(':') {
        Some((CLOUD_PRINCIPAL_TYPE, name)) if !name.is_empty() => {
            check_cloud_principal(target, name)?;
            Ok(name.to_owned())
        }
        Some((kind, _)) if kind != CLOUD_PRINCIPAL_TYPE => Err(cloud_principal_type_error(kind)),
        _ => Err(usage(format!(
            "{id:?} is not a principal id: expected `{CLOUD_PRINCIPAL_TYPE}:<user id>` (or `{CLOUD_PRINCIPAL_TYPE}:<e-mail address>` to invite someone to an organization)"
        ))),
    }
}

/// An e-mail address stands for an invitee, who can only be made (or stop being) a member.
fn check_cloud_principal(target: &Target, name: &str) -> anyhow::Result<()> {
    if is_email(name) && !matches!(target, Target::OrganizationMember(_)) {
        return Err(usage(format!(
            "`{CLOUD_PRINCIPAL_TYPE}:{name}` is an e-mail address, which only `organization:<id>:member` takes (an invitation); give the member's user id, or invite them with `grant organization:<id>:member {CLOUD_PRINCIPAL_TYPE}:{name} --invite-role {}`",
            target.entitlement_id()
        )));
    }
    Ok(())
}

/// A revoke takes members by user id: an e-mail address names an invitee, who holds nothing yet.
fn check_revoke_principal(target: &Target, name: &str) -> anyhow::Result<()> {
    if target.is_cloud() && is_email(name) {
        return Err(usage(format!(
            "revoke {} takes the member's user id (`{CLOUD_PRINCIPAL_TYPE}:<user id>`), not the e-mail address {name:?}",
            target.entitlement_id()
        )));
    }
    Ok(())
}

fn principal_type_error(kind: &str) -> anyhow::Error {
    usage(format!(
        "only deployment users can be granted roles and role-mapping membership: the principal type must be `{PRINCIPAL_TYPE}`, got {kind:?}"
    ))
}

fn cloud_principal_type_error(kind: &str) -> anyhow::Error {
    usage(format!(
        "Elastic Cloud organization and deployment entitlements are granted to Cloud users: the principal type must be `{CLOUD_PRINCIPAL_TYPE}`, got {kind:?}"
    ))
}

/// Parses a grant id `<entitlement id>:<principal type>:<principal id>`: for the deployment
/// entitlements `...:member:deploymentUser:<username>` (names may contain `:`; the first
/// `:member:deploymentUser:` separates the entitlement from the username), for the Elastic Cloud ones
/// `organization:<id>:<slug>:user:<user id>` or `deployment:<id>:<slug>:user:<user id>`.
pub fn parse_grant_id(id: &str) -> anyhow::Result<(Target, String)> {
    let separator = format!(":{MEMBER_SLUG}:{PRINCIPAL_TYPE}:");
    let parsed = Target::split_type(id)
        .and_then(|(kind, rest)| {
            let (name, username) = rest.split_once(&separator)?;
            (!name.is_empty() && !username.is_empty())
                .then(|| (kind(name.to_owned()), username.to_owned()))
        })
        .or_else(|| {
            let (entitlement, user) = id.split_once(&format!(":{CLOUD_PRINCIPAL_TYPE}:"))?;
            let target = Target::parse_cloud(entitlement)?;
            (!user.is_empty()).then(|| (target, user.to_owned()))
        });
    let (target, user) = parsed.ok_or_else(|| {
        usage(format!(
            "{id:?} is not a grant id this connector can revoke: expected `<entitlement>:{PRINCIPAL_TYPE}:<username>` with the entitlement `role:<name>:member` or `roleMapping:<name>:member`, or `<entitlement>:{CLOUD_PRINCIPAL_TYPE}:<user id>` with an `organization:<id>:<slug>` or `deployment:<id>:<slug>` entitlement"
        ))
    })?;
    if target.is_cloud() {
        check_cloud_principal(&target, &user)?;
    }
    Ok((target, user))
}

/// Whether any of the Go connector's grant or revoke flags (or their variables) is set.
pub fn go_flags_given(global: &GlobalArgs) -> bool {
    [
        &global.grant_entitlement,
        &global.grant_principal_type,
        &global.grant_principal,
        &global.revoke_grant,
    ]
    .iter()
    .any(|v| v.is_some())
}

fn reject_go_flags(global: &GlobalArgs, command: &str) -> anyhow::Result<()> {
    if go_flags_given(global) {
        return Err(usage(format!(
            "`{command}` cannot be combined with --grant-entitlement, --grant-principal-type, --grant-principal or --revoke-grant (or their BATON_* variables)"
        )));
    }
    Ok(())
}

impl Request {
    /// From `grant <ENTITLEMENT> <PRINCIPAL>`.
    pub fn from_grant_args(args: &GrantArgs, global: &GlobalArgs) -> anyhow::Result<Request> {
        reject_go_flags(global, "grant")?;
        let target = parse_entitlement(args.entitlement.trim())?;
        let username = parse_principal_for(&target, args.principal.trim())?;
        let mut request = Request {
            target,
            username,
            grant: true,
            dry_run: args.dry_run,
            invite_roles: Vec::new(),
            invite_expires_in: None,
        };
        request.set_invitation(&args.invite_role, args.invite_expires_in.as_deref())?;
        Ok(request)
    }

    /// Checks and records `--invite-role` and `--invite-expires-in`, which only an invitation takes:
    /// `organization:<o>:member` granted to an e-mail address, with role entitlements of that same
    /// organization (`organization:<o>:<role>` or `deployment:<d>:<slug>`).
    fn set_invitation(&mut self, roles: &[String], expires_in: Option<&str>) -> anyhow::Result<()> {
        if roles.is_empty() && expires_in.is_none() {
            return Ok(());
        }
        let Target::OrganizationMember(org) = &self.target else {
            return Err(usage(
                "--invite-role and --invite-expires-in go with `grant organization:<id>:member user:<e-mail address>` (an invitation)",
            ));
        };
        if !is_email(&self.username) {
            return Err(usage(format!(
                "--invite-role and --invite-expires-in are for invitations: the principal must be an e-mail address (`{CLOUD_PRINCIPAL_TYPE}:<e-mail address>`), not the user id {:?}",
                self.username
            )));
        }
        for role in roles {
            let target = parse_entitlement(role.trim())?;
            match &target {
                Target::OrganizationRole { organization, .. } if organization == org => {}
                Target::OrganizationRole { .. } => {
                    return Err(usage(format!(
                        "--invite-role {role}: the role must be one of organization {org}, the organization invited to"
                    )))
                }
                Target::DeploymentRole { .. } => {}
                _ => {
                    return Err(usage(format!(
                        "--invite-role {role}: expected an Elastic Cloud role entitlement, `organization:{org}:<role id>` or `deployment:<id>:admin|editor|viewer`"
                    )))
                }
            }
            if !self.invite_roles.contains(&target) {
                self.invite_roles.push(target);
            }
        }
        if let Some(lifetime) = expires_in.map(str::trim) {
            if !valid_lifetime(lifetime) {
                return Err(usage(format!(
                    "--invite-expires-in {lifetime:?}: expected a whole number of days, hours or minutes, such as 7d, 12h or 30m"
                )));
            }
            self.invite_expires_in = Some(lifetime.to_owned());
        }
        Ok(())
    }

    /// From `revoke <ENTITLEMENT> <PRINCIPAL>` or `revoke <GRANT_ID>`.
    pub fn from_revoke_args(args: &RevokeArgs, global: &GlobalArgs) -> anyhow::Result<Request> {
        reject_go_flags(global, "revoke")?;
        let first = args.entitlement_or_grant.trim();
        let (target, username) = match args.principal.as_deref() {
            Some(principal) => {
                let target = parse_entitlement(first)?;
                let username = parse_principal_for(&target, principal.trim())?;
                (target, username)
            }
            None if parse_entitlement(first).is_ok() => {
                let kind = parse_entitlement(first)
                    .map(|t| t.principal_type())
                    .unwrap_or(PRINCIPAL_TYPE);
                let id = if kind == PRINCIPAL_TYPE {
                    "<username>"
                } else {
                    "<user id>"
                };
                return Err(usage(format!(
                    "revoke {first} needs the principal too (`{kind}:{id}`), or give one grant id `{first}:{kind}:{id}`"
                )));
            }
            None => parse_grant_id(first)?,
        };
        check_revoke_principal(&target, &username)?;
        Ok(Request {
            target,
            username,
            grant: false,
            dry_run: args.dry_run,
            invite_roles: Vec::new(),
            invite_expires_in: None,
        })
    }

    /// The principal id, as the `.c1z` file writes it.
    pub fn principal_id(&self) -> String {
        format!("{}:{}", self.target.principal_type(), self.username)
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The Go connector's `--grant-*` / `--revoke-grant` flags, when given, as a request.
pub fn go_style_request(global: &GlobalArgs) -> anyhow::Result<Option<Request>> {
    let entitlement = given(&global.grant_entitlement);
    let principal_type = given(&global.grant_principal_type);
    let principal = given(&global.grant_principal);
    let revoke = given(&global.revoke_grant);
    let any_grant_flag = entitlement.is_some() || principal_type.is_some() || principal.is_some();
    if revoke.is_some() && any_grant_flag {
        return Err(usage(
            "--revoke-grant cannot be combined with --grant-entitlement, --grant-principal-type or --grant-principal",
        ));
    }
    if let Some(grant_id) = revoke {
        let (target, username) = parse_grant_id(grant_id)?;
        check_revoke_principal(&target, &username)?;
        return Ok(Some(Request {
            target,
            username,
            grant: false,
            dry_run: global.dry_run,
            invite_roles: Vec::new(),
            invite_expires_in: None,
        }));
    }
    match (entitlement, principal_type, principal) {
        (None, None, None) => {
            if global.dry_run {
                return Err(usage(
                    "--dry-run needs --grant-entitlement or --revoke-grant (or the grant and revoke subcommands)",
                ));
            }
            Ok(None)
        }
        (Some(entitlement), Some(kind), Some(principal)) => {
            let target = parse_entitlement(entitlement)?;
            if kind != target.principal_type() {
                return Err(if target.is_cloud() {
                    cloud_principal_type_error(kind)
                } else {
                    principal_type_error(kind)
                });
            }
            if target.is_cloud() {
                check_cloud_principal(&target, principal)?;
            }
            Ok(Some(Request {
                target,
                username: principal.to_owned(),
                grant: true,
                dry_run: global.dry_run,
                invite_roles: Vec::new(),
                invite_expires_in: None,
            }))
        }
        _ => {
            let missing: Vec<&str> = [
                ("--grant-entitlement", entitlement),
                ("--grant-principal-type", principal_type),
                ("--grant-principal", principal),
            ]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(flag, _)| *flag)
            .collect();
            Err(usage(format!(
                "--grant-entitlement, --grant-principal-type and --grant-principal go together; missing {}",
                missing.join(", ")
            )))
        }
    }
}

/// The deployment to change and how to reach it.
#[derive(Debug, Clone)]
pub struct GrantConfig {
    pub deployment: Endpoint,
    pub http: HttpOptions,
}

impl GrantConfig {
    /// Checks the deployment flags of one deployment; the endpoint and a credential are required. Every
    /// problem is a [`UsageError`].
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<GrantConfig> {
        let mut targets = config::deployment_targets(args, true)?;
        if targets.len() > 1 {
            return Err(usage(
                "several deployments are configured: name the deployment in the entitlement and principal ids (`role:<host>/<name>:member`, `deploymentUser:<host>/<username>`)",
            ));
        }
        let target = targets.pop().ok_or_else(|| {
            usage("grant and revoke need the deployment endpoint: set --deployment-endpoint or BATON_DEPLOYMENT_ENDPOINT")
        })?;
        Ok(GrantConfig {
            deployment: target.endpoint,
            http: config::http_options(args)?,
        })
    }

    /// The deployment `request` is for, and the request in that deployment's own names. With one
    /// deployment configured, the ids are its names as they are. With several, the role or role mapping
    /// and the username start with the deployment's label, its endpoint host (`<host>/<name>`, as a sync
    /// of several deployments writes them), which picks the deployment and is taken off. Every problem
    /// is a [`UsageError`].
    pub fn for_request(
        args: &GlobalArgs,
        request: &Request,
    ) -> anyhow::Result<(GrantConfig, Request)> {
        let mut targets = config::deployment_targets(args, true)?;
        let http = config::http_options(args)?;
        if targets.len() == 1 {
            let deployment = targets.remove(0).endpoint;
            return Ok((GrantConfig { deployment, http }, request.clone()));
        }
        let labels = || {
            targets
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, rebuild): (&str, MakeTarget) = match &request.target {
            Target::Role(name) => (name, Target::Role),
            Target::RoleMapping(name) => (name, Target::RoleMapping),
            _ => bail!(
                "{} is no deployment entitlement",
                request.target.entitlement_id()
            ),
        };
        let Some((label, local)) = ids::split_cluster_id(name) else {
            return Err(usage(format!(
                "{} names no deployment, and {} are configured: write `<host>/` before the name, the host being one of {}",
                request.target.entitlement_id(),
                targets.len(),
                labels()
            )));
        };
        let Some(target) = targets.iter().find(|t| t.label == label) else {
            return Err(usage(format!(
                "{}: no configured deployment has the endpoint host {label:?}; the configured ones are {}",
                request.target.entitlement_id(),
                labels()
            )));
        };
        let user = match ids::split_cluster_id(&request.username) {
            Some((user_label, user)) if user_label == label => user,
            _ => {
                return Err(usage(format!(
                    "the principal {} is not of the deployment {label}: write it `{PRINCIPAL_TYPE}:{label}/<username>`",
                    request.principal_id()
                )))
            }
        };
        let local_request = Request {
            target: rebuild(local.to_owned()),
            username: user.to_owned(),
            ..request.clone()
        };
        Ok((
            GrantConfig {
                deployment: target.endpoint.clone(),
                http,
            },
            local_request,
        ))
    }
}

/// How a grant or revoke ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    AlreadyGranted,
    Revoked,
    AlreadyRevoked,
    /// `--dry-run`: the write that would grant was printed.
    WouldGrant,
    /// `--dry-run`: the write that would revoke was printed.
    WouldRevoke,
}

impl Outcome {
    /// The machine-readable name (`outcome` field of the log line).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::AlreadyGranted => "already_granted",
            Outcome::Revoked => "revoked",
            Outcome::AlreadyRevoked => "already_revoked",
            Outcome::WouldGrant => "would_grant",
            Outcome::WouldRevoke => "would_revoke",
        }
    }

    /// The log line: e.g. `granted role:viewer:member to deploymentUser:jdoe`.
    pub fn sentence(self, entitlement: &str, principal: &str) -> String {
        match self {
            Outcome::Granted => format!("granted {entitlement} to {principal}"),
            Outcome::AlreadyGranted => format!("already granted {entitlement} to {principal}"),
            Outcome::Revoked => format!("revoked {entitlement} from {principal}"),
            Outcome::AlreadyRevoked => format!("already revoked {entitlement} from {principal}"),
            Outcome::WouldGrant => format!("dry run: would grant {entitlement} to {principal}"),
            Outcome::WouldRevoke => format!("dry run: would revoke {entitlement} from {principal}"),
        }
    }
}

/// The Elastic Cloud API and how to reach it, for the Cloud entitlements.
#[derive(Debug, Clone)]
pub struct CloudGrantConfig {
    pub cloud: Endpoint,
    /// `--organization-id`: the organization whose deployments a `deployment:<id>:...` entitlement is
    /// looked up among (as the sync does).
    pub organization_id: Option<String>,
    pub http: HttpOptions,
}

impl CloudGrantConfig {
    /// Checks the Cloud flags; the key is required. Every problem is a [`UsageError`].
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<CloudGrantConfig> {
        let key = given(&args.api_key).ok_or_else(|| {
            usage("grant and revoke of Elastic Cloud entitlements need the Elastic Cloud API key: set --api-key or BATON_API_KEY")
        })?;
        Ok(CloudGrantConfig {
            cloud: Endpoint::with_api_key(
                elastic_api::Api::Cloud,
                parse_base_url(&args.cloud_url, "--cloud-url", args.allow_insecure_http)?,
                elastic_api::Secret::new(key),
            ),
            organization_id: given(&args.organization_id).map(str::to_owned),
            http: config::http_options(args)?,
        })
    }
}

/// What the outcome line says besides the outcome: a note appended to the sentence, and extra fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub note: Option<String>,
    pub fields: Vec<(&'static str, Value)>,
}

/// Runs one grant or revoke.
pub fn run(global: &GlobalArgs, request: Request) -> anyhow::Result<()> {
    crate::interrupt::set_activity(crate::interrupt::Activity::Provisioning);
    let mut stdout = std::io::stdout().lock();
    let (outcome, details) = if request.target.is_cloud() {
        let config = CloudGrantConfig::from_args(global)?;
        let api = ApiClient::new(
            &config.cloud,
            &config.http,
            Arc::new(RequestStats::default()),
        )?;
        let client = CloudClient::new(api);
        super::cloud_grant::execute(
            &client,
            config.organization_id.as_deref(),
            &request,
            &mut stdout,
        )?
    } else {
        let (config, local) = GrantConfig::for_request(global, &request)?;
        let api = ApiClient::new(
            &config.deployment,
            &config.http,
            Arc::new(RequestStats::default()),
        )?;
        let client = DeploymentClient::new(api);
        (execute(&client, &local, &mut stdout)?, Details::default())
    };
    stdout.flush().context("cannot write to stdout")?;
    report(&request, outcome, details);
    Ok(())
}

fn report(request: &Request, outcome: Outcome, details: Details) {
    let entitlement = request.target.entitlement_id();
    let principal = request.principal_id();
    let mut msg = outcome.sentence(&entitlement, &principal);
    if let Some(note) = &details.note {
        msg.push_str(": ");
        msg.push_str(note);
    }
    let mut fields = vec![
        ("outcome", Value::from(outcome.name())),
        ("entitlement", Value::from(entitlement)),
        ("principal", Value::from(principal)),
    ];
    fields.extend(details.fields);
    // The console sentence already names everything.
    let fields: &[(&str, Value)] = match logging::format() {
        LogFormat::Json => &fields,
        LogFormat::Console => &[],
    };
    logging::info(&msg, fields);
}

/// Does the reads, the change and the confirmation; with `dry_run`, prints the write to `out` instead.
pub fn execute(
    client: &DeploymentClient,
    request: &Request,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    match &request.target {
        Target::Role(role) => role_membership(client, request, role, out),
        Target::RoleMapping(mapping) => mapping_membership(client, request, mapping, out),
        _ => bail!(
            "{} is an Elastic Cloud entitlement, which the deployment's API cannot change",
            request.target.entitlement_id()
        ),
    }
}

/// The outcome of a change that was made (or, with `--dry-run`, printed).
pub(crate) fn done(request: &Request) -> Outcome {
    match (request.grant, request.dry_run) {
        (true, false) => Outcome::Granted,
        (true, true) => Outcome::WouldGrant,
        (false, false) => Outcome::Revoked,
        (false, true) => Outcome::WouldRevoke,
    }
}

/// The outcome when the state already holds; with `--dry-run`, says so on `out`.
pub(crate) fn already(request: &Request, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let state = if request.grant {
        format!(
            "{} already holds {}",
            request.principal_id(),
            request.target.entitlement_id()
        )
    } else {
        format!(
            "{} already does not hold {}",
            request.principal_id(),
            request.target.entitlement_id()
        )
    };
    if request.dry_run {
        writeln!(out, "nothing would be sent: {state}").context("cannot write to stdout")?;
    }
    Ok(if request.grant {
        Outcome::AlreadyGranted
    } else {
        Outcome::AlreadyRevoked
    })
}

fn print_write<B: Serialize>(out: &mut dyn Write, path: &str, body: &B) -> anyhow::Result<()> {
    print_request(out, "PUT", path, Some(body))
}

/// Prints a request `--dry-run` would send: method and path on one line, the exact JSON body (if any)
/// on the next.
pub(crate) fn print_request<B: Serialize>(
    out: &mut dyn Write,
    method: &str,
    path: &str,
    body: Option<&B>,
) -> anyhow::Result<()> {
    writeln!(out, "{method} {path}").context("cannot write to stdout")?;
    if let Some(body) = body {
        let json = serde_json::to_string(body).context("cannot encode the request body")?;
        writeln!(out, "{json}").context("cannot write to stdout")?;
    }
    Ok(())
}

fn role_membership(
    client: &DeploymentClient,
    request: &Request,
    role: &str,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let username = request.username.as_str();
    let user_path = client.path(&["_security", "user", username]);
    let user = client
        .user(username)
        .with_context(|| format!("cannot read the user `{username}`"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no native user `{username}` on this deployment (GET {user_path} found none); users of SSO and other external realms get roles through role mappings (roleMapping:<name>:member), not role:<name>:member"
            )
        })?;
    if user.reserved() {
        bail!("`{username}` is a built-in (reserved) user: Elasticsearch only lets its password change, not its roles");
    }
    let role_exists = || -> anyhow::Result<bool> {
        Ok(client
            .role(role)
            .with_context(|| format!("cannot read the role `{role}`"))?
            .is_some())
    };
    let no_role = || {
        anyhow::anyhow!(
            "there is no role `{role}` on this deployment (GET {} found none)",
            client.path(&["_security", "role", role])
        )
    };
    let roles = if request.grant {
        if !role_exists()? {
            return Err(no_role());
        }
        provision::role::grant(&user.roles, role)
    } else {
        let roles = provision::role::revoke(&user.roles, role);
        // A role the user holds may be revoked even when it no longer exists; one they do not hold and
        // that does not exist is most likely a typo.
        if roles.is_none() && !role_exists()? {
            return Err(no_role());
        }
        roles
    };
    let Some(roles) = roles else {
        return already(request, out);
    };
    let body = UserUpdate::with_roles(&user, roles);
    if request.dry_run {
        print_write(out, &user_path, &body)?;
        return Ok(done(request));
    }
    client
        .put_user(username, &body)
        .with_context(|| format!("cannot update the roles of `{username}`"))?;
    let after = client
        .user(username)
        .with_context(|| format!("cannot read `{username}` back after updating it"))?;
    let holds = after.is_some_and(|u| u.roles.iter().any(|r| r == role));
    if holds != request.grant {
        bail!(
            "PUT {user_path} succeeded but reading `{username}` back shows the role `{role}` {}; someone else may have changed the user at the same time",
            if request.grant { "missing" } else { "still there" }
        );
    }
    Ok(done(request))
}

fn mapping_membership(
    client: &DeploymentClient,
    request: &Request,
    name: &str,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    // The external-realm twin `external:<name>` of a native user is matched as `<name>`.
    let username = crate::syncers::ids::mapping_username(&request.username);
    let path = client.path(&["_security", "role_mapping", name]);
    let mapping = client
        .role_mapping(name)
        .with_context(|| format!("cannot read the role mapping `{name}`"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no role mapping `{name}` on this deployment (GET {path} found none)"
            )
        })?;
    if mapping.read_only() {
        bail!("the role mapping `{name}` is operator-defined (metadata._read_only) and cannot be changed through the API");
    }
    let current = match &mapping.rules {
        MappingRules::Parsed(rule) => rule,
        MappingRules::Unreadable { error, .. } => bail!(
            "the rules of the role mapping `{name}` have a form this version cannot read ({error}); nothing was changed: edit the mapping in Kibana or with the Elasticsearch API"
        ),
    };
    let rules = if request.grant {
        if !mapping.enabled {
            bail!("the role mapping `{name}` is disabled: adding `{username}` would give them nothing; enable the mapping first");
        }
        let overridden = provision::role_mapping::excepts_naming(current, username);
        for except in &overridden {
            let message = format!(
                "granting `{username}` overrides the exclusion {except} of the role mapping `{name}`: the grant adds the username beside the rules, so the mapping matches `{username}` whatever the exclusion says"
            );
            logging::warn(&message, &[("role_mapping", Value::from(name))]);
            if request.dry_run {
                writeln!(out, "warning: {message}").context("cannot write to stdout")?;
            }
        }
        provision::role_mapping::grant(current, username)
    } else {
        let plan = provision::role_mapping::revoke(current, username);
        // A disabled mapping matches nobody, whatever its rules say.
        if mapping.enabled {
            if !plan.still_matched_by.is_empty() {
                bail!(
                    "`{username}` would still be matched by the role mapping `{name}` through {}, which revoke does not change; nothing was changed",
                    plan.still_matched_by.join(" and ")
                );
            }
            if !plan.still_named_by.is_empty() {
                bail!(
                    "`{username}` would still be named by the role mapping `{name}` through {} (a conditional member: the mapping also depends on {}), which revoke does not change; nothing was changed",
                    plan.still_named_by.join(" and "),
                    if plan.may_match_by.is_empty() { "conditions only the identity provider can check".to_owned() } else { plan.may_match_by.join(" and ") }
                );
            }
            if !plan.may_match_by.is_empty() {
                logging::warn(
                    &format!(
                        "the role mapping `{name}` may still match `{username}` through {}, which does not name them",
                        plan.may_match_by.join(" and ")
                    ),
                    &[("role_mapping", Value::from(name))],
                );
            }
        }
        if plan.matches_nobody {
            logging::warn(
                &format!("`{username}` was the last user the role mapping `{name}` named; its rules now match no one ({{\"any\":[]}})"),
                &[("role_mapping", Value::from(name))],
            );
        }
        plan.removed.then_some(plan.rules)
    };
    let Some(rules) = rules else {
        return already(request, out);
    };
    let body = RoleMappingUpdate::with_rules(&mapping, rules);
    if request.dry_run {
        print_write(out, &path, &body)?;
        return Ok(done(request));
    }
    client
        .put_role_mapping(name, &body)
        .with_context(|| format!("cannot update the role mapping `{name}`"))?;
    let after = client
        .role_mapping(name)
        .with_context(|| format!("cannot read the role mapping `{name}` back after updating it"))?;
    let holds = after
        .as_ref()
        .and_then(|m| m.rules.parsed())
        .is_some_and(|rules| {
            if request.grant {
                provision::role_mapping::matched_by_literal(rules, username)
            } else {
                !provision::role_mapping::revoke(rules, username).removed
            }
        });
    if !holds {
        bail!(
            "PUT {path} succeeded but reading the role mapping `{name}` back shows `{username}` {}; someone else may have changed the mapping at the same time",
            if request.grant { "missing" } else { "still listed" }
        );
    }
    Ok(done(request))
}
