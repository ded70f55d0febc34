//! `grant` and `revoke`: change one deployment user's role membership or one role mapping's members.
//!
//! Ids are parsed here (entitlement, principal, grant id, and the Go connector's flags); the object is
//! read, the change computed by [`crate::provision`], written back whole, read again to confirm, and the
//! outcome reported as one log line. `--dry-run` does the reads and prints the write instead.

use crate::cli::{GlobalArgs, GrantArgs, LogFormat, RevokeArgs};
use crate::config::{self, UsageError};
use crate::{logging, provision};
use anyhow::{bail, Context};
use elastic_api::client::{ApiClient, RequestStats};
use elastic_api::deployment::{DeploymentClient, RoleMappingUpdate, UserUpdate};
use elastic_api::rules::MappingRules;
use elastic_api::{Endpoint, HttpOptions};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;

/// The only principal type: a deployment user.
pub const PRINCIPAL_TYPE: &str = "deploymentUser";
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
}

impl Target {
    /// The entitlement id, as the `.c1z` file writes it.
    pub fn entitlement_id(&self) -> String {
        match self {
            Target::Role(name) => format!("role:{name}:{MEMBER_SLUG}"),
            Target::RoleMapping(name) => format!("roleMapping:{name}:{MEMBER_SLUG}"),
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
}

/// One membership change the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    /// The deployment username.
    pub username: String,
    /// Grant (true) or revoke (false).
    pub grant: bool,
    /// Send nothing; print the request that would be sent.
    pub dry_run: bool,
}

const ENTITLEMENT_FORMS: &str = "`role:<name>:member` or `roleMapping:<name>:member`";

/// Parses `role:<name>:member` or `roleMapping:<name>:member`; the name may contain `:`.
pub fn parse_entitlement(id: &str) -> anyhow::Result<Target> {
    let parsed = Target::split_type(id).and_then(|(kind, rest)| {
        rest.strip_suffix(":member")
            .filter(|name| !name.is_empty())
            .map(|name| kind(name.to_owned()))
    });
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

fn principal_type_error(kind: &str) -> anyhow::Error {
    usage(format!(
        "only deployment users can be granted roles and role-mapping membership: the principal type must be `{PRINCIPAL_TYPE}`, got {kind:?}"
    ))
}

/// Parses a grant id `<entitlement id>:deploymentUser:<username>`. Names may contain `:`; the first
/// `:member:deploymentUser:` separates the entitlement from the username.
pub fn parse_grant_id(id: &str) -> anyhow::Result<(Target, String)> {
    let separator = format!(":{MEMBER_SLUG}:{PRINCIPAL_TYPE}:");
    let parsed = Target::split_type(id).and_then(|(kind, rest)| {
        let (name, username) = rest.split_once(&separator)?;
        (!name.is_empty() && !username.is_empty())
            .then(|| (kind(name.to_owned()), username.to_owned()))
    });
    parsed.ok_or_else(|| {
        usage(format!(
            "{id:?} is not a grant id this connector can revoke: expected `<entitlement>:{PRINCIPAL_TYPE}:<username>` with the entitlement {ENTITLEMENT_FORMS}"
        ))
    })
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
        Ok(Request {
            target: parse_entitlement(args.entitlement.trim())?,
            username: parse_principal(args.principal.trim())?,
            grant: true,
            dry_run: args.dry_run,
        })
    }

    /// From `revoke <ENTITLEMENT> <PRINCIPAL>` or `revoke <GRANT_ID>`.
    pub fn from_revoke_args(args: &RevokeArgs, global: &GlobalArgs) -> anyhow::Result<Request> {
        reject_go_flags(global, "revoke")?;
        let first = args.entitlement_or_grant.trim();
        let (target, username) = match args.principal.as_deref() {
            Some(principal) => (parse_entitlement(first)?, parse_principal(principal.trim())?),
            None if parse_entitlement(first).is_ok() => {
                return Err(usage(format!(
                    "revoke {first} needs the principal too (`{PRINCIPAL_TYPE}:<username>`), or give one grant id `{first}:{PRINCIPAL_TYPE}:<username>`"
                )))
            }
            None => parse_grant_id(first)?,
        };
        Ok(Request {
            target,
            username,
            grant: false,
            dry_run: args.dry_run,
        })
    }

    /// The principal id, as the `.c1z` file writes it.
    pub fn principal_id(&self) -> String {
        format!("{PRINCIPAL_TYPE}:{}", self.username)
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
        return Ok(Some(Request {
            target,
            username,
            grant: false,
            dry_run: global.dry_run,
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
            if kind != PRINCIPAL_TYPE {
                return Err(principal_type_error(kind));
            }
            Ok(Some(Request {
                target: parse_entitlement(entitlement)?,
                username: principal.to_owned(),
                grant: true,
                dry_run: global.dry_run,
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
    /// Checks the deployment flags; both are required. Every problem is a [`UsageError`].
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<GrantConfig> {
        let deployment = config::deployment_endpoint(args, true)?.ok_or_else(|| {
            usage("grant and revoke need the deployment endpoint: set --deployment-endpoint or BATON_DEPLOYMENT_ENDPOINT")
        })?;
        Ok(GrantConfig {
            deployment,
            http: config::http_options(args)?,
        })
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

/// Runs one grant or revoke.
pub fn run(global: &GlobalArgs, request: Request) -> anyhow::Result<()> {
    crate::interrupt::set_activity(crate::interrupt::Activity::Provisioning);
    let config = GrantConfig::from_args(global)?;
    let api = ApiClient::new(
        &config.deployment,
        &config.http,
        Arc::new(RequestStats::default()),
    )?;
    let client = DeploymentClient::new(api);
    let mut stdout = std::io::stdout().lock();
    let outcome = execute(&client, &request, &mut stdout)?;
    stdout.flush().context("cannot write to stdout")?;
    report(&request, outcome);
    Ok(())
}

fn report(request: &Request, outcome: Outcome) {
    let entitlement = request.target.entitlement_id();
    let principal = request.principal_id();
    let msg = outcome.sentence(&entitlement, &principal);
    let fields = [
        ("outcome", Value::from(outcome.name())),
        ("entitlement", Value::from(entitlement)),
        ("principal", Value::from(principal)),
    ];
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
    }
}

fn done(request: &Request) -> Outcome {
    match (request.grant, request.dry_run) {
        (true, false) => Outcome::Granted,
        (true, true) => Outcome::WouldGrant,
        (false, false) => Outcome::Revoked,
        (false, true) => Outcome::WouldRevoke,
    }
}

fn already(request: &Request, out: &mut dyn Write) -> anyhow::Result<Outcome> {
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
    let json = serde_json::to_string(body).context("cannot encode the request body")?;
    writeln!(out, "PUT {path}\n{json}").context("cannot write to stdout")
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
